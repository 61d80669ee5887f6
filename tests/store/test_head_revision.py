"""The store's head revision is read from the migration files without alembic (start-up cost)."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from tunelab.store import engine as store_engine


def test_head_revision_from_the_files_is_alembics_head() -> None:
    # a new migration written in a form the light reader misreads fails here, not in the field
    head = ScriptDirectory.from_config(store_engine._config()).get_current_head()
    assert store_engine.head_revision() == head
