"""Figures of the book chapter "Circuits, process models and simulation".

Every function returns a :class:`matplotlib.figure.Figure` built from simulation results; the
notebook only calls and glues them. Tables come as Markdown text (:func:`markdown_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .characterize import ANALOG_GM_ID, Sweep, W
from .results import SimulationResult

NODE_COLOURS = {"nmos": "#1f77b4", "pmos": "#d62728", "resistor": "#8c564b",
                "capacitor": "#2ca02c", "current_source": "#9467bd"}
NET_COLOURS = {"signal": "#333333", "bias": "#ff7f0e", "supply": "#bbbbbb"}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                   align: str | None = None) -> str:
    """A Markdown table (cells already formatted as strings, or numbers shown with ``str``)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_device_characteristics(sweeps: Sequence[Sweep], multiples: Sequence[int],
                                detail: int = 2) -> Figure:
    """Id-Vgs, gm/Id versus current density, and intrinsic gain versus L, per node.

    ``sweeps`` holds, for each technology and polarity, sweeps at L = m * Lmin for ``multiples``
    (the smallest is taken as 1); the sweeps at L = ``detail`` * Lmin draw the first two panels.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    techs = list(dict.fromkeys(s.tech for s in sweeps))
    colours = dict(zip(techs, plt.cm.viridis(np.linspace(0, 0.85, len(techs))), strict=True))
    for s in sweeps:
        style = "-" if s.polarity == "n" else "--"
        lmin = min(x.length for x in sweeps if x.tech == s.tech)
        if np.isclose(s.length, detail * lmin):
            label = f"{s.tech} {s.polarity}MOS"
            axes[0].semilogy(s.vgs, s.id * 1e6, style, color=colours[s.tech], label=label)
            ok = s.id > 1e-13
            axes[1].semilogx(s.id[ok] * 1e6, s.gm_over_id[ok], style,
                             color=colours[s.tech], label=label)
    for tech in techs:
        for pol, style in (("n", "o-"), ("p", "s--")):
            pts = [(x.length / min(y.length for y in sweeps if y.tech == tech),
                    x.at_gm_over_id(ANALOG_GM_ID)[0])
                   for x in sweeps if x.tech == tech and x.polarity == pol]
            if pts:
                m, g = zip(*sorted(pts), strict=True)
                axes[2].loglog(m, g, style, color=colours[tech], label=f"{tech} {pol}MOS")
    axes[0].set(xlabel="|Vgs| (V)", ylabel=f"|Id| (uA), W = {W * 1e6:g} um",
                title=f"Id-Vgs, L = {detail} Lmin", ylim=(1e-6, None))
    axes[1].set(xlabel="|Id| / W (uA/um)", ylabel="gm/Id (1/V)", title=f"gm/Id, L = {detail} Lmin")
    axes[2].set(xlabel="L / Lmin", ylabel="gm/gds",
                title=f"intrinsic gain at gm/Id = {ANALOG_GM_ID:g}",
                xticks=list(multiples), xticklabels=[str(m) for m in multiples])
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[2].legend(fontsize=7, ncol=2)
    axes[0].legend(fontsize=7, ncol=2)
    return fig


def plot_bode(results: Mapping[str, SimulationResult], title: str = "") -> Figure:
    """Open-loop magnitude and phase of several results (label -> result)."""
    fig, (mag, ph) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True, layout="constrained")
    for label, r in results.items():
        if r.frequency is None or r.response is None:
            continue
        h = r.response
        line, = mag.semilogx(r.frequency, 20 * np.log10(np.abs(h)), label=label)
        phase = np.degrees(np.unwrap(np.angle(h)))
        ph.semilogx(r.frequency, phase - 360 * np.round(phase[0] / 360), color=line.get_color())
        if r.ugbw_hz:
            mag.plot([r.ugbw_hz], [0], "o", color=line.get_color(), ms=4)
    mag.axhline(0, color="k", lw=0.6)
    ph.axhline(-180, color="k", lw=0.6)
    mag.set(ylabel="|A| (dB)", title=title)
    ph.set(xlabel="frequency (Hz)", ylabel="phase (deg)", ylim=(-270, 30))
    for ax in (mag, ph):
        ax.grid(True, which="both", alpha=0.3)
    mag.legend(fontsize=7, ncol=2)
    return fig


def plot_circuit_graph(data, ax=None, title: str = "") -> Figure:
    """A circuit graph as the GCN sees it: devices coloured by type, edges by net type."""
    import networkx as nx

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4), layout="constrained")
    else:
        fig = ax.figure
    g = nx.MultiGraph()
    names = list(data.device_names)
    g.add_nodes_from(range(len(names)))
    kinds = [list(NODE_COLOURS)[int(k)] for k in data.node_type]
    edge_kind = {}
    for (a, b), attr in zip(data.edge_index.t().tolist(), data.edge_attr.tolist(), strict=True):
        if a < b:
            net = ("signal", "bias", "supply")[int(np.argmax(attr[:3]))]
            g.add_edge(a, b)
            # a signal or bias net shared with another pair wins over supply for the colour
            prev = edge_kind.get((a, b))
            edge_kind[(a, b)] = net if prev in (None, "supply") else prev
    simple = nx.Graph(g)
    pos = nx.kamada_kawai_layout(simple)
    for kind in ("supply", "bias", "signal"):
        edges = [e for e, k in edge_kind.items() if k == kind]
        nx.draw_networkx_edges(simple, pos, edgelist=edges, ax=ax, edge_color=NET_COLOURS[kind],
                               width=1.6 if kind != "supply" else 0.8)
    nx.draw_networkx_nodes(simple, pos, ax=ax, node_size=560,
                           node_color=[NODE_COLOURS[k] for k in kinds])
    nx.draw_networkx_labels(simple, pos, {i: n for i, n in enumerate(names)}, ax=ax,
                            font_size=7.5, font_color="white")
    ax.set_title(title, fontsize=11)
    ax.axis("off")
    return fig


def plot_circuit_graphs(graphs: Mapping[str, object]) -> Figure:
    """Circuit graphs two to a row, with a legend of node and edge types."""
    from matplotlib.lines import Line2D

    ncols = min(2, len(graphs))
    nrows = -(-len(graphs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 5.0 * nrows),
                             layout="constrained", squeeze=False)
    for ax, (title, data) in zip(axes.flat, graphs.items(), strict=False):
        plot_circuit_graph(data, ax=ax, title=title)
    for ax in list(axes.flat)[len(graphs):]:
        ax.set_axis_off()
    handles = [Line2D([], [], marker="o", ls="", color=c, label=k.replace("_", " "))
               for k, c in NODE_COLOURS.items()]
    handles += [Line2D([], [], color=c, label=f"{k} net") for k, c in NET_COLOURS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    return fig
