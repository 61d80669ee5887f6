"""The storage contract: every backend (SQLite, PostgreSQL) passes the same suite."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from tunelab.errors import JobNotFound, SpecError, StoreError
from tunelab.store import Store
from tunelab.trial import IllegalTransition, TrialState


def _job(store: Any, name: str = "job-a") -> Any:
    with store.transaction() as tx:
        return tx.create_job(name, {"name": name, "x": [1, 2]}, metric="loss", goal="minimize",
                             data={"split": 0.2})


def test_create_and_read_a_job(store: Any) -> None:
    job = _job(store)
    got = store.read().job("job-a")
    assert got.id == job.id and got.status == "created" and got.metric == "loss"
    assert got.spec == {"name": "job-a", "x": [1, 2]} and got.data == {"split": 0.2}
    assert got.lease_owner is None and not got.stop_requested
    assert [j.name for j in store.read().jobs()] == ["job-a"]


def test_duplicate_job_name_is_a_clear_error(store: Any) -> None:
    _job(store)
    with pytest.raises(SpecError, match="tunelab resume job-a"):
        _job(store)


def test_missing_job_names_the_known_ones(store: Any) -> None:
    with pytest.raises(JobNotFound, match="no jobs"):
        store.read().job("nope")
    _job(store, "alpha")
    with pytest.raises(JobNotFound, match="Known jobs: alpha"):
        store.read().job("nope")


def test_set_job_fields_round_trip(store: Any) -> None:
    job = _job(store)
    with store.transaction() as tx:
        tx.set_job(job.id, status="running", status_reason="because", stop_requested=True,
                   data={"runtime_used": 1.5})
    got = store.read().job("job-a")
    assert (got.status, got.status_reason, got.stop_requested) == ("running", "because", True)
    assert got.data == {"runtime_used": 1.5} and got.updated_at >= job.updated_at


def test_lease_is_exclusive_until_it_expires(store: Any) -> None:
    job = _job(store)
    with store.transaction() as tx:
        assert tx.acquire_lease(job.id, "tuner-1", 30.0)
    with store.transaction() as tx:
        assert not tx.acquire_lease(job.id, "tuner-2", 30.0)  # live lease of another owner
        assert tx.acquire_lease(job.id, "tuner-1", 30.0)  # renewal by the holder
    assert store.read().job("job-a").lease_owner == "tuner-1"
    with store.transaction() as tx:
        tx.release_lease(job.id, "tuner-2")  # not the holder: no effect
    assert store.read().job("job-a").lease_owner == "tuner-1"
    with store.transaction() as tx:
        tx.set_job(job.id, lease_until=time.time() - 1)  # the holder died, lease expired
        assert tx.acquire_lease(job.id, "tuner-2", 30.0)
    with store.transaction() as tx:
        tx.release_lease(job.id, "tuner-2")
    got = store.read().job("job-a")
    assert got.lease_owner is None and got.lease_until is None


def test_trials_numbers_params_and_states(store: Any) -> None:
    job = _job(store)
    params = {"lr": 0.01, "layers": 3, "opt": "adam", "flag": True}
    with store.transaction() as tx:
        assert tx.next_trial_number(job.id) == 0
        t0 = tx.create_trial(job.id, 0, params)
        t1 = tx.create_trial(job.id, 1, params, attempt=2, retry_of=0, source="manual")
        assert tx.next_trial_number(job.id) == 2
    with store.transaction() as tx:
        tx.set_trial(t0, state=TrialState.RUNNING, started_at=1.0, segments=1)
        tx.set_trial(t0, state=TrialState.COMPLETED, value=0.5, ended_at=2.0, last_step=3)
        tx.set_trial(t1, state=TrialState.RUNNING)
        tx.set_trial(t1, state=TrialState.FAILED, error="boom", traceback="Traceback...")
    a, b = store.read().trials(job.id)
    assert a.params == params and type(a.params["layers"]) is int
    assert type(a.params["flag"]) is bool
    assert (a.number, a.state, a.value, a.last_step, a.segments) == (
        0, TrialState.COMPLETED, 0.5, 3, 1)
    assert (b.attempt, b.retry_of, b.source, b.state, b.error) == (
        2, 0, "manual", TrialState.FAILED, "boom")


def test_illegal_transition_is_rejected_and_rolled_back(store: Any) -> None:
    job = _job(store)
    with store.transaction() as tx:
        tid = tx.create_trial(job.id, 0, {"x": 1})
    with pytest.raises(IllegalTransition), store.transaction() as tx:
        tx.set_trial(tid, value=3.0)
        tx.set_trial(tid, state=TrialState.COMPLETED)  # pending -> completed skips running
    (tr,) = store.read().trials(job.id)
    assert tr.state is TrialState.PENDING and tr.value is None  # the whole tx rolled back
    with pytest.raises(StoreError, match="no trial"), store.transaction() as tx:
        tx.set_trial(10**6, state=TrialState.RUNNING)


def test_trial_numbers_are_unique_per_job(store: Any) -> None:
    job = _job(store)
    other = _job(store, "job-b")
    with store.transaction() as tx:
        tx.create_trial(job.id, 0, {})
        tx.create_trial(other.id, 0, {})  # the same number in another job is fine
    with pytest.raises(IntegrityError), store.transaction() as tx:
        tx.create_trial(job.id, 0, {})


def test_non_finite_values_stay_out_of_numeric_columns(store: Any) -> None:
    job = _job(store)
    with store.transaction() as tx:
        tid = tx.create_trial(job.id, 0, {})
        tx.set_trial(tid, value=math.nan)
        tx.add_report(tid, 1, math.inf, {"loss": math.inf, "acc": 0.5}, 10.0)
        tx.add_report(tid, 2, 0.25, {"loss": 0.25, "acc": 0.75}, 11.0)
    (tr,) = store.read().trials(job.id)
    assert tr.value is None
    r1, r2 = tr.reports
    assert r1.value is None and r1.metrics["loss"] == math.inf and r1.metrics["acc"] == 0.5
    assert (r2.step, r2.value, r2.metrics, r2.at) == (2, 0.25, {"loss": 0.25, "acc": 0.75}, 11.0)
    (bare,) = store.read().trials(job.id, with_reports=False)
    assert bare.reports == []


def test_checkpoints_and_their_deletion(store: Any) -> None:
    job = _job(store)
    with store.transaction() as tx:
        tid = tx.create_trial(job.id, 0, {})
        c1 = tx.add_checkpoint(tid, 1, "/a/ckpt-1.pt", "ab" * 32, 100)
        tx.add_checkpoint(tid, 2, "/a/ckpt-2.pt", "cd" * 32, 200)
        tx.mark_checkpoint_deleted(c1)
    (tr,) = store.read().trials(job.id, with_reports=False)
    assert [(c.step, c.deleted) for c in tr.checkpoints] == [(1, True), (2, False)]
    assert tr.checkpoint_at(1) is None and tr.checkpoint_at(2) is not None
    last = tr.last_checkpoint()
    assert last is not None and (last.path, last.size) == ("/a/ckpt-2.pt", 200)


def test_decisions_and_events(store: Any) -> None:
    job = _job(store)
    with store.transaction() as tx:
        tx.add_decision(job.id, 3, 2, "exploit", reason="bottom quantile", donor=1,
                        donor_step=2, params={"lr": 0.02})
        tx.add_decision(job.id, 4, 1, "pause")
        tx.add_event(job.id, "started", "tuner x")
        tx.add_event(job.id, "failed", "boom", trial_number=3, data={"k": 1})
    d1, d2 = store.read().decisions(job.id)
    assert (d1.trial_number, d1.step, d1.action, d1.reason, d1.donor, d1.donor_step,
            d1.params) == (3, 2, "exploit", "bottom quantile", 1, 2, {"lr": 0.02})
    assert (d2.action, d2.reason, d2.params, d2.donor) == ("pause", None, None, None)
    assert [e.kind for e in store.read().events(job.id)] == ["started", "failed"]
    (ev,) = store.read().events(job.id, kind="failed")
    assert (ev.trial_number, ev.message, ev.data) == (3, "boom", {"k": 1})


def test_a_failed_transaction_writes_nothing(store: Any) -> None:
    job = _job(store)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.create_trial(job.id, 0, {})
        tx.add_event(job.id, "x")
        raise RuntimeError("crash mid-transaction")
    assert store.read().trials(job.id) == [] and store.read().events(job.id) == []


def test_reopening_keeps_the_data(store: Any) -> None:
    _job(store)
    again = Store(store.engine, store.artifacts, store.url)
    job = again.read().job("job-a")
    assert job.name == "job-a"
    assert again.artifacts_for(job).job_dir("job-a") == store.artifacts / "job-a"


# SQLite specifics --------------------------------------------------------------------------------
def test_sqlite_uses_wal_and_immediate_write_transactions(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "s")
    try:
        db = tmp_path / "s" / "tunelab.db"
        with sqlite3.connect(db) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other = sqlite3.connect(db, timeout=0, isolation_level=None)
        with st.transaction():
            # the transaction has not written yet, but BEGIN IMMEDIATE holds the write lock,
            # so a second writer is refused at once instead of half-way through its work
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            assert other.execute("select count(*) from jobs").fetchone() == (0,)  # WAL: reads
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
    finally:
        st.close()


def test_unreachable_store_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store.open(tmp_path / "file" / "sub")
