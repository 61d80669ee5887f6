"""Issue 16 item 4: a retry after a worker was killed mid-trial resumes from the trial's last
checkpoint, as a LOST trial does — not from step 0.

Real worker processes: the first attempt's worker is SIGKILLed at step 3 (after the checkpoint
of step 2); attempt 2 must load that checkpoint and report steps 3 and 4 only.
"""

from __future__ import annotations

from typing import Any

from conftest import job_spec, run_job

from tunelab.trial import TrialState


def test_retry_after_a_killed_worker_resumes_from_the_last_checkpoint(sqlite_store: Any) -> None:
    _, _, trials = run_job(sqlite_store, job_spec(
        "killed", "killed_once",
        strategy={"type": "manual", "configs": [{"x": 0.0}]},
        limits={"max_trials": 1, "max_parallel": 1, "max_retries": 1},
    ))
    first, retry = trials[0], trials[1]
    assert first.state is TrialState.FAILED and "worker process died" in (first.error or "")
    assert [r.step for r in first.reports] == [1, 2]
    assert (retry.attempt, retry.retry_of, retry.state) == (2, 0, TrialState.COMPLETED)
    # resumed at step 2 from the first attempt's checkpoint: 1 + 2 restored, then 3 + 4
    assert [(r.step, r.metrics["resumed_at"]) for r in retry.reports] == [(3, 2.0), (4, 2.0)]
    assert retry.value == 1 + 2 + 3 + 4
