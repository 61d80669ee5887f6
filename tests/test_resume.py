"""Crash safety: kill -9 the tuner process while trials run, then resume the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTS_DIR, job_spec, job_trials

from tunelab.errors import JobBusyError
from tunelab.space import SearchSpace
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.strategies import make_strategy
from tunelab.trial import History, TrialState
from tunelab.tuner import Tuner

MAX_TRIALS = 8
LEASE_TTL = 4.0  # the killed tuner's lease; the real default (30 s) would only slow the test

SCRIPT = """
import json, sys
import tunelab.tuner
from tunelab.spec import spec_from_dict
from tunelab.store import Store

def main():
    tunelab.tuner.LEASE_TTL = {ttl}
    store = Store.open(sys.argv[1])
    spec = spec_from_dict(json.loads(sys.argv[2]))
    tunelab.tuner.Tuner.create(spec, store).run()

if __name__ == "__main__":
    main()
"""


def _wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(120)
def test_kill_9_then_resume_finishes_the_job(tmp_path: Path) -> None:
    import json

    spec = job_spec("crashy", "slow", static={"sleep": 0.3},
                    limits={"max_trials": MAX_TRIALS, "max_parallel": 2})
    # What an uninterrupted run would try. Computed first: it also does the slow imports
    # (scipy.stats) that Tuner.resume needs, so they do not eat the dead tuner's lease below.
    strategy = make_strategy("random", SearchSpace.from_dict(spec["search_space"]), seed=0)
    expected = strategy.ask(History(), MAX_TRIALS)
    spec_from_dict(spec)
    store_dir = tmp_path / "store"
    store = Store.open(store_dir)
    script = tmp_path / "run_tuner.py"
    script.write_text(textwrap.dedent(SCRIPT).format(ttl=LEASE_TTL))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, str(script), str(store_dir), json.dumps(spec)],
                            env=env, cwd=tmp_path)
    try:
        def mid_job() -> bool:
            assert proc.poll() is None, "the tuner ended before it could be killed"
            try:
                _, trials = job_trials(store, "crashy")
            except Exception:
                return False  # not created yet
            states = [t.state for t in trials.values()]
            return states.count(TrialState.COMPLETED) >= 2 and TrialState.RUNNING in states

        _wait_for(mid_job, 60, "two completed trials and one running")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    job, before = job_trials(store, "crashy")
    assert job.status == "running" and job.lease_owner is not None  # as the crash left it
    done_before = {n: t for n, t in before.items() if t.state is TrialState.COMPLETED}
    interrupted = {n for n, t in before.items() if t.state is TrialState.RUNNING}
    assert interrupted and len(before) < MAX_TRIALS

    # the dead tuner's lease is still live: a resume now is refused, clearly
    with pytest.raises(JobBusyError, match="already running"):
        Tuner.resume("crashy", store).run()
    _wait_for(lambda: (job_trials(store, "crashy")[0].lease_until or 0) < time.time(),
              LEASE_TTL + 5, "the killed tuner's lease to expire")

    status = Tuner.resume("crashy", store).run()
    job, after = job_trials(store, "crashy")
    assert status == "completed" and job.status == "completed" and job.lease_owner is None

    # the total is max_trials, numbers unique and dense, every trial done
    assert sorted(after) == list(range(MAX_TRIALS))
    assert all(t.attempt == 1 for t in after.values())
    assert all(t.state is TrialState.COMPLETED for t in after.values())
    # completed trials untouched
    for n, t in done_before.items():
        a = after[n]
        assert (a.params, a.value, a.ended_at, a.segments) == (
            t.params, t.value, t.ended_at, t.segments)
    # interrupted ones re-run (a second segment of the same trial), and the loss is recorded
    for n in interrupted:
        assert after[n].segments == before[n].segments + 1
        assert after[n].value == pytest.approx((after[n].params["x"] - 1.0) ** 2)
    lost = {e.trial_number for e in store.read().events(job.id, kind="lost")}
    assert lost == interrupted
    # the strategy continued where it was: exactly the sequence of an uninterrupted run
    assert [after[n].params for n in range(MAX_TRIALS)] == expected
    store.close()
