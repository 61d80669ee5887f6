"""The read side (`tunelab.store.queries`): typed answers, one-query job list, cursors, and a
reader that never takes SQLite's write lock. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from tunelab.errors import JobNotFound, SpecError, StoreError
from tunelab.store import Store
from tunelab.store.queries import Reader
from tunelab.trial import TrialState


def _fill(store: Any, name: str = "job-q", *, goal: str = "minimize", status: str = "completed",
          lease_until: float | None = None) -> int:
    """A job with 4 trials: 0..2 completed (values 3, 1, 2), 3 failed; 3 reports each."""
    spec = {"name": name, "strategy": {"type": "random"}, "limits": {"max_trials": 4},
            "search_space": {"x": {"type": "float", "low": 0, "high": 1}}}
    with store.transaction() as tx:
        job = tx.create_job(name, spec, metric="loss", goal=goal)
        tx.set_job(job.id, status=status, lease_owner="me" if lease_until else None,
                   lease_until=lease_until)
        for n, v in enumerate([3.0, 1.0, 2.0, None]):
            tid = tx.create_trial(job.id, n, {"x": n / 10})
            tx.set_trial(tid, state=TrialState.RUNNING, current=TrialState.PENDING,
                         started_at=float(n), segments=1)
            for step in range(1, 4):
                loss = (v if v is not None else 5.0) + (3 - step)
                tx.add_report(tid, step, loss, {"loss": loss, "val_acc": step / 10 + n},
                              at=float(n * 10 + step))
            tx.add_checkpoint(tid, 3, f"{name}/t{n}.pt", "0" * 64, 100 + n)
            if v is None:
                tx.set_trial(tid, state=TrialState.FAILED, current=TrialState.RUNNING,
                             error="boom", traceback="Traceback: boom", last_step=3)
            else:
                tx.set_trial(tid, state=TrialState.COMPLETED, current=TrialState.RUNNING,
                             value=v, last_step=3, device_seconds=2.0, ended_at=10.0 + n)
        tx.add_decision(job.id, 1, 2, "exploit", reason="copy", donor=0, donor_step=2,
                        params={"x": 0.5}, at=12.0)
        tx.add_event(job.id, "started", "go")
        tx.add_event(job.id, "failed", "boom", trial_number=3)
        return int(job.id)


def test_job_list_is_one_query_with_counts_and_best(store: Any) -> None:
    _fill(store, "a")
    _fill(store, "b", goal="maximize", status="running", lease_until=time.time() + 60)
    _fill(store, "c", status="running", lease_until=time.time() - 1)  # crashed tuner
    with Reader.of(store) as reader:
        statements: list[str] = []
        event.listen(reader.engine, "before_cursor_execute",
                     lambda *a: statements.append(str(a[2])))
        jobs = reader.jobs()
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert len(selects) == 1
        by = {j.name: j for j in jobs}
        assert [j.name for j in jobs] == ["a", "b", "c"]
        assert by["a"].best == 1.0 and by["b"].best == 3.0  # min / max by goal
        assert by["a"].counts == {"completed": 3, "failed": 1} and by["a"].trials == 4
        assert by["a"].device_seconds == pytest.approx(6.0)
        assert by["b"].status == "running" and by["c"].status == "interrupted"
        assert [j.name for j in reader.jobs(status="interrupted")] == ["c"]
        with pytest.raises(SpecError, match="status"):
            reader.jobs(status="bogus")


def test_summary_is_the_show_json_shape(store: Any) -> None:
    _fill(store)
    with Reader.of(store) as reader:
        s = reader.job_summary("job-q").model_dump()
    assert list(s) == ["name", "status", "status_reason", "objective", "strategy", "best",
                       "static", "counts", "device_seconds", "device_hours",
                       "device_hours_by_type", "epochs", "checkpoint_bytes", "created_at",
                       "ended_at", "trials", "diagnosis", "decisions", "data", "warm_start"]
    assert s["best"] == {"number": 1, "params": {"x": 0.1}, "value": 1.0}
    assert [t["number"] for t in s["trials"]] == [1, 2, 0, 3]
    assert s["epochs"] == 12 and s["checkpoint_bytes"] == 100 + 101 + 102 + 103
    assert s["trials"][0]["last_metrics"] == {"loss": 1.0, "val_acc": 1.3}
    assert s["decisions"][0]["action"] == "exploit" and s["decisions"][0]["donor"] == 0


def test_trials_page_sorts_filters_and_pages_like_the_leaderboard(store: Any) -> None:
    _fill(store)
    with Reader.of(store) as reader:
        page = reader.trials("job-q")
        assert page.total == 4 and [r.number for r in page.rows] == [1, 2, 0, 3]
        assert [r.rank for r in page.rows] == [1, 2, 3, None]  # as show --json ranks them
        assert page.rows[0].last_metrics["val_acc"] == pytest.approx(1.3)
        assert page.rows[0].checkpoint_bytes == 101
        assert [r.number for r in reader.trials("job-q", descending=True).rows] == [0, 2, 1, 3]
        by_number = reader.trials("job-q", sort="number", offset=1, limit=2).rows
        assert [(r.number, r.rank) for r in by_number] == [(1, 1), (2, 2)]
        failed = reader.trials("job-q", state="failed")
        assert failed.total == 1 and failed.rows[0].error == "boom"
        with pytest.raises(SpecError, match="sort"):
            reader.trials("job-q", sort="nope")
        with pytest.raises(SpecError, match="state"):
            reader.trials("job-q", state="nope")


def test_one_trial_in_full_and_unknown_ones(store: Any) -> None:
    _fill(store)
    with Reader.of(store) as reader:
        tr = reader.trial("job-q", 3)
        assert tr.state == "failed" and tr.traceback == "Traceback: boom"
        assert [r.step for r in tr.reports] == [1, 2, 3]
        assert tr.checkpoints[0].size == 103 and tr.events[0].kind == "failed"
        assert [d.action for d in reader.trial("job-q", 0).decisions] == ["exploit"]  # donor
        with pytest.raises(JobNotFound, match=r"no trial number 9; .* 0\.\.3"):
            reader.trial("job-q", 9)
        with pytest.raises(JobNotFound, match="no tuning job named 'nope'"):
            reader.trial("nope", 0)


def test_curves_of_many_trials_and_increments_after_a_cursor(store: Any) -> None:
    job_id = _fill(store)
    with Reader.of(store) as reader:
        c = reader.curves("job-q")
        assert c.metric == "loss" and [x.trial for x in c.curves] == [0, 1, 2, 3]
        assert c.curves[1].steps == [1, 2, 3] and c.curves[1].values == [3.0, 2.0, 1.0]
        acc = reader.curves("job-q", metric="val_acc", trials=[2])
        assert [x.trial for x in acc.curves] == [2]
        assert acc.curves[0].values == pytest.approx([2.1, 2.2, 2.3])
        with store.transaction() as tx:
            tid = tx.trials(job_id, with_reports=False)[0].id
            tx.add_report(tid, 4, 0.5, {"loss": 0.5, "val_acc": math.nan}, at=99.0)
        more = reader.curves("job-q", after=c.cursor)
        assert [(x.trial, x.steps, x.values) for x in more.curves] == [(0, [4], [0.5])]
        nan = reader.curves("job-q", metric="val_acc", after=c.cursor)
        assert nan.curves[0].values == [None]  # NaN becomes null, never invalid JSON
        rep = reader.reports_after("job-q", c.cursor)
        assert rep.cursor == more.cursor and rep.reports[0].metrics["val_acc"] is None
        assert reader.reports_after("job-q", rep.cursor).reports == []


def test_events_after_a_cursor_and_the_version_moves_on_writes(store: Any) -> None:
    job_id = _fill(store)
    with Reader.of(store) as reader:
        ev = reader.events("job-q")
        assert [e.kind for e in ev.events] == ["started", "failed"]
        v1 = reader.version("job-q")
        assert reader.version("job-q") == v1
        with store.transaction() as tx:
            tx.add_event(job_id, "note", "x")
        later = reader.events("job-q", after=ev.cursor)
        assert [e.kind for e in later.events] == ["note"]
        v2 = reader.version("job-q")
        assert v2.token != v1.token and v2.event_cursor == later.cursor
        with store.transaction() as tx:  # a trial state change alone moves it too
            tid = tx.create_trial(job_id, 4, {"x": 0.9})
            tx.set_trial(tid, state=TrialState.RUNNING, current=TrialState.PENDING)
        assert reader.version("job-q").token != v2.token


def test_stop_request_is_the_one_write(store: Any) -> None:
    _fill(store, "live", status="running", lease_until=time.time() + 60)
    _fill(store, "done")
    with Reader.of(store) as reader:
        reader.request_stop("live", "the dashboard")
        assert reader.job("live").stop_requested
        assert reader.events("live").events[-1].message == "stop requested from the dashboard"
        with pytest.raises(SpecError, match="must be running; got 'completed'"):
            reader.request_stop("done")


def test_reader_never_takes_the_sqlite_write_lock(sqlite_store: Store) -> None:
    """A tuner's write transaction is open: the reader still answers at once (the old
    ``store.read()`` began BEGIN IMMEDIATE and waited for the writer)."""
    _fill(sqlite_store)
    reader = Reader.of(sqlite_store)
    got: list[int] = []
    with sqlite_store.transaction() as tx:  # holds the write lock
        tx.add_event(1, "held", "writer busy")
        th = threading.Thread(target=lambda: got.append(len(reader.jobs())), daemon=True)
        th.start()
        th.join(10)
        assert got == [1], "the reader waited for the writer's lock"
    with reader.engine.connect() as conn, pytest.raises(Exception, match=r"readonly|read-only"):
        conn.execute(text("DELETE FROM events"))
    reader.close()


def test_a_missing_store_is_one_clear_error_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="there is no store at"):
        Reader.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_a_retried_trial_counts_once_by_its_latest_attempt(store: Any) -> None:
    """Counts and the trial total take each trial's latest attempt (a retry is an attempt of
    its trial); device time counts every attempt. One grouped pass, not a query per trial."""
    with store.transaction() as tx:
        job = tx.create_job("retried", {"name": "retried"}, metric="loss", goal="minimize")
        first = tx.create_trial(job.id, 0, {"x": 1})
        tx.set_trial(first, state=TrialState.RUNNING, current=TrialState.PENDING)
        tx.set_trial(first, state=TrialState.FAILED, current=TrialState.RUNNING,
                     device_seconds=1.0)
        again = tx.create_trial(job.id, 1, {"x": 1}, attempt=2, retry_of=0)
        tx.set_trial(again, state=TrialState.RUNNING, current=TrialState.PENDING)
        tx.set_trial(again, state=TrialState.COMPLETED, current=TrialState.RUNNING, value=0.5,
                     device_seconds=2.0)
        other = tx.create_trial(job.id, 2, {"x": 2})
        tx.set_trial(other, state=TrialState.RUNNING, current=TrialState.PENDING)
    with Reader.of(store) as reader:
        (j,) = reader.jobs()
        assert (j.trials, j.counts, j.best) == (2, {"completed": 1, "running": 1}, 0.5)
        assert j.device_seconds == pytest.approx(3.0)
        head = reader.job_header("retried")
        assert (head.trials, head.counts) == (2, {"completed": 1, "running": 1})
