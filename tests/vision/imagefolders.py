"""Small generated image folders for the image tests (no data set is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def dark_light_folder(root: Path, per_class: int = 8) -> Path:
    """Two classes of 10x10 colour PNGs, ``dark`` and ``light`` (easy to tell apart)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            value = 40 + 170 * k
            arr = np.clip(value + rng.integers(-15, 15, (10, 10, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr, "RGB").save(root / name / f"{i}.png")
    return root


def one_line(output: str) -> str:
    """Command output with rich's line wrapping undone."""
    return " ".join(output.split())
