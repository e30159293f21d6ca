"""A behaviour-level design: a topology and the value of each of its parameters.

The design object is what both simulators (:mod:`macro.solver`, :mod:`macro.reference`) and agent
P work on, and what the transistor-level mapping reads: :meth:`Design.stages` lists every gm
stage (main, feed-forward, feedback) with its input node, output node, transconductance and
output resistance and capacitance; :meth:`Design.elements` lists the whole circuit as G, R and C
elements between named nodes (``vin n1 n2 vout 0`` and internal nodes ``x_<pair>``).

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .topology import (
    C_LOAD,
    CONNECTION_TYPES,
    F_T,
    R_LOAD,
    TAU_OUT,
    TUNABLE_PAIRS,
    ParamSpec,
    Topology,
    pair_name,
)


class DesignError(ValueError):
    """A design's values do not fit its topology (unknown name, non-finite or out of bounds)."""


#: Relative slack on the bounds (values agent P clips land on them up to rounding).
BOUND_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Element:
    """One linear element of the behaviour-level circuit.

    Attributes
    ----------
    kind : ``"G"`` (voltage-controlled current source), ``"R"`` or ``"C"``.
    name : unique within a design (``"g1"``, ``"r_n1"``, ``"c_n1_vout"``...).
    a, b : the nodes it joins (``"0"`` is ground); for G the current ``value * v(ca, cb)``
        flows from ``a`` through the source to ``b`` (SPICE's ``G a b ca cb value``).
    value : S, Ohm or F.
    ca, cb : controlling nodes of a G element (``""`` otherwise).
    """

    kind: str
    name: str
    a: str
    b: str
    value: float
    ca: str = ""
    cb: str = ""


@dataclass(frozen=True)
class Stage:
    """A gm stage of a design (what the transistor mapping realises as a transistor stage).

    Attributes
    ----------
    name : ``"main1"``..``"main3"`` or the tunable pair (``"n1_vout"``).
    sense : the node whose voltage it senses.
    drive : the node it drives (an internal node ``x_<pair>`` for series combinations).
    gm : transconductance (S), signed: ``+gm`` inverts (``G drive 0 sense 0 gm``).
    r_out : output resistance (Ohm), ``rscl / |gm|``.
    c_out : capacitance to ground at ``drive`` that belongs to the stage (F).
    """

    name: str
    sense: str
    drive: str
    gm: float
    r_out: float
    c_out: float


class Design:
    """A topology with a value for every parameter (validated); chapter "The behaviour-level
    model", section "Design parameters".

    Parameters
    ----------
    topology : the topology (it must be valid).
    values : parameter values by name; a parameter left out takes its default.

    Raises
    ------
    DesignError
        When the topology is invalid, a name is unknown, or a value is not finite or is out of
        its bounds.
    """

    __slots__ = ("_values", "topology")

    def __init__(self, topology: Topology, values: Mapping[str, float] | None = None) -> None:
        if not isinstance(topology, Topology):
            raise DesignError(f"topology must be a Topology, not {type(topology).__name__}")
        if not topology.is_valid():
            raise DesignError(f"invalid topology {topology.types}: {topology.invalid_reason()}")
        specs = topology.parameters()
        given = dict(values or {})
        names = {s.name for s in specs}
        unknown = sorted(set(given) - names)
        if unknown:
            raise DesignError(f"unknown parameter(s) {unknown} for topology {topology.types}; "
                              f"its parameters are {', '.join(s.name for s in specs)}")
        out = {}
        for s in specs:
            v = given.get(s.name, s.default)
            try:
                x = float(v)
            except (TypeError, ValueError):
                raise DesignError(f"{s.name} must be a number, not {v!r}") from None
            if not math.isfinite(x):
                raise DesignError(f"{s.name} must be finite, not {x}")
            slack = BOUND_TOLERANCE * max(abs(s.lo), abs(s.hi))
            if not s.lo - slack <= x <= s.hi + slack:
                raise DesignError(f"{s.name} = {x:.6g} is outside its bounds "
                                  f"[{s.lo:.6g}, {s.hi:.6g}]")
            out[s.name] = min(max(x, s.lo), s.hi)
        object.__setattr__(self, "topology", topology)
        object.__setattr__(self, "_values", MappingProxyType(out))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Design is immutable")

    @property
    def values(self) -> Mapping[str, float]:
        """Every parameter's value, in the order of ``topology.parameters()``."""
        return self._values

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.4g}" for k, v in self._values.items())
        return f"Design(topology={self.topology.types}, values={{{vals}}})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Design) and self.topology == other.topology
                and dict(self._values) == dict(other._values))

    def __hash__(self) -> int:
        return hash((self.topology, tuple(self._values.items())))

    def replace(self, **values: float) -> Design:
        """A copy with some values changed."""
        return Design(self.topology, {**self._values, **values})

    def unit(self) -> np.ndarray:
        """The values mapped to [0, 1] each (log scale for log parameters), in the order of
        ``topology.parameters()``. Shape ``(n_params,)``."""
        return np.array([s.to_unit(self._values[s.name]) for s in self.topology.parameters()])

    @classmethod
    def from_unit(cls, topology: Topology, u: np.ndarray) -> Design:
        """The design at unit coordinates ``u`` (clipped to [0, 1]), shape ``(n_params,)``."""
        specs = topology.parameters()
        u = np.asarray(u, dtype=float).reshape(-1)
        if u.size != len(specs):
            raise DesignError(f"topology {topology.types} has {len(specs)} parameters, "
                              f"not {u.size}")
        if not np.isfinite(u).all():
            raise DesignError("unit coordinates must be finite")
        return cls(topology, {s.name: s.from_unit(x) for s, x in zip(specs, u, strict=True)})

    @classmethod
    def default(cls, topology: Topology) -> Design:
        """Every parameter at its default."""
        return cls(topology)

    @classmethod
    def random(cls, topology: Topology, rng: np.random.Generator) -> Design:
        """Every parameter drawn uniformly in unit coordinates (log-uniform for log ones)."""
        return cls.from_unit(topology, rng.random(len(topology.parameters())))

    # -- the circuit --------------------------------------------------------------------------

    def stages(self) -> tuple[Stage, ...]:
        """Every gm stage: the three main stages, then the tunable pairs' gm."""
        v = self._values
        return tuple(Stage(r.name, r.sense, r.drive, r.sign * v[r.gm], v[r.rscl] / v[r.gm],
                           r.c_out(v)) for r in stage_recipes(self.topology))

    def elements(self) -> tuple[Element, ...]:
        """The circuit as G, R and C elements, the load included (``"0"`` is ground); see
        :func:`element_recipes`."""
        v = self._values
        return tuple(Element(r.kind, r.name, r.a, r.b, float(r.value(v)), r.ca, r.cb)
                     for r in element_recipes(self.topology))
    def nodes(self) -> tuple[str, ...]:
        """The unknown node voltages: ``n1, n2, vout`` and the internal nodes in pair order."""
        extra = [f"x_{pair_name(p)}" for p, c in self.topology.connections()
                 if c.arrangement == "series"]
        return ("n1", "n2", "vout", *extra)

    def power(self, vdd: float = 1.8, gm_over_id: float = 20.0) -> float:
        """Supply power (W) of the gm/Id model: ``VDD * sum(|gm|) / (gm/Id)``."""
        v = self._values
        return vdd * sum(v[r.gm] for r in stage_recipes(self.topology)) / gm_over_id


@dataclass(frozen=True)
class StageRecipe:
    """How a topology's gm stage takes its values: ``gm = sign * v[gm]``, ``r_out = v[rscl] /
    v[gm]``, ``c_out = c_out(v)`` (``v`` maps parameter names to floats or arrays)."""

    name: str
    sense: str
    drive: str
    sign: int
    gm: str
    rscl: str
    c_out: Callable[[Mapping], Any]


@dataclass(frozen=True)
class ElementRecipe:
    """An element of a topology with its value as a function of the parameters (floats or
    arrays of them)."""

    kind: str
    name: str
    a: str
    b: str
    value: Callable[[Mapping], Any]
    ca: str = ""
    cb: str = ""


def _node(n: str) -> str:
    return "0" if n == "gnd" else n


_MAIN = (("vin", "n1", 1), ("n1", "n2", -1), ("n2", "vout", 1))


def _scaled(name: str, factor: float, v: Mapping) -> Any:
    return v[name] * factor


def _zero(v: Mapping) -> float:
    return 0.0


def _ratio(num: str, den: str, v: Mapping) -> Any:
    return v[num] / v[den]


def _signed(name: str, sign: int, v: Mapping) -> Any:
    return sign * v[name]


def _constant(x: float, v: Mapping) -> Any:
    return x


def _value(name: str, v: Mapping) -> Any:
    return v[name]


def _stage_elements(st: StageRecipe, with_cap: bool) -> list[ElementRecipe]:
    drive = _node(st.drive)
    out = [ElementRecipe("G", f"g_{st.name}", drive, "0",
                         functools.partial(_signed, st.gm, st.sign), _node(st.sense), "0"),
           ElementRecipe("R", f"ro_{st.name}", drive, "0",
                         functools.partial(_ratio, st.rscl, st.gm))]
    if with_cap:
        out.append(ElementRecipe("C", f"co_{st.name}", drive, "0", st.c_out))
    return out


def _main_recipes() -> tuple[tuple[StageRecipe, ...], tuple[ElementRecipe, ...]]:
    stages = []
    elements: list[ElementRecipe] = []
    for i, (a, b, sign) in enumerate(_MAIN, start=1):
        c_out = functools.partial(_scaled, f"g{i + 1}", 1.0 / (2 * math.pi * F_T)) if i < 3 \
            else _zero
        st = StageRecipe(f"main{i}", a, b, sign, f"g{i}", f"rscl{i}", c_out)
        stages.append(st)
        elements += _stage_elements(st, i < 3)
    elements.append(ElementRecipe("R", "r_load", "vout", "0",
                                  functools.partial(_constant, R_LOAD)))
    elements.append(ElementRecipe("C", "c_load", "vout", "0",
                                  functools.partial(_constant, C_LOAD)))
    return tuple(stages), tuple(elements)


_MAIN_STAGES, _MAIN_ELEMENTS = _main_recipes()


@functools.cache
def connection_recipes(pair: tuple[str, str], type_index: int
                       ) -> tuple[tuple[StageRecipe, ...], tuple[ElementRecipe, ...]]:
    """The gm stage (if any) and the elements of one tunable connection (57 in all, cached).

    An extra gm senses the first node of its pair (feed-forward) or the second (feedback) and
    drives the other, or its internal node ``x_<pair>`` for a series combination, with its
    output resistance ``rscl / gm`` and capacitance ``gm * TAU_OUT`` there. Passives: alone or
    in parallel between the pair's nodes; "R - C" through ``x_<pair>``; a gm's series R or C
    from its internal node to the node the stage drives (the second node of the pair for
    feed-forward, the first for feedback).
    """
    conn = CONNECTION_TYPES[type_index]
    p = pair_name(pair)
    a, b = _node(pair[0]), _node(pair[1])
    r = functools.partial(_value, f"{p}_r")
    c = functools.partial(_value, f"{p}_c")
    stages: list[StageRecipe] = []
    out: list[ElementRecipe] = []
    if conn.gm:
        sense, drive = pair if conn.direction == "ff" else pair[::-1]
        if conn.arrangement == "series":
            drive = f"x_{p}"
        st = StageRecipe(p, sense, drive, conn.gm, f"{p}_gm", f"{p}_rscl",
                         functools.partial(_scaled, f"{p}_gm", TAU_OUT))
        stages.append(st)
        out += _stage_elements(st, True)
    if conn.arrangement == "series":
        x = f"x_{p}"
        if conn.gm:
            target = b if conn.direction == "ff" else a
            kind, key, fn = ("R", "r", r) if conn.r else ("C", "c", c)
            out.append(ElementRecipe(kind, f"{key}_{p}", x, target, fn))
        else:
            out.append(ElementRecipe("R", f"r_{p}", a, x, r))
            out.append(ElementRecipe("C", f"c_{p}", x, b, c))
    else:
        if conn.r:
            out.append(ElementRecipe("R", f"r_{p}", a, b, r))
        if conn.c:
            out.append(ElementRecipe("C", f"c_{p}", a, b, c))
    return tuple(stages), tuple(out)


@functools.lru_cache(maxsize=8192)
def stage_recipes(topology: Topology) -> tuple[StageRecipe, ...]:
    """The gm stages of a topology: main stage ``i`` senses its input and drives its output
    node, with the next main stage's input capacitance ``g_(i+1) / (2 pi F_T)`` there (none at
    ``vout``, which has the load); then each tunable connection's gm
    (:func:`connection_recipes`)."""
    out = list(_MAIN_STAGES)
    for pair, t in zip(TUNABLE_PAIRS, topology.types, strict=True):
        out += connection_recipes(pair, t)[0]
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def element_recipes(topology: Topology) -> tuple[ElementRecipe, ...]:
    """The circuit of a topology as G, R and C elements (``"0"`` is ground): each main stage is
    ``G`` from its output node to ground controlled by its input with the signed gm, its output
    resistance ``rscl / g`` and (stages 1-2) the capacitance of its output node; ``vout`` has
    ``R_LOAD`` and ``C_LOAD``; then each tunable connection (:func:`connection_recipes`)."""
    out = list(_MAIN_ELEMENTS)
    for pair, t in zip(TUNABLE_PAIRS, topology.types, strict=True):
        out += connection_recipes(pair, t)[1]
    return tuple(out)


def parameter_table(topology: Topology) -> dict[str, dict[str, object]]:
    """The CLI's ``params`` object: name -> ``{"kind", "bounds", "default", "log",
    "element"}``."""
    return {s.name: {"kind": s.kind, "bounds": [s.lo, s.hi], "default": s.default,
                     "log": s.log, "element": s.element} for s in topology.parameters()}


__all__ = [
    "BOUND_TOLERANCE",
    "TUNABLE_PAIRS",
    "Design",
    "DesignError",
    "Element",
    "ElementRecipe",
    "ParamSpec",
    "Stage",
    "StageRecipe",
    "element_recipes",
    "parameter_table",
    "stage_recipes",
]
