"""The built-in image classifier: data (decoded once into a shared cache) and augmentation."""

from __future__ import annotations
