"""The trainer's defaults for photos and small grey data (issue 18): one-cycle learning rate,
translation, flips for colour only, precision, batch sizes fitted per trial, the default
`tune --data` spec sized to its budget, and the training probe behind `plan`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tunelab.errors import SpecError
from tunelab.executors.base import Checkpoint
from tunelab.objectives.context import TrialContext
from tunelab.trial import Decision
from tunelab.vision import commands
from tunelab.vision.augment import AugmentConfig, _translate, build_augment
from tunelab.vision.batch_size import MIN_BATCH, estimate_cpu_batch_size, fit_batch_size
from tunelab.vision.budget import MAX_EPOCH_FACTOR, MAX_POPULATION, MIN_POPULATION
from tunelab.vision.config import TrainConfig
from tunelab.vision.models import build_model
from tunelab.vision.probe import estimate_job, probe_training
from tunelab.vision.train import lr_at, resolve_hflip, resolve_precision, train


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cache"))


def _ctx(tmp: Path, rows: list[dict[str, float]]) -> TrialContext:
    def rec(step: int, metrics: dict[str, float], ck: Checkpoint | None) -> Decision:
        rows.append(metrics)
        return Decision.cont()

    return TrialContext(params={}, number=0, checkpoint_dir=tmp, seed=0, restore_from=None,
                        restore_step=None, reporter=rec)


def test_the_defaults_are_the_photo_recipe() -> None:
    d = TrainConfig()
    assert (d.model, d.width, d.depth, d.optimizer, d.nesterov, d.lr_schedule) == (
        "resnet", 16, 1, "sgd", True, "onecycle")
    assert (d.learning_rate, d.label_smoothing, d.translate, d.hflip) == (0.1, 0.1, 0.125, "auto")


def test_onecycle_rises_to_the_peak_then_falls_to_almost_zero() -> None:
    c = TrainConfig(learning_rate=0.1, epochs=8, lr_schedule="onecycle")
    assert lr_at(0.0, c) == pytest.approx(0.1 / 25)
    assert lr_at(1.0, c) == pytest.approx(0.1 / 25 + (0.1 - 0.1 / 25) / 2)  # halfway up
    assert lr_at(2.0, c) == pytest.approx(0.1)  # peak at 25 % of the epochs
    assert lr_at(5.0, c) == pytest.approx(0.1 / 25e4 + (0.1 - 0.1 / 25e4) / 2)  # cosine middle
    assert lr_at(8.0, c) == pytest.approx(0.1 / 25e4)
    assert lr_at(1.0, c.replace(warmup_epochs=1.0)) == pytest.approx(0.1)  # peak moved


def test_translate_shifts_each_image_by_whole_pixels_reflecting_the_edge() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 3, 16, 16)
    out = _translate(x, 0.125)  # up to 2 pixels
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    shifts = set()
    for i in range(len(x)):
        match = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy:dy + 16, dx:dx + 16])]
        assert match, f"image {i} is not a shifted copy"
        shifts.add(match[0])
    assert len(shifts) > 10  # each image draws its own shift
    assert torch.equal(_translate(x, 0.0), x)


def test_translate_is_validated_and_applied_by_build_augment() -> None:
    with pytest.raises(SpecError, match="translate"):
        TrainConfig.from_params({"translate": 0.7})
    torch.manual_seed(1)
    x = torch.rand(8, 1, 8, 8)
    assert not torch.equal(build_augment(AugmentConfig(translate=0.25), 1)(x), x)


def test_hflip_auto_flips_colour_images_and_not_grey_ones() -> None:
    auto = TrainConfig.from_params({"hflip": "auto"})
    assert resolve_hflip(auto, 3) is True and resolve_hflip(auto, 1) is False
    assert resolve_hflip(TrainConfig.from_params({"hflip": "false"}), 3) is False
    assert resolve_hflip(TrainConfig.from_params({"hflip": True}), 1) is True
    with pytest.raises(SpecError, match="true or false or auto"):
        TrainConfig.from_params({"hflip": "sometimes"})


def test_precision_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    with caplog.at_level(logging.WARNING, logger="tunelab.vision.train"):
        assert resolve_precision("fp16", cpu) == "fp32"
    assert any("fp16 needs a GPU" in r.getMessage() for r in caplog.records)
    with pytest.raises(SpecError, match="precision"):
        TrainConfig.from_params({"precision": "fp8"})


def test_bf16_autocast_trains_on_the_cpu(tmp_path: Path, cache: str) -> None:
    rows: list[dict[str, float]] = []
    train({"data": "builtin:digits", "cache_dir": cache, "epochs": 1, "precision": "bf16",
           "batch_size": 64}, _ctx(tmp_path, rows))
    assert rows and 0 < rows[-1]["train_loss"] < 10 and 0 <= rows[-1]["val_accuracy"] <= 1


def test_the_defaults_still_learn_small_grey_digits(tmp_path: Path, cache: str) -> None:
    rows: list[dict[str, float]] = []
    train({"data": "builtin:digits", "cache_dir": cache, "epochs": 6}, _ctx(tmp_path, rows))
    assert rows[-1]["val_accuracy"] > 0.9


def _resnet() -> nn.Module:
    return build_model("resnet", in_channels=3, num_classes=10, image_size=32, width=16, depth=1)


def test_a_fixed_batch_that_does_not_fit_its_model_is_lowered_with_the_reason() -> None:
    bs, why = fit_batch_size(4096, _resnet, (3, 32, 32), 10, device=torch.device("cpu"),
                             n_train=10_000, memory_mb=1, what="resnet width 16 depth 1")
    assert bs == MIN_BATCH
    assert why is not None and "4096 lowered to 2" in why and "resnet width 16 depth 1" in why
    assert fit_batch_size(64, _resnet, (3, 32, 32), 10, device=torch.device("cpu"),
                          n_train=10_000, memory_mb=2048) == (64, None)


def test_auto_batch_is_measured_for_the_trials_model_and_size() -> None:
    def big() -> nn.Module:
        return build_model("resnet", in_channels=3, num_classes=10, image_size=64, width=64,
                           depth=3)

    small, why = fit_batch_size("auto", _resnet, (3, 32, 32), 10, device=torch.device("cpu"),
                                n_train=100_000, memory_mb=256, what="small")
    large, _ = fit_batch_size("auto", big, (3, 64, 64), 10, device=torch.device("cpu"),
                              n_train=100_000, memory_mb=256, what="big")
    assert small > large
    assert why is not None and "small at 3x32x32" in why


def test_the_trainer_announces_a_lowered_batch(tmp_path: Path, cache: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    rows: list[dict[str, float]] = []
    model = build_model("resnet", in_channels=1, num_classes=10, image_size=8, width=16, depth=1)
    fits = estimate_cpu_batch_size(model, (1, 8, 8), memory_mb=8)
    assert 2 < fits < 1024
    with caplog.at_level(logging.WARNING, logger="tunelab.vision.train"):
        train({"data": "builtin:digits", "cache_dir": cache, "epochs": 1, "batch_size": 1024,
               "auto_batch_memory_mb": 8}, _ctx(tmp_path, rows))
    notices = [r.getMessage() for r in caplog.records if "lowered" in r.getMessage()]
    assert notices and f"1024 lowered to {fits}" in notices[0]
    assert "resnet width 16 depth 1 at 1x8x8" in notices[0]
    assert rows


def test_default_tune_spec_is_sized_to_its_budget(cache: str, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    from tunelab.spec import spec_from_dict

    said: list[str] = []
    tight = commands.default_image_spec("builtin:digits", name="d", cache_dir=cache,
                                        budget_seconds=1, notify=said.append)
    assert tight["limits"]["max_trials"] >= MIN_POPULATION == 2
    assert tight["limits"]["max_runtime"] == 1.0 and "max_parallel" not in tight["limits"]
    assert said and said[-1].startswith("budget 0.0166667 min: a trial of ")
    # not even two full trials fit in a second: the members train fewer epochs, so their
    # one-cycle schedule ends inside the budget instead of being cut at its peak
    assert tight["train"]["epochs"] < 10 and "so its learning-rate schedule ends" in said[-1]
    assert tight["strategy"]["perturbation_interval"] == max(1, tight["train"]["epochs"] // 5)
    # epochs the user asked for are kept, and the notice says the budget will cut them
    said.clear()
    kept = commands.default_image_spec("builtin:digits", name="d", cache_dir=cache,
                                       budget_seconds=1, epochs=12, notify=said.append)
    assert kept["train"]["epochs"] == 12 and "will cut them before their 12 epochs" in said[-1]
    # a roomy budget buys the longest schedule, the largest population and a refit, whose
    # time is taken off the search's max_runtime
    said.clear()
    roomy = commands.default_image_spec("builtin:digits", name="d", cache_dir=cache,
                                        budget_seconds=10**7, notify=said.append)
    assert roomy["strategy"]["population"] == MAX_POPULATION
    assert roomy["train"]["epochs"] == MAX_EPOCH_FACTOR * 10 and roomy["refit"] is True
    assert 10**7 * 0.99 < roomy["limits"]["max_runtime"] < 10**7
    assert "then about" in said[-1] and "on all 1,797 images (refit)" in said[-1]
    no_refit = commands.default_image_spec("builtin:digits", name="d", cache_dir=cache,
                                           budget_seconds=10**7, refit=False)
    assert "refit" not in no_refit
    assert no_refit["limits"]["max_runtime"] > roomy["limits"]["max_runtime"]
    given = commands.default_image_spec("builtin:digits", name="d", cache_dir=cache,
                                        max_trials=5)
    assert given["limits"]["max_trials"] == 5
    js = spec_from_dict(roomy)
    js.validate_all()
    assert js.static_params()["model"] == "resnet"

    # a batch that does not fit is capped for the model the trials train, and said
    monkeypatch.setattr(commands, "default_static_params",
                        lambda: {"epochs": 2, "auto_batch_memory_mb": 1})
    said.clear()
    capped = commands.default_image_spec("builtin:digits", name="d", cache_dir=cache,
                                         max_trials=4, notify=said.append)
    assert capped["search_space"]["batch_size"]["values"] == [2]
    assert any("capped at 2" in m and "resnet width 16 depth 1 at 1x8x8" in m for m in said)


def test_probe_and_device_hours_estimate(cache: str) -> None:
    probe = probe_training(TrainConfig(batch_size=16), channels=1, num_classes=10, image_size=8,
                           steps=1, warmup=1)
    assert probe.device_name == "CPU" and probe.seconds_per_image > 0
    assert probe.epoch_seconds(100, 0) == pytest.approx(100 * probe.seconds_per_image)
    est = estimate_job({"data": "builtin:digits", "cache_dir": cache, "epochs": 3,
                        "batch_size": 16}, trials=4)
    assert est.trials == 4 and est.epochs == 3 and est.device_hours > 0
    assert est.describe().startswith("about ") and "on CPU (4 trials x 3 epochs" in est.describe()


def test_plan_prints_the_slot_layout_and_a_device_hours_estimate(tmp_path: Path, cache: str
                                                                  ) -> None:
    import yaml
    from typer.testing import CliRunner

    from tunelab.cli import app

    spec: dict[str, Any] = {
        "name": "p", "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "train": {"builtin": "image-classifier", "data": "builtin:digits", "cache_dir": cache,
                  "epochs": 2},
        "search_space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1}},
        "limits": {"max_trials": 3, "max_parallel": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(app, ["plan", str(path), "--gpus", "none"])
    assert res.exit_code == 0, res.output
    assert "slots: 2 slots on the CPU" in res.output
    assert "device-hours on CPU (3 trials x 2 epochs" in res.output


def test_flip_test_scores_the_mean_of_each_image_and_its_mirror() -> None:
    from tunelab.vision.train import evaluate_split

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    x = torch.randint(0, 256, (20, 3, 4, 4), dtype=torch.uint8)
    y = torch.randint(0, 3, (20,))
    mean, std = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    xf = x.float() / 255
    logits = (model(xf) + model(xf.flip(3))) / 2
    loss, acc = evaluate_split(model, x, y, mean, std, torch.device("cpu"), flip=True)
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert acc == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    plain_loss, _ = evaluate_split(model, x, y, mean, std, torch.device("cpu"))
    assert plain_loss != pytest.approx(loss)
    assert TrainConfig.from_params({"flip_test": "true"}).flip_test is True


def test_fine_tuning_trains_the_head_first_then_the_backbone_slower() -> None:
    from tunelab.vision.train import lr_scales

    assert lr_scales(TrainConfig(), 0.5) == (1.0, 1.0)
    tuned = TrainConfig(pretrained="w.pt", head_epochs=1.0, backbone_lr=0.2)
    assert lr_scales(tuned, 0.5) == (0.0, 1.0)
    assert lr_scales(tuned, 1.5) == (0.2, 1.0)
    with pytest.raises(SpecError, match="backbone_lr"):
        TrainConfig.from_params({"backbone_lr": -1})


def test_pretrained_backbone_is_still_during_the_head_epochs(tmp_path: Path, cache: str) -> None:
    params = {"data": "builtin:digits", "cache_dir": cache, "epochs": 2, "batch_size": 128}
    src = build_model("resnet", in_channels=1, num_classes=10, image_size=8, width=16, depth=1)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    rows: list[dict[str, float]] = []
    train({**params, "pretrained": str(tmp_path / "w.pt"), "head_epochs": 1},
          _ctx(tmp_path / "run", rows))
    first, second = (torch.load(sorted((tmp_path / "run").glob("*.pt"))[i], weights_only=True)
                     ["model"] for i in (0, 1))
    conv = "stem.0.weight"
    assert torch.equal(first[conv], src.state_dict()[conv])  # backbone still in epoch 1
    assert not torch.equal(first["head.weight"], src.state_dict()["head.weight"])
    assert not torch.equal(second[conv], first[conv])  # then the whole network learns


def test_pretrained_from_a_tunelab_export_folder(tmp_path: Path) -> None:
    from tunelab.vision.models import load_pretrained

    src = build_model("resnet", in_channels=3, num_classes=4, image_size=16, width=8, depth=1)
    (tmp_path / "export").mkdir()
    torch.jit.trace(src.eval(), torch.zeros(1, 3, 16, 16)).save(str(tmp_path / "export/model.pt"))  # type: ignore[no-untyped-call]
    dst = build_model("resnet", in_channels=3, num_classes=7, image_size=16, width=8, depth=1)
    rep = load_pretrained(dst, tmp_path / "export")
    assert rep.skipped_head == ["head.weight", "head.bias"]
    assert torch.equal(dst.state_dict()["stem.0.weight"], src.state_dict()["stem.0.weight"])
