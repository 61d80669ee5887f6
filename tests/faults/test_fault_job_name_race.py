"""Fault injection: two tuners create the same job name at once on PostgreSQL (issue 16 item
10). Both check that the name is free before either commits; the second insert waits on the
first's unique-index entry and then fails. It must be the one-line "name taken" error (exit 2 in
the CLI), not an ``IntegrityError`` traceback."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from conftest import job_spec
from sqlalchemy import text

from tunelab.errors import SpecError
from tunelab.spec import spec_from_dict
from tunelab.tuner import Tuner


@pytest.mark.postgres
def test_two_tuners_creating_one_name_at_once_get_one_clear_error(postgres_store: Any) -> None:
    st = postgres_store
    spec = spec_from_dict(job_spec("racing"))
    inserted = threading.Event()
    seen: dict[str, Any] = {"blocked": False, "error": None}

    def first() -> None:
        try:
            with st.transaction() as tx:
                tx.create_job("racing", spec.to_dict(), metric="loss", goal="minimize")
                pid = tx.c.execute(text("select pg_backend_pid()")).scalar()
                inserted.set()
                # commit only once the second tuner's insert waits on this row
                deadline = time.monotonic() + 60
                with st.engine.connect() as watch:
                    while time.monotonic() < deadline and not seen["blocked"]:
                        seen["blocked"] = bool(watch.execute(text(
                            "select count(*) from pg_stat_activity "
                            "where :pid = any(pg_blocking_pids(pid))"), {"pid": pid}).scalar())
                        watch.commit()
                        time.sleep(0.05)
        except BaseException as e:  # reported by the assertion below
            seen["error"] = e
            inserted.set()

    t = threading.Thread(target=first)
    t.start()
    assert inserted.wait(60)
    with pytest.raises(SpecError) as err:
        Tuner.create(spec, st)
    t.join(60)
    assert seen["error"] is None and seen["blocked"], seen
    msg = str(err.value)
    assert msg.startswith("`name` must be a job name not used in this store; got 'racing'.")
    assert "\n" not in msg
    assert [j.name for j in st.read().jobs()] == ["racing"]
