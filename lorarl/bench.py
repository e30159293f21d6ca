"""Benchmark of the learning side of LoRA-RL: forward, backward and a full DDPG update.

Run ``python -m lorarl.bench [--circuit two_stage] [--repeats 50] [--json]``. It times, on one
thread, on a minibatch of 64 states of the circuit's real graph:

* the actor's and the critic's forward pass,
* forward + backward of the critic loss,
* a whole DDPG update (critic and actor steps and both Polyak averages, :meth:`DDPG.update`),
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
        simulate: bool = True) -> dict:
    """Time the learning steps (and one simulation); returns a JSON-ready dict of medians (ms).

    Used by the book chapter "LoRA-RL: method".
    """
    torch.set_num_threads(1)
    seed_everything(0)
    layout, g = _layout(circuit, tech)
    out: dict = {"circuit": circuit, "tech": tech, "batch": batch, "threads": 1,
                 "nodes": layout.num_nodes, "edges": layout.num_edges,
                 "params": layout.num_params}
    for fused in (True, False):
        for rank in (None, 4):
            agent = DDPG(layout, replace(DDPGConfig(), fused_adam=fused, batch_size=batch))
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
                    out["actor_forward"] = _time(
                        lambda a=agent, b=b: a.actor(layout, b.state), repeats)
                    out["critic_forward"] = _time(
                        lambda a=agent, b=b: a.critic(layout, b.state, b.action), repeats)

                def fwd_bwd(agent=agent, b=b):
                    agent.critic.zero_grad()
                    agent.critic(layout, b.state, b.action).pow(2).mean().backward()

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
            print(f"{k:32s} {v['median_ms']:8.2f} ms (median of {v['repeats']})")
        else:
            print(f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
