"""The hierarchical baselines of MACRO's Table II (IV-B1): BOBO and RLBO.

Both search topologies at the top layer and size every topology they visit from scratch with the
constrained BO of :mod:`macro.bo` (WEIBO: 15 random initial points + 40 iterations, weighted
EI). The sizing maximises ``log10 FoM`` over the unit cube of the topology's parameters
(``Design.from_unit``: log scale where ``ParamSpec.log``) subject to four constraints, the spec
margins of :func:`spec_margins`.

* **BOBO** (ref. [6]): a second constrained BO over the D-VAE latent space (the box spanned by
  the encodings of random topologies); a latent point is decoded (most likely type of each
  pair) and the decoded topology's sizing result is the observation at that point: its best
  spec-meeting ``log10 FoM`` and margins (or, when none meets the specs, the design closest to
  them: the largest smallest margin). A topology decoded again reuses its sizing result
  without new simulations.
* **RLBO** (ref. [9], TOTAL): agent T of :mod:`macro.agents` trained by the policy gradient, the
  reward of a topology being the score (14)-(16) of its sized design (the best spec-meeting one,
  else the one closest to the specs); batch-mean baseline. A topology met again reuses its
  sizing.

Both checkpoint after each sized topology (BOBO) or each epoch (RLBO) and resume to the same
result. Used by the book chapter "MACRO: Table II, behaviour-level search".
"""

from __future__ import annotations

import json
import math
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from circuits.runs import json_safe, write_json_atomic

from .agents import AgentConfig, AgentT, spec_vector
from .bo import BOConfig, ConstrainedBO, constrained_bo
from .design import Design
from .dvae import DVAE, latent_box, topology_types
from .reward import Specs, meets_spec
from .solver import evaluate
from .topology import Topology, sample_topologies
from .train import _atomic_torch_save, design_record, seed_everything

#: Names of the four spec margins (constraints of the sizing BO), feasible when all >= 0.
MARGINS = ("gain", "pm", "gbw", "power")


class BaselineError(ValueError):
    """A bad baseline input (config, checkpoint of another run)."""


def _spec_values(specs: Specs) -> tuple[float, float, float, float]:
    """(gain dB, PM deg, GBW Hz, power W) thresholds of ``specs``."""
    names = {"gain": ("gain_db", "min_gain_db", "gain"), "pm": ("pm_deg", "min_pm_deg", "pm"),
             "gbw": ("gbw_hz", "min_gbw_hz", "gbw"),
             "power": ("power_w", "max_power_w", "power")}
    out = []
    for key in MARGINS:
        for attr in names[key]:
            if hasattr(specs, attr):
                out.append(float(getattr(specs, attr)))
                break
        else:
            raise BaselineError(f"specs {specs!r} have no {key} threshold")
    return tuple(out)  # type: ignore[return-value]


def spec_margins(evaluation, specs: Specs) -> np.ndarray:
    """Normalised spec margins of a measured design, each >= 0 when its spec is met:
    ``gain/gain_th - 1``, ``PM/PM_th - 1``, ``ln(GBW/GBW_th)``, ``ln(P_th/P)``; NaN when the
    evaluation failed. Shape (4,)."""
    if not evaluation.ok:
        return np.full(len(MARGINS), np.nan)
    g, pm, gbw, p = _spec_values(specs)
    return np.array([evaluation.gain_db / g - 1.0, evaluation.pm_deg / pm - 1.0,
                     math.log(evaluation.gbw_hz / gbw), math.log(p / evaluation.power_w)])


def _topology_seed(seed: int, topology: Topology) -> int:
    code = 0
    for t in topology.types:
        code = code * 31 + int(t)
    return (seed * 100_003 + code) % (2**31 - 1)


@dataclass(frozen=True)
class SizingConfig:
    """The sizing BO of every topology a baseline visits (IV-B1)."""

    n_init: int = 15
    """Random initial designs (paper: 15)."""
    n_iter: int = 40
    """BO iterations (paper: 40)."""
    num_restarts: int = 4
    """Acquisition optimiser starts."""
    raw_samples: int = 128
    """Sobol points choosing the starts."""


def size_topology(topology: Topology, specs: Specs, sizing: SizingConfig, seed: int,
                  exponents: str = "exp1") -> dict:
    """Size one topology by constrained BO; returns plain data.

    ``best``: the best spec-meeting design (a :func:`macro.train.design_record`) or None;
    ``closest``: the design with the largest smallest margin (the observation when none meets
    the specs); ``trace``: for each simulation in order, its FoM when it meets the specs, else
    None; ``n_simulations``, ``wall_s``, ``sim_s``.

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """
    t0 = time.perf_counter()
    sim = [0.0]

    def func(u: np.ndarray):
        ts = time.perf_counter()
        evs = evaluate([Design.from_unit(topology, x) for x in u])
        sim[0] += time.perf_counter() - ts
        y = np.array([math.log10(ev.fom) if ev.ok and ev.fom and ev.fom > 0 else np.nan
                      for ev in evs])
        c = np.stack([spec_margins(ev, specs) for ev in evs])
        return y, c, evs

    d = len(topology.parameters())
    cfg = BOConfig(n_init=sizing.n_init, n_iter=sizing.n_iter,
                   seed=_topology_seed(seed, topology), num_restarts=sizing.num_restarts,
                   raw_samples=sizing.raw_samples)
    res = constrained_bo(func, np.array([np.zeros(d), np.ones(d)]), len(MARGINS), cfg)
    evs = res.info
    trace = [float(ev.fom) if meets_spec(ev, specs) else None for ev in evs]
    best_i = res.best_index
    mins = np.where(np.isfinite(res.c).all(axis=1), np.nan_to_num(res.c, nan=-np.inf).min(axis=1),
                    -np.inf)
    close_i = int(np.argmax(mins))
    def rec(i):
        return (design_record(topology, res.x[i], evs[i], specs, exponents))
    return {"types": list(topology.types), "best": rec(best_i) if best_i is not None else None,
            "closest": rec(close_i) if np.isfinite(mins[close_i]) else None,
            "trace": trace, "n_simulations": len(evs), "wall_s": time.perf_counter() - t0,
            "sim_s": sim[0]}


def _observation(sized: dict, specs: Specs) -> tuple[float, np.ndarray, dict | None]:
    """(log10 FoM, margins, record) of a sized topology for the top layer."""
    rec = sized["best"] or sized["closest"]
    if rec is None:
        return float("nan"), np.full(len(MARGINS), np.nan), None
    ev = _RecordEvaluation(rec, specs)
    return math.log10(rec["fom"]), np.asarray(ev.margins), rec


class _RecordEvaluation:
    """A design record read back as an evaluation (for margins and scores)."""

    def __init__(self, rec: dict, specs: Specs | None = None):
        self.ok = bool(rec["ok"])
        self.reason = rec.get("reason", "")
        for m in ("gain_db", "gbw_hz", "pm_deg", "power_w", "fom"):
            setattr(self, m, rec[m])
        self.margins = spec_margins(self, specs or Specs())


class _Tracker:
    """Best spec-meeting FoM against simulations and time, over a whole baseline run."""

    def __init__(self, state: dict | None = None):
        s = state or {}
        self.n = s.get("n", 0)
        self.best = s.get("best")
        self.curve = s.get("curve", [])
        self.to_best = s.get("to_best", {"simulations": 0, "wall_s": 0.0, "sim_s": 0.0})
        self.wall = s.get("wall", 0.0)
        self.sim = s.get("sim", 0.0)

    def add(self, sized: dict) -> None:
        base = self.n
        self.n += sized["n_simulations"]
        self.wall += sized["wall_s"]
        self.sim += sized["sim_s"]
        rec = sized["best"]
        if rec is not None and (self.best is None or rec["fom"] > self.best["fom"]):
            self.best = rec
            trace = sized["trace"]
            k = max(i for i, f in enumerate(trace) if f is not None and f >= rec["fom"] * 0.999999)
            self.to_best = {"simulations": base + k + 1, "wall_s": self.wall, "sim_s": self.sim}
        self.curve.append([self.n, self.best["fom"] if self.best else None])

    def state(self) -> dict:
        return {"n": self.n, "best": self.best, "curve": self.curve, "to_best": self.to_best,
                "wall": self.wall, "sim": self.sim}


@dataclass(frozen=True)
class BOBOConfig:
    """Settings of the BOBO baseline."""

    n_init: int = 5
    """Random latent points before the latent-space BO."""
    n_iter: int = 15
    """Latent-space BO iterations (each sizes one topology); 5 + 15 = 20 topologies fit the
    three-hour budget of the full experiment on two cores."""
    seed: int = 0
    """Seed of the run."""
    exponents: str = "exp1"
    """Score exponents (only for the reported score of designs)."""
    sizing: SizingConfig = field(default_factory=SizingConfig)
    """The sizing BO of each topology."""
    box_samples: int = 2000
    """Random topologies whose encodings span the latent box."""


def bobo(config: BOBOConfig, vae: DVAE, specs: Specs | None = None, *,
         checkpoint: str | Path | None = None, stop_after: int | None = None,
         progress: bool = False) -> dict:
    """BOBO: constrained BO over the D-VAE latent space, each decoded topology sized by BO.

    ``checkpoint`` (JSON, rewritten after every topology) resumes an interrupted run;
    ``stop_after`` stops after that many topologies in total. Returns the summary (``best``,
    ``convergence`` as [simulations, best FoM] after each topology, ``n_simulations``,
    ``wall_s``, ``to_best``, ``topologies`` visited in order).

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """
    specs = specs if specs is not None else Specs()
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    box = latent_box(vae, topology_types(sample_topologies(config.box_samples, rng))).numpy()
    outer = ConstrainedBO(box, len(MARGINS),
                          BOConfig(n_init=config.n_init, n_iter=config.n_iter, seed=config.seed,
                                   warm_start=False))
    cfg_blob = asdict(config)
    cache: dict[str, dict] = {}
    visited: list[dict] = []
    tracker = _Tracker()
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        try:
            state = json.loads(ckpt.read_text())
        except (OSError, ValueError) as exc:
            raise BaselineError(f"cannot read checkpoint {ckpt}: {exc}") from exc
        if state.get("config") != json_safe(cfg_blob):
            raise BaselineError(f"checkpoint {ckpt} belongs to another BOBO configuration")
        cache, visited, tracker = state["cache"], state["visited"], _Tracker(state["tracker"])
        for v in visited:
            outer.tell(np.array(v["z"])[None, :], [np.nan if v["y"] is None else v["y"]],
                       np.array([np.nan if x is None else x for x in v["c"]])[None, :],
                       v["source"])
    total = config.n_init + config.n_iter
    end = total if stop_after is None else min(total, stop_after)
    init = outer.initial_points()
    steps = range(len(visited), end)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc=f"BOBO seed {config.seed}", initial=len(visited), total=total,
                     leave=False)
    for k in steps:
        z, source = (init[k], "init") if k < config.n_init else outer.ask()
        types = vae.decode(torch.tensor(z, dtype=torch.float32)[None, :])[0].tolist()
        topo = Topology(tuple(types))
        key = ",".join(map(str, topo.types))
        if key not in cache:
            sized = size_topology(topo, specs, config.sizing, config.seed, config.exponents)
            tracker.add(sized)
            cache[key] = {k2: v for k2, v in sized.items() if k2 != "trace"}
        y, c, _ = _observation(cache[key], specs)
        outer.tell(z[None, :], [y], c[None, :], source)
        visited.append({"z": z.tolist(), "y": y, "c": c.tolist(), "source": source,
                        "types": list(topo.types), "simulations": tracker.n})
        if ckpt is not None:
            write_json_atomic(ckpt, json_safe({"config": cfg_blob, "cache": cache,
                                               "visited": visited, "tracker": tracker.state()}))
    return _summary("bobo", cfg_blob, tracker, visited, len(visited) >= total)


def _summary(method: str, cfg_blob: dict, tracker: _Tracker, visited: list, complete: bool
             ) -> dict:
    return json_safe({"method": method, "config": cfg_blob, "complete": complete,
                      "best": tracker.best, "n_simulations": tracker.n, "wall_s": tracker.wall,
                      "sim_s": tracker.sim, "to_best": tracker.to_best,
                      "convergence": tracker.curve, "topologies": visited,
                      "n_topologies_sized": len(tracker.curve)})


@dataclass(frozen=True)
class RLBOConfig:
    """Settings of the RLBO baseline."""

    epochs: int = 4
    """Policy-gradient epochs of agent T (4 x 5 = 20 topologies, as many as BOBO sizes)."""
    n_batch: int = 5
    """Topologies designed (and each sized by BO) per epoch."""
    lr: float = 1e-3
    """Adam learning rate of agent T."""
    seed: int = 0
    """Seed of the run."""
    exponents: str = "exp1"
    """Score exponents of the reward (14)."""
    sizing: SizingConfig = field(default_factory=SizingConfig)
    """The sizing BO of each topology."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    """Sizes of agent T."""


def rlbo(config: RLBOConfig, vae: DVAE, specs: Specs | None = None, *,
         checkpoint: str | Path | None = None, stop_after: int | None = None,
         progress: bool = False) -> dict:
    """RLBO: agent T trained by policy gradient, each designed topology sized by BO.

    The reward of a topology is the score (16) of its sized design; the baseline is the batch
    mean. ``checkpoint`` (torch, ``weights_only``) is written after every epoch; ``stop_after``
    stops after that many epochs in total. Summary as :func:`bobo`'s.

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """
    specs = specs if specs is not None else Specs()
    gen = seed_everything(config.seed)
    agent = AgentT(vae.config.latent, len(spec_vector(specs)), config.agent)
    opt = torch.optim.Adam(agent.parameters(), lr=config.lr)
    cfg_blob = json_safe(asdict(config))
    cache: dict[str, dict] = {}
    visited: list[dict] = []
    tracker = _Tracker()
    start = 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise BaselineError(f"cannot read checkpoint {ckpt}: {exc}") from exc
        if not isinstance(state, dict) or state.get("config") != cfg_blob:
            raise BaselineError(f"checkpoint {ckpt} belongs to another RLBO configuration")
        agent.load_state_dict(state["agent"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["generator"])
        cache, visited = state["cache"], state["visited"]
        tracker, start = _Tracker(state["tracker"]), state["epoch"]
    end = config.epochs if stop_after is None else min(config.epochs, stop_after)
    epochs = range(start, end)
    if progress:
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, desc=f"RLBO seed {config.seed}", initial=start,
                      total=config.epochs, leave=False)
    for epoch in epochs:
        out = agent.rollout(vae, specs, config.n_batch, gen)
        rewards = []
        for row in out["types"].tolist():
            topo = Topology(tuple(row))
            key = ",".join(map(str, topo.types))
            if key not in cache:
                sized = size_topology(topo, specs, config.sizing, config.seed, config.exponents)
                tracker.add(sized)
                cache[key] = {k2: v for k2, v in sized.items() if k2 != "trace"}
            rec = cache[key]["best"] or cache[key]["closest"]
            reward = rec["score"] if rec is not None else 0.0
            rewards.append(float(reward))
            visited.append({"epoch": epoch, "types": list(topo.types), "reward": reward,
                            "simulations": tracker.n})
        r = torch.tensor(rewards)
        loss = -((r - r.mean()) * out["logp"]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ckpt is not None:
            _atomic_torch_save({"config": cfg_blob, "agent": agent.state_dict(),
                                "opt": opt.state_dict(), "generator": gen.get_state(),
                                "cache": json_safe(cache), "visited": json_safe(visited),
                                "tracker": json_safe(tracker.state()), "epoch": epoch + 1}, ckpt)
    done = len({v["epoch"] for v in visited})
    return _summary("rlbo", cfg_blob, tracker, visited, done >= config.epochs)


__all__ = ["MARGINS", "BOBOConfig", "BaselineError", "RLBOConfig", "SizingConfig", "bobo",
           "rlbo", "size_topology", "spec_margins"]
