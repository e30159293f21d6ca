"""The sizing environment of LoRA-RL (paper section 3.1), as a ``gymnasium.Env``.

State, action and reward follow the paper's problem formulation:

state
    the circuit graph of the current sizing (:func:`circuits.circuit_graph`): node features
    ``x`` (N, 10) with device type, R, C, W, L and bias current, edge features ``edge_attr``
    (E, 4) with the net type and the net's DC voltage from the last operating point, and the four
    normalised metrics ``metrics`` (gain, GBW, PM, power; :func:`normalised_metrics`).
action
    a perturbation of the normalised sizes, ``u <- clip(u + action_scale * a, 0, 1)`` with
    ``a`` in [-1, 1]^n (one entry per design parameter).
reward
    the change of the *feasible* figure of merit plus a penalty for infeasible points,
    ``r_t = f(x_t) - f(x_{t-1}) - p_inf [x_t infeasible]``, where ``f(x) = min(FoM(x), fom_clip)``
    for a feasible design and 0 otherwise (a design counts only when it is feasible), and
    ``FoM = (GBW/GBW_ref)^2 / (P/P_ref)`` is 1.0 at the target's reference sizing (computed by
    :mod:`circuits` as ``SimulationResult.fom``). Feasible means phase margin >= 60 deg and every
    transistor saturated (:data:`FEASIBILITY`).

A simulation that fails (no convergence, a singular matrix, a timeout of the worker, a response
that cannot be measured, an engine error) is a *penalised step*, never an exception: the design
is rejected, the sizing stays where it was, the reward is ``-failure_penalty`` and ``info``
carries ``failed=True`` and the reason.

Normalised sizes. The paper scales device parameters linearly to [0, 1] by the PDK bounds
(section 4.1); :class:`EnvConfig` ``scale="linear"`` does that. The default is ``scale="log"``
(``u = log(v/lo) / log(hi/lo)``): most widths of the hand-made reference sizings sit in the
lowest tenth of the linear width box (a 2 um width in a 0.09-90 um range at 45 nm), so a linear
step that is small for a wide device multiplies a narrow one; on a log scale a step is the same
*ratio* for every device. The graph's W and L node features stay linear as in the paper; only
the coordinate that actions perturb and that the black-box baselines search
(:mod:`lorarl.baselines`) is logarithmic.

Start distribution and episode length. Each episode starts at the target's reference sizing
perturbed uniformly in the normalised coordinates, ``u_0 = clip(u_ref + U(-s, s)^n, 0, 1)`` with
``s = start_spread = 0.2`` (on the log scale a factor of up to 10^0.6 = 4 on every width at
45 nm, whose bounds span three decades). It never starts at the reference (which would reach
the target FoM at step 0), and the spread is wide enough that the target is not reached without
learning: with ``s = 0.1`` the start designs of circuits A and C already scored above the Table 1
targets on average, while with ``s = 0.2`` about half of the starts are infeasible or fail and a
policy of random actions ends most episodes on an infeasible design (the experiments chapter
measures this start distribution). Episodes last ``episode_length = 10`` steps: with
``action_scale = 0.05`` an episode reaches ``+-0.5`` around its start along every coordinate,
more than the start offset, so every start can be brought back to the reference and beyond;
short episodes keep the paper's measure, episodes to the target, within the compute budget of
the experiment grid (:mod:`lorarl.grid`). Episodes end by truncation at that length
(``terminated`` is always false: sizing is a continuing task with a time limit).

Used by the book chapters "LoRA-RL: method" and "LoRA-RL: experiments".
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium
import gymnasium.utils.seeding
import numpy as np
from gymnasium import spaces

from circuits import (
    CircuitsError,
    Failure,
    SimulationResult,
    Simulator,
    Spec,
    circuit_graph,
    get_amplifier,
    get_technology,
    list_amplifiers,
    list_technologies,
)

#: Feasibility rule of LoRA-RL (section 3.1): phase margin >= 60 deg, every transistor saturated.
FEASIBILITY = Spec(min_pm_deg=60.0, saturation=True)

#: Target FoM per circuit, LoRA-RL Table 1 (circuits A-D).
TARGETS = {"two_stage": 1.00, "folded_cascode": 0.95, "current_mirror_ota": 1.05,
           "three_stage_nmc": 0.98}

#: Paper labels of the circuits (Figure 3).
LABELS = {"two_stage": "A", "folded_cascode": "B", "current_mirror_ota": "C",
          "three_stage_nmc": "D"}

#: Names of the four metrics in ``obs["metrics"]``.
METRICS = ("gain", "gbw", "pm", "power")

#: Bounds of the observation boxes (values are clipped into them).
X_BOUNDS = (0.0, 1.0)
EDGE_BOUNDS = (-2.0, 2.0)
METRIC_BOUNDS = (-5.0, 5.0)

SCALES = ("log", "linear")
STARTS = ("perturbed", "uniform")


class EnvConfigError(ValueError):
    """An environment setting is not valid (unknown circuit or node, a bad number)."""


@dataclass(frozen=True)
class EnvConfig:
    """Settings of a :class:`SizingEnv` (book chapter "LoRA-RL: experiments")."""

    circuit: str = "two_stage"
    """Built-in amplifier: ``two_stage`` (A), ``folded_cascode`` (B), ``current_mirror_ota``
    (C) or ``three_stage_nmc`` (D)."""
    tech: str = "45nm"
    """Process node (``90nm``, ``45nm``, ``22nm``, ...); the circuit needs a reference sizing
    there, which defines FoM = 1."""
    episode_length: int = 10
    """Steps per episode (truncation); see the module docstring for the choice."""
    action_scale: float = 0.05
    """Largest change of one normalised size per step (action 1.0)."""
    infeasible_penalty: float = 0.2
    """Penalty ``p_inf`` subtracted from the reward of a step that lands on an infeasible
    design (simulated, but PM < 60 deg or a device out of saturation)."""
    failure_penalty: float = 0.5
    """Reward of a step whose simulation fails (the design is rejected)."""
    fom_clip: float = 10.0
    """FoM above this counts as this in the reward (a few designs reach FoM in the tens or
    hundreds; without the clip one lucky step dominates the critic's targets).
    ``info["fom"]`` is never clipped."""
    start: str = "perturbed"
    """Start distribution: ``"perturbed"`` (the reference sizing plus ``U(-start_spread,
    start_spread)`` on every normalised size) or ``"uniform"`` (anywhere in the box)."""
    start_spread: float = 0.2
    """Half-width of the ``"perturbed"`` start box in normalised units (module docstring)."""
    scale: str = "log"
    """Normalised coordinate: ``"log"`` (default) or ``"linear"`` (the paper's section 4.1)."""
    seed: int = 0
    """Seed of the start distribution (``reset(seed=...)`` overrides it)."""
    target_fom: float | None = None
    """Target FoM; ``None`` takes LoRA-RL Table 1's value for the circuit (:data:`TARGETS`)."""
    timeout: float = 30.0
    """Wall-clock limit of one simulation (s) of a simulator the environment creates itself."""

    def __post_init__(self) -> None:
        problems = []
        if self.circuit not in list_amplifiers():
            problems.append(f"unknown circuit {self.circuit!r}; built-in: "
                            f"{', '.join(list_amplifiers())}")
        if self.tech not in list_technologies():
            problems.append(f"unknown node {self.tech!r}; known: "
                            f"{', '.join(list_technologies())}")
        if isinstance(self.episode_length, bool) or not isinstance(self.episode_length, int) \
                or self.episode_length < 1:
            problems.append(f"episode_length must be a whole number >= 1, not "
                            f"{self.episode_length!r}")
        for name in ("action_scale", "infeasible_penalty", "failure_penalty", "fom_clip",
                     "start_spread", "timeout"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v < 0:
                problems.append(f"{name} must be a finite number >= 0, not {v!r}")
        if not problems:
            if not 0 < self.action_scale <= 1:
                problems.append("action_scale must be in (0, 1]")
            if self.fom_clip <= 0 or self.timeout <= 0:
                problems.append("fom_clip and timeout must be > 0")
            if self.start_spread > 1:
                problems.append("start_spread must be <= 1")
        if self.start not in STARTS:
            problems.append(f"start must be one of {STARTS}, not {self.start!r}")
        if self.scale not in SCALES:
            problems.append(f"scale must be one of {SCALES}, not {self.scale!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            problems.append(f"seed must be an integer, not {self.seed!r}")
        if self.target_fom is not None and (
                isinstance(self.target_fom, bool) or not isinstance(self.target_fom, int | float)
                or not math.isfinite(self.target_fom) or self.target_fom <= 0):
            problems.append(f"target_fom must be a positive number, not {self.target_fom!r}")
        if problems:
            raise EnvConfigError("; ".join(problems))

    @property
    def target(self) -> float:
        """The target FoM in use (``target_fom`` or Table 1's value)."""
        if self.target_fom is not None:
            return float(self.target_fom)
        return TARGETS.get(self.circuit, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvConfig:
        """A config from a mapping (unknown keys are an :class:`EnvConfigError`)."""
        if not isinstance(data, dict):
            raise EnvConfigError("an environment config is a mapping")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise EnvConfigError(f"unknown environment settings {unknown}; known: "
                                 f"{sorted(cls.__dataclass_fields__)}")
        return cls(**data)


# -- the design space ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignSpace:
    """The normalised box ``[0, 1]^n`` of a circuit's design parameters in one node.

    ``to_values(u)`` maps normalised coordinates to SI values: ``lo * (hi/lo)^u`` on the log
    scale, ``lo + u (hi - lo)`` on the linear one (a parameter whose lower bound is not positive
    is always linear). Shared by :class:`SizingEnv` and the black-box baselines, so that every
    method searches the same box (book chapter "LoRA-RL: experiments").
    """

    names: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray
    log: np.ndarray
    reference: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, circuit: str, tech: str, scale: str = "log") -> DesignSpace:
        amp = get_amplifier(circuit)
        bounds = amp.bounds(tech)
        names = amp.parameter_names
        lo = np.array([bounds[n][0] for n in names], dtype=float)
        hi = np.array([bounds[n][1] for n in names], dtype=float)
        log = np.array([scale == "log" and lo_ > 0 for lo_ in lo])
        space = cls(names, lo, hi, log, np.zeros(len(names)))
        base = amp.base(tech)
        ref = space.to_unit(np.array([base[n] for n in names], dtype=float))
        return cls(names, lo, hi, log, ref)

    @property
    def dim(self) -> int:
        return len(self.names)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """SI values (n,) -> normalised coordinates (n,) in [0, 1]."""
        v = np.asarray(values, dtype=float)
        lin = (v - self.lo) / (self.hi - self.lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log(np.maximum(v, 1e-300) / self.lo) / np.log(self.hi / self.lo)
        return np.clip(np.where(self.log, lg, lin), 0.0, 1.0)

    def to_values(self, unit: np.ndarray) -> np.ndarray:
        """Normalised coordinates (n,) -> SI values (n,), clipped into the bounds."""
        u = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = self.lo * np.power(self.hi / self.lo, u)
        v = np.where(self.log, lg, self.lo + u * (self.hi - self.lo))
        return np.clip(v, self.lo, self.hi)

    def params(self, unit: np.ndarray) -> dict[str, float]:
        """Normalised coordinates -> the parameter mapping the simulator takes."""
        return {n: float(v) for n, v in zip(self.names, self.to_values(unit), strict=True)}


def feasible(result: SimulationResult) -> bool:
    """A design counts when its simulation succeeded, has a FoM and meets :data:`FEASIBILITY`."""
    return bool(result.ok and result.fom is not None and math.isfinite(result.fom)
                and FEASIBILITY.met(result))


def normalised_metrics(result: SimulationResult, ref_ugbw: float, ref_power: float
                       ) -> np.ndarray:
    """The four metrics of ``obs["metrics"]``, shape (4,), float32.

    gain_dB / 100; log10(GBW / GBW_ref); PM / 90 deg; log10(P / P_ref); each clipped to
    :data:`METRIC_BOUNDS`. A metric that was not measured (a failed simulation) is 0.
    """
    def lg(v: float | None, ref: float) -> float:
        return math.log10(v / ref) if v and v > 0 and ref > 0 else 0.0

    m = [(result.gain_db or 0.0) / 100.0, lg(result.ugbw_hz, ref_ugbw),
         (result.pm_deg or 0.0) / 90.0, lg(result.power_w, ref_power)]
    m = [x if math.isfinite(x) else 0.0 for x in m]
    return np.clip(np.array(m, dtype=np.float32), *METRIC_BOUNDS).astype(np.float32)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parameter_nodes(circuit: str, tech: str) -> tuple[tuple[int, ...], ...]:
    """For each design parameter, the graph nodes of the devices whose fields use it.

    A parameter is used by a device when its name appears in the device's value or ``key=value``
    fields, directly or through the subcircuit's ``.param`` lines that derive from it. A
    parameter that sizes no node of the graph maps to every node (the actor then reads it from
    the whole graph).
    """
    amp = get_amplifier(circuit)
    names = [n.lower() for n in amp.parameter_names]
    depends: dict[str, set[str]] = {n: {n} for n in names}
    for line in amp.subckt.lines:  # derived parameters, in order
        words = line.text.split()
        if not words or words[0].lower() != ".param":
            continue
        for key, expr in re.findall(r"(\w+)\s*=\s*(\{[^}]*\}|'[^']*'|\S+)", line.text[6:]):
            used = {w.lower() for w in _IDENT.findall(expr)}
            deps = set().union(*(depends.get(w, set()) for w in used)) if used else set()
            depends[key.lower()] = deps
    graph = circuit_graph(amp, get_technology(tech), amp.base(tech))
    node_of = {name: i for i, name in enumerate(graph.device_names)}
    users: dict[str, list[int]] = {n: [] for n in names}
    for d in amp.subckt.devices:
        if d.name not in node_of:
            continue
        text = " ".join([d.value or "", *d.params.values()])
        used = {w.lower() for w in _IDENT.findall(text)}
        for w in used:
            for p in depends.get(w, set()):
                if p in users and node_of[d.name] not in users[p]:
                    users[p].append(node_of[d.name])
    everything = tuple(range(len(graph.device_names)))
    return tuple(tuple(sorted(users[n])) or everything for n in names)


# -- the environment ----------------------------------------------------------------------------


def _failed_result(circuit: str, tech: str, params: dict[str, float], reason: str
                   ) -> SimulationResult:
    return SimulationResult(ok=False, circuit=circuit, technology=tech, params=dict(params),
                            failure=Failure.ENGINE, reason=reason)


def simulate_batch(sim: Simulator, circuit: str, tech: str,
                   param_sets: Sequence[dict[str, float]]) -> tuple[list[SimulationResult], float]:
    """One ``simulate_many`` call whose errors become failed results; returns them and the
    wall time (s). Never raises for a simulation problem (book chapter "LoRA-RL: experiments").
    """
    t0 = time.perf_counter()
    try:
        results = sim.simulate_many(circuit, tech, list(param_sets))
    except CircuitsError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        results = [_failed_result(circuit, tech, p, reason) for p in param_sets]
    return results, time.perf_counter() - t0


class SizingEnv(gymnasium.Env):
    """LoRA-RL's sizing environment for one circuit in one node (see the module docstring).

    Parameters
    ----------
    config : the settings (:class:`EnvConfig`).
    simulator : a :class:`circuits.Simulator` to share (not closed by :meth:`close`); ``None``
        creates one with one worker and ``config.timeout``, closed by :meth:`close`.

    Attributes
    ----------
    observation_space : ``Dict(x=Box(N, 10), edge_attr=Box(E, 4), metrics=Box(4,))``, float32.
    action_space : ``Box(-1, 1, (n_params,))``, float32.
    edge_index : (2, E) int64, the graph's edges (static for a circuit).
    param_nodes : for each design parameter, the graph-node indices of the devices it sizes.
    param_names : the design parameters, in action order.
    space : the normalised design box (:class:`DesignSpace`).

    ``info`` of every step and reset describes the episode (so that it is the same for the same
    seed and actions, as ``check_env`` requires): ``fom`` (unclipped; ``None`` when the
    simulation failed), ``feasible``, ``failed``, ``failure`` (its kind), ``reason`` (why it
    failed or is infeasible), ``best_feasible_fom`` (this episode; 0 when none), ``sims``,
    ``failed_sims``, ``infeasible_sims`` (this episode, the start included), ``step``,
    ``params`` (SI values of the simulated sizing).

    Counters over the environment's life are attributes: ``total_sims``, ``total_failed``,
    ``total_infeasible``, ``best_feasible_fom_ever``, ``sims_to_target`` (the simulation count at
    which the best feasible FoM first reached the target; ``None`` before), ``sim_time_s``
    (simulation wall time; ``last_sim_time_s`` for the last call).

    Shapes: ``obs["x"]`` (N, 10), ``obs["edge_attr"]`` (E, 4), ``obs["metrics"]`` (4,).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's convention)

    def __init__(self, config: EnvConfig | None = None, simulator: Simulator | None = None):
        super().__init__()
        self.config = config = config or EnvConfig()
        self._own_sim = simulator is None
        self.sim = simulator if simulator is not None else Simulator(1, config.timeout)
        self.amp = get_amplifier(config.circuit)
        self.technology = get_technology(config.tech)
        if self.technology.name not in self.amp.references:
            raise EnvConfigError(
                f"{config.circuit} has no reference sizing in {config.tech} (FoM = 1 is defined "
                f"by it); nodes with one: {', '.join(self.amp.references)}")
        self.space = DesignSpace.of(config.circuit, config.tech, config.scale)
        self.param_names = self.space.names
        self.target = config.target
        ref_result, _ = simulate_batch(self.sim, config.circuit, config.tech,
                                       [self.space.params(self.space.reference)])
        ref = ref_result[0]
        if not (ref.ok and ref.ugbw_hz and ref.power_w):
            raise EnvConfigError(f"the reference sizing of {config.circuit} in {config.tech} "
                                 f"does not simulate: {ref.reason}")
        self.reference_result = ref
        self._ref_ugbw, self._ref_power = float(ref.ugbw_hz), float(ref.power_w)
        graph = circuit_graph(self.amp, self.technology, ref.params, ref)
        self.edge_index = graph.edge_index.numpy().astype(np.int64)
        self.device_names = tuple(graph.device_names)
        self.param_nodes = parameter_nodes(config.circuit, config.tech)
        n_nodes, n_edges = graph.x.shape[0], graph.edge_attr.shape[0]
        self.observation_space = spaces.Dict({
            "x": spaces.Box(*X_BOUNDS, (n_nodes, graph.x.shape[1]), np.float32),
            "edge_attr": spaces.Box(*EDGE_BOUNDS, (n_edges, graph.edge_attr.shape[1]),
                                    np.float32),
            "metrics": spaces.Box(*METRIC_BOUNDS, (len(METRICS),), np.float32),
        })
        self.action_space = spaces.Box(-1.0, 1.0, (self.space.dim,), np.float32)
        self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(config.seed)
        self.total_sims = self.total_failed = self.total_infeasible = 0
        self.best_feasible_fom_ever = 0.0
        self.sims_to_target: int | None = None
        self.sim_time_s = self.last_sim_time_s = 0.0
        self._episode = {"sims": 0, "failed_sims": 0, "infeasible_sims": 0}
        self._u = self.space.reference.copy()
        self._obs: dict[str, np.ndarray] | None = None
        self._value = 0.0
        self._steps = 0
        self._best_episode = 0.0

    # -- observations ---------------------------------------------------------------------------

    def _observe(self, params: dict[str, float], result: SimulationResult) -> dict:
        g = circuit_graph(self.amp, self.technology, params, result if result.ok else None)
        return {
            "x": np.clip(g.x.numpy(), *X_BOUNDS).astype(np.float32),
            "edge_attr": np.clip(g.edge_attr.numpy(), *EDGE_BOUNDS).astype(np.float32),
            "metrics": normalised_metrics(result, self._ref_ugbw, self._ref_power),
        }

    def value(self, result: SimulationResult) -> float:
        """``f(x)``: the FoM clipped at ``fom_clip`` when feasible, else 0."""
        return min(float(result.fom), self.config.fom_clip) if feasible(result) else 0.0

    # -- reset and step in two halves (so that VecSizingEnv can batch the simulations) --------

    def propose_reset(self, seed: int | None = None) -> dict[str, float]:
        """Draw the start sizing of a new episode; returns the parameters to simulate."""
        if seed is not None:
            self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(seed)
        rng = self.np_random
        if self.config.start == "uniform":
            u = rng.uniform(0.0, 1.0, self.space.dim)
        else:
            s = self.config.start_spread
            u = np.clip(self.space.reference + rng.uniform(-s, s, self.space.dim), 0.0, 1.0)
        self._pending = u
        return self.space.params(u)

    def finish_reset(self, params: dict[str, float], result: SimulationResult,
                     sim_time_s: float = 0.0) -> tuple[dict, dict]:
        """Take the start sizing's simulation; returns ``(obs, info)``."""
        self._u = self._pending
        self._steps = 0
        self._episode = {"sims": 0, "failed_sims": 0, "infeasible_sims": 0}
        self._count(result, sim_time_s)
        self._value = self.value(result)
        self._best_episode = self._value if feasible(result) else 0.0
        self._last_params = params
        self._last_result = result
        self._obs = self._observe(params, result)
        return self._copy_obs(), self._info(result, params)

    def propose_step(self, action: np.ndarray) -> dict[str, float]:
        """The sizing an action leads to; returns the parameters to simulate."""
        if self._obs is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != (self.space.dim,):
            raise ValueError(f"action must have shape ({self.space.dim},), not {a.shape}")
        a = np.clip(np.nan_to_num(a, nan=0.0), -1.0, 1.0)
        self._pending = np.clip(self._u + self.config.action_scale * a, 0.0, 1.0)
        return self.space.params(self._pending)

    def finish_step(self, params: dict[str, float], result: SimulationResult,
                    sim_time_s: float = 0.0) -> tuple[dict, float, bool, bool, dict]:
        """Take the proposed sizing's simulation; returns the gymnasium step tuple."""
        self._steps += 1
        self._count(result, sim_time_s)
        if not result.ok or result.fom is None:
            reward = -self.config.failure_penalty  # rejected: the sizing stays where it was
        else:
            v = self.value(result)
            reward = v - self._value
            if not feasible(result):
                reward -= self.config.infeasible_penalty
            else:
                self._best_episode = max(self._best_episode, float(result.fom))
            self._u, self._value = self._pending, v
            self._last_params, self._last_result = params, result
            self._obs = self._observe(params, result)
        truncated = self._steps >= self.config.episode_length
        info = self._info(result, params)
        return self._copy_obs(), float(reward), False, truncated, info

    def _count(self, result: SimulationResult, sim_time_s: float) -> None:
        self.total_sims += 1
        self._episode["sims"] += 1
        self.sim_time_s += sim_time_s
        self.last_sim_time_s = sim_time_s
        if not result.ok or result.fom is None:
            self.total_failed += 1
            self._episode["failed_sims"] += 1
        elif not feasible(result):
            self.total_infeasible += 1
            self._episode["infeasible_sims"] += 1
        else:
            self.best_feasible_fom_ever = max(self.best_feasible_fom_ever, float(result.fom))
            if self.sims_to_target is None and self.best_feasible_fom_ever >= self.target:
                self.sims_to_target = self.total_sims

    def _info(self, result: SimulationResult, params: dict[str, float]) -> dict:
        failed = not result.ok or result.fom is None
        ok_feasible = feasible(result)
        reason = None
        if failed:
            reason = result.reason or (result.failure.value if result.failure else "no FoM")
        elif not ok_feasible:
            reason = "; ".join(FEASIBILITY.violations(result))
        return {
            "fom": None if failed else float(result.fom),
            "feasible": ok_feasible, "failed": failed,
            "failure": result.failure.value if result.failure else None,
            "reason": reason,
            "best_feasible_fom": self._best_episode,
            **self._episode,
            "step": self._steps, "params": dict(params),
        }

    def current_info(self) -> dict:
        """The ``info`` of the design the environment is at (after a reset: its start)."""
        return self._info(self._last_result, self._last_params)

    def _copy_obs(self) -> dict:
        assert self._obs is not None
        return {k: v.copy() for k, v in self._obs.items()}

    # -- gymnasium API --------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[dict, dict]:
        """Start an episode at a sizing drawn from the start distribution (one simulation)."""
        super().reset(seed=seed)
        params = self.propose_reset(None)
        results, dt = simulate_batch(self.sim, self.config.circuit, self.config.tech, [params])
        return self.finish_reset(params, results[0], dt)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        """Perturb the sizes by ``action_scale * action`` and simulate (one simulation)."""
        params = self.propose_step(action)
        results, dt = simulate_batch(self.sim, self.config.circuit, self.config.tech, [params])
        return self.finish_step(params, results[0], dt)

    def close(self) -> None:
        if self._own_sim:
            self.sim.close()
        super().close()


class VecSizingEnv:
    """``n`` :class:`SizingEnv` copies stepped together: one ``simulate_many`` batch per step,
    so every worker of the simulator's pool simulates at once.

    Copy ``i`` uses seed ``config.seed + i``; given the same actions it produces exactly what a
    single :class:`SizingEnv` with that seed produces. Auto-reset: when a copy's episode ends
    (``terminated`` or ``truncated``), the observation returned for it is the first observation
    of its next episode, and its ``info`` holds ``final_observation`` and ``final_info`` of the
    episode that ended (the start sizings of the new episodes are simulated in a second batch
    within the same call).

    Parameters
    ----------
    config : settings shared by the copies.
    n : number of copies.
    simulator : shared :class:`circuits.Simulator`; ``None`` creates one with two workers
        (closed by :meth:`close`).
    """

    def __init__(self, config: EnvConfig | None = None, n: int = 2,
                 simulator: Simulator | None = None):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise EnvConfigError(f"n must be a whole number >= 1, not {n!r}")
        config = config or EnvConfig()
        self.config = config
        self._own_sim = simulator is None
        self.sim = simulator if simulator is not None else Simulator(2, config.timeout)
        self.envs = [SizingEnv(_with_seed(config, config.seed + i), self.sim) for i in range(n)]
        self.n = n
        first = self.envs[0]
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.edge_index, self.param_nodes = first.edge_index, first.param_nodes
        self.param_names = first.param_names

    @property
    def total_sims(self) -> int:
        """Simulations made by all copies."""
        return sum(e.total_sims for e in self.envs)

    @property
    def sim_time_s(self) -> float:
        """Wall time spent in simulation batches (s)."""
        return sum(e.sim_time_s for e in self.envs)

    def _batch(self, params: list[dict[str, float]]) -> tuple[list[SimulationResult], float]:
        return simulate_batch(self.sim, self.config.circuit, self.config.tech, params)

    def reset(self, seed: int | None = None) -> list[dict]:
        """Start every copy (copy ``i`` seeded ``seed + i`` when ``seed`` is given)."""
        params = [e.propose_reset(None if seed is None else seed + i)
                  for i, e in enumerate(self.envs)]
        results, dt = self._batch(params)
        return [e.finish_reset(p, r, dt / self.n)[0]
                for e, p, r in zip(self.envs, params, results, strict=True)]

    def step(self, actions: np.ndarray) -> tuple[list[dict], np.ndarray, np.ndarray,
                                                 np.ndarray, list[dict]]:
        """Step every copy with its row of ``actions`` (n, n_params)."""
        actions = np.asarray(actions, dtype=float)
        if actions.shape != (self.n, len(self.param_names)):
            raise ValueError(f"actions must have shape ({self.n}, {len(self.param_names)}), "
                             f"not {actions.shape}")
        params = [e.propose_step(a) for e, a in zip(self.envs, actions, strict=True)]
        results, dt = self._batch(params)
        out = [e.finish_step(p, r, dt / self.n)
               for e, p, r in zip(self.envs, params, results, strict=True)]
        obs = [o[0] for o in out]
        rewards = np.array([o[1] for o in out], dtype=np.float64)
        terminated = np.array([o[2] for o in out], dtype=bool)
        truncated = np.array([o[3] for o in out], dtype=bool)
        infos = [o[4] for o in out]
        done = [i for i in range(self.n) if terminated[i] or truncated[i]]
        if done:
            starts = [self.envs[i].propose_reset(None) for i in done]
            res, dt2 = self._batch(starts)
            for i, p, r in zip(done, starts, res, strict=True):
                new_obs, new_info = self.envs[i].finish_reset(p, r, dt2 / len(done))
                infos[i] = {**infos[i], "final_observation": obs[i], "final_info": infos[i],
                            "reset_info": new_info}
                obs[i] = new_obs
        return obs, rewards, terminated, truncated, infos

    def close(self) -> None:
        if self._own_sim:
            self.sim.close()


def _with_seed(config: EnvConfig, seed: int) -> EnvConfig:
    return EnvConfig(**{**config.to_dict(), "seed": seed})


class FlatObservation(gymnasium.ObservationWrapper):
    """Flattens the dictionary observation into one float32 vector (x, edge_attr, metrics), for
    agents that take vectors (Stable-Baselines3; book chapter "LoRA-RL: experiments").

    Shapes: observation (N*10 + E*4 + 4,).
    """

    def __init__(self, env: SizingEnv):
        super().__init__(env)
        self._keys = ("x", "edge_attr", "metrics")
        inner = env.observation_space
        lows = [inner[k].low.reshape(-1) for k in self._keys]
        highs = [inner[k].high.reshape(-1) for k in self._keys]
        self.observation_space = spaces.Box(np.concatenate(lows), np.concatenate(highs),
                                            dtype=np.float32)

    def observation(self, observation: dict) -> np.ndarray:
        return np.concatenate([np.asarray(observation[k], np.float32).reshape(-1)
                               for k in self._keys]).astype(np.float32)
