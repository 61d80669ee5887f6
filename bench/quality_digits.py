"""Quality on builtin:digits: does `tunelab tune --data builtin:digits` (no spec) find a model with
at least 98% validation accuracy within 10 minutes on 2 CPU cores, and how long does it take?

Runs the spec that ``tunelab tune --data builtin:digits`` runs (``default_image_spec``: its
default strategy, space and 20 trials; 2 parallel trials of 1 thread each) with
``limits.max_runtime`` 10 minutes and ``completion.target`` 0.98, then reads from the store the
wall time at which the first trial reported >= 98%, and the best trial.

    .venv/bin/python bench/quality_digits.py [--store DIR] [--target 0.98] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=None, help="store folder (default: a temp folder)")
    ap.add_argument("--target", type=float, default=0.98)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-trials", type=int, default=20)
    ap.add_argument("--max-parallel", type=int, default=2)
    args = ap.parse_args()

    from tunelab import api
    from tunelab.jobstate import JobState
    from tunelab.store import Store
    from tunelab.vision.commands import default_image_spec

    store = args.store or tempfile.mkdtemp(prefix="tunelab-quality-")
    name = f"digits-quality-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = default_image_spec("builtin:digits", name=name, max_trials=args.max_trials,
                              max_parallel=args.max_parallel, seed=args.seed)
    spec["limits"]["max_runtime"] = 600
    spec["completion"] = {"target": args.target}
    print(f"job {name} in {store}: strategy {spec['strategy']}; searching "
          f"{', '.join(spec['search_space'])}; static {spec['train']}", flush=True)
    t0 = time.time()
    result = api.tune_spec(spec, store=store)
    wall = time.time() - t0

    st = Store.open(store)
    try:
        tx = st.read()
        state = JobState.load(tx, tx.job(name))
        started = min((t.started_at or t.created_at) for t in state.trials.values())
        hits = [(r.at, t.number, r.step, r.metrics["val_accuracy"])
                for t in state.trials.values() for r in t.reports
                if r.metrics.get("val_accuracy", 0.0) >= args.target]
    finally:
        st.close()
    print(f"status {result.status}; {len(result.trials)} trials in {wall:.0f} s wall")
    if result.best:
        print(f"best: trial {result.best['number']} val_accuracy {result.best['value']:.4f} "
              f"params {result.best['params']}")
    if hits:
        at, number, step, acc = min(hits)
        print(f"first >= {args.target:.0%}: trial {number} epoch {step} val_accuracy {acc:.4f} "
              f"after {at - started:.0f} s (job wall {wall:.0f} s)")
    else:
        print(f"no trial reached {args.target:.0%} within the limits")


if __name__ == "__main__":
    main()
