"""The training page (issue 21): from "Launch" to the first trial running, and the page's
device-hours estimate against what the launched job then measured, on the demo data.

Runs the page's own API in-process (FastAPI's test client over a fresh SQLite store, the data
root holding nothing; the demo data is ``builtin:digits``), as the page does: a preview of the
data (which fills the decode cache, as choosing a data set on the page does), a plan, a launch.

* latency: ``--launches`` jobs are launched one after another, each after a plan of its form
  (which, as on the page, readies a warm tuner process) once that process reports ready;
  for each, the time from sending
  POST /api/v1/launch to the first trial of the job being ``running`` in the store (polled every
  10 ms through a read-only reader), and to the launch call answering. Each job is stopped at
  once and waited for before the next launch.
* estimate: one job of ``--trials`` trials x ``--epochs`` epochs (random search, one at a time,
  no early stopping) is planned, launched and run to the end; the plan's device-hours
  (``tunelab.estimate``: epochs, each epoch's checkpoint and report, each segment's set-up, the
  worker's start) beside the job's measured device-hours (the sum of its trials' device
  seconds), and their ratio.

    .venv/bin/python bench/launch_latency.py [--launches 3] [--trials 4] [--epochs 5]

Goals: launch -> first trial running <= 3 s; estimate / measured within 0.7..1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

DEMO = "builtin:digits"


def form(name: str, *, trials: int, epochs: int) -> dict[str, Any]:
    return {"name": name, "data": DEMO, "epochs": str(epochs), "batch_size": "128",
            "validation_percent": "20", "strategy": "random", "max_trials": str(trials),
            "max_parallel": "1",
            "params": {"learning_rate": {"mode": "range", "low": "0.02", "high": "0.4",
                                         "scale": "log"}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from tunelab.server.app import create_app
    from tunelab.server.security import HEADER, Access
    from tunelab.store import Store
    from tunelab.store.queries import Reader

    tmp = Path(tempfile.mkdtemp(prefix="tunelab-launch-bench-"))
    store = tmp / "runs"
    Store.open(store).close()
    reader = Reader.open(store)
    access, _ = Access.for_host("127.0.0.1")
    head = {HEADER: access.token}
    with TestClient(create_app(reader, access), base_url="http://127.0.0.1") as c:
        t0 = time.perf_counter()
        c.post("/api/v1/datasets/preview", json={"data": DEMO}, headers=head).raise_for_status()
        print(f"load average {os.getloadavg()[0]:.1f} at the start")
        print(f"preview of {DEMO}: {time.perf_counter() - t0:.2f} s (fills the decode cache)")

        def wait(name: str, done: tuple[str, ...], timeout: float = 900) -> dict[str, Any]:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                h: dict[str, Any] = c.get(f"/api/v1/jobs/{name}").json()
                if h.get("status") in done:
                    return h
                time.sleep(0.2)
            raise SystemExit(f"job {name} did not reach {done}")

        first: list[float] = []
        answered: list[float] = []
        for i in range(args.launches):
            name = f"latency-{i}"
            body = {"form": form(name, trials=1, epochs=50), "estimate": False}
            # the page plans while the form is filled, which readies a warm tuner process
            c.post("/api/v1/plan", json=body, headers=head).raise_for_status()
            t_ready = time.perf_counter()
            while c.get("/api/v1/launcher").json()["standby"] != "ready":
                if time.perf_counter() - t_ready > 120:
                    raise SystemExit("the warm tuner process did not get ready in 120 s")
                time.sleep(0.1)
            t0 = time.perf_counter()
            c.post("/api/v1/launch", json=body, headers=head).raise_for_status()
            answered.append(time.perf_counter() - t0)
            while True:
                trials = reader.trials(name, state="running", limit=1).total
                if trials:
                    first.append(time.perf_counter() - t0)
                    break
                if time.perf_counter() - t0 > 120:
                    raise SystemExit("no trial started within 120 s")
                time.sleep(0.01)
            c.post(f"/api/v1/jobs/{name}/stop", headers=head).raise_for_status()
            wait(name, ("stopped", "completed", "failed"))
            t_exit = time.perf_counter()  # its tuner process exits before the next launch
            while c.get(f"/api/v1/jobs/{name}/process").json().get("alive") and \
                    time.perf_counter() - t_exit < 60:
                time.sleep(0.1)
            print(f"launch {i}: answered {answered[-1]:.2f} s, first trial running "
                  f"{first[-1]:.2f} s")
        print(f"launch -> first trial running: median {statistics.median(first):.2f} s, "
              f"max {max(first):.2f} s over {len(first)} launches (goal <= 3 s)")

        est_form = form("estimate", trials=args.trials, epochs=args.epochs)
        t0 = time.perf_counter()
        plan = c.post("/api/v1/plan", json={"form": est_form}, headers=head).json()
        if not plan.get("ok"):
            raise SystemExit(f"plan failed: {plan}")
        est = plan["estimate"]
        print(f"plan with estimate: {time.perf_counter() - t0:.2f} s; {est['trials']} jobs x "
              f"{est['epochs']} epochs x ({est['epoch_seconds']:.3f} s per epoch + "
              f"{est['per_epoch_seconds']:.3f} s checkpoint and report) + "
              f"{est['setup_seconds']:.3f} s set-up per segment + "
              f"{est['startup_seconds']:.2f} s per worker start ({est['slots']} slot) on "
              f"{est['device']}")
        r = c.post("/api/v1/launch", json={"form": est_form}, headers=head)
        if r.status_code != 200:
            raise SystemExit(f"launch failed: {r.text}")
        h = wait("estimate", ("completed", "failed", "stopped"))
        measured = float(h["device_hours"])
        ratio = est["device_hours"] / measured if measured else float("nan")
        print(f"estimated device-hours {est['device_hours']:.5f} vs measured {measured:.5f} "
              f"(job {h['status']}, {h['trials']} trials, {h['epochs']} epochs): "
              f"ratio {ratio:.2f} (goal 0.70..1.30)")
        # where a difference comes from: the epochs themselves (the trainer reports each
        # epoch's seconds, training and validation) against the rest of each trial
        curves = reader.curves("estimate", metric="epoch_seconds").curves
        epochs_s = [v for c in curves for v in c.values if v is not None]
        if epochs_s:
            rest = measured * 3600 - sum(epochs_s)
            est_epochs = est["trials"] * est["epochs"] * est["epoch_seconds"]
            print(f"epochs: estimated {est_epochs:.2f} s, measured {sum(epochs_s):.2f} s "
                  f"(mean {statistics.mean(epochs_s):.3f} s per epoch); the rest of the "
                  f"trials' device time: estimated {est['device_hours'] * 3600 - est_epochs:.2f}"
                  f" s, measured {rest:.2f} s")
    reader.close()
    print(f"cpus: {os.cpu_count()} ({len(os.sched_getaffinity(0))} this process may use); "
          f"load average {os.getloadavg()[0]:.1f} at the end; "
          f"store: {store}")


if __name__ == "__main__":
    main()
