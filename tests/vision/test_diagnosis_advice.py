"""The advice `tunelab show` gives with a diagnosis fits the numbers it was given."""

from __future__ import annotations

from tunelab.report.diagnosis import diagnose


def _steps(train_acc: list[float], val_acc: list[float], val_loss: list[float]
           ) -> list[dict[str, float]]:
    return [{"train_accuracy": t, "val_accuracy": v, "val_loss": vl, "train_loss": 1.0 / (i + 1)}
            for i, (t, v, vl) in enumerate(zip(train_acc, val_acc, val_loss, strict=True))]


def test_no_stop_earlier_advice_when_validation_loss_is_lowest_at_the_last_step() -> None:
    d = diagnose(_steps([0.7, 0.85, 0.99], [0.6, 0.7, 0.8], [1.0, 0.8, 0.6]))
    assert d.kind == "overfitting"
    assert not any("Stop earlier" in a for a in d.advice), d.advice
    assert any("regularisation" in a for a in d.advice)


def test_stop_earlier_advice_names_the_step_with_the_lowest_validation_loss() -> None:
    d = diagnose(_steps([0.7, 0.9, 0.99], [0.7, 0.8, 0.75], [0.9, 0.5, 0.7]))
    assert d.kind == "overfitting"
    assert any("lowest at step 2 of 3" in a for a in d.advice), d.advice


def test_a_resnet_trial_is_not_told_to_use_resnet() -> None:
    low = _steps([0.5, 0.55, 0.6, 0.6, 0.62], [0.5, 0.5, 0.55, 0.55, 0.56], [1.0] * 5)
    d = diagnose(low, params={"model": "resnet", "width": 32})
    assert d.kind == "underfitting"
    assert not any("model: resnet" in a for a in d.advice), d.advice
    assert any("model: resnet" in a for a in diagnose(low, params={"model": "cnn"}).advice)


def test_a_one_epoch_run_is_told_to_train_longer() -> None:
    d = diagnose(_steps([0.4], [0.45], [1.2]), params={"epochs": 1})
    assert d.kind == "underfitting"
    assert d.advice[0].startswith("Train longer: only 1 epoch ran"), d.advice
