"""Read-only engines: what the read side (CLI listings, the progress view, the web server)
opens, so that a reader never takes the writer's lock.

On SQLite a reader's transaction is a plain deferred ``BEGIN`` (in WAL mode a snapshot that
never blocks the tuner, and is never blocked by it) on a connection with ``PRAGMA
query_only``; on PostgreSQL every transaction is ``READ ONLY``.

A SQLite store in a folder this process cannot write (a read-only mount, a copy someone else
owns) is opened as ``immutable``: WAL mode needs a ``-shm`` file beside the database even to
read, which cannot be made there, and nothing can change a store in such a folder while it is
read. One whose ``-wal`` file still holds changes (a tuner ended without closing the store) is
refused in one line rather than shown without them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event

from tunelab.errors import StoreError
from tunelab.store.engine import _scrub, head_revision, make_engine, redact, stored_revision


def _sqlite_reader_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # deferred: a read snapshot, never the write lock


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other dialects and ``:memory:``)."""
    if not url.startswith("sqlite"):
        return None
    db = url.split(":///", 1)[1] if ":///" in url else ""
    return None if db in ("", ":memory:") else Path(db)


def _read_only_url(url: str, db: Path) -> str:
    """``url`` itself for a store in a writable folder, else its immutable form (see the
    module docstring)."""
    if os.access(db.parent, os.W_OK):
        return url
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"the store at {str(db.parent)!r} is read-only and {wal.name} still holds changes "
            "(a tuner ended without closing it). Open it once where it is writable (e.g. "
            "`tunelab jobs --store` on a writable copy of the folder), then view it here."
        )
    return f"sqlite:///file:{quote(str(db.resolve()))}?immutable=1&uri=true"


def make_read_engine(url: str) -> Engine:
    """A read-only engine on an existing store (its schema brought to head first, once).

    A missing SQLite file is a :class:`StoreError` (a reader never creates a store)."""
    db = sqlite_path(url)
    if db is not None and not db.exists():
        raise StoreError(
            f"there is no store at {str(db.parent)!r} (no {db.name} there). Pass the store "
            "the job ran in with --store (a folder, or postgresql://user@host:port/db)."
        )
    ro_url = _read_only_url(url, db) if db is not None else url
    try:
        if db is not None:
            engine = create_engine(ro_url)
            _sqlite_reader_setup(engine)
        else:
            engine = create_engine(
                url, pool_pre_ping=True, execution_options={"postgresql_readonly": True}
            )
        head = head_revision()  # from the migration files: no alembic import at start-up
        current = stored_revision(engine)
    except Exception as e:  # driver errors: unreachable server, bad URL, unreadable file
        detail = _scrub(" ".join(str(e).split()), url)  # never the password
        raise StoreError(
            f"cannot open the store at {redact(url)!r}: {e.__class__.__name__}: {detail}. "
            "Check the path or URL (a folder, or postgresql://user@host:port/db)."
        ) from None
    if head is None or current != head:  # an older store: upgrade once through a writer
        if db is not None and not os.access(db.parent, os.W_OK):
            raise StoreError(
                f"the store at {str(db.parent)!r} is read-only and was made by an older "
                "tunelab. Open it once where it is writable (e.g. `tunelab jobs --store` on a "
                "writable copy of the folder) to upgrade it, then view it here."
            )
        make_engine(url).dispose()
    return engine
