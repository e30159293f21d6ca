"""Constrained Bayesian optimisation with weighted expected improvement (WEIBO-style).

The problem: maximise ``f(x)`` over a box subject to ``c_j(x) >= 0`` (j = 1..m). Each of
``f, c_1..c_m`` gets a Gaussian process (BoTorch ``SingleTaskGP``, a Matern-5/2 kernel with ARD
length scales; one multi-output model with independent outputs, inputs scaled to the unit cube,
outputs standardised), and the next point maximises the weighted EI

.. math::

    \\mathrm{wEI}(x) = \\mathrm{EI}(x; f^*) \\prod_j P(c_j(x) \\ge 0),

with ``f*`` the best feasible objective so far (the smallest observed objective while none is
feasible, so that the feasibility probabilities lead), in log form for numerical stability
(BoTorch ``LogConstrainedExpectedImprovement``), maximised by ``optimize_acqf`` (multi-start
L-BFGS-B from Sobol raw samples). This is the WEIBO acquisition (MACRO's ref. [10]) that BOBO
and RLBO use for sizing (15 random initial points + 40 iterations, IV-B1), BOBO for its topology
search in the VAE latent space, and the transistor-level re-optimisation (IV-C).

A failed evaluation (``NaN`` objective or constraints) is kept as a data point at the worst
observed objective and constraint values, so that the model learns to avoid the region.

Every random choice is seeded from ``(seed, number of observations)``, so a run continued from
its recorded observations (:meth:`ConstrainedBO.tell` them back) proposes the same points as an
uninterrupted one.

Used by the book chapter "MACRO: Table II, behaviour-level search".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


class BOError(ValueError):
    """A bad BO input: empty or inverted box, wrong shapes, bad budget."""


@dataclass(frozen=True)
class BOConfig:
    """Budget and acquisition settings of one constrained BO run."""

    n_init: int = 15
    """Random initial points (IV-B1: 15)."""
    n_iter: int = 40
    """BO iterations after them (IV-B1: 40)."""
    seed: int = 0
    """Seed of the initial points and of each iteration's acquisition optimisation."""
    num_restarts: int = 4
    """L-BFGS-B starts of the acquisition optimisation."""
    raw_samples: int = 128
    """Sobol points that choose those starts."""
    warm_start: bool = True
    """Start each model fit from the previous fit's hyperparameters, limited to
    ``warm_maxiter`` L-BFGS steps (much cheaper; the first fit is a full one). A run continued
    from recorded observations refits from scratch, so a resumable outer loop turns it off."""
    warm_maxiter: int = 25
    """L-BFGS steps of a warm-started fit."""

    def __post_init__(self) -> None:
        if self.n_init < 1 or self.n_iter < 0 or self.num_restarts < 1 or self.raw_samples < 1:
            raise BOError("n_init >= 1, n_iter >= 0, num_restarts >= 1, raw_samples >= 1")


@dataclass
class BOResult:
    """Observations of a BO run (in evaluation order) and its best feasible point.

    Attributes
    ----------
    x : (n, d) points in the original box.
    y : (n,) objective (NaN when the evaluation failed).
    c : (n, m) constraint values (feasible when all >= 0; NaN when failed).
    source : (n,) ``"init"``, ``"bo"`` or ``"random"`` (acquisition fell back to random).
    info : per-point extra data returned by the function (anything JSON-ready).
    """

    x: np.ndarray
    y: np.ndarray
    c: np.ndarray
    source: list[str] = field(default_factory=list)
    info: list = field(default_factory=list)

    @property
    def feasible(self) -> np.ndarray:
        """(n,) bool: evaluated and every constraint >= 0."""
        ok = np.isfinite(self.y) & np.isfinite(self.c).all(axis=1)
        return ok & (np.nan_to_num(self.c, nan=-1.0) >= 0).all(axis=1)

    @property
    def best_index(self) -> int | None:
        """Index of the best feasible point (None when none is feasible)."""
        feas = np.flatnonzero(self.feasible)
        return None if feas.size == 0 else int(feas[np.argmax(self.y[feas])])

    def best_so_far(self) -> np.ndarray:
        """(n,) best feasible objective after each evaluation (NaN before the first)."""
        out, best = np.full(len(self.y), np.nan), -np.inf
        for i, (ok, y) in enumerate(zip(self.feasible, self.y, strict=True)):
            if ok and y > best:
                best = y
            out[i] = best if np.isfinite(best) else np.nan
        return out


def _seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919) % (2**31 - 1)


class ConstrainedBO:
    """Ask/tell constrained BO over the box ``bounds`` (shape (2, d): lower, upper row).

    Used by the book chapter "MACRO: Table II, behaviour-level search" through
    :func:`constrained_bo` and :mod:`macro.baselines`.
    """

    def __init__(self, bounds, n_constraints: int, config: BOConfig = BOConfig()):
        b = np.asarray(bounds, dtype=float)
        if b.ndim != 2 or b.shape[0] != 2 or b.shape[1] < 1:
            raise BOError(f"bounds must have shape (2, d), not {b.shape}")
        if not (np.isfinite(b).all() and (b[1] > b[0]).all()):
            raise BOError("bounds must be finite with lower < upper in every dimension")
        if n_constraints < 0:
            raise BOError("n_constraints must be >= 0")
        self.bounds, self.m, self.config = b, int(n_constraints), config
        d = b.shape[1]
        self.result = BOResult(np.zeros((0, d)), np.zeros(0), np.zeros((0, self.m)))
        self._hyper: dict | None = None

    @property
    def dim(self) -> int:
        return self.bounds.shape[1]

    def initial_points(self) -> np.ndarray:
        """The ``n_init`` random initial points (uniform in the box). Shape (n_init, d)."""
        rng = np.random.default_rng(_seed(self.config.seed, 0))
        u = rng.random((self.config.n_init, self.dim))
        return self.bounds[0] + u * (self.bounds[1] - self.bounds[0])

    def tell(self, x, y, c, source: str = "bo", info=None) -> None:
        """Record evaluations: x (n, d), y (n,), c (n, m); NaN marks a failure."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        c = np.asarray(c, dtype=float).reshape(len(y), self.m)
        if x.shape != (len(y), self.dim):
            raise BOError(f"x must have shape ({len(y)}, {self.dim}), not {x.shape}")
        r = self.result
        r.x, r.y, r.c = np.vstack([r.x, x]), np.concatenate([r.y, y]), np.vstack([r.c, c])
        r.source += [source] * len(y)
        r.info += list(info) if info is not None else [None] * len(y)

    def _training_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.result
        u = (r.x - self.bounds[0]) / (self.bounds[1] - self.bounds[0])
        ys = np.column_stack([r.y, r.c]) if self.m else r.y[:, None]
        ys = ys.copy()
        for j in range(ys.shape[1]):
            col = ys[:, j]
            ok = np.isfinite(col)
            if ok.any():
                lo, sd = col[ok].min(), col[ok].std() if ok.sum() > 1 else 1.0
                col[~ok] = lo - 0.5 * (sd if sd > 0 else 1.0)
            else:
                col[:] = -1.0
        return (torch.tensor(u, dtype=torch.double), torch.tensor(ys, dtype=torch.double))

    def ask(self) -> tuple[np.ndarray, str]:
        """The next point (d,) and how it was chosen (``"bo"``, or ``"random"`` when the model
        could not be fitted or the acquisition failed)."""
        from botorch.acquisition.analytic import LogConstrainedExpectedImprovement
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.optim import optimize_acqf
        from gpytorch.mlls import ExactMarginalLogLikelihood

        n = len(self.result.y)
        seed = _seed(self.config.seed, n + 1)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        if n < 2:
            return self.bounds[0] + rng.random(self.dim) * (self.bounds[1] - self.bounds[0]), \
                "random"
        x_t, y_t = self._training_data()
        # outputs standardised here (not by a model transform) so that the hyperparameters of
        # the previous fit can warm-start this one; thresholds and best_f are moved alike
        mean, std = y_t.mean(dim=0), y_t.std(dim=0).clamp_min(1e-9)
        y_s = (y_t - mean) / std
        feas = self.result.feasible
        best = float(np.max(self.result.y[feas])) if feas.any() else float(y_t[:, 0].min())
        best_f = (best - float(mean[0])) / float(std[0])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = SingleTaskGP(x_t, y_s, outcome_transform=None)
                mll = ExactMarginalLogLikelihood(model.likelihood, model)
                if self.config.warm_start and self._hyper is not None:
                    model.load_state_dict(self._hyper)
                    fit_gpytorch_mll(mll, optimizer_kwargs={
                        "options": {"maxiter": self.config.warm_maxiter}})
                else:
                    fit_gpytorch_mll(mll)
                self._hyper = {k: v.detach().clone() for k, v in model.state_dict().items()}
                acq = LogConstrainedExpectedImprovement(
                    model, best_f=best_f, objective_index=0,
                    constraints={j + 1: (float(-mean[j + 1] / std[j + 1]), None)
                                 for j in range(self.m)})
                unit = torch.stack([torch.zeros(self.dim), torch.ones(self.dim)]).double()
                cand, _ = optimize_acqf(acq, bounds=unit, q=1,
                                        num_restarts=self.config.num_restarts,
                                        raw_samples=self.config.raw_samples)
            u = cand.detach().numpy().reshape(-1)
            if not np.isfinite(u).all():
                raise FloatingPointError("non-finite candidate")
            source = "bo"
        except Exception:  # a failed fit never stops the search
            u, source = rng.random(self.dim), "random"
        u = np.clip(u, 0.0, 1.0)
        return self.bounds[0] + u * (self.bounds[1] - self.bounds[0]), source


def constrained_bo(func: Callable[[np.ndarray], tuple], bounds, n_constraints: int,
                   config: BOConfig = BOConfig(), *, progress: bool = False,
                   desc: str = "BO") -> BOResult:
    """Run ``n_init`` random points (evaluated as one batch) and ``n_iter`` BO iterations.

    ``func(X)`` takes points (n, d) and returns ``(y, c)`` or ``(y, c, info)``: objective (n,),
    constraints (n, m) (feasible when >= 0), NaN for failures, and optional per-point data.

    Used by the book chapter "MACRO: Table II, behaviour-level search" (sizing of BOBO and
    RLBO) and by the transistor-level re-optimisation.
    """
    bo = ConstrainedBO(bounds, n_constraints, config)

    def call(x: np.ndarray):
        out = func(x)
        if len(out) == 3:
            return out
        return (*out, None)

    x0 = bo.initial_points()
    y, c, info = call(x0)
    bo.tell(x0, y, c, "init", info)
    steps = range(config.n_iter)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc=desc, leave=False)
    for _ in steps:
        x, source = bo.ask()
        y, c, info = call(x[None, :])
        bo.tell(x[None, :], y, c, source, info)
    return bo.result


def toy_problem(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A constrained test problem on [0, 1]^2 (used by the tests): maximise
    ``-(x0 - 0.8)^2 - (x1 - 0.7)^2`` subject to ``x0 + x1 <= 1.2``; the optimum lies on the
    constraint at (0.65, 0.55), objective -0.045."""
    x = np.atleast_2d(x)
    y = -(x[:, 0] - 0.8) ** 2 - (x[:, 1] - 0.7) ** 2
    c = (1.2 - x[:, 0] - x[:, 1])[:, None]
    return y, c


__all__ = ["BOConfig", "BOError", "BOResult", "ConstrainedBO", "constrained_bo", "toy_problem"]
