"""The REST API (`/api/v1`) through FastAPI's TestClient: answers, errors, token rules."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.synth import synth_job
from tunelab.server.app import create_app
from tunelab.server.security import HEADER, Access
from tunelab.store import Store
from tunelab.store.queries import Reader
from tunelab.trial import TrialState


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    st = Store.open(root)
    synth_job(st, "done", trials=40, lr_effect=3.0)
    synth_job(st, "live", status="running", running_tail=2, seed=1)
    st.close()
    return root


@pytest.fixture
def client(store_path: Path) -> Iterator[tuple[TestClient, Access]]:
    reader = Reader.open(store_path)
    access, _ = Access.for_host("127.0.0.1")
    with TestClient(create_app(reader, access), base_url="http://127.0.0.1") as c:
        yield c, access
    reader.close()


def test_jobs_list_and_filter(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    jobs = c.get("/api/v1/jobs").json()
    assert [(j["name"], j["status"]) for j in jobs] == [("done", "completed"),
                                                        ("live", "running")]
    assert jobs[0]["counts"] == {"completed": 39, "failed": 1}
    assert [j["name"] for j in c.get("/api/v1/jobs?status=running").json()] == ["live"]
    bad = c.get("/api/v1/jobs?status=sleeping")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "status"]


def test_job_header_summary_and_unknown_job(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    head = c.get("/api/v1/jobs/done").json()
    assert head["best_trial"]["number"] == head["best_trial"]["number"]
    assert set(head["search_space"]) == {"lr", "dropout", "optimizer"}
    assert "val_loss" in head["metrics"] and head["diagnosis"]["kind"]
    summary = c.get("/api/v1/jobs/done/summary").json()
    assert summary["best"] == head["best_trial"] and len(summary["trials"]) == 40
    missing = c.get("/api/v1/jobs/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == ("no tuning job named 'nope' in this store. "
                                        "Known jobs: done, live.")


def test_trials_paged_sorted_filtered_and_bad_queries(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    page = c.get("/api/v1/jobs/done/trials?limit=5").json()
    values = [r["value"] for r in page["rows"]]
    assert page["total"] == 40 and values == sorted(values, reverse=True)  # maximize
    nxt = c.get("/api/v1/jobs/done/trials?limit=5&offset=5").json()["rows"]
    assert nxt[0]["value"] <= values[-1]
    by_number = c.get("/api/v1/jobs/done/trials?sort=number&descending=true&limit=3").json()
    assert [r["number"] for r in by_number["rows"]] == [39, 38, 37]
    failed = c.get("/api/v1/jobs/done/trials?state=failed").json()
    assert failed["total"] == 1 and failed["rows"][0]["error"] == "RuntimeError: loss is NaN"
    for query, field in (("sort=colour", "sort"), ("limit=0", "limit"),
                         ("offset=-1", "offset"), ("state=asleep", "state")):
        res = c.get(f"/api/v1/jobs/done/trials?{query}")
        assert res.status_code == 422, query
        assert res.json()["detail"][0]["loc"] == ["query", field]


def test_one_trial_and_unknown_trial(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    t = c.get("/api/v1/jobs/done/trials/3").json()
    assert t["state"] == "failed" and t["traceback"].startswith("Traceback")
    assert [r["step"] for r in t["reports"]] == [1, 2]
    assert set(t["reports"][0]["metrics"]) == {"train_loss", "val_loss", "train_accuracy",
                                               "val_accuracy"}
    t4 = c.get("/api/v1/jobs/done/trials/4").json()
    assert t4["decisions"][0]["action"] == "exploit" and t4["checkpoints"][0]["step"] == 4
    res = c.get("/api/v1/jobs/done/trials/400")
    assert res.status_code == 404 and "numbered 0..39" in res.json()["detail"]
    assert c.get("/api/v1/jobs/done/trials/four").status_code == 422


def test_curves_of_many_trials_after_a_cursor(client: tuple[TestClient, Access],
                                              store_path: Path) -> None:
    c, _ = client
    cur = c.get("/api/v1/jobs/live/curves?metric=val_loss&trials=0&trials=1").json()
    assert [x["trial"] for x in cur["curves"]] == [0, 1] and cur["metric"] == "val_loss"
    assert c.get(f"/api/v1/jobs/live/curves?after={cur['cursor']}&trials=0").json()[
        "curves"] == []
    cur = c.get("/api/v1/jobs/live/curves").json()  # every trial: the cursor of them all
    st = Store.open(store_path)
    with st.transaction() as tx:
        job = tx.job("live")
        tid = next(t for t in tx.trials(job.id, with_reports=False) if t.number == 11).id
        tx.add_report(tid, 9, float("nan"), {"val_accuracy": float("nan")}, at=1.0)
    st.close()
    new = c.get(f"/api/v1/jobs/live/curves?after={cur['cursor']}")
    assert json.loads(new.text)["curves"] == [{"trial": 11, "steps": [9], "values": [None]}]
    rep = c.get(f"/api/v1/jobs/live/reports?after={cur['cursor']}").json()
    assert rep["reports"][-1]["metrics"] == {"val_accuracy": None}  # strict JSON, no NaN
    ev = c.get("/api/v1/jobs/live/events").json()
    assert ev["events"][0]["kind"] == "started"
    assert c.get(f"/api/v1/jobs/live/events?after={ev['cursor']}").json()["events"] == []


def test_importance_ranks_the_parameter_that_matters(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    imp = c.get("/api/v1/jobs/done/importance").json()
    assert imp["trials_used"] == 39
    assert imp["params"][0]["name"] == "lr"  # the synthetic objective depends mostly on lr
    assert sum(p["importance"] for p in imp["params"]) == pytest.approx(1.0, abs=1e-3)


def test_compare_two_jobs_and_bad_requests(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    cmp = c.get("/api/v1/compare?jobs=done&jobs=live").json()
    assert [j["name"] for j in cmp["jobs"]] == ["done", "live"]
    assert cmp["jobs"][0]["best_so_far"] == sorted(cmp["jobs"][0]["best_so_far"])
    diff = {d["key"]: d["values"] for d in cmp["differences"]}
    assert diff["strategy.seed"] == [0, 1] and diff["limits.max_trials"] == [40, 12]
    one = c.get("/api/v1/compare?jobs=done")
    assert one.status_code == 422 and one.json()["detail"][0]["loc"] == ["query", "jobs"]
    assert c.get("/api/v1/compare?jobs=done&jobs=nope").status_code == 404


def test_stop_needs_post_and_the_token(client: tuple[TestClient, Access],
                                       store_path: Path) -> None:
    c, access = client
    assert c.get("/api/v1/jobs/live/stop").status_code == 405
    refused = c.post("/api/v1/jobs/live/stop")
    assert refused.status_code == 401 and HEADER in refused.json()["detail"]
    assert not c.get("/api/v1/jobs/live").json()["stop_requested"]
    ok = c.post("/api/v1/jobs/live/stop", headers={HEADER: access.token})
    assert ok.status_code == 200 and ok.json() == {"name": "live", "stop_requested": True}
    with Reader.open(store_path) as r:
        assert r.job("live").stop_requested
    done = c.post("/api/v1/jobs/done/stop", headers={HEADER: access.token})
    assert done.status_code == 409 and "must be running" in done.json()["detail"]


def test_another_host_needs_the_token_on_every_route(store_path: Path) -> None:
    reader = Reader.open(store_path)
    access, generated = Access.for_host("0.0.0.0")
    assert generated and len(access.token) >= 24
    with TestClient(create_app(reader, access), base_url="http://10.0.0.5") as c:
        for path in ("/api/v1/jobs", "/api/v1/jobs/done", "/api/v1/jobs/done/trials",
                     "/api/v1/jobs/done/curves", "/api/v1/compare?jobs=done&jobs=live",
                     "/api/v1/jobs/done/model.zip"):
            res = c.get(path)
            assert res.status_code == 401, path
        assert c.get("/api/v1/jobs", headers={HEADER: "wrong"}).status_code == 401
        assert c.get("/api/v1/jobs", headers={HEADER: access.token}).status_code == 200
        page = c.get("/")
        assert page.status_code == 200 and access.token not in page.text  # never embedded
    reader.close()


def test_loopback_server_refuses_other_hosts_and_sends_no_cors(
        client: tuple[TestClient, Access]) -> None:
    c, _ = client
    assert c.get("/api/v1/jobs", headers={"Host": "evil.example"}).status_code == 400
    pre = c.options("/api/v1/jobs/live/stop", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": HEADER})
    assert "access-control-allow-origin" not in pre.headers
    got = c.get("/api/v1/jobs", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in got.headers


def test_pages_and_static_files(client: tuple[TestClient, Access]) -> None:
    c, _ = client
    for path in ("/", "/jobs/done", "/jobs/done/trials/3", "/compare?jobs=done&jobs=live"):
        res = c.get(path)
        assert res.status_code == 200 and '<script src="/static/plotly.min.js">' in res.text
        assert "cdn" not in res.text.lower()
    js = c.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert c.get("/static/dashboard.js").status_code == 200
    assert c.get("/static/..%2F__init__.py").status_code == 404
    assert c.get("/static/app.py").status_code == 404
    assert c.get("/docs").status_code == 200
    assert "/api/v1/jobs/{name}/trials" in c.get("/openapi.json").json()["paths"]


def _checkpoint_job(store_path: Path, name: str, where: Path) -> Path:
    """A function job whose best trial has a checkpoint file at ``where``."""
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(b"weights")
    st = Store.open(store_path)
    with st.transaction() as tx:
        job = tx.create_job(name, {"name": name, "static": {"epochs": 1}}, metric="loss",
                            goal="minimize")
        tid = tx.create_trial(job.id, 0, {"x": 0.5})
        tx.set_trial(tid, state=TrialState.RUNNING, current=TrialState.PENDING)
        tx.add_report(tid, 1, 0.25, {"loss": 0.25}, at=1.0)
        tx.add_checkpoint(tid, 1, str(where), hashlib.sha256(b"weights").hexdigest(), 7)
        tx.set_trial(tid, state=TrialState.COMPLETED, current=TrialState.RUNNING, value=0.25)
    st.close()
    return where


def test_best_model_zip_serves_only_verified_files_inside_the_root(
        client: tuple[TestClient, Access], store_path: Path, tmp_path: Path) -> None:
    c, _ = client
    inside = _checkpoint_job(store_path, "fn", store_path / "artifacts" / "fn" / "c.pt")
    res = c.get("/api/v1/jobs/fn/model.zip")
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(res.content))
    assert z.read("fn-model/checkpoint.pt") == b"weights"
    assert json.loads(z.read("fn-model/params.json"))["params"] == {"epochs": 1, "x": 0.5}
    inside.write_bytes(b"tampered")
    bad = c.get("/api/v1/jobs/fn/model.zip")
    assert bad.status_code == 409 and "recorded sha256" in bad.json()["detail"]
    _checkpoint_job(store_path, "outside", tmp_path / "elsewhere" / "c.pt")
    out = c.get("/api/v1/jobs/outside/model.zip")
    assert out.status_code == 409 and "outside the artifact root" in out.json()["detail"]
    assert c.get("/api/v1/jobs/live/model.zip").status_code == 409  # synthetic paths


def test_best_model_zip_of_an_image_job_is_the_export_output(
        client: tuple[TestClient, Access], store_path: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from tunelab.objectives.context import TrialContext
    from tunelab.vision.train import train

    data = tmp_path / "colours"
    for i in range(6):
        for cls, rgb in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
            (data / cls).mkdir(parents=True, exist_ok=True)
            arr = np.clip(np.array(rgb)[None, None, :] + (i * 3), 0, 255)
            Image.fromarray(np.repeat(np.repeat(arr, 12, 0), 12, 1).astype(np.uint8),
                            "RGB").save(data / cls / f"{i}.png")
    params: dict[str, float | int | str | bool] = {
        "data": str(data), "cache_dir": str(tmp_path / "cache"), "epochs": 1, "width": 8,
        "depth": 1, "batch_size": 4}
    ck_dir = store_path / "artifacts" / "img" / "trial-0000"
    train(params, TrialContext(params=params, number=0, checkpoint_dir=ck_dir))
    ck = ck_dir / "ckpt-000001.pt"
    st = Store.open(store_path)
    with st.transaction() as tx:
        job = tx.create_job("img", {"name": "img", "train": {"builtin": "image-classifier"}},
                            metric="val_accuracy", goal="maximize")
        tid = tx.create_trial(job.id, 0, {})
        tx.set_trial(tid, state=TrialState.RUNNING, current=TrialState.PENDING)
        tx.add_report(tid, 1, 0.5, {"val_accuracy": 0.5}, at=1.0)
        tx.add_checkpoint(tid, 1, str(ck), hashlib.sha256(ck.read_bytes()).hexdigest(),
                          ck.stat().st_size)
        tx.set_trial(tid, state=TrialState.COMPLETED, current=TrialState.RUNNING, value=0.5)
    st.close()
    c, _ = client
    res = c.get("/api/v1/jobs/img/model.zip")
    assert res.status_code == 200, res.text
    z = zipfile.ZipFile(io.BytesIO(res.content))
    assert sorted(z.namelist()) == ["img-model/model.json", "img-model/model.pt"]
    assert json.loads(z.read("img-model/model.json"))["classes"] == ["blue", "red"]
