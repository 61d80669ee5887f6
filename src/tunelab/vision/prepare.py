"""The data a built-in training job uses, loaded from its config: once per trial by the trainer,
and once per job by the tuner before any trial starts (:func:`describe_data`), so data no trial
could use fails the job with one clear error and the skipped-file count is in the job's events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import ObjectiveError, SpecError
from tunelab.vision.config import TrainConfig
from tunelab.vision.data import ImageData, load_image_data, shared_content

#: Hyperparameters that decide which images a trial sees (the rest only change training).
DATA_KEYS = frozenset({"data", "cache_dir", "validation_percent", "image_size", "split_seed",
                       "validation_data", "test_data", "strict"})


def load_config_data(cfg: TrainConfig, *, warn_skipped: bool = True) -> ImageData:
    """The data set a config trains on: decoded once into the shared cache, split by
    ``split_seed`` (or the ``validation_data`` folder), with the optional ``test_data``."""
    if not cfg.data:
        raise ObjectiveError("The built-in trainer needs `data:` (a folder, a .csv manifest or "
                             "builtin:digits); got none. Add `data: ./images` to `train:`.")
    return load_image_data(cfg.data, image_size=cfg.image_size,
                           validation_percent=cfg.validation_percent, seed=cfg.split_seed,
                           cache_dir=cfg.cache_dir, strict=cfg.strict,
                           validation=cfg.validation_data, test=cfg.test_data,
                           warn_skipped=warn_skipped)


def describe_data(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Load the data of a job's static hyperparameters once, before any trial: it fills the
    cache, raises :class:`~tunelab.errors.DataError` for data no trial could use (an empty
    folder, one class, an unreadable image with ``strict``), and returns a one-line summary
    and its facts (the skipped-file count and the log naming them) for the job's events."""
    full = TrainConfig.from_params(params)  # a typo or bad value fails the job, not each trial
    if full.pretrained:
        check_pretrained_file(full.pretrained)
    cfg = TrainConfig.from_params({k: v for k, v in params.items()
                                   if k in DATA_KEYS})
    data = load_config_data(cfg)
    shared = shared_content(data)
    facts: dict[str, Any] = {
        "source": data.source, "classes": len(data.classes), "image_size": data.image_size,
        "channels": data.channels, "train": len(data.train_y), "validation": len(data.val_y),
        "test": 0 if data.test_y is None else len(data.test_y), "skipped": len(data.skipped),
        "skipped_log": None if data.skipped_log is None else str(data.skipped_log),
        "links_skipped": [e.replace("\t", ": ") for e in data.excluded],
        "validation_same_as_training": shared,
    }
    split = (f"validation folder {data.validation}" if data.validation else
             f"{data.validation_percent:g}% stratified validation split, seed {data.split_seed}")
    images = (f"{facts['train']} training / {facts['validation']} validation images ({split})"
              if not full.train_on_validation else
              f"{facts['train'] + facts['validation']} training images (a refit: the "
              f"{facts['validation']} validation images train too, none is held out)")
    msg = (f"{data.source}: {len(data.classes)} classes, {data.image_size}x{data.image_size} "
           f"{'grey' if data.channels == 1 else 'colour'}; {images}"
           + (f", {facts['test']} test images" if facts["test"] else ""))
    if data.skipped:
        msg += (f"; {len(data.skipped)} unreadable file(s) skipped, listed in "
                f"{data.skipped_log}")
    if data.excluded:
        first = data.excluded[0].replace("\t", ": ")
        msg += f"; {len(data.excluded)} link(s) not followed (e.g. {first})"
    if shared:
        msg += (f"; {shared} validation image(s) have the same file content as a training "
                "image, which inflates validation scores: remove the copies")
    return msg, facts


def check_hyperparameters(static: Mapping[str, Any],
                          search_space: Mapping[str, Mapping[str, Any]]) -> None:
    """Check a built-in job's hyperparameters before anything runs: every static value, every
    searched name, and each end of each searched range (every value of a choice).

    Raises :class:`~tunelab.errors.SpecError` naming the first bad key, with a "did you mean"
    for a typo, so a job whose every trial would fail the same way never starts.

    >>> check_hyperparameters({"epochs": 2}, {"learning_rat": {"type": "float", "low": 0.1,
    ...                                                         "high": 1}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tunelab.errors.SpecError: `search_space.learning_rat` must be ... `learning_rate`?
    """
    TrainConfig.from_params(static)
    for name, param in search_space.items():
        values = [*param.get("values", []), *(param[k] for k in ("low", "high") if k in param)]
        try:
            if name not in TrainConfig.names():
                TrainConfig.from_params({name: None})  # raises, with a "did you mean"
            for value in values:
                TrainConfig.from_params({**static, name: value})
                if name == "pretrained" and value:
                    check_pretrained_file(str(value))
        except SpecError as e:
            text = str(e)
            where = f"`train.{name}"
            raise SpecError(text.replace(where, f"`search_space.{name}", 1) if where in text
                            else f"search_space.{name}: {text}") from None
    if static.get("pretrained"):
        check_pretrained_file(str(static["pretrained"]))


def check_pretrained_file(path: str) -> None:
    """``pretrained:`` names a readable local weights file (shapes are checked per trial,
    against the model each trial builds)."""
    from pathlib import Path

    p = Path(path).expanduser()
    if not (p.is_file() or (p / "model.pt").is_file()):
        raise SpecError.field("train.pretrained", "a local weights file", path,
                              "Give a folder written by `tunelab export`, a .pt state_dict or a "
                              "tunelab checkpoint.")


def _largest(param: Mapping[str, Any] | None, fixed: Any) -> Any:
    """The largest value a searched parameter can take (``fixed`` when it is not searched)."""
    if not param:
        return fixed
    values = [v for v in param.get("values", []) if isinstance(v, int | float)
              and not isinstance(v, bool)]
    if "high" in param:
        values.append(param["high"])
    return max(values) if values else fixed


def batch_size_limit(static: Mapping[str, Any],
                     search_space: Mapping[str, Mapping[str, Any]], *,
                     memory: bool = True) -> int:
    """The largest power-of-two batch that fits for the largest model a job can build (what
    ``batch_size: auto`` would pick for it), to cap a searched ``batch_size`` range.

    On a GPU this probes real passes; on CPU it estimates against ``auto_batch_memory_mb``.
    With ``memory=False`` only the training set's size caps it (when the model is searched,
    each trial fits the batch to its own model instead).
    """
    import torch

    from tunelab.vision.batch_size import MIN_BATCH, auto_batch_size, largest_power_of_two
    from tunelab.vision.models import make_model

    cfg = TrainConfig.from_params(static)
    data = load_config_data(TrainConfig.from_params(
        {k: v for k, v in static.items() if k in DATA_KEYS}), warn_skipped=False)
    if not memory:
        return largest_power_of_two(max(len(data.train_y), MIN_BATCH))
    models = search_space.get("model", {}).get("values", [cfg.model])
    largest = cfg.replace(
        model="resnet" if "resnet" in models else cfg.model,
        width=int(_largest(search_space.get("width"), cfg.width)),
        depth=int(_largest(search_space.get("depth"), cfg.depth)))
    size = int(_largest(search_space.get("image_size"), data.image_size))
    return auto_batch_size(
        lambda: make_model(largest, data.channels, len(data.classes), size),
        (data.channels, size, size), len(data.classes),
        device=torch.device("cuda" if torch.cuda.is_available() else "cpu"),
        n_train=len(data.train_y), memory_mb=cfg.auto_batch_memory_mb)
