"""The built-in trainer on a GPU (issue 18): images/s against a bare PyTorch loop, GPU
utilisation, and time to 94 % test accuracy on CIFAR-10 against airbench's 2.6 s on an A100.

One prepared script for a short lease on the device machine (it also runs on a CPU, small, to
check it before spending GPU time: ``--quick``). It calls the trainer function itself
(``tunelab.vision.train.train``: the code every trial runs) with a minimal trial context, so it
needs only torch, numpy and Pillow, which the device image has.

1. **Throughput**, for the default model and a larger one: the trainer's own ``images_per_second``
   (median over epochs after the first) against a bare loop written here in plain PyTorch doing
   the same work per step on the same GPU: the uint8 images on the device, gather a batch,
   convert and normalise, flip and translate each image, forward and backward under the same
   autocast, channels-last, SGD step. Ratio trainer / bare (goal >= 0.9).
2. **GPU utilisation** while the trainer trains (``nvidia-smi`` sampled every 0.2 s, mean).
3. **Time to 94 %**: the trainer on the full CIFAR-10 training set (50,000), scored on the
   10,000 test images after every epoch (with test-time flips, as airbench does), with a larger
   ResNet; training seconds (evaluation excluded, as airbench counts) until the first epoch at
   >= 94 %, over airbench's 2.6 s (A100). If it does not get there, the best accuracy and the
   time spent.

    PYTHONPATH=src python3 bench/gpu_check.py --tar ../shared/data/cifar10-jpg.tar.gz
    PYTHONPATH=src python3 bench/gpu_check.py --tar ... --quick   # CPU smoke test, minutes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tunelab.executors.base import Checkpoint  # noqa: E402
from tunelab.objectives.context import TrialContext  # noqa: E402
from tunelab.trial import Decision  # noqa: E402
from tunelab.vision.config import TrainConfig  # noqa: E402
from tunelab.vision.data import load_image_data  # noqa: E402
from tunelab.vision.models import make_model  # noqa: E402
from tunelab.vision.train import (  # noqa: E402
    _autocast,
    place_model,
    resolve_precision,
    train,
)

AIRBENCH_SECONDS = 2.6  # 94 % on CIFAR-10, one A100 (airbench94)


class GpuSampler:
    """Mean GPU utilisation from ``nvidia-smi`` while it runs (None without nvidia-smi)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                      "--format=csv,noheader,nounits", "-i", "0"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.strip().splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


def run_trainer(params: dict[str, Any], workdir: Path) -> list[dict[str, float]]:
    """Train through the trainer function with a trial context that only records reports."""
    rows: list[dict[str, float]] = []

    def reporter(step: int, metrics: dict[str, float], ck: Checkpoint | None) -> Decision:
        rows.append(dict(metrics))
        print(f"  epoch {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
              flush=True)
        return Decision.cont()

    ctx = TrialContext(params={}, number=0, checkpoint_dir=workdir, seed=0, restore_from=None,
                       restore_step=None, reporter=reporter)
    ctx.device = "cuda" if torch.cuda.is_available() else "cpu"
    train(params, ctx)
    return rows


def bare_loop(params: dict[str, Any], epochs: int) -> float:
    """Images/s of a plain PyTorch loop doing the trainer's work per step (median epoch after
    the first), on the same data, model, batch size, precision and layout."""
    cfg = TrainConfig.from_params(params)
    data = load_image_data(cfg.data or "", image_size=cfg.image_size, cache_dir=cfg.cache_dir,
                           validation=cfg.validation_data, warn_skipped=False)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_all = data.train_x.to(dev)
    y_all = data.train_y.to(dev)
    mean = torch.tensor(data.mean, device=dev).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=dev).view(1, -1, 1, 1)
    model = place_model(make_model(cfg, data.channels, len(data.classes), data.image_size), dev)
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    precision = resolve_precision(cfg.precision, dev)
    bs = int(cfg.batch_size)
    n, size = len(y_all), data.image_size
    pad = round(cfg.translate * size)
    rates = []
    for _ in range(epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        steps = n // bs
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            x = x_all[idx].float().div_(255)
            flip = torch.rand(bs, device=dev) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            if pad:
                xp = F.pad(x, (pad,) * 4, mode="reflect")
                oy = torch.randint(0, 2 * pad + 1, (bs, 1, 1, 1), device=dev)
                ox = torch.randint(0, 2 * pad + 1, (bs, 1, 1, 1), device=dev)
                r = torch.arange(size, device=dev)
                x = xp[torch.arange(bs, device=dev).view(-1, 1, 1, 1),
                       torch.arange(x.shape[1], device=dev).view(1, -1, 1, 1),
                       (r.view(1, 1, -1, 1) + oy), (r.view(1, 1, 1, -1) + ox)]
            x = ((x - mean) / std).contiguous(memory_format=fmt)
            with _autocast(dev, precision):
                loss = F.cross_entropy(model(x).float(), y_all[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rates.append(steps * bs / (time.perf_counter() - t0))
    return statistics.median(rates[1:] or rates)


def throughput(name: str, params: dict[str, Any], epochs: int, work: Path) -> dict[str, Any]:
    print(f"[throughput] {name}: trainer, {epochs} epochs", flush=True)
    with GpuSampler() as gpu:
        rows = run_trainer({**params, "epochs": epochs}, work / f"tp-{name}")
    trainer = statistics.median([r["images_per_second"] for r in rows[1:]] or
                                [rows[0]["images_per_second"]])
    print(f"[throughput] {name}: bare loop, {epochs} epochs", flush=True)
    bare = bare_loop(params, epochs)
    return {"config": name, "trainer_img_s": trainer, "bare_img_s": bare,
            "ratio": trainer / bare, "gpu_util_mean": gpu.mean()}


def time_to(params: dict[str, Any], target: float, work: Path) -> dict[str, Any]:
    print(f"[time to {target:.0%}] {json.dumps(params)}", flush=True)
    t0 = time.perf_counter()
    with GpuSampler() as gpu:
        rows = run_trainer(params, work / "tta")
    wall = time.perf_counter() - t0
    cfg = TrainConfig.from_params(params)
    n_train = len(load_image_data(cfg.data or "", cache_dir=cfg.cache_dir,
                                  validation=cfg.validation_data, warn_skipped=False).train_y)
    seen = n_train // int(cfg.batch_size) * int(cfg.batch_size)
    train_s, reached_at, best = 0.0, None, 0.0
    for r in rows:
        train_s += seen / r["images_per_second"]  # training only: evaluation is not counted
        best = max(best, r.get("val_accuracy", 0.0))
        if reached_at is None and r.get("val_accuracy", 0.0) >= target:
            reached_at = train_s
    return {"target": target, "reached": reached_at is not None, "train_seconds": reached_at,
            "seconds_all_epochs": train_s, "best_accuracy": best, "epochs": len(rows),
            "wall_seconds_with_eval_and_checkpoints": wall, "gpu_util_mean": gpu.mean(),
            "ratio_to_airbench": None if reached_at is None else reached_at / AIRBENCH_SECONDS}


def profile_both(params: dict[str, Any], work: Path) -> None:
    """CPU time by operator over one epoch of the trainer and one of the bare loop."""
    from torch.profiler import ProfilerActivity, profile

    for name, fn in (("trainer", lambda: run_trainer({**params, "epochs": 1}, work / "prof")),
                     ("bare", lambda: bare_loop(params, 1))):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        print(f"[profile] {name}", flush=True)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18),
              flush=True)


def save(results: dict[str, Any], out: str) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "gpu_check.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tar", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"))
    ap.add_argument("--quick", action="store_true", help="CPU smoke test: tiny subset, 2 epochs")
    ap.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for results.json")
    ap.add_argument("--tta-epochs", type=int, default=30)
    ap.add_argument("--tta-width", type=int, default=64)
    ap.add_argument("--tta-depth", type=int, default=2)
    ap.add_argument("--tta-batch", type=int, default=512)
    ap.add_argument("--tta-lr", type=float, default=0.4)
    ap.add_argument("--skip-tta", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="profile one epoch of the trainer and of the bare loop (large config) "
                         "and print the operators by CPU time")
    ap.add_argument("--deadline", type=float, default=0.0,
                    help="seconds from the start the whole script should end by (0: none); "
                         "the time-to-94 run then gets as many epochs (at most --tta-epochs) as "
                         "the measured speed of its model fits")
    args = ap.parse_args()

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, device {dev}"
          + (f" ({torch.cuda.get_device_name(0)})" if dev == "cuda" else ""), flush=True)
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    t0 = time.perf_counter()
    with tarfile.open(args.tar) as tar:
        tar.extractall(work, filter="data")
    root = work / "cifar10"
    if args.quick:  # a few images per class, to check the script end to end
        import shutil

        for split, keep in (("train", 40), ("test", 20)):
            for d in (root / split).iterdir():
                for f in sorted(d.iterdir())[keep:]:
                    f.unlink()
        shutil.rmtree(work / "unused", ignore_errors=True)
    base = {"data": str(root / "train"), "validation_data": str(root / "test"),
            "cache_dir": str(work / "cache")}
    load_image_data(base["data"], cache_dir=base["cache_dir"], validation=base["validation_data"])
    print(f"unpacked and decoded in {time.perf_counter() - t0:.1f} s", flush=True)

    results: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else
                               "CPU", "torch": torch.__version__, "throughput": []}
    epochs = 2 if args.quick else 4
    default = {**base, "batch_size": 128}
    large = {**base, "width": args.tta_width, "depth": args.tta_depth,
             "batch_size": args.tta_batch}
    for name, params in (("default (resnet w16 d1, batch 128)", default),
                         (f"large (resnet w{args.tta_width} d{args.tta_depth}, batch "
                          f"{args.tta_batch})", large)):
        if args.skip_throughput:
            break
        results["throughput"].append(throughput(name, params, epochs, work))
        print(json.dumps(results["throughput"][-1]), flush=True)
    if args.profile:
        profile_both(large, work)
    if not args.skip_tta:
        epochs_tta = 2 if args.quick else args.tta_epochs
        if args.deadline and not args.quick:
            left = args.deadline - (time.perf_counter() - t0) - 15
            if results["throughput"]:
                ips = results["throughput"][-1]["trainer_img_s"]
            else:  # the trainer's own probe (what `plan` uses): a few timed steps
                from tunelab.vision.probe import probe_training

                ips = 1 / probe_training(TrainConfig.from_params(large), channels=3,
                                         num_classes=10, image_size=32, device=dev, steps=20,
                                         warmup=5).seconds_per_image
                print(f"probe: {ips:,.0f} img/s", flush=True)
            per_epoch = 50_000 / ips * 1.25  # + evaluation with flips
            fits = int(left / per_epoch)
            print(f"time left {left:.0f} s, about {per_epoch:.1f} s per epoch: "
                  f"{min(fits, epochs_tta)} epochs", flush=True)
            epochs_tta = max(1, min(fits, epochs_tta))
        tta = {**large, "epochs": epochs_tta,
               "learning_rate": args.tta_lr, "flip_test": True}
        save(results, args.out)  # what is measured so far survives a failure below
        try:
            results["time_to_94"] = time_to(tta, 0.94, work)
        except Exception as e:  # report it, and still print the throughput summary
            import traceback

            traceback.print_exc()
            results["time_to_94_error"] = repr(e)
    save(results, args.out)
    print("\n=== summary ===")
    print(f"device: {results['device']}, torch {results['torch']}")
    for r in results["throughput"]:
        util = "n/a" if r["gpu_util_mean"] is None else f"{r['gpu_util_mean']:.0f} %"
        print(f"{r['config']}: trainer {r['trainer_img_s']:,.0f} img/s, bare loop "
              f"{r['bare_img_s']:,.0f} img/s, ratio {r['ratio']:.3f} (goal >= 0.9); GPU util "
              f"{util}")
    if "time_to_94" in results:
        t = results["time_to_94"]
        if t["reached"]:
            print(f"94 % test accuracy after {t['train_seconds']:.1f} s of training; airbench "
                  f"2.6 s (A100): ratio {t['ratio_to_airbench']:.1f}")
        else:
            print(f"94 % not reached: best {t['best_accuracy']:.2%} after {t['epochs']} epochs, "
                  f"{t['seconds_all_epochs']:.1f} s of training")


if __name__ == "__main__":
    main()
