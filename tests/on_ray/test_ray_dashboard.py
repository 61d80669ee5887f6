"""The dashboard's API over a job running on Ray, its store in PostgreSQL: the job page's
header, points, curves and version follow the job live, and the stop button's POST (with the
token) stops the Ray job cleanly."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from on_ray.conftest import Cluster
from on_ray.test_ray_jobs import ray_spec
from tunelab.server.app import create_app
from tunelab.server.security import HEADER, Access
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.store.queries import Reader
from tunelab.tuner import Tuner

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _watch_and_stop(url: str, arts: Path, seen: dict[str, Any]) -> None:
    """What a user's browser asks while the job runs, then the stop button."""
    reader = Reader.open(url, artifacts=arts)
    access, _ = Access.for_host("127.0.0.1")
    try:
        with TestClient(create_app(reader, access), base_url="http://127.0.0.1") as c:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until both trials have reported twice
                res = c.get("/api/v1/jobs/dash/curves?metric=loss")
                if res.status_code == 200 and sum(
                        len(cv["steps"]) >= 2 for cv in res.json()["curves"]) >= 2:
                    break
                time.sleep(0.2)
            seen["header"] = c.get("/api/v1/jobs/dash").json()
            seen["points"] = c.get("/api/v1/jobs/dash/points").json()
            first = c.get("/api/v1/jobs/dash/curves?metric=loss").json()
            v1 = c.get("/api/v1/jobs/dash/version").json()
            time.sleep(1.0)  # a few more reports arrive from the actors
            later = c.get(f"/api/v1/jobs/dash/curves?metric=loss&after={first['cursor']}")
            seen["curves"], seen["later"] = first, later.json()
            seen["versions"] = (v1, c.get("/api/v1/jobs/dash/version").json())
            seen["refused"] = c.post("/api/v1/jobs/dash/stop").status_code
            stop = c.post("/api/v1/jobs/dash/stop", headers={HEADER: access.token})
            seen["stop"] = (stop.status_code, stop.json())
    finally:
        reader.close()


def test_the_job_page_api_follows_a_ray_job_and_its_stop_button_stops_it(
        ray_cluster: Cluster, postgres_store: Store, tmp_path: Path) -> None:
    store = postgres_store
    spec = ray_spec("dash", ray_cluster, {"type": "random", "seed": 9}, trials=4, parallel=2,
                    epochs=60, sleep=0.2)
    seen: dict[str, Any] = {}
    assert store.artifacts is not None
    watcher = threading.Thread(target=_watch_and_stop, args=(store.url, store.artifacts, seen),
                               daemon=True)
    watcher.start()
    started = time.monotonic()
    status = Tuner.create(spec_from_dict(spec), store).run()
    took = time.monotonic() - started
    watcher.join(timeout=30)
    assert status == "stopped"
    assert took < 60.0, "the job ran to its end: the stop button did not stop it"

    head = seen["header"]
    assert head["name"] == "dash" and head["status"] == "running"
    assert {"x", "lr"} <= set(head["search_space"])
    assert {p["state"] for p in seen["points"]} == {"running"}
    curves = seen["curves"]
    assert curves["metric"] == "loss" and len(curves["curves"]) == 2
    # live: the reports that came since the first call, and a new version fingerprint
    assert seen["later"]["cursor"] > curves["cursor"] and seen["later"]["curves"]
    v1, v2 = seen["versions"]
    assert v1["status"] == "running" and v2["token"] != v1["token"]
    assert v2["report_cursor"] > v1["report_cursor"]
    assert seen["refused"] == 401  # no token, no stop
    assert seen["stop"] == (200, {"name": "dash", "stop_requested": True})

    tx = store.read()
    job = tx.job("dash")
    trials = tx.trials(job.id)
    assert job.status == "stopped"
    assert [t.state for t in trials] == ["stopped", "stopped"]  # cut mid-run, no new trial
    assert all(t.worker and t.worker.startswith("ray node ") for t in trials)
    assert all(0 < len(t.reports) < 60 for t in trials)
