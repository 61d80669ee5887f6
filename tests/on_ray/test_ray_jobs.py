"""Jobs on a real two-node Ray cluster: random, ASHA and PBT trials spread over both nodes,
and the same decisions as the local executor takes on the same objective."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from on_ray.conftest import Cluster
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.tuner import Tuner

pytestmark = pytest.mark.slow


def ray_spec(name: str, cluster: Cluster | None, strategy: dict[str, Any], *,
             trials: int, parallel: int, epochs: int = 4, sleep: float = 0.0,
             **static: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "on_ray.ray_objectives:steps"},
        "static": {"epochs": epochs, "sleep": sleep, **static},
        "search_space": {"x": {"type": "float", "low": 0.0, "high": 1.0},
                         "lr": {"type": "float", "low": 0.01, "high": 1.0, "scale": "log"}},
        "strategy": strategy,
        "limits": {"max_trials": trials, "max_parallel": parallel},
    }
    if cluster is not None:
        spec["executor"] = {"type": "ray", "address": cluster.address, "cpus_per_trial": 1}
    return spec


def run(store: Store, spec: dict[str, Any]) -> str:
    return Tuner.create(spec_from_dict(spec), store).run()


def nodes_of(store: Store, name: str) -> set[str]:
    """The Ray nodes the job's segments ran on (the ``worker`` each trial recorded)."""
    tx = store.read()
    out = set()
    for t in tx.trials(tx.job(name).id):
        assert t.worker is not None and t.worker.startswith("ray node "), t.worker
        out.add(t.worker.split()[2])
    return out


def test_random_job_runs_on_both_nodes(ray_cluster: Cluster, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    try:
        spec = ray_spec("rand", ray_cluster, {"type": "random", "seed": 1}, trials=6,
                        parallel=2, sleep=0.1)
        assert run(store, spec) == "completed"
        tx = store.read()
        job = tx.job("rand")
        trials = tx.trials(job.id)
        assert sorted(t.number for t in trials) == list(range(6))
        assert all(t.state == "completed" and len(t.reports) == 4 for t in trials)
        assert len(nodes_of(store, "rand")) == 2  # one slot on each one-CPU node
        # checkpoints were written by the workers into the job's artifact folder, verified
        arts = store.artifacts_for(job)
        for t in trials:
            for ck in t.checkpoints:
                if not ck.deleted:
                    arts.verify(ck.path, ck.sha256)
        assert any(e.message and "2 slots" in e.message for e in tx.events(job.id, "executor"))
    finally:
        store.close()


def test_asha_job_pauses_and_promotes_across_nodes(ray_cluster: Cluster,
                                                   tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    try:
        asha = {"type": "hyperband", "seed": 3, "min_resource": 1, "max_resource": 9,
                "reduction_factor": 3, "max_epochs": 30}
        spec = ray_spec("asha", ray_cluster, asha, trials=9, parallel=2, epochs=9)
        assert run(store, spec) == "completed"
        tx = store.read()
        job = tx.job("asha")
        actions = [d.action for d in tx.decisions(job.id)]
        assert "pause" in actions and "resume" in actions
        # a promoted trial restored its own checkpoint: it went on from the step it paused at
        resumed = [t for t in tx.trials(job.id) if any(r.metrics.get("restored", 0) > 0
                                                        for r in t.reports)]
        assert resumed
        assert len(nodes_of(store, "asha")) == 2
    finally:
        store.close()


def test_pbt_copies_cross_nodes(ray_cluster: Cluster, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    try:
        pbt = {"type": "pbt", "seed": 5, "population": 4, "perturbation_interval": 2,
               "max_epochs": 24}
        spec = ray_spec("pbt", ray_cluster, pbt, trials=4, parallel=2, epochs=8)
        assert run(store, spec) == "completed"
        tx = store.read()
        job = tx.job("pbt")
        assert any(d.action == "exploit" for d in tx.decisions(job.id))
        # some copy restored a donor checkpoint that the other node had written
        crossed = [(t.number, r.step) for t in tx.trials(job.id) for r in t.reports
                   if r.metrics.get("crossed") == 1.0]
        assert crossed, "no PBT copy read a checkpoint written on the other node"
    finally:
        store.close()


def test_same_decisions_as_the_local_executor(ray_cluster: Cluster, tmp_path: Path) -> None:
    """One slot each (so the order of reports is fixed): the same trials, reports and ASHA
    decisions on Ray as on local worker processes."""
    asha = {"type": "hyperband", "seed": 7, "min_resource": 1, "max_resource": 4,
            "reduction_factor": 2, "max_epochs": 12}
    seen: list[Any] = []
    for cluster in (None, ray_cluster):
        store = Store.open(tmp_path / ("ray" if cluster else "local"))
        try:
            assert run(store, ray_spec("same", cluster, asha, trials=4, parallel=1,
                                       epochs=4)) == "completed"
            tx = store.read()
            job = tx.job("same")
            trials = sorted(tx.trials(job.id), key=lambda t: t.number)
            seen.append((
                [(t.number, dict(t.params), t.state, t.value,
                  [(r.step, r.metrics["loss"]) for r in t.reports]) for t in trials],
                [(d.trial_number, d.step, d.action, d.donor) for d in tx.decisions(job.id)],
            ))
        finally:
            store.close()
    local, ray = seen
    assert local[1], "no decisions at all: proves nothing"
    assert ray == local


def test_plan_shows_the_cluster_and_how_many_trials_fit(ray_cluster: Cluster,
                                                         tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from tunelab.cli import app

    spec = ray_spec("planned", ray_cluster, {"type": "random"}, trials=4, parallel=8)
    spec["executor"]["resources"] = {"node2": 0.5}  # only the second node has it: 2 fit there
    path = tmp_path / "planned.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(app, ["plan", str(path)])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert f"cluster: ray at {ray_cluster.address}: 2 nodes: 2 CPU, 1 node2" in out, out
    # one CPU per trial caps the second node at one trial although node2 has room for two
    assert "slots: 1 trials at once; the cluster fits 1 of 1 CPU, 0.5 node2 each" in out, out


def test_bayesian_with_median_stopping_and_a_stop_request(ray_cluster: Cluster,
                                                           tmp_path: Path) -> None:
    """Bayesian suggestions with pending points and median stopping run on Ray as locally;
    `tunelab stop` stops the running trials, and resume finishes the job."""
    import threading
    import time

    from typer.testing import CliRunner

    from tunelab.cli import app
    from tunelab.errors import JobNotFound
    from tunelab.store.queries import Reader

    store_dir = tmp_path / "store"
    store = Store.open(store_dir)
    spec = ray_spec("bayes", ray_cluster, {"type": "bayesian", "seed": 0, "n_initial": 3},
                    trials=7, parallel=2, epochs=5, sleep=0.15)
    spec["early_stopping"] = "auto"  # median stopping

    def stop_after_five_trials() -> None:
        deadline = time.monotonic() + 120
        watch = Store.open(store_dir)
        try:
            while time.monotonic() < deadline:
                tx = watch.read()
                try:
                    if len(tx.trials(tx.job("bayes").id)) >= 5:
                        break
                except JobNotFound:
                    pass  # not created yet
                time.sleep(0.1)
        finally:
            watch.close()
        with Reader.open(store_dir) as r:
            r.request_stop("bayes", "the test")

    stopper = threading.Thread(target=stop_after_five_trials, daemon=True)
    stopper.start()
    try:
        assert run(store, spec) == "stopped"
        stopper.join(timeout=5)
        tx = store.read()
        stopped = [t for t in tx.trials(tx.job("bayes").id) if t.state == "stopped"]
        assert stopped, "the stop request stopped no running trial"
    finally:
        store.close()
    res = CliRunner().invoke(app, ["resume", "bayes", "--store", str(store_dir), "--json"])
    assert res.exit_code == 0, res.output
    store = Store.open(store_dir)
    try:
        tx = store.read()
        job = tx.job("bayes")
        trials = tx.trials(job.id)
        assert job.status == "completed"
        assert sorted(t.number for t in trials) == list(range(7))  # no number repeats
        assert all(t.state in ("completed", "pruned") for t in trials)
    finally:
        store.close()
