"""Black-box baselines on the same simulations, box and feasibility rule as the RL agents.

LoRA-RL compares learning methods only; a reader must also see whether transfer beats a good
black-box optimiser (paper section 2.1). Three are run here on the normalised design box of
:class:`lorarl.env.DesignSpace` (log scale by default, as the environment) with the feasibility
rule of :data:`lorarl.env.FEASIBILITY` (PM >= 60 deg, every transistor saturated):

random search
    uniform samples in the search region;
CMA-ES
    ``cma`` (Hansen's CMA-ES) minimising the feasibility-ranked loss of :func:`loss`, started
    at the start point with step size ``sigma0``;
constrained BO
    BoTorch: one Gaussian process per output (log10 FoM, the phase-margin constraint
    ``(PM - 60)/60`` and the saturation constraint ``min |Vds| - |Vdsat|`` in volts) and the
    log constrained expected improvement (EI times the probability that every constraint is
    met, Gardner et al. 2014), maximised over the search region; ``bo_init`` Sobol points first.

Every method starts from one draw of the environment's start distribution (the reference sizing
perturbed by ``U(-start_spread, start_spread)`` per coordinate) and searches the region
``[u0 - radius, u0 + radius]`` clipped to [0, 1], with ``radius = episode_length *
action_scale = 0.5``: the region an RL episode can reach from its start. The measure shared
with the agents is the number of simulations until the best feasible design reaches the target
FoM (``sims_to_target``; ``None`` when the budget ends first).

Used by the book chapter "LoRA-RL: experiments".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from circuits import SimulationResult, Simulator

from .env import FEASIBILITY, DesignSpace, EnvConfig, EnvConfigError, feasible, simulate_batch

METHODS = ("random", "cma", "bo")


@dataclass(frozen=True)
class BaselineConfig:
    """Settings of one black-box baseline run (book chapter "LoRA-RL: experiments")."""

    method: str = "random"
    """``"random"``, ``"cma"`` (CMA-ES) or ``"bo"`` (constrained Bayesian optimisation)."""
    circuit: str = "two_stage"
    """Built-in amplifier (as :class:`lorarl.env.EnvConfig`)."""
    tech: str = "45nm"
    """Process node."""
    budget: int = 200
    """Simulations allowed (the start point included)."""
    seed: int = 0
    """Seed of the start point and of the method."""
    radius: float = 0.5
    """Half-width of the search region around the start point, in normalised units."""
    batch: int = 2
    """Designs simulated per ``simulate_many`` call (random search and CMA-ES; BO proposes one
    at a time)."""
    sigma0: float = 0.1
    """CMA-ES initial step size (normalised units)."""
    bo_init: int = 10
    """Sobol points before the first BO proposal (the start point is one of them)."""
    bo_refit: int = 5
    """BO re-fits the GP hyper-parameters every this many proposals (in between, the last
    ones are conditioned on the new data): a fit costs seconds, a simulation milliseconds."""
    start_spread: float = 0.2
    """Half-width of the start distribution (as :class:`lorarl.env.EnvConfig`)."""
    scale: str = "log"
    """Normalised coordinate, ``"log"`` or ``"linear"`` (as the environment)."""
    target_fom: float | None = None
    """Target FoM; ``None`` takes LoRA-RL Table 1's value for the circuit."""
    stop_at_target: bool = False
    """Stop as soon as the target is reached (else use the whole budget)."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise EnvConfigError(f"unknown baseline {self.method!r}; known: "
                                 f"{', '.join(METHODS)}")
        for name, low in (("budget", 1), ("batch", 1), ("bo_init", 1), ("bo_refit", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise EnvConfigError(f"{name} must be a whole number >= {low}, not {v!r}")
        for name in ("radius", "sigma0"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (
                    math.isfinite(v) and 0 < v <= 1):
                raise EnvConfigError(f"{name} must be in (0, 1], not {v!r}")
        # circuit, node, scale, spread, seed and target are checked by the environment's rules
        self.env_config()

    def env_config(self) -> EnvConfig:
        """The environment settings this run shares (circuit, node, box, start, target)."""
        return EnvConfig(circuit=self.circuit, tech=self.tech, seed=self.seed,
                         start_spread=self.start_spread, scale=self.scale,
                         target_fom=self.target_fom)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def loss(result: SimulationResult) -> float:
    """What CMA-ES minimises: ``-log10 FoM`` for a feasible design; an infeasible one scores
    ``10`` plus its phase-margin shortfall (in units of 60 deg) plus 0.1 per device out of
    saturation; a failed simulation ``20``. Every feasible design ranks above every infeasible
    one, and infeasible ones closer to feasibility rank higher.
    """
    if not result.ok or result.fom is None or not math.isfinite(result.fom):
        return 20.0
    if feasible(result):
        return -math.log10(max(result.fom, 1e-12))
    pm = result.pm_deg if result.pm_deg is not None else 0.0
    short = max(0.0, (60.0 - pm) / 60.0)
    off = sum(d.region != "saturation" for d in result.devices.values())
    return 10.0 + short + 0.1 * off


def constraints(result: SimulationResult) -> tuple[float, float]:
    """The two constraint values BO models, feasible when both are >= 0: ``(PM - 60)/60`` and
    the smallest saturation margin |Vds| - |Vdsat| (V; at most -0.01 when a device is off)."""
    pm = (result.pm_deg - 60.0) / 60.0 if result.pm_deg is not None else -1.0
    margin = result.min_margin if result.devices else -1.0
    if not math.isfinite(margin):
        margin = -1.0
    if result.devices and not result.all_saturated:
        margin = min(margin, -0.01)
    return float(pm), float(margin)


@dataclass
class Trace:
    """What a baseline run saw, one entry per simulation (in order)."""

    fom: list[float | None]
    feasible: list[bool]
    failed: list[bool]
    best: list[float]


def run_baseline(config: BaselineConfig, simulator: Simulator | None = None,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run one black-box baseline; returns its summary (JSON-ready).

    Returns
    -------
    dict
        ``config``; ``sims`` (used), ``sims_to_target`` (``None`` when not reached),
        ``best_feasible_fom``, ``best_params`` and ``start_params`` (SI), ``failed_sims``,
        ``infeasible_sims``,
        ``best_curve`` (best feasible FoM after each simulation; 0 before the first),
        ``wall_s``, ``sim_time_s``.
    """
    own = simulator is None
    sim = simulator if simulator is not None else Simulator(2)
    try:
        return _run(config, sim, progress)
    finally:
        if own:
            sim.close()


def _run(config: BaselineConfig, sim: Simulator,
         progress: Callable[[int], None] | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    env_cfg = config.env_config()
    space = DesignSpace.of(config.circuit, config.tech, config.scale)
    target = env_cfg.target
    rng = np.random.default_rng(config.seed)
    s = config.start_spread
    u0 = np.clip(space.reference + rng.uniform(-s, s, space.dim), 0.0, 1.0)
    lo = np.clip(u0 - config.radius, 0.0, 1.0)
    hi = np.clip(u0 + config.radius, 0.0, 1.0)
    state = {"sims": 0, "sim_time": 0.0, "best": 0.0, "best_u": None, "to_target": None,
             "failed": 0, "infeasible": 0, "bo_fallbacks": 0}
    curve: list[float] = []
    xs: list[np.ndarray] = []
    results: list[SimulationResult] = []

    def evaluate(units: list[np.ndarray]) -> list[SimulationResult]:
        units = units[: config.budget - state["sims"]]
        if not units:
            return []
        res, dt = simulate_batch(sim, config.circuit, config.tech,
                                 [space.params(u) for u in units])
        state["sim_time"] += dt
        for u, r in zip(units, res, strict=True):
            state["sims"] += 1
            if not r.ok or r.fom is None:
                state["failed"] += 1
            elif not feasible(r):
                state["infeasible"] += 1
            elif r.fom > state["best"]:
                state["best"], state["best_u"] = float(r.fom), u
            if state["to_target"] is None and state["best"] >= target:
                state["to_target"] = state["sims"]
            curve.append(state["best"])
            xs.append(u)
            results.append(r)
        if progress is not None:
            progress(len(units))
        return res

    def done() -> bool:
        return state["sims"] >= config.budget or (
            config.stop_at_target and state["to_target"] is not None)

    evaluate([u0])
    if config.method == "random":
        while not done():
            evaluate([rng.uniform(lo, hi) for _ in range(config.batch)])
    elif config.method == "cma":
        _cma(config, u0, lo, hi, evaluate, done)
    else:
        _bo(config, lo, hi, rng, xs, results, evaluate, done, state)
    best_u = state["best_u"]
    return {
        "config": config.to_dict(), "target_fom": target, "sims": state["sims"],
        "sims_to_target": state["to_target"], "reached": state["to_target"] is not None,
        "best_feasible_fom": state["best"],
        "best_params": space.params(best_u) if best_u is not None else None,
        "start_params": space.params(u0),
        "failed_sims": state["failed"], "infeasible_sims": state["infeasible"],
        "best_curve": curve, "wall_s": time.perf_counter() - t0,
        "sim_time_s": state["sim_time"],
        "bo_fallbacks": state["bo_fallbacks"],  # BO proposals replaced by random points
    }


def _cma(config: BaselineConfig, u0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
         evaluate: Callable, done: Callable) -> None:
    import cma

    x0 = np.clip(u0, lo + 1e-9, hi - 1e-9)
    opts = {"bounds": [lo.tolist(), hi.tolist()], "seed": config.seed + 1, "verbose": -9,
            "popsize": max(4, 2 * config.batch * math.ceil(2 / config.batch)),
            "tolfun": 0, "tolx": 1e-9}
    es = cma.CMAEvolutionStrategy(x0.tolist(), config.sigma0, opts)
    while not done():
        if es.stop():  # converged before the budget: restart from the best point so far
            es = cma.CMAEvolutionStrategy(es.result.xbest.tolist(), config.sigma0, opts)
        asked = es.ask()
        res = evaluate([np.asarray(c, dtype=float) for c in asked])
        if len(res) < len(asked):
            break  # budget exhausted mid-generation
        es.tell(asked, [loss(r) for r in res])  # the asked objects: CMA tracks its mirrors


def _bo(config: BaselineConfig, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator,
        xs: list[np.ndarray], results: list[SimulationResult], evaluate: Callable,
        done: Callable, state: dict) -> None:
    import torch
    from botorch.acquisition.analytic import LogConstrainedExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from scipy.stats import qmc

    torch.manual_seed(config.seed)
    sobol = qmc.Sobol(len(lo), scramble=True, seed=int(rng.integers(2**31)))
    init = sobol.random_base2(max(math.ceil(math.log2(max(config.bo_init - 1, 1))), 0))
    init = init[: max(config.bo_init - 1, 1)]
    for k in range(0, len(init), config.batch):
        if done():
            return
        evaluate([lo + p * (hi - lo) for p in init[k:k + config.batch]])
    bounds = torch.tensor(np.stack([lo, hi]), dtype=torch.double)
    hyper: dict | None = None
    proposals = 0
    while not done():
        X = torch.tensor(np.stack(xs), dtype=torch.double)
        ok = [r.ok and r.fom is not None and math.isfinite(r.fom) and r.fom > 0
              for r in results]
        objs = [math.log10(r.fom) if good else math.nan
                for r, good in zip(results, ok, strict=True)]
        worst = min([o for o in objs if math.isfinite(o)], default=-6.0)
        cons = [constraints(r) if good else (-1.0, -1.0)
                for r, good in zip(results, ok, strict=True)]
        Y = torch.tensor([[o if math.isfinite(o) else worst - 1.0, *c]
                          for o, c in zip(objs, cons, strict=True)], dtype=torch.double)
        feas = [feasible(r) for r in results]
        best_f = max([o for o, f in zip(objs, feas, strict=True) if f], default=worst - 1.0)
        # one GP per output (a batched model): log10 FoM and the two constraints
        model = SingleTaskGP(X, Y, input_transform=Normalize(X.shape[-1], bounds=bounds),
                             outcome_transform=Standardize(Y.shape[-1]))
        try:
            if hyper is None or proposals % config.bo_refit == 0:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                                 optimizer_kwargs={"options": {"maxiter": 50}})
                hyper = {k: v for k, v in model.state_dict().items()
                         if "raw_" in k or "outcome_transform" not in k}
            else:  # the last fitted hyper-parameters, conditioned on the new data
                model.load_state_dict(
                    {k: v for k, v in hyper.items() if "raw_" in k}, strict=False)
            model.eval()
            acq = LogConstrainedExpectedImprovement(
                model, best_f=best_f, objective_index=0,
                constraints={1: (0.0, None), 2: (0.0, None)})
            cand, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=2, raw_samples=64)
            nxt = cand.detach().numpy()[0]
        except Exception:  # a GP that cannot be fitted: a random point keeps the run going
            nxt = rng.uniform(lo, hi)
            state["bo_fallbacks"] += 1
        proposals += 1
        evaluate([np.clip(nxt, lo, hi)])


def summary_row(result: dict[str, Any]) -> dict[str, Any]:
    """The columns the book's baseline table shows (method, circuit, node, seed, reached,
    simulations to target, best feasible FoM, failed share)."""
    c = result["config"]
    return {"method": c["method"], "circuit": c["circuit"], "tech": c["tech"], "seed": c["seed"],
            "reached": result["reached"], "sims_to_target": result["sims_to_target"],
            "best_feasible_fom": result["best_feasible_fom"], "sims": result["sims"],
            "failed_share": result["failed_sims"] / max(result["sims"], 1)}


__all__ = ["FEASIBILITY", "METHODS", "BaselineConfig", "constraints", "loss", "run_baseline",
           "summary_row"]
