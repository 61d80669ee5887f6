"""Diagnosis of learning curves: each verdict, its advice, and the documented thresholds."""

from __future__ import annotations

import math

from tunelab.report.diagnosis import GAP, LOW_ACCURACY, diagnose


def curve(train_acc: list[float], val_acc: list[float], train_loss: list[float] | None = None,
          val_loss: list[float] | None = None) -> list[dict[str, float]]:
    rows = []
    for i, (t, v) in enumerate(zip(train_acc, val_acc, strict=True)):
        row = {"train_accuracy": t, "val_accuracy": v}
        if train_loss:
            row["train_loss"] = train_loss[i]
        if val_loss:
            row["val_loss"] = val_loss[i]
        rows.append(row)
    return rows


def test_overfitting_when_training_accuracy_is_well_above_validation() -> None:
    d = diagnose(curve([0.7, 0.9, 0.99], [0.68, 0.80, 0.82], [1.0, 0.4, 0.05],
                       [1.0, 0.7, 0.9]))
    assert d.kind == "overfitting"
    assert "99.0%" in d.summary and "82.0%" in d.summary
    text = " ".join(d.advice)
    assert "weight_decay" in text and "augmentation" in text
    assert "lowest at step 2" in text


def test_gap_threshold_is_inclusive_and_small_gaps_are_fine() -> None:
    assert diagnose(curve([0.95], [0.95 - GAP])).kind == "overfitting"
    assert diagnose(curve([0.95], [0.95 - GAP + 0.02])).kind == "good_fit"


def test_underfitting_when_both_accuracies_are_low() -> None:
    d = diagnose(curve([0.30, 0.40, 0.50, 0.60], [0.31, 0.41, 0.50, 0.58],
                       [2.0, 1.6, 1.3, 1.0]))
    assert d.kind == "underfitting"
    text = " ".join(d.advice)
    assert "larger model" in text and "Train longer" in text
    assert diagnose(curve([LOW_ACCURACY], [LOW_ACCURACY])).kind == "good_fit"


def test_diverged_on_nan_or_exploding_loss() -> None:
    d = diagnose(curve([0.5, 0.1], [0.5, 0.1], [1.0, math.nan], [1.0, math.nan]))
    assert d.kind == "diverged" and "NaN" in d.summary
    assert any("Lower the learning rate" in a for a in d.advice)
    d = diagnose(curve([0.5, 0.3, 0.1], [0.5, 0.3, 0.1], [1.0, 0.9, 5.0], [1.0, 1.0, 6.0]))
    assert d.kind == "diverged"


def test_good_fit() -> None:
    d = diagnose(curve([0.90, 0.98], [0.89, 0.97], [0.3, 0.1], [0.32, 0.12]))
    assert d.kind == "good_fit" and d.advice == []


def test_percentages_and_short_names_are_understood() -> None:
    rows = [{"train_acc": 99.0, "val_acc": 70.0}]
    assert diagnose(rows).kind == "overfitting"


def test_losses_only() -> None:
    # Validation loss rises 10%+ above its minimum while training loss keeps falling.
    rising = [{"train_loss": t, "val_loss": v} for t, v in
              [(1.0, 1.0), (0.6, 0.7), (0.3, 0.75), (0.1, 0.9)]]
    assert diagnose(rising).kind == "overfitting"
    still = [{"train_loss": t, "val_loss": t * 1.05} for t in (2.0, 1.6, 1.3, 1.0)]
    assert diagnose(still).kind == "underfitting"
    flat = [{"train_loss": t, "val_loss": t} for t in (1.0, 0.5, 0.30, 0.29)]
    assert diagnose(flat).kind == "good_fit"


def test_unknown_without_train_and_validation_metrics() -> None:
    assert diagnose([]).kind == "unknown"
    assert diagnose([{"loss": 0.3}, {"loss": 0.2}]).kind == "unknown"
