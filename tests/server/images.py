"""Small generated image folders for the training page's tests: one subfolder per class,
each class a distinct colour (or grey level) with noise, so a tiny model learns it in an epoch."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image


def image_folder(root: Path, *, classes: int = 3, per_class: int = 10, size: int = 12,
                 grey: bool = False, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for k in range(classes):
        folder = root / f"class_{k}"
        folder.mkdir(parents=True, exist_ok=True)
        base = 30 + 180 * k // max(classes - 1, 1)
        for i in range(per_class):
            if grey:
                im = Image.new("L", (size, size), base)
                px = [max(0, min(255, base + rng.randint(-20, 20))) for _ in range(size * size)]
                im.putdata(px)
            else:
                im = Image.new("RGB", (size, size))
                im.putdata([(max(0, min(255, base + rng.randint(-20, 20))), 255 - base, 60)
                            for _ in range(size * size)])
            im.save(folder / f"{i}.png")
    return root
