"""Schedulers on builtin:digits: PBT, Hyperband and random search (with and without
``early_stopping: auto``) at the same total budget in epochs; best validation accuracy against
epochs spent, over several seeds.

Every method searches the same space with the built-in trainer, ``--epochs`` per full trial and
``--trials`` full trials' worth of epochs: ``budget = trials * epochs``. Random search runs
``--trials`` trials; random + early stopping gets twice as many trials and its curve is cut at
the budget; Hyperband (ASHA: min_resource 1, max_resource ``epochs``, reduction factor 3) and PBT
(population ``--trials``, perturbation interval ``epochs // 6`` or ``--pbt-interval``;
asynchronous, or lockstep with ``--pbt-synchronous``) get ``max_epochs: budget``. The
curve is rebuilt from the store: reports in time order, each one epoch. Goal (issue 5): PBT and
Hyperband reach random search's final best with at most a third of the budget.

The setting (``--space``, ``--width``/``--depth``, ``--val-percent``):

* ``--space default`` (the default): :func:`tunelab.vision.config.default_search_space` with the
  architecture fixed, as ``tunelab tune --data`` runs it (learning rate 3e-4..1e-2, weight decay,
  batch size, dropout, label smoothing, hflip).
* ``--space wide``: learning rate log-uniform over 1e-5..1 (five decades: many random configs
  train too slowly or diverge), weight decay 1e-6..1e-1 (log), dropout 0..0.8, label smoothing
  0..0.2, batch size 32/64/128, hflip.
* ``--width``/``--depth`` fix the CNN (default 32/2 as ``tune --data``; ``--width 8 --depth 1``
  is a small model that leaves room between good and bad configs), ``--val-percent`` the share
  of the 1,797 digits held out for validation (default 20; more means less training data).

Each seed (``--seeds N``: seeds ``--seed`` .. ``--seed + N - 1``) seeds every method's strategy;
the data split is the same for all. Prints per-seed figures, then per method the median over
seeds of the epochs needed to reach that seed's random-search final best (as a fraction of the
budget; a seed where it is not reached counts as above the budget), how many seeds reached it,
and the median best accuracy.

    .venv/bin/python bench/schedulers.py [--trials 16] [--epochs 12] [--parallel 2] [--seed 0]
        [--seeds 1] [--space default|wide] [--width 32] [--depth 2] [--val-percent 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

Curve = list[tuple[int, float]]

WIDE_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1.0, "scale": "log"},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-1, "scale": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.8},
    "label_smoothing": {"type": "float", "low": 0.0, "high": 0.2},
    "hflip": {"type": "choice", "values": [False, True]},
}


def curve(store: str, name: str) -> Curve:
    """(epochs spent, best val_accuracy so far) after each report, in report order."""
    from tunelab.jobstate import JobState
    from tunelab.store import Store

    st = Store.open(store)
    try:
        tx = st.read()
        state = JobState.load(tx, tx.job(name))
        reports = sorted((r.at, t.number, r.step, r.metrics.get("val_accuracy"))
                         for t in state.trials.values() for r in t.reports)
    finally:
        st.close()
    out: Curve = []
    best = 0.0
    for i, (_, _, _, acc) in enumerate(reports, start=1):
        if acc is not None:
            best = max(best, float(acc))
        out.append((i, best))
    return out


def epochs_to_reach(c: Curve, target: float, budget: int) -> int | None:
    return next((e for e, b in c if b >= target and e <= budget), None)


def base_spec(args: argparse.Namespace) -> dict[str, Any]:
    from tunelab.vision.commands import default_image_spec

    base = default_image_spec("builtin:digits", name="x", max_trials=args.trials,
                              max_parallel=args.parallel, seed=args.seed)
    base["train"].update(epochs=args.epochs, width=args.width, depth=args.depth,
                         validation_percent=args.val_percent)
    if args.space == "wide":
        base["search_space"] = json.loads(json.dumps(WIDE_SPACE))
    for fixed in ("width", "depth", "model"):
        base["search_space"].pop(fixed, None)
    return base


def methods(args: argparse.Namespace, seed: int) -> dict[str, dict[str, Any]]:
    budget = args.trials * args.epochs
    return {
        "random": {"strategy": {"type": "random", "seed": seed},
                   "limits": {"max_trials": args.trials}},
        "random+es": {"strategy": {"type": "random", "seed": seed},
                      "early_stopping": "auto", "limits": {"max_trials": 2 * args.trials}},
        "hyperband": {"strategy": {"type": "hyperband", "seed": seed, "min_resource": 1,
                                   "max_resource": args.epochs, "reduction_factor": 3,
                                   "max_epochs": budget},
                      "limits": {"max_trials": 10 * args.trials}},
        "pbt": {"strategy": {"type": "pbt", "seed": seed,
                             "population": args.pbt_population or args.trials,
                             "perturbation_interval": args.pbt_interval
                             or max(1, args.epochs // 6),
                             "synchronous": args.pbt_synchronous, "max_epochs": budget},
                "limits": {"max_trials": args.pbt_population or args.trials}},
    }


def run_seed(args: argparse.Namespace, base: dict[str, Any], seed: int, store: str,
             stamp: str) -> tuple[dict[str, Curve], dict[str, float]]:
    from tunelab import api

    budget = args.trials * args.epochs
    curves: dict[str, Curve] = {}
    walls: dict[str, float] = {}
    specs = methods(args, seed)
    for m in args.methods.split(","):
        spec = json.loads(json.dumps(base))
        spec.pop("early_stopping", None)
        spec.update(json.loads(json.dumps(specs[m])))
        if m == "pbt" and args.pbt_lr_schedule:
            spec["train"]["lr_schedule"] = args.pbt_lr_schedule
        spec["name"] = f"sched-{m.replace('+', '-')}-s{seed}-{stamp}"
        spec["limits"]["max_parallel"] = args.parallel
        t0 = time.time()
        api.tune_spec(spec, store=store)
        walls[m] = time.time() - t0
        curves[m] = [(e, b) for e, b in curve(store, spec["name"]) if e <= budget]
        spent = curves[m][-1][0] if curves[m] else 0
        best = curves[m][-1][1] if curves[m] else 0.0
        print(f"seed {seed} {m:10s} epochs {spent:4d}  best val_accuracy {best:.4f}  "
              f"wall {walls[m]:.0f} s", flush=True)
    if curves.get("random"):
        target = curves["random"][-1][1]
        print(f"seed {seed}: epochs to reach random search's final best ({target:.4f}), "
              f"budget {budget} (goal: <= {budget // 3}):")
        for m, c in curves.items():
            e = epochs_to_reach(c, target, budget)
            frac = f"{e / budget:.2f} of the budget" if e else "not reached"
            print(f"  {m:10s} {e if e else '-':>5}  ({frac})")
    for m, c in curves.items():
        marks = [c[min(len(c), max(1, budget * k // 6)) - 1] for k in range(1, 7)] if c else []
        print(f"seed {seed} {m:10s} best at 1/6..6/6 of the budget: "
              + " ".join(f"{b:.3f}@{e}" for e, b in marks))
    print(flush=True)
    return curves, walls


def summary(runs: dict[int, dict[str, Curve]], budget: int) -> None:
    """Per method over seeds: median epochs to reach random's final best, seeds reaching it,
    median best accuracy (and min..max)."""
    seeds = [s for s in runs if runs[s].get("random")]
    names = list(dict.fromkeys(m for s in runs for m in runs[s]))
    if seeds:
        targets = [runs[s]["random"][-1][1] for s in seeds]
        print(f"summary over {len(seeds)} seed(s) {seeds}; budget {budget} epochs; goal: "
              f"PBT and Hyperband reach random's final best in <= 1/3 of the budget "
              f"({budget // 3}); random's final best per seed: "
              + " ".join(f"{t:.4f}" for t in targets))
        print(f"  {'method':10s} {'median epochs to target':>24s} {'reached':>8s} "
              f"{'within 1/3':>10s} {'median best':>12s} {'best min..max':>14s}  per seed")
    for m in names:
        per = [runs[s][m] for s in runs if runs[s].get(m)]
        bests = [c[-1][1] for c in per]
        if not seeds:
            print(f"  {m:10s} median best {statistics.median(bests):.4f}")
            continue
        hits: list[float] = []
        for s in seeds:
            e = epochs_to_reach(runs[s].get(m, []), runs[s]["random"][-1][1], budget)
            hits.append(math.inf if e is None else e)
        med = statistics.median(hits)
        med_s = "not reached" if math.isinf(med) else f"{med:.0f} ({med / budget:.2f})"
        reached = sum(1 for h in hits if not math.isinf(h))
        third = sum(1 for h in hits if h <= budget // 3)
        per_seed = " ".join("-" if math.isinf(h) else f"{h / budget:.2f}" for h in hits)
        print(f"  {m:10s} {med_s:>24s} {reached:>4d}/{len(seeds):<3d} {third:>6d}/{len(seeds):<3d} "
              f"{statistics.median(bests):>12.4f} {min(bests):.4f}..{max(bests):.4f}  {per_seed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=16, help="full trials' worth of budget")
    ap.add_argument("--epochs", type=int, default=12, help="epochs of a full trial")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="run seeds --seed .. --seed + N - 1")
    ap.add_argument("--space", choices=("default", "wide"), default="default",
                    help="default: tune --data's space; wide: lr 1e-5..1 and wider ranges")
    ap.add_argument("--width", type=int, default=32, help="CNN width (fixed)")
    ap.add_argument("--depth", type=int, default=2, help="CNN depth (fixed)")
    ap.add_argument("--val-percent", type=float, default=20.0,
                    help="validation share of the digits, percent")
    ap.add_argument("--pbt-population", type=int, default=None,
                    help="PBT's population (default --trials); a smaller one spends less")
    ap.add_argument("--pbt-lr-schedule", default=None,
                    help="PBT's lr_schedule (default: the spec's; PBT anneals by exploring)")
    ap.add_argument("--pbt-interval", type=int, default=None,
                    help="PBT's perturbation interval in epochs (default --epochs // 6)")
    ap.add_argument("--pbt-synchronous", action="store_true",
                    help="PBT in lockstep (synchronous: true) instead of leaders ahead")
    ap.add_argument("--store", default=None)
    ap.add_argument("--methods", default="random,random+es,hyperband,pbt")
    ap.add_argument("--json", default=None, help="write the curves to this file")
    args = ap.parse_args()

    store = args.store or tempfile.mkdtemp(prefix="tunelab-sched-")
    budget = args.trials * args.epochs
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = base_spec(args)
    print(f"store {store}; budget {budget} epochs ({args.trials} x {args.epochs}); space "
          f"{args.space}: {', '.join(base['search_space'])}; width {args.width}, depth "
          f"{args.depth}, validation {args.val_percent:g}%", flush=True)
    runs: dict[int, dict[str, Curve]] = {}
    walls: dict[int, dict[str, float]] = {}
    for seed in range(args.seed, args.seed + args.seeds):
        runs[seed], walls[seed] = run_seed(args, base, seed, store, stamp)
        if args.json:  # after every seed, so an interrupted run keeps what it has
            with open(args.json, "w") as f:
                json.dump({"budget": budget, "args": vars(args), "curves": runs,
                           "wall_s": walls}, f)
    summary(runs, budget)


if __name__ == "__main__":
    main()
