"""Dashboard load (issue 20): a job of 2,000 trials x 50 reports, its page's API calls and the
page drawn in headless Chromium.

Writes the job straight into a fresh SQLite store (the tests' synthetic job: train/val loss
and accuracy per step, PBT-style copies, rung pauses and stops), starts ``tunelab ui`` on it as
its own process, then

* calls each API route the job page calls (header, points, decisions, leaderboard page,
  curves of every trial, version, importance) ``--calls`` times and prints p50 / p95 / max per
  route and over all of them (the first call of each route, cold, is reported apart);
* loads the job page ``--loads`` times in headless Chromium (``--headless=new``, no GPU) and
  prints the time from navigation start until every chart but importance is drawn, and until
  importance is drawn too (``performance.now()`` recorded by the page).

    .venv/bin/python bench/ui_load.py [--trials 2000] [--reports 50] [--calls 20] [--loads 5]

Goals: p95 of the API calls <= 300 ms; page fully drawn <= 2 s (2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--reports", type=int, default=50)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()

    import httpx
    from server.synth import synth_job  # tests/server/synth.py

    from tunelab.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="tunelab-ui-load-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        st = Store.open(tmp)
        synth_job(st, "big", trials=args.trials, steps=args.reports)
        st.close()
        print(f"store: {args.trials} trials x {args.reports} reports written in "
              f"{time.perf_counter() - t0:.1f} s ({tmp})", flush=True)
        port = _port()
        proc = subprocess.Popen([sys.executable, "-m", "tunelab.cli", "ui", "--store", str(tmp),
                                 "--port", str(port)], stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=base, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/api/v1/jobs")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        j = "/api/v1/jobs/big"
        routes = {"header": j, "points": j + "/points", "decisions": j + "/decisions",
                  "leaderboard": j + "/trials?sort=value&descending=false&offset=0&limit=50",
                  "curves": j + "/curves?metric=val_accuracy", "version": j + "/version",
                  "curves-best": j + "/curves?metric=val_accuracy"
                                 + "".join(f"&trials={n}" for n in range(100)),
                  "importance": j + "/importance", "jobs": "/api/v1/jobs"}
        cold: dict[str, float] = {}
        times: dict[str, list[float]] = {k: [] for k in routes}
        for k, path in routes.items():
            t = time.perf_counter()
            r = client.get(path)
            r.raise_for_status()
            cold[k] = (time.perf_counter() - t) * 1000
        for _ in range(args.calls):
            for k, path in routes.items():
                t = time.perf_counter()
                client.get(path).raise_for_status()
                times[k].append((time.perf_counter() - t) * 1000)
        print(f"\nAPI calls of the job page ({args.calls} each after one cold call), ms:")
        print(f"{'route':12s} {'cold':>8s} {'p50':>8s} {'p95':>8s} {'max':>8s}   bytes")
        for k in routes:
            size = len(client.get(routes[k]).content)
            print(f"{k:12s} {cold[k]:8.1f} {statistics.median(times[k]):8.1f} "
                  f"{_pct(times[k], 0.95):8.1f} {max(times[k]):8.1f}   {size}")
        every = [x for xs in times.values() for x in xs]
        p95 = _pct(every, 0.95)
        print(f"{'all':12s} {'':8s} {statistics.median(every):8.1f} {p95:8.1f} "
              f"{max(every):8.1f}   (goal p95 <= 300 ms: {'met' if p95 <= 300 else 'missed'})")

        if not (shutil.which("chromium") and shutil.which("chromedriver")):
            print("\nno chromium/chromedriver: page load not measured")
            return
        from server.live import browser

        drawn: list[float] = []
        full: list[float] = []
        fetches: list[list[tuple[str, float, float]]] = []
        steps: list[str] = []
        with browser() as d:
            for _ in range(args.loads + 1):  # the first load warms the browser's cache
                d.get("about:blank")
                d.get(base + "/jobs/big")
                end = time.monotonic() + 60
                got = None
                while time.monotonic() < end:
                    got = d.execute_script("return [document.body.dataset.firstDrawnMs,"
                                           " document.body.dataset.importanceMs]")
                    if got and got[0] and got[1]:
                        break
                    time.sleep(0.05)
                if not (got and got[0] and got[1]):
                    raise SystemExit("the job page was not drawn within 60 s")
                drawn.append(float(got[0]))
                full.append(max(float(got[0]), float(got[1])))
                fetches.append(d.execute_script(
                    "return performance.getEntriesByType('resource').map(e => [e.name, "
                    "e.startTime, e.responseEnd])"))
                steps.append(d.execute_script("return document.body.dataset.firstDrawSteps")
                             or "{}")
        drawn, full = drawn[1:], full[1:]
        print(f"\njob page in headless Chromium ({args.loads} loads after a warm-up), ms from "
              "navigation start:")
        print(f"drawn but importance: median {statistics.median(drawn):.0f}, max "
              f"{max(drawn):.0f}")
        # what the median load waited for: each request's start and end (ms from navigation)
        mid = sorted(range(1, len(fetches)), key=lambda i: drawn[i - 1])[len(drawn) // 2]
        print("requests of the median load (start → end ms):")
        for name, start, end_ in sorted(fetches[mid], key=lambda e: e[1]):
            short = name.replace(base, "")
            print(f"  {start:7.0f} → {end_:7.0f}  {short[:90]}")
        print(f"its first draw, ms per step: {steps[mid]}")
        worst = max(full)
        print(f"fully drawn:          median {statistics.median(full):.0f}, max {worst:.0f}   "
              f"(goal <= 2000 ms: {'met' if worst <= 2000 else 'missed'})")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
