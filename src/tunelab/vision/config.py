"""The built-in image classifier's hyperparameters: one validated dataclass and a default space.

Every hyperparameter has one home, :class:`TrainConfig`, built from the flat ``params`` dict a
trial receives (search values with the static values merged in). Each can be fixed in a spec or
searched::

    train:
      builtin: image-classifier
      data: ./images
      epochs: 20
    search_space:
      learning_rate: {type: float, low: 1.0e-4, high: 0.1, scale: log}

>>> TrainConfig.from_params({"data": "builtin:digits", "learning_rate": 0.01}).learning_rate
0.01
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunelab.errors import SpecError

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "step", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MODELS = ("cnn", "resnet")
ACTIVATIONS = ("relu", "gelu", "silu")

# Keys a spec may carry next to the hyperparameters; they name the objective, not a setting.
_IGNORED_KEYS = frozenset({"builtin"})
#: ``color_jitter: 0.2`` sets brightness, contrast and saturation to 0.2 (``true``: 0.2; hue
#: stays as given: shifting hue changes what a colour means); a mapping sets any of the four.
#: Keys given on their own win over the shorthand.
COLOR_JITTER_KEYS = ("brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of the built-in trainer, with practitioner defaults.

    The defaults are a small-ResNet recipe that holds up on real photos and on small grey data
    alike (measured in ``bench/photo_quality.py``): a CIFAR-style ResNet (width 16, one block per
    stage), SGD with Nesterov momentum, a one-cycle learning rate peaking at 0.1, label smoothing
    0.1, random translation by up to 1/8 of the image, and horizontal flips for colour images.

    Data: ``data`` (folder, .csv manifest or ``builtin:digits``), ``batch_size`` (int or
    ``"auto"``: the largest power of two that fits ``auto_batch_memory_mb`` on CPU or the GPU's
    memory, measured for the model and image size the trial trains), ``epochs``,
    ``validation_percent``, ``image_size`` (None: the data's own, see
    :mod:`tunelab.vision.data`), ``split_seed`` (the same for every trial of a job, so all are
    judged on the same images), ``validation_data`` / ``test_data`` (separate folders or
    manifests with the same classes: validation replaces the split; test is scored once, after
    the last epoch), ``strict`` (fail on an unreadable image instead of skipping it),
    ``train_on_validation`` (a refit: train on the training and validation images together,
    as ``tunelab refit`` does with a tuned configuration; no validation metrics are reported,
    since those images are no longer held out).
    Optimisation: ``optimizer`` (sgd with ``momentum``/``nesterov``, adam, adamw),
    ``learning_rate``, ``lr_schedule`` (constant, step with ``step_epochs``/``gamma``, cosine,
    onecycle), ``warmup_epochs``, ``weight_decay``, ``l1``, ``label_smoothing``, ``precision``
    (``auto``: bf16 autocast on a GPU that has it, else fp16 with a grad scaler; fp32 on CPU).
    Model: ``model`` (cnn or resnet), ``width``, ``depth``, ``dropout``, ``activation``,
    ``pretrained`` (a folder written by ``tunelab export``, or a weights file of the same
    architecture: fine-tuning trains the new head alone for ``head_epochs``, then the whole
    network with the backbone at ``backbone_lr`` times the learning rate).
    Augmentation: ``hflip`` (``auto``: on for colour images, off for grey ones such as digits,
    where a mirror changes the class), ``flip_test`` (score validation and test images as the
    mean of the model on each image and its mirror image, when it trained with flips; doubles
    evaluation time), ``translate`` (random shift by up to this fraction of the
    side, edges reflected), ``random_resized_crop`` with ``crop_scale``/``crop_ratio``,
    ``brightness``, ``contrast``, ``saturation``, ``hue`` (``color_jitter``: a number for the
    first three, or a mapping of any of the four).
    Early stopping: ``early_stop``, ``patience``, ``min_delta`` (on validation loss).
    """

    data: str | None = None
    cache_dir: str | None = None
    batch_size: int | str = 128
    auto_batch_memory_mb: int = 2048
    epochs: int = 10
    validation_percent: float = 20.0
    image_size: int | None = None
    split_seed: int = 0
    validation_data: str | None = None
    test_data: str | None = None
    strict: bool = False
    train_on_validation: bool = False

    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    lr_schedule: str = "onecycle"
    step_epochs: int = 10
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    weight_decay: float = 5e-4
    l1: float = 0.0
    label_smoothing: float = 0.1
    precision: str = "auto"

    model: str = "resnet"
    width: int = 16
    depth: int = 1
    dropout: float = 0.0
    activation: str = "relu"
    pretrained: str | None = None
    head_epochs: float = 1.0
    backbone_lr: float = 0.1

    hflip: bool | str = "auto"
    flip_test: bool = False
    translate: float = 0.125
    random_resized_crop: bool = False
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    early_stop: bool = False
    patience: int = 5
    min_delta: float = 0.0

    @classmethod
    def names(cls) -> list[str]:
        """The hyperparameter names a spec may use (``color_jitter`` is a shorthand)."""
        return [f.name for f in dataclasses.fields(cls)] + ["color_jitter"]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config from a trial's flat ``params`` dict.

        Unknown keys raise :class:`SpecError` naming the key with a "did you mean" suggestion.
        ``early_stop`` may also be a mapping ``{patience: 3, min_delta: 0.001}``.
        """
        if not isinstance(params, Mapping):
            raise SpecError.field("train", "a mapping of hyperparameters", params)
        known = set(cls.names())
        values: dict[str, Any] = {}
        for key, value in params.items():
            if key in _IGNORED_KEYS:
                continue
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = (f"Did you mean `{close[0]}`?" if close
                        else "The names are " + ", ".join(sorted(known)) + ".")
                raise SpecError.field(
                    f"train.{key}", "a hyperparameter of the built-in trainer", key, hint
                )
            values[key] = value
        es = values.get("early_stop")
        if isinstance(es, Mapping):
            values["early_stop"] = True
            for k, v in es.items():
                if k not in ("patience", "min_delta"):
                    raise SpecError.field(
                        f"train.early_stop.{k}", "patience or min_delta", k,
                        "Write early_stop: {patience: 5, min_delta: 0.0}.",
                    )
                values[k] = v
        if "color_jitter" in values:
            cj = values.pop("color_jitter")
            if isinstance(cj, Mapping):
                unknown = [k for k in cj if k not in COLOR_JITTER_KEYS]
                if unknown:
                    raise SpecError.field(
                        f"train.color_jitter.{unknown[0]}", " or ".join(COLOR_JITTER_KEYS),
                        unknown[0], "Write color_jitter: {brightness: 0.2, hue: 0.05}.")
                jitter = dict(cj)
            elif cj is None or cj is False:
                jitter = {}
            else:
                try:
                    amount = 0.2 if cj is True else _coerce("color_jitter_amount", cj)
                except SpecError:
                    amount = -1.0
                if not 0 <= amount <= 1:
                    raise SpecError.field("train.color_jitter", "a number from 0 to 1, true "
                                          "(0.2), or a mapping", cj,
                                          "0 turns it off; 0.2 is a common choice.")
                jitter = dict.fromkeys(COLOR_JITTER_KEYS[:3], amount)
            for k, v in jitter.items():
                values.setdefault(k, v)
        return cls(**{k: _coerce(k, v) for k, v in values.items()})._validated()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (tuples as lists), as stored in checkpoints."""
        d = dataclasses.asdict(self)
        d["crop_scale"] = list(self.crop_scale)
        d["crop_ratio"] = list(self.crop_ratio)
        return d

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and validated."""
        return dataclasses.replace(self, **changes)._validated()

    def _validated(self) -> TrainConfig:
        if self.data is not None and not isinstance(self.data, str):
            raise SpecError.field("train.data", "a folder, a .csv manifest or builtin:digits",
                                  self.data)
        if isinstance(self.batch_size, str):
            if self.batch_size != "auto":
                raise SpecError.field("train.batch_size", "a positive integer or 'auto'",
                                      self.batch_size)
        elif self.batch_size < 1:
            raise SpecError.field("train.batch_size", "a positive integer or 'auto'",
                                  self.batch_size)
        _positive("epochs", self.epochs)
        _positive("auto_batch_memory_mb", self.auto_batch_memory_mb)
        _positive("width", self.width)
        _positive("depth", self.depth)
        _positive("step_epochs", self.step_epochs)
        _positive("patience", self.patience)
        _positive("learning_rate", self.learning_rate)
        if self.image_size is not None and not 4 <= self.image_size <= 1024:
            raise SpecError.field("train.image_size", "an integer from 4 to 1024", self.image_size,
                                  "Leave it out for the data's own size (median shorter side).")
        if not 0 < self.validation_percent < 100:
            raise SpecError.field("train.validation_percent", "between 0 and 100 (exclusive)",
                                  self.validation_percent)
        for name, options in _CHOICES.items():
            _choice(name, getattr(self, name), options)
        if not 0 <= self.translate <= 0.5:
            raise SpecError.field("train.translate", "a fraction from 0 to 0.5", self.translate,
                                  "0 turns it off; 0.125 (4 pixels at 32) is a common choice.")
        for name in ("weight_decay", "l1", "warmup_epochs", "min_delta", "head_epochs",
                     "backbone_lr"):
            if getattr(self, name) < 0:
                raise SpecError.field(f"train.{name}", ">= 0", getattr(self, name))
        for name, hi in (("dropout", 1.0), ("label_smoothing", 1.0), ("momentum", 1.0),
                         ("gamma", 1.0 + 1e-12)):
            v = getattr(self, name)
            if not 0 <= v < hi:
                raise SpecError.field(f"train.{name}", f"in [0, {hi:g})", v)
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) <= 1:
                raise SpecError.field(f"train.{name}", "from 0 to 1", getattr(self, name),
                                      "0 turns it off; 0.2 is a common choice.")
        if not 0 <= self.hue <= 0.5:
            raise SpecError.field("train.hue", "in [0, 0.5]", self.hue)
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise SpecError.field("train.crop_scale", "0 < min <= max <= 1", list(self.crop_scale),
                                  "Give one number (the minimum scale) or [min, max].")
        rlo, rhi = self.crop_ratio
        if not 0 < rlo <= rhi:
            raise SpecError.field("train.crop_ratio", "0 < min <= max", list(self.crop_ratio))
        return self


#: Each field's type, read from the dataclass itself (one home: a new field needs no entry here).
_TYPES: dict[str, str] = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}
#: The fields that are one of a fixed set of words (lower-cased when read).
_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "model": MODELS,
    "activation": ACTIVATIONS, "precision": PRECISIONS}


def _coerce(name: str, value: Any) -> Any:
    """Turn spec values (YAML, CLI ``--set`` strings, searched floats) into the field's type,
    as its annotation says: ``int``, ``float``, ``bool``, ``str``, a ``(min, max)`` tuple;
    ``| None`` admits None and ``| str`` (batch_size, hflip) admits ``auto``."""
    where = f"train.{name}"
    kinds = _TYPES.get(name, "float").split(" | ")  # color_jitter_amount: a float
    base = kinds[0].split("[")[0]
    if value is None and "None" in kinds:
        return None
    if "str" in kinds[1:] and isinstance(value, str) and value.lower() == "auto":
        return "auto"
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no",
                                                        "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        raise SpecError.field(where, "true or false" + (" or auto" if "str" in kinds else ""),
                              value)
    if base == "int":
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise SpecError.field(where, "an integer" + (" or 'auto'" if "str" in kinds else ""),
                                  value) from None
        if isinstance(value, bool) or f != int(f):
            raise SpecError.field(where, "an integer", value)
        return int(f)
    if base == "float":
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise SpecError.field(where, "a number", value) from None
    if base == "tuple":
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                v = float(value)
            except ValueError:
                raise SpecError.field(where, "a number or [min, max]", value) from None
            # One number: the minimum scale, or the largest aspect ratio r (range 1/r..r).
            return (v, 1.0) if name == "crop_scale" else (min(v, 1 / v), max(v, 1 / v))
        if isinstance(value, (list, tuple)) and len(value) == 2:
            try:
                return (float(value[0]), float(value[1]))
            except (TypeError, ValueError):
                pass
        raise SpecError.field(where, "a number or [min, max]", value)
    if name in _CHOICES:
        if not isinstance(value, str):
            raise SpecError.field(where, "a string", value)
        return value.lower()
    return str(value)  # paths: data, cache_dir, pretrained, validation_data, test_data


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise SpecError.field(f"train.{name}", "> 0", value)


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f"Did you mean `{close[0]}`?" if close else ""
        raise SpecError.field(f"train.{name}", f"one of {list(options)}", value, hint)


def default_search_space(*, image_size: int | None = None) -> dict[str, dict[str, Any]]:
    """A spec-style search space around the defaults, for photos and small grey data alike.

    Only what can change between epochs (PBT, the default strategy, copies weights between
    trials, so the architecture stays the default one): the peak learning rate and weight decay
    on log scales around the recipe's 0.1 and 5e-4, regularisation (label smoothing, dropout),
    the amount of translation, flips as a choice (they help photos and hurt digits) and the
    batch size. Images of 64 pixels or more also search the random resized crop.
    """
    space: dict[str, dict[str, Any]] = {
        "learning_rate": {"type": "float", "low": 0.02, "high": 0.4, "scale": "log"},
        "weight_decay": {"type": "float", "low": 5e-5, "high": 5e-3, "scale": "log"},
        "batch_size": {"type": "choice", "values": [64, 128, 256]},
        "label_smoothing": {"type": "float", "low": 0.0, "high": 0.2},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3},
        "translate": {"type": "float", "low": 0.0, "high": 0.25},
        "hflip": {"type": "choice", "values": [False, True]},
    }
    if image_size is not None and image_size >= 64:
        space["random_resized_crop"] = {"type": "choice", "values": [False, True]}
    return space


def default_static_params() -> dict[str, Any]:
    """Static values that go with :func:`default_search_space` (what ``tune --data`` prints):
    the trainer's own defaults, named so the printed spec shows the recipe."""
    d = TrainConfig()
    return {"model": d.model, "width": d.width, "depth": d.depth, "optimizer": d.optimizer,
            "lr_schedule": d.lr_schedule, "epochs": d.epochs}
