r"""DDPG with a GCN actor-critic, the update rule of GCN-RL (LoRA-RL Algorithm 1, lines 5-6, 15).

The agent keeps one :class:`lorarl.gcn.ActorCritic` (GCN backbone :math:`\psi`, actor head
:math:`\theta`, critic head :math:`\phi`) and its target copy (primed). With node embeddings
:math:`h = \mathrm{GCN}_\psi(s)`, one update on a minibatch :math:`\{(s, a, r, s', d)\}` of the
replay buffer is

.. math::

    y &= r + \gamma (1 - d)\, Q_{\phi'}(h', \mu_{\theta'}(h')), \quad
         h' = \mathrm{GCN}_{\psi'}(s') \\
    L_Q &= \mathrm{mean}\,(Q_\phi(h, a) - y)^2 \quad \text{(trains } \psi, \phi) \\
    L_\mu &= -\mathrm{mean}\, Q_\phi(\bar h, \mu_\theta(\bar h)), \quad
         \bar h = \mathrm{sg}(h) \quad \text{(trains } \theta) \\
    \xi' &\leftarrow (1 - \tau)\,\xi' + \tau\,\xi \quad \text{for } \xi = \psi, \theta, \phi
         \quad \text{(Polyak averaging)}

(:math:`\mathrm{sg}` stops the gradient: the backbone learns from the critic's loss, as in
shared-encoder actor-critics, and the actor's step reuses the minibatch's embeddings, so an
update costs one backbone pass with gradients and one target pass.)

Exploration adds Gaussian noise :math:`\mathcal{N}(0, \sigma_t^2)` with
:math:`\sigma_t = \max(\sigma_{min}, \sigma_0 \rho^t)` to the actor's action and clips to
[-1, 1]; during a warm-up of ``warmup_steps`` transitions an untrained agent acts uniformly at
random. A minibatch is one batched tensor ``(B, N, 18)`` against the circuit's cached
normalised adjacency (:class:`lorarl.gcn.GraphLayout`).

**Targets under LoRA.** When adapters are inserted (:meth:`DDPG.insert_adapters`), the target
network becomes a copy of the adapted network, with its own adapters; Polyak averaging then
runs over every parameter, and the frozen base weights, equal in both, stay bit-identical (the
update is an exact ``lerp`` of equal values). So the target's effective weights are
:math:`W_0 + \frac{\alpha}{r} B' A'` with :math:`A', B'` the averaged adapters.

Randomness comes from one :func:`seed_everything` call and the agent's own
``torch.Generator`` (noise, sampling, warm-up), whose state is part of :meth:`DDPG.state_dict`,
so a run resumed from a checkpoint continues exactly.

Used by :mod:`lorarl.train` and the book chapter "LoRA-RL: method".
"""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .gcn import STATE_DIM, ActorCritic, GraphLayout, encode
from .lora import inject_lora, parameter_counts


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (the one seeding function
    of a run; book chapter "LoRA-RL: method")."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class DDPGConfig:
    """Hyper-parameters of the agent, identical for every method compared (LoRA-RL 4.2; book
    chapter "LoRA-RL: method")."""

    hidden: int = 256
    """Width of the graph convolutions and heads (LoRA-RL 4.1)."""
    layers: int = 3
    """Number of graph convolutions (LoRA-RL 3.2)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor (or of its adapters)."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic (or of its adapters)."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    gamma: float = 0.9
    """Discount factor; episodes are short (10 steps), so a horizon of about 10 steps."""
    tau: float = 5e-3
    """Polyak factor of the target networks."""
    batch_size: int = 64
    """Minibatch size of an update."""
    buffer_size: int = 100_000
    """Replay-buffer capacity (transitions); the oldest are overwritten."""
    warmup_steps: int = 200
    """Transitions acted uniformly at random by an untrained agent before the policy acts."""
    noise_sigma: float = 0.3
    """Initial standard deviation of the Gaussian exploration noise."""
    noise_decay: float = 0.999
    """Factor applied to the noise's standard deviation per environment step."""
    noise_min: float = 0.05
    """Floor of the noise's standard deviation."""
    updates_per_transition: float = 0.5
    """Update-to-data ratio: gradient updates per transition collected."""
    grad_clip: float = 1.0
    """Gradient-norm clip of both networks (``0`` disables)."""
    fused_adam: bool = True
    """``torch.optim.Adam(fused=True)`` (one kernel for all parameters; faster on CPU)."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("hidden", "layers", "batch_size", "buffer_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                problems.append(f"{name} must be a whole number >= 1, not {v!r}")
        for name in ("actor_lr", "critic_lr", "tau", "noise_decay"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0 < v <= 1:
                problems.append(f"{name} must be in (0, 1], not {v!r}")
        for name in ("weight_decay", "noise_sigma", "noise_min", "updates_per_transition",
                     "grad_clip", "warmup_steps"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                problems.append(f"{name} must be a finite number >= 0, not {v!r}")
        if not isinstance(self.gamma, int | float) or not 0 <= self.gamma < 1:
            problems.append(f"gamma must be in [0, 1), not {self.gamma!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


class Batch(NamedTuple):
    """A minibatch of transitions (book chapter "LoRA-RL: method").

    Shapes: state/next_state ``(B, N, 18)``, action ``(B, P)``, reward and done ``(B,)``."""

    state: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_state: torch.Tensor
    done: torch.Tensor


class ReplayBuffer:
    """Ring buffer of transitions of one circuit (fixed N and P), stored as encoded states.

    Shapes: each state ``(N, 18)`` (:func:`lorarl.gcn.encode`), action ``(P,)``.

    Used by :class:`DDPG` (book chapter "LoRA-RL: method").
    """

    def __init__(self, capacity: int, num_nodes: int, num_params: int) -> None:
        self.capacity = int(capacity)
        self.state = torch.zeros(self.capacity, num_nodes, STATE_DIM)
        self.next_state = torch.zeros(self.capacity, num_nodes, STATE_DIM)
        self.action = torch.zeros(self.capacity, num_params)
        self.reward = torch.zeros(self.capacity)
        self.done = torch.zeros(self.capacity)
        self.ptr = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
            next_state: torch.Tensor, done: torch.Tensor) -> None:
        """Store a batch of ``k`` transitions (leading dimension ``k``)."""
        for i in range(state.shape[0]):
            j = self.ptr
            self.state[j] = state[i]
            self.action[j] = action[i]
            self.reward[j] = reward[i]
            self.next_state[j] = next_state[i]
            self.done[j] = done[i]
            self.ptr = (self.ptr + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Uniform sample with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, self.size, (batch_size,), generator=generator)
        return Batch(self.state[idx], self.action[idx], self.reward[idx], self.next_state[idx],
                     self.done[idx])

    def clear(self) -> None:
        """Empty the buffer (LoRA-RL Algorithm 1, line 10)."""
        self.ptr = self.size = 0

    def state_dict(self) -> dict:
        n = self.size
        return {"capacity": self.capacity, "ptr": self.ptr, "size": n,
                "state": self.state[:n].clone(), "next_state": self.next_state[:n].clone(),
                "action": self.action[:n].clone(), "reward": self.reward[:n].clone(),
                "done": self.done[:n].clone()}

    def load_state_dict(self, d: dict) -> None:
        if d["capacity"] != self.capacity or d["state"].shape[1:] != self.state.shape[1:]:
            raise ValueError("replay buffer checkpoint of another shape or capacity")
        n = d["size"]
        for k in ("state", "next_state", "action", "reward", "done"):
            getattr(self, k)[:n] = d[k]
        self.ptr, self.size = d["ptr"], n


def polyak_(target: nn.Module, online: nn.Module, tau: float) -> None:
    r""":math:`\theta' \leftarrow \theta' + \tau(\theta - \theta')` on every parameter
    (frozen ones included: equal values stay exactly equal; book chapter "LoRA-RL: method")."""
    with torch.no_grad():
        tp = list(target.parameters())
        op = list(online.parameters())
        torch._foreach_lerp_(tp, op, tau)


class DDPG:
    """The actor-critic agent of GCN-RL on one circuit graph (book chapter "LoRA-RL: method").

    Parameters
    ----------
    layout : the circuit's :class:`~lorarl.gcn.GraphLayout`.
    config : hyper-parameters.
    generator_seed : seed of the agent's generator (noise, sampling, warm-up actions).

    The network is created from torch's global generator: call :func:`seed_everything` first.
    """

    def __init__(self, layout: GraphLayout, config: DDPGConfig | None = None,
                 generator_seed: int = 0) -> None:
        self.config = config = config or DDPGConfig()
        self.layout = layout
        self.net = ActorCritic(config.hidden, config.layers)
        self.gen = torch.Generator().manual_seed(generator_seed)
        self.buffer = ReplayBuffer(config.buffer_size, layout.num_nodes, layout.num_params)
        self.steps = 0            # environment steps (vector steps) taken
        self.transitions = 0      # transitions stored since the last reset_training
        self.updates = 0
        self.warmup = config.warmup_steps
        self._credit = 0.0
        self.adapters: dict | None = None
        self._reset_targets_and_optimizers()

    # -- set-up ---------------------------------------------------------------------------------

    def _reset_targets_and_optimizers(self) -> None:
        self.target = copy.deepcopy(self.net).requires_grad_(False)
        c = self.config

        def adam(modules: list[nn.Module], lr: float) -> torch.optim.Adam:
            params = [p for m in modules for p in m.parameters() if p.requires_grad]
            return torch.optim.Adam(params, lr=lr, weight_decay=c.weight_decay,
                                    fused=c.fused_adam or None)

        self.actor_opt = adam([self.net.actor], c.actor_lr)
        self.critic_opt = adam([self.net.backbone, self.net.critic], c.critic_lr)

    def load_backbone(self, weights: dict) -> None:
        """Load pre-trained weights (``{"net": state_dict}``) and restart the training state:
        target copied, fresh optimizers, empty buffer, noise reset, no warm-up."""
        self.net.load_state_dict(weights["net"])
        self.reset_training(warmup=0)

    def insert_adapters(self, r: int = 4, alpha: float = 1.0) -> dict:
        """Freeze the network and put rank-``r`` adapters on every linear projection of the
        backbone and both heads (LoRA-RL Algorithm 1, lines 8-10); the target becomes a copy of
        the adapted network.

        Returns :meth:`parameter_counts`.
        """
        inject_lora(self.net, r=r, alpha=alpha)
        self.adapters = {"r": r, "alpha": alpha}
        self._reset_targets_and_optimizers()
        return self.parameter_counts()

    def parameter_counts(self) -> dict:
        """Exact counts (:func:`lorarl.lora.parameter_counts`) plus ``trainable_fraction`` =
        trainable / total."""
        out = parameter_counts(self.net)
        out["trainable_fraction"] = out["trainable"] / out["total"]
        return out

    def reset_training(self, warmup: int | None = None) -> None:
        """Start a new training phase: empty buffer, target equal to the network, fresh
        optimizers, exploration noise back to its initial level."""
        self.buffer.clear()
        self.steps = self.transitions = 0
        self._credit = 0.0
        self.warmup = self.config.warmup_steps if warmup is None else warmup
        self._reset_targets_and_optimizers()

    # -- acting ---------------------------------------------------------------------------------

    @property
    def sigma(self) -> float:
        c = self.config
        return max(c.noise_min, c.noise_sigma * c.noise_decay ** self.steps)

    def encode(self, obs: list[dict]) -> torch.Tensor:
        """Observations of the environment -> state tensor ``(n, N, 18)``."""
        x = torch.as_tensor(np.stack([o["x"] for o in obs]), dtype=torch.float32)
        ea = torch.as_tensor(np.stack([o["edge_attr"] for o in obs]), dtype=torch.float32)
        m = torch.as_tensor(np.stack([o["metrics"] for o in obs]), dtype=torch.float32)
        return encode(self.layout, x, ea, m)

    @torch.no_grad()
    def act(self, state: torch.Tensor, explore: bool = True) -> torch.Tensor:
        """Actions ``(n, P)`` in [-1, 1]: random during warm-up, else the actor plus noise
        (``explore``) or the actor alone."""
        n, p = state.shape[0], self.layout.num_params
        if explore and self.transitions < self.warmup:
            return torch.rand(n, p, generator=self.gen) * 2 - 1
        a = self.net.policy(self.layout, state)
        if explore:
            a = a + self.sigma * torch.randn(n, p, generator=self.gen)
        return a.clamp(-1.0, 1.0)

    def observe(self, state: torch.Tensor, action: torch.Tensor, reward, next_state: torch.Tensor,
                done) -> list[dict]:
        """Store ``n`` transitions, advance the noise schedule and run the updates the
        update-to-data ratio calls for; returns their losses."""
        n = state.shape[0]
        self.buffer.add(state, action, torch.as_tensor(reward, dtype=torch.float32),
                        next_state, torch.as_tensor(done, dtype=torch.float32))
        self.steps += 1
        self.transitions += n
        losses = []
        if self.transitions < max(self.warmup, self.config.batch_size):
            return losses
        self._credit += n * self.config.updates_per_transition
        while self._credit >= 1.0:
            self._credit -= 1.0
            losses.append(self.update())
        return losses

    # -- learning -------------------------------------------------------------------------------

    def update(self, batch: Batch | None = None) -> dict:
        """One DDPG update of critic (with backbone), actor head and target (module docstring).
        """
        c, lay = self.config, self.layout
        b = batch if batch is not None else self.buffer.sample(c.batch_size, self.gen)
        with torch.no_grad():
            h_next = self.target.embed(lay, b.next_state)
            q_next = self.target.critic(lay, h_next, self.target.actor(lay, h_next))
            y = b.reward + c.gamma * (1.0 - b.done) * q_next
        h = self.net.embed(lay, b.state)
        q = self.net.critic(lay, h, b.action)
        critic_loss = torch.mean((q - y) ** 2)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        critic_params = self.critic_opt.param_groups[0]["params"]
        if c.grad_clip > 0:
            nn.utils.clip_grad_norm_(critic_params, c.grad_clip)
        self.critic_opt.step()
        # actor head on the minibatch's embeddings; the critic takes no gradient from it
        for p in critic_params:
            p.requires_grad_(False)
        try:
            hd = h.detach()
            actor_loss = -self.net.critic(lay, hd, self.net.actor(lay, hd)).mean()
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward()
        finally:
            for p in critic_params:
                p.requires_grad_(True)
        if c.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.actor_opt.param_groups[0]["params"], c.grad_clip)
        self.actor_opt.step()
        polyak_(self.target, self.net, c.tau)
        self.updates += 1
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(),
                "q": q.mean().item()}

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: network, target, optimizers, buffer,
        counters and the generator state (tensors and plain data only)."""
        return {
            "net": self.net.state_dict(), "target": self.target.state_dict(),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
            "buffer": self.buffer.state_dict(), "gen": self.gen.get_state(),
            "steps": self.steps, "transitions": self.transitions, "updates": self.updates,
            "warmup": self.warmup, "credit": self._credit, "adapters": self.adapters,
        }

    def load_state_dict(self, d: dict) -> None:
        """Restore :meth:`state_dict` (adapters are inserted first when the checkpoint has them).
        """
        if d["adapters"] is not None and self.adapters is None:
            self.insert_adapters(**d["adapters"])
        self.net.load_state_dict(d["net"])
        self.target.load_state_dict(d["target"])
        self.actor_opt.load_state_dict(d["actor_opt"])
        self.critic_opt.load_state_dict(d["critic_opt"])
        self.buffer.load_state_dict(d["buffer"])
        self.gen.set_state(d["gen"])
        self.steps, self.transitions, self.updates = d["steps"], d["transitions"], d["updates"]
        self.warmup, self._credit = d["warmup"], d["credit"]
