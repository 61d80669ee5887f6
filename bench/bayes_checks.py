"""Checks behind BENCHMARKS.md's "Search quality" (issue 4): reproducibility of the Bayesian
strategy and the shape of two benchmark objectives near their best.

Result files (``A.jsonl``) are written by ``bench/search_quality.py --out``; they are not kept
in the repository (a run is reproducible from its command).

    .venv/bin/python bench/bayes_checks.py same-answer A.jsonl  # a stored RF-wine history,
                                                                # ask(8) in 4 processes
    .venv/bin/python bench/bayes_checks.py compare A.jsonl B.jsonl   # identical runs in two files
    .venv/bin/python bench/bayes_checks.py logreg           # loss near the best C (jagged)
    .venv/bin/python bench/bayes_checks.py lasso            # the best alpha (a kink)
    .venv/bin/python bench/bayes_checks.py plateau A.jsonl ...  # evaluations spent on a plateau
    .venv/bin/python bench/bayes_checks.py finals A.jsonl B.jsonl [METHOD]  # runs that differ
    .venv/bin/python bench/bayes_checks.py faces A.jsonl DT-digits-acc 5  # batch 2 on the faces?
    .venv/bin/python bench/bayes_checks.py rf-mean A.jsonl   # RF seed 3: learned vs zero prior mean
    .venv/bin/python bench/bayes_checks.py escape DT-digits-acc 0.25 A.jsonl ...  # evals to <= 0.25
    .venv/bin/python bench/bayes_checks.py margin optuna-gp A.jsonl ...  # score gap, 95 % interval
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import search_quality as sq

# The stored run ``answer`` replays: problem, seed, number of evaluations.
HISTORY = ("RF-wine-logloss", 0, 32)


def answer(path: str) -> str:
    """md5 of ask(8) on the first 32 evaluations of a stored RF-wine run (one process).

    ``path`` is a ``search_quality.py --out`` file holding tunelab bayesian's seed-0 run of
    RF-wine-logloss (e.g. ``--problems RF-wine-logloss --seeds 1 --methods tunelab-bayesian``).
    """
    import torch

    from tunelab.strategies import make_strategy
    from tunelab.trial import History, TrialState, TrialView

    torch.set_num_threads(1)
    problem, seed, n = HISTORY
    run = next(r for r in sq.merge_runs([path])
               if r["problem"] == problem and r["seed"] == seed
               and r["method"] == "tunelab-bayesian")
    trials = [TrialView(i, p, TrialState.COMPLETED, v)
              for i, (p, v) in enumerate(zip(run["params"][:n], run["losses"][:n], strict=True))]
    out = make_strategy("bayesian", sq.PROBLEMS[problem].space, seed=0).ask(
        History(trials, "minimize"), 8)
    return hashlib.md5(json.dumps(out, sort_keys=True).encode()).hexdigest()


def same_answer(path: str, processes: int = 4) -> None:
    got = [subprocess.run([sys.executable, __file__, "answer", path], capture_output=True,
                          text=True,
                          check=True).stdout.strip() for _ in range(processes)]
    print(f"{len(set(got))} distinct answer(s) from {processes} processes: {got}")


def compare(a: str, b: str) -> None:
    runs = [{(r["method"], r["problem"], r["seed"]): r["losses"] for r in sq.merge_runs([f])}
            for f in (a, b)]
    shared = sorted(set(runs[0]) & set(runs[1]))
    same = sum(runs[0][k] == runs[1][k] for k in shared)
    print(f"{same} of {len(shared)} shared runs have identical losses")
    for k in shared:
        if runs[0][k] != runs[1][k]:
            first = next(i for i, (x, y) in enumerate(zip(*(r[k] for r in runs), strict=True))
                         if x != y)
            print(f"  differ: {k[0]} {k[1]} seed {k[2]}, from evaluation {first + 1}")


def plateau(files: list[str]) -> None:
    """Per run on the tree problems: the plateau value (the constant predictor's loss, the worst
    any run saw), how many of the first evaluations all sat on it, and batches spent on it."""
    runs = sq.merge_runs(files)
    for problem in ("DT-digits-acc", "RF-wine-logloss"):
        top = max(v for r in runs if r["problem"] == problem for v in r["losses"]
                  if np.isfinite(v))
        for r in sorted((r for r in runs if r["problem"] == problem),
                        key=lambda r: (r["method"], r["seed"])):
            flat = [v >= top - 1e-9 for v in r["losses"]]
            lead = next((i for i, f in enumerate(flat) if not f), len(flat))
            per_batch = [sum(flat[i:i + sq.BATCH]) for i in range(0, len(flat), sq.BATCH)]
            print(f"{problem} {r['method']} seed {r['seed']}: first {lead} evaluations on the "
                  f"plateau ({top:.4f}); per batch {per_batch}")


def escape(problem: str, below: str, *files: str) -> None:
    """Per method: evaluations until a run's best-so-far is at most ``below`` (129 = never)."""
    runs = [r for r in sq.merge_runs(list(files)) if r["problem"] == problem]
    for method in sorted({r["method"] for r in runs}):
        mine = sorted((r for r in runs if r["method"] == method), key=lambda r: r["seed"])
        need = []
        for r in mine:
            hit = np.nonzero(np.minimum.accumulate(r["losses"]) <= float(below))[0]
            need.append(int(hit[0]) + 1 if len(hit) else 129)
        finals = [min(r["losses"]) for r in mine]
        print(f"{method}: {len(mine)} runs, evaluations to <= {below}: median "
              f"{np.median(need):g}, mean {np.mean(need):.1f}, range {min(need)}-{max(need)}, "
              f"never {need.count(129)}; worst final {max(finals):.4f}")
        print("  per seed: " + " ".join(f"{r['seed']}:{n}" for r, n in zip(mine, need,
                                                                      strict=True)))


def logreg() -> None:
    f = sq._objective(sq.PROBLEMS["logreg-iris-logloss"])
    print("log10 C   loss at intercept_scaling 0.01 / 1 / 100")
    optuna_gp_seed4 = float(np.log10(46.48740742848069))  # its best C (0.0701136)
    for lc in [*np.linspace(1.55, 1.85, 13), *np.linspace(1.66, 1.675, 7), optuna_gp_seed4]:
        vals = [f({"C": 10 ** lc, "intercept_scaling": s, "fit_intercept": True})
                for s in (0.01, 1.0, 100.0)]
        print(f"{lc:.5f}  " + "  ".join(f"{v:.7f}" for v in vals))


def lasso() -> None:
    from scipy.optimize import minimize_scalar

    f = sq._objective(sq.PROBLEMS["lasso-diabetes-mse"])

    def g(la: float) -> float:
        return f({"alpha": 10 ** la, "fit_intercept": True})

    res = minimize_scalar(g, bounds=(-1, 0.5), method="bounded", options={"xatol": 1e-7})
    print(f"best log10 alpha {res.x:.5f}: MSE {res.fun:.6f}")
    for d in (-0.002, -0.001, -0.0005, 0.0005, 0.001):
        print(f"  {d:+.4f}: {g(res.x + d):.6f}")


def finals(a: str, b: str, method: str = "tunelab-bayesian") -> None:
    """Final best, and the evaluation it was first reached at, of each run of ``method`` that
    differs between two files (same problem and seed), and the first loss of each (repr: a
    last-bit difference shows)."""
    runs = [{(r["problem"], r["seed"]): r for r in sq.merge_runs([f])
             if r["method"] == method} for f in (a, b)]
    for k in sorted(set(runs[0]) & set(runs[1])):
        if runs[0][k]["losses"] == runs[1][k]["losses"]:
            continue
        cells = []
        for f, rs in zip((a, b), runs, strict=True):
            c = sq._best_curve(rs[k]["losses"])
            cells.append(f"{Path(f).name}: {c[-1]:.6f} at {sq._first_at(c, float(c[-1]))} "
                         f"(first loss {rs[k]['losses'][0]!r})")
        print(f"{k[0]} seed {k[1]}: " + " | ".join(cells))


def faces(path: str, problem: str, seed: str) -> None:
    """How many coordinates of a run's second batch (evaluations 9-16) lie within 0.035 of a
    bound of the parameter cube."""
    run = next(r for r in sq.merge_runs([path]) if r["problem"] == problem
               and r["seed"] == int(seed) and r["method"] == "tunelab-bayesian")
    space = sq.PROBLEMS[problem].space
    u = np.array([space.to_unit(p) for p in run["params"][8:16]])
    print(f"{problem} seed {seed}, evaluations 9-16: {int(np.sum((u <= 0.035) | (u >= 0.965)))} "
          f"of {u.size} coordinates within 0.035 of a bound")


def rf_mean(path: str) -> None:
    """RF-wine seed 3 of tunelab bayesian in the file `path` at 46 evaluations: the GP's prediction
    along each parameter from the incumbent with the learned constant mean and with a zero mean,
    and the true loss with min_samples_split at its lowest."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
    from gpytorch.means import ZeroMean
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from tunelab.strategies.bayesian import BayesianStrategy
    from tunelab.trial import History, TrialState, TrialView

    problem, n = "RF-wine-logloss", 46
    run = next(r for r in sq.merge_runs([path])
               if r["problem"] == problem and r["seed"] == 3
               and r["method"] == "tunelab-bayesian")
    space = sq.PROBLEMS[problem].space
    trials = [TrialView(i, p, TrialState.COMPLETED, v)
              for i, (p, v) in enumerate(zip(run["params"][:n], run["losses"][:n], strict=True))]
    st = BayesianStrategy(space, seed=3)
    X, t, _ = st._data(History(trials, "minimize")).arrays()
    tx, ty = torch.as_tensor(X), torch.as_tensor(-t).reshape(-1, 1)
    best = int(np.argmin(run["losses"][:n]))
    u = space.to_unit(run["params"][best])
    print(f"incumbent (unit cube) {np.round(u, 3)}: loss {run['losses'][best]:.4f}")
    for zero in (False, True):
        extra = {"mean_module": ZeroMean()} if zero else {}
        m = SingleTaskGP(tx, ty, covar_module=get_covar_module_with_dim_scaled_prior(
            ard_num_dims=tx.shape[-1]), outcome_transform=None, **extra)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(m.likelihood, m))
        m.eval()
        const = "zero" if zero else f"learned {m.mean_module.constant.item():+.2f}"
        print(f"mean {const} (score = higher is better; best observed {ty.max().item():+.2f})")
        for j in range(len(u)):
            row = []
            for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
                uu = u.copy()
                uu[j] = v
                z = torch.as_tensor(st.encoder.unit_to_model(uu[None]), dtype=torch.float64)
                with torch.no_grad():
                    post = m.posterior(z)
                row.append(f"{v}:{post.mean.item():+.2f}±{post.variance.sqrt().item():.2f}")
            print(f"  {space.names[j]:>24s} " + " ".join(row))
    f = sq._objective(sq.PROBLEMS[problem])
    low = u.copy()
    low[2] = 0.0
    print(f"true loss with min_samples_split at its lowest: {f(space.from_unit(low)):.4f}")


def margin(other: str, *files: str) -> None:
    """tunelab bayesian's score minus ``other``'s on the runs both have (same problem and
    seed), with a 95 % bootstrap interval that resamples seeds within each problem.

    Regret is normalised as ``--report`` does, on every run of every method in ``files``.
    """
    me = "tunelab-bayesian"
    regret = sq.regrets(sq.merge_runs(list(files)))
    diffs: dict[str, list[float]] = {}
    for (m, prob, seed), v in regret.items():
        if m == other and (me, prob, seed) in regret:
            diffs.setdefault(prob, []).append(100 * (v - regret[(me, prob, seed)]))
    if not diffs:
        print(f"no runs of both {me} and {other} on the same problem and seed")
        return
    n = sum(len(d) for d in diffs.values())
    gap = float(np.mean([x for d in diffs.values() for x in d]))
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(10000):
        boot.append(np.mean([x for d in diffs.values()
                             for x in rng.choice(d, size=len(d), replace=True)]))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    print(f"{me} minus {other}: {gap:+.2f} score points over {n} paired runs "
          f"(95 % bootstrap interval {lo:+.2f} .. {hi:+.2f})")
    for prob, d in sorted(diffs.items()):
        worse = sum(x < -0.01 for x in d)
        better = sum(x > 0.01 for x in d)
        print(f"  {prob}: {np.mean(d):+.2f} over {len(d)} seeds "
              f"({better} better, {len(d) - better - worse} tied, {worse} worse)")


def _print_answer(path: str) -> None:
    print(answer(path))


def _plateau(*files: str) -> None:
    plateau(list(files))


COMMANDS: dict[str, Callable[..., None]] = {
    "answer": _print_answer, "plateau": _plateau, "same-answer": same_answer, "compare": compare,
    "logreg": logreg, "lasso": lasso, "finals": finals, "faces": faces, "rf-mean": rf_mean,
    "escape": escape, "margin": margin,
}

if __name__ == "__main__":
    cmd, *args = sys.argv[1:] or ["--help"]
    if cmd in COMMANDS:
        COMMANDS[cmd](*args)
    else:
        print(__doc__)
        sys.exit(0 if cmd in ("-h", "--help") else
                 f"bayes_checks.py: unknown command {cmd!r}; expected one of "
                 f"{', '.join(COMMANDS)} (usage above)")
