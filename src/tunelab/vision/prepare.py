"""The data a built-in training job uses, loaded from its config: once per trial by the trainer,
and once per job by the tuner before any trial starts (:func:`describe_data`), so data no trial
could use fails the job with one clear error and the skipped-file count is in the job's events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunelab.errors import ObjectiveError
from tunelab.vision.config import TrainConfig
from tunelab.vision.data import ImageData, load_image_data

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
    cfg = TrainConfig.from_params({k: v for k, v in params.items()
                                   if k in DATA_KEYS})
    data = load_config_data(cfg)
    facts: dict[str, Any] = {
        "source": data.source, "classes": len(data.classes), "image_size": data.image_size,
        "channels": data.channels, "train": len(data.train_y), "validation": len(data.val_y),
        "test": 0 if data.test_y is None else len(data.test_y), "skipped": len(data.skipped),
        "skipped_log": None if data.skipped_log is None else str(data.skipped_log),
    }
    split = (f"validation folder {data.validation}" if data.validation else
             f"{data.validation_percent:g}% stratified validation split, seed {data.split_seed}")
    msg = (f"{data.source}: {len(data.classes)} classes, {data.image_size}x{data.image_size} "
           f"{'grey' if data.channels == 1 else 'colour'}; {facts['train']} training / "
           f"{facts['validation']} validation images ({split})"
           + (f", {facts['test']} test images" if facts["test"] else ""))
    if data.skipped:
        msg += (f"; {len(data.skipped)} unreadable file(s) skipped, listed in "
                f"{data.skipped_log}")
    return msg, facts
