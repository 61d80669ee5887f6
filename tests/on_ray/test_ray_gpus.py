"""GPUs on Ray without a GPU: a third node started with ``--num-gpus 2`` (logical GPUs, which
Ray counts, places and announces in ``CUDA_VISIBLE_DEVICES`` like real ones). Trials asking for
``limits.gpus_per_trial: 0.5`` run only there, two per GPU, each seeing the GPU Ray gave its
actor; `tunelab plan` shows the GPU slots, and a trial asking more GPUs than any node has, or
a quantity Ray cannot place, is refused in one line before anything is written."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from on_ray.conftest import Cluster, Node
from on_ray.test_ray_jobs import ray_spec
from tunelab.cli import app
from tunelab.errors import JobNotFound
from tunelab.store import Store

pytestmark = pytest.mark.slow
runner = CliRunner()


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def gpu_spec(name: str, cluster: Cluster, gpus: float) -> dict[str, Any]:
    spec = ray_spec(name, cluster, {"type": "random", "seed": 8}, trials=4, parallel=8,
                    sleep=1.0)
    spec["train"] = {"function": "on_ray.ray_objectives:gpu_seen"}
    spec["limits"].pop("max_parallel")  # as many as fit: the GPUs decide
    spec["limits"]["gpus_per_trial"] = gpus
    spec["executor"]["cpus_per_trial"] = 0.5
    return spec


def test_half_gpu_trials_pack_two_per_gpu_on_the_gpu_node(ray_cluster: Cluster,
                                                          gpu_node: Node,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(gpu_spec("gpu", ray_cluster, 0.5)))
    res = runner.invoke(app, ["plan", str(path)])
    assert res.exit_code == 0, res.output
    out = _one_line(res.output)
    assert f"cluster: ray at {ray_cluster.address}: 3 nodes: 4 CPU, 2 GPU, 1 node2" in out, out
    # two per GPU, only on the node that has them (the others' CPUs could hold more)
    assert "slots: 4 trials at once; the cluster fits 4 of 0.5 CPU, 0.5 GPU each" in out, out
    assert re.search(r"GPU slots: node [0-9a-f]{8} 4 \(2 GPU, 2 trials per GPU\)", out), out

    store_dir = tmp_path / "store"
    res = runner.invoke(app, ["tune", str(path), "--store", str(store_dir), "--json"])
    assert res.exit_code == 0, res.output
    store = Store.open(store_dir)
    try:
        tx = store.read()
        trials = tx.trials(tx.job("gpu").id)
        assert len(trials) == 4 and all(t.state == "completed" for t in trials)
        seen = [t.reports[-1].metrics for t in trials]
        assert all(m["on_gpu_node"] == 1.0 for m in seen), seen
        # each trial saw the GPU Ray gave its actor, and ran with device "cuda"
        assert all(m["gpu"] == m["ray_gpu"] and m["gpu"] in (0.0, 1.0) for m in seen), seen
        assert all(m["device_cuda"] == 1.0 for m in seen), seen
        # four actors side by side (each trial sleeps 1 s): two on each logical GPU
        by_actor = {m["pid"]: m["gpu"] for m in seen}
        assert len(by_actor) == 4, seen
        assert Counter(by_actor.values()) == {0.0: 2, 1.0: 2}, seen
    finally:
        store.close()


def test_more_gpus_than_any_node_has_is_refused(ray_cluster: Cluster, gpu_node: Node,
                                                tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    for gpus, expected in (
            (3, "error: no node of the Ray cluster at '{addr}' can run a trial: each trial "
                "asks for 3 GPU, and the cluster has 3 nodes: 4 CPU, 2 GPU, 1 node2; one "
                "node has at most 2 GPU."),
            (1.5, "error: `limits.gpus_per_trial` must be a fraction of 1 or a whole number "
                  "on Ray; got 1.5.")):
        path = tmp_path / "big.yaml"
        path.write_text(yaml.safe_dump(gpu_spec("big", ray_cluster, gpus)))
        for cmd in (["plan", str(path)], ["tune", str(path), "--store", str(store_dir)]):
            res = runner.invoke(app, cmd)
            out = _one_line(res.output)
            assert res.exit_code == 2, out
            assert out.startswith(expected.format(addr=ray_cluster.address)), out
            assert "Traceback" not in res.output
    st = Store.open(store_dir)
    try:
        with pytest.raises(JobNotFound):
            st.read().job("big")
    finally:
        st.close()
