"""Transfer learning (issue 18): fine-tuning a tunelab export against training from scratch.

A source model learns five CIFAR-10 classes (airplane, automobile, bird, cat, deer) with
``tunelab train`` defaults and is exported. Then a few hundred photos of the five *other* classes
(dog, frog, horse, ship, truck) are learnt twice, for the same epochs, by the same command:

* ``scratch``: ``tunelab train --data TARGET`` (the defaults);
* ``finetune``: the same plus ``--set pretrained=SOURCE_EXPORT`` (the new head is trained alone
  for ``head_epochs``, then the whole network with the backbone at ``backbone_lr`` times the
  learning rate).

Both are scored with ``tunelab evaluate`` on held-out CIFAR-10 test photos of the target classes,
for each of ``--seeds`` seeds; it prints each run's accuracy and wall time, and the mean
difference with its spread over seeds. Goal: fine-tuning beats scratch in the same time.

    .venv/bin/python bench/transfer.py --source-per-class 500 --target-per-class 60 --epochs 10
    python3 bench/transfer.py --cifar cifar10-jpg.tar.gz --source-per-class 5000 \\
        --source-epochs 20 --target-per-class 60 --epochs 15 --seeds 3     # on a GPU
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from cifar_runs import TL, accuracy, copy_classes, run, unpack_cifar

SOURCE = ("airplane", "automobile", "bird", "cat", "deer")
TARGET = ("dog", "frog", "horse", "ship", "truck")


def train_and_export(data: Path, name: str, sets: list[str], store: Path, out: Path,
                     env: dict[str, str], seed: int = 0) -> float:
    """``tunelab train`` with ``sets``, exported to ``out``; the training wall seconds."""
    args = [a for s in sets for a in ("--set", s)]
    wall, _ = run([*TL, "train", "--data", str(data), "--name", name, "--store", str(store),
                   "--seed", str(seed), *args], env)
    run([*TL, "export", name, "--out", str(out), "--store", str(store)], env)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cifar", help="unpacked CIFAR-10 folder or the tarball (default: shared)")
    ap.add_argument("--source-per-class", type=int, default=500)
    ap.add_argument("--source-epochs", type=int, default=15)
    ap.add_argument("--target-per-class", type=int, default=60)
    ap.add_argument("--test-per-class", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=10, help="epochs of both target runs")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[],
                    help="extra KEY=VALUE for every run (e.g. width=32)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="transfer-"))
    try:
        cifar = unpack_cifar(args.cifar, work)
        source = copy_classes(cifar, "train", SOURCE, args.source_per_class, work / "source")
        target = copy_classes(cifar, "train", TARGET, args.target_per_class, work / "target")
        test = copy_classes(cifar, "test", TARGET, args.test_per_class, work / "test")
        env = {**os.environ, "TUNELAB_CACHE_DIR": str(work / "cache")}
        store = work / "runs"
        common = [f"epochs={args.epochs}", *args.set]
        t_src = train_and_export(source, "source", [f"epochs={args.source_epochs}", *args.set],
                                 store, work / "source-model", env)
        acc_src = accuracy(work / "source-model",
                           copy_classes(cifar, "test", SOURCE, args.test_per_class,
                                        work / "source-test"), env)
        print(f"source model: {len(SOURCE)} classes x {args.source_per_class} photos, "
              f"{args.source_epochs} epochs, {t_src:.0f} s; {acc_src:.2%} on its own held-out "
              f"classes")
        print(f"target: {len(TARGET)} other classes x {args.target_per_class} photos "
              f"({len(TARGET) * args.target_per_class} in all), {args.epochs} epochs; scored on "
              f"{args.test_per_class} held-out photos per class")
        print(f"{'seed':>4} {'scratch acc':>12} {'s':>6} {'finetune acc':>13} {'s':>6}")
        diffs, ratios = [], []
        for seed in range(args.seeds):
            seed_set = [f"split_seed={seed}"]
            t_s = train_and_export(target, f"scratch-{seed}", [*common, *seed_set], store,
                                   work / f"scratch-{seed}", env, seed)
            t_f = train_and_export(
                target, f"finetune-{seed}",
                [*common, *seed_set, f"pretrained={work / 'source-model'}"], store,
                work / f"finetune-{seed}", env, seed)
            a_s = accuracy(work / f"scratch-{seed}", test, env)
            a_f = accuracy(work / f"finetune-{seed}", test, env)
            diffs.append(a_f - a_s)
            ratios.append(t_f / t_s)
            print(f"{seed:>4} {a_s:>12.2%} {t_s:>6.0f} {a_f:>13.2%} {t_f:>6.0f}", flush=True)
        spread = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        print(f"fine-tuning minus scratch: mean {statistics.mean(diffs):+.2%} (per seed "
              f"{', '.join(f'{d:+.2%}' for d in diffs)}; sd {spread:.2%}); time ratio "
              f"finetune/scratch {statistics.median(ratios):.2f} (goal: higher accuracy, "
              f"same time)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
