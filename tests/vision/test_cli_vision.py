"""The image commands end to end through the command line (typer's CliRunner, in-process), and
the checks that make a bad built-in spec one clear error before anything runs.

One small run (two 8x8 classes, two epochs, a tiny CNN) goes through train -> show -> export ->
predict -> evaluate; everything else fails before any training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from imagefolders import dark_light_folder, one_line
from typer.testing import CliRunner

from tunelab import api
from tunelab.cli import app
from tunelab.errors import SpecError
from tunelab.store import Store
from tunelab.vision.commands import epoch_row
from tunelab.vision.prepare import check_hyperparameters, describe_data

runner = CliRunner()


def _spec_file(tmp_path: Path, data: Path, *, train: dict[str, Any] | None = None,
               space: dict[str, Any] | None = None) -> Path:
    spec = {"name": "img", "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "train": {"builtin": "image-classifier", "data": str(data), "epochs": 1,
                      "cache_dir": str(tmp_path / "cache"), **(train or {})},
            "search_space": space or {"learning_rate": {"type": "float", "low": 1e-3,
                                                        "high": 1e-2}},
            "limits": {"max_trials": 2}}
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


def test_train_show_export_predict_evaluate(tmp_path: Path) -> None:
    data = dark_light_folder(tmp_path / "imgs")
    test = dark_light_folder(tmp_path / "test", per_class=3)
    store = str(tmp_path / "runs")
    sets = ["epochs=2", "width=4", "depth=1", "batch_size=4", "learning_rate=0.01",
            f"cache_dir={tmp_path / 'cache'}"]
    res = runner.invoke(app, ["train", "--data", str(data), "--name", "tr", "--store", store,
                              *[a for s in sets for a in ("--set", s)]])
    assert res.exit_code == 0, res.output
    out = one_line(res.output)
    # the job's name (needed for show/export), a row per epoch with every column, the model
    assert "training job tr" in out
    assert "epoch train loss train acc val loss val acc lr seconds images/s" in out
    rows = [line.split() for line in res.output.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "2"] and all(len(r) == 8 for r in rows)
    assert "model saved:" in out and "tunelab export tr --out DIR" in out

    res = runner.invoke(app, ["show", "tr", "--store", store])
    assert res.exit_code == 0, res.output
    out = one_line(res.output)
    assert "(nothing searched)" in out  # not "with " and nothing after it
    assert "fixed:" in out and "learning_rate=0.01" in out and "epochs=2" in out
    assert "diagnosis of the best trial" in out

    res = runner.invoke(app, ["export", "tr", "--out", str(tmp_path / "model"), "--store", store])
    assert res.exit_code == 0, res.output
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"model.pt", "model.json"}

    image = test / "light" / "0.png"
    res = runner.invoke(app, ["predict", str(tmp_path / "model"), str(image), "--json"])
    assert res.exit_code == 0, res.output
    [pred] = json.loads(res.stdout)
    assert pred["image"] == str(image) and [t["class"] for t in pred["top"]] in (
        ["light", "dark"], ["dark", "light"])
    assert sum(t["probability"] for t in pred["top"]) == pytest.approx(1.0, abs=1e-5)

    # an unreadable file among them: reported, the others still predicted, exit status 1
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    res = runner.invoke(app, ["predict", str(tmp_path / "model"), str(broken), str(image)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    out = one_line(res.output)
    assert f"{broken}: skipped: Cannot read image" in out
    assert f"{image}: " in out and "1 of 2 image(s) could not be read" in out
    res = runner.invoke(app, ["predict", str(tmp_path / "model"), str(broken), str(image),
                              "--json"])
    assert res.exit_code == 1
    got = json.loads(res.stdout)
    assert "error" in got[0] and "top" not in got[0] and len(got[1]["top"]) == 2

    res = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--data", str(test)])
    assert res.exit_code == 0, res.output
    assert "on 6 images" in res.output and "confusion matrix" in res.output
    # colour images train with flips (hflip auto), so test-time flips may be asked for
    res = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--data", str(test), "--flip"])
    assert res.exit_code == 0, res.output
    assert "on 6 images (each averaged with its mirror image)" in one_line(res.output)
    # a one-class folder is a valid test set (nothing is held out when evaluating)
    res = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--data",
                              str(test / "light"), "--json"])
    assert res.exit_code != 0  # a folder of images, not of class folders: said in one line
    assert "Traceback" not in res.output
    only = tmp_path / "only-light"
    (only / "light").mkdir(parents=True)
    (only / "light" / "0.png").write_bytes(image.read_bytes())
    res = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--data", str(only),
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n"] == 1


def test_error_text_in_brackets_is_printed(tmp_path: Path) -> None:
    # rich markup used to swallow "[min, max]" from the message
    res = runner.invoke(app, ["train", "--data", str(tmp_path), "--set", "crop_scale=2"])
    assert res.exit_code == 2
    assert "[min, max]" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(("train", "space", "expected"), [
    ({"optimiser": "sgd"}, None, "`train.optimiser` must be a hyperparameter"
                                 " of the built-in trainer; got 'optimiser'. Did you mean "
                                 "`optimizer`?"),
    (None, {"learning_rat": {"type": "float", "low": 1e-3, "high": 1e-2}},
     "`search_space.learning_rat` must be a hyperparameter of the built-in trainer; got "
     "'learning_rat'. Did you mean `learning_rate`?"),
    (None, {"optimizer": {"type": "choice", "values": ["sgd", "adamm"]}},
     "`search_space.optimizer` must be one of ['sgd', 'adam', 'adamw']; got 'adamm'. Did you "
     "mean `adam`?"),
    (None, {"hue": {"type": "float", "low": 0.0, "high": 0.7}},
     "`search_space.hue` must be in [0, 0.5]; got 0.7."),
    ({"pretrained": "nowhere.pt"}, None, "`train.pretrained` must be a local weights file"),
])
def test_bad_hyperparameters_fail_tune_and_plan_before_any_trial(
        tmp_path: Path, train: dict[str, Any] | None, space: dict[str, Any] | None,
        expected: str) -> None:
    spec = _spec_file(tmp_path, tmp_path / "not-even-read", train=train, space=space)
    store = tmp_path / "runs"
    for args in (["plan", str(spec)], ["tune", str(spec), "--store", str(store)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, res.output
        assert expected in one_line(res.output) and "Traceback" not in res.output
    assert not store.exists()  # no job, no trial: every one of them would have failed


def test_a_static_typo_fails_an_api_job_before_any_trial(tmp_path: Path) -> None:
    data = dark_light_folder(tmp_path / "imgs", per_class=4)
    spec = {"name": "typo", "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "train": {"builtin": "image-classifier", "data": str(data), "epochs": 1,
                      "cache_dir": str(tmp_path / "cache"), "learning_rat": 0.1},
            "strategy": {"type": "manual"}, "limits": {"max_trials": 1}}
    with pytest.raises(SpecError, match="Did you mean `learning_rate`"):
        api.tune_spec(spec, store=str(tmp_path / "runs"))
    # the spec is refused as it is read, as the CLI's is: no job, no trial
    st = Store.open(tmp_path / "runs")
    try:
        assert st.read().jobs() == []
    finally:
        st.close()


def test_check_hyperparameters_accepts_a_full_space() -> None:
    check_hyperparameters({"data": "x", "epochs": 3, "batch_size": "auto",
                           "early_stop": {"patience": 2, "min_delta": 0.001}}, {
        "optimizer": {"type": "choice", "values": ["sgd", "adam", "adamw"]},
        "learning_rate": {"type": "float", "low": 1e-4, "high": 0.1, "scale": "log"},
        "momentum": {"type": "float", "low": 0.5, "high": 0.99},
        "nesterov": {"type": "choice", "values": [True, False]},
        "lr_schedule": {"type": "choice", "values": ["constant", "step", "cosine"]},
        "warmup_epochs": {"type": "float", "low": 0.0, "high": 2.0},
        "model": {"type": "choice", "values": ["cnn", "resnet"]},
        "width": {"type": "int", "low": 8, "high": 64},
        "activation": {"type": "choice", "values": ["relu", "gelu", "silu"]},
        "batch_size": {"type": "choice", "values": [16, 32, "auto"]},
        "image_size": {"type": "choice", "values": [16, 32]},
        "validation_percent": {"type": "float", "low": 10, "high": 30},
        "crop_scale": {"type": "float", "low": 0.3, "high": 0.9},
    })


def test_describe_data_rejects_a_missing_pretrained_file(tmp_path: Path) -> None:
    data = dark_light_folder(tmp_path / "imgs", per_class=2)
    with pytest.raises(SpecError, match="local weights file"):
        describe_data({"data": str(data), "cache_dir": str(tmp_path / "cache"),
                       "pretrained": str(tmp_path / "none.pt")})


def test_a_diverging_loss_keeps_the_epoch_table_in_line() -> None:
    row = epoch_row(1, {"train_loss": 8.2e14, "val_loss": float("nan"), "train_accuracy": 0.5,
                        "val_accuracy": 0.5, "lr": 1.0, "epoch_seconds": 1.0,
                        "images_per_second": 10.0})
    assert row[1] == "8.200e+14" and row[3] == "nan"
    assert all(len(c) <= 10 for c in row)
    assert epoch_row(2, {"train_loss": 0.25})[:3] == ["2", "0.2500", ""]


def test_a_searched_batch_size_is_capped_at_what_fits(tmp_path: Path) -> None:
    from tunelab.cli import _fit_batch_size
    from tunelab.spec import spec_from_dict

    data = dark_light_folder(tmp_path / "imgs", per_class=5)  # 8 training images: no batch above 8
    d: dict[str, Any] = yaml.safe_load(_spec_file(
        tmp_path, data, space={"batch_size": {"type": "choice", "values": [4, 8, 64, 1024]},
                               "width": {"type": "choice", "values": [4, 8]}}).read_text())
    assert _fit_batch_size(spec_from_dict(d), d)
    assert d["search_space"]["batch_size"]["values"] == [4, 8]
    assert d["search_space"]["width"] == {"type": "choice", "values": [4, 8]}
    assert not _fit_batch_size(spec_from_dict(d), d)  # already fits: unchanged
    d["search_space"]["batch_size"] = {"type": "int", "low": 2, "high": 500}
    assert _fit_batch_size(spec_from_dict(d), d)
    assert d["search_space"]["batch_size"]["high"] == 8


@pytest.mark.parametrize(("case", "expected"), [
    ("empty", "The data folder must hold one subfolder per class; got"),
    ("single", "A classifier needs at least 2 classes; got 1 ('dark')"),
    ("few", "got too few for 'light' (1)"),
    ("missing", "which does not exist. Check the path."),
    ("builtin:mnist", "`data` must be 'builtin:digits' for a built-in data set"),
    ("strict", "With strict: true every image must be readable; 1 could not be decoded"),
])
def test_data_errors_are_one_clear_message(tmp_path: Path, case: str, expected: str) -> None:
    data: str = case
    extra: list[str] = []
    if case == "empty":
        (tmp_path / "empty").mkdir()
        data = str(tmp_path / "empty")
    elif case in ("single", "few", "strict"):
        root = dark_light_folder(tmp_path / "imgs", per_class=3)
        if case == "single":
            for f in (root / "light").iterdir():
                f.unlink()
            (root / "light").rmdir()
        elif case == "few":
            for f in sorted((root / "light").iterdir())[1:]:
                f.unlink()
        else:
            (root / "light" / "text.jpg").write_text("not an image")
            extra = ["--set", "strict=true"]
        data = str(root)
    elif case == "missing":
        data = str(tmp_path / "nowhere")
    res = runner.invoke(app, ["train", "--data", data, "--store", str(tmp_path / "runs"),
                              "--set", f"cache_dir={tmp_path / 'cache'}", *extra])
    assert res.exit_code == 2, res.output
    assert expected in one_line(res.output) and "Traceback" not in res.output
    # refused before any job was written: the store holds no failed train-… job
    assert not (tmp_path / "runs").exists()
