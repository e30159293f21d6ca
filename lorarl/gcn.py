"""The GCN backbone with actor and critic heads (LoRA-RL section 3.2, after GCN-RL).

Devices are the graph's nodes and shared nets its edges (:func:`circuits.graph.circuit_graph`).
Each of the three graph convolutions uses the edge features (net type and DC voltage):

.. math::

    h_i' = \\sum_{j \\in \\mathcal{N}(i) \\cup \\{i\\}} \\frac{a_{ij}}{\\sqrt{\\hat d_i \\hat d_j}}
           \\Theta h_j
         + \\sum_{e = (j \\to i)} \\frac{1}{\\sqrt{\\hat d_i \\hat d_j}} \\Theta_e e_{ji} + b,
    \\qquad \\hat d_i = 1 + \\sum_j a_{ij},

where :math:`a_{ij}` counts the nets devices *i* and *j* share (the self-loop has weight 1 and no
edge feature). It is PyG's ``GCNConv`` (Kipf and Welling's symmetric normalisation) with an
edge-feature projection added to the messages. Every layer is convolution, layer norm, ReLU, at
hidden width 256.

One network serves every amplifier and node: the weights do not depend on the graph's size. A
circuit enters through a :class:`GraphLayout` (precomputed normalised adjacency, edge
aggregation, and which nodes each design parameter sizes). The actor reads the action of design
parameter *p* from the mean embedding of the nodes of the devices it sizes, with the parameter's
kind (width, length, current, capacitance, resistance) appended, so that ``w12`` and ``l12`` of
the same transistors get distinct actions. The critic appends the action to the node features
it sizes (one slot per kind) and reads Q from the mean and max of its node embeddings.

A minibatch of one circuit is one batched dense tensor ``(B, N, F)``: a convolution is two
matrix products against the cached ``(N, N)`` and ``(N, E)`` matrices.

Used by the book chapter "LoRA-RL: method" and by :mod:`lorarl.ddpg`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: Kinds of design parameters; the actor and critic tell parameters apart by them.
PARAM_KINDS = ("width", "length", "current", "capacitance", "resistance")
#: Node features of :mod:`circuits.graph` (10) and the four metrics appended to every node.
NODE_DIM = 10
METRIC_DIM = 4
EDGE_DIM = 4


def gcn_conv(x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor,
             weight: torch.Tensor, edge_weight: torch.Tensor, bias: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Edge-featured graph convolution, written out edge by edge (reference implementation).

    .. math::

        h_i' = \\frac{\\Theta h_i}{\\hat d_i}
             + \\sum_{e = (j \\to i)} \\frac{\\Theta h_j + \\Theta_e e_{ji}}{\\sqrt{\\hat d_i
               \\hat d_j}} + b, \\qquad \\hat d_i = 1 + |\\{e : e = (\\cdot \\to i)\\}|

    (PyG ``GCNConv`` with added self-loops and symmetric normalisation, plus an edge-feature
    term; LoRA-RL section 3.2). :class:`GCNConv` computes the same with cached dense matrices.

    Parameters
    ----------
    x : node features.
    edge_index : ``[source, target]`` rows; an undirected net appears in both directions.
    edge_attr : edge features.
    weight, edge_weight, bias : :math:`\\Theta`, :math:`\\Theta_e`, :math:`b`.

    Shapes
    ------
    x ``(N, F_in)``, edge_index ``(2, E)`` int64, edge_attr ``(E, F_e)``,
    weight ``(F_out, F_in)``, edge_weight ``(F_out, F_e)``, bias ``(F_out,)``;
    returns ``(N, F_out)``.

    Used by the book chapter "LoRA-RL: method" and the tests of the convolution.
    """
    n = x.shape[0]
    src, dst = edge_index[0], edge_index[1]
    deg = torch.ones(n, dtype=x.dtype).index_add_(0, dst, torch.ones_like(dst, dtype=x.dtype))
    h = x @ weight.t()
    norm = (deg[src] * deg[dst]).rsqrt()
    msg = norm[:, None] * (h[src] + edge_attr @ edge_weight.t())
    out = h / deg[:, None]
    out = out.index_add(0, dst, msg)
    return out if bias is None else out + bias


@dataclass(frozen=True)
class GraphLayout:
    """What does not change while one circuit is sized: its graph's normalised matrices.

    Attributes
    ----------
    adj : :math:`\\hat D^{-1/2}(A + I)\\hat D^{-1/2}`, ``(N, N)``.
    edge_agg : ``S[i, e] = 1/sqrt(d_i d_j)`` for edge ``e = (j -> i)``, ``(N, E)``.
    pool : ``(P, N)`` mean over the nodes each design parameter sizes.
    kinds : ``(P, K)`` one-hot kind of each parameter (:data:`PARAM_KINDS`).

    Used by the book chapter "LoRA-RL: method" and by :mod:`lorarl.ddpg`.
    """

    adj: torch.Tensor
    edge_agg: torch.Tensor
    pool: torch.Tensor
    kinds: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return self.adj.shape[0]

    @property
    def num_edges(self) -> int:
        return self.edge_agg.shape[1]

    @property
    def num_params(self) -> int:
        return self.pool.shape[0]

    @classmethod
    def build(cls, edge_index: torch.Tensor, num_nodes: int,
              param_nodes: Sequence[Sequence[int]], param_kinds: Sequence[str]) -> GraphLayout:
        """Precompute the layout of a circuit graph.

        Parameters
        ----------
        edge_index : ``(2, E)`` int64, as in :func:`circuits.graph.circuit_graph`.
        num_nodes : N.
        param_nodes : per design parameter, the node indices of the devices it sizes.
        param_kinds : per design parameter, its kind (one of :data:`PARAM_KINDS`).

        Raises
        ------
        ValueError
            On an empty or out-of-range node list, an unknown kind, or mismatched lengths.

        Used by :mod:`lorarl.train` and the book chapter "LoRA-RL: method".
        """
        edge_index = torch.as_tensor(edge_index, dtype=torch.long)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
            raise ValueError("edge_index refers to a node outside the graph")
        if len(param_nodes) != len(param_kinds):
            raise ValueError("param_nodes and param_kinds differ in length")
        src, dst = edge_index
        e = edge_index.shape[1]
        deg = torch.ones(num_nodes).index_add_(0, dst, torch.ones(e))
        norm = (deg[src] * deg[dst]).rsqrt()
        adj = torch.diag(1.0 / deg)
        adj.index_put_((dst, src), norm, accumulate=True)
        edge_agg = torch.zeros(num_nodes, e)
        edge_agg[dst, torch.arange(e)] = norm
        p = len(param_nodes)
        pool = torch.zeros(p, num_nodes)
        kinds = torch.zeros(p, len(PARAM_KINDS))
        for i, (nodes, kind) in enumerate(zip(param_nodes, param_kinds, strict=True)):
            nodes = [int(n) for n in nodes]
            if not nodes or min(nodes) < 0 or max(nodes) >= num_nodes:
                raise ValueError(f"design parameter {i} sizes no node of the graph: {nodes}")
            if kind not in PARAM_KINDS:
                raise ValueError(f"unknown parameter kind {kind!r}; known: {PARAM_KINDS}")
            k = PARAM_KINDS.index(kind)
            pool[i, nodes] = 1.0 / len(nodes)
            kinds[i, k] = 1.0
        return cls(adj=adj, edge_agg=edge_agg, pool=pool, kinds=kinds)


class GCNConv(nn.Module):
    """:func:`gcn_conv` on a batch of graphs of one circuit, with cached matrices.

    .. math:: H' = \\hat A\\, H \\Theta^\\top + S\\, E\\, \\Theta_e^\\top + b

    ``lin`` (:math:`\\Theta`) and ``lin_edge`` (:math:`\\Theta_e`) are bias-free ``nn.Linear``
    projections (LoRA adapters wrap them); the bias is added after aggregation as in PyG.

    Shapes
    ------
    h ``(B, N, F_in)``, adj ``(N, N)``, edge_feat ``(B, N, F_e)`` (= ``S @ edge_attr``);
    returns ``(B, N, F_out)``.

    Used by :class:`Backbone` (book chapter "LoRA-RL: method").
    """

    def __init__(self, in_dim: int, out_dim: int, edge_dim: int = EDGE_DIM) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.lin_edge = nn.Linear(edge_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, h: torch.Tensor, adj: torch.Tensor, edge_feat: torch.Tensor
                ) -> torch.Tensor:
        return torch.matmul(adj, self.lin(h)) + self.lin_edge(edge_feat) + self.bias


class Backbone(nn.Module):
    """Three (``layers``) edge-featured graph convolutions, each followed by layer norm and ReLU.

    Shapes
    ------
    h ``(B, N, in_dim)``, adj ``(N, N)``, edge_feat ``(B, N, EDGE_DIM)``;
    returns ``(B, N, hidden)``.

    Used by :class:`ActorCritic` (book chapter "LoRA-RL: method").
    """

    def __init__(self, in_dim: int, hidden: int = 256, layers: int = 3) -> None:
        super().__init__()
        if layers < 1 or hidden < 1:
            raise ValueError("the backbone needs at least one layer and a positive width")
        dims = [in_dim] + [hidden] * layers
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in itertools.pairwise(dims))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))

    def forward(self, h: torch.Tensor, adj: torch.Tensor, edge_feat: torch.Tensor
                ) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = torch.relu(norm(conv(h, adj, edge_feat)))
        return h


def encode(layout: GraphLayout, x: torch.Tensor, edge_attr: torch.Tensor,
           metrics: torch.Tensor) -> torch.Tensor:
    """The state tensor the networks read: node features, the metrics appended to every node,
    and the node's aggregated edge features :math:`S E` (computed once per observation, so
    that the replay buffer stores ``N x 18`` numbers per state instead of ``E x 4 + N x 10``).

    Shapes
    ------
    x ``(B, N, 10)``, edge_attr ``(B, E, 4)``, metrics ``(B, 4)``; returns
    ``(B, N, 10 + 4 + 4)``.

    Used by :mod:`lorarl.ddpg` (book chapter "LoRA-RL: method").
    """
    m = metrics[:, None, :].expand(-1, x.shape[1], -1)
    return torch.cat([x, m, torch.matmul(layout.edge_agg, edge_attr)], dim=-1)


STATE_DIM = NODE_DIM + METRIC_DIM + EDGE_DIM


class ActorHead(nn.Module):
    r"""The actor's read-out: one action per design parameter (LoRA-RL section 3.2).

    .. math:: \mu_p(s) = \tanh\big(w_2^\top \mathrm{ReLU}(W_1 [\bar h_p; k_p] + b_1) + b_2\big),
              \quad \bar h_p = \mathrm{mean}_{i \in \mathrm{nodes}(p)} h_i

    with :math:`k_p` the one-hot kind of parameter *p*.

    Shapes
    ------
    h ``(B, N, H)``; returns ``(B, P)`` in [-1, 1].

    Used by :class:`ActorCritic` (book chapter "LoRA-RL: method").
    """

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.lin1 = nn.Linear(hidden + len(PARAM_KINDS), hidden)
        self.lin2 = nn.Linear(hidden, 1)

    def forward(self, layout: GraphLayout, h: torch.Tensor) -> torch.Tensor:
        hp = torch.matmul(layout.pool, h)                                  # (B, P, H)
        kinds = layout.kinds.expand(h.shape[0], -1, -1)                    # (B, P, K)
        z = torch.relu(self.lin1(torch.cat([hp, kinds], dim=-1)))
        return torch.tanh(self.lin2(z)).squeeze(-1)


class CriticHead(nn.Module):
    r"""The critic's read-out :math:`Q(s, a)` (LoRA-RL section 3.2).

    .. math::

        g_p &= \mathrm{ReLU}(W_1 [\bar h_p; k_p; a_p] + b_1) \\
        Q &= w_3^\top \mathrm{ReLU}\big(W_2 [\mathrm{mean}_p\, g_p;
             \mathrm{mean}_i\, h_i] + b_2\big) + b_3

    Each parameter's action meets the embedding of the devices it sizes; the second layer
    mixes the parameters, so Q is not a sum of per-parameter terms.

    Shapes
    ------
    h ``(B, N, H)``, action ``(B, P)``; returns ``(B,)``.

    Used by :class:`ActorCritic` (book chapter "LoRA-RL: method").
    """

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.lin1 = nn.Linear(hidden + len(PARAM_KINDS) + 1, hidden)
        self.lin2 = nn.Linear(2 * hidden, hidden)
        self.lin3 = nn.Linear(hidden, 1)

    def forward(self, layout: GraphLayout, h: torch.Tensor, action: torch.Tensor
                ) -> torch.Tensor:
        hp = torch.matmul(layout.pool, h)                                  # (B, P, H)
        kinds = layout.kinds.expand(h.shape[0], -1, -1)
        g = torch.relu(self.lin1(torch.cat([hp, kinds, action[..., None]], dim=-1)))
        z = torch.relu(self.lin2(torch.cat([g.mean(dim=1), h.mean(dim=1)], dim=-1)))
        return self.lin3(z).squeeze(-1)


class ActorCritic(nn.Module):
    r"""GCN backbone with actor and critic heads: the network of GCN-RL that LoRA-RL adapts.

    One :class:`Backbone` embeds the state; :class:`ActorHead` reads the policy
    :math:`\mu(s)` and :class:`CriticHead` the value :math:`Q(s, a)` from the same node
    embeddings. In DDPG (:mod:`lorarl.ddpg`) the backbone learns from the critic's loss and the
    actor's loss trains the actor head on the (detached) embeddings, so one minibatch costs one
    backbone pass per network instead of four.

    Shapes
    ------
    state ``(B, N, 18)`` (:func:`encode`); :meth:`embed` returns ``(B, N, hidden)``,
    :meth:`policy` ``(B, P)``, :meth:`q` ``(B,)``.

    Used by :mod:`lorarl.ddpg` and the book chapter "LoRA-RL: method".
    """

    def __init__(self, hidden: int = 256, layers: int = 3) -> None:
        super().__init__()
        self.backbone = Backbone(NODE_DIM + METRIC_DIM, hidden, layers)
        self.actor = ActorHead(hidden)
        self.critic = CriticHead(hidden)

    def embed(self, layout: GraphLayout, state: torch.Tensor) -> torch.Tensor:
        """Node embeddings of the backbone."""
        return self.backbone(state[..., :-EDGE_DIM], layout.adj, state[..., -EDGE_DIM:])

    def policy(self, layout: GraphLayout, state: torch.Tensor) -> torch.Tensor:
        r""":math:`\mu(s)`."""
        return self.actor(layout, self.embed(layout, state))

    def q(self, layout: GraphLayout, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """:math:`Q(s, a)`."""
        return self.critic(layout, self.embed(layout, state), action)

    def forward(self, layout: GraphLayout, state: torch.Tensor, action: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu(s), Q(s, a))``, with ``a = mu(s)`` when ``action`` is ``None``."""
        h = self.embed(layout, state)
        mu = self.actor(layout, h)
        return mu, self.critic(layout, h, mu if action is None else action)
