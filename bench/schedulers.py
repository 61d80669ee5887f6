"""Schedulers on builtin:digits: PBT, Hyperband and random search (with and without
``early_stopping: auto``) at the same total budget in epochs; best validation accuracy against
epochs spent.

Every method searches the same space (the default image space, architecture fixed) with the
built-in trainer, ``--epochs`` per full trial and ``--trials`` full trials' worth of epochs:
``budget = trials * epochs``. Random search runs ``--trials`` trials; random + early stopping
gets twice as many trials and its curve is cut at the budget; Hyperband (min_resource 1,
max_resource ``epochs``, reduction factor 3) and PBT (population ``--trials``) get
``max_epochs: budget``. The curve is rebuilt from the store: reports in time order, each one
epoch. Goal: PBT and Hyperband reach random search's final best with at most a third of the
budget.

    .venv/bin/python bench/schedulers.py [--trials 16] [--epochs 12] [--parallel 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")


def curve(store: str, name: str) -> list[tuple[int, float]]:
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
    out: list[tuple[int, float]] = []
    best = 0.0
    for i, (_, _, _, acc) in enumerate(reports, start=1):
        if acc is not None:
            best = max(best, float(acc))
        out.append((i, best))
    return out


def epochs_to_reach(c: list[tuple[int, float]], target: float, budget: int) -> int | None:
    return next((e for e, b in c if b >= target and e <= budget), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16, help="full trials' worth of budget")
    ap.add_argument("--epochs", type=int, default=12, help="epochs of a full trial")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", default=None)
    ap.add_argument("--methods", default="random,random+es,hyperband,pbt")
    ap.add_argument("--json", default=None, help="write the curves to this file")
    args = ap.parse_args()

    from tunelab import api
    from tunelab.vision.commands import default_image_spec

    store = args.store or tempfile.mkdtemp(prefix="tunelab-sched-")
    budget = args.trials * args.epochs
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = default_image_spec("builtin:digits", name="x", max_trials=args.trials,
                              max_parallel=args.parallel, seed=args.seed)
    base["train"]["epochs"] = args.epochs
    methods: dict[str, dict[str, Any]] = {
        "random": {"strategy": {"type": "random", "seed": args.seed},
                   "limits": {"max_trials": args.trials}},
        "random+es": {"strategy": {"type": "random", "seed": args.seed},
                      "early_stopping": "auto", "limits": {"max_trials": 2 * args.trials}},
        "hyperband": {"strategy": {"type": "hyperband", "seed": args.seed, "min_resource": 1,
                                   "max_resource": args.epochs, "reduction_factor": 3,
                                   "max_epochs": budget},
                      "limits": {"max_trials": 10 * args.trials}},
        "pbt": {"strategy": {"type": "pbt", "seed": args.seed, "population": args.trials,
                             "perturbation_interval": max(1, args.epochs // 6),
                             "max_epochs": budget},
                "limits": {"max_trials": args.trials}},
    }
    print(f"store {store}; budget {budget} epochs ({args.trials} x {args.epochs}); "
          f"space {', '.join(base['search_space'])}", flush=True)
    curves: dict[str, list[tuple[int, float]]] = {}
    walls: dict[str, float] = {}
    for m in args.methods.split(","):
        spec = json.loads(json.dumps(base))
        spec.pop("early_stopping", None)
        spec.update(json.loads(json.dumps(methods[m])))
        spec["name"] = f"sched-{m.replace('+', '-')}-{stamp}"
        spec["limits"]["max_parallel"] = args.parallel
        t0 = time.time()
        api.tune_spec(spec, store=store)
        walls[m] = time.time() - t0
        curves[m] = [(e, b) for e, b in curve(store, spec["name"]) if e <= budget]
        spent = curves[m][-1][0] if curves[m] else 0
        best = curves[m][-1][1] if curves[m] else 0.0
        print(f"{m:10s} epochs {spent:4d}  best val_accuracy {best:.4f}  wall {walls[m]:.0f} s",
              flush=True)
    if curves.get("random"):
        target = curves["random"][-1][1]
        print(f"\nepochs to reach random search's final best ({target:.4f}), "
              f"budget {budget} (goal: <= {budget // 3}):")
        for m, c in curves.items():
            e = epochs_to_reach(c, target, budget)
            frac = f"{e / budget:.2f} of the budget" if e else "not reached"
            print(f"  {m:10s} {e if e else '-':>5}  ({frac})")
    for m, c in curves.items():
        marks = [c[min(len(c), max(1, budget * k // 6)) - 1] for k in range(1, 7)] if c else []
        print(f"{m:10s} best at 1/6..6/6 of the budget: "
              + " ".join(f"{b:.3f}@{e}" for e, b in marks))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budget": budget, "curves": curves, "wall_s": walls}, f)


if __name__ == "__main__":
    main()
