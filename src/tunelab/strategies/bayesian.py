"""Bayesian optimisation: a GP surrogate and log expected improvement, on BoTorch.

How a call to ``ask(history, n)`` decides (a pure function of seed, options and history):

1. **Initial design.** The first ``n_initial`` configurations follow a scrambled Sobol sequence
   (default ``max(5, number of parameters + 1)``, fewer when a warm start brings observations).
   The design goes on for as long as every observation has the same value (a plateau): a GP
   fitted to a constant cannot say where to go.
2. **Data.** Completed and pruned trials with a finite value are observations; failed,
   timed-out and NaN trials are imputed with the worst transformed value so the search steers
   away from them; pending, running, paused and lost trials are *pending points*.
3. **Model.** A GP on the one-hot model space (:mod:`bayes_encoding`) with a Matérn-5/2 ARD
   kernel, robustly transformed outcomes, hyperparameters fitted by marginal likelihood
   (:mod:`bayes_model`).
4. **Acquisition.** Monte-Carlo log expected improvement (``qLogExpectedImprovement``), or its
   noisy variant ``qLogNoisyExpectedImprovement`` when the fitted noise is not negligible. The
   ``n`` points are chosen jointly by sequential greedy selection: each new point is scored with
   the pending points and the points already chosen in this call as ``X_pending``, so a batch of
   8 spreads out instead of repeating one guess.
5. **Mixed optimisation.** Candidates are drawn and *rounded* in the parameter cube (ints
   snapped, choices one-hot), scored, and the best refined by local moves; spaces with at most
   ``max_enumerate`` points are scored exhaustively. With ``n_polish > 0`` (off by
   default), the first pick of each call also *climbs* the acquisition
   (:mod:`bayes_polish`: L-BFGS-B on the floats, a sweep of the ints and choices) from the
   ``n_polish`` best candidates and the incumbent, so that pick is the acquisition's local
   maximum to the optimiser's precision, bounds included; the other picks keep to the
   candidates (letting every pick take a climbed point measured no better). A configuration
   already in the history is never suggested again when the space is finite.

6. **Exploration share** (:mod:`bayes_explore`). Once the initial design is done, a share of
   every batch (``explore``, one point in eight) continues the Sobol design instead of
   following the model, and half of it (``plateau_explore``) while a quarter of the
   observations tie exactly (a plateau): a greedy model loses to random search there
   (issue 23). On a plateau those points put each numeric coordinate on its nearer bound
   with probability ``plateau_bounds`` (one half): the corners where constraints are off.
7. **A finite space used up.** A finite space's points are never suggested twice; once fewer
   than ``n`` are left, ``ask`` returns what is left (none at the end), logs a warning that
   says so on the ``tunelab.strategies.bayesian`` logger, and :meth:`converged` gives the
   reason the job ends ("every one of the N points of the space was tried").

Per-call randomness is seeded from ``(seed, len(history))``, so a resumed job suggests what an
uninterrupted one would have.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.stats import qmc

from tunelab.errors import SpecError
from tunelab.options import parse_options
from tunelab.space import Choice, ParamValue, SearchSpace
from tunelab.strategies.base import Params, Strategy
from tunelab.strategies.bayes_encoding import SpaceEncoder, row_keys
from tunelab.strategies.bayes_explore import n_explore, plateau, to_bounds
from tunelab.strategies.bayes_model import (
    DTYPE,
    FittedModel,
    fit_gp,
    is_noisy,
    log_ei_analytic,
    rank_gaussianise,
    robust_transform,
)
from tunelab.strategies.bayes_polish import Polisher
from tunelab.strategies.options import BayesianOptions
from tunelab.strategies.warm_start import WarmStart
from tunelab.trial import History, TrialState, TrialView

_log = logging.getLogger(__name__)
_PENDING_STATES = (TrialState.PENDING, TrialState.RUNNING, TrialState.LOST, TrialState.PAUSED)
_BAD_STATES = (TrialState.FAILED, TrialState.TIMED_OUT)


def default_n_initial(n_params: int) -> int:
    """Default size of the Sobol initial design: grows with the number of parameters."""
    return max(5, n_params + 1)


class _Data:
    """Observations of one ask/converged call, in model space, lower-is-better."""

    def __init__(self) -> None:
        self.own_y = np.zeros(0)  # the job's own finite values, lower is better (untransformed)
        self.X: list[np.ndarray] = []
        self.t: list[np.ndarray] = []  # transformed, standardised, lower is better
        self.extra_noise: list[np.ndarray] = []
        self.n_own = 0  # own observations with a finite value

    def add(self, X: np.ndarray, t: np.ndarray, noise: float) -> None:
        if len(X):
            self.X.append(X)
            self.t.append(t)
            self.extra_noise.append(np.full(len(X), noise))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.concatenate(self.X), np.concatenate(self.t), np.concatenate(self.extra_noise)

    def __len__(self) -> int:
        return sum(len(x) for x in self.X)


class BayesianStrategy(Strategy):
    """Gaussian-process Bayesian optimisation with (noisy) log expected improvement.

    Options (all keyword-only, all optional):

    * ``n_initial`` -- size of the Sobol initial design (default ``max(5, parameters + 1)``).
    * ``warm_start`` -- a :class:`~tunelab.strategies.warm_start.WarmStart` with parent trials.
    * ``acquisition`` -- ``auto`` (default: noisy LogEI when the fitted noise is not negligible,
      else LogEI), ``logei`` or ``lognei``.
    * ``n_candidates`` -- random candidates scored per call before local refinement (1024).
    * ``max_enumerate`` -- finite spaces with at most this many points are scored exhaustively.
    * ``convergence_tol`` / ``convergence_patience`` -- :meth:`converged` fires when the best
      expected improvement stays below ``convergence_tol`` × the observed spread for the last
      ``convergence_patience`` observations (defaults 0.01 and 5). The spread is the
      standard deviation of the transformed observations; the GP's noise floor keeps the
      expected improvement near the incumbent at a few thousandths of it, so much smaller
      tolerances never fire.
    * ``transfer_noise`` -- extra noise variance (standardised units) of transfer-learning
      observations: how little they weigh against the job's own (default 0.25).
    * ``explore`` / ``plateau_explore`` -- share of each batch after the initial design that
      continues the Sobol design (defaults 0.125 and, on a plateau, 0.5; :mod:`bayes_explore`).
    * ``outcome_transform`` -- ``power`` (default), ``mixed`` or ``rank``: how observed values
      are made Gaussian-like before the GP is fitted (``mixed`` for objectives that grow like
      ``exp`` of a distance; :func:`bayes_model.robust_transform`).
    * ``plateau_bounds`` -- on a plateau, the probability that an exploring point's numeric
      coordinate goes to its nearer bound (default 0.5; 0 keeps the plain Sobol points).
    * ``n_polish`` -- climb the acquisition for the first pick of each call from this many
      best candidates and the incumbent (default 0: off; 8 is the measured setting -- on the
      benchmark it matched the default's score and was within noise on reach, BENCHMARKS.md).

        >>> from tunelab.space import Float
        >>> s = BayesianStrategy(SearchSpace({"x": Float(0, 1)}), seed=0)
        >>> len(s.ask(History(), 4))
        4
    """

    name: ClassVar[str] = "bayesian"

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int | None = None,
        n_initial: int | None = None,
        warm_start: WarmStart | None = None,
        acquisition: str = "auto",
        n_candidates: int = 1024,
        max_enumerate: int = 4096,
        convergence_tol: float = 1e-2,
        convergence_patience: int = 5,
        transfer_noise: float = 0.25,
        mc_samples: int = 64,
        n_polish: int = 0,
        explore: float = 0.125,
        plateau_explore: float = 0.5,
        plateau_bounds: float = 0.5,
        outcome_transform: str = "power",
    ) -> None:
        super().__init__(space, seed=seed)
        o = parse_options(BayesianOptions, {
            "n_initial": n_initial, "acquisition": acquisition, "n_candidates": n_candidates,
            "max_enumerate": max_enumerate, "convergence_tol": convergence_tol,
            "convergence_patience": convergence_patience, "transfer_noise": transfer_noise,
            "mc_samples": mc_samples, "n_polish": n_polish, "explore": explore,
            "plateau_explore": plateau_explore, "plateau_bounds": plateau_bounds,
            "outcome_transform": outcome_transform,
        }, prefix="strategy", name="bayesian")
        if warm_start is not None and not isinstance(warm_start, WarmStart):
            raise SpecError.field("strategy.warm_start", "a WarmStart", warm_start)
        self.encoder = SpaceEncoder(space)
        self.n_initial = default_n_initial(len(space)) if o.n_initial is None else o.n_initial
        self.warm_start = warm_start
        self.acquisition = o.acquisition
        self.n_candidates = o.n_candidates
        self.max_enumerate = o.max_enumerate
        self.convergence_tol = float(o.convergence_tol)
        self.convergence_patience = o.convergence_patience
        self.transfer_noise = float(o.transfer_noise)
        self.mc_samples = o.mc_samples
        self.n_polish = o.n_polish
        self.explore = float(o.explore)
        self.plateau_explore = float(o.plateau_explore)
        self.plateau_bounds = float(o.plateau_bounds)
        self.outcome_transform = o.outcome_transform
        self._polisher = Polisher(self.encoder)
        self._numeric = np.array([not isinstance(p, Choice) for p in space.values()], dtype=bool)
        self._all_points = self.encoder.enumerate_unit(o.max_enumerate)
        self._keep = 256
        self._converged_cache: dict[tuple[object, ...], bool] = {}
        self._warm = self._warm_observations()

    # -- public API ---------------------------------------------------------------------------
    def size(self) -> int | None:
        return self.space.cardinality()

    def ask(self, history: History, n: int = 1) -> list[Params]:
        """Up to ``n`` new configurations; fewer only when a finite space has fewer than ``n``
        untried points left (none once all are tried), and then a warning on this module's
        logger says so -- :meth:`converged` then names the reason the job ends."""
        if n <= 0:
            return []
        rng = np.random.default_rng([self.seed, len(history.trials), 4])
        seen = set(row_keys(self.encoder.encode(t.params for t in history.trials)))
        seen.update(row_keys(self._warm[0]))
        pending = [t for t in history.trials if t.state in _PENDING_STATES]
        data = self._data(history)
        n_design = max(0, min(n, self._initial_size() - self.asked(history)))
        if data.n_own + self._warm_count() < 2 or not _informative(data):
            # every observation has the same value (a plateau: a tree that cannot split, a
            # model that predicts one class): a GP fitted to a constant says nothing about
            # where to go (its hyperparameters are arbitrary, its acquisition chases variance
            # to the cube's faces). The space-filling design leaves a plateau as fast as random
            # search does (on the benchmark's decision tree 11 % of random points do).
            n_design = n
        chosen = self._design(history, n_design, seen)
        if len(chosen) < n and len(data) >= 2:
            # a share of the batch keeps exploring (bayes_explore): more on a plateau
            flat = plateau(data.own_y)
            share = self.plateau_explore if flat else self.explore
            done = max(0, self.asked(history) - self._initial_size())
            k = n_explore(n - len(chosen), done, share)
            chosen += self._design(history, k, seen, offset=len(chosen),
                                   bounds=self.plateau_bounds if flat else 0.0)
        if len(chosen) < n and len(data) >= 2:
            seed = int(rng.integers(2**31))
            fitted = self._fit(data, seed)
            X_pending = self.encoder.encode([t.params for t in pending])
            if chosen:
                X_pending = np.vstack([X_pending, np.vstack(chosen)])
            # BoTorch draws some seeds from torch's global generator (the noisy acquisition's
            # pruning of its baseline does): seed it, and leave the caller's state untouched
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                chosen += self._optimise(fitted, X_pending, n - len(chosen), seen, rng, seed)
        if len(chosen) < n:  # everything else failed or the model could not suggest: stay random
            chosen += self._design(history, n - len(chosen), seen, offset=len(chosen))
        if len(chosen) < n:
            _log.warning(
                "strategy bayesian: the search space has %d points and all but %d have been "
                "tried; ask(%d) returns %d (a finite space is never suggested twice)",
                self.space.cardinality() or 0, len(chosen), n, len(chosen))
        return [self._to_params(z) for z in chosen[:n]]

    def converged(self, history: History) -> str | None:
        """Plain-words reason once the search has converged, else None.

        Converged means: a finite space has been fully tried, or the best (log) expected
        improvement over the space stayed below ``convergence_tol`` times the spread of the
        observed values for the last ``convergence_patience`` observations.
        """
        if self._all_points is not None:
            seen = set(row_keys(self.encoder.encode(t.params for t in history.trials)))
            if all(k in seen for k in row_keys(self.encoder.unit_to_model(self._all_points))):
                return f"every one of the {len(self._all_points)} points of the space was tried"
        own = sorted(history.completed(), key=lambda t: t.number)
        need = max(self.n_initial, 2) + self.convergence_patience
        if len(own) < need:
            return None
        for j in range(self.convergence_patience):
            cut = own[len(own) - j - 1].number
            sub = History([t for t in history.trials if t.number <= cut], history.goal)
            key = (history.goal, *((t.number, t.state.value, t.value) for t in sub.trials))
            if key not in self._converged_cache:
                self._converged_cache[key] = self._ei_negligible(sub)
            if not self._converged_cache[key]:
                return None
        return (
            f"the best expected improvement stayed below {self.convergence_tol:g} × the spread "
            f"of the observed values for the last {self.convergence_patience} observations"
        )

    # -- data ---------------------------------------------------------------------------------
    def _initial_size(self) -> int:
        return max(0, self.n_initial - self._warm_count())

    def _warm_count(self) -> int:
        return len(self._warm[0])

    def _warm_observations(self) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Parent observations inside this space: (all X, per-parent X, per-parent values)."""
        ws = self.warm_start
        if ws is None:
            return np.zeros((0, self.encoder.dim)), [], []
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for parent in ws.parents:
            usable = [t for t in parent.trials if _finite_ok(t) and self.encoder.fits(t.params)]
            if usable:
                xs.append(self.encoder.encode(t.params for t in usable))
                ys.append(np.array([float(t.value) for t in usable]))  # type: ignore[arg-type]
        allx = np.vstack(xs) if xs else np.zeros((0, self.encoder.dim))
        return allx, xs, ys

    def _data(self, history: History, transform: str | None = None) -> _Data:
        sign = history.sign()
        own = [t for t in history.trials if _finite_ok(t)]
        bad = [t for t in history.trials
               if t.state in _BAD_STATES or (t.state.is_finished_ok and not _finite_ok(t))]
        data = _Data()
        data.n_own = len(own)
        X = self.encoder.encode(t.params for t in own)
        y = np.array([sign * float(t.value) for t in own])  # type: ignore[arg-type]
        data.own_y = y
        ws = self.warm_start
        _, wx, wy = self._warm
        if ws is not None and not ws.transfer and wx:
            X = np.vstack([X, *wx])
            y = np.concatenate([y, sign * np.concatenate(wy)])
        t = robust_transform(y, transform or self.outcome_transform)
        data.add(X, t, 0.0)
        if ws is not None and ws.transfer:
            for px, py in zip(wx, wy, strict=True):
                data.add(px, rank_gaussianise(sign * py), self.transfer_noise)
        if bad:
            worst = float(np.max(np.concatenate(data.t))) if len(data) else 0.0
            data.add(self.encoder.encode(t.params for t in bad), np.full(len(bad), worst), 0.0)
        return data

    def _fit(self, data: _Data, seed: int) -> FittedModel:
        X, t, extra = data.arrays()
        return fit_gp(X, -t, extra_noise=extra if np.any(extra > 0) else None, seed=seed)

    # -- suggestions --------------------------------------------------------------------------
    def _design(
        self, history: History, n: int, seen: set[bytes], offset: int = 0, bounds: float = 0.0
    ) -> list[np.ndarray]:
        """Next ``n`` unseen points of the scrambled Sobol sequence (model space); with
        ``bounds > 0`` each numeric coordinate goes to its nearer bound with that probability
        (:func:`bayes_explore.to_bounds`)."""
        if n <= 0:
            return []
        start = self.asked(history) + offset
        engine = qmc.Sobol(len(self.space), scramble=True, seed=np.random.default_rng(self.seed))
        if start:
            engine.fast_forward(start)
        rng = np.random.default_rng([self.seed, start, 6])
        out: list[np.ndarray] = []
        for _ in range(8):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # balance warning for n not a power of 2
                u = np.asarray(engine.random(max(4 * n, 16)))
            if bounds > 0:
                u = to_bounds(u, self._numeric, bounds, rng)
            out += self._take_unseen(self.encoder.unit_to_model(u), n - len(out), seen)
            if len(out) >= n:
                return out
        if self._all_points is not None:  # a nearly exhausted finite space: take what is left
            rest = self.encoder.unit_to_model(self._all_points)
            out += self._take_unseen(rest, n - len(out), seen)
        return out

    @staticmethod
    def _take_unseen(z: np.ndarray, n: int, seen: set[bytes]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for row, key in zip(z, row_keys(z), strict=True):
            if len(out) >= n:
                break
            if key not in seen:
                seen.add(key)
                out.append(row)
        return out

    def _acqf(self, fitted: FittedModel, X_pending: np.ndarray, seed: int) -> Any:
        from botorch.acquisition.logei import (
            qLogExpectedImprovement,
            qLogNoisyExpectedImprovement,
        )
        from botorch.sampling.normal import SobolQMCNormalSampler

        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=seed)
        pend = torch.as_tensor(X_pending, dtype=DTYPE) if len(X_pending) else None
        noisy = self.acquisition == "lognei" or (self.acquisition == "auto" and is_noisy(fitted))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if noisy:
                return qLogNoisyExpectedImprovement(
                    fitted.model, X_baseline=fitted.X, sampler=sampler, X_pending=pend,
                    prune_baseline=True, cache_root=True,
                )
            return qLogExpectedImprovement(
                fitted.model, best_f=float(fitted.Y.max()), sampler=sampler, X_pending=pend
            )

    def _score(self, acqf: Any, Z: np.ndarray) -> np.ndarray:
        if len(Z) == 0:
            return np.zeros(0)
        tz = torch.as_tensor(Z, dtype=DTYPE).unsqueeze(-2)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals = [acqf(chunk) for chunk in torch.split(tz, 512)]
        out = torch.cat(vals).numpy().astype(float)
        return np.where(np.isfinite(out), out, -np.inf)

    def _candidates(self, fitted: FittedModel, rng: np.random.Generator) -> np.ndarray:
        """Rounded candidate points in the parameter cube: random, plus moves near the best."""
        if self._all_points is not None:
            return self._all_points
        p = len(self.space)
        u = rng.random((self.n_candidates, p))
        best = np.argsort(-fitted.Y.numpy().ravel())[:5]
        centres = self.encoder.model_to_unit(fitted.X.numpy()[best])
        local = [self.encoder.perturb(centres, 64, s, rng) for s in (0.2, 0.05, 0.01)]
        return np.vstack([self.encoder.snap_unit(u), *local])

    def _optimise(
        self,
        fitted: FittedModel,
        X_pending: np.ndarray,
        n: int,
        seen: set[bytes],
        rng: np.random.Generator,
        seed: int,
    ) -> list[np.ndarray]:
        pool_u = self._candidates(fitted, rng)
        pool = self.encoder.unit_to_model(pool_u)
        fresh = np.array([k not in seen for k in row_keys(pool)], dtype=bool)
        pool_u, pool = pool_u[fresh], pool[fresh]
        chosen: list[np.ndarray] = []
        for i in range(n):
            if len(pool) == 0:
                break
            acqf = self._acqf(fitted, X_pending, seed)
            scores = self._score(acqf, pool)
            if i == 0 and len(pool) > self._keep:
                # later picks only re-score the most promising part of the pool (and the
                # moves around it): the pending points lower scores, they never raise them
                keep = np.argsort(-scores)[: self._keep]
                pool_u, pool, scores = pool_u[keep], pool[keep], scores[keep]
            cand_u, cand = pool_u, pool
            if self._all_points is None:  # refine the best few with local moves
                top = np.argsort(-scores)[:8]
                for sigma in (0.05, 0.01):
                    moves_u = self.encoder.perturb(cand_u[top], 32, sigma, rng)
                    moves = self.encoder.unit_to_model(moves_u)
                    ok = np.array([k not in seen for k in row_keys(moves)], dtype=bool)
                    cand_u = np.vstack([cand_u, moves_u[ok]])
                    cand = np.vstack([cand, moves[ok]])
                    scores = np.concatenate([scores, self._score(acqf, moves[ok])])
                    top = np.argsort(-scores)[:8]
                if i == 0:  # the first pick of a call climbs; the others stay with candidates
                    reached, rs = self._polish(acqf, fitted, cand, scores, seen)
                    cand, scores = np.vstack([cand, reached]), np.concatenate([scores, rs])
            j = int(np.argmax(scores))
            best = cand[j]
            key = row_keys(best)[0]
            seen.add(key)
            chosen.append(best)
            X_pending = np.vstack([X_pending, best[None, :]]) if len(X_pending) else best[None, :]
            left = np.array([k not in seen for k in row_keys(pool)], dtype=bool)
            pool_u, pool = pool_u[left], pool[left]
        return chosen

    def _polish(
        self, acqf: Any, fitted: FittedModel, cand: np.ndarray, scores: np.ndarray,
        seen: set[bytes],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points reached by climbing the acquisition from the best candidates and the
        incumbent (:mod:`bayes_polish`), unseen and distinct, with their scores."""
        if self.n_polish <= 0:
            return cand[:0], scores[:0]
        order = np.argsort(-scores)
        starts: list[np.ndarray] = []
        keys: set[bytes] = set()
        for i in order:
            k = row_keys(cand[i])[0]
            if k not in keys and np.isfinite(scores[i]):
                keys.add(k)
                starts.append(cand[i])
            if len(starts) >= self.n_polish:
                break
        starts.append(fitted.X.numpy()[int(torch.argmax(fitted.Y))])
        reached, rs = self._polisher.climb(
            acqf, np.vstack(starts), lambda z: self._score(acqf, z)
        )
        keys_reached = row_keys(reached)
        ok = np.array([k not in seen and k not in keys_reached[:i]
                       for i, k in enumerate(keys_reached)], dtype=bool)
        return reached[ok], rs[ok]

    def _to_params(self, z: np.ndarray) -> Params:
        params = self.encoder.decode(z[None, :])[0]
        return {k: _plain(v) for k, v in params.items()}

    # -- convergence --------------------------------------------------------------------------
    def _ei_negligible(self, history: History) -> bool:
        # judged on the power transform, which keeps the values' spacing: "improvement below
        # 1 % of the spread" means nothing on ranks, where the best is always the same quantile
        data = self._data(history, "power")
        rng = np.random.default_rng([self.seed, len(history.trials), 5])
        fitted = self._fit(data, int(rng.integers(2**31)))
        pool = self.encoder.unit_to_model(self._candidates(fitted, rng))
        log_ei = log_ei_analytic(fitted, torch.as_tensor(pool, dtype=DTYPE),
                                 float(fitted.Y.max()))
        return bool(np.max(log_ei) < math.log(self.convergence_tol))


def _informative(data: _Data) -> bool:
    """Whether the observations differ at all (else a model can only learn a constant)."""
    return len(data) >= 2 and float(np.ptp(np.concatenate(data.t))) > 1e-9


def _finite_ok(t: TrialView) -> bool:
    return t.state.is_finished_ok and t.value is not None and math.isfinite(t.value)


def _plain(v: ParamValue) -> ParamValue:
    """numpy scalars -> plain Python values (JSON-friendly, comparable)."""
    if isinstance(v, np.generic):
        return v.item()  # type: ignore[no-any-return]
    return v


__all__ = ["BayesianStrategy", "WarmStart", "default_n_initial"]

