"""Trainer overhead: the built-in trainer's epoch against a minimal hand-written PyTorch loop.

Both use the same model, optimizer, batch size and batched augmentation on the same cached uint8
tensors (``load_image_data``), on the same threads, interleaved round by round so machine noise
hits both alike. Printed per setting:

* train-loop ratio: trainer images/s (its own ``images_per_second``: the training steps only)
  over the hand loop's images/s;
* whole-epoch ratio: hand-loop epoch time over the trainer's ``epoch_seconds``, which also holds
  the validation pass, the checkpoint write and the report (harsher: the hand loop does none).

    .venv/bin/python bench/trainer_overhead.py [--rounds 8] [--epochs 2] [--threads 2]

``--photos`` measures at photo sizes instead (issue 18: at 64 and 100 px): a CIFAR-10 subset
(``--per-class`` images of each class, from the shared tarball or an unpacked folder given with
``--cifar``) resized to each of ``--sizes``, the trainer's default model and augmentation::

    .venv/bin/python bench/trainer_overhead.py --photos --sizes 64,100 --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tunelab.objectives.context import TrialContext
from tunelab.vision.augment import build_augment
from tunelab.vision.config import TrainConfig
from tunelab.vision.data import load_image_data
from tunelab.vision.models import make_model
from tunelab.vision.train import _augment_config, make_optimizer, train

SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("digits 8px, cnn w32 d2, batch 64", {"data": "builtin:digits", "model": "cnn", "width": 32,
                                          "depth": 2, "batch_size": 64}),
    ("digits 32px, resnet w16 d1, batch 128, hflip+crop",
     {"data": "builtin:digits", "image_size": 32, "model": "resnet", "width": 16, "depth": 1,
      "batch_size": 128, "hflip": True, "random_resized_crop": True}),
]


TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpg.tar.gz"


def photo_settings(cifar: str | None, per_class: int, sizes: list[int], work: Path
                   ) -> list[tuple[str, dict[str, Any]]]:
    """The trainer's defaults (resnet w16 d1, batch 128, flips, translation) on a CIFAR-10
    subset resized to each size."""
    src = Path(cifar) if cifar and not cifar.endswith(".tar.gz") else None
    if src is None:
        with tarfile.open(cifar or TARBALL) as tar:
            tar.extractall(work, filter="data")
        src = work / "cifar10"
    src = src / "cifar10" if (src / "cifar10").is_dir() else src
    folder = work / "photos"
    for cls_dir in sorted((src / "train").iterdir()):
        (folder / cls_dir.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(cls_dir.glob("*.jpg"))[:per_class]:
            shutil.copyfile(f, folder / cls_dir.name / f.name)
    return [(f"CIFAR-10 photos at {s}px, trainer defaults (resnet w16 d1, batch 128, hflip)",
             # memory for batch 128 at every size (the hand loop has no cap): the same work
             {"data": str(folder), "image_size": s, "batch_size": 128, "hflip": True,
              "auto_batch_memory_mb": 16384})
            for s in sizes]


def hand_loop_epoch(params: dict[str, Any], epochs: int, seed: int) -> list[float]:
    """The minimal loop: shuffle, index, to float, augment, normalise, step. Images/s per epoch."""
    cfg = TrainConfig.from_params(params)
    d = load_image_data(cfg.data or "", image_size=cfg.image_size)
    torch.manual_seed(seed)
    model = make_model(cfg, d.channels, len(d.classes), d.image_size)
    opt = make_optimizer(model, cfg)
    aug = build_augment(_augment_config(cfg, d.channels), d.channels)
    mean = torch.tensor(d.mean).view(1, -1, 1, 1)
    std = torch.tensor(d.std).view(1, -1, 1, 1)
    bs, n = int(cfg.batch_size), len(d.train_y)
    out = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n)
        for i in range(n // bs):
            idx = perm[i * bs:(i + 1) * bs]
            x = (aug(d.train_x[idx].float() / 255) - mean) / std
            loss = F.cross_entropy(model(x), d.train_y[idx])
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        out.append((n // bs) * bs / (time.perf_counter() - t0))
    return out


def trainer_epochs(params: dict[str, Any], epochs: int, seed: int) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []

    def reporter(step: int, metrics: dict[str, float], ck: Any) -> Any:
        from tunelab.trial import Decision

        rows.append(metrics)
        return Decision.cont()

    with tempfile.TemporaryDirectory() as tmp:
        ctx = TrialContext(params={}, number=0, checkpoint_dir=tmp, seed=seed, reporter=reporter)
        train({**params, "epochs": epochs, "lr_schedule": "constant"}, ctx)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photos", action="store_true", help="CIFAR-10 photos at --sizes")
    ap.add_argument("--cifar", help="unpacked CIFAR-10 folder or the tarball (default: shared)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--sizes", default="64,100")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trainer_overhead-"))
    settings = SETTINGS
    if args.photos:
        settings = photo_settings(args.cifar, args.per_class,
                                  [int(v) for v in args.sizes.split(",")], work)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds x {args.epochs} epochs (first epoch of each run dropped)")
    for label, params in settings:
        load_image_data(params["data"], image_size=params.get("image_size"))  # warm the cache
        t_ips, t_epoch, h_ips = [], [], []
        pair_ratios = []
        for r in range(args.rounds):
            # Alternate which goes first, so drift in machine load hits both alike.
            hand_first = r % 2 == 1
            hand = hand_loop_epoch(params, args.epochs, seed=r)[1:] if hand_first else []
            rows = trainer_epochs(params, args.epochs, seed=r)[1:]
            hand = hand or hand_loop_epoch(params, args.epochs, seed=r)[1:]
            t_ips += [m["images_per_second"] for m in rows]
            t_epoch += [m["epoch_seconds"] for m in rows]
            h_ips += hand
            pair_ratios.append(statistics.median(t_ips[-len(rows):]) / statistics.median(hand))
        tm, hm = statistics.median(t_ips), statistics.median(h_ips)
        # Both train on the same images per epoch: the full batches of the training set.
        cfg = TrainConfig.from_params(params)
        n = len(load_image_data(params["data"], image_size=cfg.image_size).train_y)
        images = (n // int(cfg.batch_size)) * int(cfg.batch_size)
        hand_epoch, trainer_epoch = images / hm, statistics.median(t_epoch)
        pr = statistics.median(pair_ratios)
        print(f"{label}:\n  train loop: trainer {tm:,.0f} img/s, hand loop {hm:,.0f} img/s"
              f" -> ratio {tm / hm:.3f} (median of per-round ratios {pr:.3f}, range "
              f"{min(pair_ratios):.2f}-{max(pair_ratios):.2f})\n  whole epoch: trainer "
              f"{trainer_epoch:.3f} s (incl. validation, checkpoint, report), hand loop "
              f"{hand_epoch:.3f} s -> ratio {hand_epoch / trainer_epoch:.3f}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
