"""The behaviour-level topology space of MACRO (paper sections II-B, III-A and Table I).

A behaviour-level op-amp has five nodes, ``vin, n1, n2, vout, gnd`` (in signal order), and one
connection per node pair (``C(5,2) = 10``). Five pairs are fixed: the basic three-stage op-amp
``vin -> n1`` (+gm), ``n1 -> n2`` (-gm), ``n2 -> vout`` (+gm), and no element between ``vin``
and ``gnd`` or ``vout`` and ``gnd`` (the load is added by the simulators). The other five pairs
are tunable, each to one of the 25 connection types of Table I (:data:`CONNECTION_TYPES`), but,
by the "domain knowledge" of section III-A1 (the paper does not list it; these are the ranges of
the public code of its references, ``PAPER_FACTS``), only to a prefix of them:

=============  ===========  =====================================================
pair           types        what is left out
=============  ===========  =====================================================
vin - n2       0-10         feedback into ``vin`` (a source drives it), gm || R or C
vin - vout     0-10         idem
n1 - vout      0-24         nothing
n1 - gnd       0-4          every gm: passives only towards ground
n2 - gnd       0-4          idem
=============  ===========  =====================================================

so agent T's categorical action has ``11 + 11 + 25 + 5 + 5 = 57`` entries and there are
``11 * 11 * 25 * 5 * 5 = 75,625`` topologies.

**Validity rule.** A topology is valid when each tunable pair's type lies in that pair's
allowed range above (:meth:`Topology.is_valid`); this is the whole rule: every one of the
75,625 combinations is a well-formed circuit (every node has a resistive path to ground).
Whether it *works* (stable, gain above 0 dB at 1 Hz, a unity-gain crossing) is decided by
simulation, and a design that does not is a failed evaluation, not an invalid topology. A
:class:`Topology` may hold any types 0-24 (the 25^5 space a decoder can produce);
:meth:`Topology.is_valid` tells the valid ones.

**Sign convention.** A ``+gm`` element from node ``a`` to node ``b`` is the SPICE element
``G b 0 a 0 gm``: it draws the current ``gm * v(a)`` out of ``b``, so alone it gives the voltage
gain ``-gm * R`` at ``b`` (a common-source stage); ``-gm`` is the non-inverting stage. The main
path ``+gm, -gm, +gm`` is therefore non-inverting at DC. A *feed-forward* gm senses the first
node of its pair and drives the second; a *feedback* gm senses the second and drives the first.

**Series combinations.** "gm in series with R (or C)" is the gm stage driving an internal node
(which has the stage's output resistance and capacitance to ground), joined by the R (or C) to
the node the stage drives; "R in series with C" is R from the first node to an internal node and
C from there to the second.

Element values (:meth:`Topology.parameters`) follow the ranges of MACRO's references (see
``PAPER_FACTS``): main stages ``g_i`` in 0.01-1 mS with output resistance ``rscl_i / g_i``
(``rscl_i`` in 40-80); extra gm 0.01-10 mS, also with ``rscl / gm`` (40-80) and an output
capacitance ``gm * TAU_OUT`` (1 pF at 10 mS); R 0.01-1 MOhm alone, 0.01-10 MOhm in
combinations; C 0.01-10 pF alone, 0.5-10 pF in combinations. The capacitance of ``n1`` (``n2``)
to ground is the input capacitance of the stage it drives, ``g_2 / (2 pi f_T)``
(``g_3 / (2 pi f_T)``) with ``f_T = 200 MHz``; ``vout`` carries the load ``R_L = 0.15 MOhm``,
``C_L = 10 nF``.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

#: Circuit nodes in signal order (the DAG's topological order).
NODES = ("vin", "n1", "n2", "vout", "gnd")
#: Node categories of section II-B.
NODE_KINDS = ("input", "intermediate", "intermediate", "output", "ground")
#: The five tunable node pairs, in the order of agent T's action blocks.
TUNABLE_PAIRS = (("vin", "n2"), ("vin", "vout"), ("n1", "vout"), ("n1", "gnd"), ("n2", "gnd"))
#: The five fixed pairs and their connection (main stages and the two empty pairs).
FIXED_PAIRS = (("vin", "n1"), ("n1", "n2"), ("n2", "vout"), ("vin", "gnd"), ("vout", "gnd"))
#: How many connection types (0 .. n-1) each tunable pair may take.
N_CHOICES = (11, 11, 25, 5, 5)
#: Size of agent T's categorical action: ``sum(N_CHOICES)``.
N_ACTIONS = 57
#: Number of connection types of Table I (disconnection included).
N_TYPES = 25
#: Number of topologies: ``prod(N_CHOICES)``.
N_TOPOLOGIES = 75_625

#: Unity-gain frequency of a main stage's input (its capacitance is ``g / (2 pi F_T)``), Hz.
F_T = 200e6
#: Output-capacitance time constant of an extra gm stage (s): ``C_o = gm * TAU_OUT``.
TAU_OUT = 1e-10
#: Load resistance (Ohm) and capacitance (F) at ``vout``.
R_LOAD = 0.15e6
C_LOAD = 10e-9


@dataclass(frozen=True)
class ConnectionType:
    """One connection type of Table I.

    Attributes
    ----------
    index : the type number 0-24 (the action within a pair's block).
    label : a short text label (``"+gm || C"``).
    gm : 0 for none, +1 for a ``+gm`` stage, -1 for a ``-gm`` stage.
    direction : ``"ff"`` (senses the first node of the pair), ``"fb"`` (senses the second), or
        ``""`` without a gm.
    r : whether the connection has a resistor.
    c : whether it has a capacitor.
    arrangement : ``""`` (a single element or none), ``"parallel"`` or ``"series"``.
    """

    index: int
    label: str
    gm: int
    direction: str
    r: bool
    c: bool
    arrangement: str

    @property
    def family(self) -> str:
        """Its row of Table I."""
        if self.index == 0:
            return "disconnection"
        if not self.gm:
            return "R / C" if self.arrangement == "" else "R, C in parallel/serial"
        if not (self.r or self.c):
            return "gm+ / gm-"
        return "gm, R/C in parallel/serial"

    @property
    def passive(self) -> bool:
        """True for types without a transconductance."""
        return self.gm == 0


def _types() -> tuple[ConnectionType, ...]:
    out = [ConnectionType(0, "none", 0, "", False, False, ""),
           ConnectionType(1, "R", 0, "", True, False, ""),
           ConnectionType(2, "C", 0, "", False, True, ""),
           ConnectionType(3, "R || C", 0, "", True, True, "parallel"),
           ConnectionType(4, "R - C", 0, "", True, True, "series"),
           ConnectionType(5, "ff +gm", 1, "ff", False, False, ""),
           ConnectionType(6, "ff -gm", -1, "ff", False, False, "")]
    i = 7
    # 7-10 feed-forward gm in series with R or C; 11-14 in parallel
    for arrangement, sym in (("series", "-"), ("parallel", "||")):
        for sign in (1, -1):
            for elem in ("R", "C"):
                s = "+" if sign > 0 else "-"
                out.append(ConnectionType(i, f"ff {s}gm {sym} {elem}", sign, "ff", elem == "R",
                                          elem == "C", arrangement))
                i += 1
    out += [ConnectionType(15, "fb +gm", 1, "fb", False, False, ""),
            ConnectionType(16, "fb -gm", -1, "fb", False, False, "")]
    i = 17
    # 17-20 feedback gm in parallel with R or C; 21-24 in series
    for arrangement, sym in (("parallel", "||"), ("series", "-")):
        for sign in (1, -1):
            for elem in ("R", "C"):
                s = "+" if sign > 0 else "-"
                out.append(ConnectionType(i, f"fb {s}gm {sym} {elem}", sign, "fb", elem == "R",
                                          elem == "C", arrangement))
                i += 1
    assert len(out) == N_TYPES and all(t.index == k for k, t in enumerate(out))
    return tuple(out)


#: The 25 connection types of Table I, indexed by type number.
CONNECTION_TYPES: tuple[ConnectionType, ...] = _types()


def table_one() -> list[dict[str, object]]:
    """Table I of the paper, counted from :data:`CONNECTION_TYPES`.

    Returns one row per family: ``{"connection": ..., "directions": ..., "total": n,
    "types": [indices]}``, in the paper's row order; the totals sum to 25.
    Used by the book chapter "The behaviour-level model".
    """
    rows = [("R / C", "+"), ("gm+ / gm-", "+/-"), ("R, C in parallel/serial", "+"),
            ("gm, R/C in parallel/serial", "+/-"), ("disconnection", "null")]
    out = []
    for family, directions in rows:
        members = [t.index for t in CONNECTION_TYPES if t.family == family]
        out.append({"connection": family, "directions": directions, "total": len(members),
                    "types": members})
    return out


def action_offsets() -> tuple[int, ...]:
    """Start index of each tunable pair's block in agent T's 57-way action: ``(0, 11, 22, 47,
    52)``. Action ``offsets[k] + t`` sets pair ``k`` to type ``t``."""
    return tuple(int(x) for x in np.cumsum((0, *N_CHOICES[:-1])))


def action_mask(step: int, chosen: tuple[int, ...] = ()) -> np.ndarray:
    """The actions agent T may take at design step ``step`` (0-4), shape ``(57,)``, bool
    (chapter "The behaviour-level model", section "The topology space").

    Agent T designs the pairs in the order of :data:`TUNABLE_PAIRS`: at step ``k`` only the
    block of pair ``k`` is open (the pairs already designed are masked, section III-A2, and the
    later ones wait their turn), and within the block the types allowed for that pair
    (:data:`N_CHOICES`). ``chosen`` holds the types of pairs ``0 .. step-1``; every allowed
    type is valid whatever they are, so they only have to be consistent.

    Raises
    ------
    ValueError
        When ``step`` is not 0-4, ``len(chosen) != step``, or a chosen type is not allowed.
    """
    if not isinstance(step, int | np.integer) or not 0 <= step < len(TUNABLE_PAIRS):
        raise ValueError(f"step must be 0-{len(TUNABLE_PAIRS) - 1}, not {step!r}")
    if len(chosen) != step:
        raise ValueError(f"at step {step}, {step} types must be chosen, not {len(chosen)}")
    for k, t in enumerate(chosen):
        if not 0 <= int(t) < N_CHOICES[k]:
            raise ValueError(f"type {t} is not allowed for pair {'-'.join(TUNABLE_PAIRS[k])}")
    mask = np.zeros(N_ACTIONS, dtype=bool)
    start = action_offsets()[step]
    mask[start:start + N_CHOICES[step]] = True
    return mask


@dataclass(frozen=True)
class ParamSpec:
    """One design parameter of a topology.

    Attributes
    ----------
    name : the name used by :class:`macro.design.Design`, the CLI's ``--set`` and netlists
        (``g1``, ``rscl1``, ``n1_vout_c``, ...).
    kind : ``"gm"`` (S), ``"rscl"`` (output resistance times gm, no unit), ``"r"`` (Ohm) or
        ``"c"`` (F).
    lo : lower bound.
    hi : upper bound.
    default : the value taken when none is given (the middle of the range, geometric for
        ``log``).
    log : whether the parameter is searched on a logarithmic scale.
    element : the connection it belongs to (``"main1"``..``"main3"`` or a pair ``"n1_vout"``).
    """

    name: str
    kind: str
    lo: float
    hi: float
    default: float
    log: bool
    element: str = ""

    def to_unit(self, value: float) -> float:
        """``value`` mapped to [0, 1] (logarithmically for ``log``)."""
        if self.log:
            return (math.log(value) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        return (value - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: float) -> float:
        """The value at ``u`` in [0, 1] (clipped to it)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            return math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        return self.lo + u * (self.hi - self.lo)


def _spec(name: str, kind: str, lo: float, hi: float, log: bool, element: str) -> ParamSpec:
    default = math.sqrt(lo * hi) if log else 0.5 * (lo + hi)
    return ParamSpec(name, kind, lo, hi, default, log, element)


#: Ranges (lo, hi) by role.
RANGES = {
    "main_gm": (1e-5, 1e-3), "rscl": (40.0, 80.0), "extra_gm": (1e-5, 1e-2),
    "r_alone": (1e4, 1e6), "r_combo": (1e4, 1e7), "c_alone": (1e-14, 1e-11),
    "c_combo": (5e-13, 1e-11),
}


def pair_name(pair: tuple[str, str]) -> str:
    """The prefix of a pair's parameter names (``"n1_vout"``)."""
    return f"{pair[0]}_{pair[1]}"


@functools.cache
def connection_parameters(pair: tuple[str, str], type_index: int) -> tuple[ParamSpec, ...]:
    """The parameters of one connection of a tunable pair (in the order gm, rscl, r, c)."""
    t = CONNECTION_TYPES[type_index]
    p = pair_name(pair)
    alone = t.arrangement == "" and not t.gm
    out = []
    if t.gm:
        out.append(_spec(f"{p}_gm", "gm", *RANGES["extra_gm"], True, p))
        out.append(_spec(f"{p}_rscl", "rscl", *RANGES["rscl"], False, p))
    if t.r:
        out.append(_spec(f"{p}_r", "r", *RANGES["r_alone" if alone else "r_combo"], True, p))
    if t.c:
        out.append(_spec(f"{p}_c", "c", *RANGES["c_alone" if alone else "c_combo"], True, p))
    return tuple(out)


MAIN_PARAMETERS = tuple(
    spec for i in (1, 2, 3) for spec in (
        _spec(f"g{i}", "gm", *RANGES["main_gm"], True, f"main{i}"),
        _spec(f"rscl{i}", "rscl", *RANGES["rscl"], False, f"main{i}")))


@functools.lru_cache(maxsize=8192)
def _parameters(types: tuple[int, ...]) -> tuple[ParamSpec, ...]:
    out = list(MAIN_PARAMETERS)
    for pair, t in zip(TUNABLE_PAIRS, types, strict=True):
        out.extend(connection_parameters(pair, t))
    return tuple(out)


@dataclass(frozen=True)
class TopologyGraph:
    """A topology as a DAG (Fig. 1(b)): nodes in topological order and typed edges.

    Attributes
    ----------
    nodes : :data:`NODES`.
    kinds : :data:`NODE_KINDS`.
    edges : ``(i, j, label)`` for each connection present, ``i < j`` node indices; the label is
        a Table I type for tunable pairs (``1 .. 24``), ``"+gm"`` / ``"-gm"`` for the main stages.
    types : ``(5, 5)`` integer matrix, ``types[i, j]`` (``i < j``) the Table I type of pair
        ``(i, j)``: the main stages are 5 (ff +gm) and 6 (ff -gm), empty pairs 0.
    """

    nodes: tuple[str, ...]
    kinds: tuple[str, ...]
    edges: tuple[tuple[int, int, int | str], ...]
    types: np.ndarray


@dataclass(frozen=True)
class Topology:
    """A behaviour-level topology: the connection type of each tunable pair.

    Attributes
    ----------
    types : connection type (0-24) of each pair of :data:`TUNABLE_PAIRS`, in order.
    """

    types: tuple[int, int, int, int, int]

    def __post_init__(self) -> None:
        types = tuple(self.types)
        if len(types) != len(TUNABLE_PAIRS):
            raise ValueError(f"a topology has {len(TUNABLE_PAIRS)} types, not {len(types)}")
        clean = []
        for t in types:
            if isinstance(t, bool) or not isinstance(t, int | np.integer) or not 0 <= t < N_TYPES:
                raise ValueError(f"connection types are integers 0-{N_TYPES - 1}, not {t!r}")
            clean.append(int(t))
        object.__setattr__(self, "types", tuple(clean))

    def is_valid(self) -> bool:
        """Whether each pair's type is one that pair allows (:data:`N_CHOICES`)."""
        return all(t < n for t, n in zip(self.types, N_CHOICES, strict=True))

    def invalid_reason(self) -> str:
        """Why the topology is not valid (``""`` when it is)."""
        for pair, t, n in zip(TUNABLE_PAIRS, self.types, N_CHOICES, strict=True):
            if t >= n:
                return (f"pair {'-'.join(pair)} allows types 0-{n - 1}, not {t} "
                        f"({CONNECTION_TYPES[t].label})")
        return ""

    def connections(self) -> tuple[tuple[tuple[str, str], ConnectionType], ...]:
        """Each tunable pair with its :class:`ConnectionType`."""
        return tuple((p, CONNECTION_TYPES[t]) for p, t in zip(TUNABLE_PAIRS, self.types,
                                                              strict=True))

    def parameters(self) -> tuple[ParamSpec, ...]:
        """Every design parameter: ``g1, rscl1, g2, rscl2, g3, rscl3``, then each tunable
        connection's (gm, rscl, r, c as it has them), pairs in :data:`TUNABLE_PAIRS` order."""
        return _parameters(self.types)

    def graph(self) -> TopologyGraph:
        """The DAG of Fig. 1(b) (disconnections omitted from ``edges``)."""
        index = {n: i for i, n in enumerate(NODES)}
        types = np.zeros((len(NODES), len(NODES)), dtype=np.int64)
        edges: list[tuple[int, int, int | str]] = [(0, 1, "+gm"), (1, 2, "-gm"), (2, 3, "+gm")]
        types[0, 1], types[1, 2], types[2, 3] = 5, 6, 5
        for (a, b), t in zip(TUNABLE_PAIRS, self.types, strict=True):
            types[index[a], index[b]] = t
            if t:
                edges.append((index[a], index[b], t))
        edges.sort(key=lambda e: (e[0], e[1]))
        return TopologyGraph(NODES, NODE_KINDS, tuple(edges), types)

    @classmethod
    def from_actions(cls, actions: Sequence[int]) -> Topology:
        """The topology of five actions of agent T (indices into the 57-way action), one in
        each pair's block, in any order.

        Raises
        ------
        ValueError
            When there are not five actions, one is outside 0-56, or two fall in one block.
        """
        acts = [int(a) for a in actions]
        if len(acts) != len(TUNABLE_PAIRS):
            raise ValueError(f"a topology takes {len(TUNABLE_PAIRS)} actions, not {len(acts)}")
        offsets = action_offsets()
        types: list[int | None] = [None] * len(TUNABLE_PAIRS)
        for a in acts:
            if not 0 <= a < N_ACTIONS:
                raise ValueError(f"actions are 0-{N_ACTIONS - 1}, not {a}")
            k = int(np.searchsorted(offsets, a, side="right")) - 1
            if types[k] is not None:
                raise ValueError(f"two actions for pair {'-'.join(TUNABLE_PAIRS[k])}")
            types[k] = a - offsets[k]
        return cls(tuple(types))  # type: ignore[arg-type]

    def to_actions(self) -> tuple[int, ...]:
        """The five actions (in pair order) that build this topology.

        Raises
        ------
        ValueError
            When the topology is not valid (a type has no action).
        """
        if not self.is_valid():
            raise ValueError(f"invalid topology {self.types}: {self.invalid_reason()}")
        return tuple(o + t for o, t in zip(action_offsets(), self.types, strict=True))

    def describe(self) -> str:
        """One line: each tunable pair and its connection."""
        return ", ".join(f"{a}-{b}: {CONNECTION_TYPES[t].label}"
                         for (a, b), t in zip(TUNABLE_PAIRS, self.types, strict=True))


def enumerate_topologies() -> Iterator[Topology]:
    """Every valid topology (75,625), in lexicographic order of the types (counted in the
    chapter "The behaviour-level model", section "The topology space")."""
    for types in itertools.product(*(range(n) for n in N_CHOICES)):
        yield Topology(types)


def sample_topologies(n: int, rng: np.random.Generator, valid_only: bool = True
                      ) -> list[Topology]:
    """``n`` topologies drawn uniformly: from the 75,625 valid ones (``valid_only``), else
    from all ``25^5`` type combinations (most of them invalid). Chapter "The behaviour-level
    model", section "Random designs"."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    highs = N_CHOICES if valid_only else (N_TYPES,) * len(TUNABLE_PAIRS)
    draws = np.stack([rng.integers(0, h, size=n) for h in highs], axis=1) if n else []
    return [Topology(tuple(int(x) for x in row)) for row in draws]


__all__ = [
    "CONNECTION_TYPES", "C_LOAD", "FIXED_PAIRS", "F_T", "MAIN_PARAMETERS", "NODES", "NODE_KINDS",
    "N_ACTIONS", "N_CHOICES", "N_TOPOLOGIES", "N_TYPES", "RANGES", "R_LOAD", "TAU_OUT",
    "TUNABLE_PAIRS", "ConnectionType", "ParamSpec", "Topology", "TopologyGraph", "action_mask",
    "action_offsets", "connection_parameters", "enumerate_topologies", "pair_name",
    "sample_topologies", "table_one",
]
