"""Reading SPICE netlists: logical lines, devices, subcircuits, design-parameter declarations.

This is the small SPICE reader the rest of the package relies on (the book chapter "Circuits,
process models and simulation" and the LoRA-RL circuit graphs both start here). It understands
the subset that amplifier netlists use: continuation lines, comments, ``.subckt`` blocks with
default parameters, device lines and ``.param``/``.model``/``.include``/``.lib``/``.options``.

User netlists are data, not programs: :func:`check_safe` refuses ``.control`` blocks, ngspice
scripts and analysis or output statements, which belong to the test bench.

Design parameters are declared in structured comments, one per line::

    *@param NAME KIND [LO HI] free text description

with KIND one of ``width``, ``length`` (bounds come from the technology), ``current``,
``capacitance``, ``resistance``, ``voltage`` (bounds LO HI in SI units are required).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import NetlistError

#: Functions of ngspice's expression parser; a parameter of that name breaks every expression.
RESERVED_NAMES = frozenset((
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh", "ddt",
    "exp", "floor", "int", "ln", "log", "log10", "max", "min", "nint", "pow", "pwr", "pwl",
    "sgn", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "u", "uramp", "agauss", "gauss",
    "aunif", "unif", "limit", "temper", "hertz", "time", "pi", "e", "i", "v",
))
PARAM_KINDS = ("width", "length", "current", "capacitance", "resistance", "voltage")
#: Statements that run or steer simulations; a user netlist may not contain them.
FORBIDDEN_STATEMENTS = {
    ".control": "a .control block runs ngspice commands",
    ".endc": "a .control block runs ngspice commands",
    ".exec": "an .exec block runs ngspice commands",
    ".shell": "shell escapes are not allowed",
}
ANALYSIS_STATEMENTS = frozenset((
    ".op", ".ac", ".dc", ".tran", ".noise", ".pz", ".sens", ".tf", ".disto", ".four", ".meas",
    ".measure", ".print", ".plot", ".save", ".probe", ".width", ".nodeset", ".ic", ".step",
    ".temp",
))
_NUMBER_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpfa])?")
_SUFFIXED = re.compile(r"(?<![\w.])(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?(?:meg|mil|[tgkmunpfa])(?!\w)",
                       re.I)
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_KV_RE = re.compile(r"([A-Za-z_][\w.]*)\s*=\s*(\{[^}]*\}|'[^']*'|\S+)")


@dataclass(frozen=True)
class Line:
    """One logical line: continuation lines joined, comments removed."""

    number: int
    text: str


@dataclass(frozen=True)
class Device:
    """One element line of a netlist.

    Attributes
    ----------
    name : element name as written (``M1``, ``Rz``, ``XM3``).
    kind : upper-case first letter (``M``, ``R``, ``C``, ``L``, ``V``, ``I``, ``X``, ...).
    nodes : connected nets, in SPICE order (``M``: drain gate source bulk).
    model : model or subcircuit name for ``M``, ``X``, ``D``, ``Q``; ``None`` otherwise.
    value : the value field of two-terminal elements (``{rz}``, ``1k``, ``DC {ibias}``).
    params : ``key=value`` pairs, keys in lower case.
    """

    name: str
    kind: str
    nodes: tuple[str, ...]
    model: str | None
    value: str | None
    params: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Subcircuit:
    """A ``.subckt`` block: its pins, default parameters and devices."""

    name: str
    pins: tuple[str, ...]
    defaults: dict[str, str]
    devices: tuple[Device, ...]
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class ParamDecl:
    """A design-parameter declaration read from a ``*@param`` comment."""

    name: str
    kind: str
    lo: float | None
    hi: float | None
    description: str


@dataclass(frozen=True)
class Netlist:
    """A parsed netlist file: its subcircuits, top-level lines and parameter declarations."""

    text: str
    subckts: dict[str, Subcircuit]
    top: tuple[Line, ...]
    params: tuple[ParamDecl, ...]
    source: str


def parse_value(token: str) -> float:
    """Read a SPICE number with an optional scale suffix (``2u``, ``1.5meg``, ``10k``, ``3e-6``).

    Raises
    ------
    NetlistError
        For anything that is not a plain number with a known suffix (ngspice itself would read
        ``1kfoo`` as 1000 silently).
    """
    m = _NUMBER_RE.fullmatch(token.lower())
    if not m:
        raise NetlistError(f"not a number: {token!r}")
    number, suffix = m.group(1), m.group(2)
    if suffix is None:
        return float(number)
    if suffix == "mil":
        return float(number) * 25.4e-6
    exponent = {"t": 12, "g": 9, "meg": 6, "k": 3, "m": -3, "u": -6, "n": -9, "p": -12,
                "f": -15, "a": -18}[suffix]
    # "20u" -> float("20e-6"): the double nearest the decimal value, unlike 20 * 1e-6
    return float(f"{number}e{exponent}") if "e" not in number else float(number) * 10.0**exponent


def _strip_comment(raw: str) -> str:
    for marker in (" $", "\t$", ";"):
        i = raw.find(marker)
        if i >= 0:
            raw = raw[:i]
    return raw.rstrip()


def logical_lines(text: str) -> list[Line]:
    """Join continuation lines (``+``) and drop comments and blank lines.

    The first line of a SPICE deck is its title; this reader treats files as fragments and keeps
    every line, so a title line must be a comment (``* title``).
    """
    out: list[Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("*"):
            continue
        if stripped.startswith("+"):
            if not out:
                raise NetlistError(f"line {number}: continuation line with nothing to continue")
            prev = out[-1]
            out[-1] = Line(prev.number, prev.text + " " + _strip_comment(stripped[1:]).strip())
            continue
        body = _strip_comment(stripped)
        if body:
            out.append(Line(number, body))
    return out


def parse_params(text: str) -> dict[str, str]:
    """``key=value`` pairs of a line (keys lower case, values as written)."""
    return {k.lower(): v for k, v in _KV_RE.findall(text)}


def _split_positional(line: str) -> list[str]:
    """Tokens before the first ``key=value`` pair, keeping ``{...}`` expressions whole."""
    head = _KV_RE.split(line, maxsplit=1)[0] if _KV_RE.search(line) else line
    return re.findall(r"\{[^}]*\}|'[^']*'|\S+", head)


def parse_device(line: Line) -> Device:
    """Parse one element line into a :class:`Device`."""
    text = line.text
    tokens = _split_positional(text)
    name = tokens[0]
    kind = name[0].upper()
    params = parse_params(text[len(name):])
    rest = tokens[1:]

    def need(n: int) -> None:
        if len(rest) < n:
            raise NetlistError(f"line {line.number}: {name} needs at least {n} fields: {text!r}")

    if kind == "M":
        need(5)
        return Device(name, kind, tuple(rest[:4]), rest[4], None, params, line.number)
    if kind in "RCL":
        need(3)
        return Device(name, kind, tuple(rest[:2]), None, " ".join(rest[2:]), params, line.number)
    if kind in "VIB":
        need(2)
        return Device(name, kind, tuple(rest[:2]), None, " ".join(rest[2:]) or None, params,
                      line.number)
    if kind in "EG":
        need(4)
        return Device(name, kind, tuple(rest[:4]), None, " ".join(rest[4:]) or None, params,
                      line.number)
    if kind in "FH":
        need(3)
        return Device(name, kind, tuple(rest[:2]), None, " ".join(rest[2:]), params, line.number)
    if kind == "D":
        need(3)
        return Device(name, kind, tuple(rest[:2]), rest[2], None, params, line.number)
    if kind == "Q":
        need(4)
        return Device(name, kind, tuple(rest[:-1]), rest[-1], None, params, line.number)
    if kind == "X":
        need(2)
        return Device(name, kind, tuple(rest[:-1]), rest[-1], None, params, line.number)
    raise NetlistError(f"line {line.number}: unsupported element {name!r}: {text!r}")


def parse_param_decls(text: str) -> tuple[ParamDecl, ...]:
    """Read the ``*@param`` declarations of a netlist (see the module docstring)."""
    decls: list[ParamDecl] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s.lower().startswith("*@param"):
            continue
        fields = s.split()[1:]
        if len(fields) < 2:
            raise NetlistError(f"line {number}: '*@param NAME KIND [LO HI] description' expected")
        name, kind = fields[0].lower(), fields[1].lower()
        if kind not in PARAM_KINDS:
            raise NetlistError(f"line {number}: parameter kind {kind!r} not one of {PARAM_KINDS}")
        lo = hi = None
        rest = fields[2:]
        if kind not in ("width", "length") or (len(rest) >= 2 and _is_number(rest[0])):
            if len(rest) < 2 or not (_is_number(rest[0]) and _is_number(rest[1])):
                raise NetlistError(f"line {number}: parameter {name!r} of kind {kind} needs LO HI")
            lo, hi = parse_value(rest[0]), parse_value(rest[1])
            if not lo < hi:
                raise NetlistError(f"line {number}: parameter {name!r}: LO must be below HI")
            rest = rest[2:]
        check_param_name(name, where=f"line {number}")
        decls.append(ParamDecl(name, kind, lo, hi, " ".join(rest)))
    names = [d.name for d in decls]
    if len(set(names)) != len(names):
        raise NetlistError("a design parameter is declared twice")
    return tuple(decls)


def _is_number(token: str) -> bool:
    try:
        parse_value(token)
    except NetlistError:
        return False
    return True


def check_param_name(name: str, where: str = "") -> None:
    """Refuse names ngspice cannot use as parameters (``ln`` is the natural logarithm)."""
    prefix = f"{where}: " if where else ""
    if not _NAME_RE.match(name):
        raise NetlistError(f"{prefix}parameter name {name!r} must be lower-case letters, digits, _")
    if name in RESERVED_NAMES:
        raise NetlistError(f"{prefix}parameter name {name!r} is an ngspice function name")


def check_safe(text: str, source: str = "netlist") -> None:
    """Refuse a netlist that would run commands or analyses of its own.

    Raises
    ------
    NetlistError
        For ``.control``/``.endc`` blocks, ngspice scripts (``*ng_script``), and analysis or
        output statements (``.tran``, ``.meas``, ``.save``, ...), naming the line.
    """
    first = text.lstrip().splitlines()[0].lower() if text.strip() else ""
    if first.startswith("*ng_script"):
        raise NetlistError(f"{source}: ngspice scripts (*ng_script) are not allowed")
    for line in logical_lines(text):
        word = line.text.split()[0].lower()
        if word in FORBIDDEN_STATEMENTS:
            raise NetlistError(
                f"{source}, line {line.number}: {word} refused: {FORBIDDEN_STATEMENTS[word]}; "
                "a netlist describes a circuit, the test bench runs it"
            )
        if word in ANALYSIS_STATEMENTS:
            raise NetlistError(
                f"{source}, line {line.number}: {word} refused: analyses and outputs belong to "
                "the test bench; remove the statement"
            )


def parse_netlist(text: str, source: str = "netlist", base: Path | None = None) -> Netlist:
    """Parse a netlist fragment (subcircuits, models, parameters), checking that it is safe.

    Relative ``.include``/``.lib`` paths are resolved against ``base`` (default: the current
    directory, where ngspice resolves them too), and every included file is checked as well.

    Raises
    ------
    NetlistError
        When the text or a file it includes, at any depth, is unsafe (:func:`check_safe`) or
        missing, a ``.subckt`` is unterminated or nested, or an element line cannot be read.
    """
    check_safe(text, source)
    check_includes(text, Path.cwd() if base is None else base, source)
    subckts: dict[str, Subcircuit] = {}
    top: list[Line] = []
    current: list[Line] | None = None
    header: Line | None = None
    for line in logical_lines(text):
        word = line.text.split()[0].lower()
        if word == ".subckt":
            if current is not None:
                raise NetlistError(f"{source}, line {line.number}: nested .subckt")
            current, header = [], line
        elif word == ".ends":
            if current is None or header is None:
                raise NetlistError(f"{source}, line {line.number}: .ends without .subckt")
            sub = _make_subckt(header, current, source)
            subckts[sub.name] = sub
            current = header = None
        elif word == ".end":
            break
        elif current is not None:
            current.append(line)
        else:
            top.append(line)
    if current is not None and header is not None:
        raise NetlistError(f"{source}, line {header.number}: .subckt without .ends")
    _check_recursion(subckts, source)
    return Netlist(text, subckts, tuple(top), parse_param_decls(text), source)


def _check_recursion(subckts: dict[str, Subcircuit], source: str) -> None:
    """Refuse a subcircuit that instantiates itself, directly or through others."""
    def visit(name: str, path: tuple[str, ...]) -> None:
        for d in subckts[name].devices:
            child = (d.model or "").lower()
            if d.kind != "X" or child not in subckts:
                continue
            if child in path:
                cycle = " -> ".join((*path, child))
                raise NetlistError(f"{source}: recursive subcircuits: {cycle}")
            visit(child, (*path, child))

    for name in subckts:
        visit(name, (name,))


def model_types(text: str) -> dict[str, str]:
    """``.model`` names defined in SPICE text and their types (``nmos``, ``pmos``, ``d``, ...).

    Binned models (``name.1``, ``name.2``) are reported under their base name.
    """
    out = {}
    for m in re.finditer(r"(?im)^\s*\.model\s+(\S+)\s+\(?\s*([a-z]+)", text):
        out[m.group(1).lower().split(".")[0]] = m.group(2).lower()
    return out


def has_includes(text: str) -> bool:
    """Whether SPICE text pulls in other files (``.include``/``.lib``)."""
    return re.search(r"(?im)^\s*\.(include|inc|lib)\s", text) is not None


def _make_subckt(header: Line, body: list[Line], source: str) -> Subcircuit:
    tokens = _split_positional(header.text)
    if len(tokens) < 2:
        raise NetlistError(f"{source}, line {header.number}: .subckt needs a name")
    name = tokens[1].lower()
    pins = tuple(t.lower() for t in tokens[2:] if t.lower() != "params:")
    defaults = parse_params(header.text)
    devices = []
    for line in body:
        if line.text.startswith("."):
            continue
        try:
            devices.append(parse_device(line))
        except NetlistError as exc:
            raise NetlistError(f"{source}: {exc}") from None
    names = [d.name.lower() for d in devices]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise NetlistError(f"{source}: subckt {name}: duplicate element names {dupes}")
    return Subcircuit(name, pins, defaults, tuple(devices), tuple(body))


def read_netlist(path: str | Path) -> Netlist:
    """Read and parse a netlist file, checking every file it ``.include``s as well."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise NetlistError(f"cannot read netlist {path}: {exc}") from None
    return parse_netlist(text, source=str(path), base=path.parent)


_INCLUDE_RE = re.compile(
    r"""^\s*(\.include|\.inc|\.lib)\s+("[^"]*"|'[^']*'|[^\s;"']+)(\s+[^\s;]+)?""", re.I)


@dataclass(frozen=True)
class Directive:
    """An ``.include``/``.inc`` or ``.lib FILE SECTION`` line: keyword, file, section, and the
    span of the file name in the line as written."""

    keyword: str
    target: str
    section: str | None
    span: tuple[int, int]


def include_directive(text: str) -> Directive | None:
    """The include directive of a line, or ``None`` (``.lib NAME`` alone opens a section in a
    library file and includes nothing); a quoted file name may hold spaces, and a ``;`` or
    `` $`` comment ends the line."""
    m = _INCLUDE_RE.match(_strip_comment(text))
    if m is None:
        return None
    keyword, section = m.group(1).lower(), m.group(3)
    if keyword == ".lib" and section is None:
        return None
    start, end = m.span(2)
    quoted = m.group(2)[0] in "'\""
    span = (start + 1, end - 1) if quoted else (start, end)
    return Directive(keyword, m.group(2).strip("'\""), section.strip() if section else None,
                     span)


def include_target(text: str) -> str | None:
    """The file an include directive names (:func:`include_directive`), or ``None``."""
    d = include_directive(text)
    return None if d is None else d.target


def library_definitions(path: Path) -> dict[str, str]:
    """Device names a model library file defines (see :func:`defined_devices`).

    Raises
    ------
    NetlistError
        When the file or a file it includes cannot be read.
    """
    path = Path(path).resolve()
    return defined_devices(_read_library(path), path.parent, _seen={path})


def defined_devices(text: str, base: Path, _seen: set[Path] | None = None) -> dict[str, str]:
    """Device names that SPICE text and the files it includes define: ``.model`` names (binned
    models under their base name) with their type, and ``.subckt`` names as ``"subckt"``.
    Relative includes resolve against ``base``."""
    seen = set() if _seen is None else _seen
    found = model_types(text)
    for m in re.finditer(r"(?im)^\s*\.subckt\s+(\S+)", text):
        found.setdefault(m.group(1).lower(), "subckt")
    for line in logical_lines(text):
        target = include_target(line.text)
        if target is None:
            continue
        inc = Path(target)
        inc = (inc if inc.is_absolute() else base / inc).resolve()
        if inc in seen or not inc.is_file():
            continue
        seen.add(inc)
        for name, kind in defined_devices(_read_library(inc), inc.parent, seen).items():
            found.setdefault(name, kind)
    return found


def _read_library(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise NetlistError(f"cannot read model library {path}: {exc}") from None


def dc_value(text: str) -> str:
    """The DC value of a source's value field: ``DC {2 * ib} AC 0`` and ``{2 * ib}`` both give
    ``{2 * ib}``."""
    m = re.match(r"\s*(?:dc\s+)?(\{[^}]*\}|'[^']*'|\S+)", text, re.I)
    return m.group(1) if m else text


def _section_lines(text: str, section: str | None) -> list[Line]:
    """The lines ngspice reads of a library file: those of ``.lib SECTION`` ... ``.endl`` when
    a section is named, else those outside every section (sections are read only on demand)."""
    out: list[Line] = []
    current: str | None = None
    for line in logical_lines(text):
        words = line.text.split()
        word = words[0].lower()
        if word == ".lib" and len(words) == 2 and include_directive(line.text) is None:
            current = words[1].lower()
            continue
        if word == ".endl":
            current = None
            continue
        if (section is None and current is None) or (
                section is not None and current == section.lower()):
            out.append(line)
    return out


def check_includes(text: str, base: Path, source: str = "netlist",
                   _chain: tuple[Path, ...] = (), _seen: set | None = None,
                   _section: str | None = None) -> list[Path]:
    """Check every file a netlist includes, at any depth: it exists and is safe.

    Every file read is checked whole (:func:`check_safe`); its includes are followed as
    ngspice follows them: every ``.include`` line, wherever it stands, and the ``.lib FILE
    SECTION`` lines it reaches (of the section a ``.lib`` names, or outside every section of an
    ``.include``d file). A library that opens its own sections
    (``.lib 'self.lib' tt`` inside ``self.lib``, as corner libraries do) is fine; a chain of
    ``.include``s that comes back to a file is refused.

    Returns the included files (resolved paths, in order of first inclusion).

    Raises
    ------
    NetlistError
        For a missing or unreadable file, an ``.include`` cycle, or unsafe content anywhere,
        naming the file and line.
    """
    seen: set = set() if _seen is None else _seen
    found: list[Path] = []
    top = _seen is None
    active = {line.number for line in (logical_lines(text) if top
                                       else _section_lines(text, _section))}
    for line in logical_lines(text):
        d = include_directive(line.text)
        if d is None or (d.keyword == ".lib" and line.number not in active):
            continue  # ngspice reads every .include, but only the .lib lines it reaches
        path = Path(d.target)
        path = (path if path.is_absolute() else base / path).resolve()
        where = f"{source}, line {line.number}"
        if d.keyword != ".lib" and path in _chain:
            raise NetlistError(f"{where}: {path} includes itself")
        section = d.section.lower() if d.keyword == ".lib" and d.section else None
        if (path, section) in seen:
            continue
        if not path.is_file():
            raise NetlistError(f"{where}: included file not found: {path}")
        try:
            inc_text = path.read_text(errors="replace")
        except OSError as exc:
            raise NetlistError(f"{where}: cannot read included file {path}: {exc}") from None
        if all(p != path for p, _ in seen):
            check_safe(inc_text, source=str(path))
        seen.add((path, section))
        if path not in found:
            found.append(path)
        chain = (*_chain, path) if d.keyword != ".lib" else _chain
        for deeper in check_includes(inc_text, path.parent, str(path), chain, seen, section):
            if deeper not in found:
                found.append(deeper)
    return found


def absolutise_includes(text: str, base: Path) -> str:
    """Rewrite relative ``.include``/``.lib FILE`` paths so the text loads from anywhere (only
    the file name is replaced; section headers and comments stay as written)."""
    out = []
    for raw in text.splitlines(keepends=True):
        d = include_directive(raw)
        if d is not None and not Path(d.target).is_absolute():
            start, end = d.span
            raw = raw[:start] + str((base / d.target).resolve()) + raw[end:]
        out.append(raw)
    return "".join(out)



_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
        ast.UAdd: operator.pos}


def evaluate(expr: str | None, values: Mapping[str, float]) -> float:
    """Value of a netlist field: a SPICE number, or a ``{...}`` arithmetic expression of params.

    Supports + - * / ** (or ^), parentheses, numbers with SPICE suffixes, and parameter names.

    Raises
    ------
    ValueError
        For a missing field, an unknown name or an unsupported construct (a function call).
    """
    if expr is None:
        raise ValueError("no value")
    compiled = _compile(expr)
    return compiled if isinstance(compiled, float) else _eval(compiled, values)


@lru_cache(maxsize=4096)
def _compile(expr: str) -> float | ast.AST:
    text = expr.strip()
    if text.upper().startswith("DC "):
        text = text[3:].strip()
    if text[:1] + text[-1:] in ("{}", "''"):
        text = text[1:-1]
    else:
        try:
            return parse_value(text)
        except ValueError:
            pass
    try:
        text = _SUFFIXED.sub(lambda m: repr(parse_value(m.group(0))), text)
        return ast.parse(text.replace("^", "**"), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"cannot read expression {expr!r}: {exc.msg}") from None


def _eval(node: ast.AST, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id.lower() not in values:
            raise ValueError(f"unknown parameter {node.id!r} in an expression")
        return float(values[node.id.lower()])
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand, values))
    raise ValueError(f"unsupported expression: {ast.dump(node)}")
