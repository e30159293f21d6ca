"""Linear circuits of G, R and C elements, written as netlists and swept in ngspice.

A :class:`LinearCircuit` is a structured description (elements with checked names, nodes and
finite values, one driven node), never netlist text from a user: :meth:`LinearCircuit.netlist`
writes the deck itself. :func:`run_ac` runs the AC analysis (and the DC operating point, which
gives the exact DC transfer of a linear circuit) of many circuits on a :class:`Simulator`'s
worker pool and returns the frequencies and the complex node voltages.

The driven node carries ``V<name> <node> 0 DC <dc> AC 1``, so each node voltage of the AC
analysis is the transfer function from the source to that node.

Used by MACRO's ngspice reference for the behaviour-level op-amp (book chapter "The
behaviour-level model").

>>> c = LinearCircuit((LinearElement("R", "1", "in", "out", 1e3),
...                    LinearElement("C", "1", "out", "0", 1e-9)), source="in")
>>> print(c.netlist(ACSweep(1, 1e6, 10), ["out"]).splitlines()[2])
Vsrc in 0 DC 1.0 AC 1
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .engine import Failure, Job, Raw
from .errors import NetlistError

#: Element names and node names: letters, digits and underscores (``0`` is ground).
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
#: Element kinds: voltage-controlled current source, resistor, capacitor.
KINDS = ("G", "R", "C")
GROUND = "0"


@dataclass(frozen=True)
class LinearElement:
    """One element.

    Attributes
    ----------
    kind : ``"G"``, ``"R"`` or ``"C"``.
    name : the element's name without its kind letter (written ``<kind><name>``).
    a, b : its nodes; for ``G`` the current ``value * (v(ca) - v(cb))`` flows from ``a``
        through the source to ``b`` (SPICE's convention).
    value : S for ``G`` (any finite number), Ohm for ``R`` and F for ``C`` (finite, > 0).
    ca, cb : the controlling nodes of a ``G`` (empty for ``R`` and ``C``).
    """

    kind: str
    name: str
    a: str
    b: str
    value: float
    ca: str = ""
    cb: str = ""

    def check(self) -> None:
        """Raise :class:`NetlistError` unless the element is well formed."""
        if self.kind not in KINDS:
            raise NetlistError(f"element kind must be one of {KINDS}, not {self.kind!r}")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise NetlistError(f"element name {self.name!r} must be 1-64 letters, digits or _")
        nodes = [self.a, self.b] + ([self.ca, self.cb] if self.kind == "G" else [])
        for n in nodes:
            if not isinstance(n, str) or not _NAME.match(n):
                raise NetlistError(f"{self.kind}{self.name}: node name {n!r} must be 1-64 "
                                   "letters, digits or _")
        if self.kind != "G" and (self.ca or self.cb):
            raise NetlistError(f"{self.kind}{self.name}: only G elements have control nodes")
        try:
            v = float(self.value)
        except (TypeError, ValueError):
            raise NetlistError(f"{self.kind}{self.name}: value {self.value!r} is not a "
                               "number") from None
        if not math.isfinite(v):
            raise NetlistError(f"{self.kind}{self.name}: value {v} is not finite")
        if self.kind != "G" and v <= 0:
            raise NetlistError(f"{self.kind}{self.name}: value must be > 0, not {v:g}")
        if self.a == self.b:
            raise NetlistError(f"{self.kind}{self.name}: both ends on node {self.a}")

    def line(self) -> str:
        """The element's netlist line (values written by ``repr``: they read back exactly)."""
        nodes = f"{self.a} {self.b}" + (f" {self.ca} {self.cb}" if self.kind == "G" else "")
        return f"{self.kind}{self.name} {nodes} {float(self.value)!r}"


@dataclass(frozen=True)
class ACSweep:
    """A logarithmic AC sweep.

    Attributes
    ----------
    start : first frequency (Hz, > 0).
    stop : last frequency (Hz, > start).
    points_per_decade : points per decade (integer >= 1).
    """

    start: float = 1.0
    stop: float = 1e9
    points_per_decade: int = 100

    def __post_init__(self) -> None:
        ok = (math.isfinite(self.start) and math.isfinite(self.stop) and 0 < self.start
              < self.stop and isinstance(self.points_per_decade, int)
              and self.points_per_decade >= 1)
        if not ok:
            raise NetlistError(f"bad AC sweep {self}: need 0 < start < stop, finite, and an "
                               "integer number of points per decade >= 1")

    def frequencies(self) -> np.ndarray:
        """The frequencies ngspice's ``.ac dec`` uses: ``start * 10^(k / ppd)`` up to stop."""
        decades = math.log10(self.stop / self.start)
        n = math.floor(decades * self.points_per_decade + 1e-9) + 1
        return self.start * 10.0 ** (np.arange(n) / self.points_per_decade)


@dataclass(frozen=True)
class LinearCircuit:
    """A linear circuit driven at one node by a unit AC source.

    Attributes
    ----------
    elements : the G, R and C elements (names unique per kind).
    source : the node driven by ``Vsrc <source> 0 DC <dc> AC 1``.
    dc : the DC value of the source (V), for the operating point.
    title : the deck's title line.
    """

    elements: tuple[LinearElement, ...]
    source: str
    dc: float = 1.0
    title: str = "linear circuit"

    def check(self) -> None:
        """Raise :class:`NetlistError` unless the circuit is well formed: valid elements,
        unique names, a source node that some element touches and that is not ground."""
        if not self.elements:
            raise NetlistError("a linear circuit needs at least one element")
        seen = set()
        nodes = set()
        for e in self.elements:
            if not isinstance(e, LinearElement):
                raise NetlistError(f"elements must be LinearElement, not {type(e).__name__}")
            e.check()
            key = (e.kind, e.name.lower())
            if key in seen:
                raise NetlistError(f"two elements are named {e.kind}{e.name}")
            seen.add(key)
            nodes.update({e.a, e.b} | ({e.ca, e.cb} if e.kind == "G" else set()))
        if not isinstance(self.source, str) or not _NAME.match(self.source) or \
                self.source == GROUND:
            raise NetlistError(f"the source node must be a named node other than 0, not "
                               f"{self.source!r}")
        if self.source not in nodes:
            raise NetlistError(f"no element touches the source node {self.source}")
        if not math.isfinite(float(self.dc)):
            raise NetlistError(f"the source's DC value must be finite, not {self.dc}")
        if "\n" in self.title or not self.title.isprintable():
            raise NetlistError("the title must be one printable line")

    def nodes(self) -> tuple[str, ...]:
        """Every node but ground, in order of first appearance."""
        out: dict[str, None] = {}
        for e in self.elements:
            for n in (e.a, e.b, e.ca, e.cb):
                if n and n != GROUND:
                    out.setdefault(n)
        return tuple(out)

    def netlist(self, sweep: ACSweep, outputs: Sequence[str] = ()) -> str:
        """The ngspice deck: title, options, source, elements, ``.op`` and ``.ac``.

        Raises
        ------
        NetlistError
            When the circuit is malformed or an output node is not in it.
        """
        self.check()
        known = set(self.nodes())
        for n in outputs:
            if n not in known:
                raise NetlistError(f"output node {n!r} is not in the circuit")
        lines = [f"* {self.title}", ".options num_threads=1",
                 f"Vsrc {self.source} 0 DC {float(self.dc)!r} AC 1"]
        lines += [e.line() for e in self.elements]
        lines += [".op", f".ac dec {sweep.points_per_decade} {float(sweep.start)!r} "
                  f"{float(sweep.stop)!r}", ".end"]
        return "\n".join(lines) + "\n"


@dataclass
class ACResult:
    """The AC analysis of one circuit.

    Attributes
    ----------
    ok : whether both analyses ran and every requested vector is finite.
    failure : why not (``None`` when ok).
    reason : ngspice's message when not ok.
    frequency : the sweep's frequencies (Hz), shape ``(n,)``.
    voltages : complex voltage of each requested node, each shape ``(n,)``.
    dc : DC voltage of each requested node at the operating point (source at ``dc``).
    netlist : the deck that ran.
    """

    ok: bool
    failure: Failure | None = None
    reason: str = ""
    frequency: np.ndarray | None = field(default=None, repr=False)
    voltages: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    dc: dict[str, float] = field(default_factory=dict)
    netlist: str = field(default="", repr=False)


def job(circuit: LinearCircuit, outputs: Sequence[str], sweep: ACSweep) -> Job:
    """The engine job of one circuit (its key is the hash of the deck)."""
    deck = circuit.netlist(sweep, outputs)
    key = "linear-" + hashlib.sha1(deck.encode()).hexdigest()
    vectors = (("ac", "frequency"), *(("ac", n) for n in outputs), *(("op", n) for n in outputs))
    return Job(key=key, netlist=deck, vectors=vectors)


def result(raw: Raw, outputs: Sequence[str], deck: str = "") -> ACResult:
    """An :class:`ACResult` from a worker's raw vectors."""
    if raw.failure is not None:
        return ACResult(False, raw.failure, raw.message or str(raw.failure), netlist=deck)
    try:
        freq = np.real(np.asarray(raw.vectors[("ac", "frequency")], dtype=complex))
        volts = {n: np.atleast_1d(np.asarray(raw.vectors[("ac", n)], dtype=complex))
                 for n in outputs}
        dc = {n: float(np.real(raw.vectors[("op", n)])) for n in outputs}
    except KeyError as exc:
        return ACResult(False, Failure.MEASUREMENT, f"ngspice returned no vector {exc}",
                        netlist=deck)
    if any(v.shape != freq.shape for v in volts.values()):
        return ACResult(False, Failure.MEASUREMENT, "vectors of different lengths", netlist=deck)
    return ACResult(True, frequency=freq, voltages=volts, dc=dc, netlist=deck)


def run_ac(circuits: Sequence[LinearCircuit], outputs: Sequence[str],
           sweep: ACSweep | None = None, simulator=None) -> list[ACResult]:
    """AC analysis (and operating point) of each circuit on a simulator's worker pool (MACRO's
    reference simulator; chapter "The behaviour-level model").

    Parameters
    ----------
    circuits : the circuits; each is checked before any runs.
    outputs : node names whose voltages are returned (each must be in every circuit).
    sweep : the AC sweep (default 1 Hz - 1 GHz, 100 points per decade).
    simulator : a :class:`circuits.Simulator` (default: the process-wide one).

    Returns
    -------
    list[ACResult]
        In the order given; a simulation that fails gives ``ok`` false with the reason.

    Raises
    ------
    NetlistError
        When a circuit is malformed (before anything runs).
    """
    from .simulator import default_simulator

    sweep = sweep or ACSweep()
    outputs = tuple(outputs)
    if not outputs:
        raise NetlistError("ask for at least one output node")
    jobs = [job(c, outputs, sweep) for c in circuits]
    sim = simulator or default_simulator()
    raws = sim.run_jobs(jobs)
    return [result(r, outputs, j.netlist) for r, j in zip(raws, jobs, strict=True)]


__all__ = ["KINDS", "ACResult", "ACSweep", "LinearCircuit", "LinearElement", "job", "result",
           "run_ac"]
