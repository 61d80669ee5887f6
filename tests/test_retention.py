"""Checkpoint retention is a pure function of a trial's record and what others still need."""

from __future__ import annotations

from tunelab.retention import checkpoints_to_delete
from tunelab.store import CheckpointRecord, ReportRecord, TrialRecord
from tunelab.trial import TrialState


def trial(values: list[float]) -> TrialRecord:
    tr = TrialRecord(id=1, number=0, attempt=1, retry_of=None, source="strategy", params={},
                     state=TrialState.RUNNING, value=values[-1], last_step=len(values),
                     segments=1, error=None, traceback=None, worker=None, created_at=0.0,
                     started_at=0.0, ended_at=None, device_seconds=0.0)
    for step, v in enumerate(values, 1):
        tr.reports.append(ReportRecord(step, v, {"loss": v}, float(step)))
        tr.checkpoints.append(CheckpointRecord(step, step, f"/ck/{step}", "h", 1))
    return tr


def steps(cks: list[CheckpointRecord]) -> list[int]:
    return [c.step for c in cks]


def test_keeps_the_last_and_the_best() -> None:
    tr = trial([0.5, 0.2, 0.4, 0.3])  # best (minimize) at step 2, last at 4
    assert steps(checkpoints_to_delete(tr, "minimize")) == [1, 3]
    assert steps(checkpoints_to_delete(tr, "maximize")) == [2, 3]  # best is step 1


def test_ties_keep_the_later_and_what_others_need() -> None:
    tr = trial([0.2, 0.2, 0.5, 0.6, 0.7])
    assert steps(checkpoints_to_delete(tr, "minimize")) == [1, 3, 4]  # tie: step 2 kept
    assert steps(checkpoints_to_delete(tr, "minimize", protected_steps={3},
                                       needed_paths={"/ck/4"})) == [1]


def test_two_or_fewer_are_never_touched_and_nothing_is_deleted_here() -> None:
    tr = trial([0.5, 0.1])
    assert checkpoints_to_delete(tr, "minimize") == []
    tr = trial([0.5, 0.1, 0.3])
    assert steps(checkpoints_to_delete(tr, "minimize")) == [1]
    assert all(not c.deleted for c in tr.checkpoints)  # pure: it only says what may go
