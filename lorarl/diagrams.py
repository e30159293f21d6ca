"""The paper's Figures 1 and 2 redrawn by code (matplotlib), from the networks this package builds.

:func:`draw_lora_transfer` is LoRA-RL's Figure 1 (a backbone pre-trained on the reference
circuit; only low-rank adapters trained on a new circuit or node), with the layer sizes read
from an :class:`lorarl.gcn.ActorCritic`. :func:`draw_gcn_agent` is its Figure 2 (the reinforcement
learning agent with a multi-layer GCN, in the loop with the simulator).

Used by the book chapter "LoRA-RL: method".
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .gcn import ActorCritic, GCNConv

TRAIN = "#f4a259"
FROZEN = "#b8c4d6"
ADAPT = "#5b8e7d"
ENV = "#bc4b51"
INK = "#2b2d42"


def _box(ax, x, y, w, h, text, color, fontsize=8, **kw):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.05",
                                fc=color, ec=INK, lw=1, **kw))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, color=INK)


def _arrow(ax, a, b, text="", color=INK, style="-|>", rad=0.0, fontsize=7, offset=(0, 0.08)):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=10, color=color, lw=1.1,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1], text,
                ha="center", va="bottom", fontsize=fontsize, color=color)


def _layers(net: ActorCritic) -> list[tuple[str, int, int]]:
    """(name, d_in, d_out) of the network's main projections, in order."""
    out = []
    for i, conv in enumerate(m for m in net.modules() if isinstance(m, GCNConv)):
        out.append((f"GCN {i + 1}", conv.lin.in_features, conv.lin.out_features))
    out.append(("actor / critic heads", net.actor.lin1.in_features, net.actor.lin1.out_features))
    return out


def draw_lora_transfer(net: ActorCritic | None = None, r: int = 4, alpha: float = 1.0,
                       pretrain_episodes: int | None = None):
    """LoRA-RL Figure 1: pre-train every weight on the reference circuit, then freeze the
    backbone and train rank-``r`` adapters :math:`W_0 + (\\alpha/r) B A` on a new circuit or node.

    Returns the matplotlib figure. Used by the book chapter "LoRA-RL: method".
    """
    layers = _layers(net or ActorCritic())
    fig, ax = plt.subplots(figsize=(9.5, 4.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.2, 5.2)
    ax.axis("off")
    h, gap, y0 = 0.62, 0.3, 0.6
    ax.text(1.6, 4.95, "Phase 1: pre-train (all weights)\nreference circuit A, older node",
            ha="center", va="top", fontsize=9, weight="bold", color=INK)
    ax.text(6.9, 4.95, "Phase 2: transfer (adapters only)\ncircuits A-D, smaller nodes",
            ha="center", va="top", fontsize=9, weight="bold", color=INK)
    for k, (name, din, dout) in enumerate(layers):
        y = y0 + k * (h + gap)
        _box(ax, 0.4, y, 2.4, h, f"{name}\n$W$ {dout}x{din} (trained)", TRAIN)
        _box(ax, 4.4, y, 2.4, h, f"{name}\n$W_0$ {dout}x{din} (frozen)", FROZEN)
        _box(ax, 7.2, y + 0.08, 0.9, h - 0.16, f"$A$\n{r}x{din}", ADAPT, fontsize=7)
        _box(ax, 8.4, y + 0.08, 0.9, h - 0.16, f"$B$\n{dout}x{r}", ADAPT, fontsize=7)
        _arrow(ax, (8.1, y + h / 2), (8.4, y + h / 2))
        _arrow(ax, (7.2, y + h / 2), (6.8, y + h / 2), style="<|-")
        if k:
            _arrow(ax, (1.6, y - gap), (1.6, y))
            _arrow(ax, (5.6, y - gap), (5.6, y))
    top = y0 + len(layers) * (h + gap) - gap
    _arrow(ax, (2.9, top / 2 + 0.3), (4.3, top / 2 + 0.3), "copy $W_0$, freeze,\n"
           "empty buffer", offset=(0, 0.1))
    ax.text(8.25, y0 - 0.35, f"$W = W_0 + \\frac{{\\alpha}}{{r}} B A$,  r = {r}, "
            f"$\\alpha$ = {alpha:g};  B = 0 at the start", ha="center", va="top", fontsize=8,
            color=INK)
    ax.text(1.6, y0 - 0.35, "DDPG, every weight trained" + (
        f", ~{pretrain_episodes:,} episodes" if pretrain_episodes else ""),
        ha="center", va="top", fontsize=8, color=INK)
    return fig


def draw_gcn_agent():
    """LoRA-RL Figure 2: the reinforcement-learning agent with a multi-layer GCN (GCN-RL) in the
    loop with the simulator.

    Returns the matplotlib figure. Used by the book chapter "LoRA-RL: method".
    """
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.4)
    ax.axis("off")
    _box(ax, 0.2, 1.6, 1.7, 1.3, "ngspice\n(circuit, node)\nop + ac", ENV, fontsize=8)
    # the state: a small device graph and the metrics
    ax.text(2.95, 4.05, "state $s$", ha="center", fontsize=8, color=INK)
    pts = [(2.5, 3.6), (3.3, 3.7), (2.7, 2.9), (3.4, 3.0), (3.0, 2.3)]
    for a, b in [(0, 1), (0, 2), (1, 3), (2, 3), (2, 4), (3, 4)]:
        ax.plot([pts[a][0], pts[b][0]], [pts[a][1], pts[b][1]], color=INK, lw=0.8)
    for x, y in pts:
        ax.add_patch(plt.Circle((x, y), 0.13, fc=FROZEN, ec=INK, lw=0.8))
    ax.text(2.95, 1.75, "devices = nodes (type, W, L, R, C, I)\nnets = edges (type, DC V)\n"
            "+ gain, GBW, PM, power", ha="center", va="top", fontsize=6.5, color=INK)
    _arrow(ax, (1.9, 2.6), (2.3, 3.0))
    for k in range(3):
        _box(ax, 4.2 + k * 0.95, 2.2, 0.8, 1.4, f"GCN\n{k + 1}\n+LN\n+ReLU", TRAIN, fontsize=7)
        if k:
            _arrow(ax, (4.2 + k * 0.95 - 0.15, 2.9), (4.2 + k * 0.95, 2.9))
    _arrow(ax, (3.6, 3.0), (4.2, 2.9))
    _box(ax, 7.3, 3.1, 1.3, 0.8, "actor $\\mu(s)$\nper-parameter\nread-out", TRAIN, fontsize=7)
    _box(ax, 7.3, 1.5, 1.3, 0.8, "critic\n$Q(s, a)$", TRAIN, fontsize=7)
    _arrow(ax, (7.0, 3.1), (7.3, 3.4))
    _arrow(ax, (7.0, 2.5), (7.3, 2.0))
    _arrow(ax, (8.6, 3.5), (9.4, 3.5))
    ax.text(9.55, 3.5, "action\n$\\Delta x$\n+ noise", ha="center", va="center", fontsize=7,
            color=INK)
    _arrow(ax, (9.55, 3.95), (1.05, 2.95), "next sizing", rad=0.22, offset=(0, 0.95))
    _arrow(ax, (9.5, 3.1), (8.6, 2.0), rad=-0.2)
    _box(ax, 3.6, 0.2, 2.8, 0.75, "replay buffer $(s, a, r, s')$\nminibatch = one graph batch",
         FROZEN, fontsize=7)
    _arrow(ax, (1.05, 1.6), (3.6, 0.6), "reward $r = \\Delta$FoM $-$ penalty", rad=0.15,
           offset=(-0.6, -0.05))
    _arrow(ax, (6.4, 0.6), (7.9, 1.5), "updates", rad=0.2, offset=(0.2, -0.25))
    return fig
