"""The built-in image classifier: data decoded once into a shared cache, batch augmentation.

Example:
    >>> from tunelab.vision import AugmentConfig, build_augment, load_image_data
    >>> data = load_image_data("builtin:digits")  # doctest: +SKIP
    >>> augment = build_augment(AugmentConfig(hflip=True), data.channels)  # doctest: +SKIP

The names below are loaded on first use (PEP 562): importing ``tunelab.vision.config`` or
``tunelab.vision.commands`` (every CLI start) must not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.vision.augment import AugmentConfig, build_augment, normalize, to_float
    from tunelab.vision.data import ImageData, load_image_data, stratified_split

_LAZY = {
    "AugmentConfig": "tunelab.vision.augment",
    "build_augment": "tunelab.vision.augment",
    "normalize": "tunelab.vision.augment",
    "to_float": "tunelab.vision.augment",
    "ImageData": "tunelab.vision.data",
    "load_image_data": "tunelab.vision.data",
    "stratified_split": "tunelab.vision.data",
}

__all__ = [
    "AugmentConfig",
    "ImageData",
    "build_augment",
    "load_image_data",
    "normalize",
    "stratified_split",
    "to_float",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tunelab.vision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
