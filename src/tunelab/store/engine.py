"""Opening a store: URL resolution, engine settings per dialect, and migrations.

A plain folder path means a SQLite file ``<folder>/tunelab.db`` (mode 0600) with its artifact
root ``<folder>/artifacts`` beside it, made absolute; a ``postgresql://`` URL means a server,
which has no default artifact root (new jobs need a shared folder: ``--artifacts``). Errors never
show a URL's password.

SQLite runs in WAL mode and every transaction starts with ``BEGIN IMMEDIATE``, so a tuner and a
CLI reading the same file never hit "database is locked" half-way through a write.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tunelab.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_STORE = "tunelab-runs"
_MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_url(store: str | Path) -> tuple[str, Path | None]:
    """Return ``(sqlalchemy_url, artifacts_dir)`` for a store argument; the folder is absolute,
    None for a server (PostgreSQL) or an in-memory database."""
    s = str(store)
    if "://" in s:
        if s.startswith("postgres://"):
            s = "postgresql://" + s[len("postgres://") :]
        if s.startswith("postgresql://"):
            s = "postgresql+psycopg://" + s[len("postgresql://") :]
        if s.startswith("sqlite:///"):
            db = s[len("sqlite:///") :].split("?")[0]
            if not db or db == ":memory:":
                return s, None
            return s, Path(os.path.abspath(Path(db).parent / "artifacts"))
        return s, None
    root = Path(os.path.abspath(s))
    if root.suffix == ".db":
        return f"sqlite:///{root}", root.parent / "artifacts"
    return f"sqlite:///{root / 'tunelab.db'}", root / "artifacts"


def redact(url: str) -> str:
    """``url`` with its password (if any) shown as ``***``."""
    try:
        from sqlalchemy.engine import make_url

        u = make_url(url)
    except Exception:  # not a URL sqlalchemy parses: hide anything between ':' and '@'
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    if u.password is None:
        return url
    return u.render_as_string(hide_password=True)


def _scrub(text: str, url: str) -> str:
    """Remove the URL's password from an error text (drivers may echo the DSN)."""
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:
        password = None
    text = text.replace(url, redact(url))
    if password:
        text = text.replace(str(password), "***")
    return re.sub(r"password=\S+", "password=***", text)


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
                _private_file(Path(db))
            engine = create_engine(url, poolclass=NullPool if db == ":memory:" else None)
            _sqlite_setup(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except StoreError:
        raise
    except Exception as e:  # driver errors: unreachable server, bad URL, unreadable file
        detail = _scrub(" ".join(str(e).split()), url)
        raise StoreError(
            f"cannot open the store at {redact(url)!r}: {e.__class__.__name__}: {detail}. "
            "Check the path or URL (a folder, or postgresql://user@host:port/db)."
        ) from None
    return engine


def _private_file(db: Path) -> None:
    """Create a new SQLite file with mode 0600 (SQLite gives its -wal and -shm files the
    database file's mode), like the checkpoints: a store holds the job's specs and results."""
    if db.exists():
        return
    try:
        os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another process created it at the same moment


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


_REVISION = re.compile(r"^(down_)?revision\s*=\s*['\"]?([^'\"\s]*)['\"]?", re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration's revision, read from the version files without importing alembic
    (which costs every CLI start a large part of its time); None when the files do not read as
    one straight chain, and the caller asks alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for f in (_MIGRATIONS / "versions").glob("*.py"):
        found = dict((bool(m.group(1)), m.group(2)) for m in _REVISION.finditer(f.read_text()))
        if False in found:
            revisions.add(found[False])
            if found.get(True) not in (None, "None", ""):
                parents.add(found[True])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no schema yet), with a plain query."""
    with engine.connect() as conn:  # an unreachable server raises here, once
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:  # no alembic_version table: a new store
            return None
    return str(rows[0][0]) if len(rows) == 1 else None


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head (a no-op when it is current).

    The common case, a store already at head, is answered without importing alembic.
    """
    head = head_revision()
    if head is not None and stored_revision(engine) == head:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

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
