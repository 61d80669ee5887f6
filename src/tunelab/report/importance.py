"""Parameter importance: how much of the objective's variation each hyperparameter explains.

A scikit-learn random forest is fitted to (parameters → objective) over the finished trials and
each parameter's importance is its permutation importance (the forest's loss of accuracy when
that column is shuffled), normalised to sum to 1 — the approach of Optuna's and W&B's
importance panels, with a maintained library doing the statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

MIN_TRIALS = 4
MAX_ROWS = 1000  # the most recent finished trials used (keeps the fit well under a second)


class ParamImportance(BaseModel):
    name: str
    importance: float


class Importance(BaseModel):
    trials_used: int
    method: str
    params: list[ParamImportance]
    note: str | None = None


def _encode(values: list[Any]) -> list[float] | None:
    """Numbers as they are, anything else (choices) as category codes; None when constant."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        col = [float(v) for v in values]
    else:
        codes: dict[str, int] = {}
        col = [float(codes.setdefault(repr(v), len(codes))) for v in values]
    return None if len(set(col)) < 2 else col


def param_importance(points: Sequence[Any], *, seed: int = 0) -> Importance:
    """Importance of each searched parameter from trial points (``params``, ``value``,
    ``state``); finished trials with a finite value only."""
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    done = [p for p in points if p.state in ("completed", "pruned") and p.value is not None
            and math.isfinite(p.value)][-MAX_ROWS:]
    method = "random forest + permutation importance (scikit-learn)"
    if len(done) < MIN_TRIALS:
        return Importance(trials_used=len(done), method=method, params=[],
                          note=f"needs at least {MIN_TRIALS} finished trials")
    names = sorted({k for p in done for k in p.params})
    cols: dict[str, list[float]] = {}
    for n in names:
        vals = [p.params.get(n) for p in done]
        if any(v is None for v in vals):
            continue
        col = _encode(vals)
        if col is not None:
            cols[n] = col
    if not cols:
        return Importance(trials_used=len(done), method=method, params=[],
                          note="no parameter varies between the finished trials")
    x = np.array([cols[n] for n in cols]).T
    y = np.array([float(p.value) for p in done])
    if float(np.ptp(y)) == 0.0:
        return Importance(trials_used=len(done), method=method,
                          params=[ParamImportance(name=n, importance=0.0) for n in cols],
                          note="every finished trial has the same value")
    forest = RandomForestRegressor(n_estimators=48, min_samples_leaf=2, random_state=seed,
                                   n_jobs=1).fit(x, y)
    perm = permutation_importance(forest, x, y, n_repeats=4, random_state=seed, n_jobs=1)
    raw = [max(0.0, float(v)) for v in perm.importances_mean]
    total = sum(raw)
    shares = [v / total if total > 0 else 0.0 for v in raw]
    ranked = sorted(zip(cols, shares, strict=True), key=lambda kv: -kv[1])
    return Importance(trials_used=len(done), method=method,
                      params=[ParamImportance(name=n, importance=round(s, 4))
                              for n, s in ranked])
