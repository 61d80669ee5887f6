"""Search quality of ``strategy: bayesian`` against other searchers (issue 4).

The protocol of the NeurIPS 2020 black-box optimisation challenge (bayesmark): each problem tunes a
scikit-learn model on a data set bundled with scikit-learn, minimising 5-fold cross-validated
loss, in 16 rounds of ``ask(8)`` (128 evaluations), over several seeds.

Score (as bayesmark): the best loss a run found, rescaled so that 0 is the best loss any method
found on that problem and 1 is the median loss of a single random evaluation, clipped to
[-1, 1]; averaged over problems and seeds; reported as ``100 × (1 − mean)`` (higher is better).

Also reported: evaluations tunelab bayesian needs to reach each other method's final best value
(vs. that method's own), and the wall time of one ``ask(8)`` per method; and, separately, the
median time of ``ask(8)`` at 128 observations in 9 dimensions using all cores.

    .venv/bin/python bench/search_quality.py                 # full run (~55 min on 2 cores)
    .venv/bin/python bench/search_quality.py --quick         # 3 cheap problems, 1 seed
    .venv/bin/python bench/search_quality.py --report out.jsonl   # table from saved results
    .venv/bin/python bench/search_quality.py --report all.jsonl new.jsonl  # a run in new.jsonl
                                          # replaces all.jsonl's of the same method/problem/seed
    .venv/bin/python bench/search_quality.py --seed-start 3 --seeds 2 --out more.jsonl  # seeds 3-4
    .venv/bin/python bench/search_quality.py --speed         # suggestion time only
    .venv/bin/python bench/search_quality.py --methods tunelab-bayesian \
        --options '{"acquisition": "logei"}' --out new.jsonl   # a variant of the strategy

Runs are written as JSON lines to ``--out`` as they finish (losses, parameters tried, ask times,
strategy options), so a cut-short run still reports.
HEBO is compared when ``import hebo`` works (it is skipped and said so otherwise).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace
from tunelab.strategies import make_strategy
from tunelab.trial import History, TrialState, TrialView

ROUNDS, BATCH = 16, 8
METHODS = ["tunelab-bayesian", "tunelab-random", "optuna-tpe", "optuna-gp", "hebo"]


# -- problems -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    name: str
    model: str
    dataset: str
    metric: str  # acc | logloss | mse | mae
    space: SearchSpace
    cost: float  # rough seconds per run, to schedule the expensive ones first


def _problems() -> list[Problem]:
    tree: dict[str, Float | Int | Choice] = {
        "max_depth": Int(1, 15),
        "max_features": Float(0.01, 0.99),
        "min_samples_split": Float(0.01, 0.99),
        "min_samples_leaf": Float(0.01, 0.49),
        "min_weight_fraction_leaf": Float(0.01, 0.49),
        "min_impurity_decrease": Float(0.0, 0.5),
    }
    mlp: dict[str, Float | Int | Choice] = {
        "hidden_layer_sizes": Int(50, 200),
        "alpha": Float(1e-5, 1e1, scale="log"),
        "batch_size": Int(10, 250),
        "learning_rate_init": Float(1e-5, 1e-1, scale="log"),
        "tol": Float(1e-5, 1e-1, scale="log"),
        "validation_fraction": Float(0.1, 0.9),
    }
    return [
        Problem("DT-digits-acc", "DT", "digits", "acc", SearchSpace(tree), 40),
        Problem("kNN-wine-acc", "kNN", "wine", "acc", SearchSpace({
            "n_neighbors": Int(1, 25), "p": Int(1, 4),
            "weights": Choice(("uniform", "distance",)),
        }), 15),
        Problem("SVM-wine-acc", "SVM", "wine", "acc", SearchSpace({
            "C": Float(1.0, 1e3, scale="log"), "gamma": Float(1e-4, 1e-1, scale="log"),
            "tol": Float(1e-5, 1e-1, scale="log"),
            "kernel": Choice(("rbf", "sigmoid", "poly",)),
        }), 10),
        Problem("RF-wine-logloss", "RF", "wine", "logloss", SearchSpace(tree), 20),
        Problem("MLP-adam-iris-logloss", "MLP-adam", "iris", "logloss", SearchSpace({
            **mlp, "beta_1": Float(0.5, 0.99),
            "beta_2": Float(0.9, 0.999999, scale="reverse_log"),
            "epsilon": Float(1e-9, 1e-6, scale="log"),
        }), 60),
        Problem("MLP-sgd-wine-acc", "MLP-sgd", "wine", "acc", SearchSpace({
            **mlp, "power_t": Float(0.1, 0.9), "momentum": Float(0.001, 0.999),
            "learning_rate": Choice(("constant", "invscaling", "adaptive",)),
        }), 60),
        Problem("ada-wine-acc", "ada", "wine", "acc", SearchSpace({
            "n_estimators": Int(10, 100), "learning_rate": Float(1e-4, 1e1, scale="log"),
        }), 25),
        Problem("lasso-diabetes-mse", "lasso", "diabetes", "mse", SearchSpace({
            "alpha": Float(1e-2, 1e2, scale="log"), "fit_intercept": Choice((True, False,)),
        }), 5),
        Problem("ridge-diabetes-mae", "ridge", "diabetes", "mae", SearchSpace({
            "alpha": Float(1e-3, 1e3, scale="log"), "fit_intercept": Choice((True, False,)),
            "solver": Choice(("svd", "cholesky", "lsqr", "sparse_cg",)),
        }), 8),
        Problem("logreg-iris-logloss", "logreg", "iris", "logloss", SearchSpace({
            "C": Float(1e-2, 1e2, scale="log"), "intercept_scaling": Float(1e-2, 1e2, scale="log"),
            "fit_intercept": Choice((True, False,)),
        }), 8),
    ]


PROBLEMS = {p.name: p for p in _problems()}
QUICK = ["kNN-wine-acc", "SVM-wine-acc", "lasso-diabetes-mse"]


def _objective(problem: Problem) -> Callable[[dict[str, ParamValue]], float]:
    from sklearn import datasets
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.linear_model import Lasso, LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    loader = {"digits": datasets.load_digits, "wine": datasets.load_wine,
              "iris": datasets.load_iris, "diabetes": datasets.load_diabetes}[problem.dataset]
    X, y = loader(return_X_y=True)
    regression = problem.metric in ("mse", "mae")
    cv = (KFold(5, shuffle=True, random_state=0) if regression
          else StratifiedKFold(5, shuffle=True, random_state=0))
    scoring = {"acc": "accuracy", "logloss": "neg_log_loss", "mse": "neg_mean_squared_error",
               "mae": "neg_mean_absolute_error"}[problem.metric]

    def build(p: dict[str, Any]) -> Any:
        m = problem.model
        if m == "DT":
            return DecisionTreeClassifier(random_state=0, **p)
        if m == "RF":
            return RandomForestClassifier(n_estimators=10, random_state=0, **p)
        if m == "ada":
            return AdaBoostClassifier(random_state=0, **p)
        if m == "kNN":
            return make_pipeline(StandardScaler(), KNeighborsClassifier(**p))
        if m == "SVM":
            return make_pipeline(StandardScaler(), SVC(probability=False, random_state=0, **p))
        if m == "MLP-adam":
            return make_pipeline(StandardScaler(), MLPClassifier(
                solver="adam", early_stopping=True, random_state=0, **p))
        if m == "MLP-sgd":
            return make_pipeline(StandardScaler(), MLPClassifier(
                solver="sgd", early_stopping=True, random_state=0, **p))
        if m == "lasso":
            return make_pipeline(StandardScaler(), Lasso(random_state=0, **p))
        if m == "ridge":
            return make_pipeline(StandardScaler(), Ridge(random_state=0, **p))
        if m == "logreg":
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, **p))
        raise ValueError(m)

    def f(params: dict[str, ParamValue]) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s = cross_val_score(build(dict(params)), X, y, cv=cv, scoring=scoring,
                                    error_score=np.nan)
            except Exception:
                return math.nan
        v = float(np.mean(s))
        return 1.0 - v if problem.metric == "acc" else -v

    return f


# -- searchers (ask(8) / tell) --------------------------------------------------------------------
class _Tunelab:
    def __init__(self, kind: str, space: SearchSpace, seed: int,
                 options: dict[str, Any] | None = None) -> None:
        self.strategy = make_strategy(kind, space, seed=seed, **(options or {}))
        self.trials: list[TrialView] = []

    def ask(self) -> list[dict[str, ParamValue]]:
        return self.strategy.ask(History(list(self.trials), "minimize"), BATCH)

    def tell(self, params: list[dict[str, ParamValue]], losses: list[float]) -> None:
        for p, v in zip(params, losses, strict=True):
            ok = math.isfinite(v)
            self.trials.append(TrialView(len(self.trials), p,
                                         TrialState.COMPLETED if ok else TrialState.FAILED,
                                         v if ok else None))


def _optuna_dist(p: Float | Int | Choice) -> Any:
    import optuna.distributions as od

    if isinstance(p, Float):
        if p.scale == "reverse_log":  # optuna has no reverse-log: search 1 - x on a log scale
            return od.FloatDistribution(1 - p.high, 1 - p.low, log=True)
        return od.FloatDistribution(p.low, p.high, log=p.scale == "log")
    if isinstance(p, Int):
        return od.IntDistribution(p.low, p.high, log=p.scale == "log", step=p.step)
    return od.CategoricalDistribution(list(p.values))


class _Optuna:
    def __init__(self, kind: str, space: SearchSpace, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler = (optuna.samplers.TPESampler(seed=seed, constant_liar=True) if kind == "tpe"
                   else optuna.samplers.GPSampler(seed=seed))
        self.study = optuna.create_study(sampler=sampler)
        self.space = space
        self.dists = {n: _optuna_dist(p) for n, p in space.items()}
        self.open: list[Any] = []

    def ask(self) -> list[dict[str, ParamValue]]:
        self.open = [self.study.ask(self.dists) for _ in range(BATCH)]
        out = []
        for t in self.open:
            p = dict(t.params)
            for n, prm in self.space.items():
                if isinstance(prm, Float) and prm.scale == "reverse_log":
                    p[n] = 1 - p[n]
            out.append(p)
        return out

    def tell(self, params: list[dict[str, ParamValue]], losses: list[float]) -> None:
        import optuna

        for t, v in zip(self.open, losses, strict=True):
            if math.isfinite(v):
                self.study.tell(t, v)
            else:
                self.study.tell(t, state=optuna.trial.TrialState.FAIL)


class _Hebo:
    def __init__(self, space: SearchSpace, seed: int) -> None:
        from hebo.design_space.design_space import DesignSpace
        from hebo.optimizers.hebo import HEBO

        np.random.seed(seed)
        rows = []
        for n, p in space.items():
            if isinstance(p, Float):
                kind = "pow" if p.scale == "log" else "num"
                rows.append({"name": n, "type": kind, "lb": p.low, "ub": p.high})
            elif isinstance(p, Int):
                rows.append({"name": n, "type": "int", "lb": p.low, "ub": p.high})
            else:
                rows.append({"name": n, "type": "cat", "categories": list(map(str, p.values))})
        self.space = space
        self.opt = HEBO(DesignSpace().parse(rows), rand_sample=BATCH)
        self.last: Any = None

    def ask(self) -> list[dict[str, ParamValue]]:
        self.last = self.opt.suggest(n_suggestions=BATCH)
        out = []
        for rec in self.last.to_dict("records"):
            p: dict[str, ParamValue] = {}
            for n, prm in self.space.items():
                v = rec[n]
                if isinstance(prm, Choice):
                    p[n] = next(c for c in prm.values if str(c) == str(v))
                elif isinstance(prm, Int):
                    p[n] = int(v)
                else:
                    p[n] = float(v)
            out.append(p)
        return out

    def tell(self, params: list[dict[str, ParamValue]], losses: list[float]) -> None:
        worst = max([v for v in losses if math.isfinite(v)], default=1e6)
        y = np.array([[v if math.isfinite(v) else worst] for v in losses])
        self.opt.observe(self.last, y)


class _Smac:
    """SMAC 3 (``smac`` 2.x), its hyperparameter-optimisation facade (random forest, local and
    random search); ``ask(8)`` is eight asks before the tells (SMAC has no batch ask)."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        import tempfile

        from ConfigSpace import Categorical, ConfigurationSpace
        from ConfigSpace import Float as CFloat
        from ConfigSpace import Integer as CInt
        from smac import HyperparameterOptimizationFacade, Scenario

        cs = ConfigurationSpace(seed=seed)
        for n, p in space.items():
            if isinstance(p, Float):
                if p.scale == "reverse_log":  # as for Optuna: search 1 - x on a log scale
                    cs.add(CFloat(n, (1 - p.high, 1 - p.low), log=True))
                else:
                    cs.add(CFloat(n, (p.low, p.high), log=p.scale == "log"))
            elif isinstance(p, Int):
                cs.add(CInt(n, (p.low, p.high), log=p.scale == "log"))
            else:
                cs.add(Categorical(n, [str(v) for v in p.values]))
        self.tmp = tempfile.TemporaryDirectory(prefix="smac-")
        scenario = Scenario(cs, deterministic=True, n_trials=ROUNDS * BATCH + BATCH, seed=seed,
                            output_directory=Path(self.tmp.name) / "run")
        self.opt = HyperparameterOptimizationFacade(
            scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=40)
        self.space = space
        self.open: list[Any] = []

    def ask(self) -> list[dict[str, ParamValue]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's note that the forest runs on one job
            self.open = [self.opt.ask() for _ in range(BATCH)]
        out = []
        for info in self.open:
            p: dict[str, ParamValue] = {}
            for n, prm in self.space.items():
                v = info.config[n]
                if isinstance(prm, Choice):
                    p[n] = next(c for c in prm.values if str(c) == str(v))
                elif isinstance(prm, Int):
                    p[n] = int(v)
                elif prm.scale == "reverse_log":
                    p[n] = 1 - float(v)
                else:
                    p[n] = float(v)
            out.append(p)
        return out

    def tell(self, params: list[dict[str, ParamValue]], losses: list[float]) -> None:
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for info, v in zip(self.open, losses, strict=True):
                if math.isfinite(v):
                    self.opt.tell(info, TrialValue(cost=v))
                else:
                    self.opt.tell(info, TrialValue(cost=math.inf, status=StatusType.CRASHED))


def _searcher(method: str, space: SearchSpace, seed: int,
              options: dict[str, Any] | None = None) -> Any:
    if method == "tunelab-bayesian":
        return _Tunelab("bayesian", space, seed, options)
    if method == "tunelab-random":
        return _Tunelab("random", space, seed)
    if method == "optuna-tpe":
        return _Optuna("tpe", space, seed)
    if method == "optuna-gp":
        return _Optuna("gp", space, seed)
    if method == "smac":
        return _Smac(space, seed)
    return _Hebo(space, seed)


def run_one(task: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
    """One run: 16 rounds of ask(8) on one problem with one method and seed."""
    import torch

    torch.set_num_threads(1)  # two runs share the two cores
    name, method, seed, options = task
    problem = PROBLEMS[name]
    f = _objective(problem)
    searcher = _searcher(method, problem.space, seed, options)
    losses: list[float] = []
    ask_s: list[float] = []
    tried: list[dict[str, ParamValue]] = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        params = searcher.ask()
        ask_s.append(time.perf_counter() - t0)
        vals = [f(p) for p in params]
        searcher.tell(params, vals)
        losses += vals
        tried += [{k: _plain(v) for k, v in p.items()} for p in params]
    return {"problem": name, "method": method, "seed": seed, "losses": losses, "ask_s": ask_s,
            "params": tried, "options": options}


def _plain(v: Any) -> ParamValue:
    """numpy scalars -> plain Python values, so the parameters go to JSON."""
    return v.item() if isinstance(v, np.generic) else v  # type: ignore[no-any-return]


def merge_runs(files: list[str]) -> list[dict[str, Any]]:
    """Runs from saved ``--out`` files; a later file's run replaces an earlier one of the same
    method, problem and seed.

    So a rerun of one method (``--methods tunelab-bayesian``) merges with the other methods'
    runs of an earlier full run (``--report full.jsonl rerun.jsonl``), and a run of more seeds
    (``--seed-start 3``) adds to the earlier seeds.
    """
    runs: dict[tuple[str, str, int], dict[str, Any]] = {}
    for path in files:
        with open(path) as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    runs[(r["method"], r["problem"], int(r["seed"]))] = r
    return list(runs.values())


# -- scoring and report ---------------------------------------------------------------------------
def _best_curve(losses: list[float]) -> np.ndarray:
    arr = np.array([v if math.isfinite(v) else np.inf for v in losses])
    return np.minimum.accumulate(arr)


#: ``--report``'s tolerance for "reached": a share of the problem's normalised range (best loss
#: any method found .. median random loss). 1e-4 is the resolution of the printed score (0.01
#: points of 100), so two finals closer than that are the same score.
REACH_TOL = 1e-4


def _scale(runs: list[dict[str, Any]], prob: str) -> tuple[float, float]:
    """(best loss any method found, median loss of one random evaluation) on ``prob``."""
    rs = [r for r in runs if r["problem"] == prob]
    opt = min(float(_best_curve(r["losses"])[-1]) for r in rs)
    rand = [v for r in rs if r["method"] == "tunelab-random" for v in r["losses"]
            if math.isfinite(v)]
    med = float(np.median(rand)) if rand else max(v for r in rs for v in r["losses"]
                                                  if math.isfinite(v))
    return opt, med


def _first_at(curve: np.ndarray, target: float) -> int:
    """1-based evaluation at which the best-so-far ``curve`` gets to ``target``; 129 if never."""
    hit = curve <= target + 1e-12
    return int(np.argmax(hit)) + 1 if np.any(hit) else ROUNDS * BATCH + 1


def reach(runs: list[dict[str, Any]], reacher: str, other: str, tol: float = 0.0,
          *, seed_shift: int = 0) -> tuple[list[int], list[int]]:
    """Per (problem, seed): evaluations ``reacher`` needs to get to ``other``'s final best, and
    those ``other`` itself needed; ``tol`` (a share of the problem's normalised range) loosens
    both sides alike. ``seed_shift`` pairs seed s of ``reacher`` with seed s + shift of
    ``other`` (a method against itself: what the measure gives two equally good searchers)."""
    ours: list[int] = []
    theirs: list[int] = []
    by_key = {(r["method"], r["problem"], int(r["seed"])): r for r in runs}
    for r in runs:
        if r["method"] != other:
            continue
        mine = by_key.get((reacher, r["problem"], int(r["seed"]) - seed_shift))
        if mine is None or mine is r:
            continue
        opt, med = _scale(runs, r["problem"])
        curve = _best_curve(r["losses"])
        target = float(curve[-1]) + tol * (med - opt)
        theirs.append(_first_at(curve, target))
        ours.append(_first_at(_best_curve(mine["losses"]), target))
    return ours, theirs


def _reach_row(label: str, ours: list[int], theirs: list[int]) -> str:
    hit = sum(o <= ROUNDS * BATCH for o in ours)
    return (f"| {label} | {statistics.median(ours)} | {statistics.median(theirs)} | "
            f"{hit}/{len(ours)} |")


def regrets(runs: list[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    """Per (method, problem, seed): the run's final best, normalised as bayesmark does (0 = the
    best loss any run found on the problem, 1 = the median random loss), clipped to [-1, 1]."""
    out: dict[tuple[str, str, int], float] = {}
    for prob in sorted({r["problem"] for r in runs}):
        opt, med = _scale(runs, prob)
        for r in (r for r in runs if r["problem"] == prob):
            best = float(_best_curve(r["losses"])[-1])
            out[(r["method"], prob, int(r["seed"]))] = (
                0.0 if med == opt else float(np.clip((best - opt) / (med - opt), -1, 1)))
    return out


def report(runs: list[dict[str, Any]]) -> str:
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    problems = sorted({r["problem"] for r in runs})
    scores: dict[str, list[float]] = {m: [] for m in methods}
    per_problem: dict[tuple[str, str], list[float]] = {}
    regret = regrets(runs)
    for (method, prob, _), s in regret.items():
        scores[method].append(s)
        per_problem.setdefault((prob, method), []).append(s)
    lines = ["| method | score (100 × (1 − mean normalised regret)) | median ask(8) s |",
             "|---|---|---|"]
    for m in sorted(methods, key=lambda m: np.mean(scores[m])):
        ask = [a for r in runs if r["method"] == m for a in r["ask_s"][2:]]
        lines.append(f"| {m} | {100 * (1 - np.mean(scores[m])):.2f} | "
                     f"{statistics.median(ask):.3f} |")
    lines += ["", "Per problem (score, mean over seeds):", "",
              "| problem | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for prob in problems:
        cells = [f"{100 * (1 - np.mean(per_problem[(prob, m)])):.1f}"
                 if (prob, m) in per_problem else "-" for m in methods]
        lines.append(f"| {prob} | " + " | ".join(cells) + " |")
    if "tunelab-bayesian" not in methods:
        return "\n".join(lines)
    me = "tunelab-bayesian"
    others = [m for m in methods if m != me]
    header = ["| other method | tunelab bayesian needs | other method needs | reached |",
              "|---|---|---|---|"]
    lines += ["", "Evaluations to reach the other method's final best value, exactly (same "
              "problem and seed; median over runs; 129 = never; 'reached' = share of runs "
              "where tunelab bayesian got there within 128):", "", *header]
    lines += [_reach_row(m, *reach(runs, me, m)) for m in others]
    lines += ["", f"The same within {REACH_TOL:g} of the problem's normalised range (the printed "
              "score's resolution), on both sides:", "", *header]
    lines += [_reach_row(m, *reach(runs, me, m, REACH_TOL)) for m in others]
    lines += ["", "The other way round: evaluations the other method needs to reach tunelab "
              "bayesian's final best, against tunelab bayesian's own (exact | within "
              f"{REACH_TOL:g}):", "",
              "| reacher | it needs (exact) | tunelab bayesian needs (exact) | reached | "
              "it needs (tol) | tunelab bayesian needs (tol) | reached |",
              "|---|---|---|---|---|---|---|"]
    for m in others:
        a = _reach_row(m, *reach(runs, m, me))
        b = _reach_row(m, *reach(runs, m, me, REACH_TOL))
        lines.append(a + b.split("|", 2)[2])
    seeds = sorted({int(r["seed"]) for r in runs if r["method"] == me})
    if len(seeds) > 1:
        lines += ["", "Baseline for the measure: tunelab bayesian against itself, seed s "
                  "reaching seed s + 1's final best (equally good searchers; exact | "
                  f"within {REACH_TOL:g}):", "", *header]
        lines.append(_reach_row("itself, exact", *reach(runs, me, me, seed_shift=1)))
        lines.append(_reach_row(f"itself, within {REACH_TOL:g}",
                                *reach(runs, me, me, REACH_TOL, seed_shift=1)))
    lines += ["", f"Final best per run against tunelab bayesian's (normalised regret, a tie "
              f"within {REACH_TOL:g}):", "",
              "| other method | tunelab bayesian better | tie | other better |",
              "|---|---|---|---|"]
    for m in others:
        w = t = lo = 0
        for (meth, prob, seed), s in regret.items():
            mine = regret.get((me, prob, seed))
            if meth != m or mine is None:
                continue
            if abs(mine - s) <= REACH_TOL:
                t += 1
            elif mine < s:
                w += 1
            else:
                lo += 1
        lines.append(f"| {m} | {w} | {t} | {lo} |")
    return "\n".join(lines)


def ask_speed(repeats: int = 7, options: dict[str, Any] | None = None) -> str:
    """Median time of ask(8) at 128 observations in 9 dimensions (all cores)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    space = PROBLEMS["MLP-adam-iris-logloss"].space
    times = []
    for rep in range(repeats):
        rnd = make_strategy("random", space, seed=100 + rep)
        pts = rnd.ask(History(), 128)
        rng = np.random.default_rng(rep)
        trials = [TrialView(i, p, TrialState.COMPLETED,
                            float(np.sum((space.to_unit(p) - 0.3) ** 2) + 0.01 * rng.normal()))
                  for i, p in enumerate(pts)]
        s = make_strategy("bayesian", space, seed=rep, **(options or {}))
        t0 = time.perf_counter()
        s.ask(History(trials), 8)
        times.append(time.perf_counter() - t0)
    return (f"ask(8) at 128 observations, 9 dimensions, {torch.get_num_threads()} threads: "
            f"median {statistics.median(times):.3f} s over {repeats} histories "
            f"(min {min(times):.3f}, max {max(times):.3f}; the first includes warm-up)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", nargs="*", default=None, help=f"from {list(PROBLEMS)}")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0,
                    help="first seed (to add seeds to an earlier run: --seed-start 3 --seeds 2)")
    ap.add_argument("--methods", nargs="*", default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="3 cheap problems, 1 seed")
    ap.add_argument("--out", default="bench/search_quality.jsonl")
    ap.add_argument("--options", default="{}", metavar="JSON",
                    help="options of strategy: bayesian, e.g. '{\"acquisition\": \"logei\"}'")
    ap.add_argument("--report", nargs="+", default=None, metavar="FILE",
                    help="only print the tables of saved --out files; a later file's run replaces "
                         "an earlier one of the same method, problem and seed (--problems "
                         "restricts the tables)")
    ap.add_argument("--report-seeds", nargs="+", type=int, default=None, metavar="SEED",
                    help="with --report: only these seeds' runs")
    ap.add_argument("--speed", action="store_true",
                    help="only time ask(8) at 128 observations in 9 dimensions (9 histories; "
                         "--options apply)")
    a = ap.parse_args(argv)
    if a.speed:
        print(ask_speed(9, json.loads(a.options)))
        return 0
    if a.report:
        runs = merge_runs(a.report)
        if a.problems:
            runs = [r for r in runs if r["problem"] in a.problems]
        if a.report_seeds:
            runs = [r for r in runs if int(r["seed"]) in a.report_seeds]
        print(report(runs))
        return 0
    methods = a.methods or METHODS
    if "hebo" in methods:
        try:
            import hebo  # noqa: F401
        except Exception as e:
            print(f"HEBO skipped: it does not import here ({type(e).__name__}: {e})")
            methods = [m for m in methods if m != "hebo"]
    problems = a.problems or (QUICK if a.quick else list(PROBLEMS))
    seeds = 1 if a.quick else a.seeds
    options = json.loads(a.options)
    tasks = [(p, m, s, options) for p in problems for m in methods
             for s in range(a.seed_start, a.seed_start + seeds)]
    tasks.sort(key=lambda t: (t[2], -PROBLEMS[t[0]].cost))  # a whole seed first
    print(f"{len(tasks)} runs: {len(problems)} problems × {len(methods)} methods × {seeds} "
          f"seeds, {ROUNDS} rounds of ask({BATCH}), {a.workers} workers", flush=True)
    t0 = time.perf_counter()
    runs = []
    with open(a.out, "w") as fh, mp.get_context("spawn").Pool(a.workers) as pool:
        for r in pool.imap_unordered(run_one, tasks):
            runs.append(r)
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            print(f"[{time.perf_counter() - t0:6.0f}s] {r['problem']} {r['method']} "
                  f"seed {r['seed']}: best {min(_best_curve(r['losses'])):.4f}", flush=True)
    print(f"\nwall time {time.perf_counter() - t0:.0f} s\n")
    print(report(runs))
    print()
    print(ask_speed())
    return 0


if __name__ == "__main__":
    sys.exit(main())
