"""Opening a store: URL resolution, engine settings per dialect, and migrations.

A plain folder path means a SQLite file ``<folder>/tunelab.db`` with artifacts beside it; a
``postgresql://`` URL means a server (artifacts go to a local folder unless told otherwise).

SQLite runs in WAL mode and every transaction starts with ``BEGIN IMMEDIATE``, so a tuner and a
CLI reading the same file never hit "database is locked" half-way through a write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from tunelab.errors import StoreError

DEFAULT_STORE = "tunelab-runs"
_MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_url(store: str | Path) -> tuple[str, Path]:
    """Return ``(sqlalchemy_url, artifacts_dir)`` for a store argument."""
    s = str(store)
    if "://" in s:
        if s.startswith("postgres://"):
            s = "postgresql://" + s[len("postgres://") :]
        if s.startswith("postgresql://"):
            s = "postgresql+psycopg://" + s[len("postgresql://") :]
        if s.startswith("sqlite:///"):
            db = Path(s[len("sqlite:///") :])
            return s, db.parent / "artifacts"
        return s, Path(DEFAULT_STORE) / "artifacts"
    root = Path(s)
    if root.suffix == ".db":
        return f"sqlite:///{root}", root.parent / "artifacts"
    return f"sqlite:///{root / 'tunelab.db'}", root / "artifacts"


def _wal(cur: Any, wait_s: float = 30.0) -> None:
    """Switch the file to WAL. On a new file that takes a lock which SQLite's busy handler does
    not wait for, so another process (or the CLI's progress thread) opening the store at the
    same moment gets "database is locked" at once: retry until ``wait_s`` has passed."""
    import sqlite3
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        _wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` and bring its schema to the latest migration."""
    try:
        if url.startswith("sqlite"):
            db = url[len("sqlite:///") :]
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, poolclass=NullPool if db == ":memory:" else None)
            _sqlite_setup(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except StoreError:
        raise
    except Exception as e:  # driver errors: unreachable server, bad URL, unreadable file
        raise StoreError(
            f"cannot open the store at {url!r}: {e.__class__.__name__}: {e}. "
            "Check the path or URL (a folder, or postgresql://user@host:port/db)."
        ) from None
    return engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head (a no-op when it is current)."""
    cfg = _config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, one writer at a time
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7411)")  # one migrator at a time
        # again inside the lock: two processes opening a new store at once both saw no schema
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
