"""Refit: the best configuration of a tuning job retrained on training + validation images.

One small random search over two 10x10 colour classes (two trials, three epochs, a tiny CNN),
then ``tunelab refit`` through the command line, the exported model.json, and the refusals.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from imagefolders import dark_light_folder, one_line
from typer.testing import CliRunner

from tunelab import api
from tunelab.cli import app
from tunelab.objectives.context import TrialContext
from tunelab.server.model_zip import best_model_zip
from tunelab.store import Store
from tunelab.store.queries import Reader
from tunelab.vision.data import load_image_data
from tunelab.vision.refit import refit_source, refit_spec
from tunelab.vision.train import train

runner = CliRunner()


def _search(tmp: Path, name: str, *, epochs: int) -> dict[str, Any]:
    """A two-trial random search of the learning rate over two 10x10 colour classes."""
    data = dark_light_folder(tmp / "images", 10)
    return {
        "name": name, "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "train": {"builtin": "image-classifier", "data": str(data), "epochs": epochs,
                  "model": "cnn", "width": 4, "batch_size": 8,
                  "cache_dir": str(tmp / "cache"), "validation_percent": 30},
        "search_space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1,
                                           "scale": "log"}},
        "strategy": {"type": "random", "seed": 0},
        "limits": {"max_trials": 2, "max_parallel": 1}}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished two-trial random search; returns (tmp folder, store)."""
    tmp = tmp_path_factory.mktemp("refit")
    store = str(tmp / "runs")
    result = api.tune_spec(_search(tmp, "photos", epochs=3), store=store)
    assert result.status == "completed" and result.best is not None
    return tmp, store


def test_refit_trains_on_every_image_for_the_best_epochs(tuned: tuple[Path, str]) -> None:
    tmp, store = tuned
    source = refit_source("photos", store=store)
    spec = refit_spec(source)
    # the best trial's own learning rate, its peak epoch, and nothing held out
    assert spec["name"] == "photos-refit"
    assert spec["train"]["learning_rate"] == source.params["learning_rate"]
    assert spec["train"]["epochs"] == source.step and 1 <= source.step <= 3
    assert spec["train"]["train_on_validation"] is True
    assert spec["objective"] == {"metric": "train_loss", "goal": "minimize"}
    assert "val_accuracy" in source.metrics

    res = runner.invoke(app, ["refit", "photos", "--out", str(tmp / "model"), "--store", store])
    assert res.exit_code == 0, res.output
    out = one_line(res.output)
    assert f"retrained for {source.step} epochs" in out and "model exported to" in out
    meta = json.loads((tmp / "model" / "model.json").read_text())
    assert meta["trained_on_validation"] is True and meta["epoch"] == source.step
    assert meta["refit"]["source_job"] == "photos"
    assert meta["refit"]["source_trial"] == source.trial
    assert meta["refit"]["source_metrics"]["val_accuracy"] == source.metrics["val_accuracy"]

    res = runner.invoke(app, ["show", "photos-refit", "--store", store])
    assert "20 training images (a refit: the 6 validation images train too" in one_line(
        res.output)
    # the refit job is in the store, trained on all 20 images (14 train + 6 validation): its
    # reports have training metrics and no validation ones
    st = Store.open(store)
    try:
        tx = st.read()
        trials = tx.trials(tx.job("photos-refit").id)
    finally:
        st.close()
    assert len(trials) == 1 and trials[0].state.value == "completed"
    reports = trials[0].reports
    assert [r.step for r in reports] == list(range(1, source.step + 1))
    assert all("train_loss" in r.metrics and "val_accuracy" not in r.metrics for r in reports)

    # export of the refit job picks its last epoch; a refit of a refit is refused
    res = runner.invoke(app, ["export", "photos-refit", "--out", str(tmp / "again"),
                              "--store", store])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp / "again" / "model.json").read_text())["epoch"] == source.step
    # so does the dashboard's model download
    reader = Reader.open(store)
    try:
        z = zipfile.ZipFile(io.BytesIO(best_model_zip(reader, "photos-refit")[0]))
    finally:
        reader.close()
    assert json.loads(z.read("photos-refit-model/model.json"))["epoch"] == source.step
    res = runner.invoke(app, ["refit", "photos-refit", "--store", store])
    assert res.exit_code != 0 and "already a refit" in one_line(res.output)
    assert "Traceback" not in res.output


def test_train_on_validation_uses_all_images(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainer's epoch steps over training + validation images: 20 of 20, not 14."""
    from tunelab.vision import train as train_module

    data = dark_light_folder(tmp_path / "images", 10)
    stepped: list[int] = []
    real_call = train_module.Stepper.__call__

    def counting(self: Any, x_u8: torch.Tensor, y: torch.Tensor) -> Any:
        stepped.append(len(y))
        return real_call(self, x_u8, y)

    monkeypatch.setattr(train_module.Stepper, "__call__", counting)
    base: dict[str, Any] = {"data": str(data), "cache_dir": str(tmp_path / "cache"),
                            "epochs": 1, "model": "cnn", "width": 4, "batch_size": 2,
                            "validation_percent": 30}
    d = load_image_data(str(data), cache_dir=tmp_path / "cache", validation_percent=30)
    assert len(d.train_y) == 14 and len(d.val_y) == 6
    for refit, images in ((False, 14), (True, 20)):
        stepped.clear()
        params = {**base, "train_on_validation": refit}
        metrics = train(params, TrialContext(params=params, number=0,
                                             checkpoint_dir=tmp_path / f"ck{refit}"))
        assert sum(stepped) == images
        assert ("val_accuracy" in metrics) is not refit
    state = torch.load(tmp_path / "ckTrue" / "ckpt-000001.pt", weights_only=True)
    assert state["config"]["train_on_validation"] is True


def test_refit_refuses_other_jobs_in_one_line(tmp_path: Path) -> None:
    store = str(tmp_path / "runs")
    spec = {"name": "quad", "objective": {"metric": "loss", "goal": "minimize"},
            "train": {"function": "objectives_for_tests.fns:quadratic"},
            "search_space": {"x": {"type": "float", "low": -1, "high": 1}},
            "strategy": {"type": "random", "seed": 0}, "limits": {"max_trials": 1}}
    api.tune_spec(spec, store=store)
    res = runner.invoke(app, ["refit", "quad", "--store", store])
    assert res.exit_code != 0 and "built-in image trainer" in one_line(res.output)
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["refit", "nope", "--store", store])
    assert res.exit_code != 0 and "Traceback" not in res.output


def test_refit_hint_only_for_a_job_with_a_best_checkpoint(tuned: tuple[Path, str],
                                                          tmp_path: Path) -> None:
    from tunelab.cli import _refittable

    _tmp, store = tuned
    assert _refittable("photos", store)
    # the hint `tune` prints at the end names refit only where refit would work
    spec = {"name": "quad", "objective": {"metric": "loss", "goal": "minimize"},
            "train": {"function": "objectives_for_tests.fns:quadratic"},
            "search_space": {"x": {"type": "float", "low": -1, "high": 1}},
            "strategy": {"type": "random", "seed": 0}, "limits": {"max_trials": 1}}
    other = str(tmp_path / "runs")
    api.tune_spec(spec, store=other)
    assert not _refittable("quad", other)
    assert not _refittable("nope", other)


def _refit_spec_file(tmp: Path, name: str) -> Path:
    """A two-trial search of two epochs with ``refit: true``, as a spec file."""
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({**_search(tmp, name, epochs=2), "refit": True}))
    return path


def test_a_spec_with_refit_is_refit_once_its_search_completes(tmp_path: Path) -> None:
    store = str(tmp_path / "runs")
    spec = _refit_spec_file(tmp_path, "pets")
    res = runner.invoke(app, ["plan", str(spec)])
    assert res.exit_code == 0 and "refit: once the search completes, job pets-refit" in \
        one_line(res.output)
    res = runner.invoke(app, ["tune", str(spec), "--store", store, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    source = refit_source("pets", store=store)
    assert summary["refit"]["job"] == "pets-refit" and summary["refit"]["status"] == "completed"
    assert summary["refit"]["trial"] == source.trial == summary["best"]["number"]
    assert summary["refit"]["epochs"] == source.step and summary["refit"]["seconds"] > 0
    st = Store.open(store)
    try:
        tx = st.read()
        refit_job = tx.job("pets-refit")
        trials = tx.trials(refit_job.id)
    finally:
        st.close()
    assert refit_job.status == "completed" and len(trials) == 1
    assert refit_job.spec["train"]["train_on_validation"] is True
    assert refit_job.spec["train"]["learning_rate"] == source.params["learning_rate"]
    # asked again, nothing is trained twice
    from tunelab.vision.refit import refit_after_search

    st = Store.open(store)
    try:
        again = refit_after_search(st, "pets", "completed")
    finally:
        st.close()
    assert again.skipped == "job pets-refit exists (completed)" and again.seconds is None
    # without --json: the leaderboard, the refit's line, and the export of the refit next
    res = runner.invoke(app, ["tune", str(_refit_spec_file(tmp_path, "dogs")), "--store",
                              store])
    assert res.exit_code == 0, res.output
    out = one_line(res.output)
    assert "refit: job dogs-refit completed: trial" in out
    assert "next: `tunelab export dogs-refit --out model --store" in out


def test_no_refit_when_asked_or_when_the_search_did_not_complete(tmp_path: Path) -> None:
    from tunelab.vision.refit import refit_after_search

    store = str(tmp_path / "runs")
    spec = _refit_spec_file(tmp_path, "cats")
    res = runner.invoke(app, ["tune", str(spec), "--store", store, "--no-refit", "--json"])
    assert res.exit_code == 0, res.output
    assert "refit" not in json.loads(res.output.strip().splitlines()[-1])
    st = Store.open(store)
    try:
        with pytest.raises(Exception, match="no tuning job named 'cats-refit'"):
            st.read().job("cats-refit")
        # a search stopped by the user is not refit (resume continues it, then refits)
        stopped = refit_after_search(st, "cats", "stopped")
        assert stopped.job is None and stopped.skipped == "the search is stopped, not completed"
    finally:
        st.close()


def test_refit_is_refused_where_it_cannot_run(tmp_path: Path) -> None:
    spec = {"name": "quad", "objective": {"metric": "loss", "goal": "minimize"}, "refit": True,
            "train": {"function": "objectives_for_tests.fns:quadratic"},
            "search_space": {"x": {"type": "float", "low": -1, "high": 1}},
            "strategy": {"type": "random", "seed": 0}, "limits": {"max_trials": 1}}
    path = tmp_path / "quad.json"
    path.write_text(json.dumps(spec))
    res = runner.invoke(app, ["plan", str(path)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "`refit` must be true only for the built-in image trainer" in one_line(res.output)
    already = _refit_spec_file(tmp_path, "again")
    d = json.loads(already.read_text())
    d["train"]["train_on_validation"] = True
    already.write_text(json.dumps(d))
    res = runner.invoke(app, ["plan", str(already)])
    assert res.exit_code != 0 and "already trains on its validation images" in \
        one_line(res.output)


def test_the_python_api_refits_a_spec_that_asks(tmp_path: Path) -> None:
    spec = json.loads(_refit_spec_file(tmp_path, "api").read_text())
    result = api.tune_spec(spec, store=str(tmp_path / "runs"))
    assert result.status == "completed" and result.best is not None
    refit = result.summary["refit"]
    assert refit["job"] == "api-refit" and refit["status"] == "completed"
    assert refit["trial"] == result.best["number"]


@pytest.mark.slow
def test_ctrl_c_in_the_refit_stops_the_refit_and_names_it(tmp_path: Path) -> None:
    """The search completed; Ctrl-C during its refit stops NAME-refit (not the search), says
    so, exits 130; `tunelab resume NAME-refit` then finishes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tunelab.trial import TrialState

    # judged by training loss, the best checkpoint is one of the last: a refit of many epochs
    d = {**_search(tmp_path, "long", epochs=60), "refit": True,
         "objective": {"metric": "train_loss", "goal": "minimize"}}
    spec = tmp_path / "long.json"
    spec.write_text(json.dumps(d))
    store = tmp_path / "runs"

    def refit_running() -> bool:
        if not (store / "tunelab.db").exists():
            return False
        st = Store.open(store)
        try:
            tx = st.read()
            return any(t.state is TrialState.RUNNING
                       for t in tx.trials(tx.job("long-refit").id))
        except Exception:  # not created yet
            return False
        finally:
            st.close()

    proc = subprocess.Popen(
        [sys.executable, "-m", "tunelab.cli", "tune", str(spec), "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not refit_running():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the refit did not start"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = " ".join(err.split())
    assert proc.returncode == 130, (proc.returncode, err[-3000:])
    assert "Ctrl-C: stopping job long-refit" in text, err[-3000:]
    assert "interrupted: job long-refit is stopped; `tunelab resume long-refit` continues it" \
        in text, err[-3000:]
    st = Store.open(store)
    try:
        tx = st.read()
        assert tx.job("long").status == "completed"
        assert tx.job("long-refit").status == "stopped"
    finally:
        st.close()
    res = runner.invoke(app, ["resume", "long-refit", "--store", str(store)])
    assert res.exit_code == 0, res.output
    st = Store.open(store)
    try:
        assert st.read().job("long-refit").status == "completed"
    finally:
        st.close()
