"""Issue 16 item 5: a full disk stops the job cleanly, and its trials re-run on resume.

Fault injection: the worker's checkpoint write gets ENOSPC (``objectives_for_tests.ckpt:
disk_fills`` makes ``os.fsync`` raise it once), and the tuner's SQLite commit gets SQLite's
"database or disk is full" (``Tx.add_report`` monkeypatched to raise it once).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.errors import DiskFullError
from tunelab.spec import spec_from_dict
from tunelab.store import Store, Tx
from tunelab.tuner import Tuner

MESSAGE = r"disk full at (\S+) \(\d+ MB free\): free space, then `tunelab resume {name}`"


def spec(name: str, fn: str, **static: Any) -> dict[str, Any]:
    return {
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": f"objectives_for_tests.ckpt:{fn}"},
        "search_space": {"x": {"type": "float", "low": -1.0, "high": 1.0}},
        "static": static, "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": 2, "max_parallel": 1},
    }


def states(st: Store, name: str) -> dict[int, str]:
    tx = st.read()
    return {t.number: t.state.value for t in tx.trials(tx.job(name).id)}


def test_enospc_writing_a_checkpoint_stops_the_job_and_the_trial_reruns_on_resume(
        tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    armed.touch()
    st = Store.open(tmp_path / "store")
    try:
        with pytest.raises(DiskFullError) as e:
            Tuner.create(spec_from_dict(spec("full", "disk_fills", armed=str(armed))), st).run()
        m = re.fullmatch(MESSAGE.format(name="full"), str(e.value))
        assert m is not None, str(e.value)
        assert m.group(1) == str(tmp_path / "store" / "artifacts" / "full" / "trial-0000")
        job = st.read().job("full")
        assert job.status == "stopped" and "disk full at" in (job.status_reason or "")
        assert states(st, "full") == {0: "lost"}  # not failed: nothing counted against it
        assert [ev.kind for ev in st.read().events(job.id, "disk_full")] == ["disk_full"]
        assert not armed.exists()  # the fault fired once; the disk has room again
        assert Tuner.resume("full", st).run() == "completed"
        assert states(st, "full") == {0: "completed", 1: "completed"}  # max_trials: 2, both
        tx = st.read()
        [t0] = [t for t in tx.trials(job.id) if t.number == 0]
        # re-run from its step-1 checkpoint, the last one written before the disk filled
        assert [r.metrics["restored"] for r in t0.reports][1:] == [1.0, 1.0, 1.0]
    finally:
        st.close()


def test_a_full_disk_at_commit_stops_with_one_line_and_the_trial_reruns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Tx.add_report
    calls = {"n": 0}

    def add_report(self: Tx, *a: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OperationalError("INSERT INTO reports", {},
                                   sqlite3.OperationalError("database or disk is full"))
        real(self, *a, **kw)

    monkeypatch.setattr(Tx, "add_report", add_report)
    store = tmp_path / "store"
    (tmp_path / "spec.yaml").write_text(__import__("json").dumps(spec("commit", "rising")))
    result = CliRunner().invoke(app, ["tune", str(tmp_path / "spec.yaml"), "--store",
                                      str(store), "--json"])
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())  # one message (rich wraps it at 80 columns)
    assert re.fullmatch("error: " + MESSAGE.format(name="commit"), line), line
    assert "Traceback" not in result.output
    monkeypatch.setattr(Tx, "add_report", real)
    st = Store.open(store)
    try:
        assert states(st, "commit") == {0: "running"}  # the crash state: LOST on resume
        assert Tuner.resume("commit", st).run() == "completed"
        assert states(st, "commit") == {0: "completed", 1: "completed"}
    finally:
        st.close()
