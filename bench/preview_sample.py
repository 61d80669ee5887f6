"""The training page's data preview on a large folder: from a random sample against decoding
every image, side by side in one run.

Generates ``--images`` small PNGs (``--classes`` class folders, ``--size`` pixels square) in a
temporary folder, then times ``DataRoot.preview`` with its default sample bound (sizes,
monochrome and thumbnails from a sample, every file counted) and with the bound above the
folder's size (every image decoded into a fresh cache, as the preview of a small folder does).

    .venv/bin/python bench/preview_sample.py [--images 20000] [--classes 10] [--size 32]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path


def make_folder(root: Path, *, images: int, classes: int, size: int) -> None:
    from PIL import Image

    rng = random.Random(0)
    for k in range(classes):
        folder = root / f"class_{k}"
        folder.mkdir(parents=True)
        for i in range(images // classes):
            w, h = size + rng.randint(0, 8), size + rng.randint(0, 8)
            Image.new("RGB", (w, h), (20 * k % 255, rng.randint(0, 255), 90)).save(
                folder / f"{i}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--size", type=int, default=32)
    args = ap.parse_args()

    import tunelab.vision.data  # noqa: F401  (imports torch: not part of either timing)
    from tunelab.server.dataroot import PREVIEW_SAMPLE, DataRoot

    with tempfile.TemporaryDirectory(prefix="tunelab-preview-bench-") as tmp:
        os.environ["TUNELAB_CACHE_DIR"] = str(Path(tmp) / "cache")
        t0 = time.perf_counter()
        make_folder(Path(tmp) / "data" / "big", images=args.images, classes=args.classes,
                    size=args.size)
        print(f"load average {os.getloadavg()[0]:.1f}; generated {args.images} images in "
              f"{time.perf_counter() - t0:.1f} s")
        root = DataRoot(Path(tmp) / "data")
        t0 = time.perf_counter()
        sampled = root.preview("big")
        t_sample = time.perf_counter() - t0
        t0 = time.perf_counter()
        full = root.preview("big", sample=args.images + 1)
        t_full = time.perf_counter() - t0
        print(f"preview from a sample of {sampled['sample']} (bound {PREVIEW_SAMPLE}): "
              f"{t_sample:.2f} s; decoding all {full['images']}: {t_full:.2f} s; "
              f"ratio {t_full / t_sample:.1f}x")
        print(f"sample: image size {sampled['image_size']}, {len(sampled['sizes'])} sizes "
              f"seen; full: image size {full['image_size']}; load average "
              f"{os.getloadavg()[0]:.1f}; cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
