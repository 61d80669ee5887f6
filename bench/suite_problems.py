"""Problems of the broad search suite (issue 23): bayesmark's models on many data sets, and
synthetic functions with known traps.

``bench/search_quality.py`` tunes ten problems on four small bundled data sets; a strategy tuned
on those ten can win there and lose elsewhere (issue 23 saw exactly that). This suite spreads
over every bayesmark model family (DT, MLP-adam, MLP-sgd, RF, SVM, ada, kNN, lasso, linear),
classification and regression, bundled data sets (wine, iris, breast cancer, digits, diabetes)
and data drawn from scikit-learn's generators with fixed seeds (``make_classification``,
``make_regression``, ``make_friedman1``), scored by accuracy, log-loss, MSE or MAE -- plus
synthetic functions with traps a real training job shows:

* ``trap-plateau`` -- constant on most of the space (a learning rate too small, a tree too
  shallow); the bowl below it covers ~10 % of the cube;
* ``trap-integer`` -- integer-only dimensions with an interaction (a staircase for a GP);
* ``trap-heavy`` -- values spanning orders of magnitude (a log-loss that explodes);
* ``trap-noisy`` -- a smooth bowl plus deterministic heavy-tailed (Student-t) noise;
* ``trap-needle`` -- a narrow dip, found only by following a weak broad slope towards it.

Every problem's objective is deterministic (fixed data, fixed CV folds, fixed model seeds; the
noise of ``trap-noisy`` is a hash of the parameters), so methods are compared on equal terms.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace

Objective = Callable[[dict[str, ParamValue]], float]
Dim = Float | Int | Choice


@dataclass(frozen=True)
class Problem:
    """One tuning problem: a model family on a data set with a metric (all minimised)."""

    name: str
    family: str  # the model family (DT, RF, ...) or "trap"
    dataset: str
    metric: str  # acc | logloss | mse | mae | fn
    space: SearchSpace
    cost: float  # rough seconds per run, to schedule the expensive ones first


# -- bayesmark's spaces ---------------------------------------------------------------------------
TREE: dict[str, Dim] = {
    "max_depth": Int(1, 15),
    "max_features": Float(0.01, 0.99),
    "min_samples_split": Float(0.01, 0.99),
    "min_samples_leaf": Float(0.01, 0.49),
    "min_weight_fraction_leaf": Float(0.01, 0.49),
    "min_impurity_decrease": Float(0.0, 0.5),
}
MLP: dict[str, Dim] = {
    "hidden_layer_sizes": Int(50, 200),
    "alpha": Float(1e-5, 1e1, scale="log"),
    "batch_size": Int(10, 250),
    "learning_rate_init": Float(1e-5, 1e-1, scale="log"),
    "tol": Float(1e-5, 1e-1, scale="log"),
    "validation_fraction": Float(0.1, 0.9),
}
SPACES: dict[str, dict[str, Dim]] = {
    "DT": TREE,
    "RF": TREE,
    "MLP-adam": {**MLP, "beta_1": Float(0.5, 0.99),
                 "beta_2": Float(0.9, 0.999999, scale="reverse_log"),
                 "epsilon": Float(1e-9, 1e-6, scale="log")},
    "MLP-sgd": {**MLP, "power_t": Float(0.1, 0.9), "momentum": Float(0.001, 0.999),
                "learning_rate": Choice(("constant", "invscaling", "adaptive"))},
    "SVM": {"C": Float(1.0, 1e3, scale="log"), "gamma": Float(1e-4, 1e-1, scale="log"),
            "tol": Float(1e-5, 1e-1, scale="log")},
    "ada": {"n_estimators": Int(10, 100), "learning_rate": Float(1e-4, 1e1, scale="log")},
    "kNN": {"n_neighbors": Int(1, 25), "p": Int(1, 4),
            "weights": Choice(("uniform", "distance"))},
    "lasso-reg": {"alpha": Float(1e-2, 1e2, scale="log"), "fit_intercept": Choice((True, False)),
                  "tol": Float(1e-5, 1e-1, scale="log"), "positive": Choice((False, True))},
    "lasso-clf": {"C": Float(1e-2, 1e2, scale="log"),
                  "intercept_scaling": Float(1e-2, 1e2, scale="log"),
                  "tol": Float(1e-5, 1e-1, scale="log")},
    "linear-reg": {"alpha": Float(1e-3, 1e3, scale="log"), "fit_intercept": Choice((True, False)),
                   "solver": Choice(("svd", "cholesky", "lsqr", "sparse_cg"))},
    "linear-clf": {"C": Float(1e-2, 1e2, scale="log"),
                   "intercept_scaling": Float(1e-2, 1e2, scale="log"),
                   "fit_intercept": Choice((True, False))},
}

# (family, data set, metric, rough seconds per run); "syn-*" data sets come from generators
MODEL_PROBLEMS: list[tuple[str, str, str, float]] = [
    ("DT", "breast", "acc", 8), ("DT", "syn-clf", "logloss", 8), ("DT", "friedman", "mae", 8),
    ("RF", "wine", "acc", 25), ("RF", "syn-reg", "mse", 30),
    ("MLP-adam", "wine", "logloss", 30), ("MLP-adam", "friedman", "mse", 25),
    ("MLP-sgd", "syn-clf", "acc", 25), ("MLP-sgd", "diabetes", "mae", 25),
    ("SVM", "breast", "acc", 10), ("SVM", "friedman", "mae", 10),
    ("ada", "iris", "acc", 40), ("ada", "friedman", "mae", 40),
    ("kNN", "digits", "acc", 15), ("kNN", "friedman", "mse", 8),
    ("lasso", "breast", "logloss", 10), ("lasso", "diabetes", "mae", 5),
    ("linear", "iris", "logloss", 10), ("linear", "syn-reg", "mse", 5),
]
REGRESSION_SETS = ("diabetes", "syn-reg", "friedman")


# -- synthetic functions with traps (all on the unit cube of their space) -------------------------
def _unit(space: SearchSpace, p: dict[str, ParamValue]) -> np.ndarray:
    return np.asarray(space.to_unit(p), dtype=float)


def _plateau(u: np.ndarray) -> float:
    # a bowl at c; everything farther than r sits on the plateau at 1.0
    c = np.array([0.7, 0.25, 0.6, 0.8, 0.35, 0.5])
    d2 = float(np.sum((u - c) ** 2))
    return min(1.0, d2 / 0.33)


def _integer(u: np.ndarray) -> float:
    i = np.round(u * 20)  # the space's ints, 0..20
    return float(np.abs(i[0] - 13) + np.abs(i[1] - 4) + 0.5 * np.abs(i[2] + i[3] - 27)
                 + 0.2 * (i[0] - 13) * (i[1] - 4) ** 2 / 20)


def _heavy(u: np.ndarray) -> float:
    c = np.array([0.3, 0.65, 0.45, 0.2, 0.8])
    return float(np.exp(12 * np.sum((u - c) ** 2)) - 1)


def _noisy(u: np.ndarray) -> float:
    c = np.array([0.55, 0.3, 0.75, 0.4])
    h = int.from_bytes(hashlib.sha256(np.round(u, 9).tobytes()).digest()[:8], "little")
    noise = float(np.random.default_rng(h).standard_t(2))
    return float(np.sum((u - c) ** 2)) + 0.02 * float(np.clip(noise, -50, 50))


def _needle(u: np.ndarray) -> float:
    c = np.array([0.82, 0.14, 0.63, 0.37, 0.55])
    d2 = float(np.sum((u - c) ** 2))
    return 0.3 * math.sqrt(d2) - math.exp(-d2 / (2 * 0.04**2))


TRAPS: dict[str, tuple[dict[str, Dim], Callable[[np.ndarray], float]]] = {
    "trap-plateau": ({f"x{i}": Float(0, 1) for i in range(6)}, _plateau),
    "trap-integer": ({f"i{i}": Int(0, 20) for i in range(4)}, _integer),
    "trap-heavy": ({f"x{i}": Float(0, 1) for i in range(5)}, _heavy),
    "trap-noisy": ({f"x{i}": Float(0, 1) for i in range(4)}, _noisy),
    "trap-needle": ({f"x{i}": Float(0, 1) for i in range(5)}, _needle),
}


def _space_of(family: str, dataset: str) -> SearchSpace:
    if family in ("lasso", "linear"):
        kind = "reg" if dataset in REGRESSION_SETS else "clf"
        return SearchSpace(SPACES[f"{family}-{kind}"])
    return SearchSpace(SPACES[family])


def problems() -> list[Problem]:
    out = [Problem(f"{fam}-{ds}-{metric}", fam, ds, metric, _space_of(fam, ds), cost)
           for fam, ds, metric, cost in MODEL_PROBLEMS]
    out += [Problem(name, "trap", name[5:], "fn", SearchSpace(dims), 2)
            for name, (dims, _) in TRAPS.items()]
    return out


PROBLEMS = {p.name: p for p in problems()}


# -- objectives -----------------------------------------------------------------------------------
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "syn-clf":
        X, y = datasets.make_classification(n_samples=300, n_features=20, n_informative=8,
                                            n_redundant=4, n_classes=3, flip_y=0.05,
                                            random_state=0)
        return X, y
    if name == "syn-reg":
        X, y = datasets.make_regression(n_samples=300, n_features=20, n_informative=8,
                                        noise=20.0, random_state=0)
        return X, y
    if name == "friedman":
        X, y = datasets.make_friedman1(n_samples=300, n_features=10, noise=1.0, random_state=0)
        return X, y
    loader = {"digits": datasets.load_digits, "wine": datasets.load_wine,
              "iris": datasets.load_iris, "breast": datasets.load_breast_cancer,
              "diabetes": datasets.load_diabetes}[name]
    X, y = loader(return_X_y=True)
    if name == "digits":  # 400 rows keep kNN's 5-fold CV at tens of milliseconds
        idx = np.random.default_rng(0).permutation(len(y))[:400]
        X, y = X[idx], y[idx]
    return X, y


def _model(family: str, regression: bool, p: dict[str, Any]) -> Any:
    from sklearn import ensemble, linear_model, neighbors, neural_network, svm, tree
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def scaled(m: Any) -> Any:
        return make_pipeline(StandardScaler(), m)

    if family == "DT":
        cls = tree.DecisionTreeRegressor if regression else tree.DecisionTreeClassifier
        return cls(random_state=0, **p)
    if family == "RF":
        cls = ensemble.RandomForestRegressor if regression else ensemble.RandomForestClassifier
        return cls(n_estimators=10, random_state=0, **p)
    if family == "ada":
        cls = ensemble.AdaBoostRegressor if regression else ensemble.AdaBoostClassifier
        return cls(random_state=0, **p)
    if family == "kNN":
        cls = neighbors.KNeighborsRegressor if regression else neighbors.KNeighborsClassifier
        return scaled(cls(**p))
    if family == "SVM":
        return scaled(svm.SVR(**p) if regression else svm.SVC(random_state=0, **p))
    if family.startswith("MLP"):
        cls = neural_network.MLPRegressor if regression else neural_network.MLPClassifier
        solver = "adam" if family == "MLP-adam" else "sgd"
        # max_iter 30 (sklearn: 200) keeps a run near half a minute; early stopping ends many
        # sooner. The loss still depends on every hyperparameter (a too small learning rate
        # does not converge in 30 epochs: the plateau the issue is about).
        return scaled(cls(solver=solver, early_stopping=True, max_iter=30, random_state=0, **p))
    if family == "lasso":
        if regression:
            return scaled(linear_model.Lasso(random_state=0, **p))
        # liblinear: the l1 solver with intercept_scaling; binary problems only (breast)
        return scaled(linear_model.LogisticRegression(l1_ratio=1.0, solver="liblinear",
                                                      random_state=0, **p))
    if family == "linear":
        if regression:
            return scaled(linear_model.Ridge(random_state=0, **p))
        # lbfgs ignores intercept_scaling: an irrelevant dimension, as bayesmark has too
        return scaled(linear_model.LogisticRegression(random_state=0, **p))
    raise ValueError(f"unknown model family {family!r}")


def objective(problem: Problem) -> Objective:
    """The loss function of ``problem`` (lower is better; NaN when the model fails)."""
    if problem.family == "trap":
        _, fn = TRAPS[problem.name]
        space = problem.space
        return lambda params: fn(_unit(space, params))
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    X, y = _data(problem.dataset)
    regression = problem.dataset in REGRESSION_SETS
    cv = (KFold(5, shuffle=True, random_state=0) if regression
          else StratifiedKFold(5, shuffle=True, random_state=0))
    scoring = {"acc": "accuracy", "logloss": "neg_log_loss", "mse": "neg_mean_squared_error",
               "mae": "neg_mean_absolute_error"}[problem.metric]
    if problem.family == "SVM" and problem.metric == "logloss":
        raise ValueError("SVM problems use accuracy or a regression loss (no probabilities)")

    def f(params: dict[str, ParamValue]) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s = cross_val_score(_model(problem.family, regression, dict(params)), X, y,
                                    cv=cv, scoring=scoring, error_score=np.nan)
            except Exception:
                return math.nan
        v = float(np.mean(s))
        if not math.isfinite(v):
            return math.nan
        return 1.0 - v if problem.metric == "acc" else -v

    return f
