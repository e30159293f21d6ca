"""Circuit graphs for the GCN of LoRA-RL (its section 3.2): devices are nodes, shared nets edges.

Nodes are the amplifier's devices (transistors, resistors, capacitors, the bias current source)
plus the bench's load capacitor, in netlist order. Two devices are joined by one edge per net they
share, in both directions. Every circuit and every technology gets the same feature layout, so
one policy can see all of them:

node features (:data:`NODE_FEATURES`)
    one-hot device type (NMOS, PMOS, resistor, capacitor, current source), then resistance,
    capacitance, width, length and current, each scaled to [0, 1]: W and L linearly by the
    technology's bounds (LoRA-RL section 4.1), R, C and I logarithmically over fixed decades
    (:data:`LOG_RANGES`); a feature that does not apply to the device is 0.
edge features (:data:`EDGE_FEATURES`)
    one-hot net type (signal, bias, supply/ground), then the net's DC voltage above ground from
    the operating point, divided by VDD (0 without an operating point).

A net is *signal* when the input signal reaches it: from ``inp``/``inn`` through transistor
gates to their channels, along channels, and across resistors and capacitors; ``vdd`` and ``vss``
are *supply*; every other net is *bias*. Used by the book chapter "Circuits, process models and
simulation" and by :mod:`lorarl`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import torch

with warnings.catch_warnings():
    # torch-geometric 2.8 on torch 2.13: a harmless deprecation notice; and in a Jupyter kernel
    # without ipywidgets, tqdm.auto (imported by torch_geometric.utils) says it falls back to
    # text progress bars
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="IProgress not found")
    from torch_geometric.data import Data

from .amplifier import Amplifier
from .errors import TechnologyError
from .netlist import (
    Device,
    dc_value,
    defined_devices,
    evaluate,
    include_target,
    model_types,
    parse_params,
)
from .results import SimulationResult
from .technology import Technology

NODE_TYPES = ("nmos", "pmos", "resistor", "capacitor", "current_source")
NODE_FEATURES = (*(f"is_{t}" for t in NODE_TYPES), "resistance", "capacitance", "width",
                 "length", "current")
NET_TYPES = ("signal", "bias", "supply")
EDGE_FEATURES = (*NET_TYPES, "dc_voltage")
#: log10 ranges mapped to [0, 1]: resistance (ohm), capacitance (F), current (A).
LOG_RANGES = {"resistance": (0.0, 8.0), "capacitance": (-16.0, -8.0), "current": (-8.0, -2.0)}
SUPPLY_NETS = frozenset({"vdd", "vss", "0", "gnd"})
LOAD = "Cload"


def net_types(amp: Amplifier, tech: Technology | None = None) -> dict[str, str]:
    """Type (signal, bias, supply) of every net of an amplifier's subcircuit.

    Transistors are ``M`` elements, and ``X`` instances of the technology's transistor
    subcircuits (PDK devices) when ``tech`` is given.
    """
    devices = amp.subckt.devices
    nets = {n.lower() for d in devices for n in d.nodes}
    signal = {"inp", "inn"}
    changed = True
    while changed:
        changed = False
        for d in devices:
            nodes = [n.lower() for n in d.nodes]
            transistor = d.kind == "M" or (
                d.kind == "X" and tech is not None and d.model is not None
                and tech.polarity(d.model) is not None and len(nodes) >= 3)
            if transistor:
                drain, gate, source = nodes[0], nodes[1], nodes[2]
                reach = set()
                if gate in signal or drain in signal or source in signal:
                    reach = {drain, source}
            elif d.kind in "RCL":
                reach = set(nodes) if signal & set(nodes) else set()
            else:
                reach = set()
            new = (reach - SUPPLY_NETS) - signal
            if new:
                signal |= new
                changed = True
    return {n: "supply" if n in SUPPLY_NETS else "signal" if n in signal else "bias"
            for n in sorted(nets)}


def circuit_graph(amp: Amplifier, tech: Technology, params: Mapping[str, float],
                  result: SimulationResult | None = None, load_cap: float | None = None) -> Data:
    """The circuit graph of a sized amplifier, with DC voltages when ``result`` is given.

    Parameters
    ----------
    amp, tech : the amplifier and the technology it is sized in.
    params : full set of design-parameter values (SI units).
    result : a simulation of this sizing; its node voltages set the edges' DC feature.
    load_cap : the bench's load capacitance (default: the amplifier's).

    Returns
    -------
    torch_geometric.data.Data
        ``x`` (N, 10) float, ``edge_index`` (2, E) long, ``edge_attr`` (E, 4) float,
        ``node_type`` (N,) long, and the lists ``device_names`` and ``net_names`` (net of each
        edge).
    """
    values = _parameter_values(amp, params)
    types = net_types(amp, tech)
    models = {**model_types(tech.library), **model_types(amp.netlist.text)}
    typed = [(d, _node_type(d, tech, models)) for d in amp.subckt.devices]
    typed = [(d, kind) for d, kind in typed if kind is not None]
    devices = [d for d, _ in typed]
    names = [d.name for d in devices] + [LOAD]
    cl = amp.load_cap if load_cap is None else load_cap
    x = [_features(d, kind, tech, values) for d, kind in typed] + [_load_features(cl)]
    kinds = [NODE_TYPES.index(kind) for _, kind in typed] + [NODE_TYPES.index("capacitor")]
    members: dict[str, list[int]] = {}
    for i, d in enumerate(devices):
        for n in dict.fromkeys(n.lower() for n in d.nodes):
            members.setdefault(n, []).append(i)
    members.setdefault("out", []).append(len(devices))
    members.setdefault("vss", []).append(len(devices))
    voltages = _net_voltages(result, types)
    src, dst, attr, edge_nets = [], [], [], []
    for net in sorted(members, key=lambda n: (min(members[n]), n)):
        ids = members[net]
        net_type = types.get(net, "signal" if net == "out" else "supply")
        feat = [float(net_type == t) for t in NET_TYPES] + [voltages.get(net, 0.0) / tech.vdd]
        for a in ids:
            for b in ids:
                if a != b:
                    src.append(a)
                    dst.append(b)
                    attr.append(feat)
                    edge_nets.append(net)
    return Data(
        x=torch.tensor(x, dtype=torch.float32),
        edge_index=torch.tensor([src, dst], dtype=torch.long).reshape(2, -1),
        edge_attr=torch.tensor(attr, dtype=torch.float32).reshape(-1, len(EDGE_FEATURES)),
        node_type=torch.tensor(kinds, dtype=torch.long),
        device_names=names,
        net_names=edge_nets,
    )


def _node_type(d: Device, tech: Technology, models: Mapping[str, str]) -> str | None:
    """The node type of a device; ``None`` for elements that are not nodes (voltage and
    controlled sources, subcircuit instances other than PDK transistors).

    Raises
    ------
    TechnologyError
        For a MOSFET whose model is neither generic, nor the technology's, nor a ``.model``
        of its library or netlist: it would otherwise be left out of the graph unnoticed.
    """
    if d.kind in "MX" and d.model is not None:
        pol = tech.polarity(d.model) or {"nmos": "n", "pmos": "p"}.get(
            models.get(d.model.lower(), "") if d.kind == "M" else "")
        if pol is None and d.kind == "M":  # look in the files the library includes
            pol = {"nmos": "n", "pmos": "p"}.get(
                _library_models(tech.library).get(d.model.lower(), ""))
        if pol is None and d.kind == "M":
            raise TechnologyError(
                f"{d.name}: the polarity of model {d.model!r} is unknown in {tech.name} (not "
                "a .model of its library or of the netlist)")
        return None if pol is None else ("nmos" if pol == "n" else "pmos")
    return {"R": "resistor", "C": "capacitor", "I": "current_source"}.get(d.kind)


def _library_models(library: str) -> dict[str, str]:
    """Device types a technology's library text and the files it includes define (read again
    when one of the files it names changes)."""
    files = tuple((t, Path(t).stat().st_mtime_ns) for t in map(include_target, library.splitlines())
                  if t is not None and Path(t).is_file())
    return _library_models_of(library, files)


@cache
def _library_models_of(library: str, _files: tuple[tuple[str, int], ...]) -> dict[str, str]:
    return defined_devices(library, Path.cwd())


def _parameter_values(amp: Amplifier, params: Mapping[str, float]) -> dict[str, float]:
    """Values of every parameter a device field may name: the netlist's ``.param`` lines, the
    subcircuit's header (its defaults, overridden by the design values given) and then the
    subcircuit's own ``.param`` lines, evaluated in that order as ngspice does."""
    values: dict[str, float] = {}

    def assign(group: Mapping[str, str], keep: Mapping[str, float] | None = None) -> None:
        for name, expr in group.items():
            key = name.lower()
            if keep is not None and key in keep:
                continue  # a design value wins over anything the netlist derives for it
            try:
                values[key] = evaluate(expr, values)
            except (ValueError, ZeroDivisionError):
                continue  # not a plain number (a function of its own): left out

    given = {k.lower(): float(v) for k, v in params.items()}
    for line in amp.netlist.top:
        if line.text.split()[0].lower() == ".param":
            assign(parse_params(line.text))
    assign(amp.subckt.defaults)
    values.update(given)
    for line in amp.subckt.lines:
        if line.text.split()[0].lower() == ".param":
            assign(parse_params(line.text), keep=given)
    return values


def _log_unit(value: float, feature: str) -> float:
    lo, hi = LOG_RANGES[feature]
    if value <= 0:
        return 0.0
    return min(max((math.log10(value) - lo) / (hi - lo), 0.0), 1.0)


def _features(d: Device, kind: str, tech: Technology, values: Mapping[str, float]
              ) -> list[float]:
    one_hot = [float(kind == t) for t in NODE_TYPES]
    r = c = w = ln = i = 0.0
    if kind in ("nmos", "pmos"):
        wv = evaluate(d.params.get("w", "0"), values)
        lv = evaluate(d.params.get("l", "0"), values)
        if d.kind == "X":  # PDK device subcircuits take microns
            wv, lv = wv * tech.size_unit, lv * tech.size_unit
        w = _lin_unit(wv, *tech.width_bounds)
        ln = _lin_unit(lv, *tech.length_bounds)
    elif kind == "resistor":
        r = _log_unit(evaluate(d.value, values), "resistance")
    elif kind == "capacitor":
        c = _log_unit(evaluate(d.value, values), "capacitance")
    elif kind == "current_source":
        i = _log_unit(abs(evaluate(dc_value(d.value), values)), "current")
    return [*one_hot, r, c, w, ln, i]


def _load_features(cl: float) -> list[float]:
    one_hot = [float(t == "capacitor") for t in NODE_TYPES]
    return [*one_hot, 0.0, _log_unit(cl, "capacitance"), 0.0, 0.0, 0.0]


def _lin_unit(value: float, lo: float, hi: float) -> float:
    return min(max((value - lo) / (hi - lo), 0.0), 1.0)


def _net_voltages(result: SimulationResult | None, types: Mapping[str, str]) -> dict[str, float]:
    if result is None or not result.node_voltages:
        return {}
    out = {}
    for net in types:
        for key in (net, f"x1.{net}"):
            if key in result.node_voltages:
                out[net] = result.node_voltages[key]
    out.setdefault("vss", 0.0)
    return out
