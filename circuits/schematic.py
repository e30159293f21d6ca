"""Schematics of the amplifiers, drawn by code and checked against their netlists.

The book chapter "Circuits, process models and simulation" shows the four amplifiers of
LoRA-RL's Figure 3 (:func:`draw_figure3`). Each drawing is a hand-made placement of the devices
(:data:`LAYOUTS`), but the devices, their polarity and every connection come from the netlist:
:class:`SchematicBuilder` looks each device up in the amplifier's ``.subckt``, refuses a wire
that joins two different nets, and when the drawing is finished checks that every device is
drawn and every net is one connected piece. A netlist edit that the drawing does not follow
therefore fails loudly (:class:`SchematicError`) instead of showing a wrong circuit.

Conventions of the drawings: supply rails at the top (``vdd``) and bottom (``vss``); bulks are
not drawn and must be tied to ``vss`` (NMOS) or ``vdd`` (PMOS); a dot marks a junction; pins of
the subcircuit carry their names.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

import matplotlib.pyplot as plt
import schemdraw
import schemdraw.elements as elm
from matplotlib.figure import Figure

from .amplifier import Amplifier, get_amplifier, list_amplifiers
from .errors import CircuitsError
from .netlist import Device, model_types

Point = tuple[float, float]
#: Terminal names of drawn devices: MOS ``d g s``; two-terminal elements ``p`` (first node)
#: and ``n`` (second node).
MOS_TERMINALS = {"d": 0, "g": 1, "s": 2}
TWO_TERMINALS = {"p": 0, "n": 1}
#: Height of a transistor symbol (source to drain) and horizontal offset of its gate.
FET_HEIGHT = 1.5
GATE_OFFSET = 1.37


class SchematicError(CircuitsError):
    """A drawing that does not match its netlist (missing device, wrong or missing wire)."""


@dataclass
class _Placed:
    device: Device
    terminals: dict[str, Point]


@dataclass
class SchematicBuilder:
    """Place an amplifier's devices and wire them, checking every connection against the netlist.

    References to connection points are strings: ``"M1.d"``, ``"M1.g"``, ``"M1.s"`` for MOS
    terminals, ``"Cc.p"``/``"Cc.n"`` for the first and second node of a two-terminal element, and
    ``"@name"`` for a named point made with :meth:`point` (rails are named points too, ``"@vdd"``
    and ``"@vss"``). Plain ``(x, y)`` tuples are bends of a wire.

    Used by :func:`draw_amplifier` (book chapter "Circuits, process models and simulation").
    """

    amp: Amplifier
    fontsize: float = 9.0
    drawing: schemdraw.Drawing = field(init=False)
    devices: dict[str, Device] = field(init=False)
    placed: dict[str, _Placed] = field(init=False, default_factory=dict)
    points: dict[str, tuple[Point, str]] = field(init=False, default_factory=dict)
    pins: set[str] = field(init=False, default_factory=set)
    _parent: dict[str, str] = field(init=False, default_factory=dict)
    _polarity: dict[str, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.drawing = schemdraw.Drawing(show=False, fontsize=self.fontsize, lw=1.1)
        self.devices = {d.name.upper(): d for d in self.amp.subckt.devices}
        models = model_types(self.amp.netlist.text)
        for d in self.amp.subckt.devices:
            if d.kind == "M":
                model = (d.model or "").lower()
                pol = models.get(model) or {"nch": "nmos", "pch": "pmos"}.get(model)
                if pol is None:
                    raise SchematicError(f"{self.amp.name}: polarity of {d.name} "
                                         f"(model {d.model}) is unknown")
                self._polarity[d.name.upper()] = pol

    # -- devices --------------------------------------------------------------------------------

    def _device(self, name: str) -> Device:
        d = self.devices.get(name.upper())
        if d is None:
            raise SchematicError(f"{self.amp.name}: the drawing names {name}, which the "
                                 "netlist does not have")
        if name.upper() in self.placed:
            raise SchematicError(f"{self.amp.name}: {name} is drawn twice")
        return d

    def mos(self, name: str, source: Point, gate: str = "left", label: str = "opposite") -> None:
        """A transistor with its source at ``source``: NMOS drain above, PMOS drain below.

        ``gate`` is the side of the gate (``"left"`` or ``"right"``); the name is written on the
        other side unless ``label`` is ``"gate"``.
        """
        d = self._device(name)
        if d.kind != "M":
            raise SchematicError(f"{self.amp.name}: {name} is not a transistor")
        pol = self._polarity[name.upper()]
        bulk = d.nodes[3].lower() if len(d.nodes) > 3 else None
        tied = "vss" if pol == "nmos" else "vdd"
        if bulk is not None and bulk != tied:
            raise SchematicError(f"{self.amp.name}: {name} has its bulk on {bulk}; drawings "
                                 f"assume {pol.upper()} bulks on {tied}")
        sym = elm.NFet() if pol == "nmos" else elm.PFet()
        if gate == "left":
            sym = sym.reverse()
        elif gate != "right":
            raise ValueError(f"gate side must be 'left' or 'right', not {gate!r}")
        el = self.drawing.add(sym.theta(0).at(source).anchor("source"))
        terms = {t: (round(float(getattr(el, a)[0]), 3), round(float(getattr(el, a)[1]), 3))
                 for t, a in (("d", "drain"), ("g", "gate"), ("s", "source"))}
        self.placed[name.upper()] = _Placed(d, terms)
        side = ("right" if gate == "left" else "left") if label == "opposite" else gate
        mid_y = source[1] + (FET_HEIGHT if pol == "nmos" else -FET_HEIGHT) / 2
        dx = 0.35 if side == "right" else -0.35
        self.drawing.add(elm.Label().at((source[0] + dx, mid_y))
                         .label(d.name, halign="left" if side == "right" else "right"))

    def element(self, name: str, start: Point, end: Point, label_side: str = "right") -> None:
        """A resistor, capacitor or current source from ``start`` (its first node) to ``end``.

        A current source ``I name n+ n-`` is drawn with its arrow from n+ to n-, the direction of
        the current through it.
        """
        d = self._device(name)
        kinds = {"R": elm.Resistor, "C": elm.Capacitor, "I": elm.SourceI}
        if d.kind not in kinds:
            raise SchematicError(f"{self.amp.name}: {name} ({d.kind}) cannot be drawn as a "
                                 "two-terminal element")
        el = self.drawing.add(kinds[d.kind]().endpoints(start, end))
        vertical = abs(end[0] - start[0]) < abs(end[1] - start[1])
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        if vertical:
            dx = 0.55 if label_side == "right" else -0.55
            self.drawing.add(elm.Label().at((mid[0] + dx, mid[1]))
                             .label(d.name, halign="left" if dx > 0 else "right"))
        else:
            dy = 0.5 if label_side in ("right", "top") else -0.5
            self.drawing.add(elm.Label().at((mid[0], mid[1] + dy)).label(d.name))
        del el
        self.placed[name.upper()] = _Placed(d, {"p": start, "n": end})

    # -- nets -----------------------------------------------------------------------------------

    def point(self, name: str, at: Point, net: str) -> str:
        """A named connection point of ``net`` (for branches); returns its reference."""
        key = "@" + name
        if key in self.points:
            raise SchematicError(f"{self.amp.name}: point {name} defined twice")
        self.points[key] = (at, net.lower())
        return key

    def rail(self, net: str, y: float, x0: float, x1: float) -> str:
        """A horizontal supply rail named after its net, with the net's name at its left end."""
        self.drawing.add(elm.Line().at((x0, y)).to((x1, y)).linewidth(1.8))
        self.drawing.add(elm.Label().at((x0 - 0.25, y)).label(net, halign="right"))
        self.pins.add(net.lower())
        return self.point(net, (x0, y), net)

    def _resolve(self, ref: str | Point) -> tuple[Point, str | None, str | None]:
        """(coordinates, net, union-find key) of a connection point."""
        if not isinstance(ref, str):
            return (float(ref[0]), float(ref[1])), None, None
        if ref.startswith("@"):
            if ref not in self.points:
                raise SchematicError(f"{self.amp.name}: unknown point {ref}")
            at, net = self.points[ref]
            return at, net, ref
        name, _, term = ref.partition(".")
        placed = self.placed.get(name.upper())
        if placed is None:
            raise SchematicError(f"{self.amp.name}: {name} is wired before it is drawn")
        index = (MOS_TERMINALS if placed.device.kind == "M" else TWO_TERMINALS).get(term)
        if index is None:
            raise SchematicError(f"{self.amp.name}: {name} has no terminal {term!r}")
        return placed.terminals[term], placed.device.nodes[index].lower(), f"{name.upper()}.{term}"

    def wire(self, *path: str | Point, dots: tuple[int, ...] = ()) -> None:
        """A polyline through ``path``; every named point on it must belong to the same net.

        ``dots`` are indices into ``path`` of junctions to mark with a dot.
        """
        resolved = [self._resolve(p) for p in path]
        nets = {net for _, net, _ in resolved if net is not None}
        if len(nets) > 1:
            names = [p for p in path if isinstance(p, str)]
            raise SchematicError(f"{self.amp.name}: a wire joins different nets {sorted(nets)} "
                                 f"({', '.join(names)})")
        keys = [k for _, _, k in resolved if k is not None]
        if not keys:
            raise SchematicError(f"{self.amp.name}: a wire touches no terminal or point")
        for k in keys[1:]:
            self._union(keys[0], k)
        pts = [at for at, _, _ in resolved]
        for a, b in pairwise(pts):
            if a != b:
                self.drawing.add(elm.Line().at(a).to(b))
        for i in dots:
            self.drawing.add(elm.Dot().at(pts[i]))

    def to_rail(self, ref: str, rail: str, dot: bool = True) -> None:
        """A vertical wire from a terminal to a rail (``"vdd"`` or ``"vss"``)."""
        at, _, _ = self._resolve(ref)
        (_, y), _ = self.points["@" + rail]
        self.wire(ref, (at[0], y))
        self._union(self._resolve(ref)[2], "@" + rail)
        if self._resolve(ref)[1] != rail.lower():
            raise SchematicError(f"{self.amp.name}: {ref} is not on {rail}")
        if dot:
            self.drawing.add(elm.Dot().at((at[0], y)))

    def pin(self, ref: str | Point, name: str, side: str = "right", length: float = 0.8) -> None:
        """A subcircuit pin: a short wire from ``ref`` ending in an open dot labelled ``name``."""
        at, net, _ = self._resolve(ref)
        if net is not None and net != name.lower():
            raise SchematicError(f"{self.amp.name}: pin {name} drawn on net {net}")
        dx = {"right": length, "left": -length}.get(side, 0.0)
        dy = {"up": length, "down": -length}.get(side, 0.0)
        end = (at[0] + dx, at[1] + dy)
        key = self.point("pin_" + name, end, name)
        self.wire(ref, key)
        self.drawing.add(elm.Dot(open=True).at(end))
        halign = {"right": "left", "left": "right"}.get(side, "center")
        valign = {"up": "bottom", "down": "top"}.get(side, "center")
        off = (0.2 * (dx > 0) - 0.2 * (dx < 0), 0.2 * (dy > 0) - 0.2 * (dy < 0))
        self.drawing.add(elm.Label().at((end[0] + off[0], end[1] + off[1]))
                         .label(name, halign=halign, valign=valign))
        self.pins.add(name.lower())

    def tag(self, ref: str, side: str = "right", length: float = 0.6) -> None:
        """A net label: a short stub from ``ref`` ending in the net's name.

        Tags of the same net are connected, as in schematic editors, which spares a bias wire
        that would cross the drawing.
        """
        at, net, _ = self._resolve(ref)
        if net is None:
            raise SchematicError(f"{self.amp.name}: a tag needs a terminal or point, not {ref}")
        dx = {"right": length, "left": -length}.get(side, 0.0)
        dy = {"up": length, "down": -length}.get(side, 0.0)
        end = (at[0] + dx, at[1] + dy)
        key = self.point(f"tag_{net}_{len(self.points)}", end, net)
        self.wire(ref, key)
        self._union(key, "@tag:" + net)
        halign = {"right": "left", "left": "right"}.get(side, "center")
        valign = {"up": "bottom", "down": "top"}.get(side, "center")
        off = (0.15 * (dx > 0) - 0.15 * (dx < 0), 0.15 * (dy > 0) - 0.15 * (dy < 0))
        self.drawing.add(elm.Label().at((end[0] + off[0], end[1] + off[1]))
                         .label(net, halign=halign, valign=valign, color="#555555"))

    def _find(self, key: str) -> str:
        self._parent.setdefault(key, key)
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def _union(self, a: str, b: str) -> None:
        self._parent[self._find(a)] = self._find(b)

    # -- checks ---------------------------------------------------------------------------------

    def check(self) -> None:
        """Every device drawn, every net one connected piece, every pin net labelled.

        Raises
        ------
        SchematicError
            With the list of what is missing.
        """
        problems = []
        missing = sorted(set(self.devices) - set(self.placed))
        if missing:
            problems.append(f"devices not drawn: {', '.join(missing)}")
        members: dict[str, list[str]] = {}
        for name, placed in self.placed.items():
            terms = MOS_TERMINALS if placed.device.kind == "M" else TWO_TERMINALS
            for term, index in terms.items():
                members.setdefault(placed.device.nodes[index].lower(), []).append(
                    f"{name}.{term}")
        for key, (_, net) in self.points.items():
            members.setdefault(net, []).append(key)
        for net, keys in sorted(members.items()):
            groups: dict[str, list[str]] = {}
            for k in keys:
                groups.setdefault(self._find(k), []).append(k)
            if len(groups) > 1:
                parts = " | ".join(", ".join(sorted(g)) for g in groups.values())
                problems.append(f"net {net} is drawn in {len(groups)} pieces: {parts}")
        for pin in self.amp.subckt.pins:
            if pin.lower() not in self.pins:
                problems.append(f"pin {pin} is not labelled")
        if problems:
            raise SchematicError(f"{self.amp.name} schematic does not match its netlist: "
                                 + "; ".join(problems))


# -- layouts of the built-in amplifiers ----------------------------------------------------------


def _bias_mirror(b: SchematicBuilder, diode: str, top: float) -> str:
    """Iref from ``vdd`` into the NMOS diode ``diode`` at the left, mirrored by the tail M5.

    Returns the named point of ``nb`` from which further mirrors are wired or tagged.
    """
    b.mos(diode, (-1.5, 0.0), gate="right")
    b.mos("M5", (4.5, 0.0), gate="left")
    b.element("Iref", (-1.5, top), (-1.5, top - 3.5))
    b.to_rail("Iref.p", "vdd")
    nb = b.point("nb", (-1.5, 2.3), "nb")
    nb_t = b.point("nb_t", (1.0, 2.3), "nb")
    nb_g = b.point("nb_g", (1.0, 0.75), "nb")
    b.wire("Iref.n", nb, f"{diode}.d", dots=(1,))
    b.wire(nb, nb_t, nb_g, dots=(1, 2))
    b.wire(f"{diode}.g", nb_g, "M5.g")
    return nb_t


def _input_pair(b: SchematicBuilder) -> None:
    """NMOS input pair M1 (gate ``inn``) and M2 (gate ``inp``) on the drain of the tail M5."""
    b.mos("M1", (2.5, 3.2), gate="left")
    b.mos("M2", (6.5, 3.2), gate="right")
    tail = b.point("tail", (4.5, 3.2), "tail")
    b.wire("M1.s", tail, "M2.s", dots=(1,))
    b.wire(tail, "M5.d")
    b.pin("M1.g", "inn", side="left")
    b.pin("M2.g", "inp", side="right")


def _mirror_load(b: SchematicBuilder, top: float) -> None:
    """PMOS mirror load of the input pair: diode M3 on ``n1``, M4 into ``n2``."""
    b.mos("M3", (2.5, top), gate="right")
    b.mos("M4", (6.5, top), gate="left")
    b.to_rail("M3.s", "vdd")
    b.to_rail("M4.s", "vdd")
    y = top - 2.7
    n1 = b.point("n1", (2.5, y), "n1")
    g34 = b.point("g34", (4.5, top - FET_HEIGHT / 2), "n1")
    b.wire("M3.d", n1, "M1.d", dots=(1,))
    b.wire("M3.g", g34, "M4.g", dots=(1,))
    b.wire(n1, (4.5, y), g34)


def _two_stage(b: SchematicBuilder) -> None:
    """Circuit A: two-stage Miller op-amp."""
    b.rail("vdd", 9.0, -2.5, 14.5)
    b.rail("vss", 0.0, -2.5, 14.5)
    # bias: Iref into the diode M8, mirrored by M5 (tail) and M7 (second-stage sink)
    nb_t = _bias_mirror(b, "M8", top=9.0)
    b.mos("M7", (12.0, 0.0), gate="left")
    b.wire(nb_t, (10.2, 2.3), (10.2, 0.75), "M7.g")
    for m in ("M8", "M5", "M7"):
        b.to_rail(f"{m}.s", "vss")
    # input pair and mirror load
    _input_pair(b)
    _mirror_load(b, top=9.0)
    n2 = b.point("n2", (6.5, 6.3), "n2")
    b.wire("M4.d", n2, "M2.d", dots=(1,))
    # second stage: M6 common source with Miller compensation Rz-Cc
    b.mos("M6", (12.0, 9.0), gate="left")
    b.to_rail("M6.s", "vdd")
    n2_r = b.point("n2_r", (8.8, 6.3), "n2")
    b.wire(n2, n2_r, (8.8, 8.25), "M6.g", dots=(1,))
    b.element("Rz", (8.8, 6.3), (8.8, 4.8), label_side="left")
    b.wire(n2_r, "Rz.p")
    b.element("Cc", (8.8, 4.8), (12.0, 4.8), label_side="bottom")
    b.wire("Rz.n", "Cc.p")
    out = b.point("out", (12.0, 4.8), "out")
    b.wire("M6.d", out, "M7.d", dots=(1,))
    b.wire("Cc.n", out)
    b.pin(out, "out", side="right", length=1.6)


def _current_mirror_ota(b: SchematicBuilder) -> None:
    """Circuit C: current-mirror (symmetrical) OTA."""
    b.rail("vdd", 9.0, -7.5, 13.0)
    b.rail("vss", 0.0, -7.5, 13.0)
    # bias: Iref into the diode M10, which sets the tail current of M5
    b.element("Iref", (-6.5, 9.0), (-6.5, 5.5))
    b.to_rail("Iref.p", "vdd")
    b.mos("M10", (-6.5, 0.0), gate="right")
    nb = b.point("nb", (-6.5, 2.3), "nb")
    nb_g = b.point("nb_g", (-4.8, 0.75), "nb")
    b.wire("Iref.n", nb, "M10.d", dots=(1,))
    b.wire(nb, (-4.8, 2.3), nb_g, "M10.g", dots=(2,))
    b.tag(nb_g, side="right", length=0.5)
    b.mos("M5", (4.5, 0.0), gate="left")
    b.tag("M5.g", side="left", length=0.5)
    # input pair into the PMOS diodes M3, M4
    _input_pair(b)
    b.mos("M3", (2.5, 9.0), gate="left")
    b.mos("M4", (6.5, 9.0), gate="right")
    # PMOS mirrors M3-M6 (left) and M4-M7 (right)
    b.mos("M6", (-1.0, 9.0), gate="right")
    b.mos("M7", (10.0, 9.0), gate="left")
    for m in ("M3", "M4", "M6", "M7"):
        b.to_rail(f"{m}.s", "vdd")
    n1 = b.point("n1", (2.5, 6.3), "n1")
    g36 = b.point("g36", (0.75, 8.25), "n1")
    b.wire("M3.d", n1, "M1.d", dots=(1,))
    b.wire("M6.g", g36, "M3.g", dots=(1,))
    b.wire(n1, (0.75, 6.3), g36)
    n2 = b.point("n2", (6.5, 6.3), "n2")
    g47 = b.point("g47", (8.25, 8.25), "n2")
    b.wire("M4.d", n2, "M2.d", dots=(1,))
    b.wire("M4.g", g47, "M7.g", dots=(1,))
    b.wire(n2, (8.25, 6.3), g47)
    # NMOS mirror M8-M9 turns M6's current around to the output
    b.mos("M8", (-1.0, 0.0), gate="right")
    b.mos("M9", (10.0, 0.0), gate="left")
    b.to_rail("M8.s", "vss")
    b.to_rail("M9.s", "vss")
    b.to_rail("M5.s", "vss")
    b.to_rail("M10.s", "vss")
    n3 = b.point("n3", (-1.0, 2.3), "n3")
    n3_t = b.point("n3_t", (0.75, 2.3), "n3")
    b.wire("M6.d", n3, "M8.d", dots=(1,))
    b.wire(n3, n3_t, (0.75, 0.75), "M8.g", dots=(1,))
    b.wire(n3_t, (8.0, 2.3), (8.0, 0.75), "M9.g")
    out = b.point("out", (10.0, 4.5), "out")
    b.wire("M7.d", out, "M9.d", dots=(1,))
    b.pin(out, "out", side="right", length=1.2)


def _three_stage_nmc(b: SchematicBuilder) -> None:
    """Circuit D: three-stage nested-Miller op-amp."""
    b.rail("vdd", 11.0, -2.5, 22.5)
    b.rail("vss", 0.0, -2.5, 22.5)
    # bias: Iref into the diode M12, mirrored by M5 (tail), M9 and M11 (sinks, tagged nb)
    nb_t = _bias_mirror(b, "M12", top=11.0)
    b.mos("M9", (16.5, 0.0), gate="left")
    b.mos("M11", (20.5, 0.0), gate="right")
    b.tag(nb_t, side="right", length=0.6)
    b.tag("M9.g", side="left", length=0.5)
    b.tag("M11.g", side="right", length=0.5)
    for m in ("M12", "M5", "M9", "M11"):
        b.to_rail(f"{m}.s", "vss")
    # first stage: input pair M1-M2 with tail M5 and mirror load M3-M4
    _input_pair(b)
    _mirror_load(b, top=11.0)
    n2_c = b.point("n2_c", (6.5, 7.2), "n2")
    n2 = b.point("n2", (6.5, 6.0), "n2")
    b.wire("M4.d", n2_c, n2, "M2.d", dots=(1, 2))
    # second stage: common source M6 into the mirror M7-M8, sink M9
    b.mos("M6", (12.5, 3.2), gate="left")
    b.to_rail("M6.s", "vss")
    b.wire(n2, (11.13, 6.0), "M6.g")
    b.mos("M7", (12.5, 11.0), gate="right")
    b.mos("M8", (16.5, 11.0), gate="left")
    b.to_rail("M7.s", "vdd")
    b.to_rail("M8.s", "vdd")
    n3a = b.point("n3a", (12.5, 8.3), "n3a")
    g78 = b.point("g78", (14.5, 10.25), "n3a")
    b.wire("M7.d", n3a, "M6.d", dots=(1,))
    b.wire("M7.g", g78, "M8.g", dots=(1,))
    b.wire(n3a, (14.5, 8.3), g78)
    n3 = b.point("n3", (16.5, 8.3), "n3")
    n3_c = b.point("n3_c", (16.5, 6.0), "n3")
    b.wire("M8.d", n3, n3_c, "M9.d", dots=(1, 2))
    # output stage: common source M10 with sink M11
    b.mos("M10", (20.5, 11.0), gate="left")
    b.to_rail("M10.s", "vdd")
    b.wire(n3, (19.13, 8.3), "M10.g")
    out1 = b.point("out1", (20.5, 7.2), "out")
    out2 = b.point("out2", (20.5, 6.0), "out")
    b.wire("M10.d", out1, out2, "M11.d", dots=(1, 2))
    b.pin(out2, "out", side="right", length=1.2)
    # nested Miller compensation: Cm1 from n2 and Cm2 from n3 to the output
    b.element("Cm1", (7.5, 7.2), (9.5, 7.2), label_side="top")
    b.wire(n2_c, "Cm1.p")
    b.wire("Cm1.n", out1)
    b.element("Cm2", (17.5, 6.0), (19.5, 6.0), label_side="top")
    b.wire(n3_c, "Cm2.p")
    b.wire("Cm2.n", out2)


#: The layout function of each built-in amplifier.
LAYOUTS: dict[str, Callable[[SchematicBuilder], None]] = {
    "two_stage": _two_stage,
    "current_mirror_ota": _current_mirror_ota,
    "three_stage_nmc": _three_stage_nmc,
}


def draw_amplifier(amp: Amplifier | str, layout: Callable[[SchematicBuilder], None] | None = None,
                   ) -> schemdraw.Drawing:
    """The checked schematic of an amplifier (a :class:`schemdraw.Drawing`).

    ``layout`` places the devices (default: the built-in layout of the amplifier). Raises
    :class:`SchematicError` when the drawing does not match the netlist.
    """
    amp = get_amplifier(amp) if isinstance(amp, str) else amp
    if layout is None:
        layout = LAYOUTS.get(amp.name)
        if layout is None:
            raise SchematicError(f"no layout for {amp.name}; pass one (see SchematicBuilder)")
    b = SchematicBuilder(amp)
    layout(b)
    b.check()
    return b.drawing


def draw_figure3(names: list[str] | None = None, titles: Mapping[str, str] | None = None
                 ) -> Figure:
    """LoRA-RL's Figure 3: the four amplifiers' schematics side by side, checked against their
    netlists (book chapter "Circuits, process models and simulation")."""
    names = names or list_amplifiers()
    titles = dict(titles or {})
    fig, axes = plt.subplots(2, 2, figsize=(14, 10.5), layout="constrained")
    for ax, name in zip(axes.flat, names, strict=False):
        amp = get_amplifier(name)
        drawing = draw_amplifier(amp)
        _render_into(drawing, ax)
        ax.set_title(titles.get(name, f"{amp.label}: {name}"), fontsize=11)
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    plt.close(fig)
    return fig


def _render_into(drawing: schemdraw.Drawing, ax) -> None:
    """Render a schemdraw drawing into a matplotlib axes."""
    drawing.draw(show=False, canvas=ax)
    ax.set_aspect("equal")
    ax.set_axis_off()


def to_png(drawing: schemdraw.Drawing) -> bytes:
    """PNG bytes of one drawing (for inspection and tests)."""
    buf = io.BytesIO()
    fig = drawing.draw(show=False)
    fig.fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig.fig)
    return buf.getvalue()
