"""Does a trial overfit, underfit or diverge? A verdict from its learning curves, with advice.

Works for any trial that reports a training and a validation metric per step: accuracies
(``train_accuracy``/``val_accuracy``, or ``train_acc``/``val_acc``; fractions or percentages)
and/or losses (``train_loss``/``val_loss``). The rules, checked in this order:

* **diverged** — a reported loss is NaN or infinite, or the last training loss is above
  ``DIVERGE_RATIO`` (1.5) times the first one and above ``DIVERGE_RATIO`` times its minimum.
* **overfitting** — at the last step training accuracy exceeds validation accuracy by at least
  ``GAP`` (0.10, i.e. 10 points), or validation loss rose ``VAL_RISE`` (10 %) above its minimum
  while training loss kept falling.
* **underfitting** — training and validation accuracy are both below ``LOW_ACCURACY`` (0.80);
  or, with losses only, training loss fell by more than ``STILL_LEARNING`` (10 %) over the last
  quarter of the steps (the model was still learning when it stopped).
* **good_fit** — none of the above; **unknown** — no train/validation pair was reported.

>>> diagnose([{"train_accuracy": 0.99, "val_accuracy": 0.80}]).kind
'overfitting'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["overfitting", "underfitting", "diverged", "good_fit", "unknown"]

GAP = 0.10
LOW_ACCURACY = 0.80
VAL_RISE = 0.10
DIVERGE_RATIO = 1.5
STILL_LEARNING = 0.10

_ACC_NAMES = (("train_accuracy", "val_accuracy"), ("train_acc", "val_acc"))
_LOSS_NAMES = ("train_loss", "val_loss")


@dataclass(frozen=True)
class Diagnosis:
    """A verdict (``kind``), a one-line ``summary`` with the numbers, and ``advice``."""

    kind: Kind
    summary: str
    advice: list[str] = field(default_factory=list)


def _series(steps: Sequence[Mapping[str, float]], name: str) -> list[float]:
    return [float(m[name]) for m in steps if name in m and m[name] is not None]


def _accuracy(values: list[float]) -> list[float]:
    # Percentages (any value above 1) become fractions, so thresholds read the same.
    return [v / 100.0 for v in values] if any(v > 1.0 for v in values) else values


SHORT_RUN = 3  # epochs: fewer is too short a run to learn much or to judge a trend


def diagnose(metrics_by_step: Sequence[Mapping[str, float]], *,
             params: Mapping[str, Any] | None = None) -> Diagnosis:
    """Diagnose one trial from its reported metrics, one mapping per step in report order.

    ``params`` (the trial's hyperparameters, static ones included) keeps the advice to what
    the trial did not already do: no ``model: resnet`` for a ResNet."""
    tr_loss, va_loss = (_series(metrics_by_step, n) for n in _LOSS_NAMES)
    tr_acc: list[float] = []
    va_acc: list[float] = []
    for t_name, v_name in _ACC_NAMES:
        tr_acc, va_acc = _series(metrics_by_step, t_name), _series(metrics_by_step, v_name)
        if tr_acc and va_acc:
            tr_acc, va_acc = _accuracy(tr_acc), _accuracy(va_acc)
            break

    bad = [v for v in tr_loss + va_loss + tr_acc + va_acc if not math.isfinite(v)]
    if bad or (len(tr_loss) >= 2 and tr_loss[-1] > DIVERGE_RATIO * tr_loss[0]
               and tr_loss[-1] > DIVERGE_RATIO * min(tr_loss)):
        where = "a loss became NaN/inf" if bad else (
            f"training loss rose from {tr_loss[0]:.3g} to {tr_loss[-1]:.3g}")
        return Diagnosis("diverged", f"Diverged: {where}.", [
            "Lower the learning rate (try a tenth of it).",
            "Add a learning-rate warm-up (warmup_epochs: 1-2) or use adamw.",
            "Check the inputs and labels for bad values if a lower learning rate does not help.",
        ])

    if tr_acc and va_acc:
        t, v = tr_acc[-1], va_acc[-1]
        numbers = f"training accuracy {t:.1%}, validation {v:.1%}"
        if t - v >= GAP - 1e-9:  # tolerance: 0.95 - 0.85 is 0.0999... in floating point
            return _overfit(f"Overfits: {numbers} (a gap of {t - v:.1%}).", va_loss)
        if t < LOW_ACCURACY and v < LOW_ACCURACY:
            return _underfit(f"Underfits: {numbers}, both low.", tr_loss,
                             len(metrics_by_step), params or {})
    if len(va_loss) >= 2 and len(tr_loss) >= 2:
        best = min(range(len(va_loss)), key=va_loss.__getitem__)
        if (va_loss[-1] > (1 + VAL_RISE) * va_loss[best] and best < len(va_loss) - 1
                and tr_loss[-1] < tr_loss[min(best, len(tr_loss) - 1)]):
            return _overfit(
                f"Overfits: validation loss rose from {va_loss[best]:.3g} (step {best + 1}) to "
                f"{va_loss[-1]:.3g} while training loss kept falling.", va_loss)
    if not (tr_acc and va_acc) and _still_learning(tr_loss):
        return _underfit(
            f"Underfits: training loss was still falling at the end ({tr_loss[-1]:.3g}).", tr_loss,
            len(metrics_by_step), params or {})
    if tr_acc and va_acc:
        return Diagnosis("good_fit", f"Good fit: training accuracy {tr_acc[-1]:.1%}, "
                         f"validation {va_acc[-1]:.1%}.", [])
    if tr_loss and va_loss:
        return Diagnosis("good_fit", f"Good fit: training loss {tr_loss[-1]:.3g}, validation "
                         f"{va_loss[-1]:.3g}.", [])
    return Diagnosis("unknown", "No diagnosis: the trial reported no training and validation "
                     "metrics (train_accuracy/val_accuracy or train_loss/val_loss).", [])


def _still_learning(tr_loss: list[float]) -> bool:
    if len(tr_loss) < 4:
        return False
    k = max(len(tr_loss) // 4, 1)
    before = tr_loss[-k - 1]
    return before > 0 and (before - tr_loss[-1]) / before > STILL_LEARNING


def _overfit(summary: str, va_loss: list[float]) -> Diagnosis:
    advice = [
        "Add regularisation: raise weight_decay (e.g. 3x) or dropout (0.2-0.5).",
        "Add augmentation: hflip (if mirror images are still the same class), "
        "random_resized_crop, color_jitter.",
    ]
    if len(va_loss) >= 2:
        best = min(range(len(va_loss)), key=va_loss.__getitem__) + 1
        if best < len(va_loss):  # lowest at the last step: stopping earlier would not help
            advice.append(f"Stop earlier: validation loss was lowest at step {best} of "
                          f"{len(va_loss)}; set early_stop (patience 3-5) or fewer epochs.")
    advice.append("More training data, or transfer learning from pretrained weights, helps most.")
    return Diagnosis("overfitting", summary, advice)


def _underfit(summary: str, tr_loss: list[float], steps: int,
              params: Mapping[str, Any]) -> Diagnosis:
    advice: list[str] = []
    if steps <= SHORT_RUN:
        advice.append(f"Train longer: only {steps} epoch{'s' if steps != 1 else ''} ran, too "
                      "few to learn much; try epochs: 10 or more.")
    elif _still_learning(tr_loss):
        advice.append("Train longer (more epochs): the training loss was still falling.")
    advice.append("Use a larger model: more width or depth." if params.get("model") == "resnet"
                  else "Use a larger model: more width or depth, or model: resnet.")
    advice += [
        "Tune the learning rate: too low learns slowly, too high stalls; search it on a log scale.",
        "Reduce regularisation (weight_decay, dropout, label_smoothing, augmentation).",
    ]
    return Diagnosis("underfitting", summary, advice)
