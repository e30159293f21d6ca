"""Two-phase training of LoRA-RL (paper section 3.3, Algorithm 1): pre-train, then transfer.

Phase 1, :func:`pretrain`, trains every parameter of the GCN actor-critic with DDPG on the
reference circuit (circuit A in an older node) and saves the backbone. Phase 2,
:func:`transfer`, moves to a target circuit and node with one of the compared methods, all with
identical hyper-parameters (:class:`lorarl.ddpg.DDPGConfig`):

``scratch``
    GCN-RL trained from a fresh initialisation on the target (with the warm-up of random
    actions an untrained agent needs).
``finetune``
    GCN-RL with every weight initialised from the backbone and trained.
``lora``
    the backbone frozen, rank-``r`` adapters inserted on every linear projection, the replay
    buffer emptied, and only the adapters trained (Algorithm 1, lines 8-16).

A transferred agent acts with its policy from the first step (no random warm-up: the point of
transfer is to start from what the backbone knows); its replay buffer starts empty and updates
begin once it holds one minibatch.

Episodes run in ``n_envs`` environment copies stepped together (:class:`lorarl.env.VecSizingEnv`,
one batch of simulations per step on the worker pool); a *round* is one episode of every copy.
Each episode appends a log entry (FoM, best feasible FoM, simulations so far, failed and
infeasible simulations, wall time and the share spent simulating). With a ``run_dir``, the run
checkpoints every ``checkpoint_every`` rounds (agent, replay buffer, every RNG state, the log;
loaded with ``torch.load(weights_only=True)``) and a later call with the same configuration
resumes there and ends with the same result as an uninterrupted run.

Used by the book chapters "LoRA-RL: method" and "LoRA-RL: experiments".
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .ddpg import DDPG, DDPGConfig, seed_everything
from .env import EnvConfig, VecSizingEnv
from .gcn import GraphLayout
from .runlog import RunLog, RunLogError, progress_bar, read_episodes

METHODS = ("scratch", "finetune", "lora")
CHECKPOINT = "checkpoint.pt"
BACKBONE = "backbone.pt"
FORMAT = 1


class TrainConfigError(ValueError):
    """A training setting is not valid (book chapter "LoRA-RL: experiments")."""


def _check_common(cfg: Any) -> list[str]:
    problems = []
    for name in ("episodes", "n_envs", "workers", "checkpoint_every"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append(f"{name} must be a whole number >= 1, not {v!r}")
    if not problems and cfg.episodes % cfg.n_envs:
        problems.append(f"episodes ({cfg.episodes}) must be a multiple of n_envs ({cfg.n_envs}):"
                        " every copy runs the same number of episodes")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        problems.append(f"seed must be a whole number >= 0, not {cfg.seed!r}")
    if not isinstance(cfg.env, EnvConfig) or not isinstance(cfg.agent, DDPGConfig):
        problems.append("env must be an EnvConfig and agent a DDPGConfig")
    return problems


@dataclass(frozen=True)
class PretrainConfig:
    """Phase 1 of LoRA-RL (section 3.3): every parameter trained on the reference circuit
    (book chapters "LoRA-RL: method" and "LoRA-RL: experiments")."""

    env: EnvConfig = field(default_factory=lambda: EnvConfig(circuit="two_stage", tech="90nm"))
    """The reference circuit and node (circuit A in the older node 90 nm)."""
    agent: DDPGConfig = field(default_factory=DDPGConfig)
    """Agent hyper-parameters."""
    episodes: int = 10_000
    """Training episodes (the paper: about 10,000); a multiple of ``n_envs``."""
    n_envs: int = 2
    """Environment copies stepped together."""
    workers: int = 2
    """ngspice worker processes of the simulator the run creates."""
    seed: int = 0
    """Seed of the run (networks, noise, start sizings)."""
    checkpoint_every: int = 25
    """Rounds (one episode of every copy) between checkpoints."""

    def __post_init__(self) -> None:
        problems = _check_common(self)
        if problems:
            raise TrainConfigError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TransferConfig:
    """Phase 2 of LoRA-RL (section 3.3) and the methods it is compared with (section 4.2; book
    chapters "LoRA-RL: method" and "LoRA-RL: experiments")."""

    env: EnvConfig = field(default_factory=lambda: EnvConfig(circuit="current_mirror_ota",
                                                             tech="45nm"))
    """The target circuit and node."""
    method: str = "lora"
    """``scratch``, ``finetune`` or ``lora`` (module docstring)."""
    backbone: str | None = None
    """Path of the pre-trained ``backbone.pt`` (:func:`pretrain`); not used by ``scratch``."""
    rank: int = 4
    """LoRA rank r (section 4.1: 4; sections 4.2 and 7: 8)."""
    alpha: float = 1.0
    """LoRA scaling numerator alpha (update scaled by alpha / r)."""
    agent: DDPGConfig = field(default_factory=DDPGConfig)
    """Agent hyper-parameters, identical for every method."""
    episodes: int = 500
    """Training episodes on the target (the paper: 200-500); a multiple of ``n_envs``."""
    eval_episodes: int = 0
    """Noise-free episodes after training (section 4.4 uses 200); a multiple of ``n_envs``."""
    n_envs: int = 2
    """Environment copies stepped together."""
    workers: int = 2
    """ngspice worker processes of the simulator the run creates."""
    seed: int = 0
    """Seed of the run (adapter and network initialisation, noise, start sizings)."""
    checkpoint_every: int = 25
    """Rounds between checkpoints."""

    def __post_init__(self) -> None:
        problems = _check_common(self)
        if self.method not in METHODS:
            problems.append(f"method must be one of {METHODS}, not {self.method!r}")
        elif self.method != "scratch" and not self.backbone:
            problems.append(f"method {self.method!r} needs a backbone (the path of a "
                            "pre-trained backbone.pt)")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            problems.append(f"rank must be a whole number >= 1, not {self.rank!r}")
        if not isinstance(self.alpha, int | float) or not math.isfinite(self.alpha) \
                or self.alpha <= 0:
            problems.append(f"alpha must be a positive number, not {self.alpha!r}")
        if isinstance(self.eval_episodes, bool) or not isinstance(self.eval_episodes, int) \
                or self.eval_episodes < 0 or self.eval_episodes % max(self.n_envs, 1):
            problems.append(f"eval_episodes must be a whole multiple of n_envs, not "
                            f"{self.eval_episodes!r}")
        if problems:
            raise TrainConfigError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


# -- files ----------------------------------------------------------------------------------------


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_episode_log(run_dir: str | Path) -> list[dict]:
    """The per-episode log of a run folder (:func:`lorarl.runlog.read_episodes`; book chapter
    "LoRA-RL: experiments")."""
    return read_episodes(Path(run_dir) / "episodes.jsonl")


def load_backbone(path: str | Path) -> dict:
    """A pre-trained backbone file (tensors and plain data only; ``weights_only=True``).

    Raises
    ------
    TrainConfigError
        When the file is missing or is not a backbone of this format.

    Used by :func:`transfer` (book chapter "LoRA-RL: experiments").
    """
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"no backbone file at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: a clear error, never code run
        raise TrainConfigError(f"{path} is not a readable backbone file: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or "net" not in data:
        raise TrainConfigError(f"{path} is not a LoRA-RL backbone file (format {FORMAT})")
    return data


# -- RNG states -----------------------------------------------------------------------------------


def _rng_state(venv: VecSizingEnv) -> dict:
    legacy = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [legacy[0], torch.tensor(legacy[1].astype(np.int64)), int(legacy[2]),
                  int(legacy[3]), float(legacy[4])],
        "python": random.getstate(),
        "envs": [_plain(e.np_random.bit_generator.state) for e in venv.envs],
    }


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _set_rng_state(d: dict, venv: VecSizingEnv) -> None:
    torch.set_rng_state(d["torch"])
    n = d["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    random.setstate(_tuples(d["python"]))
    for e, s in zip(venv.envs, d["envs"], strict=True):
        e.np_random.bit_generator.state = s


def _tuples(obj: Any) -> Any:
    if isinstance(obj, list | tuple):
        return tuple(_tuples(v) for v in obj)
    return obj


# -- the training loop ----------------------------------------------------------------------------


def _layout(venv: VecSizingEnv) -> GraphLayout:
    from circuits import get_amplifier

    amp = get_amplifier(venv.config.circuit)
    kinds = [amp.parameter(n).kind for n in venv.param_names]
    n_nodes = venv.observation_space["x"].shape[0]
    return GraphLayout.build(torch.as_tensor(venv.edge_index), n_nodes, venv.param_nodes, kinds)


@dataclass
class _Progress:
    """Counters of a run that the log and the summary report (checkpointed)."""

    episodes: int = 0
    sims: int = 0
    failed: int = 0
    infeasible: int = 0
    best_feasible_fom: float = 0.0
    sims_to_target: int | None = None
    wall_s: float = 0.0
    sim_s: float = 0.0
    update_s: float = 0.0

    def count(self, info: dict, target: float) -> None:
        self.sims += 1
        if info["failed"]:
            self.failed += 1
        elif not info["feasible"]:
            self.infeasible += 1
        else:
            self.best_feasible_fom = max(self.best_feasible_fom, float(info["fom"]))
            if self.sims_to_target is None and self.best_feasible_fom >= target:
                self.sims_to_target = self.sims


def _run_rounds(agent: DDPG, venv: VecSizingEnv, rounds: int, *, explore: bool, learn: bool,
                prog: _Progress, log: list[dict], start_round: int, on_round=None,
                seed: int | None = None, resume_rng: dict | None = None,
                progress: bool | None = False, desc: str = "") -> bool:
    """Run rounds ``start_round .. rounds-1``; returns False when stopped early by
    ``on_round`` (which gets the round index and the env RNG states and returns True to stop).
    """
    target = venv.config.target
    n, length = venv.n, venv.config.episode_length
    t_wall = time.perf_counter()
    sim0 = venv.sim_time_s
    if resume_rng is not None:
        # the start sizings drawn again from the saved generators: the same designs, whose
        # simulations the interrupted run had already counted
        _set_rng_state(resume_rng, venv)
        obs = venv.reset(None)
    else:
        obs = venv.reset(seed)
        for e in venv.envs:  # the start sizings' simulations
            prog.count(e._info(e._last_result, e._last_params), target)
    state = agent.encode(obs)
    bar = progress_bar(rounds, desc, progress)
    bar.update(start_round)
    for rnd in range(start_round, rounds):
        env_rng = [_plain(e.np_random.bit_generator.state) for e in venv.envs]
        returns = np.zeros(n)
        finals: list[dict | None] = [None] * n
        for t in range(length):
            action = agent.act(state, explore=explore)
            obs, rewards, term, trunc, infos = venv.step(action.numpy())
            done = term | trunc
            if done.any() and not (done.all() and t == length - 1):
                raise RuntimeError("environment copies ended their episodes out of step")
            new_state = agent.encode(obs)
            next_state = new_state if not done.any() else agent.encode(
                [infos[i]["final_observation"] if done[i] else obs[i] for i in range(n)])
            for i in range(n):
                step_info = infos[i]["final_info"] if done[i] else infos[i]
                prog.count(step_info, target)
            returns += rewards
            if learn:
                t0 = time.perf_counter()
                agent.observe(state, action, rewards, next_state, term)
                prog.update_s += time.perf_counter() - t0
            if done.any():
                finals = [infos[i]["final_info"] for i in range(n)]
                for i in range(n):  # the next episode's start sizing
                    prog.count(infos[i]["reset_info"], target)
            state = new_state
        now = time.perf_counter()
        prog.wall_s += now - t_wall
        prog.sim_s += venv.sim_time_s - sim0
        t_wall, sim0 = now, venv.sim_time_s
        for i in range(n):
            f = finals[i]
            assert f is not None
            prog.episodes += 1
            log.append({
                # the run-folder columns (lorarl.runlog.EPISODE_FIELDS)
                "episode": prog.episodes, "fom": f["fom"], "feasible": bool(f["feasible"]),
                "episode_best": f["best_feasible_fom"],
                "best_feasible_fom": prog.best_feasible_fom,
                "sims": prog.sims, "failed_sims": prog.failed,
                "infeasible_sims": prog.infeasible, "wall_s": prog.wall_s,
                "sim_s": prog.sim_s, "sim_share": prog.sim_s / prog.wall_s if prog.wall_s
                else 0.0,
                # and the learner's
                "copy": i, "return": float(returns[i]), "episode_sims": f["sims"],
                "episode_failed_sims": f["failed_sims"],
                "episode_infeasible_sims": f["infeasible_sims"],
                "updates": agent.updates, "update_s": prog.update_s,
                "sigma": agent.sigma if explore else 0.0,
            })
        bar.update(1)
        bar.set_postfix(best=f"{prog.best_feasible_fom:.3f}", sims=prog.sims)
        if on_round is not None and on_round(rnd, env_rng):
            bar.close()
            return False
    bar.close()
    return True


def _checkpoint(path: Path, config: dict, phase: str, rnd: int, agent: DDPG, prog: _Progress,
                log: list[dict], rng: dict) -> None:
    data = {"format": FORMAT, "phase": phase, "config": json.dumps(config, sort_keys=True),
            "round": rnd, "agent": agent.state_dict(), "progress": asdict(prog),
            "log": log, "rng": rng}
    _atomic_write(path, lambda tmp: torch.save(data, tmp))


def _load_checkpoint(path: Path, config: dict, phase: str) -> dict | None:
    if not path.is_file():
        return None
    data = torch.load(path, map_location="cpu", weights_only=True)
    if data.get("format") != FORMAT or data.get("phase") != phase:
        raise TrainConfigError(f"{path} is a checkpoint of another format or phase")
    if data["config"] != json.dumps(config, sort_keys=True):
        raise TrainConfigError(f"{path} was written by a run with another configuration; use "
                               "another run folder or the same configuration to resume")
    return data


def _train(config: PretrainConfig | TransferConfig, phase: str, prepare,
           run_dir: str | Path | RunLog | None, simulator, max_rounds: int | None,
           progress: bool | None) -> dict:
    torch.set_num_threads(1)
    cfg_dict = config.to_dict()
    runlog = None
    if isinstance(run_dir, RunLog):  # a caller's run folder (the experiment grid's cells)
        runlog = run_dir
    elif run_dir is not None:
        try:
            runlog = RunLog(run_dir, {"phase": phase, **cfg_dict})
        except RunLogError as exc:
            raise TrainConfigError(f"{exc} (a run folder holds a run with another "
                                   "configuration)") from None
    run = runlog.folder if runlog is not None else None
    ckpt_path = run / CHECKPOINT if run is not None else None
    ckpt = _load_checkpoint(ckpt_path, cfg_dict, phase) if ckpt_path is not None else None
    if runlog is not None:
        done = runlog.metrics()
        if done is not None and ckpt is not None and ckpt["round"] * config.n_envs >= \
                config.episodes:
            return {**done, "log": runlog.episodes()}  # finished before: nothing to run
        runlog.truncate(len(ckpt["log"]) if ckpt is not None else 0)
    from circuits import Simulator

    own_sim = simulator is None
    sim = Simulator(config.workers, config.env.timeout) if own_sim else simulator
    try:
        venv = VecSizingEnv(replace(config.env, seed=1000 * config.seed), config.n_envs, sim)
        seed_everything(config.seed)
        agent = DDPG(_layout(venv), config.agent, generator_seed=config.seed)
        info = prepare(agent)
        prog, log, start = _Progress(), [], 0
        resume_rng = None
        if ckpt is not None:
            agent.load_state_dict(ckpt["agent"])
            prog = _Progress(**ckpt["progress"])
            log, start, resume_rng = list(ckpt["log"]), ckpt["round"], ckpt["rng"]
        rounds = config.episodes // config.n_envs
        done_calls = [0]

        def on_round(rnd: int, env_rng: list) -> bool:
            done_calls[0] += 1
            stop = max_rounds is not None and done_calls[0] >= max_rounds
            if runlog is not None:
                for entry in log[-config.n_envs:]:
                    runlog.log_episode(entry)
            if ckpt_path is not None and (stop or (rnd + 1) % config.checkpoint_every == 0
                                          or rnd + 1 == rounds):
                rng = _rng_state(venv)
                rng["envs"] = env_rng
                _checkpoint(ckpt_path, cfg_dict, phase, rnd + 1, agent, prog, log, rng)
            return stop

        finished = start >= rounds or _run_rounds(
            agent, venv, rounds, explore=True, learn=True, prog=prog, log=log,
            start_round=start, on_round=on_round, seed=1000 * config.seed,
            resume_rng=resume_rng, progress=progress, desc=f"{phase} {config.env.circuit}")
        summary = {"phase": phase, "finished": finished, "config": cfg_dict, **info,
                   **_summarise(prog, agent, config.env.target)}
        if not finished:
            return {**summary, "log": log}
        summary["evaluation"] = None
        eval_eps = getattr(config, "eval_episodes", 0)
        if eval_eps:
            eprog, elog = _Progress(), []
            _run_rounds(agent, venv, eval_eps // config.n_envs, explore=False, learn=False,
                        prog=eprog, log=elog, start_round=0, seed=1000 * config.seed + 500)
            foms = [feasible_fom(e) for e in elog]
            summary["evaluation"] = {
                "episodes": len(elog), "mean_final_fom": float(np.mean(foms)),
                "std_final_fom": float(np.std(foms)),
                "mean_best_feasible_fom": float(np.mean([e["episode_best"] for e in elog])),
                "feasible_share": float(np.mean([e["feasible"] for e in elog])),
                "sims": eprog.sims, "failed": eprog.failed, "infeasible": eprog.infeasible}
        if run is not None and runlog is not None:
            if phase == "pretrain":
                weights = {"format": FORMAT, "net": agent.net.state_dict(),
                           "agent": config.agent.to_dict(),
                           "env": config.env.to_dict(), "seed": config.seed}
                _atomic_write(run / BACKBONE, lambda tmp: torch.save(weights, tmp))
                summary["backbone"] = str(run / BACKBONE)
            runlog.finish(summary, seed=config.seed, wall_s=prog.wall_s)
        return {**summary, "log": log}
    finally:
        if own_sim:
            sim.close()


def _summarise(prog: _Progress, agent: DDPG, target: float) -> dict:
    return {"episodes": prog.episodes, "sims": prog.sims, "failed": prog.failed,
            "infeasible": prog.infeasible, "best_feasible_fom": prog.best_feasible_fom,
            "target_fom": target, "sims_to_target": prog.sims_to_target,
            "updates": agent.updates, "wall_s": prog.wall_s,
            "sim_share": prog.sim_s / prog.wall_s if prog.wall_s else 0.0,
            "update_share": prog.update_s / prog.wall_s if prog.wall_s else 0.0,
            "parameters": agent.parameter_counts()}


def pretrain(config: PretrainConfig, *, run_dir: str | Path | RunLog | None = None,
             simulator=None,
             max_rounds: int | None = None, progress: bool | None = False) -> dict:
    """Phase 1 of LoRA-RL (Algorithm 1, lines 1-7): DDPG on the reference circuit, all
    parameters trained, with a random warm-up.

    Parameters
    ----------
    config : the run's settings.
    run_dir : the run folder (:class:`lorarl.runlog.RunLog`: ``config.json``, the episode log
        ``episodes.jsonl``, at the end ``metrics.json`` and ``provenance.json``), plus the
        checkpoint ``checkpoint.pt`` and, for pre-training, ``backbone.pt`` (the network's
        weights). A folder holding a checkpoint of the same configuration is resumed; one
        holding a finished run returns its summary. A :class:`~lorarl.runlog.RunLog` given
        instead is used as it is (its ``config.json`` is the caller's; the checkpoint still
        checks the training configuration).
    simulator : a :class:`circuits.Simulator` to share (else one is created and closed).
    max_rounds : stop (after a checkpoint) once this call has run that many rounds; a later call
        resumes. ``None`` runs to the end.
    progress : show a progress bar (``None``: when standard error is a terminal or
        ``LORARL_PROGRESS`` is set).

    Returns
    -------
    dict
        The summary (episodes, simulations, failed and infeasible ones, best feasible FoM,
        simulations to the target, wall time, share simulating, parameter counts, ``finished``,
        ``backbone`` path) and ``log``, the per-episode entries.

    Used by the book chapters "LoRA-RL: method" and "LoRA-RL: experiments".
    """
    return _train(config, "pretrain", lambda agent: {}, run_dir, simulator, max_rounds, progress)


def transfer(config: TransferConfig, *, run_dir: str | Path | RunLog | None = None,
             simulator=None,
             max_rounds: int | None = None, progress: bool | None = False) -> dict:
    """Phase 2 of LoRA-RL (Algorithm 1, lines 8-17) or a compared method on a target circuit.

    ``scratch`` trains a fresh agent (with warm-up); ``finetune`` loads the backbone and trains
    every weight; ``lora`` loads it, freezes it, inserts rank-``r`` adapters on every linear
    projection and trains only those. The replay buffer starts empty in every case. After
    training, ``eval_episodes`` noise-free episodes measure the final FoM (section 4.4).

    Parameters and returns as :func:`pretrain`; the summary adds ``evaluation`` (mean and spread
    of the final FoM of the noise-free episodes, mean best feasible FoM, feasible share) and
    ``parameters`` (exact counts; ``fraction`` = adapters / backbone).

    Raises
    ------
    TrainConfigError
        On a missing or foreign backbone file, or one of another network size.

    Used by the book chapters "LoRA-RL: method" and "LoRA-RL: experiments".
    """
    weights = load_backbone(config.backbone) if config.method != "scratch" else None
    if weights is not None:
        theirs = {k: weights["agent"].get(k) for k in ("hidden", "layers")}
        ours = {k: getattr(config.agent, k) for k in ("hidden", "layers")}
        if theirs != ours:
            raise TrainConfigError(f"backbone network {theirs} differs from the agent's {ours}")

    def prepare(agent: DDPG) -> dict:
        if weights is None:
            return {"method": "scratch"}
        agent.load_backbone(weights)
        if config.method == "lora":
            agent.insert_adapters(config.rank, config.alpha)
        return {"method": config.method, "backbone_env": weights["env"]}

    return _train(config, "transfer", prepare, run_dir, simulator, max_rounds, progress)


def feasible_fom(entry: dict) -> float:
    """An episode's final FoM when its final design is feasible, else 0 (a design counts only
    when feasible; book chapter "LoRA-RL: experiments")."""
    return float(entry["fom"]) if entry["feasible"] and entry["fom"] is not None else 0.0


def episodes_to_target(log: list[dict], target: float, window: int = 20) -> int | None:
    """First episode at which the moving average of the episode's final feasible FoM
    (:func:`feasible_fom`) over ``window`` episodes reaches ``target``; ``None`` if it never
    does.

    Used by the book chapter "LoRA-RL: experiments" (Table 1's "reach").
    """
    foms = np.array([feasible_fom(e) for e in log], dtype=float)
    if len(foms) < window:
        return None
    avg = np.convolve(foms, np.ones(window) / window, mode="valid")
    hit = np.nonzero(avg >= target)[0]
    return int(hit[0]) + window if hit.size else None


def config_from_dict(data: dict, kind: str = "transfer") -> PretrainConfig | TransferConfig:
    """A :class:`PretrainConfig` or :class:`TransferConfig` from plain data (a JSON file);
    unknown keys are a :class:`TrainConfigError` (the command line and the experiment grid;
    book chapter "LoRA-RL: experiments")."""
    cls = TransferConfig if kind == "transfer" else PretrainConfig
    if not isinstance(data, dict):
        raise TrainConfigError("a training config is a mapping")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainConfigError(f"unknown settings {unknown}; known: {sorted(known)}")
    data = dict(data)
    if "env" in data:
        data["env"] = EnvConfig.from_dict(dict(data["env"]))
    if "agent" in data:
        a = dict(data["agent"])
        bad = sorted(set(a) - {f.name for f in fields(DDPGConfig)})
        if bad:
            raise TrainConfigError(f"unknown agent settings {bad}")
        try:
            data["agent"] = DDPGConfig(**a)
        except ValueError as exc:
            raise TrainConfigError(str(exc)) from exc
    return cls(**data)
