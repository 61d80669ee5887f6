"""The tuner loop on real worker processes: slots, devices, limits, leases."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import job_spec, job_trials, run_job

from tunelab.errors import JobBusyError, SpecError
from tunelab.spec import spec_from_dict
from tunelab.trial import TrialState
from tunelab.tuner import Tuner


@pytest.fixture(scope="module")
def parallel_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, dict[int, Any]]:
    """Six trials on two slots; each marks itself running in a shared folder for 0.3 s."""
    from tunelab.store import Store

    root = tmp_path_factory.mktemp("parallel")
    (root / "running").mkdir()
    st = Store.open(root / "store")
    try:
        return run_job(st, job_spec(
            "parallel", "concurrent",
            static={"folder": str(root / "running"), "sleep": 0.3},
            limits={"max_trials": 6, "max_parallel": 2},
        ))
    finally:
        st.close()


def _metric(t: Any, name: str) -> float:
    return float(t.reports[-1].metrics[name]) if t.reports else float("nan")


def test_all_trials_complete_with_unique_numbers(parallel_job: Any) -> None:
    status, job, trials = parallel_job
    assert status == "completed" and job.status == "completed"
    assert sorted(trials) == list(range(6))
    assert all(t.state is TrialState.COMPLETED for t in trials.values())
    assert job.status_reason == "all 6 trials done" and job.lease_owner is None


def test_max_parallel_is_never_exceeded(parallel_job: Any) -> None:
    _, _, trials = parallel_job
    assert max(_metric(t, "concurrent") for t in trials.values()) <= 2


def test_workers_are_reused_one_per_slot(parallel_job: Any) -> None:
    _, _, trials = parallel_job
    pids = {_metric(t, "pid") for t in trials.values()}
    assert len(pids) == 2  # six trials ran in two processes
    by_pid: dict[float, set[float]] = {}
    for t in trials.values():
        by_pid.setdefault(_metric(t, "pid"), set()).add(_metric(t, "slot"))
    assert sorted(s for slots in by_pid.values() for s in slots) == [0.0, 1.0]


def test_each_slot_is_given_its_device(parallel_job: Any) -> None:
    _, _, trials = parallel_job
    per_slot = max(1, (os.cpu_count() or 1) // 2)
    assert {_metric(t, "threads") for t in trials.values()} == {float(per_slot)}
    # threads that sleep while they wait (devices.thread_env), unless the user chose a policy
    expected = float(os.environ.get("OMP_WAIT_POLICY", "PASSIVE") == "PASSIVE")
    assert {_metric(t, "passive") for t in trials.values()} == {expected}
    assert all(t.worker and "slot" in t.worker for t in trials.values())


def test_workers_never_load_the_store(parallel_job: Any) -> None:
    _, _, trials = parallel_job
    assert {_metric(t, "store_imported") for t in trials.values()} == {0.0}


def test_grid_job_runs_the_whole_grid_then_stops(sqlite_store: Any) -> None:
    status, _, trials = run_job(sqlite_store, job_spec(
        "grid", search_space={"x": {"type": "float", "low": -1.0, "high": 1.0,
                                    "grid_points": 3}},
        strategy={"type": "grid"}, limits={"max_parallel": 1},
    ))
    assert status == "completed" and len(trials) == 3
    assert sorted(t.params["x"] for t in trials.values()) == [-1.0, 0.0, 1.0]
    assert sorted(t.value for t in trials.values()) == pytest.approx([0.0, 1.0, 4.0])


def test_max_runtime_stops_the_job_cleanly(sqlite_store: Any) -> None:
    status, job, trials = run_job(sqlite_store, job_spec(
        "runtime", "slow", static={"sleep": 0.3},
        limits={"max_trials": 1000, "max_parallel": 2, "max_runtime": 4},
    ))
    assert status == job.status == "completed"
    assert "max_runtime" in (job.status_reason or "")
    assert 0 < len(trials) < 1000
    assert job.lease_owner is None and job.ended_at is not None
    states = {t.state for t in trials.values()}
    assert states <= {TrialState.COMPLETED, TrialState.STOPPED}, states
    assert TrialState.COMPLETED in states
    assert job.data["runtime_used"] >= 4


def test_second_tuner_on_a_running_job_is_refused(sqlite_store: Any) -> None:
    spec = spec_from_dict(job_spec("busy"))
    Tuner.create(spec, sqlite_store)
    with sqlite_store.transaction() as tx:
        job = tx.job("busy")
        assert tx.acquire_lease(job.id, "otherhost:123:abc", 30.0)
    with pytest.raises(JobBusyError) as e:
        Tuner.resume("busy", sqlite_store).run()
    msg = str(e.value)
    assert "already running" in msg and "otherhost:123:abc" in msg and "tunelab stop busy" in msg
    job, trials = job_trials(sqlite_store, "busy")
    assert trials == {} and job.lease_owner == "otherhost:123:abc"  # nothing was touched


def test_create_refuses_an_existing_name_and_resume_a_completed_job(sqlite_store: Any) -> None:
    run_job(sqlite_store, job_spec("once", limits={"max_trials": 1}))
    with pytest.raises(SpecError, match="tunelab resume once"):
        Tuner.create(spec_from_dict(job_spec("once")), sqlite_store)
    with pytest.raises(SpecError, match="already completed"):
        Tuner.resume("once", sqlite_store)


def test_strategy_seed_reproduces_the_same_trials(tmp_path: Path) -> None:
    from tunelab.store import Store

    params = []
    for i in range(2):
        st = Store.open(tmp_path / f"s{i}")
        try:
            _, _, trials = run_job(st, job_spec("seeded", limits={"max_trials": 3,
                                                                  "max_parallel": 1}))
        finally:
            st.close()
        params.append([trials[n].params for n in sorted(trials)])
    assert params[0] == params[1]


def test_a_dead_local_tuners_lease_is_taken_over_a_live_ones_is_not(sqlite_store: Any) -> None:
    import socket
    import subprocess
    import sys

    from tunelab.lease import dead_local_owner

    host = socket.gethostname()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a finished, reaped process: its pid is free
    dead, live = f"{host}:{gone.pid}:dead", f"{host}:{os.getppid()}:live"
    assert dead_local_owner(dead) and not dead_local_owner(live)
    assert not dead_local_owner(f"elsewhere:{gone.pid}:x")  # another host: cannot tell

    spec = spec_from_dict(job_spec("takeover", limits={"max_trials": 1, "max_parallel": 1}))
    Tuner.create(spec, sqlite_store)
    with sqlite_store.transaction() as tx:
        assert tx.acquire_lease(tx.job("takeover").id, live, 30.0)
    with pytest.raises(JobBusyError):
        Tuner.resume("takeover", sqlite_store).run()
    with sqlite_store.transaction() as tx:
        job = tx.job("takeover")
        tx.release_lease(job.id, live)
        assert tx.acquire_lease(job.id, dead, 30.0)
    assert Tuner.resume("takeover", sqlite_store).run() == "completed"
    job = sqlite_store.read().job("takeover")
    events = [e.message for e in sqlite_store.read().events(job.id)]
    assert any(f"took over the lease of {dead}" in (m or "") for m in events)


def test_best_checkpoint_of_a_plateau_is_the_latest(tmp_path: Any) -> None:
    """Equal values (accuracy repeats often): export and retention take the longer-trained
    checkpoint, not the first one that reached the value."""
    from tunelab import api

    spec = job_spec("plateau", "plateau", strategy={"type": "manual"},
                    limits={"max_trials": 1, "max_parallel": 1})
    spec["static"] = {"x": 0.0}
    spec.pop("search_space")
    store = str(tmp_path / "store")
    assert api.tune_spec(spec, store=store).status == "completed"
    _, path = api.best_checkpoint("plateau", store=store)
    assert path.name.endswith("000003.pt"), path
