"""Benchmark of the learning side of LoRA-RL: forward, backward and a full DDPG update.

Run ``python -m lorarl.bench [--circuit two_stage] [--repeats 50] [--json]``. It times, on one
thread, on a minibatch of 64 states of the circuit's real graph:

* the backbone's forward pass and the actor's and critic's (backbone and head),
* forward + backward of the critic loss,
* a whole DDPG update (critic and actor steps and the Polyak average, :meth:`DDPG.update`),
  for the full network and with rank-4 adapters, with ``Adam(fused=True)`` and without,
* one ngspice simulation of the circuit (for the share of a step spent simulating).

The issue's naive reference is 170-190 ms per DDPG update (a loop over 64 separate graphs). Used
by the book chapter "LoRA-RL: method" (the speed paragraph) and by the run budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace

import torch

from .ddpg import DDPG, DDPGConfig, seed_everything
from .gcn import GraphLayout


def _time(fn, repeats: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times),
            "mean_ms": statistics.fmean(times), "repeats": repeats}


def _layout(circuit: str, tech: str) -> tuple[GraphLayout, torch.Tensor]:
    from circuits import circuit_graph, get_amplifier, get_technology

    from .env import parameter_nodes

    amp, technology = get_amplifier(circuit), get_technology(tech)
    g = circuit_graph(amp, technology, amp.base(technology))
    layout = GraphLayout.build(g.edge_index, g.num_nodes, parameter_nodes(circuit, tech),
                               [p.kind for p in amp.parameters])
    return layout, g


def run(circuit: str = "two_stage", tech: str = "45nm", repeats: int = 50, batch: int = 64,
        simulate: bool = True, hidden: int | None = None) -> dict:
    """Time the learning steps (and one simulation); returns a JSON-ready dict of medians (ms).

    Used by the book chapter "LoRA-RL: method".
    """
    torch.set_num_threads(1)
    seed_everything(0)
    layout, g = _layout(circuit, tech)
    base = DDPGConfig() if hidden is None else DDPGConfig(hidden=hidden)
    out: dict = {"circuit": circuit, "tech": tech, "batch": batch, "threads": 1,
                 "hidden": base.hidden,
                 "nodes": layout.num_nodes, "edges": layout.num_edges,
                 "params": layout.num_params}
    for fused in (True, False):
        for rank in (None, 4):
            agent = DDPG(layout, replace(base, fused_adam=fused, batch_size=batch))
            if rank is not None:
                agent.insert_adapters(r=rank)
            gen = torch.Generator().manual_seed(1)
            for _ in range(2 * batch):
                s = agent.encode([{"x": g.x.numpy(), "edge_attr": g.edge_attr.numpy(),
                                   "metrics": torch.rand(4, generator=gen).numpy()}] * 2)
                a = torch.rand(2, layout.num_params, generator=gen) * 2 - 1
                agent.buffer.add(s, a, torch.rand(2, generator=gen), s, torch.zeros(2))
            key = f"update_{'lora4' if rank else 'full'}_{'fused' if fused else 'plain'}"
            out[key] = _time(agent.update, repeats)
            if fused and rank is None:
                b = agent.buffer.sample(batch, gen)
                with torch.no_grad():
                    out["backbone_forward"] = _time(
                        lambda a=agent, b=b: a.net.embed(layout, b.state), repeats)
                    out["actor_forward"] = _time(
                        lambda a=agent, b=b: a.net.policy(layout, b.state), repeats)
                    out["critic_forward"] = _time(
                        lambda a=agent, b=b: a.net.q(layout, b.state, b.action), repeats)

                def fwd_bwd(agent=agent, b=b):
                    agent.net.zero_grad()
                    agent.net.q(layout, b.state, b.action).pow(2).mean().backward()

                out["critic_forward_backward"] = _time(fwd_bwd, repeats)
    if simulate:
        from circuits import Simulator, get_amplifier

        amp = get_amplifier(circuit)
        with Simulator(workers=1) as sim:
            params = amp.base(tech)
            sim.simulate(circuit, tech, params)
            out["simulation"] = _time(lambda: sim.simulate(circuit, tech, params),
                                      max(5, repeats // 5))
    out["naive_reference_ms"] = [170, 190]
    return out


def training_cost(circuit: str = "two_stage", tech: str = "90nm", episodes: int = 20,
                  updates_per_transition: float | None = None, seed: int = 0,
                  workers: int = 2) -> dict:
    """Measured cost of training at full network size: a short pre-training run (two copies,
    the default agent but a warm-up of one minibatch) and the wall time per episode once
    updates run, with the shares spent simulating and updating.

    Returns a JSON-ready dict: ``episode_s`` (wall time per episode after warm-up),
    ``update_ms`` (per update inside the run), ``sim_share``, ``update_share``,
    ``sims_per_episode``, ``updates_per_episode`` and the settings. Used by the book chapter
    "LoRA-RL: method" and for the experiment grid's budget.
    """
    from .env import EnvConfig
    from .train import PretrainConfig, pretrain

    base = DDPGConfig()
    agent = replace(base, warmup_steps=base.batch_size,
                    updates_per_transition=(base.updates_per_transition
                                            if updates_per_transition is None
                                            else updates_per_transition))
    cfg = PretrainConfig(env=EnvConfig(circuit=circuit, tech=tech), agent=agent,
                         episodes=episodes, n_envs=2, workers=workers, seed=seed)
    out = pretrain(cfg)
    log = out["log"]
    first = next((i for i, e in enumerate(log) if e["updates"] > 0), len(log) - 1)
    first = min(first + 2, len(log) - 1)  # the first round with updates throughout
    n = len(log) - 1 - first
    wall = (log[-1]["wall_s"] - log[first]["wall_s"]) / max(n, 1)
    updates = (log[-1]["updates"] - log[first]["updates"]) / max(n, 1)
    return {"circuit": circuit, "tech": tech, "episodes": episodes,
            "episode_length": cfg.env.episode_length, "n_envs": cfg.n_envs,
            "updates_per_transition": agent.updates_per_transition,
            "episode_s": wall, "updates_per_episode": updates,
            "update_ms": 1e3 * out["update_share"] * out["wall_s"] / max(out["updates"], 1),
            "sims_per_episode": out["sims"] / out["episodes"],
            "sim_share": out["sim_share"], "update_share": out["update_share"],
            "wall_s": out["wall_s"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lorarl.bench", description=__doc__.split("\n")[0])
    p.add_argument("--circuit", default="two_stage")
    p.add_argument("--tech", default="45nm")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--no-sim", action="store_true", help="skip the simulation timing")
    p.add_argument("--json", action="store_true", help="print JSON only")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.batch < 1:
        p.error("--repeats and --batch must be >= 1")
    res = run(args.circuit, args.tech, args.repeats, args.batch, not args.no_sim)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    for k, v in res.items():
        if isinstance(v, dict):
            print(f"{k:32s} {v['median_ms']:8.2f} ms median, {v['min_ms']:8.2f} ms min "
                  f"of {v['repeats']}")
        else:
            print(f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
