"""Local optimisation of the Bayesian strategy's acquisition function ("polish").

Random candidates and random local moves find the right region of the space; they do not find
the acquisition's maximum inside it to more than a few hundredths of the cube, and they almost
never put several coordinates on their bounds at once -- where many optima of real training
jobs lie (the largest learning rate, the smallest tolerance, ...). This module climbs from a
few starting points, as Optuna's GPSampler and BoTorch's ``optimize_acqf`` do:

1. **Continuous coordinates** by L-BFGS-B on the (Monte-Carlo, pending-aware) acquisition
   with box bounds ``[0, 1]``, through BoTorch's ``gen_candidates_scipy``; integer and choice
   columns stay fixed at each start's values.
2. **Discrete coordinates** by an exhaustive sweep, one parameter at a time: every option of a
   choice, every value of an integer with at most 16 of them (else the 4 nearest on each
   side); a better point is climbed from again (at most ``rounds`` times).

Everything is scored on rounded points (:mod:`bayes_encoding`), so the value is that of the
configuration that will be tried.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tunelab.space import Choice, Int
from tunelab.strategies.bayes_encoding import SpaceEncoder
from tunelab.strategies.bayes_model import DTYPE

Scorer = Callable[[np.ndarray], np.ndarray]


class Polisher:
    """Climbs an acquisition function from model-space starting points."""

    def __init__(self, encoder: SpaceEncoder, *, maxiter: int = 50, rounds: int = 2) -> None:
        self.encoder = encoder
        self.maxiter = maxiter
        self.rounds = rounds
        self.cont_cols = [c for p, (c, _) in zip(encoder.params, encoder.slices, strict=True)
                          if not isinstance(p, (Int, Choice))]
        self.fixed_cols = [c for c in range(encoder.dim) if c not in self.cont_cols]

    def climb(self, acqf: Any, starts: np.ndarray, score: Scorer) -> tuple[np.ndarray, np.ndarray]:
        """Points reached from ``starts`` (model space, ``(k, D)``) and their scores."""
        x = np.asarray(starts, dtype=float)
        s = score(x)
        for _ in range(self.rounds):
            x, s = self._gradient(acqf, x, s, score)
            x2, s2 = self._sweep(x, s, score)
            if not np.any(s2 > s):
                break
            x, s = x2, s2
        return x, s

    def _gradient(
        self, acqf: Any, x: np.ndarray, s: np.ndarray, score: Scorer
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.cont_cols or len(x) == 0:
            return x, s
        from botorch.generation.gen import gen_candidates_scipy

        init = torch.as_tensor(x, dtype=DTYPE).unsqueeze(-2)  # (k, 1, D)
        fixed = {c: init[:, 0, c].clone() for c in self.fixed_cols}
        # record=True: BoTorch re-enables its OptimizationWarning (a line search that ended
        # early, harmless here: only improvements are kept) inside, so "ignore" alone prints it
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("ignore")
            try:
                out, _ = gen_candidates_scipy(
                    init, acqf, lower_bounds=0.0, upper_bounds=1.0,
                    options={"maxiter": self.maxiter}, fixed_features=fixed or None,
                )
            except Exception:  # a failed climb keeps the starting points
                return x, s
        moved = np.clip(out.detach().squeeze(-2).numpy().astype(float), 0.0, 1.0)
        ms = score(moved)
        better = ms > s
        return np.where(better[:, None], moved, x), np.where(better, ms, s)

    def _sweep(
        self, x: np.ndarray, s: np.ndarray, score: Scorer
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best one-parameter change of a discrete coordinate for each point."""
        x, s = x.copy(), s.copy()
        for j, p in enumerate(self.encoder.params):
            if not isinstance(p, (Int, Choice)):
                continue
            variants = [self._variants(x[i], j) for i in range(len(x))]
            sizes = [len(v) for v in variants]
            if sum(sizes) == 0:
                continue
            vs = score(np.vstack(variants))
            for i, part in enumerate(np.split(vs, np.cumsum(sizes)[:-1])):
                if len(part) and part.max() > s[i]:
                    b = int(np.argmax(part))
                    x[i], s[i] = variants[i][b], part[b]
        return x, s

    def _variants(self, z: np.ndarray, j: int) -> np.ndarray:
        """Model-space copies of ``z`` with parameter ``j`` (an int or a choice) changed."""
        enc = self.encoder
        p = enc.params[j]
        u = enc.model_to_unit(z[None, :])[0]
        if isinstance(p, Choice):
            k = len(p.values)
            vals = (np.arange(k) + 0.5) / k
        else:
            assert isinstance(p, Int)
            vals = self._int_values(p, float(u[j]))
        rows = np.tile(u, (len(vals), 1))
        rows[:, j] = vals
        rows = rows[np.abs(rows[:, j] - u[j]) > 1e-12]
        return enc.unit_to_model(rows) if len(rows) else np.zeros((0, enc.dim))

    @staticmethod
    def _int_values(p: Int, uj: float) -> np.ndarray:
        """Parameter-cube values of an int: all of them if at most 16, else 4 on each side."""
        n = p.n_values
        if n <= 16:
            idx = range(n)
        else:
            i = (p.from_unit(uj) - p.low) // p.step
            idx = range(max(0, i - 4), min(n, i + 5))
        return np.array([p.to_unit(p.low + k * p.step) for k in idx])
