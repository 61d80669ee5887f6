"""CLI start-up time: `tunelab --help` and `tunelab jobs` on a store of 100 jobs (issue 17).

Times each command in a fresh interpreter (wall time of the whole process, median of
``--repeats``) for this working tree and for an earlier commit checked out side by side with
``git worktree``, alternating which goes first, in one run. Goal: under 1 s each.

    .venv/bin/python bench/cli_start.py                       # against HEAD~1
    .venv/bin/python bench/cli_start.py --against 16a16e8     # against a given commit

The store is built once with the earlier commit's code (``tunelab.tune`` on a no-op function,
``--trials`` trials per job), copied for each side, and opened once per side before timing (so
a newer side's migrations and both sides' bytecode compilation are not timed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BUILD = """
import sys
import tunelab
from cli_start_fn import f
for i in range({jobs}):
    tunelab.tune(f, {{"x": tunelab.Float(0.0, 2.0)}}, max_trials={trials}, name=f"job-{{i:03d}}",
                 store=sys.argv[1], seed=i)
"""

FN = """
def f(params, trial):
    return (params["x"] - 1.0) ** 2
"""


def run(src: Path, args: list[str], cwd: Path) -> float:
    """Seconds for ``python -m tunelab.cli ARGS`` with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "tunelab.cli", *args], cwd=cwd, env=env,
                         capture_output=True, text=True)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"cli_start: `tunelab {' '.join(args)}` failed with {src}:\n{res.stderr}")
    return took


def which(src: Path) -> str:
    """Where ``tunelab`` is imported from with ``src`` first on the path (a sanity check)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", "import tunelab; print(tunelab.__file__)"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", default="HEAD~1", help="earlier commit to compare with")
    ap.add_argument("--jobs", type=int, default=100, help="jobs in the store")
    ap.add_argument("--trials", type=int, default=3, help="trials per job")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="tunelab-cli-start-"))
    old = tmp / "old"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        a.against], check=True)
        rev = subprocess.run(["git", "-C", str(old), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        sides = {f"{a.against} ({rev})": old / "src", "this tree": ROOT / "src"}
        for label, src in sides.items():
            got = which(src)
            if not got.startswith(str(src)):
                sys.exit(f"cli_start: {label} imports tunelab from {got}, not {src}")
        (tmp / "cli_start_fn.py").write_text(FN)
        base = tmp / "store-base"
        t0 = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": f"{old / 'src'}{os.pathsep}{tmp}"}
        subprocess.run([sys.executable, "-c", BUILD.format(jobs=a.jobs, trials=a.trials),
                        str(base)], cwd=tmp, env=env, check=True, capture_output=True)
        print(f"store: {a.jobs} jobs x {a.trials} trials, built with {rev} in "
              f"{time.perf_counter() - t0:.0f} s")
        stores = {}
        for i, (label, src) in enumerate(sides.items()):
            stores[label] = tmp / f"store-{i}"
            shutil.copytree(base, stores[label])
            run(src, ["jobs", "--store", str(stores[label])], tmp)  # migrate, compile: untimed
            run(src, ["--help"], tmp)
        commands = {"--help": ["--help"], "jobs": ["jobs", "--store"]}
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(a.repeats):
            order = list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]
            for name, args in commands.items():
                for label, src in order:
                    full = [*args, str(stores[label])] if name == "jobs" else args
                    times.setdefault((name, label), []).append(run(src, full, tmp))
        load = os.getloadavg()
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
              f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; median of {a.repeats}")
        labels = list(sides)
        print(f"{'command':<10} {labels[0]:>22} {labels[1]:>12}  ratio  (runs, s)")
        for name in commands:
            m_old = statistics.median(times[(name, labels[0])])
            m_new = statistics.median(times[(name, labels[1])])
            runs = " ".join(f"{x:.2f}" for x in times[(name, labels[1])])
            print(f"{'tunelab ' + name:<10} {m_old:>20.2f} s {m_new:>10.2f} s  "
                  f"{m_new / m_old:5.2f}  ({runs}; {labels[0]}: "
                  + " ".join(f"{x:.2f}" for x in times[(name, labels[0])]) + ")")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
