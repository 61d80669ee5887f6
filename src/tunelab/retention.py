"""Checkpoint retention: which of a trial's checkpoints may go.

A pure function of the trial's record and what others still need, so it is tested without a
store or files. Deleting is a separate, single call (:func:`delete_checkpoint_files`), made by
the tuner after the deletions are committed to the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from tunelab.errors import UnsafePathError
from tunelab.store import CheckpointRecord, TrialRecord
from tunelab.trial import Goal

if TYPE_CHECKING:
    from tunelab.jobstate import JobState
    from tunelab.schedulers.base import Scheduler
    from tunelab.store.artifacts import Artifacts


def checkpoints_to_delete(
    trial: TrialRecord, goal: Goal, *, protected_steps: Collection[int] = (),
    needed_paths: Collection[str] = (),
) -> list[CheckpointRecord]:
    """The live checkpoints of ``trial`` that may be deleted.

    Kept: the last one written, the best one (by the objective value reported at its step;
    ties go to the later step), the steps a scheduler protects (``protected_steps``: a paused
    trial's, a PBT donor's until its copy has reported) and any file a queued restart will
    load (``needed_paths``).
    """
    live = trial.live_checkpoints()
    if len(live) <= 2:
        return []
    keep = {live[-1].step} | set(protected_steps)  # the last written
    keep |= {c.step for c in live if c.path in needed_paths}
    have = {c.step for c in live}
    scored = [(r.value, r.step) for r in trial.reports if r.value is not None and r.step in have]
    if scored:
        sign = 1.0 if goal == "minimize" else -1.0
        keep.add(min(scored, key=lambda s: (sign * s[0], -s[1]))[1])
    return [c for c in live if c.step not in keep]


def unneeded(trial: TrialRecord, state: JobState, scheduler: Scheduler,
             queued: Iterable[str | None]) -> list[CheckpointRecord]:
    """:func:`checkpoints_to_delete` for ``trial`` of a running job: the scheduler's protected
    steps of it, and the files the ``queued`` restarts will load, are kept."""
    protected = scheduler.protected_steps(state.history(), trial.number)
    return checkpoints_to_delete(trial, state.goal, protected_steps=protected,
                                 needed_paths={p for p in queued if p})


def delete_checkpoint_files(artifacts: Artifacts, paths: Iterable[str]) -> list[tuple[str, str]]:
    """Remove checkpoint files whose deletion is recorded in the store, through the job's
    artifact store. Returns ``(path, why)`` for each path it refused: one outside the artifact
    root is never deleted."""
    refused: list[tuple[str, str]] = []
    for path in paths:
        try:
            artifacts.delete(path)
        except UnsafePathError as e:
            refused.append((path, str(e)))
    return refused
