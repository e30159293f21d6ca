"""Schematics of the amplifiers, drawn by code and checked against their netlists.

The book chapter "Circuits, process models and simulation" shows the four amplifiers of
LoRA-RL's Figure 3 (:func:`draw_figure3`). Each drawing is a hand-made placement of the devices
(:data:`LAYOUTS`), but the devices, their polarity and every connection come from the netlist:
:class:`SchematicBuilder` looks each device up in the amplifier's ``.subckt``, refuses a wire
that joins two different nets, and when the drawing is finished checks that every device is
drawn, every net is one connected piece, and no wire of one net runs over, or ends on, a wire or
terminal of another (wires that merely cross are not connected). A netlist edit that the
drawing does not follow therefore fails loudly (:class:`SchematicError`) instead of showing a
wrong circuit.

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
#: Scale of every drawing, in inches per drawing unit: with the builder's 9-point text, device
#: names fit beside their symbols.
INCHES_PER_UNIT = 0.36
#: Margin around a drawing in a figure, in drawing units.
PANEL_PAD = 0.8


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
    fontsize: float = 9.0  # points, at INCHES_PER_UNIT
    drawing: schemdraw.Drawing = field(init=False)
    devices: dict[str, Device] = field(init=False)
    placed: dict[str, _Placed] = field(init=False, default_factory=dict)
    points: dict[str, tuple[Point, str]] = field(init=False, default_factory=dict)
    pins: set[str] = field(init=False, default_factory=set)
    _parent: dict[str, str] = field(init=False, default_factory=dict)
    _polarity: dict[str, str] = field(init=False, default_factory=dict)
    _rails: list[tuple[str, float, float, float, str]] = field(init=False, default_factory=list)
    _segments: list[tuple[Point, Point, str]] = field(init=False, default_factory=list)
    _dots: set[Point] = field(init=False, default_factory=set)

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

    def mos(self, name: str, source: Point, gate: str = "left",
            label: str | float = "opposite") -> None:
        """A transistor with its source at ``source``: NMOS drain above, PMOS drain below.

        ``gate`` is the side of the gate (``"left"`` or ``"right"``); the name is written on the
        other side, on the gate side with ``label="gate"``, or at a horizontal offset from the
        channel when ``label`` is a number (left-aligned when positive).
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
        mid_y = source[1] + (FET_HEIGHT if pol == "nmos" else -FET_HEIGHT) / 2
        if isinstance(label, int | float):
            dx = float(label)
            side = "right" if dx > 0 else "left"
        else:
            side = ("right" if gate == "left" else "left") if label == "opposite" else gate
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
        self.drawing.add(kinds[d.kind]().endpoints(start, end))
        vertical = abs(end[0] - start[0]) < abs(end[1] - start[1])
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        if vertical:
            dx = 0.55 if label_side == "right" else -0.55
            self.drawing.add(elm.Label().at((mid[0] + dx, mid[1]))
                             .label(d.name, halign="left" if dx > 0 else "right"))
        else:
            dy = 0.5 if label_side in ("right", "top") else -0.5
            self.drawing.add(elm.Label().at((mid[0], mid[1] + dy)).label(d.name))
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
        """A horizontal supply rail with the net's name at its left end; returns its reference.

        A net may have several rails (a bias network drawn apart from the core); rails of one
        net are connected by name.
        """
        net = net.lower()
        count = sum(1 for r in self._rails if r[0] == net)
        key = self.point(net if count == 0 else f"{net}#{count + 1}", (x0, y), net)
        self._rails.append((net, y, x0, x1, key))
        self._union(key, "@rail:" + net)
        self.drawing.add(elm.Line().at((x0, y)).to((x1, y)).linewidth(1.8))
        self._segments.append(((float(x0), float(y)), (float(x1), float(y)), net))
        self.drawing.add(elm.Label().at((x0 - 0.25, y)).label(net, halign="right"))
        self.pins.add(net)
        return key

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
        net = next(iter(nets)) if nets else self._resolve(keys[0])[1]
        for a, b in pairwise(pts):
            if a != b:
                self.drawing.add(elm.Line().at(a).to(b))
                self._segments.append((a, b, net))
        for i in dots:
            self._dot(pts[i])

    def _dot(self, at: Point) -> None:
        """A junction dot at ``at`` (once)."""
        key = _key(at)
        if key not in self._dots:
            self._dots.add(key)
            self.drawing.add(elm.Dot().at(at))

    def to_rail(self, ref: str, net: str, dot: bool = True) -> None:
        """A vertical wire from a terminal to the nearest rail of ``net`` above or below it."""
        at, ref_net, key = self._resolve(ref)
        if ref_net != net.lower():
            raise SchematicError(f"{self.amp.name}: {ref} is on {ref_net}, not on {net}")
        candidates = [(abs(y - at[1]), y, k) for n, y, x0, x1, k in self._rails
                      if n == net.lower() and x0 <= at[0] <= x1]
        if not candidates:
            raise SchematicError(f"{self.amp.name}: no {net} rail above or below {ref}")
        _, y, rail_key = min(candidates)
        self.wire(ref, (at[0], y))
        self._union(key, rail_key)
        if dot:
            self._dot((at[0], y))

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

    # -- junctions -------------------------------------------------------------------------------

    def junctions(self) -> dict[Point, str]:
        """The points where wires of one net join, with the net: where three or more arms of
        the net meet (a wire end, a device lead, or each side of a wire passing through), that
        is T-junctions and four-way joins, including two wires of one net crossing. Wires of
        different nets that cross do not join (and get no dot).

        Used by :meth:`mark_junctions` and by the tests of the drawings.
        """
        arms: dict[tuple[Point, str], int] = {}

        def add(at: Point, net: str, n: int) -> None:
            arms[(_key(at), net)] = arms.get((_key(at), net), 0) + n

        for placed in self.placed.values():
            terms = MOS_TERMINALS if placed.device.kind == "M" else TWO_TERMINALS
            for term, index in terms.items():
                add(placed.terminals[term], placed.device.nodes[index].lower(), 1)
        for a, b, net in self._segments:
            add(a, net, 1)
            add(b, net, 1)
        candidates = {(at, net) for at, net in arms}
        for i, (a, b, net) in enumerate(self._segments):
            for at, other in candidates:
                if other == net and _on_segment(at, a, b) and at not in (_key(a), _key(b)):
                    add(at, net, 2)
            for c, d, other in self._segments[i + 1:]:
                cross = _crossing(a, b, c, d) if other == net else None
                if cross is not None and (_key(cross), net) not in candidates:
                    add(cross, net, 4)
        return {at: net for (at, net), n in sorted(arms.items()) if n >= 3}

    def mark_junctions(self) -> list[Point]:
        """Dot every junction (:meth:`junctions`) that has no dot yet; returns those added."""
        added = [at for at in self.junctions() if at not in self._dots]
        for at in added:
            self._dot(at)
        return added

    def stray_dots(self) -> list[Point]:
        """Dots drawn where no wires join (a corner or a wire end): they would suggest a
        connection that is not there, or hide a plain bend."""
        joins = self.junctions()
        return sorted(at for at in self._dots if at not in joins)

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
        problems += self._shorts()
        if problems:
            raise SchematicError(f"{self.amp.name} schematic does not match its netlist: "
                                 + "; ".join(problems))


    def _shorts(self) -> list[str]:
        """Places where the picture joins what the netlist keeps apart: a terminal, point or
        wire end of one net on a wire of another, or wires of two nets running over each
        other. Wires that merely cross are fine (no dot, no connection)."""
        anchors: list[tuple[str, Point, str]] = []
        for name, placed in self.placed.items():
            terms = MOS_TERMINALS if placed.device.kind == "M" else TWO_TERMINALS
            for term, index in terms.items():
                anchors.append((f"{name}.{term}", placed.terminals[term],
                                placed.device.nodes[index].lower()))
        anchors += [(key, at, net) for key, (at, net) in self.points.items()]
        for a, b, net in self._segments:
            anchors += [(f"a wire end of {net}", a, net), (f"a wire end of {net}", b, net)]
        out = []
        for a, b, net in self._segments:
            for label, at, other in anchors:
                if other != net and _on_segment(at, a, b):
                    out.append(f"{label} ({other}) touches a wire of {net} at {at}")
        for i, (a, b, net) in enumerate(self._segments):
            for c, d, other in self._segments[i + 1:]:
                if other != net and _overlap(a, b, c, d):
                    out.append(f"wires of {net} and {other} run over each other near {a}")
        return sorted(set(out))


def _key(at: Point) -> Point:
    """A point rounded so that equal drawing coordinates compare equal."""
    return (round(float(at[0]), 3) + 0.0, round(float(at[1]), 3) + 0.0)


def _crossing(a: Point, b: Point, c: Point, d: Point, eps: float = 1e-6) -> Point | None:
    """Where segment ``a``-``b`` crosses segment ``c``-``d`` inside both (not at an end), or
    ``None``."""
    r = (b[0] - a[0], b[1] - a[1])
    s = (d[0] - c[0], d[1] - c[1])
    den = r[0] * s[1] - r[1] * s[0]
    if abs(den) < eps:
        return None
    t = ((c[0] - a[0]) * s[1] - (c[1] - a[1]) * s[0]) / den
    u = ((c[0] - a[0]) * r[1] - (c[1] - a[1]) * r[0]) / den
    if eps < t < 1 - eps and eps < u < 1 - eps:
        return (a[0] + t * r[0], a[1] + t * r[1])
    return None


def _on_segment(p: Point, a: Point, b: Point, eps: float = 1e-6) -> bool:
    """Whether ``p`` lies on the segment ``a``-``b`` (ends included)."""
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    if abs(cross) > eps * max(1.0, abs(b[0] - a[0]) + abs(b[1] - a[1])):
        return False
    return (min(a[0], b[0]) - eps <= p[0] <= max(a[0], b[0]) + eps
            and min(a[1], b[1]) - eps <= p[1] <= max(a[1], b[1]) + eps)


def _overlap(a: Point, b: Point, c: Point, d: Point, eps: float = 1e-6) -> bool:
    """Whether two segments are collinear and share more than a point."""
    if not _collinear(a, b, c, d, eps):
        return False
    ux, uy = b[0] - a[0], b[1] - a[1]
    norm = (ux * ux + uy * uy) ** 0.5
    if norm < eps:
        return False
    t = sorted(((p[0] - a[0]) * ux + (p[1] - a[1]) * uy) / norm for p in (c, d))
    return min(norm, t[1]) - max(0.0, t[0]) > eps


def _collinear(a: Point, b: Point, c: Point, d: Point, eps: float) -> bool:
    def cross(p: Point) -> float:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])

    scale = max(1.0, abs(b[0] - a[0]) + abs(b[1] - a[1]))
    return abs(cross(c)) <= eps * scale and abs(cross(d)) <= eps * scale


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


def _pmos_mirror(b: SchematicBuilder, diode: str, mirror: str, x_diode: float, x_mirror: float,
                 top: float, net: str) -> str:
    """A PMOS mirror hanging from the ``vdd`` rail at ``top``: ``diode`` (drain tied to both
    gates) and ``mirror``, gates facing each other; returns the named point of the diode's
    drain net ``net`` on its drain wire, for the device below to be wired to."""
    left = x_diode < x_mirror
    b.mos(diode, (x_diode, top), gate="right" if left else "left")
    b.mos(mirror, (x_mirror, top), gate="left" if left else "right")
    b.to_rail(f"{diode}.s", "vdd")
    b.to_rail(f"{mirror}.s", "vdd")
    x_gates, y_node = (x_diode + x_mirror) / 2, top - 2.7
    node = b.point(net, (x_diode, y_node), net)
    gates = b.point(f"{net}_gates", (x_gates, top - FET_HEIGHT / 2), net)
    b.wire(f"{diode}.d", node)
    b.wire(f"{diode}.g", gates, f"{mirror}.g", dots=(1,))
    b.wire(node, (x_gates, y_node), gates, dots=(0,))
    return node


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
    n1 = _pmos_mirror(b, "M3", "M4", 2.5, 6.5, top=9.0, net="n1")
    b.wire(n1, "M1.d")
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
    # PMOS mirrors M3-M6 (left) and M4-M7 (right)
    b.wire(_pmos_mirror(b, "M3", "M6", 2.5, -1.0, top=9.0, net="n1"), "M1.d")
    b.wire(_pmos_mirror(b, "M4", "M7", 6.5, 10.0, top=9.0, net="n2"), "M2.d")
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
    n1 = _pmos_mirror(b, "M3", "M4", 2.5, 6.5, top=11.0, net="n1")
    b.wire(n1, "M1.d")
    n2_c = b.point("n2_c", (6.5, 7.2), "n2")
    n2 = b.point("n2", (6.5, 6.0), "n2")
    b.wire("M4.d", n2_c, n2, "M2.d", dots=(1, 2))
    # second stage: common source M6 into the mirror M7-M8, sink M9
    b.mos("M6", (12.5, 3.2), gate="left")
    b.to_rail("M6.s", "vss")
    b.wire(n2, (11.13, 6.0), "M6.g")
    n3a = _pmos_mirror(b, "M7", "M8", 12.5, 16.5, top=11.0, net="n3a")
    b.wire(n3a, "M6.d")
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


def _folded_cascode(b: SchematicBuilder) -> None:
    """Circuit B: folded-cascode OTA; its bias network drawn below the core."""
    # core: PMOS input pair folded into NMOS cascodes, wide-swing PMOS cascode load
    y0 = 11.0
    b.rail("vdd", y0 + 12.0, -0.5, 20.0)
    b.rail("vss", y0, -0.5, 20.0)
    xl, xr = 3.5, 16.5
    x1, x0, x2 = xl + 4.5, xl + 6.5, xl + 8.5
    # input pair M1 (inp) / M2 (inn) under the tail source M0 (vbp)
    b.mos("M0", (x0, y0 + 10.4), gate="left")
    b.to_rail("M0.s", "vdd")
    b.tag("M0.g", side="left", length=0.5)
    b.mos("M1", (x1, y0 + 8.0), gate="left")
    b.mos("M2", (x2, y0 + 8.0), gate="right")
    tail = b.point("tail", (x0, y0 + 8.0), "tail")
    b.wire("M1.s", tail, "M2.s", dots=(1,))
    b.wire("M0.d", tail)
    b.pin("M1.g", "inp", side="down", length=0.7)
    b.pin("M2.g", "inn", side="down", length=0.7)
    # folded branches: NMOS sinks M3/M4 (vbn), NMOS cascodes M5/M6 (vcn), PMOS cascodes
    # M7/M8 (vcp) and the wide-swing mirror M9/M10 with its gates on o1
    b.mos("M3", (xl, y0), gate="left")
    b.mos("M5", (xl, y0 + 3.5), gate="left")
    b.mos("M7", (xl, y0 + 8.5), gate="left", label=1.6)
    b.mos("M9", (xl, y0 + 12.0), gate="right")
    b.mos("M4", (xr, y0), gate="right")
    b.mos("M6", (xr, y0 + 3.5), gate="right")
    b.mos("M8", (xr, y0 + 8.5), gate="right")
    b.mos("M10", (xr, y0 + 12.0), gate="left")
    for m in ("M3", "M4"):
        b.to_rail(f"{m}.s", "vss")
    for m in ("M9", "M10"):
        b.to_rail(f"{m}.s", "vdd")
    for m, side in (("M3", "left"), ("M5", "left"), ("M7", "left"),
                    ("M4", "right"), ("M6", "right"), ("M8", "right")):
        b.tag(f"{m}.g", side=side, length=0.5)
    f1 = b.point("f1", (xl, y0 + 2.5), "f1")
    b.wire("M3.d", f1, "M5.s", dots=(1,))
    b.wire("M1.d", (x1, y0 + 2.5), f1)
    f2 = b.point("f2", (xr, y0 + 2.5), "f2")
    b.wire("M4.d", f2, "M6.s", dots=(1,))
    b.wire("M2.d", (x2, y0 + 2.5), f2)
    o1 = b.point("o1", (xl, y0 + 6.0), "o1")
    b.wire("M5.d", o1, "M7.d", dots=(1,))
    b.wire(o1, (xl + GATE_OFFSET, y0 + 6.0), "M9.g", "M10.g", dots=(2,))
    b.wire("M7.s", "M9.d")
    out = b.point("out", (xr, y0 + 6.0), "out")
    b.wire("M6.d", out, "M8.d", dots=(1,))
    b.wire("M8.s", "M10.d")
    b.pin(out, "out", side="right", length=1.2)

    # bias network from the reference current Iref: vbn, vbp and the cascode gates vcn, vcp
    top = 8.5
    b.rail("vdd", top, -0.5, 20.0)
    b.rail("vss", 0.0, -0.5, 20.0)
    c1, c2, c3, c4 = 1.5, 6.0, 10.5, 15.0
    # Iref into the diode MB1 (vbn), mirrored by MB2
    b.element("Iref", (c1, top), (c1, top - 3.0))
    b.mos("MB1", (c1, 0.0), gate="right")
    b.mos("MB2", (c2, 0.0), gate="left")
    vbn = b.point("vbn", (c1, 2.5), "vbn")
    vbn_t = b.point("vbn_t", (c1 + 1.75, 2.5), "vbn")
    vbn_g = b.point("vbn_g", (c1 + 1.75, 0.75), "vbn")
    b.wire("Iref.n", vbn, "MB1.d", dots=(1,))
    b.wire(vbn, vbn_t, vbn_g, dots=(2,))
    b.wire("MB1.g", vbn_g, "MB2.g")
    b.tag(vbn_t, side="up")
    # the PMOS diode MB3 (vbp) carries MB2's current and is mirrored by MB5
    b.mos("MB3", (c2, top), gate="right")
    b.mos("MB5", (c3, top), gate="left")
    vbp = b.point("vbp", (c2, top - 3.0), "vbp")
    vbp_t = b.point("vbp_t", (c2 + 2.25, top - 3.0), "vbp")
    vbp_g = b.point("vbp_g", (c2 + 2.25, top - 0.75), "vbp")
    b.wire("MB3.d", vbp, "MB2.d", dots=(1,))
    b.wire(vbp, vbp_t, vbp_g)
    b.wire("MB3.g", vbp_g, "MB5.g", dots=(1,))
    b.tag(vbp_t, side="down")
    # MB5 feeds the NMOS diode MB4 (vcn)
    b.mos("MB4", (c3, 0.0), gate="right")
    vcn = b.point("vcn", (c3, 2.5), "vcn")
    vcn_t = b.point("vcn_t", (c3 + 1.75, 2.5), "vcn")
    b.wire("MB5.d", vcn, "MB4.d", dots=(1,))
    b.wire(vcn, vcn_t, (c3 + 1.75, 0.75), "MB4.g")
    b.tag(vcn_t, side="up")
    # MB7 (vbn) sinks the PMOS diode MB6 (vcp)
    b.mos("MB6", (c4, top), gate="right")
    b.mos("MB7", (c4, 0.0), gate="right")
    vcp = b.point("vcp", (c4, top - 3.0), "vcp")
    vcp_t = b.point("vcp_t", (c4 + 1.75, top - 3.0), "vcp")
    b.wire("MB6.d", vcp, "MB7.d", dots=(1,))
    b.wire(vcp, vcp_t, (c4 + 1.75, top - 0.75), "MB6.g")
    b.tag(vcp_t, side="down")
    b.tag("MB7.g", side="right", length=0.5)
    b.to_rail("Iref.p", "vdd")
    for m in ("MB1", "MB2", "MB4", "MB7"):
        b.to_rail(f"{m}.s", "vss")
    for m in ("MB3", "MB5", "MB6"):
        b.to_rail(f"{m}.s", "vdd")


#: The layout function of each built-in amplifier.
LAYOUTS: dict[str, Callable[[SchematicBuilder], None]] = {
    "two_stage": _two_stage,
    "folded_cascode": _folded_cascode,
    "current_mirror_ota": _current_mirror_ota,
    "three_stage_nmc": _three_stage_nmc,
}


def draw_amplifier(amp: Amplifier | str, layout: Callable[[SchematicBuilder], None] | None = None,
                   fontsize: float = 9.0) -> schemdraw.Drawing:
    """The checked schematic of an amplifier (a :class:`schemdraw.Drawing`).

    ``layout`` places the devices (default: the built-in layout of the amplifier); ``fontsize``
    is the size of the names in points when the drawing is shown at :data:`INCHES_PER_UNIT`.
    Raises :class:`SchematicError` when the drawing does not match the netlist.
    """
    amp = get_amplifier(amp) if isinstance(amp, str) else amp
    if layout is None:
        layout = LAYOUTS.get(amp.name)
        if layout is None:
            raise SchematicError(f"no layout for {amp.name}; pass one (see SchematicBuilder)")
    b = SchematicBuilder(amp, fontsize=fontsize)
    layout(b)
    b.check()
    b.mark_junctions()
    return b.drawing


def draw_figure3(names: list[str] | None = None, titles: Mapping[str, str] | None = None,
                 width: float = 10.0, fontsize: float = 12.5) -> Figure:
    """LoRA-RL's Figure 3: the amplifiers' schematics, checked against their netlists, one
    above the other in the paper's order (book chapter "Circuits, process models and
    simulation").

    Every panel spans the figure's ``width`` (inches) and writes its names at ``fontsize``
    points, the same in every panel: shown ``width`` inches wide as 936 pixels (the book's
    full-width figures), 12.5 points are 16 pixels, the body text's size.
    """
    names = names or list_amplifiers()
    titles = dict(titles or {})
    panels = [(titles.get(name, f"{get_amplifier(name).label}: {name}"),
               draw_amplifier(name, fontsize=fontsize)) for name in names]
    return stack_drawings(panels, width=width, title_size=fontsize + 1.5)


def stack_drawings(panels: list[tuple[str, schemdraw.Drawing]], width: float | None = None,
                   title_size: float = 12.0) -> Figure:
    """A figure of titled drawings one above the other, each spanning ``width`` inches
    (default: the widest drawing at :data:`INCHES_PER_UNIT`)."""
    boxes = [drawing.get_bbox() for _, drawing in panels]
    units = [(bb.xmax - bb.xmin + 2 * PANEL_PAD, bb.ymax - bb.ymin + 2 * PANEL_PAD)
             for bb in boxes]
    width = width or max(w for w, _ in units) * INCHES_PER_UNIT
    title_h = 0.3 + title_size / 72  # inches above a titled panel
    heights = [h * width / w + (title_h if title else 0.0)
               for (title, _), (w, h) in zip(panels, units, strict=True)]
    total = sum(heights)
    fig = plt.figure(figsize=(width, total))
    top = total
    for (title, drawing), bb, (w, h), height in zip(panels, boxes, units, heights, strict=True):
        top -= height
        ax = fig.add_axes((0.0, top / total, 1.0, h * width / w / total))
        drawing.draw(show=False, canvas=ax)
        ax.set_xlim(bb.xmin - PANEL_PAD, bb.xmax + PANEL_PAD)
        ax.set_ylim(bb.ymin - PANEL_PAD, bb.ymax + PANEL_PAD)
        ax.set_aspect("equal")
        ax.set_axis_off()
        if title:
            ax.set_title(title, fontsize=title_size, loc="left")
    plt.close(fig)
    return fig


def to_png(drawing: schemdraw.Drawing, dpi: float = 100) -> bytes:
    """PNG bytes of one drawing at :data:`INCHES_PER_UNIT` (for inspection and tests)."""
    buf = io.BytesIO()
    stack_drawings([("", drawing)]).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
