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

#: Text sizes of the book's figures, in points. Figures are at most :data:`FIGURE_WIDTH` inches
#: wide: shown at the page's text width (about 690 pixels), 11 points are 16 pixels, the body
#: text's size.
FONT = {"font.size": 12, "axes.titlesize": 12, "axes.labelsize": 12, "xtick.labelsize": 11,
        "ytick.labelsize": 11, "legend.fontsize": 11, "figure.titlesize": 12}
FIGURE_WIDTH = 6.8

NODE_COLOURS = {"nmos": "#1f77b4", "pmos": "#d62728", "resistor": "#8c564b",
                "capacitor": "#2ca02c", "current_source": "#9467bd"}
NET_COLOURS = {"signal": "#333333", "bias": "#ff7f0e", "supply": "#bbbbbb"}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                   align: str | None = None) -> str:
    """A Markdown table (cells already formatted as strings, or numbers shown with ``str``); a
    ``|`` in a header or a cell is escaped, so that it cannot split the row."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), "| " + " | ".join(rule) + " |", *map(line, rows)])


def span(values, digits: int = 0, unit: str = "") -> str:
    """``"lo to hi"`` of the values that are not ``None`` (one value when they agree), ``"—"``
    when there are none: for sentences that quote a range of results (chapter "LoRA-RL:
    experiments")."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return "—"
    lo, hi = f"{values[0]:,.{digits}f}{unit}", f"{values[-1]:,.{digits}f}{unit}"
    return lo if lo == hi else f"{lo} to {hi}"


def listing(items) -> str:
    """The items joined by commas, ``"none"`` for no item (chapter "LoRA-RL: experiments")."""
    items = [str(i) for i in items]
    return ", ".join(items) if items else "none"


#: How each kind of design parameter is shown: unit and scale from SI.
UNITS = {"width": ("um", 1e6), "length": ("nm", 1e9), "current": ("uA", 1e6),
         "capacitance": ("pF", 1e12), "resistance": ("kOhm", 1e-3)}


def _escape(text: str) -> str:
    """Text as literal Markdown: emphasis and code characters escaped."""
    for char in "\\`*_[]<>":
        text = text.replace(char, "\\" + char)
    return text


def reference_sizing_table(amp, nodes: Sequence[str]) -> str:
    """The reference sizings of an amplifier as Markdown: a table with one row per design
    parameter (its devices, unit) and one column per node, the input common mode first, then the
    reasoning recorded with each sizing (``designed_for`` in ``circuits/amplifiers/*.json``).

    Used by the book chapter "Circuits, process models and simulation" (reference designs).
    """
    nodes = [n for n in nodes if n in amp.references]
    refs = {n: amp.reference(n) for n in nodes}
    rows = [["Vcm", "input common mode", "V", *(f"{refs[n].vcm:g}" for n in nodes)]]
    for p in amp.parameters:
        unit, scale = UNITS.get(p.kind, ("", 1.0))
        rows.append([f"`{p.name}`", p.description, unit,
                     *(f"{refs[n].params[p.name] * scale:.3g}" if p.name in refs[n].params
                       else "-" for n in nodes)])
    table = markdown_table(["parameter", "sizes", "unit", *nodes], rows,
                           "lll" + "r" * len(nodes))
    notes = "\n".join(f"- **{n}**: {_escape(refs[n].designed_for)}" for n in nodes
                       if refs[n].designed_for)
    return table + ("\n\n" + notes if notes else "")


def plot_device_characteristics(sweeps: Sequence[Sweep], multiples: Sequence[int],
                                detail: int = 2) -> Figure:
    """Id-Vgs, gm/Id versus current density, and intrinsic gain versus L, per node.

    ``sweeps`` holds, for each technology and polarity, sweeps at L = m * Lmin for ``multiples``
    (the smallest is taken as 1); the sweeps at L = ``detail`` * Lmin draw the first two panels.
    Two panels to a row, the legend in the fourth place, text at the book's sizes (:data:`FONT`).
    Used by the book chapter "Circuits, process models and simulation" (Figure 1).
    """
    with plt.rc_context(FONT):
        fig, grid = plt.subplots(2, 2, figsize=(FIGURE_WIDTH, 6.4), layout="constrained")
    axes = [grid[0, 0], grid[0, 1], grid[1, 0]]
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
                axes[2].loglog(m, g, style, color=colours[tech], ms=4,
                               label=f"{tech} {pol}MOS")
    with plt.rc_context(FONT):
        axes[0].set(xlabel="|Vgs| (V)", ylabel=f"|Id| (uA), W = {W * 1e6:g} um",
                    title=f"Id-Vgs, L = {detail} Lmin", ylim=(1e-6, None))
        axes[1].set(xlabel="|Id| / W (uA/um)", ylabel="gm/Id (1/V)",
                    title=f"gm/Id, L = {detail} Lmin")
        axes[2].set(xlabel="L / Lmin", ylabel="gm/gds",
                    title=f"intrinsic gain at gm/Id = {ANALOG_GM_ID:g}",
                    xticks=list(multiples), xticklabels=[str(m) for m in multiples])
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
            ax.tick_params(labelsize=FONT["xtick.labelsize"])
            ax.title.set_fontsize(FONT["axes.titlesize"])
            ax.xaxis.label.set_fontsize(FONT["axes.labelsize"])
            ax.yaxis.label.set_fontsize(FONT["axes.labelsize"])
        handles, labels = axes[2].get_legend_handles_labels()
        grid[1, 1].legend(handles, labels, loc="center", fontsize=FONT["legend.fontsize"],
                          frameon=False, title="solid NMOS, dashed PMOS",
                          title_fontsize=FONT["legend.fontsize"])
        grid[1, 1].set_axis_off()
    return fig


def plot_bode(results: Mapping[str, SimulationResult], title: str = "") -> Figure:
    """Open-loop magnitude and phase of several results (label -> result), text at the book's
    sizes (:data:`FONT`). Used by the book chapter "Circuits, process models and simulation"."""
    with plt.rc_context(FONT):
        fig, (mag, ph) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 5.8), sharex=True,
                                      layout="constrained")
        for label, r in results.items():
            if r.frequency is None or r.response is None:
                continue
            h = r.response
            line, = mag.semilogx(r.frequency, 20 * np.log10(np.abs(h)), label=label)
            phase = np.degrees(np.unwrap(np.angle(h)))
            ph.semilogx(r.frequency, phase - 360 * np.round(phase[0] / 360),
                        color=line.get_color())
            if r.ugbw_hz:
                mag.plot([r.ugbw_hz], [0], "o", color=line.get_color(), ms=5)
        mag.axhline(0, color="k", lw=0.6)
        ph.axhline(-180, color="k", lw=0.6)
        mag.set(ylabel="|A| (dB)", title=title)
        ph.set(xlabel="frequency (Hz)", ylabel="phase (deg)", ylim=(-270, 30))
        for ax in (mag, ph):
            ax.grid(True, which="both", alpha=0.3)
        mag.legend(ncol=2)
    return fig


def graph_layout(data) -> dict[int, tuple[float, float]]:
    """Positions of a circuit graph's nodes, by stage and device type instead of by springs.

    The column of a device is its distance from the load capacitor along *signal* edges, the
    output stage on the right and the input stage on the left; devices that no signal edge
    reaches (the bias network) take a column of their own at the far left. Within a column,
    PMOS devices are at the top, NMOS at the bottom and passive elements and current sources
    between them, as in a schematic. Returns ``{node index: (x, y)}``.
    """
    names = list(data.device_names)
    kinds = [NODE_TYPES_ORDER[int(k)] for k in data.node_type]
    signal: dict[int, set[int]] = {i: set() for i in range(len(names))}
    for (a, b), attr in zip(data.edge_index.t().tolist(), data.edge_attr.tolist(), strict=True):
        if int(np.argmax(attr[:3])) == 0:
            signal[a].add(b)
    load = len(names) - 1
    dist = {load: 0}
    todo = [load]
    while todo:
        nxt = []
        for a in todo:
            for b in sorted(signal[a]):
                if b not in dist:
                    dist[b] = dist[a] + 1
                    nxt.append(b)
        todo = nxt
    deepest = max(dist.values())
    column = {i: (deepest - dist[i] + 1 if i in dist else 0) for i in range(len(names))}
    rank = {"pmos": 0, "resistor": 1, "capacitor": 1, "current_source": 1, "nmos": 2}
    pos = {}
    for col in set(column.values()):
        members = sorted((i for i in column if column[i] == col),
                         key=lambda i: (rank[kinds[i]], _natural(names[i])))
        for k, i in enumerate(members):
            y = 1.0 - (k + 0.5) / len(members)
            pos[i] = (float(col), y)
    return pos


def _natural(name: str) -> tuple:
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


NODE_TYPES_ORDER = tuple(NODE_COLOURS)


def plot_circuit_graph(data, ax=None, title: str = "") -> Figure:
    """A circuit graph as the GCN sees it: devices coloured by type and named, edges coloured by
    net type, placed by stage and type (:func:`graph_layout`). Used by the book chapter
    "Circuits, process models and simulation"."""
    from matplotlib.patches import FancyArrowPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6), layout="constrained")
    else:
        fig = ax.figure
    names = list(data.device_names)
    kinds = [NODE_TYPES_ORDER[int(k)] for k in data.node_type]
    pos = graph_layout(data)
    edge_kind: dict[tuple[int, int], str] = {}
    for (a, b), attr in zip(data.edge_index.t().tolist(), data.edge_attr.tolist(), strict=True):
        if a < b:
            net = ("signal", "bias", "supply")[int(np.argmax(attr[:3]))]
            prev = edge_kind.get((a, b))
            # a signal or bias net shared with another pair wins over supply for the colour
            edge_kind[(a, b)] = net if prev in (None, "supply") else prev
    for kind in ("supply", "bias", "signal"):
        for (a, b), k in edge_kind.items():
            if k != kind:
                continue
            same_column = pos[a][0] == pos[b][0]
            ax.add_patch(FancyArrowPatch(
                pos[a], pos[b], arrowstyle="-", shrinkA=9, shrinkB=9,
                connectionstyle=f"arc3,rad={0.35 if same_column else 0.06}",
                color=NET_COLOURS[kind], lw=0.6 if kind == "supply" else 1.6,
                alpha=0.4 if kind == "supply" else 0.9, zorder=1))
    for i, (x, y) in pos.items():
        ax.plot([x], [y], "o", ms=13, color=NODE_COLOURS[kinds[i]], mec="white", mew=1.2,
                zorder=3)
        ax.annotate(names[i], (x, y), xytext=(9, 0), textcoords="offset points",
                    ha="left", va="center", fontsize=FONT["xtick.labelsize"], zorder=4,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                          "alpha": 0.8})
    columns = sorted({x for x, _ in pos.values()})
    if 0.0 in columns:
        ax.text(0.0, 1.06, "bias", ha="center", va="bottom", color="#777777", style="italic",
                fontsize=FONT["xtick.labelsize"])
    ax.set_xlim(min(columns) - 0.3, max(columns) + 0.75)
    ax.set_ylim(-0.05, 1.12)
    ax.set_title(title, fontsize=FONT["axes.titlesize"], loc="left")
    ax.axis("off")
    return fig


def plot_circuit_graphs(graphs: Mapping[str, object]) -> Figure:
    """Circuit graphs one above the other, with a legend of node and edge types at the top.
    Used by the book chapter "Circuits, process models and simulation"."""
    from matplotlib.lines import Line2D

    n = len(graphs)
    fig, axes = plt.subplots(n, 1, figsize=(FIGURE_WIDTH, 3.3 * n + 0.8),
                             layout="constrained", squeeze=False)
    for ax, (title, data) in zip(axes.flat, graphs.items(), strict=True):
        plot_circuit_graph(data, ax=ax, title=title)
    handles = [Line2D([], [], marker="o", ms=10, ls="", color=c, label=k.replace("_", " "))
               for k, c in NODE_COLOURS.items()]
    handles += [Line2D([], [], color=c, lw=2, label=f"{k} net") for k, c in NET_COLOURS.items()]
    fig.legend(handles=handles, loc="outside upper center", ncol=4,
               fontsize=FONT["legend.fontsize"], frameon=False)
    return fig
