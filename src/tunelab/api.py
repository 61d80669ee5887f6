"""The Python API: drive a search by hand (:class:`Optimizer`) or run a whole job (:func:`tune`).

    >>> space = {"x": Float(-5, 5), "opt": Choice(["sgd", "adam"])}
    >>> opt = Optimizer(space, strategy="random", goal="minimize", seed=0)
    >>> trials = opt.ask(4)
    >>> for t in trials:
    ...     opt.tell(t, (t.params["x"] - 1) ** 2)
    >>> opt.best.number in range(4)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import SpecError
from tunelab.objectives.function import FunctionObjective, refuse_tune_during_import
from tunelab.space import Param, ParamValue, SearchSpace
from tunelab.strategies import make_strategy
from tunelab.trial import Goal, History, TrialState, TrialView, is_better


@dataclass
class AskedTrial:
    """A suggestion handed out by :meth:`Optimizer.ask`."""

    number: int
    params: dict[str, ParamValue]
    state: TrialState = TrialState.RUNNING
    value: float | None = None


class Optimizer:
    """Ask/tell search without a store or workers: you run the training yourself.

    ``strategy`` is manual, grid, random or bayesian; ``goal`` minimize or maximize; the same
    seed gives the same suggestions.
    """

    def __init__(
        self, space: SearchSpace | Mapping[str, Param], *, strategy: str = "random",
        goal: Goal = "minimize", seed: int | None = 0, **options: Any,
    ) -> None:
        if goal not in ("minimize", "maximize"):
            raise SpecError.field("goal", "minimize or maximize", goal)
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.goal: Goal = goal
        self.strategy = make_strategy(strategy, self.space, seed=seed, **options)
        self.trials: list[AskedTrial] = []

    def _history(self) -> History:
        return History(
            tuple(TrialView(t.number, t.params, t.state, t.value,
                            ((1, t.value),) if t.value is not None else ())
                  for t in self.trials),
            self.goal,
        )

    def ask(self, n: int = 1) -> list[AskedTrial]:
        """Up to ``n`` new trials (fewer once a grid or manual list is exhausted)."""
        configs = self.strategy.ask(self._history(), n)
        out = [AskedTrial(len(self.trials) + i, dict(p)) for i, p in enumerate(configs)]
        self.trials.extend(out)
        return out

    def tell(self, trial: AskedTrial | int, value: float | None) -> None:
        """Record a result; ``None`` or a non-finite value marks the trial failed."""
        t = self.trials[trial if isinstance(trial, int) else trial.number]
        if t.state is not TrialState.RUNNING:
            raise SpecError.field(f"trial {t.number}", "a trial not told yet", t.state.value)
        if value is None or not math.isfinite(float(value)):
            t.state, t.value = TrialState.FAILED, None
        else:
            t.state, t.value = TrialState.COMPLETED, float(value)

    @property
    def best(self) -> AskedTrial | None:
        best: AskedTrial | None = None
        for t in self.trials:
            if t.state is TrialState.COMPLETED and t.value is not None:
                if best is None or is_better(t.value, best.value, self.goal):
                    best = t
        return best


@dataclass
class TuneResult:
    """What :func:`tune` returns: the job's summary (as `tunelab show --json`)."""

    name: str
    status: str
    best: dict[str, Any] | None
    trials: list[dict[str, Any]]
    summary: dict[str, Any] = field(repr=False)
    store: str = ""

    @property
    def leaderboard(self) -> list[dict[str, Any]]:
        return self.trials


def _space_dict(space: SearchSpace | Mapping[str, Param]) -> dict[str, Any]:
    s = space if isinstance(space, SearchSpace) else SearchSpace(space)
    return s.to_dict()


def tune(
    train: Callable[..., Any] | str,
    space: SearchSpace | Mapping[str, Param],
    *,
    metric: str = "loss",
    goal: Goal = "minimize",
    strategy: str | Mapping[str, Any] = "random",
    max_trials: int | None = None,
    max_parallel: int | None = None,
    static: Mapping[str, Any] | None = None,
    name: str | None = None,
    store: str | Path | None = None,
    artifacts: str | Path | None = None,
    seed: int = 0,
    **spec_extra: Any,
) -> TuneResult:
    """Run a tuning job on a module-level training function and return its leaderboard.

    ``train(params, trial)`` reports with ``trial.report(step=..., **metrics)`` and/or returns a
    float (the objective) or a dict of final metrics. Extra keyword arguments are spec sections
    (``limits``, ``completion``, ``early_stopping``, ``warm_start``). ``artifacts`` is the
    checkpoint folder (default: beside a SQLite store; required with a PostgreSQL ``store``).
    """
    import time

    # a function object travels by value when the workers cannot import it (defined in the
    # script being run or in a notebook), so the script needs no __main__ guard
    objective = None if isinstance(train, str) else FunctionObjective.from_callable(train)
    target = objective.target if objective is not None else str(train)
    strat = {"type": strategy, "seed": seed} if isinstance(strategy, str) else dict(strategy)
    limits = dict(spec_extra.pop("limits", {}))
    if max_trials is not None:
        limits["max_trials"] = max_trials
    if max_parallel is not None:  # None: 1 on the CPU, one per GPU slot (tunelab.devices)
        limits.setdefault("max_parallel", max_parallel)
    spec = {
        "name": name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
        "objective": {"metric": metric, "goal": goal},
        "train": {"function": target},
        "static": dict(static or {}),
        "search_space": _space_dict(space),
        "strategy": strat,
        "limits": limits,
        **spec_extra,
    }
    return tune_spec(spec, store=store, artifacts=artifacts, objective=objective)


def tune_spec(
    spec: Mapping[str, Any], *, store: str | Path | None = None,
    sys_path: tuple[str, ...] | None = None, progress: Any = None,
    artifacts: str | Path | None = None, objective: FunctionObjective | None = None,
) -> TuneResult:
    """Create and run a job from a spec mapping (the YAML/JSON form); ``artifacts`` as in
    :func:`tune`; ``objective`` replaces the spec's ``train.function`` when running (a
    function sent by value). With ``refit: true`` the refit job runs once the search
    completes; ``summary["refit"]`` says what it did."""
    from tunelab.report.summary import job_summary
    from tunelab.spec import spec_from_dict
    from tunelab.store import Store
    from tunelab.tuner import Tuner

    refuse_tune_during_import()
    js = spec_from_dict(spec)
    run_objective = objective or js.objective_spec()
    if isinstance(run_objective, FunctionObjective):
        run_objective.resolve()  # a function that cannot load is refused before the job exists
    st = Store.open(store, artifacts=artifacts)
    try:
        tuner = Tuner.create(js, st, progress=progress, objective=objective)
        if objective is None and sys_path and hasattr(tuner.objective, "target"):
            tuner.objective = FunctionObjective(tuner.objective.target, sys_path=sys_path)
        status = tuner.run()
        summary = job_summary(st, js.name)
        if js.refit:  # the best configuration retrained on every image, as job NAME-refit
            from tunelab.vision.refit import refit_after_search

            summary["refit"] = refit_after_search(st, js.name, status,
                                                  progress=progress).to_dict()
    finally:
        st.close()
    return TuneResult(summary["name"], summary["status"], summary["best"], summary["trials"],
                      summary, st.url)


def best_checkpoint(name: str, *, store: str | Path | None = None) -> tuple[dict[str, Any], Path]:
    """The best trial's parameters (static merged in) and its best durable checkpoint: the
    trial ``show`` names best (finished, or stopped with a partial result), the checkpoint of
    its best reported value, as a file inside the job's artifact root whose sha256 is the one
    recorded (else :class:`~tunelab.errors.UnsafePathError` or
    :class:`~tunelab.errors.CheckpointCorrupt`)."""
    from tunelab.jobstate import JobState
    from tunelab.spec import spec_from_dict
    from tunelab.store import Store

    st = Store.open(store)
    try:
        tx = st.read()
        job = tx.job(name)
        state = JobState.load(tx, job)
        best = state.leader()  # the trial `show` names best, whatever its state
        if best is None:
            raise SpecError(f"job {name!r} has no trial with a value to export yet.")
        ck = state.best_checkpoint(best)
        if ck is None:
            raise SpecError(
                f"the best trial ({best.number}) of job {name!r} has no checkpoint; the "
                "objective must call trial.save_checkpoint() to be exported."
            )
        params = {**spec_from_dict(job.spec).static_params(), **best.params}
        # a folder's file itself; from object storage a private copy of the verified bytes
        return params, st.artifact_store(job).local_copy(ck.path, ck.sha256)
    finally:
        st.close()
