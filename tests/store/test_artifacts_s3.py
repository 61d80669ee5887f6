"""Checkpoints in object storage (``--artifacts s3://bucket/prefix``), against a real
S3-compatible server (moto's, on 127.0.0.1) through the real s3fs/botocore client: a job on the
local executor writes, verifies, restores and retires its checkpoints there; a changed object
is refused by its hash; export reads through it; ``tunelab delete`` removes the job's objects
and nothing else; a bucket that is not there is refused in one line with nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import update

pytest.importorskip("s3fs", reason="the s3 extra is not installed (pip install -e '.[s3]')")
pytest.importorskip("moto", reason="moto[server] is not installed (the dev extra has it)")

from on_ray.moto_s3 import s3_server

from tunelab.errors import CheckpointCorrupt, JobNotFound, StoreError, UnsafePathError
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.store import schema as t
from tunelab.store.artifacts import open_artifacts
from tunelab.store.remote_artifacts import RemoteArtifacts
from tunelab.tuner import Tuner

BUCKET = "tunelab-test"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


@pytest.fixture
def prefix(endpoint: str) -> str:
    """A fresh prefix in the bucket for each test."""
    return f"s3://{BUCKET}/runs-{uuid.uuid4().hex[:8]}"


def spec(name: str, trials: int = 2) -> dict[str, Any]:
    return {
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.ckpt:rising"},
        "search_space": {"x": {"type": "float", "low": -1.0, "high": 1.0}},
        "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": trials, "max_parallel": 1},
    }


def objects(arts: RemoteArtifacts) -> list[str]:
    arts.fs.invalidate_cache()
    return sorted(str(p)[len(arts.base) + 1:] for p in arts.fs.find(arts.base))


def test_a_local_job_writes_verifies_and_retires_its_checkpoints_in_s3(
        prefix: str, tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store", artifacts=prefix)
    try:
        assert Tuner.create(spec_from_dict(spec("s3job")), st).run() == "completed"
        tx = st.read()
        job = tx.job("s3job")
        assert job.artifact_root == prefix  # the URL is recorded as the job's root
        arts = st.artifact_store(job)
        assert isinstance(arts, RemoteArtifacts)
        live = [c for tr in tx.trials(job.id) for c in tr.checkpoints if not c.deleted]
        gone = [c for tr in tx.trials(job.id) for c in tr.checkpoints if c.deleted]
        # retention kept each trial's best (step 1) and last (step 4) and deleted the rest
        assert sorted(c.step for c in live) == [1, 1, 4, 4] and len(gone) == 4
        for c in live:
            arts.verify(c.path, c.sha256)  # written by the workers, the bytes recorded
        assert objects(arts) == sorted(c.path for c in live)  # retired ones are gone from S3
        assert not (tmp_path / "store" / "artifacts").exists()  # nothing went to a folder
    finally:
        st.close()


def test_a_changed_object_is_refused_by_its_hash_and_the_intact_one_restored(
        prefix: str, tmp_path: Path) -> None:
    st = Store.open(tmp_path / "store", artifacts=prefix)
    try:
        assert Tuner.create(spec_from_dict(spec("j", trials=1)), st).run() == "completed"
        tx = st.read()
        job = tx.job("j")
        [tr] = tx.trials(job.id)
        latest = tr.live_checkpoints()[-1]
        arts = st.artifact_store(job)
        assert isinstance(arts, RemoteArtifacts)
        # another writer replaces the step-4 object (same size, one bit differs)
        data = bytearray(arts.fs.cat_file(f"{arts.base}/{latest.path}"))
        data[len(data) // 2] ^= 0x01
        arts.fs.pipe_file(f"{arts.base}/{latest.path}", bytes(data))
        with pytest.raises(CheckpointCorrupt, match="does not match its recorded sha256"):
            arts.load(latest.path, latest.sha256)
        # a tuner killed while the trial ran: the resume restores from S3, by hash
        with st.transaction() as w:
            w.c.execute(update(t.trials).where(t.trials.c.job_id == job.id)
                        .values(state="running", ended_at=None))
            w.set_job(job.id, status="running", ended_at=None)
        assert Tuner.resume("j", st).run() == "completed"
        [tr] = st.read().trials(job.id)
        assert [r.metrics["restored"] for r in tr.reports][4:] == [1.0, 1.0, 1.0]
        [ev] = st.read().events(job.id, "checkpoint_corrupt")
        assert ev.data is not None and ev.data["step"] == 4
        assert f"{prefix}/{latest.path}" in (ev.message or "")
    finally:
        st.close()


def test_export_reads_through_s3_and_delete_removes_only_the_jobs_objects(
        prefix: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tunelab import api
    from tunelab.cli import app

    st = Store.open(tmp_path / "store", artifacts=prefix)
    try:
        for name in ("keep", "drop"):
            assert Tuner.create(spec_from_dict(spec(name, trials=1)), st).run() == "completed"
    finally:
        st.close()
    _params, path = api.best_checkpoint("drop", store=tmp_path / "store")
    assert path.is_file() and path.stat().st_mode & 0o077 == 0  # a private verified copy
    assert int(torch.load(path, weights_only=True)["step"]) == 1  # the best step
    res = CliRunner().invoke(app, ["delete", "drop", "--store", str(tmp_path / "store"),
                                   "--yes"])
    assert res.exit_code == 0, res.output
    arts = open_artifacts(prefix)
    assert isinstance(arts, RemoteArtifacts)
    left = objects(arts)
    assert left and all(k.startswith("keep/") for k in left)


def test_keys_outside_the_prefix_are_refused(prefix: str) -> None:
    arts = open_artifacts(prefix)
    for key in ("../other/x.pt", "job/../../x.pt", f"s3://{BUCKET}/elsewhere/x.pt", "/abs.pt"):
        with pytest.raises(UnsafePathError):
            arts.verify(key, "0" * 64)
        with pytest.raises(UnsafePathError):
            arts.delete(key)


def test_a_bucket_that_is_not_there_is_one_line_and_nothing_is_written(
        endpoint: str, tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from tunelab.cli import app

    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec("nowhere")))
    location = "s3://no-such-bucket-here/runs"
    res = CliRunner().invoke(app, ["tune", str(path), "--store", str(tmp_path / "store"),
                                   "--artifacts", location], env={"COLUMNS": "400"})
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, lines
    assert lines[0].startswith(f"error: the artifact location {location} cannot be written")
    st = Store.open(tmp_path / "store")
    try:
        with pytest.raises(JobNotFound):
            st.read().job("nowhere")
    finally:
        st.close()
    with pytest.raises(StoreError, match="names no bucket"):
        open_artifacts("s3://")
