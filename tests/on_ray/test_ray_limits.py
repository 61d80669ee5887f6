"""A grid job and the job's limits on the two-node Ray cluster: ``max_trials`` cuts a grid
at the same points as locally, and ``max_runtime`` ends a job whose trials run on Ray actors,
stopping its running trials, which a resume with a longer limit continues from their
checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from on_ray.conftest import Cluster
from on_ray.test_ray_jobs import ray_spec, run
from tunelab.store import Store
from tunelab.tuner import Tuner

pytestmark = pytest.mark.slow


def grid_spec(cluster: Cluster | None) -> dict[str, object]:
    spec = ray_spec("grid", cluster, {"type": "grid"}, trials=4, parallel=2, epochs=2)
    spec["search_space"] = {"x": {"type": "float", "low": 0.0, "high": 1.0, "grid_points": 3},
                            "lr": {"type": "choice", "values": [0.1, 0.5]}}
    return spec


def test_a_grid_cut_by_max_trials_runs_the_same_points_as_locally(
        ray_cluster: Cluster, tmp_path: Path) -> None:
    seen = []
    for cluster in (None, ray_cluster):
        store = Store.open(tmp_path / ("ray" if cluster else "local"))
        try:
            assert run(store, grid_spec(cluster)) == "completed"
            tx = store.read()
            trials = tx.trials(tx.job("grid").id)
            assert all(t.state == "completed" and len(t.reports) == 2 for t in trials)
            seen.append(sorted((t.number, tuple(sorted(t.params.items()))) for t in trials))
        finally:
            store.close()
    local, ray = seen
    assert len(local) == 4 and len({p for _, p in local}) == 4  # 4 of the 6 grid points
    assert ray == local


def test_max_runtime_ends_a_ray_job_and_a_resume_continues_its_trials(
        ray_cluster: Cluster, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    try:
        spec = ray_spec("timed", ray_cluster, {"type": "random", "seed": 2}, trials=2,
                        parallel=2, epochs=12, sleep=0.5)
        spec["limits"]["max_runtime"] = 5.0  # the trials need 6 s each: both are cut
        assert run(store, spec) == "completed"
        tx = store.read()
        job = tx.job("timed")
        assert (job.status_reason or "").startswith("max_runtime ("), job.status_reason
        trials = tx.trials(job.id)
        assert len(trials) == 2 and all(t.state == "stopped" for t in trials)
        cut = {t.number: t.last_step or 0 for t in trials}
        assert all(s < 12 for s in cut.values()) and any(s > 0 for s in cut.values()), cut
        assert Tuner.resume("timed", store, max_runtime=3600).run() == "completed"
        trials = store.read().trials(job.id)
        assert sorted(t.number for t in trials) == sorted(cut)  # the same trials, no new ones
        for t in trials:
            assert t.state == "completed" and t.last_step == 12
            if cut[t.number] > 0:  # continued from the checkpoint it was cut at
                assert [r.metrics["restored"] for r in t.reports][cut[t.number]:] == \
                    [float(cut[t.number])] * (12 - cut[t.number]), t.number
    finally:
        store.close()
