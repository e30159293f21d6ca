"""Transistor-level re-optimisation of a mapped design by constrained BO in ngspice (MACRO IV-C).

After the gm/Id mapping (:mod:`macro.mapping`) a design loses some of its behaviour-level
performance; the paper re-tunes it with the weighted-EI BO it uses for sizing (20 initial
points and 50 iterations). Here the search space is

====================  ===========================  ==========================================
``gm_id_input``       8 - 22 /V                    gm/Id of the input pairs
``gm_id_stage``       6 - 16 /V                    gm/Id of the common-source drivers
``gm_id_mirror``      4 - 10 /V                    gm/Id of mirrors, tails and loads
``log_l_bias``        log10(6 Lmin) - log10(24 Lmin)  length of mirrors, tails and loads
``log_gain_scale``    log10(0.5) - log10(2)        every stage's target gain ``gm R`` times
                                                   this factor (so every solved length moves)
``log_<passive>``     log10 of its Table I bounds  each R and C of the topology
====================  ===========================  ==========================================

and every point is mapped again (:func:`macro.mapping.map_design`) and simulated in the
open-loop bench with the 10 nF load. The objective is ``log10 FoM`` (equation (2): GBW[MHz] *
CL[pF] / P[mW], power from ngspice's supply current); the constraints are the specs of IV-C,
``(gain - 85 dB) / 85 dB``, ``(PM - 55) / 55``, ``log10(GBW / 0.7 MHz)`` and ``log10(250 uW /
P)``, each met when >= 0. A point the mapping cannot realise, or whose simulation fails, is a
failed evaluation (NaN), which :class:`macro.bo.ConstrainedBO` keeps as data. The first
initial point is the mapping's default targets with the design's own passives, so the result
is never worse than the plain mapping when that meets the specs.

Used by the book chapter "MACRO: transistor-level mapping", section "Re-optimisation".
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from circuits import SimulationResult, Simulator, get_technology

from .bo import BOConfig, ConstrainedBO
from .design import Design
from .evaluation import fom
from .gmid import GmIdTables, gmid_tables
from .mapping import MappedDesign, MappingError, MappingTargets, map_design, simulate_mapped
from .reward import Specs

#: The paper's budget (IV-C): 20 initial points and 50 BO iterations.
PAPER_BUDGET = BOConfig(n_init=20, n_iter=50, seed=0)
#: The mapping's default targets and the specs of IV-C.
DEFAULT_TARGETS = MappingTargets()
SPECS = Specs()


@dataclass(frozen=True)
class Dimension:
    """One coordinate of the search space: ``name``, box ``lo``..``hi`` and what it sets."""

    name: str
    lo: float
    hi: float
    description: str


def search_space(design: Design, tech: str = "180nm") -> list[Dimension]:
    """The re-optimisation's coordinates for a design (module docstring)."""
    lmin = get_technology(tech).lmin
    dims = [Dimension("gm_id_input", 8.0, 22.0, "gm/Id of the input pairs (1/V)"),
            Dimension("gm_id_stage", 6.0, 16.0, "gm/Id of the common-source drivers (1/V)"),
            Dimension("gm_id_mirror", 4.0, 10.0, "gm/Id of mirrors, tails and loads (1/V)"),
            Dimension("log_l_bias", math.log10(6 * lmin), math.log10(24 * lmin),
                      "log10 length (m) of mirrors, tails and loads"),
            Dimension("log_gain_scale", math.log10(0.5), math.log10(2.0),
                      "log10 factor on every stage's target gain")]
    for s in design.topology.parameters():
        if s.kind in ("r", "c"):
            dims.append(Dimension(f"log_{s.name}", math.log10(s.lo), math.log10(s.hi),
                                  f"log10 {s.name} ({'Ohm' if s.kind == 'r' else 'F'})"))
    return dims


def point_of(design: Design, dims: list[Dimension], targets: MappingTargets) -> np.ndarray:
    """The coordinates of ``targets`` and the design's own passives (clipped to the box)."""
    x = []
    for d in dims:
        if d.name == "log_l_bias":
            v = math.log10(targets.l_bias)
        elif d.name == "log_gain_scale":
            v = math.log10(targets.gain_scale)
        elif d.name.startswith("log_"):
            v = math.log10(design.values[d.name[4:]])
        else:
            v = getattr(targets, d.name)
        x.append(min(max(v, d.lo), d.hi))
    return np.array(x)


def decode(design: Design, dims: list[Dimension], x: np.ndarray,
           base: MappingTargets = DEFAULT_TARGETS) -> tuple[Design, MappingTargets]:
    """The design (passives replaced) and mapping targets at coordinates ``x``, shape (d,)."""
    t, passives = {}, {}
    for d, v in zip(dims, np.asarray(x, dtype=float), strict=True):
        v = min(max(float(v), d.lo), d.hi)
        if d.name == "log_l_bias":
            t["l_bias"] = 10 ** v
        elif d.name == "log_gain_scale":
            t["gain_scale"] = 10 ** v
        elif d.name.startswith("log_"):
            passives[d.name[4:]] = 10 ** v
        else:
            t[d.name] = v
    return design.replace(**passives), replace(base, **t)


def metrics(r: SimulationResult, specs: Specs = SPECS) -> dict:
    """The figures of a transistor-level simulation: ``ok``, ``reason``, ``gain_db``,
    ``gbw_hz``, ``pm_deg``, ``power_w``, ``fom`` (equation (2), CL = 10 nF) and
    ``meets_spec``."""
    if not r.ok or r.ugbw_hz is None or r.power_w is None:
        return {"ok": False, "reason": r.reason, "gain_db": r.gain_db, "gbw_hz": None,
                "pm_deg": None, "power_w": r.power_w, "fom": None, "meets_spec": False}
    f = fom(r.ugbw_hz, r.power_w)
    meets = (r.gain_db > specs.gain_db and r.pm_deg > specs.pm_deg
             and r.ugbw_hz > specs.gbw_hz and r.power_w < specs.power_w)
    return {"ok": True, "reason": None, "gain_db": float(r.gain_db), "gbw_hz": float(r.ugbw_hz),
            "pm_deg": float(r.pm_deg), "power_w": float(r.power_w), "fom": float(f),
            "meets_spec": bool(meets)}


def _objective(m: dict, specs: Specs) -> tuple[float, list[float]]:
    if not m["ok"] or not (m["fom"] and m["fom"] > 0):
        return math.nan, [math.nan] * 4
    return math.log10(m["fom"]), [(m["gain_db"] - specs.gain_db) / specs.gain_db,
                                  (m["pm_deg"] - specs.pm_deg) / specs.pm_deg,
                                  math.log10(m["gbw_hz"] / specs.gbw_hz),
                                  math.log10(specs.power_w / m["power_w"])]


def evaluate_point(design: Design, targets: MappingTargets, sim: Simulator,
                   tables: GmIdTables, tech: str = "180nm",
                   specs: Specs = SPECS) -> tuple[dict, MappedDesign | None]:
    """Map and simulate one point: (metrics, mapped design); a mapping failure gives
    ``ok`` false with the stage and reason, and no mapped design."""
    try:
        mapped = map_design(design, tech, targets, tables)
    except MappingError as e:
        return {"ok": False, "reason": f"mapping: {e}", "gain_db": None, "gbw_hz": None,
                "pm_deg": None, "power_w": None, "fom": None, "meets_spec": False}, None
    return metrics(simulate_mapped(mapped, sim, detail="metrics"), specs), mapped


def reoptimise(design: Design, tech: str = "180nm", config: BOConfig = PAPER_BUDGET, *,
               sim: Simulator | None = None, specs: Specs = SPECS,
               progress: bool = False) -> dict:
    """Map ``design``, then re-tune the mapping's targets and the passives by constrained BO
    (module docstring); returns a JSON-ready record.

    Keys: ``space`` (the coordinates and their boxes), ``before`` (metrics of the default
    mapping), ``after`` (metrics of the best spec-meeting point, else ``None``), ``best``
    (its targets and passive values, and its netlist), ``history`` (per evaluation:
    ``source``, ``fom``, ``meets_spec``, ``reason``), ``n_evaluations``, ``wall_s``.

    Used by the book chapter "MACRO: transistor-level mapping", section "Re-optimisation".
    """
    t0 = time.perf_counter()
    tables = gmid_tables(tech)
    dims = search_space(design, tech)
    bounds = np.array([[d.lo for d in dims], [d.hi for d in dims]])
    bo = ConstrainedBO(bounds, 4, config)
    own = sim is None
    sim = sim or Simulator(workers=1)
    records: list[dict] = []
    best: tuple[float, dict, MappedDesign] | None = None

    def run(x: np.ndarray, source: str) -> None:
        nonlocal best
        d, t = decode(design, dims, x)
        m, mapped = evaluate_point(d, t, sim, tables, tech, specs)
        y, c = _objective(m, specs)
        bo.tell(x[None, :], [y], [c], source)
        records.append({"source": source, "fom": m["fom"], "meets_spec": m["meets_spec"],
                        "reason": m["reason"], "metrics": m})
        if m["meets_spec"] and (best is None or m["fom"] > best[0]):
            best = (m["fom"], {"targets": asdict(t), "values": dict(d.values)}, mapped)

    try:
        x0 = point_of(design, dims, MappingTargets())
        run(x0, "mapping")
        before = records[0]["metrics"]
        for x in bo.initial_points()[: max(config.n_init - 1, 0)]:
            run(x, "init")
        steps = range(config.n_iter)
        if progress:
            from tqdm.auto import tqdm
            steps = tqdm(steps, desc="re-optimisation", leave=False)
        for _ in steps:
            x, source = bo.ask()
            run(x, source)
    finally:
        if own:
            sim.close()
    after = None
    best_out = None
    if best is not None:
        fom_best, point, mapped = best
        after = next(r["metrics"] for r in records if r["meets_spec"] and r["fom"] == fom_best)
        best_out = {**point, "netlist": mapped.netlist, "params": mapped.params}
    return {"space": [asdict(d) for d in dims], "before": before, "after": after,
            "best": best_out,
            "history": [{k: r[k] for k in ("source", "fom", "meets_spec", "reason")}
                        for r in records],
            "n_evaluations": len(records), "config": asdict(config),
            "wall_s": time.perf_counter() - t0}


__all__ = ["DEFAULT_TARGETS", "PAPER_BUDGET", "SPECS", "Dimension", "decode", "evaluate_point",
           "metrics", "point_of", "reoptimise", "search_space"]
