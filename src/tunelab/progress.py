"""What the tuner tells a progress display, as a snapshot of the job's state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    remaining: float | None  # estimated seconds


ProgressFn = Callable[[Progress], None]


def progress_of(job: str, state: JobState, max_trials: int, elapsed: float) -> Progress:
    best = state.best()
    counts = state.counts()
    done = sum(v for k, v in counts.items() if TrialState(k).is_terminal)
    remaining = elapsed / done * max(0, max_trials - done) if done else None
    return Progress(job, counts, max_trials, best.value if best else None,
                    best.number if best else None, elapsed, remaining)
