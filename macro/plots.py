"""Figures and tables of the MACRO chapters, drawn from code.

* :func:`draw_topology` and :func:`draw_dag`: a behaviour-level topology as a circuit of gm
  stages and passives, and as the DAG of Fig. 1(b) (:func:`figure_one` puts them side by side);
* :func:`plot_responses`: the open-loop response of designs from both simulators;
* :func:`plot_validation`: the agreement of the batched solver with ngspice and the speeds;
* :func:`markdown_table`: a Markdown table for ``IPython.display.Markdown``.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon

from .topology import CONNECTION_TYPES, NODES, TUNABLE_PAIRS, Topology

_X = {"vin": 0.0, "n1": 2.0, "n2": 4.0, "vout": 6.0}
_GND_Y = -2.2
_COLORS = {"ff": "tab:blue", "fb": "tab:red", "": "tab:green"}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]],
                   align: str = "") -> str:
    """A Markdown table; ``align`` has one of ``l r c`` per column (default left)."""
    align = align or "l" * len(header)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _stage(ax, x0: float, x1: float, y: float, label: str, color: str = "black") -> None:
    """A gm stage as an amplifier triangle between x0 and x1 at height y."""
    w = (x1 - x0) * 0.32
    xm = (x0 + x1) / 2
    ax.add_patch(Polygon([[xm - w, y - 0.32], [xm - w, y + 0.32], [xm + w, y]], closed=True,
                         fill=False, ec=color, lw=1.5))
    ax.plot([x0, xm - w], [y, y], color=color, lw=1.2)
    ax.plot([xm + w, x1], [y, y], color=color, lw=1.2)
    ax.text(xm - w * 0.35, y, label, ha="center", va="center", fontsize=8, color=color)


def draw_topology(topology: Topology, ax=None, title: str | None = None):
    """The behaviour-level circuit: nodes ``vin n1 n2 vout`` in a row, the main stages between
    them, the load at ``vout``, each tunable connection as an arc (node pairs) or a branch to
    ground, labelled with its Table I type (blue feed-forward, red feedback, green passive)."""
    ax = ax or plt.subplots(figsize=(7, 3.6))[1]
    for k, (a, b, sign) in enumerate((("vin", "n1", "+"), ("n1", "n2", "-"),
                                      ("n2", "vout", "+")), start=1):
        _stage(ax, _X[a], _X[b], 0.0, f"{sign}g{k}")
    ax.plot([-0.3, 6.8], [_GND_Y, _GND_Y], color="0.3", lw=1.5)
    ax.plot([_X["vout"], _X["vout"]], [0, _GND_Y], color="0.3", lw=1)
    ax.text(_X["vout"] + 0.1, _GND_Y / 2, "R_L || C_L", fontsize=8, va="center")
    for n, x in _X.items():
        ax.plot([x], [0], "o", color="black", ms=5, zorder=3)
        ax.text(x, 0.22, n, ha="center", va="bottom", fontsize=9, fontweight="bold")
    ax.text(6.75, _GND_Y - 0.25, "gnd", ha="right", va="top", fontsize=9, fontweight="bold")
    heights = {("vin", "n2"): 1.0, ("vin", "vout"): 2.0, ("n1", "vout"): 1.45}
    for pair, t in zip(TUNABLE_PAIRS, topology.types, strict=True):
        if not t:
            continue
        conn = CONNECTION_TYPES[t]
        color = _COLORS[conn.direction]
        label = f"{t}: {conn.label}"
        a, b = pair
        if b == "gnd":
            x = _X[a]
            ax.plot([x, x], [0, _GND_Y], color=color, lw=1.4)
            ax.text(x + 0.08, _GND_Y / 2, label, fontsize=8, color=color, va="center")
            continue
        h = heights[pair]
        x0, x1 = _X[a], _X[b]
        xs = np.linspace(x0, x1, 60)
        ys = h * np.sin(np.pi * (xs - x0) / (x1 - x0)) ** 0.6
        ax.plot(xs, ys, color=color, lw=1.4)
        if conn.direction:
            i = 40 if conn.direction == "ff" else 20
            ax.annotate("", xy=(xs[i + 1], ys[i + 1]), xytext=(xs[i], ys[i]),
                        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.2})
        ax.text((x0 + x1) / 2, h + 0.08, label, ha="center", va="bottom", fontsize=8,
                color=color)
    ax.set_xlim(-0.6, 7.4)
    ax.set_ylim(_GND_Y - 0.6, 2.6)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_dag(topology: Topology, ax=None, title: str | None = None):
    """The DAG of Fig. 1(b): the five nodes in topological order on a line, an arrow for each
    connection present (main stages straight and black; tunable ones as arcs, above the line
    between circuit nodes and below it to ``gnd``, coloured as in :func:`draw_topology`),
    labelled with its type."""
    ax = ax or plt.subplots(figsize=(5, 3.6))[1]
    g = topology.graph()
    xs = {i: 1.4 * i for i in range(len(NODES))}
    for i, j, label in g.edges:
        if isinstance(label, str):
            color, text = "black", label
        else:
            conn = CONNECTION_TYPES[label]
            color, text = _COLORS[conn.direction], str(label)
        x0, x1 = xs[i], xs[j]
        if j == i + 1:
            ax.annotate("", xy=(x1 - 0.3, 0), xytext=(x0 + 0.3, 0),
                        arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.3})
            ax.text((x0 + x1) / 2, 0.08, text, ha="center", va="bottom", fontsize=8,
                    color=color)
            continue
        up = 1 if NODES[j] != "gnd" else -1
        h = up * 0.45 * (j - i)
        t = np.linspace(0, 1, 80)
        px = x0 + (x1 - x0) * t
        py = h * np.sin(np.pi * t) + up * 0.3 * np.sin(np.pi * t) ** 0.2
        keep = (np.hypot(px - x0, py) > 0.3) & (np.hypot(px - x1, py) > 0.3)
        px, py = px[keep], py[keep]
        ax.plot(px[:-1], py[:-1], color=color, lw=1.3)
        ax.annotate("", xy=(px[-1], py[-1]), xytext=(px[-3], py[-3]),
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.3})
        k = int(np.argmax(np.abs(py)))
        ax.text(px[k], py[k] + (0.06 if up > 0 else -0.06), text, ha="center",
                va="bottom" if up > 0 else "top", fontsize=8, color=color)
    for i, name in enumerate(NODES):
        ax.add_patch(plt.Circle((xs[i], 0), 0.3, fc="white", ec="black", lw=1.2, zorder=3))
        ax.text(xs[i], 0, name, ha="center", va="center", fontsize=8, zorder=4)
    ax.set_xlim(-0.5, xs[len(NODES) - 1] + 0.5)
    ax.set_ylim(-1.9, 2.0)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def figure_one(topology: Topology):
    """Fig. 1(a)-(b) for ``topology``: the circuit and its DAG."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [7, 5]})
    draw_topology(topology, a, "(a) behaviour-level op-amp")
    draw_dag(topology, b, "(b) its DAG")
    fig.tight_layout()
    return fig


def plot_responses(frequency: np.ndarray, curves: dict[str, np.ndarray], styles=None):
    """Magnitude (dB) and unwrapped phase (deg) of complex responses ``label -> (F,)``."""
    fig, (am, ap) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    styles = styles or {}
    for label, h in curves.items():
        kw = styles.get(label, {})
        am.semilogx(frequency, 20 * np.log10(np.abs(h)), label=label, **kw)
        ap.semilogx(frequency, np.degrees(np.unwrap(np.angle(h))), label=label, **kw)
    am.axhline(0, color="0.6", lw=0.8)
    am.set_ylabel("|H| (dB)")
    ap.set_ylabel("phase (deg)")
    ap.set_xlabel("frequency (Hz)")
    am.legend(fontsize=8)
    for a in (am, ap):
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_validation(validation: dict, speed: dict):
    """The batched solver against ngspice: |difference| of gain, GBW and PM per measurable
    design (sorted, log scale, tolerance dashed) and the designs per second of both."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    tiny = 1e-16
    for ax, key, unit, tol in ((axes[0], "d_gain_db", "|Δ gain| (dB)", "gain_db"),
                               (axes[1], "d_gbw_rel", "|Δ GBW| / GBW", "gbw_rel"),
                               (axes[2], "d_pm_deg", "|Δ PM| (deg)", "pm_deg")):
        d = np.sort(np.maximum(np.abs(np.asarray(validation[key], dtype=float)), tiny))
        ax.semilogy(np.arange(1, d.size + 1), d, ".", ms=3)
        ax.axhline(validation["summary"][tol]["tolerance"], color="tab:red", ls="--", lw=1,
                   label="tolerance")
        ax.set_xlabel("design (sorted)")
        ax.set_ylabel(unit)
        ax.set_ylim(tiny / 2, 10 * validation["summary"][tol]["tolerance"])
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    rates = [speed["batched_designs_per_s"], speed["batched_whole_grid_designs_per_s"],
             speed["ngspice_designs_per_s"]]
    bars = axes[3].bar(["batched", "batched,\nwhole grid", "ngspice"], rates,
                       color=["tab:blue", "tab:cyan", "tab:orange"])
    axes[3].set_yscale("log")
    axes[3].set_ylabel("designs / s")
    for bar, r in zip(bars, rates, strict=True):
        axes[3].text(bar.get_x() + bar.get_width() / 2, r * 1.1, f"{r:,.0f}", ha="center",
                     fontsize=8)
    axes[3].set_ylim(min(rates) / 3, max(rates) * 5)
    fig.tight_layout()
    return fig


__all__ = ["draw_dag", "draw_topology", "figure_one", "markdown_table", "plot_responses",
           "plot_validation"]
