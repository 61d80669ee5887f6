"""The training page's API: data sets confined to the data root, preview, plan (count, errors
by field with the CLI's message), launch in its own process, and the job page's controls."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from server.images import image_folder
from tunelab.server.app import create_app
from tunelab.server.dataroot import DataRoot
from tunelab.server.form import form_spec, spec_yaml
from tunelab.server.security import HEADER, Access
from tunelab.store import Store
from tunelab.store.queries import Reader


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("page")
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNELAB_CACHE_DIR", str(base / "cache"))
    data = base / "data"
    image_folder(data / "colour", per_class=10)
    image_folder(data / "grey", per_class=8, grey=True)
    image_folder(data / "test" / "colour", per_class=4, seed=5)
    (data / "colour" / "class_0" / "broken.png").write_bytes(b"not a png")
    (base / "outside").mkdir()
    image_folder(base / "outside" / "secret", per_class=3)
    store = base / "runs"
    Store.open(store).close()
    reader = Reader.open(store)
    access, _ = Access.for_host("127.0.0.1")
    with TestClient(create_app(reader, access, data_root=data),
                    base_url="http://127.0.0.1") as c:
        yield {"client": c, "token": access.token, "data": data, "base": base,
               "store": store}
    reader.close()
    mp.undo()


def form(**kw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "name": "page-job", "data": "colour", "epochs": "1", "batch_size": "16",
        "validation_percent": "25", "strategy": "random", "max_trials": "2",
        "max_parallel": "1",
        "params": {"learning_rate": {"mode": "range", "low": "0.01", "high": "0.2",
                                     "scale": "log"},
                   "width": {"mode": "value", "value": "4"}},
    }
    f.update(kw)
    return f


def post(env: dict[str, Any], path: str, body: Any = None, **kw: Any) -> Any:
    return env["client"].post("/api/v1" + path, json=body, headers={HEADER: env["token"]},
                              **kw)


def test_datasets_are_listed_and_confined_to_the_root(env: dict[str, Any]) -> None:
    c = env["client"]
    got = c.get("/api/v1/datasets").json()
    assert got["datasets"][0] == "builtin:digits"
    assert {"colour", "grey", "test/colour"} <= set(got["datasets"])
    for bad in ("../outside/secret", str(env["base"] / "outside" / "secret"), "/etc"):
        r = post(env, "/datasets/preview", {"data": bad})
        assert r.status_code == 422, bad
        assert "inside the data root" in r.json()["detail"]["message"]
    r = post(env, "/plan", {"form": form(data="../outside/secret")})
    assert r.json()["errors"].keys() == {"data"}


def test_preview_counts_sizes_monochrome_and_unreadable(env: dict[str, Any]) -> None:
    p = post(env, "/datasets/preview", {"data": "colour"}).json()
    assert p["images_per_class"] == {"class_0": 11, "class_1": 10, "class_2": 10}
    assert p["monochrome"] is False and p["sizes"] == {"12x12": 30}
    assert p["unreadable_count"] == 1 and p["unreadable"][0].endswith("broken.png")
    assert all(len(v) == 4 and v[0].startswith("data:image/png;base64,")
               for v in p["thumbnails"].values())
    g = post(env, "/datasets/preview", {"data": "grey"}).json()
    assert g["monochrome"] is True and g["channels"] == 1


def test_preview_needs_the_token(env: dict[str, Any]) -> None:
    r = env["client"].post("/api/v1/datasets/preview", json={"data": "colour"})
    assert r.status_code == 401


def test_plan_counts_jobs_and_estimates_device_hours(env: dict[str, Any]) -> None:
    p = post(env, "/plan", {"form": form()}).json()
    assert p["ok"] and p["training_jobs"] == 2
    assert p["estimate"]["device_hours"] > 0 and p["estimate"]["trials"] == 2
    assert "builtin: image-classifier" in p["yaml"]
    e = p["estimate"]
    assert e["startup_seconds"] > 0 and e["per_epoch_seconds"] > 0 and e["slots"] == 1
    more = post(env, "/plan", {"form": form(max_trials="6")}).json()
    assert more["training_jobs"] == 6
    # the costs are measured once (cached); 4 more trials add 4 x (a segment's set-up and
    # an epoch with its checkpoint and report); the one worker starts once either way
    per_trial = e["setup_seconds"] + e["epoch_seconds"] + e["per_epoch_seconds"]
    assert more["estimate"]["device_hours"] * 3600 == pytest.approx(
        e["device_hours"] * 3600 + 4 * per_trial)
    grid = post(env, "/plan", {"form": form(strategy="grid", max_trials="", params={
        "optimizer": {"mode": "values", "values": "sgd, adam"},
        "width": {"mode": "values", "values": "4, 8, 16"}})}).json()
    assert grid["ok"] and grid["training_jobs"] == 6 and grid["grid_size"] == 6
    auto = post(env, "/plan", {"form": form(batch_size="auto")}).json()
    assert auto["ok"] and auto["batch_max"] >= 1


def test_out_of_range_value_is_placed_by_field_with_the_cli_message(
        env: dict[str, Any], tmp_path: Path) -> None:
    from tunelab.cli import app

    bad = form()
    bad["params"]["dropout"] = {"mode": "value", "value": "1.5"}
    p = post(env, "/plan", {"form": bad}).json()
    assert not p["ok"] and list(p["errors"]) == ["param.dropout"]
    spec = tmp_path / "spec.yaml"  # the spec the form builds, planned by the CLI
    spec.write_text(spec_yaml(form_spec(bad, DataRoot(env["data"]))))
    out = CliRunner().invoke(app, ["plan", str(spec)])
    assert out.exit_code == 2
    assert p["errors"]["param.dropout"] in " ".join(out.output.split())
    epochs = post(env, "/plan", {"form": form(epochs="0")}).json()
    assert list(epochs["errors"]) == ["epochs"]
    trials = post(env, "/plan", {"form": form(max_trials="0")}).json()
    assert list(trials["errors"]) == ["max_trials"]
    both = post(env, "/plan", {"form": form(max_trials="0", max_parallel="0")}).json()
    assert set(both["errors"]) == {"max_trials", "max_parallel"}  # each next to its field


def test_sagemaker_json_in_the_advanced_box(env: dict[str, Any]) -> None:
    sm = {"Strategy": "Random",
          "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_accuracy"},
          "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
          "ParameterRanges": {"ContinuousParameterRanges": [
              {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.1",
               "ScalingType": "Logarithmic"}]},
          "StaticHyperParameters": {"epochs": "1", "width": "4"}}
    p = post(env, "/plan", {"form": form(name="sm-job", advanced=json.dumps(sm))}).json()
    assert p["ok"], p
    assert p["training_jobs"] == 3 and p["spec"]["search_space"]["learning_rate"]["scale"] == "log"
    assert p["spec"]["train"]["data"] == str(env["data"] / "colour")


def wait_status(env: dict[str, Any], name: str, done: tuple[str, ...],
                timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = env["client"].get(f"/api/v1/jobs/{name}").json()
        if h.get("status") in done:
            return dict(h)
        time.sleep(0.3)
    raise AssertionError(f"job {name} did not reach {done}: {h}")


@pytest.mark.slow
def test_launch_watch_evaluate_predict_tune_again_delete(env: dict[str, Any]) -> None:
    launches = env["store"] / "ui-launches"
    bad = post(env, "/launch", {"form": form(name="never", epochs="-1")})
    assert bad.status_code == 422 and "epochs" in bad.json()["detail"]["errors"]
    assert not launches.exists() or not list(launches.glob("never*"))  # nothing written
    assert env["client"].post("/api/v1/launch", json={"form": form()}).status_code == 401
    r = post(env, "/launch", {"form": form()})
    assert r.status_code == 200, r.text
    again = post(env, "/launch", {"form": form()})
    assert again.status_code == 422 and "name" in again.json()["detail"]["errors"]
    head = wait_status(env, "page-job", ("completed", "failed"))
    assert head["status"] == "completed", env["client"].get(
        "/api/v1/jobs/page-job/process").json()
    deadline = time.monotonic() + 30  # the tuner prints its summary, then exits
    while (proc := env["client"].get("/api/v1/jobs/page-job/process").json())["alive"]:
        assert time.monotonic() < deadline, proc
        time.sleep(0.2)
    assert proc["kind"] == "launch" and proc["alive"] is False and proc["returncode"] == 0

    ev = post(env, "/jobs/page-job/evaluate", {"data": "test/colour"}).json()
    assert ev["n"] == 12 and set(ev["classes"]) == {"class_0", "class_1", "class_2"}
    assert 0 <= ev["accuracy"] <= 1 and len(ev["confusion"]) == 3
    assert post(env, "/jobs/page-job/evaluate", {"data": "../outside/secret"}).status_code == 422

    buf = io.BytesIO()
    Image.open(env["data"] / "colour" / "class_1" / "0.png").save(buf, "PNG")
    pred = post(env, "/jobs/page-job/predict?filename=a.png", content=buf.getvalue()).json()
    assert pred["image"] == "a.png" and len(pred["top"]) == 3
    notimg = post(env, "/jobs/page-job/predict?filename=x.txt", content=b"hello")
    assert notimg.status_code == 422 and "image files" in notimg.json()["detail"]["message"]
    big = post(env, "/jobs/page-job/predict?filename=big.png", content=b"0" * (6 * 2**20))
    assert big.status_code == 422 and "MiB" in big.json()["detail"]["message"]

    fine = post(env, "/jobs/page-job/tune-again", {}).json()
    assert fine["name"] == "page-job-fine" and "learning_rate" in fine["yaml"]
    narrowed = post(env, "/plan", {"form": {"advanced": fine["yaml"]}}).json()
    assert narrowed["ok"], narrowed
    lr = narrowed["spec"]["search_space"]["learning_rate"]
    assert 0.01 <= lr["low"] < lr["high"] <= 0.2 and lr["high"] / lr["low"] < 20 ** 0.5

    # refit (launched and watched in tests/server/test_new_page.py): token and unknown job
    assert env["client"].post("/api/v1/jobs/page-job/refit", json={}).status_code == 401
    assert post(env, "/jobs/nope/refit", {}).status_code == 404

    assert post(env, "/jobs/page-job/resume").status_code == 422  # completed: nothing to resume
    assert env["client"].post("/api/v1/jobs/page-job/delete").status_code == 401
    d = post(env, "/jobs/page-job/delete")
    assert d.status_code == 200, d.text
    assert env["client"].get("/api/v1/jobs/page-job").status_code == 404


@pytest.mark.slow
def test_a_launched_job_outlives_the_server_and_resumes_after_its_tuner_dies(
        env: dict[str, Any]) -> None:
    import os
    import signal

    long = form(name="outlives", epochs="400", max_trials="1", strategy="random")
    assert post(env, "/launch", {"form": long}).status_code == 200
    reader = Reader.open(env["store"])  # a second server over the same store: a restart
    access, _ = Access.for_host("127.0.0.1")
    try:
        with TestClient(create_app(reader, access, data_root=env["data"]),
                        base_url="http://127.0.0.1") as c2:
            assert c2.get("/api/v1/jobs/outlives").json()["status"] == "running"
            proc = c2.get("/api/v1/jobs/outlives/process").json()
            assert proc["kind"] == "launch" and proc["alive"] is True
            assert proc["tuner_gone"] is False
            os.killpg(proc["pid"], signal.SIGKILL)  # the tuner dies (its workers with it)
            deadline = time.monotonic() + 30
            while not (gone := c2.get("/api/v1/jobs/outlives/process").json())["tuner_gone"]:
                assert time.monotonic() < deadline, gone
                time.sleep(0.2)
            assert gone["alive"] is False
            r = c2.post("/api/v1/jobs/outlives/resume", headers={HEADER: access.token})
            assert r.status_code == 200, r.text
            again = c2.post("/api/v1/jobs/outlives/resume", headers={HEADER: access.token})
            assert again.status_code in (409, 422)  # one tuner per job
            deadline = time.monotonic() + 60
            # the resumed tuner holds the job once its lease owner is alive again
            while (p := c2.get("/api/v1/jobs/outlives/process").json())["tuner_gone"] or \
                    p["kind"] != "resume":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert c2.post("/api/v1/jobs/outlives/stop",
                           headers={HEADER: access.token}).status_code == 200
            h = wait_status({**env, "client": c2}, "outlives", ("stopped",), 60)
            assert h["status"] == "stopped"
    finally:
        reader.close()


def test_a_pasted_yaml_spec_may_not_leave_the_data_root(env: dict[str, Any]) -> None:
    import yaml

    spec: dict[str, Any] = {
        "name": "pasted", "train": {"builtin": "image-classifier", "data": "colour", "epochs": 1},
            "search_space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1}},
            "strategy": {"type": "random"}, "limits": {"max_trials": 2}}
    ok = post(env, "/plan", {"form": {"advanced": yaml.safe_dump(spec)}, "estimate": False})
    assert ok.json()["ok"] and ok.json()["spec"]["train"]["data"] == str(env["data"] / "colour")
    for key, value in (("data", str(env["base"] / "outside" / "secret")),
                       ("validation_data", "../outside/secret"),
                       ("cache_dir", "/tmp/elsewhere"), ("pretrained", "/etc/passwd")):
        bad = {**spec, "train": {**spec["train"], key: value}}
        p = post(env, "/plan", {"form": {"advanced": yaml.safe_dump(bad)}}).json()
        assert not p["ok"] and f"train.{key}" in p["message"], (key, p)
    code = {**spec, "train": {"function": "os:system"}}
    p = post(env, "/plan", {"form": {"advanced": yaml.safe_dump(code)}}).json()
    assert not p["ok"] and "built-in" in p["message"]
