"""The flags a new user reaches for: ``--version``, ``tune/plan/init --data`` with
``--max-runtime``, ``--strategy``, ``--epochs``, ``--set``, ``--seed``; ``train --help`` listing
the hyperparameters; ``plan`` naming every limit, completion criterion and an estimate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from tunelab.cli import app

runner = CliRunner()


def _photos(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = np.clip(40 + 170 * k + rng.integers(-20, 20, (12, 12, 3)), 0, 255)
            Image.fromarray(arr.astype(np.uint8), "RGB").save(root / name / f"{i}.png")
    return root


def _flat(out: str) -> str:
    return " ".join(out.split())


def _invoke(*args: str) -> Any:
    res = runner.invoke(app, list(args))
    return res


def test_version() -> None:
    res = _invoke("--version")
    assert res.exit_code == 0, res.output
    assert res.output.startswith("tunelab ") and len(res.output.split()) == 2


def test_plan_data_applies_every_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_CACHE_DIR", str(tmp_path / "cache"))
    photos = _photos(tmp_path / "photos")
    res = _invoke("plan", "--data", str(photos), "--epochs", "2", "--set", "width=8",
                  "--set", "learning_rate=0.02", "--strategy", "random", "--max-runtime", "5m",
                  "--seed", "3", "--max-trials", "4", "--json")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert plan["strategy"]["type"] == "random" and plan["strategy"]["seed"] == 3
    assert plan["static"]["epochs"] == 2 and plan["static"]["width"] == 8
    # a fixed hyperparameter is no longer searched
    assert "learning_rate" not in plan["search_space"] and plan["static"]["learning_rate"] == 0.02
    # the refit's time is taken off the search's 5 minutes
    assert plan["refit"] is True and 0 < plan["limits"]["max_runtime"] < 300
    assert plan["training_jobs"] == 4
    res = _invoke("plan", "--data", str(photos), "--epochs", "2", "--max-runtime", "5m",
                  "--max-trials", "4", "--no-refit", "--json")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)
    assert plan["refit"] is False and plan["limits"]["max_runtime"] == 300
    # the duration comes from a short probe of real training steps, bounded by max_runtime
    assert "s/epoch measured on CPU" in plan["estimate"] and "5m" in plan["estimate"]


def test_plan_data_shows_slots_and_the_probe_estimate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_CACHE_DIR", str(tmp_path / "cache"))
    photos = _photos(tmp_path / "photos")
    res = _invoke("plan", "--data", str(photos), "--epochs", "2", "--set", "width=4",
                  "--max-trials", "3", "--strategy", "random", "--gpus", "none")
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert "estimated duration: ~" in out and "(3 trials × 2 epochs at" in out
    assert "slots: 1 slot on the CPU" in out
    assert "estimate: about" in out and "device-hours on CPU (3 trials x 2 epochs" in out


def test_bad_data_flags_are_one_clear_error(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    res = _invoke("plan", "--data", str(photos), "--strategy", "pbx")
    assert res.exit_code == 2 and "`--strategy` must be one of pbt, random" in _flat(res.output)
    res = _invoke("plan", "--data", str(photos), "--max-runtime", "soon")
    assert res.exit_code == 2 and "`--max-runtime` must be a duration" in _flat(res.output)
    res = _invoke("plan", "--data", str(photos), "--set", "widht=8")
    assert res.exit_code == 2 and "Did you mean `width`?" in _flat(res.output)
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nobjective: {metric: loss}\ntrain: {function: 'm:f'}\n")
    res = _invoke("tune", str(spec), "--epochs", "3", "--store", str(tmp_path / "store"))
    assert res.exit_code == 2 and "used with --data" in _flat(res.output)
    assert not (tmp_path / "store").exists()


def test_init_prints_the_default_spec_that_plan_and_tune_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_CACHE_DIR", str(tmp_path / "cache"))
    photos = _photos(tmp_path / "photos")
    res = _invoke("init", "--data", str(photos), "--epochs", "3")
    assert res.exit_code == 0, res.output
    spec = yaml.safe_load(res.output)
    assert spec["name"] == "photos" and spec["train"]["epochs"] == 3
    assert spec["train"]["builtin"] == "image-classifier" and spec["search_space"]
    path = tmp_path / "spec.yaml"
    path.write_text(res.output)
    res = _invoke("plan", str(path))
    assert res.exit_code == 0, res.output
    assert "search space of photos" in _flat(res.output)


def test_plan_names_every_limit_completion_criterion_and_an_estimate(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "limits", "objective": {"metric": "loss"},
        "train": {"function": "objectives_for_tests.fns:quadratic"}, "static": {"epochs": 4},
        "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
        "limits": {"max_trials": 6, "max_parallel": 2, "max_runtime": "30m",
                   "max_trial_runtime": "90s", "max_retries": 1},
        "completion": {"target": 0.01, "no_improvement_trials": 3}}))
    res = _invoke("plan", str(spec))
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    for part in ("max_trials 6", "max_parallel 2", "max_runtime 30m", "max_trial_runtime 1m30s",
                 "max_retries 1", "completion: target 0.01 · no_improvement_trials 3",
                 "estimated duration: at most 30m (max_runtime); 6 trials × 4 epochs"):
        assert part in out, part


def test_plan_without_a_runtime_limit_says_it_has_no_estimate(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "open", "objective": {"metric": "loss"},
        "train": {"function": "objectives_for_tests.fns:quadratic"},
        "search_space": {"x": {"type": "float", "low": 0, "high": 1}}}))
    out = _flat(_invoke("plan", str(spec)).output)
    assert "max_runtime none" in out and "completion: none" in out
    assert "estimated duration: unknown" in out and "set limits.max_runtime" in out


def test_estimate_uses_a_measured_epoch_time() -> None:
    from tunelab.report.plan import estimate_line
    from tunelab.spec import spec_from_dict

    js = spec_from_dict({"name": "e", "objective": {"metric": "loss"},
                         "train": {"function": "m:f"}, "static": {"epochs": 5},
                         "search_space": {"x": {"type": "float", "low": 0, "high": 1}},
                         "limits": {"max_parallel": 2, "max_runtime": "1h"}})
    line = estimate_line(js, 8, epoch_seconds=3.0)  # 8 * 5 * 3 / 2 = 60 s
    assert line.startswith("estimated duration: ~1m (8 trials × 5 epochs at 3 s/epoch")
    assert "max_runtime ends it by 1h" in line
    capped = estimate_line(js, 800, epoch_seconds=3.0)
    assert "1h (max_runtime; the full plan needs ~" in capped


def test_train_help_lists_the_hyperparameters() -> None:
    res = _invoke("train", "--help")
    assert res.exit_code == 0
    out = _flat(res.output)
    for part in ("learning_rate=0.1", "label_smoothing=", "optimizer=sgd", "epochs=",
                 "image_size=the data's"):
        assert part in out, part


@pytest.mark.slow
def test_tune_data_runs_with_the_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELAB_CACHE_DIR", str(tmp_path / "cache"))
    photos = _photos(tmp_path / "photos")
    store = str(tmp_path / "store")
    res = _invoke("tune", "--data", str(photos), "--name", "pets", "--strategy", "random",
                  "--epochs", "1", "--max-trials", "2", "--set", "width=4", "--set", "depth=1",
                  "--seed", "5", "--max-runtime", "10m", "--store", store, "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["name"] == "pets" and len(summary["trials"]) == 2
    assert all(t["steps"] == 1 for t in summary["trials"])
    from tunelab.store import Store

    st = Store.open(store)
    try:
        spec = st.read().job("pets").spec
    finally:
        st.close()
    assert spec["strategy"] == {"type": "random", "seed": 5}
    assert spec["train"]["width"] == 4 and spec["refit"] is True
    # the refit's time is set aside from the 10 minutes before the search starts; the refit
    # then ran as its own job
    assert 0 < spec["limits"]["max_runtime"] < 600
    assert summary["refit"]["job"] == "pets-refit" and summary["refit"]["status"] == "completed"
    assert summary["refit"]["epochs"] == 1


def test_every_error_begins_the_same_way(tmp_path: Path) -> None:
    for args in (["show"], ["tune", "--bogus"], ["bogus"],
                 ["plan", str(tmp_path / "missing.yaml")]):
        res = _invoke(*args)
        assert res.exit_code == 2, (args, res.output)
        assert res.output.lstrip().startswith("error: "), (args, res.output)
        assert "Error" not in res.output, (args, res.output)


def test_flags_do_not_read_as_taking_a_value() -> None:
    for args in (["show", "--help"], ["jobs", "--help"], ["--help"]):
        out = _invoke(*args).output
        for flag in ("--json", "--debug", "--version"):
            for line in out.splitlines():
                if f"{flag} " in line:
                    assert "<bool>" not in line, line


@pytest.mark.parametrize("command", [
    [], ["jobs"], ["show"], ["tune"], ["resume"], ["plan"], ["delete"], ["train"], ["init"],
    ["evaluate"], ["predict"], ["export"], ["stop"], ["trials"], ["report"], ["ui"],
])
def test_help_shows_flags_as_flags(command: list[str]) -> None:
    """`--help <bool>` (typer's own --help, --yes, --flip) read as if they took a value."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "Show this message and exit." in result.output
    assert "<bool>" not in result.output
