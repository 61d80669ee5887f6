"""Migrations: a store made by an older tunelab opens with the current code, rows intact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import POSTGRES_URL, postgres_unreachable
from sqlalchemy import Engine, create_engine, inspect, text

from tunelab.store import Store
from tunelab.store import engine as store_engine


def _upgrade_to(engine: Engine, revision: str) -> None:
    """Bring a database to ``revision`` (not head), the way engine.migrate runs alembic."""
    cfg = store_engine._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _fill_at_0001(engine: Engine) -> None:
    """A job with one finished trial and one report, written with the 0001 columns only."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO jobs (id, name, status, metric, goal, spec, created_at, updated_at,"
            " stop_requested) VALUES (1, 'old-job', 'completed', 'loss', 'minimize', '{}',"
            " 1.0, 2.0, false)"))
        conn.execute(text(
            "INSERT INTO trials (id, job_id, number, attempt, source, params, state, value,"
            " last_step, segments, created_at, device_seconds) VALUES (1, 1, 0, 1, 'strategy',"
            " '{\"x\": 0.5}', 'completed', 0.25, 1, 1, 1.5, 0.1)"))
        conn.execute(text(
            "INSERT INTO reports (trial_id, step, value, metrics, at)"
            " VALUES (1, 1, 0.25, '{\"loss\": 0.25}', 1.6)"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a store at revision 0001 holding one job, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'tunelab.db'}"
        (tmp_path / "store").mkdir()
        eng = create_engine(url)
        store_engine._sqlite_setup(eng)
        _upgrade_to(eng, "0001")
        _fill_at_0001(eng)
        eng.dispose()
        yield str(tmp_path / "store")
        return
    why = postgres_unreachable()
    if why is not None:
        pytest.skip(why)
    schema = f"tunelab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    eng = create_engine(store_engine.resolve_url(url)[0])
    try:
        _upgrade_to(eng, "0001")
        _fill_at_0001(eng)
        eng.dispose()
        yield url
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _trial_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("trials")}


def test_the_fixture_store_really_is_at_0001(old_store: str) -> None:
    eng = create_engine(store_engine.resolve_url(old_store)[0])
    try:
        assert _revision(eng) == "0001"
        assert "metrics" not in _trial_columns(eng)
    finally:
        eng.dispose()


def test_a_0001_store_upgrades_to_head_and_keeps_its_rows(
    old_store: str, tmp_path: Path
) -> None:
    st = Store.open(old_store, artifacts=tmp_path / "artifacts")
    try:
        head = ScriptDirectory.from_config(store_engine._config()).get_current_head()
        assert head == "0003" and _revision(st.engine) == head
        assert "metrics" in _trial_columns(st.engine)
        tx = st.read()
        job = tx.job("old-job")
        [tr] = tx.trials(job.id)
        assert tr.metrics == {}  # an old trial returned nothing we kept
        assert tr.value == 0.25 and tr.params == {"x": 0.5}
        assert [r.metrics for r in tr.reports] == [{"loss": 0.25}]
        with st.transaction() as wtx:  # and the new column takes writes
            wtx.set_trial(tr.id, metrics={"loss": 0.25, "accuracy": 0.9})
        assert st.read().trials(job.id)[0].metrics == {"loss": 0.25, "accuracy": 0.9}
    finally:
        st.close()
    again = Store.open(old_store, artifacts=tmp_path / "artifacts")  # head: a no-op
    try:
        assert _revision(again.engine) == "0003"
        assert again.read().trials(again.read().job("old-job").id)[0].metrics["accuracy"] == 0.9
    finally:
        again.close()


def test_downgrade_to_0001_drops_the_column_only(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store")
    try:
        with st.transaction() as tx:
            job = tx.create_job("j", {}, metric="loss", goal="minimize")
            tid = tx.create_trial(job.id, 0, {"x": 1})
            tx.add_report(tid, 1, 0.5, {"loss": 0.5}, 1.0)
            tx.set_trial(tid, metrics={"loss": 0.5})
        cfg = store_engine._config()
        with st.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert _revision(st.engine) == "0001" and "metrics" not in _trial_columns(st.engine)
        with st.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM reports")).scalar() == 1
    finally:
        st.close()
