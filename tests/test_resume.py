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
import tunelab.lease, tunelab.tuner
from tunelab.spec import spec_from_dict
from tunelab.store import Store

def main():
    tunelab.lease.LEASE_TTL = {ttl}
    store = Store.open(sys.argv[1])
    spec = spec_from_dict(json.loads(sys.argv[2]))
    tunelab.tuner.Tuner.create(spec, store).run()

if __name__ == "__main__":
    main()
"""


def _start_tuner(tmp_path: Path, store_dir: Path, spec: dict[str, Any]) -> Any:
    """Run a tuner for ``spec`` in its own process (to be killed with SIGKILL)."""
    import json

    script = tmp_path / "run_tuner.py"
    script.write_text(textwrap.dedent(SCRIPT).format(ttl=LEASE_TTL))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, str(script), str(store_dir), json.dumps(spec)],
                            env=env, cwd=tmp_path)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(120)
def test_kill_9_then_resume_finishes_the_job(tmp_path: Path) -> None:

    spec = job_spec("crashy", "slow", static={"sleep": 0.3},
                    limits={"max_trials": MAX_TRIALS, "max_parallel": 2})
    # What an uninterrupted run would try. Computed first: it also does the slow imports
    # (scipy.stats) that Tuner.resume needs, so they do not eat the dead tuner's lease below.
    strategy = make_strategy("random", SearchSpace.from_dict(spec["search_space"]), seed=0)
    expected = strategy.ask(History(), MAX_TRIALS)
    spec_from_dict(spec)
    store_dir = tmp_path / "store"
    store = Store.open(store_dir)
    proc = _start_tuner(tmp_path, store_dir, spec)
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
        workers = _children(proc.pid)
        assert workers, "the tuner should have worker processes"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # its workers notice the tuner is gone and exit: no orphan keeps training
        _wait_for(lambda: not any(_alive(p) for p in workers), 10,
                  f"the dead tuner's workers {workers} to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    job, before = job_trials(store, "crashy")
    assert job.status == "running" and job.lease_owner is not None  # as the crash left it
    done_before = {n: t for n, t in before.items() if t.state is TrialState.COMPLETED}
    interrupted = {n for n, t in before.items() if t.state is TrialState.RUNNING}
    assert interrupted and len(before) < MAX_TRIALS

    # the dead tuner's lease has not run out, but its owner is a dead process on this host:
    # the resume takes the lease over at once (test_tuner.py: a live owner's is refused)
    assert (job.lease_until or 0) > time.time()
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


@pytest.mark.timeout(60)
def test_workers_of_a_killed_tuner_exit_mid_trial(tmp_path: Path) -> None:
    """A worker busy in a long epoch (no report, so no pipe use) exits within seconds of its
    tuner's kill -9, instead of training on for a job nobody runs."""
    marker = tmp_path / "worker.pid"
    spec = job_spec("orphans", "long_epoch", static={"marker": str(marker)},
                    limits={"max_trials": 1, "max_parallel": 1})
    store_dir = tmp_path / "store"
    proc = _start_tuner(tmp_path, store_dir, spec)
    worker = None
    try:
        _wait_for(lambda: marker.exists() and marker.read_text().isdigit(), 40,
                  "the objective to start in its worker")
        worker = int(marker.read_text())
        assert _alive(worker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _wait_for(lambda: not _alive(worker), 10,
                  f"the dead tuner's worker {worker} to exit mid-epoch")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)
