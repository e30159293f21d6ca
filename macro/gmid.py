"""gm/Id lookup tables of a technology, computed with ngspice (MACRO IV-C, its reference [15]).

One transistor of width :data:`circuits.characterize.W` (1 um), source and bulk at ground, its
gate swept from 0 to VDD at each |Vds| of :data:`VDS_FRACTIONS` (VDD/4, VDD/2, 3 VDD/4) for
each channel length of a geometric grid, NMOS and PMOS (:func:`circuits.characterize.sweeps`).
From Id, gm and gds the table keeps, for every (|Vds|, L, |Vgs|),

.. math::

    \\frac{g_m}{I_d}, \\qquad J_d = \\frac{I_d}{W}, \\qquad A_i = \\frac{g_m}{g_{ds}},

the three quantities the sizing of :mod:`macro.mapping` reads: gm/Id picks |Vgs|, the intrinsic
gain ``A_i`` picks L, and the current density ``J_d`` gives ``W = I_d / J_d``. Look-ups
interpolate linearly in |Vds| (a device's output conductance at the |Vds| it will see: a mirror
at 0.66 V has about a quarter more gds than at VDD/2), in log L, and in gm/Id along |Vgs|.

Tables are cached as a run folder ``results/macro/gmid/<tech>/`` (:func:`circuits.runs.save_run`)
whose config holds the SHA-256 of the technology's model-card text and the sweep settings: a
changed model card (or grid) does not match the saved config, so the tables are recomputed.

Used by the book chapter "MACRO: transistor-level mapping" (``book/macro/transistor.ipynb``).
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from circuits import Technology, get_technology
from circuits.characterize import sweeps
from circuits.runs import code_dependencies, load_run, provenance, results_root, save_run

#: Run-folder name prefix of the cached tables (``results/macro/gmid/<tech>``).
RUN_PREFIX = "macro/gmid"
#: Channel lengths of the table, in multiples of the node's minimum length (geometric grid).
LENGTH_MULTIPLES = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0)
#: |Vds| of the sweeps, as fractions of VDD.
VDS_FRACTIONS = (0.25, 0.5, 0.75)
#: |Vgs| step of the sweep (V).
VGS_STEP = 0.02
#: Significant digits kept in the cached JSON.
DIGITS = 6


class GmIdError(ValueError):
    """A gm/Id look-up outside the table: the gm/Id is not reached at that length, or the
    length or gain is outside the characterised range."""


@dataclass(frozen=True)
class PolarityTable:
    """The gm/Id table of one polarity.

    Attributes
    ----------
    polarity : ``"n"`` or ``"p"``.
    vds : |Vds| of the sweeps (V), increasing. Shape ``(nD,)``.
    lengths : channel lengths (m), increasing. Shape ``(nL,)``.
    vgs : |Vgs| grid (V). Shape ``(nV,)``.
    gm_id : gm/Id (1/V). Shape ``(nD, nL, nV)``.
    jd : current density Id/W (A/m). Shape ``(nD, nL, nV)``.
    gain : intrinsic gain gm/gds. Shape ``(nD, nL, nV)``.
    """

    polarity: str
    vds: np.ndarray = field(repr=False)
    lengths: np.ndarray = field(repr=False)
    vgs: np.ndarray = field(repr=False)
    gm_id: np.ndarray = field(repr=False)
    jd: np.ndarray = field(repr=False)
    gain: np.ndarray = field(repr=False)

    def _row(self, d: int, i: int, gm_id: float) -> tuple[float, float, float] | None:
        """(|Vgs|, Jd, A_i) at |Vds| index ``d`` and length index ``i`` where gm/Id falls
        through ``gm_id``, on the strong-inversion side of the gm/Id maximum (None when never
        reached)."""
        g = self.gm_id[d, i]
        peak = int(np.argmax(g))
        tail = g[peak:]
        idx = np.nonzero((tail[:-1] >= gm_id) & (tail[1:] < gm_id))[0]
        if idx.size == 0:
            return None
        k = peak + int(idx[0])
        t = (g[k] - gm_id) / (g[k] - g[k + 1])
        jd = self.jd[d, i]
        vgs = self.vgs[k] + t * (self.vgs[k + 1] - self.vgs[k])
        dens = float(np.exp(np.log(jd[k]) + t * (np.log(jd[k + 1]) - np.log(jd[k]))))
        gain = self.gain[d, i, k] + t * (self.gain[d, i, k + 1] - self.gain[d, i, k])
        return float(vgs), dens, float(gain)

    def _brackets(self, length: float, vds: float | None):
        ls = self.lengths
        if not (ls[0] * (1 - 1e-9) <= length <= ls[-1] * (1 + 1e-9)):
            raise GmIdError(f"L = {length * 1e6:.3g} um is outside the {self.polarity}MOS table "
                            f"({ls[0] * 1e6:.3g}-{ls[-1] * 1e6:.3g} um)")
        length = min(max(length, ls[0]), ls[-1])
        j = int(np.clip(np.searchsorted(ls, length) - 1, 0, len(ls) - 2))
        tl = (np.log(length) - np.log(ls[j])) / (np.log(ls[j + 1]) - np.log(ls[j]))
        vs = self.vds
        v = float(vs[len(vs) // 2]) if vds is None else min(max(float(vds), vs[0]), vs[-1])
        if len(vs) == 1:
            return j, tl, 0, 0.0
        d = int(np.clip(np.searchsorted(vs, v) - 1, 0, len(vs) - 2))
        return j, tl, d, (v - vs[d]) / (vs[d + 1] - vs[d])

    def lookup(self, gm_id: float, length: float, vds: float | None = None
               ) -> tuple[float, float, float]:
        """(|Vgs| in V, Jd in A/m, intrinsic gain) at ``gm_id``, channel ``length`` and
        ``vds`` (default: the middle sweep, VDD/2; clipped to the swept range), interpolated
        linearly in log L and in |Vds|.

        Raises
        ------
        GmIdError
            When ``length`` is outside the table or ``gm_id`` is not reached there.
        """
        j, tl, d, tv = self._brackets(length, vds)
        planes = []
        for dd in ((d,) if tv == 0.0 else (d, d + 1)):
            lo, hi = self._row(dd, j, gm_id), self._row(dd, j + 1, gm_id)
            if lo is None or hi is None:
                top = float(self.gm_id[dd, j:j + 2].max())
                raise GmIdError(f"gm/Id = {gm_id:.3g} /V is not reached by the "
                                f"{self.polarity}MOS at L = {length * 1e6:.3g} um (at most "
                                f"{top:.3g} /V)")
            planes.append((lo[0] + tl * (hi[0] - lo[0]),
                           np.log(lo[1]) + tl * (np.log(hi[1]) - np.log(lo[1])),
                           lo[2] + tl * (hi[2] - lo[2])))
        if len(planes) == 1:
            vgs, logj, gain = planes[0]
        else:
            vgs, logj, gain = (a + tv * (b - a) for a, b in zip(*planes, strict=True))
        return float(vgs), float(np.exp(logj)), float(gain)

    def gm_id_at(self, vgs: float, length: float, vds: float | None = None) -> float:
        """gm/Id (1/V) at |Vgs| ``vgs``, ``length`` and ``vds`` (linear in |Vgs| and |Vds|,
        log L)."""
        ls = self.lengths
        j, tl, d, tv = self._brackets(min(max(length, ls[0]), ls[-1]), vds)

        def at(dd: int) -> float:
            a = np.interp(vgs, self.vgs, self.gm_id[dd, j])
            b = np.interp(vgs, self.vgs, self.gm_id[dd, j + 1])
            return float(a + tl * (b - a))

        return at(d) if tv == 0.0 else at(d) + tv * (at(d + 1) - at(d))


@dataclass(frozen=True)
class GmIdTables:
    """NMOS and PMOS gm/Id tables of a technology (:func:`gmid_tables`).

    Attributes
    ----------
    tech : technology name.
    vdd : its supply (V).
    n, p : the tables of each polarity.
    """

    tech: str
    vdd: float
    n: PolarityTable
    p: PolarityTable

    def __getitem__(self, polarity: str) -> PolarityTable:
        if polarity not in ("n", "p"):
            raise KeyError(f"polarity must be 'n' or 'p', not {polarity!r}")
        return self.n if polarity == "n" else self.p

    def to_json(self) -> dict:
        """The tables as a JSON-ready mapping (rounded to :data:`DIGITS` digits)."""
        def arr(a: np.ndarray) -> list:
            return [float(f"{x:.{DIGITS}g}") for x in np.asarray(a).ravel()]
        out: dict = {"tech": self.tech, "vdd": self.vdd}
        for pol in ("n", "p"):
            t = self[pol]
            out[pol] = {"vds": arr(t.vds), "lengths": arr(t.lengths), "vgs": arr(t.vgs),
                        "gm_id": arr(t.gm_id),
                        "jd": arr(t.jd), "gain": arr(t.gain)}
        return out

    @classmethod
    def from_json(cls, data: dict) -> GmIdTables:
        """Inverse of :meth:`to_json`."""
        pols = {}
        for pol in ("n", "p"):
            d = data[pol]
            vd = np.asarray(d["vds"], float)
            ls, v = np.asarray(d["lengths"], float), np.asarray(d["vgs"], float)
            shape = (len(vd), len(ls), len(v))
            pols[pol] = PolarityTable(pol, vd, ls, v, *(np.asarray(d[k], float).reshape(shape)
                                                       for k in ("gm_id", "jd", "gain")))
        return cls(str(data["tech"]), float(data["vdd"]), pols["n"], pols["p"])


def model_card_hash(tech: Technology) -> str:
    """SHA-256 of the technology's model-card text (what the sweeps simulate)."""
    return hashlib.sha256(tech.library.encode()).hexdigest()


def table_config(tech: str | Technology = "180nm") -> dict:
    """The inputs that determine a technology's tables (the cached run's config)."""
    t = get_technology(tech)
    return {"tech": t.name, "model_card_sha256": model_card_hash(t), "vdd": t.vdd,
            "vds": [float(f"{f * t.vdd:.6g}") for f in VDS_FRACTIONS], "vgs_step": VGS_STEP,
            "lengths": [float(f"{m * t.lmin:.6g}") for m in LENGTH_MULTIPLES]}


def compute_tables(tech: str | Technology = "180nm") -> GmIdTables:
    """Sweep both polarities at every |Vds| of :data:`VDS_FRACTIONS` and length of
    :data:`LENGTH_MULTIPLES` in ngspice and build the tables (a few seconds at 180 nm). Points
    below 1 pA (no conduction) get gm/Id 0, out of every gm/Id search."""
    t = get_technology(tech)
    cfg = table_config(t)
    lengths = cfg["lengths"]
    raw = {vds: sweeps(t, lengths, vds=vds, step=VGS_STEP) for vds in cfg["vds"]}
    pols = {}
    for pol in ("n", "p"):
        planes = []
        for vds in cfg["vds"]:
            rows = sorted((s for s in raw[vds] if s.polarity == pol), key=lambda s: s.length)
            planes.append(rows)
        vgs = planes[0][0].vgs
        idd = np.array([[r.id for r in rows] for rows in planes])
        gm = np.array([[r.gm for r in rows] for rows in planes])
        gds = np.array([[r.gds for r in rows] for rows in planes])
        on = idd > 1e-12
        gm_id = np.where(on, gm / np.maximum(idd, 1e-30), 0.0)
        jd = np.maximum(idd, 1e-30) / 1e-6
        gain = gm / np.maximum(gds, 1e-30)
        pols[pol] = PolarityTable(pol, np.array(cfg["vds"]), np.array(lengths),
                                  np.asarray(vgs), gm_id, jd, gain)
    return GmIdTables(t.name, t.vdd, pols["n"], pols["p"])


@functools.cache
def dependencies() -> tuple[str, ...]:
    """The modules the saved tables depend on, recorded as their code fingerprint: this module
    and the ``circuits`` engine it characterises with."""
    return tuple(code_dependencies(__name__))


def gmid_tables(tech: str | Technology = "180nm", *, root: Path | None = None,
                save: bool = True) -> GmIdTables:
    """The cached tables of ``tech`` when the saved run's config (model-card hash, grid)
    equals the current one and the code it depends on (this module and the ``circuits`` engine
    it simulates with) is unchanged, else freshly computed (and saved when ``save``).

    Used by the book chapter "MACRO: transistor-level mapping", section "gm/Id tables".
    """
    t = get_technology(tech)
    cfg = table_config(t)
    name = f"{RUN_PREFIX}/{t.name}"
    run = load_run(name, cfg, root=root, code=dependencies(), current=True)
    if run is not None:
        return GmIdTables.from_json(run.metrics)
    started, t0 = datetime.now(UTC), time.perf_counter()
    tables = compute_tables(t)
    if save:
        prov = provenance(wall_s=time.perf_counter() - t0, started=started,
                          code=dependencies())
        save_run(name, cfg, tables.to_json(), prov, root=root or results_root())
    return tables


__all__ = ["GmIdError", "GmIdTables", "PolarityTable", "compute_tables", "dependencies",
           "gmid_tables",
           "model_card_hash", "table_config"]
