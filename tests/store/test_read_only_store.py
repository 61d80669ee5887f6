"""A store in a folder this process cannot write can still be viewed (`jobs`, `show`).

WAL-mode SQLite needs a ``-shm`` file beside the database even to read, so a read-only folder
failed with SQLAlchemy's "unable to open database file". The folder is made truly read-only:
as root (whom ``chmod`` does not stop) by a read-only bind mount, otherwise by ``chmod``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import job_spec, run_job
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.executors.simulated import SimulatedExecutor, pure_curve
from tunelab.store import Store

runner = CliRunner()


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` as seen through a path this process cannot write."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(mode)
        return
    view = folder.parent / f"{folder.name}-ro"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(view)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        view.rmdir()
        pytest.skip(f"root without a read-only bind mount: {mounted.stderr.strip()}")
    try:
        assert not os.access(view, os.W_OK)  # really read-only, for root too
        yield view
    finally:
        # lazy: a failing old version kept the database open, and a busy mount must not stay
        subprocess.run(["umount", "-l", str(view)], check=True)
        view.rmdir()


def _store_with_a_job(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    store = Store.open(folder)
    try:
        ex = SimulatedExecutor(1, pure_curve(lambda p, s: {"loss": float(p["x"]) ** 2 / s}),
                               max_steps=2)
        status, _, trials = run_job(store, job_spec("viewed"), executor=ex)
        assert status == "completed" and len(trials) == 3
    finally:
        store.close()
    return folder


def test_jobs_and_show_view_a_store_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = _store_with_a_job(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    with read_only(folder) as ro:
        res = runner.invoke(app, ["jobs", "--store", str(ro), "--json"])
        assert res.exit_code == 0, res.output
        assert '"viewed"' in res.output and '"completed"' in res.output
        res = runner.invoke(app, ["show", "viewed", "--store", str(ro)])
        assert res.exit_code == 0, res.output
        assert "viewed" in res.output and "completed" in res.output
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written beside it


def test_a_read_only_store_with_unmerged_changes_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = _store_with_a_job(tmp_path)
    shutil.copy(folder / "tunelab.db", folder / "tunelab.db-wal")  # stands for unmerged pages
    with read_only(folder) as ro:
        res = runner.invoke(app, ["jobs", "--store", str(ro)])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert text.startswith("error: the store at") and "still holds changes" in text
    assert "Traceback" not in res.output and "OperationalError" not in res.output
