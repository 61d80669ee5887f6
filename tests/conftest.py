"""Shared fixtures: a temporary SQLite store, and the PostgreSQL server when it is reachable.

The tests folder is put on ``sys.path`` so worker processes (spawn-started, they inherit it)
can import ``objectives_for_tests.fns``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
_PG_STATE: dict[str, str | None] = {}


def postgres_unreachable() -> str | None:
    """Why the PostgreSQL server cannot be used (None when it can); checked once."""
    if "why" not in _PG_STATE:
        from sqlalchemy import create_engine, text

        try:
            eng = create_engine(
                "postgresql+psycopg://postgres@127.0.0.1:5432/test",
                connect_args={"connect_timeout": 3},
            )
            with eng.connect() as conn:
                conn.execute(text("select 1"))
            eng.dispose()
            _PG_STATE["why"] = None
        except Exception as e:  # the reason is printed with the skip
            _PG_STATE["why"] = f"PostgreSQL at {POSTGRES_URL} unreachable: {e}"
            print(_PG_STATE["why"], file=sys.stderr)
    return _PG_STATE["why"]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    from tunelab.store import Store

    st = Store.open(tmp_path / "store")
    yield st
    st.close()


@pytest.fixture
def postgres_store(tmp_path: Path) -> Iterator[Any]:
    """A store in a fresh schema of the shared `test` database, dropped afterwards."""
    why = postgres_unreachable()
    if why is not None:
        pytest.skip(why)
    from sqlalchemy import create_engine, text

    from tunelab.store import Store

    schema = f"tunelab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    st = Store.open(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}",
                    artifacts=tmp_path / "artifacts")
    try:
        yield st
    finally:
        st.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Any:
    """The storage contract runs on every backend."""
    return request.getfixturevalue(f"{request.param}_store")


def job_spec(name: str, fn: str = "quadratic", **sections: Any) -> dict[str, Any]:
    """A spec dict for a function objective in ``objectives_for_tests.fns``."""
    spec: dict[str, Any] = {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": f"objectives_for_tests.fns:{fn}"},
        "search_space": {"x": {"type": "float", "low": -2.0, "high": 2.0}},
        "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": 3, "max_parallel": 1},
    }
    spec.update(sections)
    return spec


def run_job(store: Any, spec: dict[str, Any], **tuner_kw: Any) -> tuple[str, Any, dict[int, Any]]:
    """Create and run a job to its end; returns (final status, job record, trials by number)."""
    from tunelab.spec import spec_from_dict
    from tunelab.tuner import Tuner

    status = Tuner.create(spec_from_dict(spec), store, **tuner_kw).run()
    return (status, *job_trials(store, spec["name"]))


def job_trials(store: Any, name: str) -> tuple[Any, dict[int, Any]]:
    tx = store.read()
    job = tx.job(name)
    return job, {t.number: t for t in tx.trials(job.id)}
