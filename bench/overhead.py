"""Tuner overhead per trial: tunelab's loop against Optuna on a no-op objective (issue 2).

Both run the same number of trials of a no-op objective over the same 3-parameter space, each
with a fresh SQLite store in a temporary folder:

* tunelab: ``tunelab.tune(objective, space, max_trials=N, max_parallel=1, store=tmp)``, the
  full path: tuner loop, one warm worker process, SQLite store (WAL);
* Optuna: ``optuna.create_study(storage="sqlite:///tmp/optuna.db",
  sampler=RandomSampler(seed))`` and ``study.optimize(objective, n_trials=N)``, in process
  (Optuna's default RDB storage set-up; its per-trial INFO log line is silenced).

The two alternate for ``--rounds`` rounds so machine noise hits both alike.

Per-trial cost is the steady-state cycle: (completion time of the last trial - completion time
of the first trial) / (N - 1), from each library's own trial timestamps (tunelab ``ended_at``,
Optuna ``datetime_complete``). One-time costs are reported apart: start-up = call start to the
first trial's completion (store creation and migration, worker spawn and import, first trial),
tail = last trial's completion to the call's return (job summary, shutdown).

    .venv/bin/python bench/overhead.py [--trials 300] [--rounds 3] [--report] [--dir /dev/shm]

``--dir`` puts the temporary stores in another folder (default: the system temp folder). On a
disk where fsync is slow, Optuna's SQLite file (rollback journal, synchronous=FULL: an fsync per
commit, several commits per trial) pays for it on every trial, while tunelab's store runs WAL with
synchronous=NORMAL (no fsync per commit); ``--dir /dev/shm`` (tmpfs) takes fsync out and
compares the libraries' CPU cost alone.

``--report`` makes each trial report once before returning (tunelab ``trial.report``, Optuna
``trial.report``), which adds a round trip to the tuner and a store write per trial.

``--poll --toggle SECONDS`` instead runs one job with the dashboard server up throughout and
its page polling in every other window of SECONDS, and compares each closed window with the
open one after it (a pair shares the machine's slow drifts).

``--poll`` compares tunelab with itself instead of Optuna: each round runs the job once alone
and once with the dashboard open on it (``tunelab ui`` over the same store, its job page's API
polled every second, ``bench/ui_poller.py``); goal: at most 10 % more per trial.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPORT = False  # set by --report; workers re-import this module and read TUNELAB_BENCH_REPORT


def tunelab_objective(params: dict[str, Any], trial: Any) -> float:
    """A no-op objective for tunelab (module-level: it runs in a worker process)."""
    value = float(params["x"]) ** 2 + float(params["lr"])
    if _report_enabled():
        trial.report(step=1, loss=value)
    return value


def _report_enabled() -> bool:
    import os

    return REPORT or os.environ.get("TUNELAB_BENCH_REPORT") == "1"


def optuna_objective(trial: Any) -> float:
    """The same no-op objective for Optuna."""
    x = trial.suggest_float("x", -5.0, 5.0)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("opt", ["sgd", "adam", "rmsprop"])
    value = float(x**2 + lr)
    if REPORT:
        trial.report(value, 1)
    return value


def run_tunelab(n: int, seed: int, where: str | None, poll: bool = False) -> dict[str, float]:
    import contextlib

    import tunelab
    from tunelab.store import Store

    space: dict[str, tunelab.space.Param] = {
        "x": tunelab.Float(-5.0, 5.0),
        "lr": tunelab.Float(1e-4, 1e-1, scale="log"),
        "opt": tunelab.Choice(("sgd", "adam", "rmsprop")),
    }
    with tempfile.TemporaryDirectory(prefix="tunelab-bench-", dir=where) as tmp:
        watching: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if poll:
            from ui_poller import DashboardPoller

            Store.open(tmp).close()  # the dashboard opens an existing store
            watching = DashboardPoller(Path(tmp), "overhead")
        with watching:
            t0 = time.time()
            res = tunelab.tune(tunelab_objective, space, max_trials=n, max_parallel=1,
                               store=tmp, name="overhead", seed=seed)
            t1 = time.time()
        st = Store.open(tmp)
        try:
            trials = st.read().trials(st.read().job("overhead").id, with_reports=False)
        finally:
            st.close()
    done = sorted(t.ended_at for t in trials if t.ended_at is not None)
    ok = sum(1 for t in trials if t.state.value == "completed")
    if ok != n or res.status != "completed":
        raise SystemExit(f"tunelab: {ok}/{n} trials completed, status {res.status}")
    return _figures(t0, t1, done)


def run_optuna(n: int, seed: int, where: str | None) -> dict[str, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="optuna-bench-", dir=where) as tmp:
        t0 = time.time()
        study = optuna.create_study(
            storage=f"sqlite:///{Path(tmp) / 'optuna.db'}", study_name="overhead",
            sampler=optuna.samplers.RandomSampler(seed=seed), direction="minimize",
        )
        study.optimize(optuna_objective, n_trials=n)
        t1 = time.time()
        trials = study.get_trials(deepcopy=False)
        del study
    done = sorted(t.datetime_complete.timestamp() for t in trials
                  if t.datetime_complete is not None)
    ok = sum(1 for t in trials if t.state == optuna.trial.TrialState.COMPLETE)
    if ok != n:
        raise SystemExit(f"optuna: {ok}/{n} trials completed")
    return _figures(t0, t1, done)


def _figures(t0: float, t1: float, done: list[float]) -> dict[str, float]:
    per_trial = (done[-1] - done[0]) / (len(done) - 1)
    return {
        "ms_per_trial": per_trial * 1000,
        "startup_s": done[0] - t0,
        "tail_s": t1 - done[-1],
        "total_s": t1 - t0,
    }


def main() -> None:
    global REPORT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--report", action="store_true", help="each trial reports once")
    ap.add_argument("--dir", default=None, help="folder for the temporary stores")
    ap.add_argument("--poll", action="store_true",
                    help="tunelab alone against tunelab with the dashboard polling it")
    ap.add_argument("--toggle", type=float, default=0.0, metavar="SECONDS",
                    help="with --poll: one job, the polling page open and closed in "
                         "alternating windows of SECONDS (drifts cancel within a pair)")
    args = ap.parse_args()
    if args.trials < 2:
        ap.error("--trials must be at least 2")
    REPORT = args.report
    if REPORT:
        import os

        os.environ["TUNELAB_BENCH_REPORT"] = "1"  # inherited by the worker processes
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.poll and args.toggle > 0:
        _toggle_main(args.trials, args.toggle, args.dir)
        return
    if args.poll:
        _poll_main(args.trials, args.rounds, args.dir)
        return

    rows: dict[str, list[dict[str, float]]] = {"tunelab": [], "optuna": []}
    for r in range(args.rounds):
        for lib, fn in (("tunelab", run_tunelab), ("optuna", run_optuna)):
            f = fn(args.trials, r, args.dir)
            rows[lib].append(f)
            print(f"round {r + 1} {lib:8s} {f['ms_per_trial']:7.2f} ms/trial   start-up "
                  f"{f['startup_s']:5.2f} s   tail {f['tail_s']:5.2f} s   total "
                  f"{f['total_s']:6.2f} s", flush=True)
        rr = rows["tunelab"][-1]["ms_per_trial"] / rows["optuna"][-1]["ms_per_trial"]
        print(f"round {r + 1} ratio tunelab/optuna {rr:.3f}", flush=True)
    med = {lib: statistics.median(f["ms_per_trial"] for f in fs) for lib, fs in rows.items()}
    up = {lib: statistics.median(f["startup_s"] for f in fs) for lib, fs in rows.items()}
    print(f"\n{args.trials} trials x {args.rounds} rounds, max_parallel=1, stores in "
          f"{args.dir or tempfile.gettempdir()}{', one report per trial' if REPORT else ''}")
    for lib in rows:
        print(f"median {lib:8s} {med[lib]:7.2f} ms/trial   start-up {up[lib]:5.2f} s")
    ratio = med["tunelab"] / med["optuna"]
    per_round = statistics.median(
        t["ms_per_trial"] / o["ms_per_trial"]
        for t, o in zip(rows["tunelab"], rows["optuna"], strict=True)
    )
    verdict = "met" if ratio <= 1 / 3 else "missed"
    print(f"ratio tunelab/optuna {ratio:.3f} of the medians, {per_round:.3f} median of the "
          f"per-round ratios  (goal <= 0.333: {verdict})")


def _poll_main(trials: int, rounds: int, where: str | None) -> None:
    """tunelab alone against tunelab with the dashboard open and polling, alternating."""
    alone: list[float] = []
    watched: list[float] = []
    for r in range(rounds):
        for label, poll, out in (("alone", False, alone), ("dashboard", True, watched)):
            f = run_tunelab(trials, r, where, poll=poll)
            out.append(f["ms_per_trial"])
            print(f"round {r + 1} tunelab {label:9s} {f['ms_per_trial']:7.2f} ms/trial   total "
                  f"{f['total_s']:6.2f} s", flush=True)
        print(f"round {r + 1} ratio dashboard/alone {watched[-1] / alone[-1]:.3f}", flush=True)
    ratio = statistics.median(watched) / statistics.median(alone)
    per_round = statistics.median(w / a for w, a in zip(watched, alone, strict=True))
    verdict = "met" if ratio <= 1.10 else "missed"
    print(f"\n{trials} trials x {rounds} rounds, max_parallel=1; median alone "
          f"{statistics.median(alone):.2f} ms/trial, with the dashboard polling "
          f"{statistics.median(watched):.2f} ms/trial")
    print(f"ratio {ratio:.3f} of the medians, {per_round:.3f} median of the per-round ratios "
          f"(goal <= 1.10: {verdict})")


def _toggle_main(trials: int, window: float, where: str | None) -> None:
    """One job of ``trials`` no-op trials with ``tunelab ui`` over its store throughout; the
    page polls in every other ``window`` seconds. Each (closed, open) pair of windows gives the
    ratio of their ms per trial, from the trials' own end times; slow drifts of a shared
    machine hit both halves of a pair alike."""
    import threading

    from ui_poller import DashboardPoller

    import tunelab
    from tunelab.store import Store

    space: dict[str, tunelab.space.Param] = {
        "x": tunelab.Float(-5.0, 5.0), "lr": tunelab.Float(1e-4, 1e-1, scale="log"),
        "opt": tunelab.Choice(("sgd", "adam", "rmsprop"))}
    windows: list[tuple[float, float, bool]] = []
    with tempfile.TemporaryDirectory(prefix="tunelab-bench-", dir=where) as tmp:
        Store.open(tmp).close()
        with DashboardPoller(Path(tmp), "overhead") as poller:
            poller.active.clear()
            done = threading.Event()

            def flip() -> None:
                on = False
                start = time.time()
                while not done.wait(window):
                    now = time.time()
                    windows.append((start, now, on))
                    on = not on
                    (poller.active.set if on else poller.active.clear)()
                    start = now

            flipper = threading.Thread(target=flip, daemon=True)
            flipper.start()
            res = tunelab.tune(tunelab_objective, space, max_trials=trials, max_parallel=1,
                               store=tmp, name="overhead", seed=0)
            done.set()
            flipper.join(window + 5)
            calls = poller.calls
        st = Store.open(tmp)
        try:
            ended = sorted(t.ended_at for t in st.read().trials(
                st.read().job("overhead").id, with_reports=False) if t.ended_at is not None)
        finally:
            st.close()
    if res.status != "completed":
        raise SystemExit(f"tunelab: the job ended {res.status}")
    import bisect

    per: list[tuple[bool, float]] = []
    for a, b, on in windows:
        n = bisect.bisect_left(ended, b) - bisect.bisect_left(ended, a)
        if n >= 10:  # a window the job filled (not its start or its end)
            per.append((on, (b - a) / n * 1000))
    pairs = [(off, on_) for (o1, off), (o2, on_) in itertools.pairwise(per)
             if not o1 and o2]
    if len(pairs) < 3:
        raise SystemExit(f"only {len(pairs)} closed/open pairs: raise --trials or lower "
                         "--toggle")
    ratios = sorted(on_ / off for off, on_ in pairs)
    q = len(ratios) // 4
    verdict = "met" if statistics.median(ratios) <= 1.10 else "missed"
    print(f"{trials} trials, max_parallel=1, windows of {window:g} s, {calls} API calls while "
          f"open; {len(pairs)} closed/open pairs")
    print(f"closed: median {statistics.median(o for o, _ in pairs):.2f} ms/trial; open: median "
          f"{statistics.median(n for _, n in pairs):.2f} ms/trial")
    print(f"open/closed per pair: median {statistics.median(ratios):.3f}, middle half "
          f"{ratios[q]:.3f}..{ratios[-q - 1]:.3f} (goal <= 1.10: {verdict})")


if __name__ == "__main__":
    main()
