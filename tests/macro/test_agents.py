"""Agents T and P (III-A, III-B): shapes, masks, sigma bounds, location vector, clipping."""

import numpy as np
import torch

from macro.agents import (
    AgentConfig,
    AgentP,
    AgentT,
    device_kind,
    location_vector,
    spec_vector,
)
from macro.dvae import DVAE, DVAEConfig
from macro.reward import Specs
from macro.topology import N_ACTIONS, Topology, action_offsets

torch.set_num_threads(1)


def _setup():
    vae = DVAE(DVAEConfig(hidden=16))
    n_specs = len(spec_vector(Specs()))
    return vae, AgentT(10, n_specs), AgentP(16, n_specs)


def test_agent_t_masked_distribution_and_shapes():
    vae, agent_t, _ = _setup()
    out = agent_t.rollout(vae, Specs(), 9, torch.Generator().manual_seed(0))
    assert out["types"].shape == (9, 5) and out["actions"].shape == (9, 5)
    assert out["probs"].shape == (9, 5, N_ACTIONS) and out["logp"].shape == (9,)
    offsets = (*action_offsets(), N_ACTIONS)
    for step in range(5):
        p = out["probs"][:, step]
        assert torch.allclose(p.sum(dim=1), torch.ones(9))
        outside = torch.ones(N_ACTIONS, dtype=torch.bool)
        outside[offsets[step]:offsets[step + 1]] = False
        assert (p[:, outside] == 0).all()          # masked actions have probability 0
    for row in out["types"].tolist():
        assert Topology(tuple(row)).is_valid()
    out["logp"].sum().backward()                    # differentiable
    assert any(p.grad is not None for p in agent_t.parameters())


def test_agent_p_sigma_bounds_clipping_and_logp():
    vae, _, agent_p = _setup()
    topos = [Topology((7, 10, 24, 4, 3)), Topology((0, 0, 2, 0, 0))]
    out = agent_p.rollout(vae, topos, Specs(), torch.Generator().manual_seed(0))
    for topo, u, sd in zip(topos, out["units"], out["sigma"], strict=True):
        assert len(u) == len(topo.parameters())
        assert ((u >= 0) & (u <= 1)).all()
        cfg = AgentConfig()
        assert (sd >= cfg.sigma_min - 1e-7).all() and (sd <= cfg.sigma_max + 1e-7).all()
    assert out["logp"].shape == (2,) and torch.isfinite(out["logp"]).all()


def test_extreme_means_are_clipped_and_keep_their_density():
    vae, _, agent_p = _setup()
    with torch.no_grad():
        agent_p.mu_head.bias.fill_(50.0)            # tanh -> 1: mu~ = 1 (upper bound)
    topo = Topology((0, 0, 2, 0, 0))
    out = agent_p.rollout(vae, [topo], Specs(), torch.Generator().manual_seed(1))
    assert (out["units"][0] <= 1.0).all() and (out["units"][0] == 1.0).any()
    assert torch.isfinite(out["logp"]).all()


def test_location_vector_of_equation_7():
    topo = Topology((7, 0, 24, 4, 3))   # vin-n2: ff +gm - R (series); n1-gnd: R - C
    specs = {s.name: s for s in topo.parameters()}
    # main stage 1 between vin and n1
    assert location_vector(topo, specs["g1"]).tolist() == [1, 1, 0, 0, 0]
    # series gm: at its sensing node vin, one device (R) away from n2
    assert location_vector(topo, specs["vin_n2_gm"]).tolist() == [1, 0, 0.5, 0, 0]
    assert location_vector(topo, specs["vin_n2_r"]).tolist() == [0.5, 0, 1, 0, 0]
    assert location_vector(topo, specs["n1_gnd_r"]).tolist() == [0, 1, 0, 0, 0.5]
    assert location_vector(topo, specs["n1_gnd_c"]).tolist() == [0, 0.5, 0, 0, 1]
    # parallel: both ends
    assert location_vector(topo, specs["n2_gnd_r"]).tolist() == [0, 0, 1, 0, 1]
    assert {device_kind(s) for s in topo.parameters()} == {"gm", "R", "C"}


def test_device_weighting_changes_the_policy():
    _vae, _, agent_p = _setup()
    big_h = torch.randn(1, 5, 16).expand(3, 5, 16)
    loc = torch.tensor([[1.0, 1, 0, 0, 0]]).expand(3, 5)
    mu, _ = agent_p.distribution(big_h, loc, torch.tensor([1.0, 2.0, 4.0]), spec_vector(Specs()))
    assert len(set(np.round(mu.detach().numpy(), 7))) == 3
