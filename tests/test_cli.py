"""The command line, run in-process with typer's CliRunner (and one real `tunelab stop`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunelab.cli import app

runner = CliRunner()
TESTS = Path(__file__).resolve().parent


def _spec(tmp_path: Path, **over: object) -> Path:
    spec: dict[str, object] = {
        "name": "cli-job",
        "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"x": {"type": "float", "low": -2, "high": 3, "grid_points": 3},
                         "opt": {"type": "choice", "values": ["sgd", "adam"]}},
        "strategy": {"type": "grid"},
        "limits": {"max_parallel": 2},
    }
    spec.update(over)
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_plan_counts_the_grid_without_running(tmp_path: Path) -> None:
    res = runner.invoke(app, ["plan", str(_spec(tmp_path)), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["training_jobs"] == 6 and out["grid_size"] == 6
    assert set(out["search_space"]) == {"x", "opt"}
    assert not (tmp_path / "tunelab-runs").exists()


def test_tune_then_show_json_has_the_documented_shape(tmp_path: Path) -> None:
    store = str(tmp_path / "runs")
    res = runner.invoke(app, ["tune", str(_spec(tmp_path)), "--store", store, "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["show", "cli-job", "--store", store, "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["name"] == "cli-job" and s["status"] == "completed"
    assert s["objective"] == {"metric": "loss", "goal": "minimize"}
    assert len(s["trials"]) == 6
    for t in s["trials"]:
        assert {"number", "state", "params", "value", "attempt", "error"} <= set(t)
    values = [t["value"] for t in s["trials"]]
    assert values == sorted(values)  # leaderboard: best first
    assert s["best"]["number"] == s["trials"][0]["number"]
    assert s["best"]["params"]["x"] == pytest.approx(0.5)  # grid point closest to 1
    res = runner.invoke(app, ["jobs", "--store", store, "--json"])
    assert [j["name"] for j in json.loads(res.stdout)] == ["cli-job"]
    # the table view prints the leaderboard and the best trial
    res = runner.invoke(app, ["show", "cli-job", "--store", store])
    assert res.exit_code == 0 and "leaderboard" in res.stdout and "best" in res.stdout


def test_bad_spec_is_one_clear_message_and_exit_2(tmp_path: Path) -> None:
    p = _spec(tmp_path, limits={"max_trial": 3})
    res = runner.invoke(app, ["plan", str(p)])
    assert res.exit_code == 2
    assert "max_trial" in res.output and "did you mean `max_trials`" in res.output
    assert "Traceback" not in res.output
    p = _spec(tmp_path, search_space={"lr": {"type": "float", "low": 0, "high": 1,
                                             "scale": "log"}})
    res = runner.invoke(app, ["plan", str(p)])
    assert res.exit_code == 2 and "lr" in res.output and "> 0 for a log scale" in res.output


def test_show_unknown_job_names_the_known_ones(tmp_path: Path) -> None:
    store = str(tmp_path / "runs")
    runner.invoke(app, ["tune", str(_spec(tmp_path)), "--store", store, "--json"])
    res = runner.invoke(app, ["show", "nope", "--store", store])
    assert res.exit_code == 2 and "nope" in res.output and "cli-job" in res.output


def test_resume_of_a_completed_job_refuses(tmp_path: Path) -> None:
    store = str(tmp_path / "runs")
    runner.invoke(app, ["tune", str(_spec(tmp_path)), "--store", store, "--json"])
    res = runner.invoke(app, ["resume", "cli-job", "--store", store])
    assert res.exit_code == 2 and "already completed" in res.output


def test_stop_from_another_process_stops_running_trials(tmp_path: Path) -> None:
    store = str(tmp_path / "runs")
    spec = _spec(tmp_path, name="long", train={"function": "objectives_for_tests.fns:slow"},
                 static={"sleep": 30}, strategy={"type": "random"},
                 search_space={"x": {"type": "float", "low": -2, "high": 3}},
                 limits={"max_trials": 4, "max_parallel": 2})
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.Popen([sys.executable, "-m", "tunelab.cli", "tune", str(spec), "--store",
                             store, "--json"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            res = runner.invoke(app, ["show", "long", "--store", store, "--json"])
            if res.exit_code == 0 and json.loads(res.stdout)["counts"].get("running") == 2:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the job never had two running trials")
        res = runner.invoke(app, ["stop", "long", "--store", store])
        assert res.exit_code == 0, res.output
        out, errs = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, errs
    s = json.loads(out.strip().splitlines()[-1])
    assert s["status"] == "stopped"
    assert s["counts"] == {"stopped": 2}  # the two running ones; no new trial started
    res = runner.invoke(app, ["stop", "long", "--store", store])
    assert res.exit_code == 2 and "running" in res.output


def test_jobs_on_a_missing_store_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    res = runner.invoke(app, ["jobs", "--store", str(tmp_path / "none")])
    assert res.exit_code == 2 and "there is no store at" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "none").exists()
