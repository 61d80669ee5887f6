"""Broad search suite (issue 23): every method on every problem of ``suite_problems``, one run.

Protocol as bayesmark and ``bench/search_quality.py``: 16 rounds of ``ask(8)`` per run, 5-fold
CV losses, score ``100 × (1 − normalised regret)`` where 0 regret is the best loss any run found
on the problem and 1 the median loss of one random evaluation (clipped to [-1, 1]).

Reported, besides the overall mean: the score per model family and per metric, each with the
paired gap of tunelab bayesian to every other method and its 95 % interval over seeds (the
seeds' noise: a t-interval of the per-seed gap averaged over the group's problems); and the
evaluations tunelab bayesian needs to reach tunelab random's final best against random's own,
median over problems (per problem: median over seeds).

    .venv/bin/python bench/search_suite.py --seeds 3 --out /tmp/suite.jsonl     # everything
    .venv/bin/python bench/search_suite.py --problems trap-plateau DT-breast-acc --seeds 2 \
        --methods tunelab-bayesian tunelab-random                                 # a slice
    .venv/bin/python bench/search_suite.py --report /tmp/suite.jsonl              # tables only
    .venv/bin/python bench/search_suite.py --list                                 # the problems
    .venv/bin/python bench/search_suite.py --speed       # ask(8) at 128 observations, 9 dims

Runs are written as JSON lines to ``--out`` as they finish, so a cut-short run still reports.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import search_quality as sq
import suite_problems as sp

ME = "tunelab-bayesian"
METHODS = ["tunelab-bayesian", "tunelab-random", "optuna-tpe", "optuna-gp"]
if importlib.util.find_spec("smac") is not None:  # SMAC 3 where it is installed (a venv beside)
    METHODS.append("smac")


def run_one(task: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
    """One run: 16 rounds of ask(8) on one suite problem with one method and seed."""
    import torch

    torch.set_num_threads(1)  # the workers share the cores
    name, method, seed, options = task
    problem = sp.PROBLEMS[name]
    f = sp.objective(problem)
    searcher = sq._searcher(method, problem.space, seed, options)
    losses: list[float] = []
    ask_s: list[float] = []
    tried: list[dict[str, Any]] = []
    for _ in range(sq.ROUNDS):
        t0 = time.perf_counter()
        params = searcher.ask()
        ask_s.append(time.perf_counter() - t0)
        if not params:  # a finite space fully tried: nothing left to evaluate
            break
        vals = [f(p) for p in params]
        searcher.tell(params, vals)
        losses += vals
        tried += [{k: sq._plain(v) for k, v in p.items()} for p in params]
    return {"problem": name, "method": method, "seed": seed, "losses": losses, "ask_s": ask_s,
            "params": tried, "options": options}


# -- report ---------------------------------------------------------------------------------------
def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.inf


def _group_scores(regret: dict[tuple[str, str, int], float], problems: list[str],
                  method: str) -> dict[int, float]:
    """Per seed: the method's score averaged over ``problems`` (seeds with every problem)."""
    out: dict[int, float] = {}
    seeds = sorted({s for (_, _, s) in regret})
    for s in seeds:
        vals = [regret.get((method, p, s)) for p in problems]
        if vals and all(v is not None for v in vals):
            out[s] = 100 * (1 - float(np.mean([v for v in vals if v is not None])))
    return out


def gap(regret: dict[tuple[str, str, int], float], problems: list[str], other: str
        ) -> tuple[float, float, float]:
    """tunelab bayesian's score minus ``other``'s over ``problems``: (mean, low, high) of the
    95 % t-interval over seeds (paired: same problems, same seed)."""
    mine = _group_scores(regret, problems, ME)
    theirs = _group_scores(regret, problems, other)
    d = [mine[s] - theirs[s] for s in mine if s in theirs]
    if not d:
        return math.nan, math.nan, math.nan
    m = float(np.mean(d))
    if len(d) < 2:
        return m, -math.inf, math.inf
    h = _t95(len(d)) * float(np.std(d, ddof=1)) / math.sqrt(len(d))
    return m, m - h, m + h


def _group_table(title: str, groups: dict[str, list[str]], methods: list[str],
                 regret: dict[tuple[str, str, int], float]) -> list[str]:
    others = [m for m in methods if m != ME]
    lines = ["", title, "",
             "| group | problems | " + " | ".join(methods) + " | "
             + " | ".join(f"gap to {m} (95 % over seeds)" for m in others) + " |",
             "|---" * (2 + len(methods) + len(others)) + "|"]
    for g, probs in groups.items():
        cells = []
        for m in methods:
            sc = _group_scores(regret, probs, m)
            cells.append(f"{np.mean(list(sc.values())):.2f}" if sc else "-")
        gaps = []
        for m in others:
            mean, lo, hi = gap(regret, probs, m)
            if math.isnan(mean):
                gaps.append("-")
            elif math.isinf(lo):
                gaps.append(f"{mean:+.2f} (one seed: no interval)")
            else:
                flag = " **below**" if hi < 0 else ""
                gaps.append(f"{mean:+.2f} ({lo:+.2f} .. {hi:+.2f}){flag}")
        lines.append(f"| {g} | {len(probs)} | " + " | ".join(cells) + " | "
                     + " | ".join(gaps) + " |")
    return lines


def _reach_interval(ours: list[float], theirs: list[float], n: int = 2000
                    ) -> tuple[float, float]:
    """95 % bootstrap interval of median(ours) / median(theirs), problems resampled in pairs
    (which problems happen to be in the suite is the noise this figure has most of)."""
    rng = np.random.default_rng(0)
    a, b = np.asarray(ours), np.asarray(theirs)
    idx = rng.integers(0, len(a), size=(n, len(a)))
    ratios = np.median(a[idx], axis=1) / np.maximum(np.median(b[idx], axis=1), 1e-9)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def report(runs: list[dict[str, Any]]) -> str:
    found = {r["method"] for r in runs}
    # the known methods first, then any others (a renamed earlier version: --rename)
    methods = [m for m in METHODS if m in found] + sorted(found - set(METHODS) - {"smac"})
    methods += ["smac"] if "smac" in found and "smac" not in methods else []
    problems = sorted({r["problem"] for r in runs})
    regret = sq.regrets(runs)
    seeds = sorted({int(r["seed"]) for r in runs})
    lines = [f"{len(runs)} runs: {len(problems)} problems, methods {', '.join(methods)}, "
             f"seeds {seeds[0]}–{seeds[-1]}"]
    lines += _group_table("Overall (score = 100 × (1 − mean normalised regret)):",
                          {"all": problems}, methods, regret)
    fams: dict[str, list[str]] = {}
    mets: dict[str, list[str]] = {}
    for p in problems:
        prob = sp.PROBLEMS[p]
        fams.setdefault(prob.family, []).append(p)
        mets.setdefault(prob.metric, []).append(p)
    lines += _group_table("Per model family:", fams, methods, regret)
    lines += _group_table("Per metric (fn = synthetic function):", mets, methods, regret)
    lines += ["", "Per problem (score, mean over seeds):", "",
              "| problem | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for p in problems:
        cells = []
        for m in methods:
            v = [regret[(m, p, s)] for s in seeds if (m, p, s) in regret]
            cells.append(f"{100 * (1 - np.mean(v)):.1f}" if v else "-")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    traps = [p for p in problems if sp.PROBLEMS[p].metric == "fn"]
    if traps:  # the score saturates near 100; the losses show how near each got
        lines += ["", "Synthetic functions, best loss (median over seeds; the optimum is 0 for "
                  "trap-plateau and trap-heavy, -1 for trap-needle, -4.28 for trap-integer; "
                  "trap-noisy's values include its noise):", "",
                  "| problem | " + " | ".join(methods) + " |",
                  "|---" * (len(methods) + 1) + "|"]
        for p in traps:
            cells = []
            for m in methods:
                best = [min(r["losses"]) for r in runs
                        if r["problem"] == p and r["method"] == m and r["losses"]]
                cells.append(f"{statistics.median(best):.4g}" if best else "-")
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    if ME in methods and "tunelab-random" in methods:
        per_prob_ours: list[float] = []
        per_prob_theirs: list[float] = []
        for p in problems:
            sub = [r for r in runs if r["problem"] == p]
            ours, theirs = sq.reach(sub, ME, "tunelab-random")
            if ours:
                per_prob_ours.append(statistics.median(ours))
                per_prob_theirs.append(statistics.median(theirs))
        if per_prob_ours:
            mo, mt = statistics.median(per_prob_ours), statistics.median(per_prob_theirs)
            lo, hi = _reach_interval(per_prob_ours, per_prob_theirs)
            lines += ["", "Evaluations to reach tunelab random's final best (per problem the "
                      "median over seeds; 129 = never): median over problems "
                      f"**tunelab bayesian {mo:g}**, tunelab random {mt:g} "
                      f"(ratio {mo / mt:.2f}, 95 % bootstrap over problems {lo:.2f} .. "
                      f"{hi:.2f}; goal ≤ 0.5)."]
    lines += ["", "| method | median ask(8) s in the runs |", "|---|---|"]
    for m in methods:
        ask = [a for r in runs if r["method"] == m for a in r["ask_s"][2:]]
        lines.append(f"| {m} | {statistics.median(ask):.3f} |" if ask else f"| {m} | - |")
    return "\n".join(lines)


def versions() -> str:
    """Library versions the figures depend on (printed beside every timing)."""
    import importlib.metadata as md

    out = []
    for lib in ("numpy", "scipy", "torch", "gpytorch", "botorch", "scikit-learn", "optuna",
                "smac"):
        try:
            out.append(f"{lib} {md.version(lib)}")
        except md.PackageNotFoundError:
            out.append(f"{lib} (absent)")
    return f"Python {sys.version.split()[0]}, " + ", ".join(out)


def ask_cpu(repeats: int = 9) -> str:
    """``ask(8)`` at 128 observations in 9 dimensions (``search_quality.ask_speed``'s
    histories) on one thread: wall time and the process's CPU time. On a shared machine the wall
    time measures the neighbours; the CPU time is what the call costs, and one thread's CPU
    time bounds the wall time on two quiet cores from above."""
    import torch

    from tunelab.strategies import make_strategy
    from tunelab.trial import History, TrialState, TrialView

    torch.set_num_threads(1)
    space = sq.PROBLEMS["MLP-adam-iris-logloss"].space
    wall, cpu = [], []
    for rep in range(repeats):
        pts = make_strategy("random", space, seed=100 + rep).ask(History(), 128)
        rng = np.random.default_rng(rep)
        trials = [TrialView(i, p, TrialState.COMPLETED,
                            float(np.sum((space.to_unit(p) - 0.3) ** 2) + 0.01 * rng.normal()))
                  for i, p in enumerate(pts)]
        s = make_strategy("bayesian", space, seed=rep)
        w0, c0 = time.perf_counter(), time.process_time()
        s.ask(History(trials), 8)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return (f"ask(8) at 128 observations, 9 dimensions, 1 thread, {repeats} histories: "
            f"median CPU {statistics.median(cpu):.3f} s (min {min(cpu):.3f}, max "
            f"{max(cpu):.3f}), median wall {statistics.median(wall):.3f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", nargs="*", default=None)
    ap.add_argument("--families", nargs="*", default=None, help="only these model families")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0)
    ap.add_argument("--methods", nargs="*", default=None, help=f"from {METHODS}")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/search_suite.jsonl")
    ap.add_argument("--options", default="{}", metavar="JSON",
                    help="options of strategy: bayesian")
    ap.add_argument("--report", nargs="+", default=None, metavar="FILE",
                    help="only print the tables of saved --out files (later files' runs replace "
                         "earlier ones of the same method, problem and seed)")
    ap.add_argument("--before", nargs="+", default=[], metavar="FILE",
                    help="with --report: tunelab-bayesian's runs in these files are reported "
                         "as tunelab-bayesian-before, beside the --report files' (the same "
                         "problems and seeds with an earlier version of the strategy)")
    ap.add_argument("--list", action="store_true", help="list the problems and exit")
    ap.add_argument("--speed", action="store_true",
                    help="only time ask(8) at 128 observations in 9 dimensions (9 histories: "
                         "CPU time on one thread, then wall time on all cores), with the "
                         "library versions")
    a = ap.parse_args(argv)
    if a.speed:
        print(f"{versions()}\n{ask_cpu()}", flush=True)
        print(sq.ask_speed(9, json.loads(a.options)))
        return 0
    if a.list:
        for p in sp.problems():
            print(f"{p.name:28s} {p.family:9s} {p.dataset:9s} {p.metric:8s} {len(p.space)} dims")
        return 0
    if a.report:
        runs = sq.merge_runs(a.report)
        runs += [{**r, "method": f"{ME}-before"} for r in sq.merge_runs(a.before)
                 if r["method"] == ME]
        if a.problems:
            runs = [r for r in runs if r["problem"] in a.problems]
        print(report(runs))
        return 0
    problems = a.problems or [p.name for p in sp.problems()
                              if a.families is None or p.family in a.families]
    unknown = [p for p in problems if p not in sp.PROBLEMS]
    if unknown:
        print(f"error: unknown problems {unknown}; --list shows the suite's problems")
        return 2
    methods = a.methods or METHODS
    options = json.loads(a.options)
    tasks = [(p, m, s, options) for p in problems for m in methods
             for s in range(a.seed_start, a.seed_start + a.seeds)]
    # a whole seed at a time, cheap problems first and a problem's methods together: a run cut
    # short (the development box is shared) still holds complete, comparable problems
    tasks.sort(key=lambda t: (t[2], sp.PROBLEMS[t[0]].cost, t[0]))
    print(f"{len(tasks)} runs: {len(problems)} problems × {len(methods)} methods × {a.seeds} "
          f"seeds, {sq.ROUNDS} rounds of ask({sq.BATCH}), {a.workers} workers\n{versions()}",
          flush=True)
    t0 = time.perf_counter()
    runs = []
    with open(a.out, "w") as fh, mp.get_context("spawn").Pool(a.workers) as pool:
        for r in pool.imap_unordered(run_one, tasks):
            runs.append(r)
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            best = min(sq._best_curve(r["losses"])) if r["losses"] else math.nan
            print(f"[{time.perf_counter() - t0:6.0f}s] {r['problem']} {r['method']} "
                  f"seed {r['seed']}: best {best:.4g}", flush=True)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s\n")
    print(report(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
