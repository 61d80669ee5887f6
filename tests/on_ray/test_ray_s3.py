"""Checkpoints in object storage on the two-node Ray cluster: a PBT job whose copies cross
nodes reads and writes them through S3 (a local moto server; the nodes got its endpoint and
credentials in their environment, as a real cluster's nodes get theirs), and a bucket that is
not there is refused before anything is written."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from on_ray.conftest import S3_BUCKET, Cluster
from on_ray.test_ray_jobs import ray_spec, run
from tunelab.errors import JobNotFound, StoreError
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.store.remote_artifacts import RemoteArtifacts
from tunelab.tuner import Tuner

pytestmark = pytest.mark.slow


def test_pbt_copies_cross_nodes_through_s3(ray_cluster: Cluster, s3_endpoint: str | None,
                                           tmp_path: Path) -> None:
    if s3_endpoint is None:
        pytest.skip("s3fs or moto is not installed (pip install -e '.[dev,s3]')")
    prefix = f"s3://{S3_BUCKET}/pbt-{uuid.uuid4().hex[:8]}"
    store = Store.open(tmp_path / "store", artifacts=prefix)
    try:
        pbt = {"type": "pbt", "seed": 5, "population": 4, "perturbation_interval": 2,
               "max_epochs": 24}
        assert run(store, ray_spec("pbt-s3", ray_cluster, pbt, trials=4, parallel=2,
                                   epochs=8)) == "completed"
        tx = store.read()
        job = tx.job("pbt-s3")
        assert job.artifact_root == prefix
        assert any(d.action == "exploit" for d in tx.decisions(job.id))
        crossed = [(t.number, r.step) for t in tx.trials(job.id) for r in t.reports
                   if r.metrics.get("crossed") == 1.0]
        assert crossed, "no PBT copy read, through S3, a checkpoint the other node wrote"
        arts = store.artifact_store(job)
        assert isinstance(arts, RemoteArtifacts)
        live = [c for t in tx.trials(job.id) for c in t.checkpoints if not c.deleted]
        assert live
        for c in live:
            arts.verify(c.path, c.sha256)
        assert not (tmp_path / "store" / "artifacts").exists()  # nothing in a local folder
    finally:
        store.close()


def test_a_missing_bucket_is_refused_before_the_job_is_written(
        ray_cluster: Cluster, s3_endpoint: str | None, tmp_path: Path) -> None:
    if s3_endpoint is None:
        pytest.skip("s3fs or moto is not installed (pip install -e '.[dev,s3]')")
    spec = spec_from_dict(ray_spec("nobucket", ray_cluster, {"type": "random"}, trials=1,
                                   parallel=1))
    store = Store.open(tmp_path / "store", artifacts="s3://no-such-bucket/runs")
    try:
        with pytest.raises(StoreError, match="cannot be written") as e:
            Tuner.create(spec, store)
        assert "\n" not in str(e.value)
        with pytest.raises(JobNotFound):
            store.read().job("nobucket")
    finally:
        store.close()
