"""Device characterisation of a technology by DC sweeps in ngspice.

One transistor (W = :data:`W`) with source and bulk at ground: Vgs swept from 0 to VDD at a
fixed |Vds| gives Id, gm and gds; from those the book chapter "Circuits, process models and
simulation" draws Id-Vgs, gm/Id and intrinsic gain gm/gds, and :func:`figures_of_merit` extracts
threshold voltage (constant current :data:`VTH_CURRENT` * W/L), DIBL (between |Vds| = VDD and
:data:`VDS_LIN`), subthreshold swing, on-current and the intrinsic gain at
gm/Id = :data:`ANALOG_GM_ID` at the channel lengths :data:`LENGTH_MULTIPLES` x Lmin.
PMOS devices are swept with negative voltages; magnitudes are reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .engine import Job
from .errors import CharacterisationError
from .netlist import Device
from .simulator import Simulator
from .technology import Technology, get_technology

#: Width of the characterised device (m).
W = 1e-6
#: Drain current per square (A) that defines the threshold voltage.
VTH_CURRENT = 100e-9
#: |Vds| (V) of the linear-region threshold, for DIBL.
VDS_LIN = 0.05
#: The moderate-inversion gm/Id (1/V) at which the intrinsic gain is read.
ANALOG_GM_ID = 15.0
#: Channel lengths, in multiples of the node's minimum length, of the intrinsic-gain table.
LENGTH_MULTIPLES = (1, 2, 4, 8, 16)
QUANTITIES = ("id", "gm", "gds")


@dataclass(frozen=True)
class Sweep:
    """A Vgs sweep of one device: magnitudes of Id (A), gm and gds (S) at each |Vgs| (V)."""

    tech: str
    polarity: str
    length: float
    vds: float
    vgs: np.ndarray = field(repr=False)
    id: np.ndarray = field(repr=False)
    gm: np.ndarray = field(repr=False)
    gds: np.ndarray = field(repr=False)

    @property
    def gm_over_id(self) -> np.ndarray:
        return self.gm / np.maximum(self.id, 1e-30)

    @property
    def intrinsic_gain(self) -> np.ndarray:
        return self.gm / np.maximum(self.gds, 1e-30)

    def vth(self, current_per_square: float = VTH_CURRENT) -> float:
        """Constant-current threshold: |Vgs| where Id = current_per_square * W/L (log
        interpolation)."""
        target = current_per_square * W / self.length
        logi = np.log(np.maximum(self.id, 1e-30))
        above = np.nonzero(self.id >= target)[0]
        if above.size == 0 or above[0] == 0:
            return float("nan")
        i = above[0]
        return float(np.interp(np.log(target), logi[i - 1:i + 1], self.vgs[i - 1:i + 1]))

    def at_gm_over_id(self, target: float) -> tuple[float, float]:
        """(intrinsic gain, current density A/m) where gm/Id falls through ``target``."""
        g = self.gm_over_id
        idx = np.nonzero((g[:-1] >= target) & (g[1:] < target))[0]
        if idx.size == 0:
            return float("nan"), float("nan")
        i = idx[-1]
        t = (g[i] - target) / (g[i] - g[i + 1])
        gain = self.intrinsic_gain[i] + t * (self.intrinsic_gain[i + 1] - self.intrinsic_gain[i])
        dens = (self.id[i] + t * (self.id[i + 1] - self.id[i])) / W
        return float(gain), float(dens)


def _netlist(tech: Technology, polarity: str, vds: float, step: float) -> str:
    dev = Device("M1", "M", ("d", "g", "0", "0"), "nch" if polarity == "n" else "pch", None,
                 {"w": f"{W:g}", "l": "{lch}"})
    sign = 1 if polarity == "n" else -1
    saves = " ".join(tech.op_vector(None, dev, q) for q in QUANTITIES)
    stop = sign * tech.vdd
    return "\n".join([
        f"* characterisation {tech.name} {polarity}mos",
        ".options num_threads=1",
        tech.library.rstrip(),
        f".param lch={tech.lmin:.6g}",
        tech.device_line(dev),
        f"Vd d 0 DC {sign * vds:.6g}",
        "Vg g 0 DC 0",
        f".save {saves} g",
        f".dc Vg 0 {stop:.6g} {sign * step:.6g}",
        ".end",
    ]) + "\n"


def sweeps(tech: str | Technology, lengths: list[float], *, polarities: tuple[str, ...] = (
        "n", "p"), vds: float | None = None, step: float = 0.005,
        sim: Simulator | None = None) -> list[Sweep]:
    """Vgs sweeps for each polarity and channel length (one ngspice job each).

    ``vds`` defaults to VDD/2 (saturation); ``step`` is the Vgs step (V).
    """
    t = get_technology(tech)
    vds = t.vdd / 2 if vds is None else vds
    own = sim is None
    sim = sim or Simulator(workers=1)
    try:
        jobs, meta = [], []
        for pol in polarities:
            net = _netlist(t, pol, vds, step)
            key = hashlib.sha1(net.encode()).hexdigest()
            dev = Device("M1", "M", ("d", "g", "0", "0"), "nch" if pol == "n" else "pch", None,
                         {})
            vecs = (("dc", "g"), *(("dc", t.op_vector(None, dev, q)) for q in QUANTITIES))
            for length in lengths:
                jobs.append(Job(key, net, {"lch": float(length)}, vecs))
                meta.append((pol, float(length), vecs))
        out = []
        for raw, (pol, length, vecs) in zip(sim.run_jobs(jobs), meta, strict=True):
            if raw.failure is not None:
                raise CharacterisationError(f"characterisation of {t.name} {pol}mos L={length:g} "
                                   f"failed: {raw.failure.value}: {raw.message}")
            data = [np.abs(np.real(np.atleast_1d(raw.vectors[v]))) for v in vecs]
            out.append(Sweep(t.name, pol, length, vds, *data))
        return out
    finally:
        if own:
            sim.close()


def figures_of_merit(tech: str | Technology, sim: Simulator | None = None) -> dict:
    """Threshold, DIBL, swing, on-current and intrinsic gain of both polarities of a node.

    Returns ``{"n": {...}, "p": {...}}`` with ``vth_sat``, ``vth_lin`` (V), ``dibl_mv_per_v``,
    ``ss_mv_per_dec``, ``ion_ua_per_um``, and ``gain_at_gm_id``: the intrinsic gain at
    gm/Id = :data:`ANALOG_GM_ID` keyed by the multiples :data:`LENGTH_MULTIPLES` of Lmin.
    """
    t = get_technology(tech)
    multiples = LENGTH_MULTIPLES
    own = sim is None
    sim = sim or Simulator(workers=1)
    try:
        sat = sweeps(t, [t.lmin], vds=t.vdd, sim=sim)
        lin = sweeps(t, [t.lmin], vds=VDS_LIN, sim=sim)
        by_l = sweeps(t, [m * t.lmin for m in multiples], sim=sim)
    finally:
        if own:
            sim.close()
    out = {}
    for pol in ("n", "p"):
        s = next(x for x in sat if x.polarity == pol)
        ln = next(x for x in lin if x.polarity == pol)
        vsat, vlin = s.vth(), ln.vth()
        sub = (s.id > 1e-15) & (s.id < 1e-7)  # below threshold at every node (W = 1 um)
        logi = np.log10(s.id[sub])
        slope = float(np.max(np.diff(logi) / np.diff(s.vgs[sub]))) if sub.sum() > 2 \
            else float("nan")
        gains = [x.at_gm_over_id(ANALOG_GM_ID)[0] for x in by_l if x.polarity == pol]
        out[pol] = {
            "vth_sat": vsat, "vth_lin": vlin,
            "dibl_mv_per_v": (vlin - vsat) / (t.vdd - VDS_LIN) * 1e3,
            "ss_mv_per_dec": 1e3 / slope,
            "ion_ua_per_um": float(s.id[-1]) * 1e6 / (W / 1e-6),
            "gain_at_gm_id": dict(zip(multiples, gains, strict=True)),
        }
    return out
