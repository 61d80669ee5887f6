"""Fault injection: a spec that cannot run must be refused before its job exists
(issue 16 items 8 and 12), and `tunelab delete` frees a name.

``plan`` checks everything ``tune`` checks; ``tune`` writes nothing before the spec is fully
valid, so the fixed spec runs under the same name; a warm start the strategy cannot use is
refused before the job exists; a bare SageMaker request plans without a ``train:`` section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import job_spec
from typer.testing import CliRunner

from tunelab.cli import app
from tunelab.store import Store

runner = CliRunner()
SAGEMAKER = Path(__file__).resolve().parents[1] / "data" / "sagemaker"


def _write(tmp_path: Path, spec: dict[str, Any], name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec))
    return p


def _jobs(store: Path) -> list[str]:
    if not store.exists():
        return []
    st = Store.open(store)
    try:
        return [j.name for j in st.read().jobs()]
    finally:
        st.close()


def _exit_2(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    return " ".join(res.output.split())


def test_plan_refuses_a_spec_without_train(tmp_path: Path) -> None:
    spec = job_spec("no-train")
    del spec["train"]
    out = _exit_2(["plan", str(_write(tmp_path, spec))])
    assert "`train` must be a train section" in out


def test_plan_refuses_a_train_function_that_does_not_import(tmp_path: Path) -> None:
    spec = job_spec("bad-import")
    spec["train"] = {"function": "no_such_module_xyz:train"}
    out = _exit_2(["plan", str(_write(tmp_path, spec))])
    assert "cannot import module 'no_such_module_xyz'" in out


def test_plan_refuses_a_train_section_with_only_metrics(tmp_path: Path) -> None:
    spec = job_spec("metrics-only")
    spec["train"] = {"metrics": [{"name": "loss", "regex": "loss=(.*)"}]}
    out = _exit_2(["plan", str(_write(tmp_path, spec))])
    assert "`train` must be exactly one of function, command, builtin" in out


def test_a_bad_train_section_takes_no_name_and_the_fixed_spec_runs(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    bad = job_spec("same-name")
    bad["train"] = {"function": "no_such_module_xyz:train"}
    _exit_2(["tune", str(_write(tmp_path, bad)), "--store", str(store), "--json"])
    assert _jobs(store) == []  # nothing written: the name is free
    no_train = job_spec("same-name")
    del no_train["train"]
    _exit_2(["tune", str(_write(tmp_path, no_train)), "--store", str(store), "--json"])
    assert _jobs(store) == []
    good = job_spec("same-name", limits={"max_trials": 1})
    res = runner.invoke(app, ["tune", str(_write(tmp_path, good)), "--store", str(store),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "completed"


def _finished_parent(store: Path) -> None:
    st = Store.open(store)
    try:
        with st.transaction() as tx:
            job = tx.create_job("parent", job_spec("parent"), metric="loss", goal="minimize")
            tx.set_job(job.id, status="completed")
    finally:
        st.close()


@pytest.mark.parametrize("strategy", [{"type": "random"}, {"type": "grid"},
                                      {"type": "hyperband", "max_resource": 4}])
def test_a_warm_start_the_strategy_cannot_use_is_refused_before_the_job_exists(
    tmp_path: Path, strategy: dict[str, Any],
) -> None:
    store = tmp_path / "runs"
    _finished_parent(store)
    spec = job_spec("child", strategy=strategy, warm_start={"parents": ["parent"]},
                    search_space={"x": {"type": "float", "low": -2, "high": 2,
                                        "grid_points": 3}})
    p = _write(tmp_path, spec)
    for cmd in ("plan", "tune"):
        out = _exit_2([cmd, str(p), "--store", str(store)])
        assert "warm_start" in out
    assert _jobs(store) == ["parent"]


def test_plan_works_on_a_bare_sagemaker_request_with_an_algorithm_specification(
    tmp_path: Path,
) -> None:
    req = json.loads((SAGEMAKER / "xgboost_request.json").read_text())
    assert "MetricDefinitions" in req["TrainingJobDefinition"]["AlgorithmSpecification"]
    req.pop("WarmStartConfig", None)  # its SageMaker parent is not in a local store
    p = tmp_path / "request.json"
    p.write_text(json.dumps(req))
    res = runner.invoke(app, ["plan", str(p), "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert out["training_jobs"] == 20 and "eta" in out["search_space"]
    assert any("`train:` section" in w for w in out["warnings"])
    # running it still needs a train section: refused before anything is written
    store = tmp_path / "runs"
    assert "train" in _exit_2(["tune", str(p), "--store", str(store)])
    assert _jobs(store) == []


def test_plan_on_the_full_sagemaker_request_notes_its_parents_instead_of_failing() -> None:
    res = runner.invoke(app, ["plan", str(SAGEMAKER / "xgboost_request.json"), "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    assert any("xgb-churn-tune-00" in w for w in json.loads(res.stdout)["warnings"])


def test_delete_removes_the_job_and_its_files_and_frees_the_name(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    p = _write(tmp_path, job_spec("doomed", "plateau", limits={"max_trials": 1}))
    assert runner.invoke(app, ["tune", str(p), "--store", str(store), "--json"]).exit_code == 0
    st = Store.open(store)
    folder = st.artifacts_for(st.read().job("doomed")).path / "doomed"
    st.close()
    assert any(folder.rglob("*")), "the job wrote checkpoints"
    res = runner.invoke(app, ["delete", "doomed", "--store", str(store)], input="n\n")
    assert res.exit_code == 1 and _jobs(store) == ["doomed"] and folder.exists()
    res = runner.invoke(app, ["delete", "doomed", "--store", str(store)], input="y\n")
    assert res.exit_code == 0, res.output
    assert _jobs(store) == [] and not folder.exists()
    assert runner.invoke(app, ["tune", str(p), "--store", str(store), "--json"]).exit_code == 0
    res = runner.invoke(app, ["delete", "doomed", "--store", str(store), "--yes"])
    assert res.exit_code == 0 and _jobs(store) == []
    assert "no tuning job named 'nope'" in _exit_2(["delete", "nope", "--store", str(store),
                                                    "--yes"])


def test_delete_never_removes_files_outside_the_artifact_root(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    st = Store.open(store)
    with st.transaction() as tx:
        tx.create_job("linked", job_spec("linked"), metric="loss", goal="minimize")
    folder = st.artifacts_for(st.read().job("linked")).path / "linked"
    st.close()
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(outside, target_is_directory=True)
    out = _exit_2(["delete", "linked", "--store", str(store), "--yes"])
    assert "inside the artifact root" in out and "Nothing was deleted" in out
    assert (outside / "keep.txt").read_text() == "mine" and _jobs(store) == ["linked"]


def test_delete_refuses_a_running_job(tmp_path: Path) -> None:

    store = tmp_path / "runs"
    st = Store.open(store)
    with st.transaction() as tx:
        job = tx.create_job("busy", job_spec("busy"), metric="loss", goal="minimize")
        assert tx.acquire_lease(job.id, "otherhost:1:x", 30.0)
    st.close()
    out = _exit_2(["delete", "busy", "--store", str(store), "--yes"])
    assert "is running" in out and _jobs(store) == ["busy"]
