"""The open-loop AC test bench every amplifier is measured in.

The amplifier's ``.subckt`` is instantiated as ``X1 inp inn out vdd 0`` (its pins matched by
name, whatever their order in the ``.subckt`` line); ``inp`` gets the input
common mode plus an AC signal (:data:`AC_AMPLITUDE`); the loop is closed at DC only, through an
inductor (:data:`FEEDBACK_L`) from ``out`` to ``inn`` and a capacitor (:data:`FEEDBACK_C`) from
``inn`` to the common mode, so the operating point is the unity-gain follower's while the AC
response is the open-loop gain; ``out`` drives the load capacitor. The bench runs ``.ac`` (range
and density in :class:`BenchSettings`) with
``keepopinfo``, so the operating point that the AC analysis computes is kept as a plot of its own
and transistor quantities (``@m.x1.m1[gm]``) are read from it on demand: one operating point per
simulation instead of two.
Design parameters and bench settings are ``.param``s, so a loaded bench is re-simulated with
``alterparam`` (book chapter "Circuits, process models and simulation").

Every line the bench takes from an amplifier's netlist is written again by the allow-list of
:mod:`circuits.netlist` (a hand-built :class:`~circuits.amplifier.Amplifier` is checked as a
read one is), and the ``alter`` commands and vector names are built from checked names only.

What a simulation reads is chosen by :attr:`BenchSettings.detail` (:data:`DETAILS`): the worker
reads only those vectors, measures the response itself and sends back plain numbers
(:class:`CompactReader`), which :meth:`OpenLoopBench.result` turns into a
:class:`~circuits.results.SimulationResult` in the calling process.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .amplifier import Amplifier
from .engine import Failure, Job, Raw
from .errors import NetlistError, ParameterError
from .netlist import (
    Device,
    Line,
    behavioural_names,
    canonical_lines,
    check_param_name,
    checked_name,
    dc_value,
    evaluate,
    expression_names,
    has_includes,
    model_types,
    parse_device,
    write_device,
    write_subckt_header,
)
from .results import (
    OP_QUANTITIES,
    DeviceOP,
    MeasurementError,
    SimulationResult,
    ac_values,
    fom,
)
from .technology import GENERIC, Technology

INSTANCE = "x1"
#: AC amplitude at ``inp`` (V); inductance (H) and capacitance (F) that close the loop at DC only.
AC_AMPLITUDE = 1.0
FEEDBACK_L = 1e9
FEEDBACK_C = 1e9
#: The bench net each standard pin is connected to (pins are matched by name, in any order).
BENCH_NETS = {"inp": "inp", "inn": "inn", "out": "out", "vdd": "vdd", "vss": "0"}
#: Names of the bench's own parameters (no design parameter may use them).
BENCH_PARAMS = ("bench_vdd", "bench_vcm", "bench_cl")
#: What a simulation reads (:attr:`BenchSettings.detail`), each level adding to the one before:
#: ``"metrics"``: DC gain, UGBW, phase margin, power, FoM and the node voltages (the circuit
#: graph's node features, the bench's ``.nodeset``); ``"devices"``: and every transistor's
#: operating point (Id, gm, gds, Vgs, Vth, Vds, Vdsat: the saturation check, gm/Id);
#: ``"full"``: and the AC response (``frequency``, ``response``) and ngspice's log.
DETAILS = ("metrics", "devices", "full")


@dataclass(frozen=True)
class BenchSettings:
    """Settings of the open-loop AC bench.

    Attributes
    ----------
    vcm : input common mode (V); ``None`` takes the reference's, else VDD/2.
    load_cap : load capacitance (F); ``None`` takes the amplifier's.
    f_start, f_stop : AC sweep limits (Hz).
    points_per_decade : AC sweep density. 8 is the sparsest grid at which the cubic
        interpolation of the unity-gain crossing stays within half the 0.05 % bound of a
        200-per-decade sweep, measured over 500 sizings of each amplifier at 45 nm
        (:func:`circuits.accuracy.chosen_grid`; chapter "Circuits, process models and
        simulation", section "The test bench").
    temperature : simulation temperature (deg C).
    detail : what each simulation reads (:data:`DETAILS`): ``"full"`` (default: everything,
        the AC response included), ``"devices"`` (no AC response, no log) or ``"metrics"``
        (no transistor operating points either: ``devices`` is empty and ``all_saturated``
        false). The values read are the same at every level.

    Raises :class:`~circuits.errors.ParameterError` for values that are not finite or not
    physical (a non-positive load, an empty sweep, no points per decade).
    """

    vcm: float | None = None
    load_cap: float | None = None
    f_start: float = 0.1
    f_stop: float = 1e11
    points_per_decade: int = 8
    temperature: float = 27.0
    detail: str = "full"

    def __post_init__(self) -> None:
        problems = []
        if self.vcm is not None and not math.isfinite(self.vcm):
            problems.append(f"vcm={self.vcm!r} is not finite")
        if self.load_cap is not None and not (math.isfinite(self.load_cap)
                                              and self.load_cap > 0):
            problems.append(f"load_cap={self.load_cap!r} is not a positive capacitance")
        if not (math.isfinite(self.f_start) and math.isfinite(self.f_stop)
                and 0 < self.f_start < self.f_stop):
            problems.append(f"the AC sweep needs 0 < f_start < f_stop (finite), not "
                            f"{self.f_start!r} to {self.f_stop!r}")
        if isinstance(self.points_per_decade, bool) or not isinstance(
                self.points_per_decade, int) or self.points_per_decade < 1:
            problems.append(f"points_per_decade={self.points_per_decade!r} is not a whole "
                            "number >= 1")
        if not (math.isfinite(self.temperature) and self.temperature > -273.15):
            problems.append(f"temperature={self.temperature!r} deg C is not physical")
        if self.detail not in DETAILS:
            problems.append(f"detail={self.detail!r} is not one of {', '.join(DETAILS)}")
        if problems:
            raise ParameterError("bench settings: " + "; ".join(problems))


class OpenLoopBench:
    """An amplifier in a technology, wrapped in the open-loop bench, ready to simulate."""

    def __init__(self, amp: Amplifier, tech: Technology,
                 settings: BenchSettings | None = None) -> None:
        self.amp = amp
        self.tech = tech
        self.settings = settings or BenchSettings()
        for name in amp.parameter_names:  # they become .param and alterparam names
            check_param_name(name, where=f"{amp.name!a}")
        clash = set(amp.parameter_names) & set(BENCH_PARAMS)
        if clash:
            raise ParameterError(f"parameter names {sorted(clash)} are reserved for the bench")
        ref = amp.references.get(tech.name)
        s = self.settings
        self.vcm = s.vcm if s.vcm is not None else (ref.vcm if ref else tech.vdd / 2)
        self.load_cap = s.load_cap if s.load_cap is not None else amp.load_cap
        for d in amp.subckt.devices:
            write_device(d)  # every name and value checked, whoever built the amplifier
        user_models = model_types(amp.netlist.text)
        self._check_model_clash(user_models)
        self._models = {**model_types(tech.library), **user_models}
        self._check_models()
        self.transistors = [d for d in amp.subckt.devices if _is_transistor(d, tech)]
        self.nodeset: dict[str, float] = {}
        self.alter_plan = self._alter_plan()
        self._device_vectors = [
            (d, self.polarity(d),
             {q: tech.op_vector(INSTANCE, d, q) for q in OP_QUANTITIES})
            for d in self.transistors
        ]
        self._check_defaults()
        self.netlist = self._netlist()
        self.key = hashlib.sha1(self.netlist.encode()).hexdigest()
        self._nodes = self._node_names()
        self.vectors = self._vectors()
        self.reader = CompactReader(
            nodes=tuple(self._nodes),
            devices=tuple(v for _d, _p, names in self._device_vectors for v in names.values())
            if s.detail != "metrics" else (),
            response=s.detail == "full")
        # per-bench work done once: the starting values, the bounds, the alter templates
        self._base = amp.base(tech)
        self._names = frozenset(amp.parameter_names)
        self._limits = [(p.name, *_tolerant(p.bounds(tech))) for p in amp.parameters]
        self._alter_templates = [
            (path, k, e, name if name in self._names else None)
            for path, fields in (self.alter_plan or []) for k, e in fields.items()
            for name in [_plain_name(e)]]
        self.reference_metrics: tuple[float, float] | None = None
        self.prepared = False

    def _check_model_clash(self, user_models: Mapping[str, str]) -> None:
        """A ``.model`` of the netlist may not take a name the technology gives its own models
        (``nch45`` at 45 nm) or the generic names (``nch``, ``pch``): the bench would use the
        technology's card and silently ignore the netlist's. A copy of the technology's own
        card (the same words, bins included) is accepted.

        Raises
        ------
        NetlistError
            Naming the model and the technology whose name it takes.
        """
        taken = set(model_types(self.tech.library))
        theirs = ours = None
        for name in sorted(user_models):
            if self.tech.polarity(name) is not None or name in taken:
                if theirs is None:
                    theirs, ours = _model_cards(self.tech.library), _model_cards(
                        self.amp.netlist.text)
                if ours.get(name) and ours.get(name) == theirs.get(name):
                    continue  # the technology's own card, word for word: nothing is ignored
                raise NetlistError(
                    f"{self.amp.name}: the netlist defines .model {name}, a name that "
                    f"technology {self.tech.name} gives its own transistor model (generic "
                    f"names: nch, pch); the bench would use the technology's card and ignore "
                    f"the netlist's: rename the netlist's model")

    def _check_defaults(self) -> None:
        """Every device value that the bench computes from design parameters must be finite at
        the starting values (:meth:`Amplifier.base <circuits.amplifier.Amplifier.base>`): the
        bench netlist is loaded with them, and ngspice refuses to load a device whose value is
        infinite (``R1 out vss {1e9/(rz-1000)}`` with ``rz=1k``), which would fail every
        simulation, whatever values it asks for.

        Raises
        ------
        NetlistError
            Naming the device, the expression and the values at which it fails.
        """
        names = set(self.amp.parameter_names)
        base = self.amp.base(self.tech)
        for d in self.amp.subckt.devices:
            fields = ([("value", d.value)] if d.value and _is_expression(d.value) else [])
            fields += [(k, v) for k, v in d.params.items() if _is_expression(v)]
            for key, expr in fields:
                try:
                    used, calls = expression_names(expr)
                except NetlistError:
                    continue  # not an arithmetic expression (a source's AC part): ngspice's
                if calls or not used or not used <= names:
                    continue  # functions or other .params: only ngspice computes them
                try:
                    evaluate(expr, base)
                except NetlistError as exc:
                    at = ", ".join(f"{n}={base[n]:g}" for n in sorted(used))
                    raise NetlistError(
                        f"{self.amp.name}: device {d.name} {key}={expr} cannot be computed at "
                        f"the starting values ({at}): {exc}; the bench netlist is loaded with "
                        f"them, so every simulation would fail: change the default or the "
                        f"expression") from None

    def _check_models(self) -> None:
        """Every transistor's model must exist (unless it may come from an included file)."""
        hidden = has_includes(self.tech.library) or has_includes(self.amp.netlist.text)
        for d in self.amp.subckt.devices:
            if d.kind != "M" or d.model is None:
                continue
            model = d.model.lower()
            if model in GENERIC or self.tech.polarity(model) or model in self._models or hidden:
                continue
            raise NetlistError(
                f"{self.amp.name}: transistor {d.name} uses model {d.model!r}, which neither "
                f"the netlist nor technology {self.tech.name} defines (generic names: nch, pch)"
            )

    def polarity(self, d: Device) -> str:
        """``"n"`` or ``"p"`` for a transistor (technology names, generic names, ``.model``)."""
        model = (d.model or "").lower()
        pol = self.tech.polarity(model)
        if pol is None:
            pol = {"nmos": "n", "pmos": "p"}.get(self._models.get(model, ""), "n")
        return pol

    def set_nodeset(self, voltages: Mapping[str, float]) -> None:
        """Start every operating-point search from these node voltages (``.nodeset``).

        The simulator sets it from the base sizing's operating point: Newton then needs a few
        iterations instead of ~150 with gmin stepping; the solution it converges to is the same.
        """
        self.nodeset = {n: float(v) for n, v in voltages.items() if n not in ("inp", "vdd")}
        self.netlist = self._netlist()
        self.key = hashlib.sha1(self.netlist.encode()).hexdigest()

    def _subckt_text(self) -> str:
        sub = self.amp.subckt
        body = []
        for line in sub.lines:
            dev = _device_of(line)
            if dev is not None and dev.kind == "M" and dev.model.lower() in GENERIC:
                body += canonical_lines(self.tech.device_line(dev), f"{self.amp.name}")
            else:
                body += canonical_lines(line.text, f"{self.amp.name}")
        return "\n".join([write_subckt_header(sub), *body, f".ends {sub.name}"])

    def _netlist(self) -> str:
        amp, tech, s = self.amp, self.tech, self.settings
        params = amp.base(tech)
        others = [text for ln in amp.netlist.top
                  for text in canonical_lines(ln.text, amp.netlist.source)]
        other_subckts = [
            _subckt_source(amp, sub.name) for sub in amp.netlist.subckts.values()
            if sub.name != amp.subckt.name
        ]
        design = " ".join(f"{k}={v:.12g}" for k, v in params.items())
        passed = " ".join(f"{k}={{{k}}}" for k in params)
        lines = [
            f"* open-loop AC bench: {_title(amp.name)} in {_title(tech.name)}",
            ".options num_threads=1 keepopinfo",
            f".temp {s.temperature:g}",
            tech.library.rstrip(),
            *others,
            *other_subckts,
            f".param bench_vdd={tech.vdd:.12g} bench_vcm={self.vcm:.12g} "
            f"bench_cl={self.load_cap:.12g}",
        ]
        if design:
            lines.append(f".param {design}")
        lines += [
            self._subckt_text(),
            f"X1 {' '.join(BENCH_NETS[p.lower()] for p in amp.subckt.pins)} "
            f"{amp.subckt.name} {passed}".rstrip(),
            "Vdd vdd 0 DC {bench_vdd}",
            "Vcm cm 0 DC {bench_vcm}",
            f"Vin inp cm DC 0 AC {AC_AMPLITUDE:g}",
            f"Lfb out inn {FEEDBACK_L:g}",
            f"Cfb inn cm {FEEDBACK_C:g}",
            "Cload out 0 {bench_cl}",
        ]
        if self.nodeset:
            lines.append(".nodeset " + " ".join(f"v({n})={v:.6g}"
                                                for n, v in self.nodeset.items()))
        lines += [
            f".ac dec {s.points_per_decade} {s.f_start:g} {s.f_stop:g}",
            ".end",
        ]
        return "\n".join(lines) + "\n"

    def _op_vectors(self) -> list[str]:
        return [self.tech.op_vector(INSTANCE, d, q) for d in self.transistors
                for q in OP_QUANTITIES]

    def _node_names(self) -> list[str]:
        return ["inp", "inn", "out", "vdd"] + [f"{INSTANCE}.{n}" for n in self.internal_nets()]

    def _vectors(self) -> tuple[tuple[str, str], ...]:
        """The vectors a simulation reads at this bench's :attr:`BenchSettings.detail`."""
        vecs = [("op", n) for n in self._nodes] + [("op", "vdd#branch")]
        if self.settings.detail != "metrics":
            vecs += [("op", v) for v in self._op_vectors()]
        vecs += [("ac", "frequency"), ("ac", "out")]
        return tuple(vecs)

    def check(self, params: Mapping[str, float]) -> dict[str, float]:
        """:meth:`Amplifier.check <circuits.amplifier.Amplifier.check>` in this technology,
        with the starting values and bounds worked out once per bench (the same result, the
        same errors: a value that fails the quick test is checked again by the amplifier,
        which says why). Used for every simulation (section "The simulation engine").

        Raises
        ------
        ParameterError
            For an unknown name, a value that is not a number, not finite or out of bounds.
        """
        if not self._names.issuperset(params):
            return self.amp.check(params, self.tech)
        full = {**self._base, **params}
        out = {}
        try:
            for name, lo, hi in self._limits:
                value = float(full[name])
                if not (lo <= value <= hi and math.isfinite(value)):
                    return self.amp.check(params, self.tech)
                out[name] = value
        except (TypeError, ValueError):
            return self.amp.check(params, self.tech)
        return out

    def internal_nets(self) -> list[str]:
        """Nets inside the amplifier that are not pins, in order of first appearance."""
        seen: dict[str, None] = {}  # ordered, and linear in the number of devices
        pins = set(self.amp.subckt.pins) | {"0", "gnd"}
        for d in self.amp.subckt.devices:
            for n in d.nodes:
                n = n.lower()
                if n not in pins:
                    seen.setdefault(n)
        return list(seen)

    def _alter_plan(self) -> list[tuple[str, dict[str, str]]] | None:
        """Device values that depend on design parameters, as ``alter`` targets.

        ``None`` when some value cannot be computed here (an expression with functions or other
        ``.param``s, a device inside a PDK subcircuit): such benches re-parse with
        ``alterparam`` + ``reset`` instead, which gives the same results more slowly.
        """
        names = set(self.amp.parameter_names)
        plan = []
        if any(ln.text.lower().startswith(".model") and "{" in ln.text
               for ln in self.amp.subckt.lines):
            return None  # a model card of the subcircuit with expressions: re-parse
        for d in self.amp.subckt.devices:
            if d.kind == "B" and any(behavioural_names(e) for e in d.params.values()):
                return None  # a behavioural expression of parameters: re-parse
            fields: dict[str, str] = {}
            value_expr = bool(d.value) and _is_expression(d.value)
            param_exprs = {k: v for k, v in d.params.items() if _is_expression(v)}
            if d.kind == "M" and not value_expr:
                fields = param_exprs
            elif d.kind in "RCIV" and value_expr and not param_exprs:
                key = {"R": "resistance", "C": "capacitance", "I": "dc", "V": "dc"}[d.kind]
                value = d.value
                if d.kind in "IV":
                    value = dc_value(d.value)
                    if _is_expression(d.value.replace(value, "", 1)):
                        return None  # an AC or transient part with parameters of its own
                elif len(value.split()) != 1:
                    return None
                fields = {key: value}
            elif value_expr or param_exprs:
                return None  # an expression this plan cannot alter: re-parse instead
            if d.kind == "M" and self.tech.device_style == "subckt" and d.model and \
                    d.model.lower() in GENERIC:
                return None
            if not fields:
                continue
            for expr in fields.values():
                used, calls = expression_names(expr)
                if calls or not used <= names:
                    return None  # functions or other .params: ngspice computes them
            for key in fields:
                checked_name(key, "parameter name")
            plan.append((f"{d.kind.lower()}.{INSTANCE}.{checked_name(d.name).lower()}",
                         fields))
        return plan

    def job(self, params: Mapping[str, float]) -> Job:
        """The engine job for already-validated parameters.

        Raises
        ------
        ParameterError
            When a device value cannot be computed at these values (a division by zero, an
            overflow, a result that is not finite): the simulator turns it into an
            ``invalid_parameter`` result for this candidate.
        """
        if self.alter_plan is None:
            return Job(self.key, self.netlist, dict(params), self.vectors, finish=self.reader)
        alters = []
        for path, k, e, name in self._alter_templates:
            if name is not None:  # a parameter itself: validated, finite
                value = float(params[name])
            else:
                try:
                    value = evaluate(e, params)
                except NetlistError as exc:
                    raise ParameterError(f"{self.amp.name}: {path.split('.')[-1]} {k}={e} "
                                         f"cannot be computed at these values: {exc}") from None
            alters.append(f"{path} {k}={value:.12g}")
        return Job(self.key, self.netlist, dict(params), self.vectors, tuple(alters),
                   self.reader)

    def result(self, raw: Raw, params: Mapping[str, float]) -> SimulationResult:
        """Turn a worker's answer into a :class:`SimulationResult`.

        The answer is the plain tuple of :class:`CompactReader` (``raw.result``), or, for a
        job run without it, the raw vectors; both give the same result.
        """
        base = dict(circuit=self.amp.name, technology=self.tech.name, params=dict(params),
                    elapsed_s=raw.elapsed_s, ngspice_s=raw.ngspice_s, log=raw.log)
        if raw.failure is not None:
            return SimulationResult(ok=False, failure=raw.failure,
                                    reason=_reason(raw.failure, raw.message), **base)
        if raw.result is None and not raw.vectors:  # the worker could not finish it
            return SimulationResult(ok=False, failure=Failure.ENGINE,
                                    reason=_reason(Failure.ENGINE, raw.message), **base)
        compact = raw.result if raw.result is not None else self.reader(raw, params)
        nodes, branch, devs, metrics, error, arrays, log = compact
        if log:
            base["log"] = log
        devices = {}
        if devs:
            n = len(OP_QUANTITIES)
            for i, (d, pol, _names) in enumerate(self._device_vectors):
                devices[d.name] = DeviceOP(d.name, pol, *devs[i * n:(i + 1) * n])
        power = self.tech.vdd * abs(branch)
        common = dict(node_voltages=dict(zip(self._nodes, nodes, strict=True)),
                      devices=devices, power_w=power, **base)
        if arrays is not None:
            common["frequency"] = np.frombuffer(arrays[0], dtype=np.float64).copy()
            common["response"] = np.frombuffer(arrays[1], dtype=np.complex128).copy()
        if metrics is None:
            return SimulationResult(ok=False, failure=Failure.MEASUREMENT,
                                    reason=f"measurement: {error}", **common)
        gain_db, ugbw_hz, pm_deg = metrics
        result = SimulationResult(ok=True, gain_db=gain_db, ugbw_hz=ugbw_hz, pm_deg=pm_deg,
                                  **common)
        if ugbw_hz is None:
            result.ok = False
            result.failure = Failure.MEASUREMENT
            result.reason = ("measurement: no unity-gain crossing "
                             f"(DC gain {gain_db:.1f} dB)")
        elif self.reference_metrics is not None:
            result.fom = fom(ugbw_hz, power, *self.reference_metrics)
        return result


@dataclass(frozen=True)
class CompactReader:
    """What a worker makes of a bench simulation: plain numbers for the pipe.

    Runs in the worker (as the job's ``finish``): it takes the vectors read there, measures the
    AC response (:func:`~circuits.results.ac_values`) and returns a tuple
    ``(nodes, branch, devices, metrics, error, arrays, log)``: the node voltages in the order of
    ``nodes`` (V), the supply branch current (A), the operating-point values of ``devices`` (in
    order; empty at detail ``"metrics"``), ``(gain_db, ugbw_hz, pm_deg)`` or ``None`` with the
    measurement ``error``, the response's ``(frequency, response)`` bytes (float64, complex128;
    only when ``response``) and the log (only when ``response``).
    :meth:`OpenLoopBench.result` turns it into a :class:`SimulationResult` (section "The
    simulation engine").

    Attributes
    ----------
    nodes : node-voltage vector names of the operating-point plot.
    devices : transistor operating-point vector names, flattened device by device.
    response : whether the AC response and the log come back too (detail ``"full"``).
    """

    nodes: tuple[str, ...]
    devices: tuple[str, ...]
    response: bool

    @property
    def _keys(self) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        """``("op", name)`` for each of :attr:`nodes` and of :attr:`devices`, made once."""
        keys = self.__dict__.get("_made_keys")
        if keys is None:
            keys = (tuple(("op", n) for n in self.nodes),
                    tuple(("op", n) for n in self.devices))
            object.__setattr__(self, "_made_keys", keys)
        return keys

    def __call__(self, raw: Raw, params: Mapping[str, float] | None = None) -> tuple | None:
        if raw.failure is not None:
            return None
        v = raw.vectors
        node_keys, device_keys = self._keys
        nodes = tuple(map(float, map(v.__getitem__, node_keys)))
        branch = float(v["op", "vdd#branch"])
        devices = tuple(map(float, map(v.__getitem__, device_keys)))
        freq = np.ascontiguousarray(v[("ac", "frequency")].real)
        resp = v[("ac", "out")]
        if AC_AMPLITUDE != 1.0:
            resp = resp / AC_AMPLITUDE
        try:
            metrics, error = ac_values(freq, resp), ""
        except MeasurementError as exc:
            metrics, error = None, str(exc)
        arrays = (freq.tobytes(), resp.tobytes()) if self.response else None
        return nodes, branch, devices, metrics, error, arrays, raw.log if self.response else ""


def _model_cards(text: str) -> dict[str, tuple[str, ...]]:
    """The ``.model`` cards of SPICE text by base name (bins ``name.1`` under ``name``): each
    card's words, lower case, continuation lines joined, in order."""
    cards: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("+") and current is not None:
            current.extend(stripped[1:].lower().split())
            continue
        current = None
        words = stripped.lower().split()
        if len(words) >= 2 and words[0] == ".model":
            current = cards.setdefault(words[1].split(".")[0], [])
            current.extend(words)
    return {name: tuple(words) for name, words in cards.items()}


def _tolerant(bounds: tuple[float, float]) -> tuple[float, float]:
    """Bounds widened as :meth:`Amplifier.check <circuits.amplifier.Amplifier.check>` widens
    them (1e-9 relative)."""
    lo, hi = bounds
    return lo - 1e-9 * abs(lo), hi + 1e-9 * abs(hi)


_PLAIN = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def _plain_name(expr: str) -> str | None:
    """The parameter an expression is, when it is a parameter alone (``{w1}``)."""
    m = _PLAIN.fullmatch(expr.strip())
    return m.group(1) if m else None


def _title(text: str) -> str:
    """A name for the bench's title line: only characters that cannot end the line or start
    another statement."""
    return re.sub(r"[^A-Za-z0-9_. +-]", "_", str(text))[:80]


def _is_expression(text: str) -> bool:
    """Whether a netlist field is a parameter expression (``{...}`` or ``'...'``)."""
    return "{" in text or "'" in text


def _reason(failure: Failure, message: str) -> str:
    text = {
        Failure.NONCONVERGENCE: "no convergence",
        Failure.SINGULAR_MATRIX: "singular matrix",
        Failure.MODEL_BIN: "size outside the model bins",
        Failure.NETLIST: "netlist error",
        Failure.INVALID_PARAMETER: "invalid parameter",
        Failure.TIMEOUT: "timeout",
        Failure.MEASUREMENT: "measurement",
        Failure.ENGINE: "simulator error",
    }[failure]
    return f"{text}: {message}" if message else text


def _device_of(line: Line) -> Device | None:
    if line.text.startswith("."):
        return None
    return parse_device(line)


def _is_transistor(dev: Device, tech: Technology) -> bool:
    if dev.kind == "M":
        return True
    return dev.kind == "X" and dev.model is not None and tech.polarity(dev.model) is not None


def _subckt_source(amp: Amplifier, name: str) -> str:
    sub = amp.netlist.subckts[name]
    body = [text for ln in sub.lines for text in canonical_lines(ln.text, amp.netlist.source)]
    return "\n".join([write_subckt_header(sub), *body, f".ends {sub.name}"])
