"""Jobs through Ray Client: ``executor.address: ray://HOST:PORT`` (the head's client server),
from the spec and from ``--executor ray:ray://…``; a ``ray://`` address where nothing listens
is refused in one line before anything is written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from on_ray.conftest import Cluster, free_port
from on_ray.test_ray_jobs import nodes_of, ray_spec
from tunelab.cli import app
from tunelab.errors import JobNotFound
from tunelab.store import Store

pytestmark = pytest.mark.slow
runner = CliRunner()


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_a_job_through_ray_client_runs_on_the_cluster(ray_cluster: Cluster,
                                                      tmp_path: Path) -> None:
    """`tunelab plan` and `tune` with `--executor ray:ray://…` (the spec names no executor):
    the trials run in actors on both nodes, their checkpoints go to the artifact folder every
    node probed, and their reports reach the store through this process, the only writer."""
    spec = ray_spec("client", None, {"type": "random", "seed": 4}, trials=3, parallel=2,
                    epochs=2)
    path = tmp_path / "client.yaml"
    path.write_text(yaml.safe_dump(spec))
    choice = f"ray:{ray_cluster.client}"
    res = runner.invoke(app, ["plan", str(path), "--executor", choice])
    assert res.exit_code == 0, res.output
    out = _one_line(res.output)
    assert f"cluster: ray at {ray_cluster.client}: 2 nodes: 2 CPU, 1 node2" in out, out
    assert "slots: 2 trials at once" in out, out

    store_dir, arts = tmp_path / "store", tmp_path / "shared"
    res = runner.invoke(app, ["tune", str(path), "--store", str(store_dir), "--artifacts",
                              str(arts), "--executor", choice, "--json"])
    assert res.exit_code == 0, res.output
    store = Store.open(store_dir, artifacts=arts)
    try:
        tx = store.read()
        job = tx.job("client")
        trials = tx.trials(job.id)
        assert job.status == "completed"
        assert sorted(t.number for t in trials) == [0, 1, 2]
        assert all(t.state == "completed" and [r.step for r in t.reports] == [1, 2]
                   for t in trials)
        assert len(nodes_of(store, "client")) == 2
        pids = {int(t.worker.split()[4]) for t in trials if t.worker}
        assert os.getpid() not in pids  # the segments ran in Ray actors, not here
        described = [e.message for e in tx.events(job.id, "executor")]
        assert any(m and m.startswith(f"ray at {ray_cluster.client}: 2 slots")
                   for m in described), described
        arts_store = store.artifacts_for(job)
        kept = [ck for t in trials for ck in t.checkpoints if not ck.deleted]
        assert kept
        for ck in kept:  # written by the workers on the nodes, verified here
            arts_store.verify(ck.path, ck.sha256)
    finally:
        store.close()


def test_a_ray_client_address_nobody_answers_is_one_line(tmp_path: Path) -> None:
    spec = ray_spec("bad", None, {"type": "random", "seed": 0}, trials=1, parallel=1)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    address = f"ray://127.0.0.1:{free_port()}"
    planned = tmp_path / "planned.yaml"
    planned.write_text(yaml.safe_dump(dict(spec, executor={"type": "ray",
                                                           "address": address})))
    for cmd in (["tune", str(path), "--store", str(tmp_path / "store"), "--executor",
                 f"ray:{address}"], ["plan", str(planned)]):
        res = runner.invoke(app, cmd)
        out = _one_line(res.output)
        assert res.exit_code == 2, out
        assert out.startswith(f"error: no Ray cluster at '{address}': nothing accepts "
                              "connections there."), out
        assert "Traceback" not in res.output and "Warning" not in res.output
    st = Store.open(tmp_path / "store")
    try:
        with pytest.raises(JobNotFound):
            st.read().job("bad")
    finally:
        st.close()


def test_the_client_endpoint_of_an_address() -> None:
    """What the refusal and the health check watch for a ``ray://`` address."""
    from tunelab.executors.ray_cluster import client_endpoint

    assert client_endpoint("ray://head") == "head:10001"  # Ray Client's default port
    assert client_endpoint("ray://head:20001") == "head:20001"
    assert client_endpoint("ray://[::1]") == "[::1]:10001"
    assert client_endpoint("ray://[::1]:20001") == "[::1]:20001"
    assert client_endpoint("10.0.0.5:6380") is None and client_endpoint("auto") is None
