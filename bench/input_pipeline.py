"""Input pipeline: epoch time from the decoded uint8 cache vs a per-sample PIL-decoding DataLoader.

Generates a folder of JPEGs (default 3,000 at 100x100, 10 classes), then in one run, with the
epochs of each pipeline interleaved so machine noise hits all of them alike:

* ``cache``: ``load_image_data`` (decoded once to a memory-mapped uint8 cache) and, per epoch,
  shuffled batches gathered from ``train_x`` and converted with ``to_float`` (normalised float32);
* ``pil-dataloader-wN``: a ``torch.utils.data.DataLoader`` over a ``Dataset`` that opens each JPEG
  with PIL, converts to RGB, resizes (shorter side) and centre-crops to 64, and normalises, with
  N worker processes (persistent), yielding the same batches.

Also reported: the one-off cost of building the cache and of loading it again (a second trial).
With ``--augment`` it times the batch augmentations against kornia.augmentation on the same batch.

    .venv/bin/python bench/input_pipeline.py                 # defaults: 3000 images, 5 epochs
    .venv/bin/python bench/input_pipeline.py --images 500 --epochs 2 --augment
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from tunelab.vision.augment import AugmentConfig, build_augment, to_float
from tunelab.vision.data import load_image_data


def make_jpegs(root: Path, n: int, classes: int, side: int, seed: int = 0) -> None:
    """Smooth random colour images with a class tint, saved as JPEG (quality 90)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        c = i % classes
        low = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        im = Image.fromarray(low).resize((side, side), Image.Resampling.BICUBIC)
        tint = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 256, 3)))
        im = Image.blend(im, tint, 0.3 + 0.05 * c)
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        im.save(folder / f"{i:05d}.jpg", quality=90)


class PilFolder(Dataset[tuple[torch.Tensor, int]]):
    """The per-sample baseline: decode, resize and normalise one JPEG per ``__getitem__``."""

    def __init__(self, files: list[str], labels: list[int], size: int,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.files, self.labels, self.size = files, labels, size
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.files[i]) as raw:
            im = ImageOps.fit(raw.convert("RGB"), (self.size, self.size),
                              method=Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)
        return (x.float() / 255 - self.mean) / self.std, self.labels[i]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--source-size", type=int, default=100)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2],
                    help="DataLoader worker counts for the baseline")
    ap.add_argument("--augment", action="store_true", help="also time augmentation vs kornia")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads for this process (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "jpegs", Path(tmp) / "cache"
        make_jpegs(root, args.images, args.classes, args.source_size)
        build_s = timed(lambda: load_image_data(str(root), image_size=args.size, cache_dir=cache))
        t0 = time.perf_counter()
        data = load_image_data(str(root), image_size=args.size, cache_dir=cache)
        reload_s = time.perf_counter() - t0
        assert data.split_record is not None
        train_files = json.loads(data.split_record.read_text())["train"]
        n = len(data.train_y)

        def cache_epoch() -> None:
            perm = torch.randperm(n)
            for i in range(0, n, args.batch):
                idx = perm[i : i + args.batch]
                to_float(data.train_x[idx], data.mean, data.std)
                data.train_y[idx]

        loaders = {
            f"pil-dataloader-w{w}": DataLoader(
                PilFolder(train_files, data.train_y.tolist(), args.size, data.mean, data.std),
                batch_size=args.batch, shuffle=True, num_workers=w,
                persistent_workers=w > 0,
            )
            for w in args.workers
        }

        def loader_epoch(dl: DataLoader[tuple[torch.Tensor, int]]) -> Callable[[], None]:
            def epoch() -> None:
                for _batch in dl:
                    pass

            return epoch

        runs: dict[str, Callable[[], None]] = {"cache": cache_epoch}
        runs |= {name: loader_epoch(dl) for name, dl in loaders.items()}
        for fn in runs.values():  # warm-up: page cache, worker start-up
            fn()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.epochs):
            for name, fn in runs.items():
                times[name].append(timed(fn))

        print(f"{args.images} JPEGs {args.source_size}x{args.source_size} -> {args.size}, "
              f"{n} training images, batch {args.batch}, torch threads "
              f"{torch.get_num_threads()}, {args.epochs} epochs each (interleaved), "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"cache build (decode once): {build_s:.2f} s; load again (next trial): "
              f"{reload_s * 1000:.1f} ms")
        base = statistics.median(times["cache"])
        print(f"{'pipeline':<22}{'median epoch s':>16}{'images/s':>12}{'vs cache':>10}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:<22}{med:>16.3f}{n / med:>12.0f}{med / base:>9.1f}x")

    if args.augment:
        bench_augment(args.batch)


def bench_augment(batch: int) -> None:
    import kornia.augmentation as K

    print(f"\naugmentation, one batch of {batch} (median of 10 calls, ms): ours vs kornia")
    for c, s in ((1, 8), (3, 32), (3, 64)):
        x = torch.rand(batch, c, s, s)
        jitter = {"brightness": 0.2, "contrast": 0.2,
                  "saturation": 0.2 if c == 3 else 0.0, "hue": 0.05 if c == 3 else 0.0}
        pairs = {
            "hflip": (build_augment(AugmentConfig(hflip=True), c),
                      K.RandomHorizontalFlip(p=0.5)),
            "random_resized_crop": (
                build_augment(AugmentConfig(random_resized_crop=True), c),
                K.RandomResizedCrop((s, s), scale=(0.6, 1.0))),
            "color_jitter": (build_augment(AugmentConfig(**jitter), c),  # type: ignore[arg-type]
                             K.ColorJitter(**jitter)),
        }
        for name, (ours, theirs) in pairs.items():
            res = []
            for fn in (ours, theirs):
                fn(x)
                res.append(statistics.median(timed(partial(fn, x)) for _ in range(10)) * 1e3)
            shape = f"{c}x{s}x{s}"
            print(f"  {shape:<8} {name:<20} ours {res[0]:8.2f}   kornia {res[1]:8.2f}   "
                  f"({res[1] / res[0]:.0f}x)")


if __name__ == "__main__":
    main()
