"""The Bayesian strategy's encoding of a search space for its Gaussian process.

Two coordinate systems are used:

* the *parameter cube* ``[0, 1]^p`` of :meth:`SearchSpace.to_unit` (one coordinate per
  parameter, log and reverse-log scales already warped) -- used to draw and perturb candidates;
* the *model space* ``[0, 1]^D`` the GP sees: floats and ints keep their one coordinate (ints
  snapped to the centre of their cell, so the model only ever sees feasible values) and a choice
  of ``k`` options becomes ``k`` one-hot coordinates. A choice is never treated as a number.

Every candidate handed to the acquisition function is *rounded* first (ints snapped, choices
turned into a one-hot vector), so the acquisition value is the value of the point that will
actually be tried.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import numpy as np

from tunelab.space import Choice, Float, Int, ParamValue, SearchSpace

Params = dict[str, ParamValue]


class SpaceEncoder:
    """Maps parameters <-> parameter cube <-> one-hot model space for one :class:`SearchSpace`.

        >>> from tunelab.space import Float, Choice
        >>> enc = SpaceEncoder(SearchSpace({"x": Float(0, 1), "c": Choice(["a", "b", "c"])}))
        >>> enc.dim
        4
        >>> enc.encode([{"x": 0.25, "c": "b"}]).tolist()
        [[0.25, 0.0, 1.0, 0.0]]
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.params = list(space.values())
        self.names = space.names
        # For each parameter: (first model column, number of columns)
        self.slices: list[tuple[int, int]] = []
        col = 0
        for p in self.params:
            width = len(p.values) if isinstance(p, Choice) else 1
            self.slices.append((col, width))
            col += width
        self.dim = col
        self.continuous = [isinstance(p, Float) for p in self.params]

    # -- parameter cube -> model space --------------------------------------------------------
    def snap_unit(self, u: np.ndarray) -> np.ndarray:
        """Round parameter-cube points (``(N, p)``) to feasible values (cell centres)."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0).copy()
        for j, p in enumerate(self.params):
            if isinstance(p, Choice):
                k = len(p.values)
                u[:, j] = (np.minimum(np.floor(u[:, j] * k), k - 1) + 0.5) / k
            elif isinstance(p, Int):
                if p.scale == "linear":
                    k = p.n_values
                    u[:, j] = (np.minimum(np.floor(u[:, j] * k), k - 1) + 0.5) / k
                else:
                    u[:, j] = [p.to_unit(p.from_unit(x)) for x in u[:, j]]
        return u

    def unit_to_model(self, u: np.ndarray) -> np.ndarray:
        """Snapped parameter-cube points ``(N, p)`` -> model-space points ``(N, D)``."""
        u = self.snap_unit(u)
        z = np.zeros((u.shape[0], self.dim))
        for j, (p, (c, w)) in enumerate(zip(self.params, self.slices, strict=True)):
            if isinstance(p, Choice):
                idx = np.minimum((u[:, j] * w).astype(int), w - 1)
                z[np.arange(len(idx)), c + idx] = 1.0
            else:
                z[:, c] = u[:, j]
        return z

    def model_to_unit(self, z: np.ndarray) -> np.ndarray:
        """Model-space points ``(N, D)`` -> parameter-cube points (argmax for choices)."""
        z = np.atleast_2d(z)
        u = np.zeros((z.shape[0], len(self.params)))
        for j, (p, (c, w)) in enumerate(zip(self.params, self.slices, strict=True)):
            if isinstance(p, Choice):
                u[:, j] = (np.argmax(z[:, c : c + w], axis=1) + 0.5) / w
            else:
                u[:, j] = z[:, c]
        return u

    # -- parameters <-> model space -----------------------------------------------------------
    def encode(self, rows: Iterable[Mapping[str, ParamValue]]) -> np.ndarray:
        """Parameter dicts -> model-space points; values outside the space are clipped."""
        units = [
            [float(np.clip(p.to_unit(r[n]), 0.0, 1.0)) for n, p in zip(self.names, self.params,
                                                                       strict=True)]
            for r in rows
        ]
        if not units:
            return np.zeros((0, self.dim))
        return self.unit_to_model(np.asarray(units))

    def decode(self, z: np.ndarray) -> list[Params]:
        """Model-space points -> parameter dicts."""
        return [self.space.from_unit(u) for u in self.model_to_unit(z)]

    def fits(self, params: Mapping[str, ParamValue]) -> bool:
        """True if ``params`` names every parameter of the space with a value inside it."""
        for n, p in zip(self.names, self.params, strict=True):
            if n not in params:
                return False
            v = params[n]
            if isinstance(p, Float) and not p.contains(v):
                return False
            if isinstance(p, Int) and not (
                isinstance(v, (int, float)) and not isinstance(v, bool) and p.low <= v <= p.high
            ):
                return False
            if isinstance(p, Choice) and not p.contains(v):
                return False
        return True

    # -- candidates ---------------------------------------------------------------------------
    def perturb(
        self, centres: np.ndarray, n_each: int, sigma: float, rng: np.random.Generator
    ) -> np.ndarray:
        """Local moves around parameter-cube ``centres``: a few coordinates change each time.

        Floats and ints move by a Gaussian step of ``sigma`` (at least one cell for an int);
        a changed choice is redrawn uniformly among its options.
        """
        if len(centres) == 0 or n_each <= 0:
            return np.zeros((0, len(self.params)))
        p = len(self.params)
        base = np.repeat(np.asarray(centres, dtype=float), n_each, axis=0)
        m = base.shape[0]
        prob = min(1.0, 2.0 / p)
        mask = rng.random((m, p)) < prob
        mask[np.arange(m), rng.integers(0, p, m)] = True  # at least one coordinate moves
        out = base.copy()
        for j, prm in enumerate(self.params):
            rows = mask[:, j]
            if not rows.any():
                continue
            if isinstance(prm, Choice):
                out[rows, j] = rng.random(int(rows.sum()))
            else:
                step = rng.normal(0.0, sigma, int(rows.sum()))
                if isinstance(prm, Int):
                    cell = 1.0 / prm.n_values
                    step = np.where(np.abs(step) < cell, np.sign(step) * cell, step)
                out[rows, j] = base[rows, j] + step
        return self.snap_unit(np.clip(out, 0.0, 1.0))

    def enumerate_unit(self, limit: int) -> np.ndarray | None:
        """Every point of a finite space (ints and choices only) if there are at most ``limit``."""
        card = self.space.cardinality()
        if card is None or card > limit:
            return None
        axes = []
        for p in self.params:
            assert not isinstance(p, Float)  # cardinality() is None for floats
            axes.append([p.to_unit(v) for v in p.grid()])
        return np.asarray(list(itertools.product(*axes)), dtype=float).reshape(-1, len(axes))


def row_keys(z: np.ndarray) -> list[bytes]:
    """Hashable keys of model-space rows, equal for points that decode to the same params."""
    return [r.tobytes() for r in np.round(np.atleast_2d(z), 9)]
