"""Agent T (topology design, MACRO III-A) and agent P (parameter tuning, III-B).

Both agents read the pre-trained, frozen D-VAE (:mod:`macro.dvae`) and the spec features
``z_spec`` (an MLP of the log-scaled spec thresholds ``c_th``), fuse them by an outer product and
process the result with 2x2 transposed convolutions ("deconvolution layers") and an MLP.

Agent T, equations (4)-(6): the design history ``g = [g_0, ..., g_n]`` of partial topologies
(undesigned pairs are type 0) is embedded by the VAE (``z_topo``, one row per step; future
steps are zero rows); ``z_state[k] = z_spec z_topo[k]^T`` is one channel per history step; the
deconvolutions reduce the channels and enlarge each channel; an MLP gives the 57 raw logits, the
topology's action mask (:func:`macro.topology.action_mask`) sets the logits of actions that are
not allowed to minus infinity and a softmax gives the "cooked" distribution. ``N_T = 5`` steps.

Agent P, equations (7)-(13): for each device d of the finished topology (in the order of
``Topology.parameters()``, along the signal), the VAE's node states ``H`` (5 x hidden) are
weighted by ``H~ = d_type (L + delta) H`` (9) with the location vector ``L`` of (7) and the
device factor ``d_type`` = 1, 2, 4 for gm, R, C; ``z_state = z_spec H~^T`` (10) has one channel
per node; deconvolutions and two tanh heads give ``mu, sigma in (-1, 1)``, mapped by (11)-(12)
to ``mu~ in (x_m, x_M)`` and ``sigma~ in (dx/30, dx/10)``. Agent P acts on the normalised
coordinate of each parameter (``x_m = 0, x_M = 1``: linear, or logarithmic for parameters whose
``ParamSpec.log`` is true, through ``Design.from_unit``), so ``dx = 1``. A sample outside
[0, 1] keeps its Gaussian log-probability and is clipped to the bound (III-B3).

Used by the book chapter "MACRO: Table II, behaviour-level search" (training and Figure 4).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .dvae import DAG_NODES, DVAE
from .topology import (
    N_ACTIONS,
    N_CHOICES,
    TUNABLE_PAIRS,
    Topology,
    action_mask,
    action_offsets,
    pair_name,
)

#: Device-type factor of equation (9): gm -> 1, R -> 2, C -> 4.
DEVICE_FACTOR = {"gm": 1.0, "R": 2.0, "C": 4.0}
#: Number of topology-design steps N_T (one per tunable pair).
N_T = len(TUNABLE_PAIRS)


class AgentError(ValueError):
    """An input the agents cannot handle (unknown device kind, bad shapes)."""


@dataclass(frozen=True)
class AgentConfig:
    """Sizes of agents T and P."""

    spec_features: int = 8
    """Size of z_spec (the MLP output from the spec thresholds)."""
    channels: tuple[int, ...] = (4, 2)
    """Output channels of the successive 2x2 stride-2 transposed convolutions."""
    mlp_hidden: int = 128
    """Hidden width of the final MLP of each agent."""
    delta: float = 0.1
    """delta of equation (9): the weight of nodes away from the device (0 masks them)."""
    sigma_min: float = 1.0 / 30.0
    """sigma_m of (12) as a fraction of the normalised range dx = 1 (paper: dx/30)."""
    sigma_max: float = 1.0 / 10.0
    """sigma_M of (12) as a fraction of dx (paper: dx/10)."""


def spec_vector(specs) -> torch.Tensor:
    """The spec thresholds c_th as features: log10 |c| of each numeric field (0 for 0) of
    the ``Specs`` dataclass. Shapes: -> (n_specs,)."""
    values = [getattr(specs, f.name) for f in dataclasses.fields(specs)]
    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums:
        raise AgentError(f"no numeric spec thresholds in {specs!r}")
    return torch.tensor([math.log10(abs(v)) if v else 0.0 for v in nums], dtype=torch.float32)


def _deconv_stack(in_ch: int, channels: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for out_ch in channels:
        layers += [nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2), nn.ReLU()]
        in_ch = out_ch
    return nn.Sequential(*layers)


def action_pair(action: int) -> tuple[int, int]:
    """(tunable pair index, connection type) of one of the 57 actions."""
    offsets = action_offsets()
    if not 0 <= action < N_ACTIONS:
        raise AgentError(f"action {action} outside 0..{N_ACTIONS - 1}")
    pair = max(k for k in range(len(offsets)) if offsets[k] <= action)
    return pair, action - offsets[pair]


class AgentT(nn.Module):
    """Topology agent: design history + specs -> masked categorical over 57 actions (III-A).

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """

    def __init__(self, latent: int, n_specs: int, config: AgentConfig = AgentConfig()):
        super().__init__()
        self.config = config
        self.spec_mlp = nn.Sequential(nn.Linear(n_specs, 32), nn.ReLU(),
                                      nn.Linear(32, config.spec_features))
        self.deconv = _deconv_stack(N_T + 1, config.channels)
        scale = 2 ** len(config.channels)
        flat = config.channels[-1] * config.spec_features * scale * latent * scale
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.mlp_hidden), nn.ReLU(),
                                  nn.Linear(config.mlp_hidden, N_ACTIONS))

    def logits(self, z_topo: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
        """Raw distribution. Shapes: z_topo (B, N_T + 1, latent), spec (n_specs,) -> (B, 57)."""
        z_spec = self.spec_mlp(spec)                                   # (S,)
        z_state = z_spec[None, None, :, None] * z_topo[:, :, None, :]  # (B, N_T+1, S, latent)
        return self.head(self.deconv(z_state))

    def rollout(self, vae: DVAE, specs, n: int, generator: torch.Generator,
                greedy: bool = False) -> dict:
        """Design ``n`` topologies in ``N_T`` steps from the basic three-stage op-amp.

        Returns ``types`` (n, 5) long, ``actions`` (n, N_T) long, ``logp`` (n,) (sum of the
        chosen actions' log-probabilities, with gradient) and ``probs`` (n, N_T, 57), the cooked
        distributions. ``greedy`` takes the most likely action (for drawings).
        """
        spec = spec_vector(specs)
        types = torch.zeros(n, len(TUNABLE_PAIRS), dtype=torch.long)
        z0, _ = vae.embed(types)
        z_topo = torch.zeros(n, N_T + 1, z0.shape[1])
        z_topo[:, 0] = z0
        logp = torch.zeros(n)
        actions = torch.zeros(n, N_T, dtype=torch.long)
        probs_all = []
        for step in range(N_T):
            raw = self.logits(z_topo, spec)
            mask = torch.as_tensor(np.stack([action_mask(step, tuple(types[i, :step].tolist()))
                                             for i in range(n)]))
            if not mask.any(dim=1).all():
                raise AgentError(f"step {step}: an action mask allows no action")
            logprob = torch.log_softmax(raw.masked_fill(~mask, float("-inf")), dim=1)
            probs = logprob.exp()
            if greedy:
                a = probs.argmax(dim=1)
            else:
                a = torch.multinomial(probs.detach(), 1, generator=generator).squeeze(1)
            logp = logp + logprob.gather(1, a[:, None]).squeeze(1)
            actions[:, step] = a
            probs_all.append(probs.detach())
            for i, ai in enumerate(a.tolist()):
                pair, typ = action_pair(ai)
                types[i, pair] = typ
            z, _ = vae.embed(types)
            z_topo = z_topo.clone()
            z_topo[:, step + 1] = z
        return {"types": types, "actions": actions, "logp": logp,
                "probs": torch.stack(probs_all, dim=1)}


#: Device type of each ``ParamSpec.kind``: a stage's ``rscl`` sets its output resistor.
KIND_TYPE = {"gm": "gm", "rscl": "R", "r": "R", "c": "C"}
#: The node pair of each main stage's ``ParamSpec.element``.
MAIN_ELEMENTS = {"main1": ("vin", "n1"), "main2": ("n1", "n2"), "main3": ("n2", "vout")}


def device_kind(spec) -> str:
    """gm, R or C: the device type ``d_type`` of a ``ParamSpec`` (III-B1)."""
    try:
        return KIND_TYPE[str(spec.kind)]
    except KeyError:
        raise AgentError(f"parameter {spec.name!r} has an unknown kind {spec.kind!r}") from None


def location_vector(topology: Topology, spec) -> np.ndarray:
    """The relaxed location code L of equation (7) for one parameter of ``topology``.

    ``l_i = 1 / (N_gap + 1)`` for each node ``v_i`` at an end of the connection (module) that
    holds the device, ``N_gap`` being the number of devices between ``v_i`` and the device; 0
    for the other nodes. A device alone or in a parallel combination touches both ends
    (``l = 1, 1``). In a series combination (a gm stage driving its internal node, then R or C
    to the driven node; or R then C), each device touches its own end (``l = 1``) and reaches
    the other through one device (``l = 1/2``). A stage's ``rscl`` (its output resistor) is
    located with its gm. Shapes: -> (5,) in :data:`macro.dvae.DAG_NODES` order.
    """
    loc = np.zeros(len(DAG_NODES))
    element = str(spec.element)
    if element in MAIN_ELEMENTS:
        pair, conn = MAIN_ELEMENTS[element], None
    else:
        conns = {pair_name(p): (p, c) for p, c in topology.connections()}
        if element not in conns:
            raise AgentError(f"parameter {spec.name!r} belongs to no connection of "
                             f"topology {topology.types}")
        pair, conn = conns[element]
    a, b = DAG_NODES.index(pair[0]), DAG_NODES.index(pair[1])
    if conn is None or conn.arrangement != "series":
        loc[a] = loc[b] = 1.0
        return loc
    kind = str(spec.kind)
    if conn.gm:
        sense, target = (a, b) if conn.direction == "ff" else (b, a)
        near, far = (sense, target) if kind in ("gm", "rscl") else (target, sense)
    else:  # R from the first node to the internal node, C from there to the second
        near, far = (a, b) if kind == "r" else (b, a)
    loc[near], loc[far] = 1.0, 0.5
    return loc


class AgentP(nn.Module):
    """Sizing agent: topology node states, device location and type, specs -> Gaussian (III-B).

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """

    def __init__(self, hidden: int, n_specs: int, config: AgentConfig = AgentConfig()):
        super().__init__()
        self.config = config
        self.spec_mlp = nn.Sequential(nn.Linear(n_specs, 32), nn.ReLU(),
                                      nn.Linear(32, config.spec_features // 2))
        self.deconv = _deconv_stack(len(DAG_NODES), config.channels[-1:])
        flat = config.channels[-1] * (config.spec_features // 2) * 2 * hidden * 2
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(flat, config.mlp_hidden // 2),
                                  nn.ReLU())
        self.mu_head = nn.Linear(config.mlp_hidden // 2, 1)
        self.sigma_head = nn.Linear(config.mlp_hidden // 2, 1)

    def distribution(self, big_h: torch.Tensor, loc: torch.Tensor, factor: torch.Tensor,
                     spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu~, sigma~)`` of (11)-(12) on the normalised range [0, 1].

        Shapes: big_h (D, 5, hidden), loc (D, 5), factor (D,), spec (n_specs,) -> (D,), (D,).
        """
        c = self.config
        weighted = factor[:, None, None] * (loc + c.delta)[:, :, None] * big_h    # (9)
        z_spec = self.spec_mlp(spec)
        z_state = z_spec[None, None, :, None] * weighted[:, :, None, :]          # (10)
        x = self.body(self.deconv(z_state))
        mu = torch.tanh(self.mu_head(x)).squeeze(1)
        sigma = torch.tanh(self.sigma_head(x)).squeeze(1)
        mu_t = 0.5 * mu + 0.5                                                    # (11)
        sigma_t = (c.sigma_max - c.sigma_min) / 2 * sigma + (c.sigma_min + c.sigma_max) / 2
        return mu_t, sigma_t

    def rollout(self, vae: DVAE, topologies: list[Topology], specs,
                generator: torch.Generator, greedy: bool = False) -> dict:
        """Size every topology: one Gaussian action per parameter (13), clipped to [0, 1].

        Returns ``units`` (a list of (N_P,) arrays, normalised values), ``logp`` (n,) with
        gradient (the unclipped samples' log-densities summed per design), ``mu`` and
        ``sigma`` (lists of arrays) for drawings. ``greedy`` takes ``mu~``.
        """
        n = len(topologies)
        types = torch.tensor([list(t.types) for t in topologies], dtype=torch.long)
        _, big_h = vae.embed(types)
        owner, locs, factors = [], [], []
        for i, topo in enumerate(topologies):
            for spec in topo.parameters():
                owner.append(i)
                locs.append(location_vector(topo, spec))
                factors.append(DEVICE_FACTOR[device_kind(spec)])
        logp = torch.zeros(n)
        units: list[np.ndarray] = [np.zeros(0) for _ in range(n)]
        mus: list[np.ndarray] = [np.zeros(0) for _ in range(n)]
        sigmas: list[np.ndarray] = [np.zeros(0) for _ in range(n)]
        if not owner:
            return {"units": units, "logp": logp, "mu": mus, "sigma": sigmas}
        idx = torch.tensor(owner)
        mu, sigma = self.distribution(big_h[idx], torch.tensor(np.stack(locs), dtype=torch.float32),
                                      torch.tensor(factors), spec_vector(specs))
        if greedy:
            x = mu.detach()
        else:
            x = mu.detach() + sigma.detach() * torch.randn(mu.shape, generator=generator)
        dens = torch.distributions.Normal(mu, sigma).log_prob(x)
        logp = logp.index_add(0, idx, dens)
        clipped = x.clamp(0.0, 1.0).numpy()
        mu_np, sd_np = mu.detach().numpy(), sigma.detach().numpy()
        for i in range(n):
            sel = (idx == i).numpy()
            units[i], mus[i], sigmas[i] = clipped[sel], mu_np[sel], sd_np[sel]
        return {"units": units, "logp": logp, "mu": mus, "sigma": sigmas}


__all__ = [
    "DEVICE_FACTOR",
    "KIND_TYPE",
    "N_CHOICES",
    "N_T",
    "AgentConfig",
    "AgentError",
    "AgentP",
    "AgentT",
    "action_pair",
    "device_kind",
    "location_vector",
    "spec_vector",
]
