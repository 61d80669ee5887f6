"""Issue 16 items 1-3: checkpoints are verified before every load, paths stay in the artifact
root, and the root is absolute and recorded in the store.

A tuner killed while a trial ran leaves the trial RUNNING in the store; these tests write that
state directly (as the kill -9 tests in ``test_resume.py`` leave it), damage a checkpoint file
or row the way a disk error or an attacker would, and resume the job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import update

from tunelab.errors import StoreError
from tunelab.spec import spec_from_dict
from tunelab.store import Store, TrialRecord
from tunelab.store import schema as t
from tunelab.tuner import Tuner


class Evil:
    """Unpickling this creates ``marker``: a checkpoint replaced to run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def spec(name: str, fn: str = "rising", **static: Any) -> dict[str, Any]:
    return {
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": f"objectives_for_tests.ckpt:{fn}"},
        "search_space": {"x": {"type": "float", "low": -1.0, "high": 1.0}},
        "static": static, "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": 1, "max_parallel": 1},
    }


def run(store: Store, name: str, **static: Any) -> str:
    return Tuner.create(spec_from_dict(spec(name, **static)), store).run()


def trial0(store: Store, name: str) -> TrialRecord:
    tx = store.read()
    [tr] = tx.trials(tx.job(name).id)
    return tr


def as_if_killed(store: Store, name: str) -> None:
    """The store as a tuner killed while trial 0 ran leaves it."""
    with store.transaction() as tx:
        job = tx.job(name)
        tx.c.execute(update(t.trials).where(t.trials.c.job_id == job.id)
                     .values(state="running", ended_at=None))
        tx.set_job(job.id, status="running", ended_at=None)


def events(store: Store, name: str, kind: str) -> list[Any]:
    tx = store.read()
    return tx.events(tx.job(name).id, kind)


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def restored_steps(tr: TrialRecord) -> list[float]:
    return [r.metrics["restored"] for r in tr.reports]


@pytest.mark.parametrize("damage", ["code", "flip", "truncate"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_earlier_intact_one(
        tmp_path: Path, damage: str) -> None:
    st = Store.open(tmp_path / "store")
    try:
        assert run(st, "j") == "completed"
        tr = trial0(st, "j")
        assert [c.step for c in tr.live_checkpoints()] == [1, 4]  # best (step 1) and last
        latest = st.artifacts_for(st.read().job("j")).resolve(tr.live_checkpoints()[-1].path)
        marker = tmp_path / "code-ran"
        damages: dict[str, Callable[[Path], None]] = {
            "code": lambda p: torch.save({"step": Evil(marker)}, p), "flip": flip,
            "truncate": truncate}
        damages[damage](latest)
        as_if_killed(st, "j")
        assert Tuner.resume("j", st).run() == "completed"
        tr = trial0(st, "j")
        assert tr.state.value == "completed"
        # the re-run restored step 1 (the intact checkpoint), not the damaged step 4
        assert restored_steps(tr)[4:] == [1.0, 1.0, 1.0]
        [ev] = events(st, "j", "checkpoint_corrupt")
        assert str(latest) in (ev.message or "") and ev.data["step"] == 4
        assert not marker.exists()
    finally:
        st.close()


def test_a_checkpoint_row_outside_the_root_is_refused_and_never_deleted(
        tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store")
    try:
        run(st, "j")
        outside = tmp_path / "precious.pt"
        torch.save({"step": torch.tensor(9)}, outside)
        from tunelab.store.artifacts import file_sha256

        tr = trial0(st, "j")
        with st.transaction() as tx:
            tx.c.execute(update(t.checkpoints).where(t.checkpoints.c.trial_id == tr.id)
                         .where(t.checkpoints.c.step == 4)
                         .values(path="../../precious.pt", sha256=file_sha256(outside)))
        as_if_killed(st, "j")
        assert Tuner.resume("j", st).run() == "completed"
        tr = trial0(st, "j")
        assert restored_steps(tr)[4:] == [1.0, 1.0, 1.0]  # not the outside file's step 9
        [ev] = events(st, "j", "checkpoint_corrupt")
        assert "../../precious.pt" in (ev.message or "") and "outside" in (ev.message or "")
        assert outside.exists()
    finally:
        st.close()


def test_retention_never_deletes_a_file_outside_the_root(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store")
    try:
        run(st, "j")
        outside = tmp_path / "precious.pt"
        outside.write_bytes(b"not yours")
        tr = trial0(st, "j")
        # the latest checkpoint is damaged, so the trial re-runs steps 2-4 from step 1 and
        # retention runs at each report; an extra live row points outside: retention's prey
        flip(st.artifacts_for(st.read().job("j")).resolve(tr.live_checkpoints()[-1].path))
        with st.transaction() as tx:
            tx.add_checkpoint(tr.id, 0, str(outside), "0" * 64, 9)
        as_if_killed(st, "j")
        assert Tuner.resume("j", st).run() == "completed"
        assert outside.read_bytes() == b"not yours"
        assert any(str(outside) in (e.message or "") for e in events(st, "j", "unsafe_path"))
    finally:
        st.close()


def test_a_relative_store_resumes_from_another_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    st = Store.open("runs")
    try:
        run(st, "j")
        job = st.read().job("j")
        assert job.artifact_root == str(tmp_path / "a" / "runs" / "artifacts")
        assert all(not Path(c.path).is_absolute() for c in trial0(st, "j").checkpoints)
        as_if_killed(st, "j")
    finally:
        st.close()
    monkeypatch.chdir(tmp_path / "b")
    st = Store.open("../a/runs")
    try:
        assert Tuner.resume("j", st).run() == "completed"
        tr = trial0(st, "j")
        assert restored_steps(tr)[4:] == []  # resumed from its step-4 checkpoint: nothing left
        assert not events(st, "j", "checkpoint_corrupt") and tr.state.value == "completed"
        assert not (tmp_path / "b" / "runs").exists() and not (tmp_path / "b" / "a").exists()
    finally:
        st.close()


def test_an_old_store_with_relative_paths_gets_keys_and_a_recorded_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written before the artifact root was recorded: its cwd-relative paths become
    keys under the root, and the next tuner records the root."""
    from alembic import command
    from sqlalchemy import text

    from tunelab.store import engine as store_engine

    monkeypatch.chdir(tmp_path)
    st = Store.open("runs")
    try:
        run(st, "j")
        tr = trial0(st, "j")
        cfg = store_engine._config()
        with st.engine.begin() as conn:  # back to 0002, with the paths an old tuner wrote
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
            conn.execute(text("UPDATE checkpoints SET path = 'runs/artifacts/' || path"))
        assert "artifact_root" not in {c["name"] for c in
                                       __import__("sqlalchemy").inspect(st.engine)
                                       .get_columns("jobs")}
    finally:
        st.close()
    st = Store.open("runs")  # migrates to head
    try:
        tr = trial0(st, "j")
        assert [c.path for c in tr.live_checkpoints()] == [
            "j/trial-0000/ckpt-000001.pt", "j/trial-0000/ckpt-000004.pt"]
        as_if_killed(st, "j")
        assert Tuner.resume("j", st).run() == "completed"
        assert st.read().job("j").artifact_root == str(tmp_path / "runs" / "artifacts")
        assert not events(st, "j", "checkpoint_corrupt")
    finally:
        st.close()


def test_the_sqlite_file_is_private(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store")
    try:
        run(st, "j")
    finally:
        st.close()
    for f in (tmp_path / "store").glob("tunelab.db*"):
        assert os.stat(f).st_mode & 0o777 == 0o600, f


def test_a_store_open_error_does_not_print_the_password() -> None:
    from tunelab.store.queries import Reader

    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/test?connect_timeout=2"
    for opener in (Store.open, Reader.open):  # the writer's and the read side's engines
        with pytest.raises(StoreError) as e:
            opener(url)
        assert "s3cret-pw" not in str(e.value) and "***" in str(e.value), str(e.value)


@pytest.mark.postgres
def test_postgres_needs_a_shared_artifact_folder_and_resumes_from_anywhere(
        postgres_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_store.url
    bare = Store.open(url)  # no --artifacts: a new job is refused before anything is written
    try:
        with pytest.raises(StoreError, match=r"needs a shared artifact location.*--artifacts"):
            Tuner.create(spec_from_dict(spec("pg")), bare)
        assert bare.read().jobs() == []
    finally:
        bare.close()
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    st = Store.open(url, artifacts="shared")  # relative: recorded absolute
    try:
        run(st, "pg")
        assert st.read().job("pg").artifact_root == str(tmp_path / "here" / "shared")
        flip(st.artifacts_for(st.read().job("pg")).resolve(
            trial0(st, "pg").live_checkpoints()[-1].path))
        as_if_killed(st, "pg")
    finally:
        st.close()
    monkeypatch.chdir(tmp_path)
    other = Store.open(url)  # another folder (another machine), no --artifacts: the recorded one
    try:
        assert Tuner.resume("pg", other).run() == "completed"
        tr = trial0(other, "pg")
        assert restored_steps(tr)[4:] == [1.0, 1.0, 1.0]
        assert [e.data["step"] for e in events(other, "pg", "checkpoint_corrupt")] == [4]
    finally:
        other.close()


def test_export_refuses_a_changed_best_checkpoint(tmp_path: Path) -> None:
    from tunelab.api import best_checkpoint
    from tunelab.errors import CheckpointCorrupt

    st = Store.open(tmp_path / "store")
    try:
        run(st, "j")
    finally:
        st.close()
    _params, path = best_checkpoint("j", store=tmp_path / "store")
    assert path.name == "ckpt-000001.pt" and path.is_absolute()  # the best: step 1
    flip(path)
    with pytest.raises(CheckpointCorrupt, match="does not match its recorded sha256"):
        best_checkpoint("j", store=tmp_path / "store")


def test_a_moved_artifact_folder_is_found_with_artifacts_on_resume(tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store")
    try:
        run(st, "j")
        as_if_killed(st, "j")
    finally:
        st.close()
    (tmp_path / "store" / "artifacts").rename(tmp_path / "moved")
    st = Store.open(tmp_path / "store", artifacts=tmp_path / "moved")
    try:
        assert Tuner.resume("j", st).run() == "completed"
        assert st.read().job("j").artifact_root == str(tmp_path / "moved")  # recorded
        assert not events(st, "j", "checkpoint_corrupt")
        assert restored_steps(trial0(st, "j"))[4:] == []  # from its step-4 checkpoint
    finally:
        st.close()
