"""Loop scaling: the tuner loop's own cost per report as a job grows (issue 17).

Runs the real ``Tuner`` (SQLite store in a temporary folder) on the simulated executor, whose
trials cost nothing but a curve evaluation, so the wall time is the loop's own: recording each
report, the scheduler's decision, filling slots, the strategy's suggestions, the store writes.

    .venv/bin/python bench/loop_scaling.py                          # 64 slots, 10,000 trials
    .venv/bin/python bench/loop_scaling.py --trials 2000 --methods asha

Per method (ASHA: hyperband with rungs 1, 3, 9 of 10 epochs; Hyperband: the same with its 3
brackets; PBT: population = trials, asynchronous) it prints the median wall time per report
(the wall time since the previous poll that returned reports, spread over the reports this
poll returned; the wall time over all reports is printed too), the mean
per report over the first and the last tenth of the reports (in time order) with their ratio,
and the wall time of the first and of the last ``--window`` trials (from the job's start to the
``window``-th trial's first report, and from the first report of the ``window``-th last trial
to the job's end: ASHA leaves most trials paused, so trials are counted when they start
reporting), with their ratio. That last ratio also counts the work each window holds: ASHA's
promotions to the upper rungs come late, so its last trials carry more reports than its first.
Goals: median <= 1 ms per report, last <= 1.5x the first.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunelab.executors.base import Event, EventKind
from tunelab.executors.simulated import SimulatedExecutor
from tunelab.space import ParamValue
from tunelab.spec import spec_from_dict
from tunelab.store import Store
from tunelab.tuner import Tuner

STEPS = 10
METHODS: dict[str, dict[str, Any]] = {
    "asha": {"type": "hyperband", "seed": 0, "min_resource": 1, "max_resource": STEPS,
             "reduction_factor": 3},
    "hyperband": {"type": "hyperband", "seed": 0, "min_resource": 1, "max_resource": STEPS,
                  "reduction_factor": 3, "brackets": 3},
    "pbt": {"type": "pbt", "seed": 0, "perturbation_interval": 2},
}


def curve(params: Mapping[str, ParamValue], step: int,
          path: Sequence[Mapping[str, ParamValue]]) -> Mapping[str, float]:
    """Loss falls with steps; the learning rate along the path sets how fast."""
    loss = 1.0
    for p in path:
        loss *= 1.0 - 0.5 * min(0.9, float(p["lr"])) * (1.0 - abs(float(p["x"]) - 0.3))
    return {"loss": loss}


class TimedExecutor(SimulatedExecutor):
    """The simulated executor, noting the wall time of every poll and of each trial's first
    report."""

    def __init__(self, slots: int) -> None:
        super().__init__(slots, curve, max_steps=STEPS)
        self.per_report: list[float] = []
        self.first_report: dict[int, float] = {}
        self._last = time.perf_counter()

    def poll(self, timeout: float = 0.0) -> list[Event]:
        events = super().poll(timeout)
        now = time.perf_counter()
        reports = sum(1 for e in events if e.kind is EventKind.REPORT)
        if reports:  # the loop's time since the last report, polls without one included
            self.per_report.extend([(now - self._last) / reports] * reports)
            self._last = now
        for e in events:
            if e.kind is EventKind.REPORT:
                self.first_report.setdefault(e.trial_id, now)
        return events


def run(method: str, trials: int, slots: int, window: int) -> dict[str, float]:
    strategy = dict(METHODS[method])
    if method == "pbt":
        strategy["population"] = trials
    spec = spec_from_dict({
        "name": f"scaling-{method}", "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "loop_scaling:curve"},
        "static": {"epochs": STEPS},
        "search_space": {"lr": {"type": "float", "low": 0.01, "high": 0.9, "scale": "log"},
                         "x": {"type": "float", "low": 0.0, "high": 1.0}},
        "strategy": strategy, "limits": {"max_trials": trials, "max_parallel": slots},
    })
    with tempfile.TemporaryDirectory(prefix="tunelab-scaling-") as tmp:
        store = Store.open(Path(tmp) / "store")
        try:
            ex = TimedExecutor(slots)
            t0 = time.perf_counter()
            status = Tuner.create(spec, store, executor=ex).run()
            wall = time.perf_counter() - t0
        finally:
            store.close()
    per = ex.per_report
    tenth = max(1, len(per) // 10)
    head, tail = statistics.fmean(per[:tenth]), statistics.fmean(per[-tenth:])
    starts = sorted(ex.first_report.values())
    w = min(window, len(starts) // 2)
    first = starts[w - 1] - t0 if w else math.nan
    last = t0 + wall - starts[-w] if w else math.nan
    return {"status_ok": float(status == "completed"), "reports": len(ex.per_report),
            "started": len(starts), "wall": wall,
            "median_ms": 1000 * statistics.median(ex.per_report) if ex.per_report else math.nan,
            "first": first, "last": last, "window": w,
            "head_ms": 1000 * head, "tail_ms": 1000 * tail}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--window", type=int, default=1000, help="trials in the first/last window")
    ap.add_argument("--methods", default="asha,hyperband,pbt")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))  # the objective's module, for the spec check
    load = os.getloadavg()
    print(f"{a.trials} trials x {STEPS} reports, {a.slots} slots; python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load[0]:.1f}")
    for method in a.methods.split(","):
        r = run(method, a.trials, a.slots, a.window)
        print(f"{method}: {int(r['reports'])} reports, {int(r['started'])} trials, "
              f"wall {r['wall']:.1f} s ({1000 * r['wall'] / r['reports']:.2f} ms per report), "
              f"median {r['median_ms']:.2f} ms per report; mean per "
              f"report first tenth {r['head_ms']:.2f} ms, last tenth {r['tail_ms']:.2f} ms, "
              f"ratio {r['tail_ms'] / r['head_ms']:.2f}; first "
              f"{int(r['window'])} trials {r['first']:.1f} s, last {int(r['window'])} "
              f"{r['last']:.1f} s, ratio {r['last'] / r['first']:.2f}"
              + ("" if r["status_ok"] else " (job did not complete)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
