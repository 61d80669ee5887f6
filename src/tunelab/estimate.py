"""The arithmetic of a job's device-hours estimate (``tunelab plan`` and the training page).

What the trials will spend is measured by :mod:`tunelab.vision.probe` (a :class:`TrialCosts`);
how many epochs and segments each trial is expected to train comes from the job's scheduler
(:func:`expected_budget`); :func:`device_seconds` puts them together:

    device seconds = W x startup + (T x S - W) x setup + T x E x (epoch + per_epoch) + T x final

with ``T`` trials, ``W = min(slots, T)`` worker processes (each started once: interpreter,
imports, its first segment's set-up), ``S`` segments and ``E`` epochs expected per trial. It
is what the tuner counts as a trial's device time: from handing a segment to a worker to the
segment's end.

>>> c = TrialCosts("CPU", startup_seconds=3.0, setup_seconds=0.1, epoch_seconds=1.0,
...                per_epoch_seconds=0.05)
>>> round(device_seconds(c, Budget(epochs=5, segments=1, full_epochs=5), trials=4, slots=1), 2)
24.3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrialCosts:
    """Measured costs of a built-in trial on one device (seconds).

    ``startup_seconds``: a fresh worker process until its first segment can train (Python,
    imports, the data from the cache, the model built and placed); ``setup_seconds``: a later
    segment's set-up in that warm worker; ``epoch_seconds``: one epoch, training and
    validation; ``per_epoch_seconds``: what each epoch adds besides (its checkpoint written,
    its report recorded and answered); ``final_seconds``: the test-set evaluation at a trial's
    end (0 without test data)."""

    device_name: str
    startup_seconds: float
    setup_seconds: float
    epoch_seconds: float
    per_epoch_seconds: float
    final_seconds: float = 0.0


@dataclass(frozen=True)
class Budget:
    """What one trial is expected to train: ``epochs`` and ``segments`` (a paused and resumed
    trial runs several), against ``full_epochs``; ``note`` says how they were reached."""

    epochs: float
    segments: float
    full_epochs: int
    note: str = ""


def hyperband_epochs(rungs: list[int], eta: int) -> tuple[float, float]:
    """Expected (epochs, segments) of one trial of an ASHA bracket with these rungs (the last
    is the full budget): every trial trains to the first rung, and the top ``1/eta`` of each
    rung goes on to the next, so a fraction ``eta**-k`` trains from rung ``k-1`` to ``k``.
    Each promotion is counted as a new segment (a paused trial resumes; at most that many).

    >>> [round(x, 3) for x in hyperband_epochs([1, 3, 9, 27], 3)]
    [3.0, 1.481]
    """
    epochs, segments = float(rungs[0]), 1.0
    for k in range(1, len(rungs)):
        share = float(eta) ** -k
        epochs += (rungs[k] - rungs[k - 1]) * share
        segments += share
    return epochs, segments


def expected_budget(scheduler: Any, epochs: int, *, early_stop: bool = False) -> Budget:
    """Expected epochs and segments per trial under ``scheduler`` (the job's, from
    :func:`tunelab.composition.build_search`) when a full trial trains ``epochs``.

    Hyperband/ASHA: the rungs' shares (:func:`hyperband_epochs`), averaged over the brackets
    with Hyperband's weights. PBT: every member trains to its last step (a copy from a leader
    may skip ahead: an upper bound) in ``1 + q x intervals`` segments (the bottom quantile
    ``q`` restarts from a donor at each interval; pauses for want of slots are not counted).
    Median stopping and the trainer's own early stop cannot be foreseen: full epochs, an upper
    bound. Every other scheduler: full epochs in one segment."""
    from tunelab.schedulers.asha import HyperbandScheduler
    from tunelab.schedulers.pbt import PBTScheduler

    full = int(epochs)
    if isinstance(scheduler, HyperbandScheduler):
        top = min(scheduler.max_resource, full)
        s = scheduler.s_max
        weights = [(s + 1) / (s - b + 1) * scheduler.eta ** (s - b)
                   for b in range(scheduler.brackets)]
        e = g = 0.0
        for b, w in enumerate(weights):
            rungs = [r for r in scheduler.rungs(b) if r < top] + [top]
            be, bs = hyperband_epochs(rungs, scheduler.eta)
            e += w * be / sum(weights)
            g += w * bs / sum(weights)
        return Budget(e, g, full, f"hyperband: about {e:.3g} of {full} epochs per trial "
                      f"(the top 1/{scheduler.eta} of each rung goes on)")
    if isinstance(scheduler, PBTScheduler):
        last = min(scheduler.max_steps or full, full)
        intervals = max(0, math.ceil((last - scheduler.burn_in) / scheduler.interval) - 1)
        return Budget(float(last), 1.0 + scheduler.quantile * intervals, full,
                      f"pbt: each member trains up to {last} epochs (a copy may skip ahead)")
    name = getattr(scheduler, "name", "")
    if name == "median" or early_stop:
        why = "median stopping" if name == "median" else "early stop"
        return Budget(float(full), 1.0, full, f"{why} may end trials sooner: at most this")
    return Budget(float(full), 1.0, full)


def device_seconds(costs: TrialCosts, budget: Budget, *, trials: int, slots: int,
                   max_epochs: int | None = None) -> float:
    """Device seconds of ``trials`` trials on ``slots`` worker slots (formula in the module
    docstring); ``max_epochs`` (a scheduler's budget over all trials) caps the epochs."""
    if trials <= 0:
        return 0.0
    workers = max(1, min(slots, trials))
    total_epochs = trials * budget.epochs
    if max_epochs is not None:
        total_epochs = min(total_epochs, float(max_epochs))
    segments = max(trials * budget.segments, float(workers))
    return (workers * costs.startup_seconds + (segments - workers) * costs.setup_seconds
            + total_epochs * (costs.epoch_seconds + costs.per_epoch_seconds)
            + trials * costs.final_seconds)


def trial_count(js: Any) -> int:
    """How many trials a spec runs, as ``tunelab plan`` counts them: ``max_trials`` (20 when
    unset), at most the size of a finite search (a grid)."""
    from tunelab.composition import build_search

    size = build_search(js, js.space())[0].size()
    n = js.limits.max_trials or size or 20
    return int(min(n, size) if size is not None else n)


def full_epochs(js: Any) -> int:
    """Epochs of a full trial: the highest searched ``epochs``, else the static one, else the
    trainer's default."""
    from tunelab.vision.config import TrainConfig

    static = js.static_params()
    high = js.space().to_dict().get("epochs", {}).get("high")
    if high:
        return int(high)
    return int(TrainConfig.from_params({"epochs": static["epochs"]} if "epochs" in static
                                       else {}).epochs)


@dataclass(frozen=True)
class JobEstimate:
    """A built-in job's estimate: device-hours, and the figures it was reached from."""

    device_name: str
    device_hours: float
    trials: int
    epochs: int
    epoch_seconds: float
    costs: TrialCosts | None = None
    budget: Budget | None = None
    slots: int = 1
    refit_hours: float = 0.0  # of device_hours: the refit after the search (0: none)

    def describe(self, gpus_per_trial: float = 1.0) -> str:
        hours = self.device_hours * gpus_per_trial
        out = (f"about {hours:.2g} device-hours on {self.device_name} "
               f"({self.trials} trials x {self.epochs} epochs x {self.epoch_seconds:.2f} s per "
               "epoch, measured by a short probe")
        c, b = self.costs, self.budget
        if c is not None:
            out += (f"; plus {c.per_epoch_seconds:.2f} s per epoch (checkpoint, report), "
                    f"{c.setup_seconds:.2f} s per segment, {c.startup_seconds:.1f} s per worker "
                    "start")
        if b is not None and b.note:
            out += f"; {b.note}"
        if self.refit_hours:
            out += (f"; the refit of the best, {self.refit_hours * gpus_per_trial:.2g} of "
                    "them: one more run on the training and validation images")
        return out + ")"

    def to_dict(self) -> dict[str, Any]:
        """The page's "estimate" box."""
        out: dict[str, Any] = {"device": self.device_name, "device_hours": self.device_hours,
                               "trials": self.trials, "epochs": self.epochs,
                               "epoch_seconds": self.epoch_seconds, "slots": self.slots,
                               "refit_hours": self.refit_hours}
        if self.costs is not None:
            out |= {"startup_seconds": self.costs.startup_seconds,
                    "setup_seconds": self.costs.setup_seconds,
                    "per_epoch_seconds": self.costs.per_epoch_seconds,
                    "final_seconds": self.costs.final_seconds}
        if self.budget is not None:
            out |= {"expected_epochs": self.budget.epochs,
                    "expected_segments": self.budget.segments, "note": self.budget.note}
        return out


def estimate_spec(js: Any, costs: TrialCosts, *, slots: int) -> JobEstimate:
    """The estimate of spec ``js`` from measured ``costs`` on ``slots`` worker slots."""
    from tunelab.composition import build_search

    n = trial_count(js)
    e = full_epochs(js)
    scheduler = build_search(js, js.space())[1]
    budget = expected_budget(scheduler, e, early_stop=bool(js.static_params().get("early_stop")))
    secs = device_seconds(costs, budget, trials=n, slots=slots,
                          max_epochs=getattr(scheduler, "max_epochs", None))
    # a refit (``refit: true``) is one more full run, on the training and validation images
    refit = device_seconds(costs, Budget(float(e), 1.0, e), trials=1, slots=1) \
        if js.refit else 0.0
    return JobEstimate(costs.device_name, (secs + refit) / 3600.0, n, e, costs.epoch_seconds,
                       costs, budget, max(1, min(slots, n)), refit / 3600.0)
