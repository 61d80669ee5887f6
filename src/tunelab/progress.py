"""What the tuner tells a progress display, as a snapshot of the job's state.

The time left is measured, never guessed: from the seconds between a trial's consecutive
reports (its epochs) times the epochs still to train, over the parallel slots; for a job
without a known number of epochs, from the durations of the trials that ended. Before any of
that has been measured there is no estimate.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunelab.jobstate import JobState
from tunelab.trial import TrialState


@dataclass(frozen=True)
class Progress:
    """A snapshot for progress displays."""

    job: str
    counts: dict[str, int]
    max_trials: int | None
    best_value: float | None
    best_number: int | None
    elapsed: float
    remaining: float | None  # estimated seconds, from measured epoch (or trial) times
    # (trial number, epochs done, epochs per trial or None) of each running trial
    running: tuple[tuple[int, int, int | None], ...] = field(default=())


ProgressFn = Callable[[Progress], None]


def progress_of(job: str, state: JobState, max_trials: int, elapsed: float) -> Progress:
    best = state.best()
    counts = state.counts()
    latest = state.latest_attempts()
    epochs = epochs_per_trial(state.job.spec)
    running = tuple((t.number, t.last_step or 0, epochs) for t in latest
                    if t.state is TrialState.RUNNING)
    remaining = time_left(state, max_trials, elapsed, epochs)
    return Progress(job, counts, max_trials, best.value if best else None,
                    best.number if best else None, elapsed, remaining, running)


def epochs_per_trial(spec: Mapping[str, Any]) -> int | None:
    """The epochs a full trial trains: the scheduler's maximum, else a static ``epochs``."""
    strategy = spec.get("strategy") or {}
    for key in ("max_steps", "max_epochs", "max_resource"):
        v = strategy.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    train = spec.get("train") or {}
    for source in (spec.get("static") or {}, train if train.get("builtin") else {}):
        v = source.get("epochs")
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def epoch_seconds(state: JobState) -> float | None:
    """The median seconds between two consecutive reports of one trial, per step."""
    gaps: list[float] = []
    for t in state.trials.values():
        for a, b in zip(t.reports, t.reports[1:], strict=False):
            if b.step > a.step and b.at > a.at:
                gaps.append((b.at - a.at) / (b.step - a.step))
    return statistics.median(gaps) if gaps else None


def time_left(state: JobState, max_trials: int, elapsed: float,
              epochs: int | None) -> float | None:
    """Seconds left, from measured times (None before anything is measured)."""
    spec = state.job.spec
    parallel = max(1, int((spec.get("limits") or {}).get("max_parallel") or 1))
    latest = state.latest_attempts()
    cap = (spec.get("limits") or {}).get("max_runtime")
    left: float | None = None
    per_epoch = epoch_seconds(state) if epochs is not None else None
    if epochs is not None and per_epoch is not None:
        unstarted = max(0, max_trials - len(latest))
        to_train = unstarted * epochs + sum(
            max(0, epochs - (t.last_step or 0)) for t in latest if not t.state.is_terminal)
        left = to_train * per_epoch / min(parallel, max(1, max_trials))
    elif epochs is None:
        ended = [t.ended_at - t.started_at for t in latest
                 if t.state.is_terminal and t.ended_at and t.started_at]
        if ended:
            left = (max(0, max_trials - len(ended)) * statistics.median(ended)
                    / min(parallel, max(1, max_trials)))
    if left is not None and isinstance(cap, (int, float)):
        left = min(left, max(0.0, float(cap) - elapsed))
    return left
