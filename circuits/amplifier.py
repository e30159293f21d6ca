"""Amplifiers: a ``.subckt`` with the standard pins, its design parameters and reference sizings.

The four built-in amplifiers are LoRA-RL's circuits A-D (its Figure 3), netlists in
``circuits/amplifiers/<name>.sp`` with reference sizings per technology in ``<name>.json``:

====  =======================  ==============================================
A     ``two_stage``            two-stage Miller op-amp (the reference circuit)
B     ``folded_cascode``       folded-cascode OTA
C     ``current_mirror_ota``   current-mirror (symmetrical) OTA
D     ``three_stage_nmc``      three-stage nested-Miller op-amp
====  =======================  ==============================================

A user's amplifier is any netlist file whose ``.subckt`` has the pins ``inp inn out vdd vss``
(:meth:`Amplifier.from_file`); its header parameters are its design parameters, declared with
``*@param`` comments for bounds, and an optional ``<stem>.json`` beside it gives references in
the same format as the built-ins. The netlist and the files it includes are read by the
allow-list of :mod:`circuits.netlist`; the bench receives only the text written from what was
read (:attr:`circuits.netlist.Netlist.text`), never a path the netlist names.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .errors import NetlistError, ParameterError, TechnologyError
from .netlist import (
    Netlist,
    ParamDecl,
    Subcircuit,
    check_param_name,
    parse_netlist,
    parse_value,
    read_netlist,
    read_text_file,
)
from .technology import Technology, get_technology

PINS = ("inp", "inn", "out", "vdd", "vss")
BUILTIN_DIR = Path(__file__).with_name("amplifiers")
#: Built-in amplifiers in the order of LoRA-RL's Figure 3.
BUILTIN = {"two_stage": "A", "folded_cascode": "B", "current_mirror_ota": "C",
           "three_stage_nmc": "D"}


@dataclass(frozen=True)
class DesignParameter:
    """A sizing variable of an amplifier, with the kind that sets its bounds."""

    name: str
    kind: str
    lo: float | None = None
    hi: float | None = None
    description: str = ""

    def bounds(self, tech: Technology) -> tuple[float, float]:
        """(lo, hi) in SI units; widths and lengths take the technology's bounds."""
        if self.kind == "width":
            lo, hi = tech.width_bounds
        elif self.kind == "length":
            lo, hi = tech.length_bounds
        else:
            lo, hi = self.lo, self.hi
        if lo is None or hi is None:
            raise ParameterError(f"parameter {self.name} has no bounds")
        return (self.lo if self.lo is not None else lo, self.hi if self.hi is not None else hi)


@dataclass(frozen=True)
class Reference:
    """A reference sizing in one technology: input common mode and parameter values."""

    vcm: float
    params: Mapping[str, float]
    designed_for: str = ""


@dataclass(frozen=True)
class Amplifier:
    """An amplifier netlist with standard pins, ready to be put in a test bench."""

    name: str
    netlist: Netlist
    subckt: Subcircuit
    parameters: tuple[DesignParameter, ...]
    references: Mapping[str, Reference] = field(default_factory=dict)
    load_cap: float = 1e-12
    label: str = ""
    path: Path | None = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, *, name: str | None = None, subckt: str | None = None,
                  references: Mapping[str, Reference] | None = None, load_cap: float = 1e-12,
                  source: str = "netlist", path: Path | None = None,
                  base: Path | None = None) -> Amplifier:
        """Build an amplifier from netlist text (see :meth:`from_file`); relative includes
        resolve against ``base`` (default: the current directory)."""
        netlist = parse_netlist(text, source=source, base=base)
        return cls.from_netlist(netlist, name=name, subckt=subckt, references=references,
                                load_cap=load_cap, path=path)

    @classmethod
    def from_netlist(cls, netlist: Netlist, *, name: str | None = None,
                     subckt: str | None = None,
                     references: Mapping[str, Reference] | None = None,
                     load_cap: float = 1e-12, path: Path | None = None) -> Amplifier:
        """Build an amplifier from a netlist already read (:func:`circuits.netlist.read_netlist`).

        Raises
        ------
        NetlistError
            When no ``.subckt`` has exactly the pins ``inp inn out vdd vss`` (or several do and
            ``subckt`` names none), or its parameters or references are malformed.
        """
        source = netlist.source
        candidates = [s for s in netlist.subckts.values() if set(PINS) <= set(s.pins)]
        if subckt is not None:
            sub = netlist.subckts.get(subckt.lower())
            if sub is None:
                raise NetlistError(f"{source}: no .subckt named {subckt!r}")
            if not set(PINS) <= set(sub.pins):
                raise NetlistError(f"{source}: .subckt {sub.name} lacks pins {_missing(sub)}")
        elif len(candidates) == 1:
            sub = candidates[0]
        elif not candidates:
            found = ", ".join(f"{s.name}({' '.join(s.pins)})" for s in netlist.subckts.values())
            raise NetlistError(
                f"{source}: no .subckt with the pins {' '.join(PINS)}"
                + (f"; found {found}" if found else "; the file has no .subckt")
            )
        else:
            names = ", ".join(s.name for s in candidates)
            raise NetlistError(f"{source}: several amplifier subcircuits ({names}); name one")
        if len(sub.pins) != len(PINS):
            raise NetlistError(f"{source}: .subckt {sub.name} must have exactly the pins "
                               f"{' '.join(PINS)} (has {' '.join(sub.pins)})")
        params = _design_parameters(sub, netlist.params, source)
        amp = cls(name=name or sub.name, netlist=netlist, subckt=sub, parameters=params,
                  references=dict(references or {}), load_cap=load_cap, path=path)
        _check_references(amp, source)
        return amp

    @classmethod
    def from_file(cls, path: str | Path, *, subckt: str | None = None) -> Amplifier:
        """Read a user's amplifier netlist (and ``<stem>.json`` references if present).

        The file and every file it includes are read once, by the allow-list of
        :mod:`circuits.netlist`.

        Raises
        ------
        NetlistError
            When the file or a file it includes is unreadable, not a regular file, or holds
            anything the allow-list refuses (naming the file and line), or has no ``.subckt``
            with the pins ``inp inn out vdd vss``.
        """
        path = Path(path).resolve()
        netlist = read_netlist(path)
        refs, load_cap = _read_references(path.with_suffix(".json"))
        return cls.from_netlist(netlist, subckt=subckt, references=refs, load_cap=load_cap,
                                path=path)

    # -- parameters -----------------------------------------------------------------------------

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> DesignParameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ParameterError(f"{self.name} has no parameter {name!r}; "
                             f"its parameters are {', '.join(self.parameter_names)}")

    def bounds(self, tech: str | Technology) -> dict[str, tuple[float, float]]:
        """Bounds of every design parameter in a technology."""
        t = get_technology(tech)
        return {p.name: p.bounds(t) for p in self.parameters}

    def defaults(self) -> dict[str, float]:
        """The subcircuit header's default values."""
        return {p.name: parse_value(self.subckt.defaults[p.name]) for p in self.parameters}

    def reference(self, tech: str | Technology) -> Reference:
        """The reference sizing in a technology.

        Raises
        ------
        ParameterError
            When the amplifier has no reference sizing for that technology.
        """
        t = get_technology(tech)
        ref = self.references.get(t.name)
        if ref is None:
            have = ", ".join(self.references) or "none"
            raise ParameterError(f"{self.name} has no reference sizing for {t.name} "
                                 f"(has: {have}); give every parameter explicitly")
        return ref

    def base(self, tech: str | Technology) -> dict[str, float]:
        """Starting values in a technology: the reference's values as they are, else the header
        defaults clipped into the technology's bounds (no validation)."""
        t = get_technology(tech)
        bounds = self.bounds(t)
        values = {k: min(max(v, bounds[k][0]), bounds[k][1]) for k, v in self.defaults().items()}
        if t.name in self.references:
            values.update(self.references[t.name].params)
        return values

    def check(self, params: Mapping[str, float], tech: str | Technology) -> dict[str, float]:
        """Validated full parameter set: unknown names raise, values must be finite and in bounds.

        Missing names take the reference value in ``tech`` when there is one, else the header
        default clipped into the technology's bounds (:meth:`base`), so an amplifier without a
        reference in a technology still simulates there; the values given are never clipped.

        Raises
        ------
        ParameterError
            For an unknown name, a non-finite value or a value outside its bounds.
        """
        t = get_technology(tech)
        unknown = sorted(set(params) - set(self.parameter_names))
        if unknown:
            raise ParameterError(f"{self.name} has no parameter(s) {unknown}; "
                                 f"its parameters are {', '.join(self.parameter_names)}")
        full = {**self.base(t), **params}
        problems = []
        for p in self.parameters:
            value = full[p.name]
            try:
                value = float(value)
            except (TypeError, ValueError):
                problems.append(f"{p.name}={value!r} is not a number")
                continue
            lo, hi = p.bounds(t)
            if not math.isfinite(value):
                problems.append(f"{p.name}={value} is not finite")
            elif not lo - 1e-9 * abs(lo) <= value <= hi + 1e-9 * abs(hi):
                problems.append(f"{p.name}={value:.4g} outside [{lo:.4g}, {hi:.4g}]")
            full[p.name] = value
        if problems:
            raise ParameterError(f"{self.name} in {t.name}: " + "; ".join(problems))
        return {p.name: full[p.name] for p in self.parameters}

    def to_unit(self, params: Mapping[str, float], tech: str | Technology) -> dict[str, float]:
        """Parameters scaled linearly to [0, 1] by their bounds (LoRA-RL section 4.1)."""
        b = self.bounds(tech)
        return {k: (float(v) - b[k][0]) / (b[k][1] - b[k][0]) for k, v in params.items()}

    def from_unit(self, unit: Mapping[str, float], tech: str | Technology) -> dict[str, float]:
        """Inverse of :meth:`to_unit` (values clipped to [0, 1] first)."""
        b = self.bounds(tech)
        return {k: b[k][0] + min(max(float(u), 0.0), 1.0) * (b[k][1] - b[k][0])
                for k, u in unit.items()}


def _check_references(amp: Amplifier, source: str) -> None:
    """Refuse reference sizings that could never be simulated: unknown names, values that are
    not finite or out of bounds (in technologies known here), a non-positive load."""
    cap = amp.load_cap
    if not (isinstance(cap, int | float) and not isinstance(cap, bool) and math.isfinite(cap)
            and cap > 0):
        raise NetlistError(f"{source}: load_cap must be a positive capacitance, not {cap!r}")
    for tech_name, ref in amp.references.items():
        where = f"{source}: reference sizing for {tech_name}"
        if not isinstance(ref, Reference):
            raise NetlistError(f"{where}: a Reference, not {type(ref).__name__}")
        unknown = sorted(set(ref.params) - set(amp.parameter_names))
        if unknown:
            raise NetlistError(f"{where}: unknown parameter(s) {unknown}; the parameters are "
                               f"{', '.join(amp.parameter_names)}")
        if not math.isfinite(ref.vcm):
            raise NetlistError(f"{where}: vcm={ref.vcm!r} is not finite")
        try:
            tech = get_technology(tech_name)
        except TechnologyError:  # a technology not available here: check the values only
            bad = [k for k, v in ref.params.items() if not math.isfinite(v)]
            if bad:
                raise NetlistError(f"{where}: values of {bad} are not finite") from None
            continue
        try:
            amp.check(ref.params, tech)
        except ParameterError as exc:
            raise NetlistError(f"{where}: {exc}") from None


def _missing(sub: Subcircuit) -> str:
    return " ".join(p for p in PINS if p not in sub.pins)


def _design_parameters(sub: Subcircuit, decls: tuple[ParamDecl, ...],
                       source: str) -> tuple[DesignParameter, ...]:
    by_name = {d.name: d for d in decls}
    undeclared_bounds = []
    params = []
    for name, default in sub.defaults.items():
        check_param_name(name, where=f"{source}: .subckt {sub.name}")
        try:
            parse_value(default)
        except NetlistError:
            raise NetlistError(f"{source}: default of {name} must be a number, "
                               f"not {default!r}") from None
        d = by_name.get(name)
        if d is None:
            kind = _guess_kind(name)
            if kind is None:
                undeclared_bounds.append(name)
                continue
            d = ParamDecl(name, kind, None, None, "")
        params.append(DesignParameter(d.name, d.kind, d.lo, d.hi, d.description))
    if undeclared_bounds:
        raise NetlistError(
            f"{source}: parameters {undeclared_bounds} of .subckt {sub.name} need a "
            "'*@param NAME KIND LO HI description' line (their kind and bounds are unknown)"
        )
    stray = sorted(set(by_name) - set(sub.defaults))
    if stray:
        raise NetlistError(f"{source}: *@param {stray} not in the .subckt {sub.name} header")
    return tuple(params)


def _guess_kind(name: str) -> str | None:
    """Kinds whose bounds the technology gives: ``w*`` are widths, ``l*`` lengths."""
    if name.startswith("w"):
        return "width"
    if name.startswith("l"):
        return "length"
    return None


#: Keys of a reference file (``<stem>.json`` beside a netlist) and of each of its references.
REFERENCE_FILE_KEYS = frozenset({"circuit", "load_cap", "references"})
REFERENCE_KEYS = frozenset({"vcm", "params", "designed_for"})


def _read_references(path: Path) -> tuple[dict[str, Reference], float]:
    """The reference sizings and load of a reference file: ``{"load_cap": F, "references":
    {TECH: {"vcm": V, "params": {NAME: VALUE}, "designed_for": TEXT}}}`` (``circuit``,
    ``load_cap`` and ``designed_for`` optional); ``({}, 1 pF)`` when there is no file.

    Raises
    ------
    NetlistError
        For a file that is not this structure: not JSON, a key outside it (a misspelt key
        would silently drop the references), a value that is not a number where one belongs.
    """
    if not path.exists():
        return {}, 1e-12
    text = read_text_file(path, f"reference file {path}")

    def bad(where: str, what: str) -> NetlistError:
        return NetlistError(f"{path}: malformed reference file: {where} {what}")

    def number(value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(where, f"must be a number, not {json.dumps(value)[:40]}")
        return float(value)

    def mapping(value: object, where: str, keys: frozenset | None = None) -> dict:
        if not isinstance(value, dict):
            raise bad(where, f"must be an object, not {type(value).__name__}")
        extra = sorted(set(value) - keys) if keys is not None else []
        if extra:
            raise bad(where, f"has unknown keys {extra} (known: {', '.join(sorted(keys))})")
        return value

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad("the file", f"is not JSON: {exc}") from None
    data = mapping(data, "the file", REFERENCE_FILE_KEYS)
    refs = {}
    for tech, r in mapping(data.get("references", {}), "references").items():
        where = f"references[{json.dumps(tech)}]"
        r = mapping(r, where, REFERENCE_KEYS)
        for key in ("vcm", "params"):
            if key not in r:
                raise bad(where, f"lacks {key!r}")
        params = {str(k): number(v, f"{where}.params[{json.dumps(k)}]")
                  for k, v in mapping(r["params"], f"{where}.params").items()}
        designed_for = r.get("designed_for", "")
        if not isinstance(designed_for, str):
            raise bad(f"{where}.designed_for", "must be text")
        refs[tech] = Reference(vcm=number(r["vcm"], f"{where}.vcm"), params=params,
                               designed_for=designed_for)
    return refs, number(data.get("load_cap", 1e-12), "load_cap")


@cache
def get_amplifier(name: str) -> Amplifier:
    """A built-in amplifier by name (``two_stage``, ``folded_cascode``, ...)."""
    if name not in BUILTIN:
        raise NetlistError(f"unknown circuit {name!r}; built-in: {', '.join(BUILTIN)}")
    amp = Amplifier.from_file(BUILTIN_DIR / f"{name}.sp")
    label = f"{BUILTIN[name]}"
    return Amplifier(name=name, netlist=amp.netlist, subckt=amp.subckt,
                     parameters=amp.parameters, references=amp.references,
                     load_cap=amp.load_cap, label=label, path=amp.path)


def list_amplifiers() -> list[str]:
    """Names of the built-in amplifiers, A-D."""
    return list(BUILTIN)
