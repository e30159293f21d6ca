"""Mapping of a behaviour-level design to a transistor-level amplifier (MACRO IV-C, ref. [15]).

Every gm stage of a :class:`macro.design.Design` (:meth:`Design.stages`) becomes a transistor
sub-circuit sized with the gm/Id tables of :mod:`macro.gmid`:

* the input stage (and any extra gm that senses ``vin``): an NMOS differential pair with a PMOS
  current-mirror load and a single-ended output, its tail an NMOS mirror of the bias;
* later main stages: common-source stages, a PMOS driver sensing ``n1`` (which sits at VDD
  minus a PMOS |Vgs|, where the pair's mirror output is) and an NMOS driver sensing ``n2``;
* extra feed-forward and feedback gm sensing an internal node: a common-source stage of the same
  polarity, length and |Vgs| as the main driver sensing that node (so its current is set by the
  width ratio), or, where the stage must not invert, that common-source stage into a diode and a
  mirror of the opposite polarity (a non-inverting transconductor);
* R and C kept as passive elements (``gnd`` becomes ``vss``);
* one bias current reference ``ibias`` into an NMOS diode, mirrored (through a PMOS diode for
  the PMOS current sources) to every tail and current-source load, all at length ``l_bias`` and
  gm/Id ``gm_id_mirror``.

Each stage is sized from its target gm and gain ``gm * R`` (R = ``rscl / gm``):

.. math::

    I_d = \\frac{g_m}{(g_m/I_d)}, \\qquad
    A(L) = \\left(\\frac{1}{A_{i,d}(L)} + \\frac{(g_m/I_d)_{load}}{(g_m/I_d)_d}\\,
    \\frac{1}{A_{i,load}(L_{load})}\\right)^{-1} = g_m R, \\qquad W = \\frac{I_d}{J_d(L)},

the gm/Id target picking |Vgs|, L solved (bisection in log L over the table) so that the stage
gain (driver and load output conductances together) equals ``gm * R``, W from the current
density. A stage that cannot be realised (gm/Id not reached, gain out of the range of lengths,
a width out of the technology's bounds, a gm in series with a capacitor, whose internal node
has no DC path) raises :class:`MappingError` naming the stage.

Signs: every stage keeps the sign of its behaviour-level stage, so every node carries the
behaviour-level voltage (and a passive between two nodes means what it means there): a +gm
stage (inverting) is a common-source stage, or a pair with ``inn`` on its diode side; a -gm
stage (non-inverting) is a common-source stage into a mirror, or a pair with ``inp`` on its
diode side. The basic op-amp is then pair (inverting), mirrored PMOS stage, NMOS
common-source stage: non-inverting from ``inp`` as the bench's DC loop to ``inn`` needs.

Not realised: the behaviour model's node capacitances (the transistors bring their own) and its
load resistor ``R_LOAD`` (the bench loads ``out`` with the 10 nF capacitor only; each stage's
output resistance is its own ``ro``).

Used by the book chapter "MACRO: transistor-level mapping" (``book/macro/transistor.ipynb``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from circuits import Amplifier, BenchSettings, SimulationResult, Simulator, get_technology

from .design import Design, Stage
from .gmid import GmIdError, GmIdTables, gmid_tables
from .topology import C_LOAD

#: Name of the mapped amplifier's ``.subckt``.
SUBCKT = "macro_amp"
#: Main-chain nodes of the behaviour-level op-amp in signal order.
MAIN_NODES = ("vin", "n1", "n2", "vout")


class MappingError(ValueError):
    """A stage that cannot be realised at transistor level; ``stage`` names it."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage}: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class MappingTargets:
    """The free choices of the mapping (what the re-optimisation tunes)."""

    gm_id_input: float = 15.0
    """gm/Id (1/V) of input differential pairs (ref. [15]: about 15)."""
    gm_id_stage: float = 10.0
    """gm/Id (1/V) of common-source drivers (ref. [15]: about 10)."""
    gm_id_mirror: float = 6.0
    """gm/Id (1/V) of mirrors, tails and current-source loads (ref. [15]: 5-8)."""
    l_driver: float = 0.72e-6
    """Length (m) of the driver of a non-inverting main stage (its gain is set by the mirror,
    whose length is solved)."""
    l_bias: float = 2.88e-6
    """Length (m) of every mirror, tail and current-source load (16 Lmin at 180 nm: a
    current-source load's gain term stays far above the 40-80 stage gains)."""
    i_ref: float = 2e-6
    """Bias reference current (A)."""
    gain_scale: float = 1.0
    """Every stage's target gain is ``gain_scale * gm * R`` (1: the behaviour-level gain)."""

    def __post_init__(self) -> None:
        for name in ("gm_id_input", "gm_id_stage", "gm_id_mirror", "l_driver", "l_bias", "i_ref",
                     "gain_scale"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"MappingTargets.{name} must be a positive number, not {v!r}")


@dataclass(frozen=True)
class Transistor:
    """One sized transistor: name, drain, gate, source (bulk = source rail), polarity,
    W and L (m), drain current (A) and its role."""

    name: str
    d: str
    g: str
    s: str
    polarity: str
    w: float
    length: float
    current: float
    role: str


@dataclass(frozen=True)
class StageSizing:
    """How one gm stage was sized.

    Attributes
    ----------
    stage : the behaviour-level stage name (``"main1"``, ``"n1_vout"``...).
    kind : ``"diffpair"``, ``"cs"`` (inverting) or ``"cs_mirror"`` (non-inverting), with
        ``"_replica"`` appended when a replica sets its load (:func:`with_replica_bias`).
    gm : target |gm| (S).
    gain : target gain ``gm * R``.
    predicted_gain : the gain the tables predict for the sizing.
    gm_id : the driver's gm/Id (1/V).
    vgs : the driver's |Vgs| (V).
    length : the length (m) solved for the gain (the driver's, or the mirror's).
    current : the driver's drain current (A).
    devices : the stage's transistors.
    extra : netlist lines of its other elements (the replica bias's low-pass filter).
    """

    stage: str
    kind: str
    gm: float
    gain: float
    predicted_gain: float
    gm_id: float
    vgs: float
    length: float
    current: float
    devices: tuple[Transistor, ...] = field(repr=False)
    extra: tuple[str, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class Passive:
    """An R or C kept from the behaviour-level design; ``param`` names its design parameter."""

    kind: str
    name: str
    a: str
    b: str
    value: float
    param: str


@dataclass(frozen=True)
class MappedDesign:
    """A mapped design: the sizing of every stage, the passives, the netlist and amplifier.

    ``netlist`` is a ``.subckt macro_amp inp inn out vdd vss`` with a ``*@param`` per design
    parameter (every W and L, each passive, ``ibias``); ``amplifier`` is the circuits
    :class:`~circuits.Amplifier` read from it (load 10 nF), ``params`` its values;
    ``nodeset`` the operating point the sizing predicts (bench node names: ``out``, ``inn``
    at the common mode, ``x1.n1`` at VDD minus the second driver's |Vgs|, ``x1.n2`` at the
    third driver's), which :func:`simulate_mapped` gives ngspice as its starting point: a
    feed-forward pair from the input has a second, latched DC solution with the output at a
    rail, which Newton finds from a cold start.
    """

    design: Design
    tech: str
    targets: MappingTargets
    stages: tuple[StageSizing, ...]
    bias: tuple[Transistor, ...]
    passives: tuple[Passive, ...]
    netlist: str = field(repr=False)
    amplifier: Amplifier = field(repr=False)
    params: dict = field(repr=False)
    nodeset: dict = field(repr=False, default_factory=dict)

    @property
    def power_estimate(self) -> float:
        """Supply power (W) the sizing predicts: VDD times every branch current."""
        vdd = get_technology(self.tech).vdd
        total = 2 * self.targets.i_ref
        for st in self.stages:
            total += st.current * (2 if st.kind in ("diffpair", "cs_mirror") else 1)
        return vdd * total


def bench_settings(detail: str = "devices") -> BenchSettings:
    """The open-loop bench of the mapped amplifiers: the behaviour model's 10 nF load."""
    return BenchSettings(load_cap=C_LOAD, detail=detail)


# -- sizing ------------------------------------------------------------------------------------

def _lookup(tables: GmIdTables, stage: str, pol: str, gm_id: float, length: float,
            vds: float | None = None) -> tuple[float, float, float]:
    try:
        return tables[pol].lookup(gm_id, length, vds)
    except GmIdError as e:
        raise MappingError(stage, str(e)) from None


def _width(stage: str, role: str, current: float, jd: float, tech) -> float:
    w = current / jd
    lo, hi = tech.width_bounds
    if not lo * (1 - 1e-6) <= w <= hi * (1 + 1e-6):
        raise MappingError(stage, f"{role} width {w * 1e6:.3g} um for {current * 1e6:.3g} uA is "
                                  f"outside {lo * 1e6:.3g}-{hi * 1e6:.3g} um")
    return w


def _vds(pol: str, drain: float, source: float) -> float:
    """|Vds| of a device of polarity ``pol`` from its drain and source voltages."""
    return max(drain - source, 0.05) if pol == "n" else max(source - drain, 0.05)


def solve_length(tables: GmIdTables, stage: str, pol: str, gm_id: float, gain: float,
                 load_term: float, vds: float | None = None) -> tuple[float, float]:
    """The length whose gain ``1 / (1/A_i(L, vds) + load_term)`` equals ``gain`` (bisection in
    log L over the table); returns ``(L, predicted gain)``.

    Raises
    ------
    MappingError
        When the gain is below what the shortest length gives or above the longest's.
    """
    tab = tables[pol]
    lo, hi = math.log(tab.lengths[0]), math.log(tab.lengths[-1])

    def g(logl: float) -> float:
        a = _lookup(tables, stage, pol, gm_id, math.exp(logl), vds)[2]
        return 1.0 / (1.0 / a + load_term)

    g_lo, g_hi = g(lo), g(hi)
    if gain < g_lo:
        raise MappingError(stage, f"gain {gain:.3g} is below the {g_lo:.3g} of the shortest "
                                  f"length ({tab.lengths[0] * 1e6:.3g} um) at gm/Id {gm_id:.3g}")
    if gain > g_hi:
        raise MappingError(stage, f"gain {gain:.3g} is above the {g_hi:.3g} of the longest "
                                  f"length ({tab.lengths[-1] * 1e6:.3g} um) at gm/Id {gm_id:.3g}")
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if g(mid) < gain:
            lo = mid
        else:
            hi = mid
    length = math.exp(0.5 * (lo + hi))
    return length, g(math.log(length))


def _load_term(tables: GmIdTables, stage: str, load_pol: str, t: MappingTargets,
               gm_id_driver: float, vds: float | None) -> float:
    """``(gm/Id_load / gm/Id_driver) / A_i,load`` of a current source at gm/Id
    ``gm_id_mirror``, length ``l_bias`` and |Vds| ``vds``."""
    a_load = _lookup(tables, stage, load_pol, t.gm_id_mirror, t.l_bias, vds)[2]
    return (t.gm_id_mirror / gm_id_driver) / a_load


def size_diffpair(tables: GmIdTables, stage: str, gm: float, gain: float, t: MappingTargets,
                  inp: str, inn: str, out: str, tech, *, v_out: float | None = None,
                  vcm: float | None = None, prefix: str | None = None) -> StageSizing:
    """An NMOS pair (gm/Id ``gm_id_input``) with a PMOS mirror load: ``inp`` on the diode side
    (output non-inverting from ``inp``), output ``out`` at DC voltage ``v_out`` (default VDD
    minus the mirror's |Vgs|), gates at ``vcm`` (default VDD/2); L from the gain at the |Vds|
    the pair and the mirror output see, W from Jd."""
    p = prefix or stage
    vdd = tech.vdd
    vcm = vdd / 2 if vcm is None else vcm
    vsg_m, jd_p, _ = _lookup(tables, stage, "p", t.gm_id_mirror, t.l_bias, vdd / 2)
    v_out = vdd - vsg_m if v_out is None else v_out
    vgs = 0.6
    for _ in range(3):  # the tail voltage depends on the pair's |Vgs|, which depends on L
        tail_v = vcm - vgs
        term = _load_term(tables, stage, "p", t, t.gm_id_input, _vds("p", v_out, vdd))
        length, pred = solve_length(tables, stage, "n", t.gm_id_input, gain, term,
                                    _vds("n", v_out, tail_v))
        vgs, jd, _ = _lookup(tables, stage, "n", t.gm_id_input, length, _vds("n", v_out, tail_v))
    idd = abs(gm) / t.gm_id_input
    w = _width(stage, "input pair", idd, jd, tech)
    _, jd_p, _ = _lookup(tables, stage, "p", t.gm_id_mirror, t.l_bias, vsg_m)
    _, jd_n, _ = _lookup(tables, stage, "n", t.gm_id_mirror, t.l_bias, max(vcm - vgs, 0.05))
    wl = _width(stage, "mirror load", idd, jd_p, tech)
    wt = _width(stage, "tail", 2 * idd, jd_n, tech)
    d, tail = f"{p}_d", f"{p}_t"
    devs = (Transistor(f"{p}_a", d, inp, tail, "n", w, length, idd, "input pair (diode side)"),
            Transistor(f"{p}_b", out, inn, tail, "n", w, length, idd, "input pair (output)"),
            Transistor(f"{p}_c", d, d, "vdd", "p", wl, t.l_bias, idd, "mirror diode"),
            Transistor(f"{p}_e", out, d, "vdd", "p", wl, t.l_bias, idd, "mirror output"),
            Transistor(f"{p}_t", tail, "nbn", "vss", "n", wt, t.l_bias, 2 * idd, "tail"))
    return StageSizing(stage, "diffpair", abs(gm), gain, pred, t.gm_id_input, vgs, length, idd,
                       devs)


def _rails(pol: str, vdd: float) -> tuple[str, float, str, float, str]:
    """(source rail, its voltage, other rail, its voltage, bias net of the other polarity)."""
    return ("vss", 0.0, "vdd", vdd, "nbp") if pol == "n" else ("vdd", vdd, "vss", 0.0, "nbn")


def size_cs(tables: GmIdTables, stage: str, gm: float, gain: float, t: MappingTargets,
            pol: str, sense: str, drive: str, tech, *, v_out: float, length: float | None = None,
            vgs: float | None = None) -> StageSizing:
    """An inverting common-source stage: driver of polarity ``pol`` (gate ``sense``, drain
    ``drive`` at DC voltage ``v_out``) and a current-source load of the other polarity
    mirrored from the bias.

    With ``length`` and ``vgs`` given (an extra stage sharing its input node with a main
    driver), the driver takes them and its gm/Id follows from the table; otherwise the driver
    is at gm/Id ``gm_id_stage`` and L is solved for the gain."""
    load = "p" if pol == "n" else "n"
    rail, v_rail, lrail, v_lrail, lbias = _rails(pol, tech.vdd)
    vds_d, vds_l = _vds(pol, v_out, v_rail), _vds(load, v_out, v_lrail)
    if length is None:
        gm_id = t.gm_id_stage
        length, pred = solve_length(tables, stage, pol, gm_id, gain,
                                    _load_term(tables, stage, load, t, gm_id, vds_l), vds_d)
    else:
        gm_id = tables[pol].gm_id_at(vgs, length, vds_d)
        if not 1.0 < gm_id < 30.0:
            raise MappingError(stage, f"its input node's |Vgs| {vgs:.3g} V gives gm/Id "
                                      f"{gm_id:.3g} /V")
        a = _lookup(tables, stage, pol, gm_id, length, vds_d)[2]
        pred = 1.0 / (1.0 / a + _load_term(tables, stage, load, t, gm_id, vds_l))
    v, jd, _ = _lookup(tables, stage, pol, gm_id, length, vds_d)
    idd = abs(gm) / gm_id
    w = _width(stage, "driver", idd, jd, tech)
    _, jd_l, _ = _lookup(tables, stage, load, t.gm_id_mirror, t.l_bias, vds_l)
    wl = _width(stage, "current-source load", idd, jd_l, tech)
    devs = (Transistor(f"{stage}_a", drive, sense, rail, pol, w, length, idd, "driver"),
            Transistor(f"{stage}_l", drive, lbias, lrail, load, wl, t.l_bias, idd,
                       "current-source load"))
    return StageSizing(stage, "cs", abs(gm), gain, pred, gm_id, v, length, idd, devs)


def size_cs_mirror(tables: GmIdTables, stage: str, gm: float, gain: float, t: MappingTargets,
                   pol: str, sense: str, drive: str, tech, *, v_out: float, length: float,
                   vgs: float | None = None) -> StageSizing:
    """A non-inverting transconductor: a common-source driver of polarity ``pol`` and length
    ``length`` (at |Vgs| ``vgs``, or at gm/Id ``gm_id_stage`` when None) into a diode of the
    other polarity, mirrored onto ``drive`` (DC voltage ``v_out``), with a current-source load
    of the driver's polarity there. The mirror (at gm/Id ``gm_id_stage``: a mirror at
    ``gm_id_mirror`` of a few uA would be narrower than the minimum width at the short lengths
    this gain needs) has its length solved for the gain ``1 / ((gm/Id_m / gm/Id_d) /
    A_mirror(L) + (gm/Id_mirror / gm/Id_d) / A_load(l_bias))``."""
    opp = "p" if pol == "n" else "n"
    vdd = tech.vdd
    rail, v_rail, orail, v_orail, _ = _rails(pol, vdd)
    lbias = "nbn" if pol == "n" else "nbp"
    gm_id_m = t.gm_id_stage
    vds_m, vds_l = _vds(opp, v_out, v_orail), _vds(pol, v_out, v_rail)
    # the diode sits |Vgs_m| from its rail: the driver's |Vds| is the rest
    vgs_m0 = _lookup(tables, stage, opp, gm_id_m, t.l_bias, vdd / 2)[0]
    vds_d = vdd - vgs_m0
    if vgs is None:
        gm_id = t.gm_id_stage
    else:
        gm_id = tables[pol].gm_id_at(vgs, length, vds_d)
        if not 1.0 < gm_id < 30.0:
            raise MappingError(stage, f"its input node's |Vgs| {vgs:.3g} V gives gm/Id "
                                      f"{gm_id:.3g} /V")
    ratio = gm_id_m / gm_id
    a_load = _lookup(tables, stage, pol, t.gm_id_mirror, t.l_bias, vds_l)[2]
    # gain = 1 / (ratio / A_m(L) + ratio_l / A_load): in solve_length's form
    # 1 / (1/A_m + x) = gain * ratio  with x = (ratio_l / ratio) / A_load
    x = (t.gm_id_mirror / gm_id_m) / a_load
    lm, pred_scaled = solve_length(tables, stage, opp, gm_id_m, gain * ratio, x, vds_m)
    pred = pred_scaled / ratio
    v, jd, _ = _lookup(tables, stage, pol, gm_id, length, vds_d)
    idd = abs(gm) / gm_id
    w = _width(stage, "driver", idd, jd, tech)
    _, jd_m, _ = _lookup(tables, stage, opp, gm_id_m, lm, vds_m)
    wm = _width(stage, "mirror", idd, jd_m, tech)
    _, jd_l, _ = _lookup(tables, stage, pol, t.gm_id_mirror, t.l_bias, vds_l)
    wl = _width(stage, "current-source load", idd, jd_l, tech)
    m = f"{stage}_m"
    devs = (Transistor(f"{stage}_a", m, sense, rail, pol, w, length, idd, "driver"),
            Transistor(f"{stage}_c", m, m, orail, opp, wm, lm, idd, "mirror diode"),
            Transistor(f"{stage}_e", drive, m, orail, opp, wm, lm, idd, "mirror output"),
            Transistor(f"{stage}_l", drive, lbias, rail, pol, wl, t.l_bias, idd,
                       "current-source load"))
    return StageSizing(stage, "cs_mirror", abs(gm), gain, pred, gm_id, v, lm, idd, devs)


#: Low-pass filter of a replica bias's gate: 100 GOhm and 100 pF (a pole at 0.016 Hz, below the
#: bench's sweep, so the replica carries the DC current and no signal).
REPLICA_FILTER = (1e11, 1e-10)


def with_replica_bias(sz: StageSizing, sense: str) -> StageSizing:
    """The stage with its current-source load biased by a replica instead of the global bias,
    for a gm in series with a capacitor, whose output node has no DC path of its own.

    A copy of the stage's DC path (its driver, with the gate fed through a low-pass filter from
    the same input node, and for a mirrored stage the mirror) drives a diode of the load's
    polarity; the load mirrors that diode, so the load carries exactly the driver's current and
    the output node settles where the two match, while the filter keeps the signal out of the
    replica. The filter (:data:`REPLICA_FILTER`) stands for the slow common-mode loop a chip
    would use; it is an idealisation of this mapping.
    """
    devs = {d.name.rsplit("_", 1)[1]: d for d in sz.devices}
    p = sz.stage
    f, q = f"{p}_f", f"{p}_q"
    a, load = devs["a"], devs["l"]
    rep = [Transistor(f"{p}_ra", f"{p}_rm" if sz.kind == "cs_mirror" else q, f, a.s,
                      a.polarity, a.w, a.length, a.current, "replica driver")]
    if sz.kind == "cs_mirror":
        c, e = devs["c"], devs["e"]
        rep += [Transistor(f"{p}_rc", f"{p}_rm", f"{p}_rm", c.s, c.polarity, c.w, c.length,
                           c.current, "replica mirror diode"),
                Transistor(f"{p}_re", q, f"{p}_rm", e.s, e.polarity, e.w, e.length, e.current,
                           "replica mirror output")]
    rep.append(Transistor(f"{p}_rq", q, q, load.s, load.polarity, load.w, load.length,
                          load.current, "replica load diode"))
    new_load = Transistor(load.name, load.d, q, load.s, load.polarity, load.w, load.length,
                          load.current, "current-source load (replica-biased)")
    devices = tuple(new_load if d.name == load.name else d for d in sz.devices) + tuple(rep)
    rf, cf = REPLICA_FILTER
    cap_rail = a.s
    extra = (f"R{p}_f {sense} {f} {rf:g}", f"C{p}_f {f} {cap_rail} {cf:g}")
    return StageSizing(sz.stage, sz.kind + "_replica", sz.gm, sz.gain, sz.predicted_gain,
                       sz.gm_id, sz.vgs, sz.length, sz.current, devices, extra)


def bias_network(tables: GmIdTables, t: MappingTargets, tech) -> tuple[Transistor, ...]:
    """``ibias`` into the NMOS diode ``nbn``, mirrored by an NMOS into the PMOS diode ``nbp``
    (both at gm/Id ``gm_id_mirror`` and ``l_bias``)."""
    _, jd_n, _ = _lookup(tables, "bias", "n", t.gm_id_mirror, t.l_bias, tech.vdd / 2)
    _, jd_p, _ = _lookup(tables, "bias", "p", t.gm_id_mirror, t.l_bias, tech.vdd / 2)
    wn = _width("bias", "NMOS diode", t.i_ref, jd_n, tech)
    wp = _width("bias", "PMOS diode", t.i_ref, jd_p, tech)
    return (Transistor("bias_n", "nbn", "nbn", "vss", "n", wn, t.l_bias, t.i_ref, "NMOS diode"),
            Transistor("bias_m", "nbp", "nbn", "vss", "n", wn, t.l_bias, t.i_ref,
                       "NMOS mirror"),
            Transistor("bias_p", "nbp", "nbp", "vdd", "p", wp, t.l_bias, t.i_ref, "PMOS diode"))


# -- the whole design --------------------------------------------------------------------------

def _tnode(node: str) -> str:
    """Transistor-level net of a behaviour-level node."""
    return {"vin": "inp", "vout": "out", "0": "vss", "gnd": "vss"}.get(node, node)


def _pair(tables: GmIdTables, st: Stage, gain: float, t: MappingTargets, tch,
          v_out: float | None) -> StageSizing:
    """A stage sensing ``vin`` as a differential pair: a +gm stage inverts (``inn`` on the
    diode side), a -gm stage does not."""
    inp, inn = ("inn", "inp") if st.gm > 0 else ("inp", "inn")
    return size_diffpair(tables, st.name, st.gm, gain, t, inp, inn, _tnode(st.drive), tch,
                         v_out=v_out)


def map_design(design: Design, tech: str = "180nm",
               targets: MappingTargets = MappingTargets(),
               tables: GmIdTables | None = None) -> MappedDesign:
    """Map a behaviour-level design to a sized transistor-level amplifier (module docstring).

    The main stages are sized from the output back (``main3``, ``main2``, ``main1``): the
    output sits at the common mode, and each driver's |Vgs| sets the DC voltage of the node it
    senses, which is the previous stage's output; the devices' |Vds| follow, and the tables are
    read there.

    Raises
    ------
    MappingError
        Naming the first stage that cannot be realised.

    Used by the book chapter "MACRO: transistor-level mapping", section "Mapping a design".
    """
    tch = get_technology(tech)
    tables = tables or gmid_tables(tch)
    t = targets
    stages = design.stages()
    vdd, vcm = tch.vdd, tch.vdd / 2
    volts = {"vout": vcm, "vin": vcm}
    main: dict[str, StageSizing] = {}
    main_driver: dict[str, tuple[str, float, float]] = {}  # node -> (polarity, L, |Vgs|)
    for k in (2, 1):
        st = stages[k]
        gain = t.gain_scale * abs(st.gm) * st.r_out
        pol = "p" if k == 1 else "n"
        v_out = volts[st.drive]
        if st.gm > 0:
            sz = size_cs(tables, st.name, st.gm, gain, t, pol, _tnode(st.sense),
                         _tnode(st.drive), tch, v_out=v_out)
        else:
            sz = size_cs_mirror(tables, st.name, st.gm, gain, t, pol, _tnode(st.sense),
                                _tnode(st.drive), tch, v_out=v_out, length=t.l_driver)
        main[st.name] = sz
        main_driver[st.sense] = (pol, sz.devices[0].length, sz.vgs)
        volts[st.sense] = sz.vgs if pol == "n" else vdd - sz.vgs
    st = stages[0]
    main[st.name] = _pair(tables, st, t.gain_scale * abs(st.gm) * st.r_out, t, tch,
                          volts[st.drive])
    out = [main[s.name] for s in stages[:3]]
    for st in stages[3:]:
        gain = t.gain_scale * abs(st.gm) * st.r_out
        drive = st.drive
        series_c = drive.startswith("x_") and _series_target(design, st) is None
        drive_node = _series_target(design, st) if drive.startswith("x_") else drive
        if st.sense == "vin":
            # behind a series capacitor the pair's output sits at its mirror diode's voltage
            # (both inputs are at the common mode at DC): size it there
            out.append(_pair(tables, st, gain, t, tch, None if series_c
                             else volts.get(drive_node, vcm)))
            continue
        # vout has no main driver sensing it: at the common mode, an NMOS at the bias length
        pol, length, vgs = main_driver.get(st.sense, ("n", t.l_bias, vcm))
        if series_c:  # the replica holds the node one mirror |Vgs| from the load's rail
            load_pol = ("p" if pol == "n" else "n") if st.gm > 0 else pol
            vsg = _lookup(tables, st.name, load_pol, t.gm_id_mirror, t.l_bias, vdd / 2)[0]
            v_out = vdd - vsg if load_pol == "p" else vsg
        else:
            v_out = volts.get(drive_node, vcm)
        size = size_cs if st.gm > 0 else size_cs_mirror
        sz = size(tables, st.name, st.gm, gain, t, pol, _tnode(st.sense), _tnode(drive), tch,
                  v_out=v_out, length=length, vgs=vgs)
        out.append(with_replica_bias(sz, _tnode(st.sense)) if series_c else sz)
    bias = bias_network(tables, t, tch)
    passives = tuple(Passive(e.kind, e.name, _tnode(e.a), _tnode(e.b), e.value,
                             _passive_param(e.name))
                     for e in design.elements() if e.kind in "RC" and not _parasitic(e.name))
    text, params = netlist_text(out, bias, passives, t, tch, design)
    amp = Amplifier.from_text(text, name="macro_" + "_".join(map(str, design.topology.types)),
                              load_cap=C_LOAD)
    nodeset = {"out": vcm, "inn": vcm, "x1.n1": volts["n1"], "x1.n2": volts["n2"]}
    return MappedDesign(design, tch.name, t, tuple(out), bias, passives, text, amp, params,
                        nodeset)


def simulate_mapped(mapped: MappedDesign, sim: Simulator | None = None,
                    params: dict | None = None, detail: str = "devices") -> SimulationResult:
    """Simulate a mapped design in the open-loop bench with the 10 nF load, from the operating
    point its sizing predicts (:attr:`MappedDesign.nodeset`); ``params`` override the mapped
    values. A failed simulation is a result with ``ok`` false and the reason.

    Used by the book chapter "MACRO: transistor-level mapping".
    """
    own = sim is None
    sim = sim or Simulator(workers=1)
    try:
        settings = bench_settings(detail)
        bench = sim.bench(mapped.amplifier, mapped.tech, settings)
        if bench.nodeset != mapped.nodeset:
            bench.set_nodeset(mapped.nodeset)
        return sim.simulate(mapped.amplifier, mapped.tech, {**mapped.params, **(params or {})},
                            settings)
    finally:
        if own:
            sim.close()


def _parasitic(name: str) -> bool:
    """Elements of the behaviour model the transistors realise themselves (stage output
    resistances and capacitances) or that the bench provides (the load)."""
    return name.startswith(("ro_", "co_")) or name in ("r_load", "c_load")


def _passive_param(name: str) -> str:
    return name.lower()


def _series_target(design: Design, st: Stage) -> str | None:
    """The main node a series gm's internal node reaches through a resistor (None through a
    capacitor)."""
    for e in design.elements():
        if e.kind == "R" and e.a == st.drive and not _parasitic(e.name):
            return e.b if e.b != "0" else None
    return None




def netlist_text(stages, bias, passives, t: MappingTargets, tech, design: Design | None = None
                 ) -> tuple[str, dict]:
    """The ``.subckt macro_amp inp inn out vdd vss`` text and its parameter values: ``w_<dev>``
    and ``l_<dev>`` of every transistor, a parameter per passive, ``ibias``."""
    devs = [d for st in stages for d in st.devices] + list(bias)
    params: dict[str, float] = {}
    decl = ["* Transistor-level op-amp mapped from a MACRO behaviour-level design by gm/Id "
            f"sizing ({tech.name}).",
            "* Pins: inp inn out vdd vss. Bias: ibias into nbn (NMOS diode), nbp (PMOS diode).",
            f"*@param ibias current {t.i_ref / 10:.6g} {t.i_ref * 10:.6g} bias reference "
            "current"]
    params["ibias"] = t.i_ref
    body = ["Iref vdd nbn DC {ibias}", *(line for st in stages for line in st.extra)]
    for d in devs:
        wn, ln = f"w_{d.name}", f"l_{d.name}"
        params[wn], params[ln] = d.w, d.length
        decl.append(f"*@param {wn} width {d.name} {d.role} width")
        decl.append(f"*@param {ln} length {d.name} {d.role} length")
        model = "nch" if d.polarity == "n" else "pch"
        bulk = "vss" if d.polarity == "n" else "vdd"
        body.append(f"M{d.name} {d.d} {d.g} {d.s} {bulk} {model} W={{{wn}}} L={{{ln}}}")
    pnames = _passive_param_names(design) if design is not None else {}
    for p in passives:
        lo, hi = pnames.get(p.param, (p.value / 100, p.value * 100))
        decl.append(f"*@param {p.param} {'resistance' if p.kind == 'R' else 'capacitance'} "
                    f"{lo:.6g} {hi:.6g} {p.kind} between {p.a} and {p.b}")
        params[p.param] = p.value
        body.append(f"{p.kind}{p.param} {p.a} {p.b} {{{p.param}}}")
    header = " ".join(f"{k}={v:.6g}" for k, v in params.items())
    text = "\n".join([*decl, f".subckt {SUBCKT} inp inn out vdd vss {header}", *body,
                      f".ends {SUBCKT}"]) + "\n"
    return text, params


def _passive_param_names(design: Design) -> dict[str, tuple[float, float]]:
    """Bounds of each passive element's parameter, from the behaviour-level parameter spec
    (element name -> bounds of the parameter that sets it)."""
    out = {}
    specs = {s.name: s for s in design.topology.parameters()}
    for e in design.elements():
        if e.kind in "RC" and not _parasitic(e.name):
            pair = e.name.split("_", 1)[1]
            spec = specs.get(f"{pair}_{e.kind.lower()}")
            if spec is not None:
                out[e.name.lower()] = (spec.lo, spec.hi)
    return out


__all__ = [
    "MAIN_NODES",
    "SUBCKT",
    "MappedDesign",
    "MappingError",
    "MappingTargets",
    "Passive",
    "StageSizing",
    "Transistor",
    "bench_settings",
    "bias_network",
    "map_design",
    "netlist_text",
    "simulate_mapped",
    "size_cs",
    "size_cs_mirror",
    "size_diffpair",
    "solve_length",
    "with_replica_bias",
]
