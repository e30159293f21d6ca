"""Table III and Figures 6-8 of MACRO: the best behaviour-level designs at transistor level.

For each method and repeat of the behaviour-level experiment (:mod:`macro.experiment`), its
best design is mapped to 180 nm (:func:`macro.mapping.map_design`) and re-optimised by
constrained BO in ngspice (:func:`macro.reoptimise.reoptimise`, 20 + 50 points in full mode);
:func:`run_table_three` saves each as a run folder ``results/macro/transistor/<mode>/<method>-
exp<k>`` (resumable: a finished design whose inputs are unchanged is loaded, not redone), and
:func:`table_three` makes the rows of Table III with the averages, the FoM ratios MACRO/BOBO
and MACRO/RLBO (paper: 3.1x and 2.08x) and the degradation ratios, average transistor-level
FoM over average behaviour-level FoM (paper: 0.78 MACRO, 0.56 BOBO, 0.48 RLBO).

Figures 6-8 (:func:`figure_mapped`): the behaviour-level model of a design
(:func:`macro.plots.draw_topology`) above its transistor-level schematic, drawn by code
(:func:`draw_mapped`: one column per device, nets joined by name tags) with the circuits
:class:`~circuits.schematic.SchematicBuilder`, which checks every device and every net of the
drawing against the netlist.

Used by the book chapter "MACRO: transistor-level mapping" (``book/macro/transistor.ipynb``).
"""

from __future__ import annotations

import collections
import functools
import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from circuits import Amplifier
from circuits.runs import (
    code_dependencies,
    json_safe,
    load_run,
    project_root,
    provenance,
    results_root,
    save_run,
)

from .bo import BOConfig
from .design import Design
from .experiment import METHODS, load_runs
from .topology import Topology


@functools.cache
def dependencies() -> tuple[str, ...]:
    """The modules a Table III run depends on, recorded as its code fingerprint: this module
    with what it imports of ``macro`` and of ``circuits`` (the engine it simulates with)."""
    return tuple(code_dependencies(__name__))


@dataclass(frozen=True)
class TransistorConfig:
    """Inputs of the transistor-level stage of the experiment."""

    mode: str
    """``"full"`` (the paper's budget) or ``"quick"``."""
    tech: str = "180nm"
    """Technology of the mapping (IV-C: 180 nm)."""
    n_init: int = 20
    """Random initial points of the re-optimisation (IV-C: 20; the first is the mapping)."""
    n_iter: int = 50
    """BO iterations of the re-optimisation (IV-C: 50)."""
    seed: int = 0
    """Seed of the re-optimisation."""


def transistor_config(mode: str) -> TransistorConfig:
    """Full: 20 + 50 (the paper); quick: 3 + 1."""
    if mode == "full":
        return TransistorConfig("full")
    if mode == "quick":
        return TransistorConfig("quick", n_init=3, n_iter=1)
    raise ValueError(f"mode must be 'quick' or 'full', not {mode!r}")


def best_designs(mode: str, root: str | Path | None = None) -> list[dict]:
    """The best design of each method and repeat of the behaviour-level experiment in
    ``mode`` whose run is finished and current: ``{"method", "exp", "types", "values",
    "behaviour": {fom, gain_db, pm_deg, gbw_hz, power_w}}``, in method order (none when the
    experiment has no results yet)."""
    out = []
    for method, runs in load_runs(mode, root).items():
        for k, run in enumerate(runs):
            if run is None:
                continue
            best = (run.metrics or {}).get("best") or {}
            if not best.get("types"):
                continue
            out.append({"method": method, "exp": f"exp{k + 1}", "types": list(best["types"]),
                        "values": dict(best["values"]),
                        "behaviour": {key: best.get(key) for key in
                                      ("fom", "gain_db", "pm_deg", "gbw_hz", "power_w")}})
    return out


def run_name(mode: str, method: str, exp: str) -> str:
    """The run folder of one design's mapping and re-optimisation."""
    return f"macro/transistor/{mode}/{method}-{exp}"


def map_one(entry: dict, config: TransistorConfig, *, progress: bool = False) -> dict:
    """Map and re-optimise one best design (``entry`` from :func:`best_designs`); the record
    of :func:`macro.reoptimise.reoptimise` with the entry's fields added, or ``{"error"}``
    when the design cannot be mapped at all."""
    from .mapping import MappingError
    from .reoptimise import reoptimise

    design = Design(Topology(tuple(entry["types"])), entry["values"])
    bo = BOConfig(n_init=config.n_init, n_iter=config.n_iter, seed=config.seed)
    try:
        rec = reoptimise(design, config.tech, bo, progress=progress)
    except MappingError as e:
        rec = {"error": str(e)}
    return {**entry, **rec}


def run_table_three(mode: str, *, root: str | Path | None = None, progress: bool = False,
                    save: bool = True, compute: bool = True) -> list[dict]:
    """Map and re-optimise every best design of the experiment in ``mode``; each design is a
    run folder (saved when ``save``), loaded instead of redone when its inputs and the code it
    depends on are unchanged (with ``compute`` false, only the saved ones are returned, made by
    older code or not). Returns the records in method order."""
    config = transistor_config(mode)
    root = Path(root) if root is not None else results_root()
    out = []
    for entry in best_designs(mode, root):
        name = run_name(mode, entry["method"], entry["exp"])
        cfg = json_safe({**asdict(config), "design": {"types": entry["types"],
                                                       "values": entry["values"]}})
        run = load_run(name, cfg, root, list(dependencies()), current=compute)
        if run is not None:
            out.append(run.metrics)
            continue
        if not compute:
            continue
        started, t0 = datetime.now(UTC), time.perf_counter()
        rec = json.loads(json.dumps(json_safe(map_one(entry, config, progress=progress))))
        if save:
            prov = provenance(seed=config.seed, wall_s=time.perf_counter() - t0,
                              started=started, code=dependencies())
            save_run(name, cfg, rec, prov, root)
        out.append(rec)
    return out


def _row(rec: dict) -> dict:
    after = rec.get("after") or {}
    return {"method": rec["method"], "exp": rec["exp"], "fom": after.get("fom"),
            "gain_db": after.get("gain_db"), "pm_deg": after.get("pm_deg"),
            "gbw_mhz": None if after.get("gbw_hz") is None else after["gbw_hz"] / 1e6,
            "power_uw": None if after.get("power_w") is None else after["power_w"] * 1e6,
            "cl_nf": 10.0, "process_nm": 180, "behaviour_fom": rec["behaviour"].get("fom"),
            "mapped_fom": (rec.get("before") or {}).get("fom"),
            "mapped_meets_spec": (rec.get("before") or {}).get("meets_spec"),
            "error": rec.get("error")}


def table_three(records: list[dict]) -> dict[str, Any]:
    """Rows of Table III (per method exp1..expN, then ``avg`` over the repeats whose
    re-optimised design meets the specs), the ratios ``macro/bobo`` and ``macro/rlbo`` of the
    average FoMs, and the degradation ratio of each method: average transistor-level FoM over
    average behaviour-level FoM of the same repeats."""
    rows, degradation = [], {}
    keys = ("fom", "gain_db", "pm_deg", "gbw_mhz", "power_uw", "behaviour_fom")
    for method in METHODS:
        mine = [_row(r) for r in records if r["method"] == method]
        rows += mine
        found = [r for r in mine if r["fom"] is not None]
        avg = {k: float(np.mean([r[k] for r in found if r[k] is not None])) if found else None
               for k in keys}
        rows.append({"method": method, "exp": "avg", **avg})
        degradation[method] = (avg["fom"] / avg["behaviour_fom"]
                               if avg["fom"] and avg["behaviour_fom"] else None)
    avg = {r["method"]: r["fom"] for r in rows if r["exp"] == "avg"}
    ratios = {f"macro/{b}": (avg["macro"] / avg[b] if avg.get("macro") and avg.get(b)
                             else None) for b in ("bobo", "rlbo")}
    return {"rows": rows, "ratios": ratios, "degradation": degradation}


def failures(records: list[dict], most_common: int = 2) -> list[dict[str, Any]]:
    """Why a design's re-optimisation found no point meeting every spec, from its history:
    per such record, ``method``, ``exp``, ``points`` (evaluated), ``unmapped`` (the mapping
    refused them), ``simulated`` (mapped and simulated, specs missed), ``failed`` (mapped, the
    simulation failed) and ``common``: the ``most_common`` mapping refusals as
    ``(text, count)``, their numbers replaced by ``#`` so that alike cases count together.
    Records with a spec-meeting point, or without a history, are left out.

    Used by the book chapter "MACRO: transistor-level mapping" (under Table III).
    """
    number = re.compile(r"(?<![A-Za-z])[-+]?\d[\d.e+-]*")  # a number, not a stage's digit
    out = []
    for rec in records:
        hist = rec.get("history") or []
        if not hist or any(h.get("meets_spec") for h in hist):
            continue
        unmapped = [h["reason"] for h in hist if (h.get("reason") or "").startswith("mapping")]
        simulated = sum(1 for h in hist if h.get("fom") is not None)
        kinds = collections.Counter(number.sub("#", r.split(": ", 1)[-1]) for r in unmapped)
        out.append({"method": rec["method"], "exp": rec["exp"], "points": len(hist),
                    "unmapped": len(unmapped), "simulated": simulated,
                    "failed": len(hist) - len(unmapped) - simulated,
                    "common": kinds.most_common(most_common)})
    return out


def paper_table_three(path: str | Path | None = None) -> dict:
    """The paper's Table III as typed into ``book/macro/paper_table3.json`` (with its
    source)."""
    path = Path(path) if path else project_root() / "book" / "macro" / "paper_table3.json"
    return json.loads(path.read_text())


def _fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def table_three_rows(table: dict, paper: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of Table III with the paper's values beside ours ("ours / paper"), and
    the behaviour-level FoM of the same design, for :func:`macro.plots.markdown_table`. A
    repeat without a spec-meeting design after re-optimisation shows "–"."""
    ref = {(r["method"], r["exp"]): r for r in paper["rows"]}
    names = {"bobo": "BOBO", "rlbo": "RLBO", "macro": "MACRO"}
    cols = (("fom", ",.0f", ",.0f"), ("gain_db", ".1f", ".1f"), ("pm_deg", ".1f", ".1f"),
            ("gbw_mhz", ".2f", ".1f"), ("power_uw", ".1f", ".1f"))
    header = ["method", "", "FoM", "gain (dB)", "PM (deg)", "GBW (MHz)", "power (uW)",
              "behaviour-level FoM", "CL (nF)", "process (nm)"]
    out = []
    for r in table["rows"]:
        p = ref.get((r["method"], r["exp"]), {})
        cells = [f"{_fmt(r.get(c), f1)} / {_fmt(p.get(c), f2)}" for c, f1, f2 in cols]
        avg = r["exp"] == "avg"
        out.append([names[r["method"]], r["exp"], *cells, _fmt(r.get("behaviour_fom"), ",.0f"),
                    "–" if avg else "10", "–" if avg else "180"])
    return header, out


def plot_gmid(tables, lengths_um: tuple[float, ...] = (0.18, 0.36, 0.72, 1.44, 2.88)):
    """The gm/Id curves of both polarities at |Vds| = VDD/2: gm/Id against |Vgs|, current
    density and intrinsic gain against gm/Id, one line per length."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4), constrained_layout=True)
    for row, pol in enumerate(("n", "p")):
        t = tables[pol]
        mid = len(t.vds) // 2
        for length in lengths_um:
            i = int(np.argmin(np.abs(t.lengths - length * 1e-6)))
            g = t.gm_id[mid, i]
            on = g > 0
            label = f"L = {t.lengths[i] * 1e6:.2f} um"
            axes[row, 0].plot(t.vgs[on], g[on], label=label)
            peak = int(np.argmax(g))
            axes[row, 1].semilogy(g[peak:], t.jd[mid, i, peak:], label=label)
            axes[row, 2].plot(g[peak:], t.gain[mid, i, peak:], label=label)
        name = "NMOS" if pol == "n" else "PMOS"
        axes[row, 0].set(xlabel="|Vgs| (V)", ylabel="gm/Id (1/V)", title=f"{name}: gm/Id")
        axes[row, 1].set(xlabel="gm/Id (1/V)", ylabel="Id/W (A/m)",
                         title=f"{name}: current density")
        axes[row, 2].set(xlabel="gm/Id (1/V)", ylabel="gm/gds", title=f"{name}: intrinsic gain")
        for ax in axes[row]:
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    plt.close(fig)
    return fig


def example_run(types: list[int], n_init: int, n_iter: int, seed: int = 0,
                tech: str = "180nm") -> dict:
    """:func:`example_study` of the default design of the topology ``types`` with a budget of
    ``n_init + n_iter`` (keyword arguments only, for :func:`circuits.runs.load_or_run`)."""
    design = Design.default(Topology(tuple(types)))
    return example_study(design, TransistorConfig("full", tech, n_init, n_iter, seed), tech)


def example_study(design: Design, config: TransistorConfig, tech: str = "180nm") -> dict:
    """The chapter's worked example: the behaviour-level metrics of ``design`` (batched
    solver), the metrics of its plain mapping and of the re-optimised one (the record of
    :func:`macro.reoptimise.reoptimise` with ``behaviour`` added)."""
    from .reoptimise import reoptimise
    from .solver import evaluate

    ev = evaluate([design])[0]
    bo = BOConfig(n_init=config.n_init, n_iter=config.n_iter, seed=config.seed)
    rec = reoptimise(design, tech, bo)
    return {**rec, "types": list(design.topology.types), "values": dict(design.values),
            "behaviour": {"fom": ev.fom, "gain_db": ev.gain_db, "pm_deg": ev.pm_deg,
                          "gbw_hz": ev.gbw_hz, "power_w": ev.power_w}}


# -- Figures 6-8 -------------------------------------------------------------------------------

#: Column pitch of the schematic, devices per band, band height, and the rows of device
#: sources in a band (drawing units).
PITCH = 3.6
PER_BAND = 8
BAND = 12.5
Y_VSS, Y_VDD = 0.0, 9.0
ROWS = {("n", True): Y_VSS, ("n", False): 3.2, ("p", True): Y_VDD, ("p", False): 5.8}


def draw_mapped(amp: Amplifier, fontsize: float = 9.0):
    """The schematic of a mapped amplifier (a :class:`schemdraw.Drawing`), checked against
    its netlist: each transistor in its own column (NMOS sources on ``vss`` at the bottom,
    PMOS on ``vdd`` at the top, stacked devices between), every other net joined by name tags;
    passives and the bias source in columns of their own; :data:`PER_BAND` columns to a band,
    each band with its own supply rails, bands one below the other.

    Raises :class:`circuits.schematic.SchematicError` when the drawing does not match the
    netlist (a device or a net missing, two nets joined).
    """
    from circuits.schematic import SchematicBuilder

    b = SchematicBuilder(amp, fontsize=fontsize)
    devices = list(amp.subckt.devices)
    n_bands = -(-len(devices) // PER_BAND)
    width = PITCH * PER_BAND
    for k in range(n_bands):
        b.rail("vdd", Y_VDD - k * BAND, -1.5, width)
        b.rail("vss", Y_VSS - k * BAND, -1.5, width)
    rails = {"vdd", "vss"}
    pins = {"inp", "inn", "out"}
    drawn_pins: set[str] = set()

    def connect(ref: str, net: str, side: str) -> None:
        if net in rails:
            b.to_rail(ref, net)
        else:
            b.tag(ref, side=side)
            if net in pins and net not in drawn_pins:  # the pin once, beside a tag
                b.pin(ref, net, side={"left": "down"}.get(side, "left"), length=0.7)
                drawn_pins.add(net)

    for k, d in enumerate(devices):
        x, y0 = PITCH * (k % PER_BAND + 0.5), -BAND * (k // PER_BAND)
        name = d.name
        if d.kind == "M":
            pol = "n" if (d.model or "").lower() == "nch" else "p"
            drain, gate, source = (n.lower() for n in d.nodes[:3])
            b.mos(name, (x, y0 + ROWS[(pol, source in rails)]), gate="left")
            up, down = ("up", "down") if pol == "n" else ("down", "up")
            connect(f"{name}.d", drain, up)
            connect(f"{name}.g", gate, "left")
            connect(f"{name}.s", source, down)
        else:
            a, c = (n.lower() for n in d.nodes[:2])
            b.element(name, (x, y0 + 6.3), (x, y0 + 2.7))
            connect(f"{name}.p", a, "up")
            connect(f"{name}.n", c, "down")
    b.check()
    b.mark_junctions()
    return b.drawing


def figure_mapped(design: Design, amp: Amplifier, title: str = ""):
    """A figure of the paper's Figures 6-8: the behaviour-level model above its transistor-
    level schematic (:func:`draw_mapped`)."""
    import matplotlib.pyplot as plt

    from .plots import draw_topology

    drawing = draw_mapped(amp)
    bb = drawing.get_bbox()
    w, h = bb.xmax - bb.xmin + 1.6, bb.ymax - bb.ymin + 1.6
    width = 12.0
    fig = plt.figure(figsize=(width, 3.4 + width * h / w))
    top_h = 3.4 / (3.4 + width * h / w)
    ax1 = fig.add_axes((0.2, 1 - top_h, 0.6, top_h * 0.95))
    draw_topology(design.topology, ax=ax1, title=title + " behaviour-level model")
    ax2 = fig.add_axes((0.0, 0.0, 1.0, 1 - top_h))
    drawing.draw(show=False, canvas=ax2)
    ax2.set_xlim(bb.xmin - 0.8, bb.xmax + 0.8)
    ax2.set_ylim(bb.ymin - 0.8, bb.ymax + 0.8)
    ax2.set_aspect("equal")
    ax2.set_axis_off()
    plt.close(fig)
    return fig


__all__ = [
    "TransistorConfig",
    "best_designs",
    "dependencies",
    "draw_mapped",
    "example_run",
    "example_study",
    "failures",
    "figure_mapped",
    "map_one",
    "paper_table_three",
    "plot_gmid",
    "run_name",
    "run_table_three",
    "table_three",
    "table_three_rows",
    "transistor_config",
]
