"""D-VAE: a variational auto-encoder of the behaviour-level op-amp DAG (MACRO II-C, its ref. [7]).

A topology is the complete DAG over the five nodes ``vin, n1, n2, vout, gnd`` (in this
topological order): each of the ten node pairs carries one connection type of Table I (type 0 =
no connection). Five pairs are fixed (``vin-n1`` a +gm stage, ``n1-n2`` a -gm stage, ``n2-vout``
a +gm stage, ``vin-gnd`` and ``vout-gnd`` empty), five are tunable (:data:`TUNABLE_PAIRS`).

Encoder (asynchronous message passing along the signal direction, as in D-VAE):

.. math::

    h_v^{in} = \\sum_{u \\to v} \\sigma(W_g [h_u; e_{uv}]) \\odot W_m [h_u; e_{uv}], \\qquad
    h_v^{out} = \\mathrm{GRU}(x_v, h_v^{in}),

with :math:`x_v` the one-hot node category (input, intermediate, output, ground) and
:math:`e_{uv}` the one-hot connection type. ``H = [h_vin, ..., h_gnd]`` are the local states; two
linear maps of :math:`h_{gnd}` (the last node, which every path reaches) give the Gaussian global
embedding :math:`z \\sim \\mathcal N(\\mu, \\mathrm{diag}\\,e^{\\log\\sigma^2})` of equation (3).
The decoder is an MLP (II-C) from :math:`z` to the categorical logits of the five tunable pairs
(11 + 11 + 25 + 5 + 5 = 57). Loss = cross-entropy of the five pairs + ``beta`` * KL, with
``beta = 0.005`` as in the reference implementation.

Used by the book chapter "MACRO: Table II, behaviour-level search" (the VAE statistics) and by
agents T and P (:mod:`macro.agents`) and the BOBO baseline (:mod:`macro.baselines`).
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .topology import N_CHOICES, N_TYPES, TUNABLE_PAIRS, Topology, sample_topologies

#: Nodes of the DAG in topological (signal) order.
DAG_NODES = ("vin", "n1", "n2", "vout", "gnd")
#: Node category of each node: 0 input, 1 intermediate, 2 output, 3 ground (II-B).
NODE_CATEGORY = (0, 1, 1, 2, 3)
#: Connection type of the five fixed pairs in Table I numbering (5 = +gm, 6 = -gm, 0 = none).
FIXED_TYPES = {("vin", "n1"): 5, ("n1", "n2"): 6, ("n2", "vout"): 5,
               ("vin", "gnd"): 0, ("vout", "gnd"): 0}
#: The ten pairs (u, v) with u before v, as node indices, in a fixed order.
ALL_PAIRS = tuple((i, j) for j in range(5) for i in range(j))


class DVAEError(ValueError):
    """A D-VAE file or input that cannot be used (wrong shape, wrong kind of file)."""


@dataclass(frozen=True)
class DVAEConfig:
    """Sizes and training settings of the D-VAE."""

    latent: int = 10
    """Size of the global embedding z (10 in the reference implementation)."""
    hidden: int = 64
    """Size of each node's GRU state h_v (the reference uses 501; 64 fits this CPU budget)."""
    beta: float = 0.005
    """Weight of the KL term in the loss (reference: 0.005)."""
    n_train: int = 10_000
    """Random valid topologies in the data set (paper: 10,000); a tenth is held out."""
    epochs: int = 25
    """Passes over the training set (25 reach exact reconstruction of held-out topologies)."""
    batch: int = 128
    """Mini-batch size."""
    lr: float = 3e-3
    """Adam learning rate."""
    seed: int = 0
    """Seed of the data set, the initial weights and the batches."""


def pair_types(types: torch.Tensor) -> torch.Tensor:
    """The connection type of all ten pairs from the five tunable types.

    Shapes: ``types`` (B, 5) long -> (B, 10) long, pairs in :data:`ALL_PAIRS` order.
    """
    if types.ndim != 2 or types.shape[1] != len(TUNABLE_PAIRS):
        raise DVAEError(f"expected (batch, {len(TUNABLE_PAIRS)}) connection types, "
                        f"got shape {tuple(types.shape)}")
    out = torch.zeros(types.shape[0], len(ALL_PAIRS), dtype=torch.long)
    tunable = {(DAG_NODES.index(a), DAG_NODES.index(b)): k
               for k, (a, b) in enumerate(TUNABLE_PAIRS)}
    fixed = {(DAG_NODES.index(a), DAG_NODES.index(b)): t for (a, b), t in FIXED_TYPES.items()}
    for p, pair in enumerate(ALL_PAIRS):
        out[:, p] = types[:, tunable[pair]] if pair in tunable else fixed[pair]
    return out


class DVAE(nn.Module):
    """Encoder (GRU message passing over the DAG) and MLP decoder; see the module docstring.

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """

    def __init__(self, config: DVAEConfig = DVAEConfig()):
        super().__init__()
        self.config = config
        h = config.hidden
        self.gate = nn.Linear(h + N_TYPES, h)
        self.mapper = nn.Linear(h + N_TYPES, h, bias=False)
        self.gru = nn.GRUCell(4, h)
        self.mu = nn.Linear(h, config.latent)
        self.logvar = nn.Linear(h, config.latent)
        self.decoder = nn.Sequential(nn.Linear(config.latent, h), nn.ReLU(), nn.Linear(h, h),
                                     nn.ReLU(), nn.Linear(h, sum(N_CHOICES)))
        self.register_buffer("node_x", F.one_hot(torch.tensor(NODE_CATEGORY), 4).float())

    def encode(self, types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder of equation (3): ``(mu, logvar, H)``.

        Shapes: ``types`` (B, 5) long -> mu (B, latent), logvar (B, latent),
        H (B, 5, hidden) (node order of :data:`DAG_NODES`).
        """
        edges = F.one_hot(pair_types(types).to(self.node_x.device), N_TYPES).float()
        b = types.shape[0]
        states: list[torch.Tensor] = []
        for v in range(len(DAG_NODES)):
            if v == 0:
                h_in = torch.zeros(b, self.config.hidden, device=edges.device)
            else:
                h_in = 0.0
                for p, (u, w) in enumerate(ALL_PAIRS):
                    if w != v:
                        continue
                    msg = torch.cat([states[u], edges[:, p]], dim=1)
                    h_in = h_in + torch.sigmoid(self.gate(msg)) * self.mapper(msg)
            states.append(self.gru(self.node_x[v].expand(b, -1), h_in))
        big_h = torch.stack(states, dim=1)
        return self.mu(states[-1]), self.logvar(states[-1]), big_h

    def decode_logits(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Logits of each tunable pair's connection type.

        Shapes: z (B, latent) -> five tensors (B, N_CHOICES[k]).
        """
        return list(torch.split(self.decoder(z), list(N_CHOICES), dim=1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Most likely types. Shapes: z (B, latent) -> (B, 5) long."""
        return torch.stack([lg.argmax(dim=1) for lg in self.decode_logits(z)], dim=1)

    def loss(self, types: torch.Tensor, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ELBO terms: ``(loss, reconstruction, kl)`` averaged over the batch.

        Shapes: ``types`` (B, 5) long -> three scalars.
        """
        mu, logvar, _ = self.encode(types)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec = sum(F.cross_entropy(lg, types[:, k], reduction="sum")
                  for k, lg in enumerate(self.decode_logits(z))) / types.shape[0]
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / types.shape[0]
        return rec + self.config.beta * kl, rec, kl

    @torch.no_grad()
    def embed(self, types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic embedding for the agents: ``(mu, H)`` without gradients.

        Shapes: ``types`` (B, 5) long -> (B, latent), (B, 5, hidden).
        """
        mu, _, big_h = self.encode(types)
        return mu, big_h


def topology_types(topologies) -> torch.Tensor:
    """Stack topologies' tunable types. Shapes: N topologies -> (N, 5) long."""
    return torch.tensor([list(t.types) for t in topologies], dtype=torch.long).reshape(-1, 5)


def _is_valid(types: tuple[int, ...]) -> bool:
    try:
        return bool(Topology(tuple(int(t) for t in types)).is_valid())
    except (ValueError, TypeError):
        return False


@torch.no_grad()
def evaluate_dvae(model: DVAE, test_types: torch.Tensor, n_prior: int = 1000,
                  seed: int = 0) -> dict:
    """Reconstruction accuracy, validity and uniqueness of prior samples (D-VAE's measures).

    * reconstruction accuracy: fraction of held-out topologies whose decoded mean embedding
      (argmax per pair) equals the input in all five pairs; also per pair;
    * validity: fraction of ``n_prior`` decodings of z ~ N(0, I) that are valid topologies;
    * uniqueness: distinct valid decodings / valid decodings.

    Used by the book chapter "MACRO: Table II, behaviour-level search".
    """
    model.eval()
    mu, _, _ = model.encode(test_types)
    rec = model.decode(mu)
    exact = (rec == test_types).all(dim=1).float().mean().item()
    per_pair = (rec == test_types).float().mean(dim=0).tolist()
    g = torch.Generator().manual_seed(seed)
    prior = model.decode(torch.randn(n_prior, model.config.latent, generator=g))
    decoded = [tuple(int(x) for x in row) for row in prior.tolist()]
    valid = [d for d in decoded if _is_valid(d)]
    return {"reconstruction_accuracy": exact, "reconstruction_per_pair": per_pair,
            "validity": len(valid) / max(1, len(decoded)),
            "uniqueness": len(set(valid)) / max(1, len(valid)), "n_prior": n_prior,
            "n_test": int(test_types.shape[0])}


def train_dvae(config: DVAEConfig = DVAEConfig(), *, progress: bool = False) -> tuple[DVAE, dict]:
    """Train a D-VAE on ``config.n_train`` random valid topologies; returns (model, report).

    The report holds the per-epoch loss, the seconds per epoch and :func:`evaluate_dvae` on
    the held-out tenth. Used by the book chapter "MACRO: Table II, behaviour-level search".
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = topology_types(sample_topologies(config.n_train, rng, valid_only=True))
    n_test = max(1, config.n_train // 10)
    test, train = data[:n_test], data[n_test:]
    model = DVAE(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    g = torch.Generator().manual_seed(config.seed + 1)
    history, epoch_s = [], []
    epochs = range(config.epochs)
    if progress:
        from tqdm.auto import tqdm
        epochs = tqdm(epochs, desc="D-VAE", leave=False)
    for _ in epochs:
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(train.shape[0], generator=g)
        total = 0.0
        for i in range(0, train.shape[0], config.batch):
            batch = train[perm[i:i + config.batch]]
            loss, _, _ = model.loss(batch, generator=g)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * batch.shape[0]
        epoch_s.append(time.perf_counter() - t0)
        history.append(total / train.shape[0])
    report = {"loss": history, "epoch_seconds": float(np.median(epoch_s)) if epoch_s else 0.0,
              "config": asdict(config), **evaluate_dvae(model, test, seed=config.seed)}
    model.eval()
    return model, report


def save_dvae(model: DVAE, path: str | Path) -> Path:
    """Save the weights and config (atomically). Used by :mod:`macro.experiment`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save({"kind": "macro.dvae", "config": asdict(model.config),
                    "state_dict": model.state_dict()}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_dvae(path: str | Path) -> DVAE:
    """Load a D-VAE saved by :func:`save_dvae` (``weights_only=True``: data, never code)."""
    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise DVAEError(f"cannot read D-VAE weights {path}: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("kind") != "macro.dvae":
        raise DVAEError(f"{path} is not a D-VAE file of this project")
    try:
        model = DVAE(DVAEConfig(**blob["config"]))
        model.load_state_dict(blob["state_dict"])
    except (TypeError, KeyError, RuntimeError) as exc:
        raise DVAEError(f"{path}: D-VAE weights do not match: {exc}") from exc
    model.eval()
    return model


def latent_box(model: DVAE, types: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """A box around the encodings of ``types`` (per-dimension min/max widened by ``margin``
    standard deviations): the search space of BOBO. Shapes: -> (2, latent)."""
    mu, _ = model.embed(types)
    sd = mu.std(dim=0).clamp_min(1e-3)
    lo, hi = mu.min(dim=0).values - margin * sd, mu.max(dim=0).values + margin * sd
    if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise DVAEError("non-finite embeddings")
    return torch.stack([lo, hi])


__all__ = ["ALL_PAIRS", "DAG_NODES", "DVAE", "DVAEConfig", "DVAEError", "evaluate_dvae",
           "latent_box", "load_dvae", "pair_types", "save_dvae", "topology_types", "train_dvae"]
