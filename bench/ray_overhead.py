"""Ray overhead: what each trial costs beyond its training, on tunelab's Ray executor, on
tunelab's local executor and on Ray Tune itself (issue 22).

One run starts a local Ray cluster of its own (``ray start --head`` on a free port, ``--cpus``
CPUs), then runs the same job three ways, side by side: ``--trials`` trials of a no-op training
function that reports ``--steps`` times, ASHA (tunelab: hyperband, Ray Tune: ``ASHAScheduler``
with the same rungs) and ``--parallel`` trials at once:

- tunelab, Ray executor (actors on that cluster, SQLite store, checkpoints off);
- tunelab, local executor (worker processes, same store kind);
- Ray Tune (``Tuner`` + ``ASHAScheduler`` on the same cluster, 1 CPU per trial).

The function does nothing, so wall time / trials is the per-trial overhead: start-up included
(each measures from its entry point: ``Tuner.create(...).run()``, ``tune.Tuner(...).fit()``),
since a user waits for it. It prints the per-trial overhead of each and the ratios.
Goal: tunelab's Ray executor at or below Ray Tune's per-trial overhead.

    .venv/bin/python bench/ray_overhead.py                      # 60 trials, 2 at once
    .venv/bin/python bench/ray_overhead.py --trials 20 --rounds 1
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def noop(params: dict[str, Any], trial: Any) -> float:
    """The training function: reports ``steps`` times, trains nothing."""
    loss = float(params["x"])
    for step in range(1, int(params["steps"]) + 1):
        trial.report(step=step, loss=loss / step)
    return loss / int(params["steps"])


def noop_tune(config: dict[str, Any]) -> None:
    """The same function for Ray Tune."""
    from ray import tune

    loss = float(config["x"])
    for step in range(1, int(config["steps"]) + 1):
        tune.report({"loss": loss / step})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(HERE),
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    return env


def start_cluster(cpus: int, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    log = tmp / "head.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--block", "--head", "--port",
             str(port), "--num-cpus", str(cpus), "--include-dashboard=false",
             "--object-store-memory", str(100 * 1000 * 1000), "--disable-usage-stats",
             "--ray-client-server-port", str(_free_port()), "--dashboard-agent-listen-port",
             "0", "--temp-dir", str(tmp / "r")],
            stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"ray start failed:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port}"


def spec(name: str, args: argparse.Namespace, address: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name, "objective": {"metric": "loss", "goal": "minimize"},
        "train": {"function": "ray_overhead:noop"},
        "static": {"steps": args.steps},
        "search_space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "strategy": {"type": "hyperband", "seed": 0, "min_resource": 1,
                     "max_resource": args.steps, "reduction_factor": 3},
        "limits": {"max_trials": args.trials, "max_parallel": args.parallel},
    }
    if address is not None:
        out["executor"] = {"type": "ray", "address": address, "cpus_per_trial": 1}
    return out


def run_tunelab(args: argparse.Namespace, address: str | None, tmp: Path, tag: str) -> float:
    from tunelab.spec import spec_from_dict
    from tunelab.store import Store
    from tunelab.tuner import Tuner

    store = Store.open(tmp / f"store-{tag}")
    try:
        js = spec_from_dict(spec(f"ovh-{tag}", args, address))
        t0 = time.perf_counter()
        status = Tuner.create(js, store).run()
        wall = time.perf_counter() - t0
        assert status == "completed", status
        n = len(store.read().trials(store.read().job(js.name).id))
        assert n == args.trials, n
    finally:
        store.close()
    return float(wall / args.trials)


def run_ray_tune(args: argparse.Namespace, address: str, tmp: Path, tag: str) -> float:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    t0 = time.perf_counter()
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(noop_tune, {"cpu": 1}),
            param_space={"x": tune.uniform(0.0, 1.0), "steps": args.steps},
            tune_config=tune.TuneConfig(
                metric="loss", mode="min", num_samples=args.trials,
                max_concurrent_trials=args.parallel,
                scheduler=ASHAScheduler(time_attr="training_iteration", max_t=args.steps,
                                        grace_period=1, reduction_factor=3)),
            run_config=tune.RunConfig(storage_path=str(tmp / f"tune-{tag}"), verbose=0,
                                      name=f"ovh-{tag}"),
        )
        results = tuner.fit()
        wall = time.perf_counter() - t0
        assert len(results) == args.trials, len(results)
    finally:
        ray.shutdown()
    return float(wall / args.trials)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--steps", type=int, default=9)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the benchmark's Ray head")
    ap.add_argument("--rounds", type=int, default=2, help="each way runs this many times")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))  # the local executor's workers import ray_overhead:noop
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    tmp = Path(tempfile.mkdtemp(prefix="tlbo"))
    proc, address = start_cluster(args.cpus, tmp)
    per: dict[str, list[float]] = {"tunelab-ray": [], "tunelab-local": [], "ray-tune": []}
    try:
        for r in range(args.rounds):  # interleaved, so load changes hit all three alike
            per["tunelab-ray"].append(run_tunelab(args, address, tmp, f"ray{r}"))
            per["tunelab-local"].append(run_tunelab(args, None, tmp, f"local{r}"))
            per["ray-tune"].append(run_ray_tune(args, address, tmp, f"tune{r}"))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms"
                                             for k, v in per.items()), flush=True)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in per.items()}
    print(f"\n{args.trials} no-op trials x {args.steps} reports, ASHA, {args.parallel} at once, "
          f"Ray head with {args.cpus} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'way':<16}{'per-trial overhead (median of rounds)':>40}")
    for k, v in med.items():
        print(f"{k:<16}{v * 1000:>36.0f} ms")
    ratio = med["tunelab-ray"] / med["ray-tune"]
    print(f"\ntunelab-ray / ray-tune = {ratio:.2f} (goal <= 1.0: "
          f"{'met' if ratio <= 1.0 else 'not met'}); tunelab-ray / tunelab-local = "
          f"{med['tunelab-ray'] / med['tunelab-local']:.2f}")


if __name__ == "__main__":
    main()
