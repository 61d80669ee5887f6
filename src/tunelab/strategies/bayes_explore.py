"""How much of a batch the Bayesian strategy spends on plain exploration, and why.

A GP with expected improvement is greedy: it puts every point where the model is most
optimistic. On smooth problems that wins; on some it loses to random search (issue 23). The
commonest case is a *plateau*: a large share of the space gives exactly the same loss (a tree
that cannot split, a network whose learning rate is too small to move in the epochs given, a
linear model whose penalty zeroes every weight). The model then sees many tied values and one
small better region, fits a short length-scale around it and keeps refining that region, while
random search -- blind -- keeps finding other, better regions.

The remedy is the one robust portfolios use (bayesmark's winners mixed model-based and random
points): a share of every batch continues the space-filling Sobol design instead of following
the model. The share is small while the observations look informative (``explore``, default one
point in eight) and larger on a plateau (``plateau_explore``, default half the batch), where
the model is least trustworthy. The split is a pure function of the history, like everything
else, so a resumed job makes the same split.

On a plateau the exploring points also go to the *bounds*: each numeric coordinate of the
continued Sobol point moves to its nearer bound with probability ``plateau_bounds`` (default
one half; choices stay as drawn). The way off a plateau is often to switch several constraints
off at once -- ``min_impurity_decrease`` 0, the smallest leaf, the largest learning rate --
and those settings sit together in a corner of the cube that neither a space-filling design
nor random search reaches (on the suite's decision tree on breast cancer the better trees need
three parameters in the lowest 2-4 % of their ranges: a few points in 100,000). A GP's
gradient-based acquisition optimiser reaches such corners as a side effect (EI is large where
the variance is, and the variance is largest at the faces of the cube; Optuna's GPSampler
found that tree on one seed of two); here it is done on purpose, and only while the
observations say the model has little to go on.

A plateau is detected from the observed values alone: at least a quarter of the job's own
finite observations, and at least three, share one value exactly (to 1e-9 of the spread).
"""

from __future__ import annotations

import math

import numpy as np

#: share of tied observations from which the observations count as a plateau
PLATEAU_SHARE = 0.25


def plateau(values: np.ndarray) -> bool:
    """Whether a large share of ``values`` is exactly tied (see the module docstring).

        >>> plateau(np.array([0.9, 0.9, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1]))
        True
        >>> plateau(np.array([0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1]))
        False
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 4:
        return False
    tol = 1e-9 * max(float(np.ptp(v)), 1e-12)
    s = np.sort(v)
    # longest run of equal values in the sorted array
    breaks = np.flatnonzero(np.diff(s) > tol)
    runs = np.diff(np.concatenate([[-1], breaks, [len(s) - 1]]))
    longest = int(runs.max())
    return longest >= 3 and longest >= PLATEAU_SHARE * len(v)


def n_explore(n: int, done: int, share: float) -> int:
    """How many of the next ``n`` points (after ``done`` model-based or exploring points so
    far) explore, so that over a run ``share`` of all points do -- one in eight is 1 point of
    every ``ask(8)``, and every eighth call of ``ask(1)``.

        >>> [n_explore(1, k, 0.125) for k in range(8)]
        [0, 0, 0, 0, 0, 0, 0, 1]
        >>> n_explore(8, 16, 0.125), n_explore(8, 16, 0.5)
        (1, 4)
    """
    if n <= 0 or share <= 0:
        return 0
    return min(n, math.floor(share * (done + n) + 1e-9) - math.floor(share * done + 1e-9))


def to_bounds(
    u: np.ndarray, numeric: np.ndarray, share: float, rng: np.random.Generator
) -> np.ndarray:
    """Parameter-cube points with each numeric coordinate (``numeric[j]``) moved to its nearer
    bound with probability ``share``; choices are left alone (their order means nothing).

        >>> to_bounds(np.array([[0.2, 0.7, 0.4]]), np.array([True, True, False]), 1.0,
        ...           np.random.default_rng(0)).tolist()
        [[0.0, 1.0, 0.4]]
    """
    u = np.array(u, dtype=float)
    move = (rng.random(u.shape) < share) & np.asarray(numeric, dtype=bool)[None, :]
    u[move] = np.round(u[move])
    return u
