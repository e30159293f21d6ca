"""Co-training of agents T and P by policy gradient (MACRO III-D, III-E).

Each epoch the same pair of agents designs ``N_batch`` trajectories independently (Fig. 4):
agent T chooses the five tunable connections (``N_T = 5`` steps), agent P proposes every
parameter of the finished topology (``N_P`` steps), the design is simulated by the batched
small-signal solver and scored by the reward (16). The probability of a whole trajectory is the
product (17) of both agents' action probabilities, and the agents maximise the Monte Carlo
estimate (18) of the expected reward by the policy gradient (REINFORCE, the score-function form
of the gradient of (18))

.. math::

    \\nabla_\\theta \\bar R \\approx \\frac{1}{N_{batch}} \\sum_i (R_i - b)\\,
        \\nabla_\\theta \\log p_\\theta(\\tau_i),
    \\qquad \\log p_\\theta(\\tau_i) = \\sum_{n \\le N_T} \\log \\pi_T(a_n)
        + \\sum_{n > N_T} \\log \\mathcal N(x_n; \\tilde\\mu_n, \\tilde\\sigma_n^2),

with a baseline ``b`` for variance reduction that the paper does not state: the mean reward of
the batch (``TrainConfig.baseline = "mean"``; ``"none"`` gives the plain estimator). One Adam
optimiser (learning rate 1e-3 for both agents, IV-B2) updates T and P together.

Every evaluated design enters the data pool; the result is the best spec-meeting FoM of the pool
(IV-B2: the score guides the search, the FoM (2) selects the circuit). Training checkpoints
(atomically) and resumes to the same result as an uninterrupted run: all randomness comes from
one ``torch.Generator`` whose state is saved with the weights, the optimiser and the pool.

Used by the book chapter "MACRO: Table II, behaviour-level search".
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .agents import AgentConfig, AgentP, AgentT, spec_vector
from .design import Design
from .dvae import DVAE
from .reward import Specs, meets_spec, score
from .solver import evaluate
from .topology import CONNECTION_TYPES, TUNABLE_PAIRS, Topology

#: Width of the padded unit-value rows of the data pool (6 main + at most 4 per tunable pair).
MAX_PARAMS = 6 + 4 * len(TUNABLE_PAIRS)
#: Metric columns of the data pool.
METRICS = ("gain_db", "gbw_hz", "pm_deg", "power_w", "fom")


class TrainError(ValueError):
    """A training input that cannot be used (bad config, checkpoint of another run)."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of MACRO's co-training (IV-B2 unless stated)."""

    epochs: int = 200
    """Training epochs (paper: capped at 200)."""
    n_batch: int = 128
    """Trajectories per epoch, N_batch (paper: 128)."""
    lr: float = 1e-3
    """Adam learning rate of both agents (paper: 1e-3)."""
    seed: int = 0
    """Seed of the agents' initial weights and of every sample (one torch.Generator)."""
    exponents: str = "exp1"
    """Exponent set gamma of the score (14): "exp1" (0.4, 0.1, 0.7, 1) or "exp2" (IV-C)."""
    baseline: str = "mean"
    """Variance-reduction baseline b: "mean" (batch mean reward) or "none"."""
    solver: str = "batched"
    """Simulator of the designs: "batched" (the fast path) or "ngspice"."""
    checkpoint_every: int = 10
    """Epochs between checkpoints (when a checkpoint path is given)."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    """Sizes of agents T and P."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.n_batch < 2 or self.checkpoint_every < 1:
            raise TrainError("epochs >= 1, n_batch >= 2 and checkpoint_every >= 1 are needed")
        if not self.lr > 0:
            raise TrainError(f"lr must be positive, not {self.lr}")
        if self.baseline not in ("mean", "none"):
            raise TrainError(f"baseline must be 'mean' or 'none', not {self.baseline!r}")
        if self.solver not in ("batched", "ngspice"):
            raise TrainError(f"solver must be 'batched' or 'ngspice', not {self.solver!r}")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch, and return the generator every sample of a run uses.

    Used by every training and baseline run (book chapter "MACRO: Table II, behaviour-level
    search")."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _atomic_torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DataPool:
    """Every evaluated design: topology types, unit values, metrics, reward, spec check.

    Stored as tensors so that a checkpoint holds it with ``weights_only=True``.
    """

    def __init__(self) -> None:
        self.types: list[torch.Tensor] = []
        self.units: list[torch.Tensor] = []
        self.metrics: list[torch.Tensor] = []
        self.flags: list[torch.Tensor] = []     # ok, meets
        self.reward: list[torch.Tensor] = []

    def add(self, topologies, units, evaluations, rewards, meets) -> None:
        """Append one batch."""
        n = len(topologies)
        u = torch.full((n, MAX_PARAMS), float("nan"), dtype=torch.float64)
        for i, x in enumerate(units):
            u[i, :len(x)] = torch.as_tensor(np.asarray(x, dtype=float))
        self.types.append(torch.tensor([list(t.types) for t in topologies], dtype=torch.long))
        self.units.append(u)
        self.metrics.append(torch.tensor([[float(getattr(ev, m)) if ev.ok else float("nan")
                                           for m in METRICS] for ev in evaluations],
                                         dtype=torch.float64))
        self.flags.append(torch.tensor([[bool(ev.ok), bool(m)] for ev, m
                                        in zip(evaluations, meets, strict=True)]))
        self.reward.append(torch.tensor(rewards, dtype=torch.float64))

    def __len__(self) -> int:
        return sum(len(t) for t in self.types)

    def state(self) -> dict:
        """Tensors for a checkpoint."""
        def cat(xs, shape, dt):
            return (torch.cat(xs) if xs else torch.zeros(shape, dtype=dt))
        return {"types": cat(self.types, (0, 5), torch.long),
                "units": cat(self.units, (0, MAX_PARAMS), torch.float64),
                "metrics": cat(self.metrics, (0, len(METRICS)), torch.float64),
                "flags": cat(self.flags, (0, 2), torch.bool),
                "reward": cat(self.reward, (0,), torch.float64)}

    @classmethod
    def from_state(cls, state: dict) -> DataPool:
        pool = cls()
        if len(state["types"]):
            for key in ("types", "units", "metrics", "flags", "reward"):
                getattr(pool, key).append(state[key])
        return pool


def design_record(topology: Topology, units, evaluation, specs: Specs, exponents: str) -> dict:
    """A design as plain data: types, connection labels, parameter values, metrics, score."""
    design = Design.from_unit(topology, np.asarray(units, dtype=float))
    return {"types": list(topology.types),
            "connections": [CONNECTION_TYPES[t].label for t in topology.types],
            "values": dict(design.values), "ok": bool(evaluation.ok),
            "reason": str(evaluation.reason),
            **{m: (float(getattr(evaluation, m)) if evaluation.ok else None) for m in METRICS},
            "meets_spec": bool(meets_spec(evaluation, specs)),
            "score": float(score(evaluation, specs, exponents=exponents))}


def _evaluate(topologies, units, config: TrainConfig):
    designs = [Design.from_unit(t, u) for t, u in zip(topologies, units, strict=True)]
    return evaluate(designs, solver=config.solver)


def design_trajectory(agent_t: AgentT, agent_p: AgentP, vae: DVAE, specs: Specs,
                      generator: torch.Generator | None = None, greedy: bool = True) -> dict:
    """One design trajectory of the agent pair (Fig. 4): agent T's five steps (chosen type and
    its probability at each step) and agent P's values (mean, sigma, value per parameter).

    Used by the book chapter "MACRO: Table II, behaviour-level search" (Figure 4)."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    with torch.no_grad():
        t_out = agent_t.rollout(vae, specs, 1, g, greedy=greedy)
        topo = Topology(tuple(int(x) for x in t_out["types"][0]))
        p_out = agent_p.rollout(vae, [topo], specs, g, greedy=greedy)
    steps = []
    for k, pair in enumerate(TUNABLE_PAIRS):
        a = int(t_out["actions"][0, k])
        typ = int(topo.types[k])
        steps.append({"pair": "-".join(pair), "type": typ, "label": CONNECTION_TYPES[typ].label,
                      "prob": float(t_out["probs"][0, k, a])})
    params = [{"name": s.name, "kind": s.kind, "unit": float(u), "mu": float(m),
               "sigma": float(sd), "value": s.from_unit(float(u))}
              for s, u, m, sd in zip(topo.parameters(), p_out["units"][0], p_out["mu"][0],
                                     p_out["sigma"][0], strict=True)]
    return {"types": list(topo.types), "topology_steps": steps, "parameter_steps": params,
            "units": [float(u) for u in p_out["units"][0]]}


@dataclass
class TrainResult:
    """What :func:`train_macro` returns (plain data, JSON-ready, plus the trained agents)."""

    summary: dict
    agent_t: AgentT
    agent_p: AgentP


def _build(config: TrainConfig, vae: DVAE, specs: Specs):
    n_specs = len(spec_vector(specs))
    agent_t = AgentT(vae.config.latent, n_specs, config.agent)
    agent_p = AgentP(vae.config.hidden, n_specs, config.agent)
    opt = torch.optim.Adam([*agent_t.parameters(), *agent_p.parameters()], lr=config.lr)
    return agent_t, agent_p, opt


def train_macro(config: TrainConfig, vae: DVAE, specs: Specs | None = None, *,
                checkpoint: str | Path | None = None, stop_after: int | None = None,
                progress: bool = False) -> TrainResult:
    """Co-train agents T and P; returns the best spec-meeting design of the data pool.

    ``checkpoint``: a file to save to every ``config.checkpoint_every`` epochs and at the end,
    and to resume from when it exists (its config must equal ``config``). ``stop_after``: stop
    (after checkpointing) once that many epochs are done in total, as an interruption would.

    The summary holds ``log`` (per epoch: simulations so far, best spec-meeting FoM so far,
    mean reward, fraction of failures and of spec-meeting designs), ``best`` (a
    :func:`design_record`), ``n_simulations``, ``wall_s``, ``sim_s`` (time inside the
    simulator), ``to_best`` (simulations, wall and simulator seconds when the best was found:
    the paper's "Time" of Table II), and ``trajectory`` (Fig. 4, agents' greedy design).

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """
    specs = specs if specs is not None else Specs()
    gen = seed_everything(config.seed)
    agent_t, agent_p, opt = _build(config, vae, specs)
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(False)
    pool = DataPool()
    log: list[dict] = []
    best: dict | None = None
    to_best = {"simulations": 0, "wall_s": 0.0, "sim_s": 0.0, "epoch": -1}
    wall, sim_s, start = 0.0, 0.0, 0
    config_blob = asdict(config)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise TrainError(f"cannot read checkpoint {ckpt}: {exc}") from exc
        if not isinstance(state, dict) or state.get("config") != config_blob:
            raise TrainError(f"checkpoint {ckpt} belongs to another training configuration")
        agent_t.load_state_dict(state["agent_t"])
        agent_p.load_state_dict(state["agent_p"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        pool = DataPool.from_state(state["pool"])
        log, best, to_best = state["log"], state["best"], state["to_best"]
        wall, sim_s, start = state["wall_s"], state["sim_s"], state["epoch"]

    def save(epoch: int) -> None:
        if ckpt is None:
            return
        _atomic_torch_save({"config": config_blob, "agent_t": agent_t.state_dict(),
                            "agent_p": agent_p.state_dict(), "opt": opt.state_dict(),
                            "generator": gen.get_state(), "pool": pool.state(), "log": log,
                            "best": best, "to_best": to_best, "wall_s": wall, "sim_s": sim_s,
                            "epoch": epoch}, ckpt)

    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    epochs = range(start, end)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(epochs, desc=f"MACRO seed {config.seed}", initial=start, total=config.epochs,
                   leave=False)
        epochs = bar
    for epoch in epochs:
        t0 = time.perf_counter()
        agent_t.train()
        agent_p.train()
        t_out = agent_t.rollout(vae, specs, config.n_batch, gen)
        topologies = [Topology(tuple(int(x) for x in row)) for row in t_out["types"].tolist()]
        p_out = agent_p.rollout(vae, topologies, specs, gen)
        ts = time.perf_counter()
        evals = _evaluate(topologies, p_out["units"], config)
        sim_s += time.perf_counter() - ts
        rewards = [float(score(ev, specs, exponents=config.exponents)) for ev in evals]
        meets = [bool(meets_spec(ev, specs)) for ev in evals]
        pool.add(topologies, p_out["units"], evals, rewards, meets)
        r = torch.tensor(rewards)
        adv = r - r.mean() if config.baseline == "mean" else r
        loss = -(adv * (t_out["logp"] + p_out["logp"])).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        wall += time.perf_counter() - t0
        for i, ev in enumerate(evals):
            if meets[i] and (best is None or float(ev.fom) > best["fom"]):
                best = design_record(topologies[i], p_out["units"][i], ev, specs,
                                     config.exponents)
                to_best = {"simulations": len(pool) - len(evals) + i + 1, "wall_s": wall,
                           "sim_s": sim_s, "epoch": epoch}
        log.append({"epoch": epoch, "simulations": len(pool),
                    "best_fom": best["fom"] if best else None,
                    "mean_reward": float(r.mean()), "max_reward": float(r.max()),
                    "failed": float(np.mean([not ev.ok for ev in evals])),
                    "meets_spec": float(np.mean(meets)), "wall_s": wall})
        if bar is not None:
            bar.set_postfix(best=f"{best['fom']:.3g}" if best else "-",
                            reward=f"{float(r.mean()):.3g}")
        if (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == end:
            save(epoch + 1)
    if bar is not None:
        bar.close()
    done = len(log)
    summary = {"method": "macro", "config": config_blob, "epochs_done": done,
               "complete": done >= config.epochs, "n_simulations": len(pool), "wall_s": wall,
               "sim_s": sim_s, "best": best, "to_best": to_best, "log": log,
               "convergence": [[row["simulations"], row["best_fom"]] for row in log],
               "trajectory": design_trajectory(agent_t, agent_p, vae, specs)}
    return TrainResult(summary, agent_t, agent_p)


__all__ = ["METRICS", "DataPool", "TrainConfig", "TrainError", "TrainResult", "design_record",
           "design_trajectory", "seed_everything", "train", "train_macro"]

#: The co-training entry point under the name the feature registry uses.
train = train_macro
