"""Refit (issue 18): the best configuration retrained on every image vs the tuned model as is.

A tuning job holds out ``validation_percent`` (20 %) of the photos to compare trials; the
hand-written recipe it is measured against trains on all of them. ``tunelab refit`` closes that
gap. For each of ``--seeds`` seeds, on a CIFAR-10 subset (JPEG folders from ``../shared/data``):

* ``as-is``: ``tunelab train --data TRAIN --set epochs=E`` (the defaults: 80 % trains, 20 %
  validates, the best epoch by validation accuracy is kept), exported;
* ``refit``: ``tunelab refit`` of that job (the same configuration, for the epochs the best
  checkpoint had trained, on 100 % of the images), exported.

Both are scored with ``tunelab evaluate`` on the same held-out CIFAR-10 test photos. It prints
each run's accuracy and wall time and the mean difference with its spread over seeds (goal: the
refit is better by more than the seeds' spread).

    .venv/bin/python bench/refit.py --per-class 300 --epochs 10 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from cifar_runs import TL, accuracy, copy_classes, run, unpack_cifar


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cifar", help="unpacked CIFAR-10 folder or the tarball (default: shared)")
    ap.add_argument("--per-class", type=int, default=300, help="training photos per class")
    ap.add_argument("--test-per-class", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="extra KEY=VALUE for every run")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="refit-"))
    try:
        cifar = unpack_cifar(args.cifar, work)
        train = copy_classes(cifar, "train", None, args.per_class, work / "train")
        test = copy_classes(cifar, "test", None, args.test_per_class, work / "test")
        env = {**os.environ, "TUNELAB_CACHE_DIR": str(work / "cache"),
               "CUDA_VISIBLE_DEVICES": ""}
        store = str(work / "runs")
        print(f"CIFAR-10 subset: {args.per_class}/class ({10 * args.per_class} photos), "
              f"{args.epochs} epochs, scored on {args.test_per_class}/class held out; load "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'seed':>4} {'as-is acc':>10} {'s':>6} {'refit acc':>10} {'epochs':>7} {'s':>6}")
        diffs: list[float] = []
        for seed in range(args.seeds):
            sets = [a for s in [f"epochs={args.epochs}", f"split_seed={seed}", *args.set]
                    for a in ("--set", s)]
            name = f"asis-{seed}"
            t_a, _ = run([*TL, "train", "--data", str(train), "--name", name, "--store", store,
                          "--seed", str(seed), "--out", str(work / name), *sets], env)
            t_r, _out = run([*TL, "refit", name, "--store", store, "--seed", str(seed),
                            "--out", str(work / f"refit-{seed}")], env)
            meta = json.loads((work / f"refit-{seed}" / "model.json").read_text())
            acc_a = accuracy(work / name, test, env)
            acc_r = accuracy(work / f"refit-{seed}", test, env)
            diffs.append(acc_r - acc_a)
            print(f"{seed:>4} {acc_a:>10.2%} {t_a:>6.0f} {acc_r:>10.2%} {meta['epoch']:>7} "
                  f"{t_r:>6.0f}", flush=True)
        mean = statistics.fmean(diffs)
        spread = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        print(f"refit - as-is: {mean * 100:+.2f} points (per seed "
              f"{', '.join(f'{d * 100:+.1f}' for d in diffs)}; sd {spread * 100:.2f}); load now "
              f"{os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
