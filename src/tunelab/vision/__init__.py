"""The built-in image classifier: data decoded once into a shared cache, batch augmentation.

Example:
    >>> from tunelab.vision import AugmentConfig, build_augment, load_image_data
    >>> data = load_image_data("builtin:digits")  # doctest: +SKIP
    >>> augment = build_augment(AugmentConfig(hflip=True), data.channels)  # doctest: +SKIP
"""

from __future__ import annotations

from tunelab.vision.augment import AugmentConfig, build_augment, normalize, to_float
from tunelab.vision.data import ImageData, load_image_data, stratified_split

__all__ = [
    "AugmentConfig",
    "ImageData",
    "build_augment",
    "load_image_data",
    "normalize",
    "stratified_split",
    "to_float",
]
