"""Reading SPICE netlists by an allow-list, and writing them back in the project's own form.

This is the reader the rest of the package relies on (the book chapter "Circuits, process models
and simulation" and the LoRA-RL circuit graphs both start here). A user netlist is data, never
code: it is read, with every file it includes, into the project's own model, and ngspice only
ever receives text that the project writes from that model (:attr:`Netlist.text`). Anything the
reader does not know is a :class:`~circuits.errors.NetlistError` naming the file and the line.

What a netlist may contain
--------------------------
- comments (``*`` lines, `` $`` and ``;`` to the end of a line; never written back, so a ``*#``
  line never reaches ngspice), continuation lines (``+``), a final ``.end``;
- ``.subckt NAME PINS... [params:] KEY=VALUE...`` ... ``.ends [NAME]`` (not nested);
- elements of the kinds ``M R C L V I E G F H D Q X B``, each with its own field shapes
  (:func:`parse_device`), and only inside a ``.subckt``: the test bench writes the top level;
  a behavioural source ``B`` takes ``V=`` or ``I=`` an expression that may also use
  ``v(node)``, ``v(node, node)`` and ``i(vsource)``;
- ``.model NAME TYPE [(] KEY=VALUE... [)]`` with TYPE in :data:`MODEL_TYPES` (a binned model
  may be named ``NAME.N``), and ``.param KEY=VALUE...``;
- ``.include FILE`` or ``.inc FILE``, ``.lib FILE SECTION``, and library sections
  ``.lib SECTION`` ... ``.endl [SECTION]``. A file name is ASCII letters, digits and
  ``_ . / + -`` (no quotes, commas, ``$``, ``~``, spaces); a relative name is resolved against
  the directory of the file that names it (never ngspice's working-directory search). An
  included file is read once, checked by the same rules, and inlined: ngspice never opens a
  file a netlist names. An ``.include`` reads the lines outside the file's sections, a
  ``.lib FILE SECTION`` the lines of that section; every section of a file is checked even if
  unused;
- ``*@param NAME KIND [LO HI] description`` comments declaring design parameters, with KIND one
  of ``width``, ``length`` (bounds come from the technology), ``current``, ``capacitance``,
  ``resistance``, ``voltage`` (bounds LO HI in SI units are required).

Names of elements, models and parameters are ASCII letters, digits and ``_`` (starting with a
letter or ``_``); node names may also start with a digit. Values are numbers with SPICE scale
suffixes (``2u``, ``1.5meg``) or expressions in ``{...}`` or ``'...'`` under a small grammar:
numbers, parameter names, ``+ - * / ^ **``, unary minus, parentheses and the functions of
:data:`FUNCTIONS`. Powers associate to the left, as in ngspice (``2^3^2`` is 64); expressions
are written back fully parenthesised from their parse tree, so ngspice computes exactly the
tree that :func:`evaluate` computes.

Process libraries (built-in cards, installed PDKs, libraries registered with
:func:`circuits.register_library`) are the trust boundary: the technology includes them by
their resolved absolute path, and :func:`library_definitions` only looks up their device names.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Mapping
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
#: Functions an expression may call (those of ngspice's parameter expressions); :func:`evaluate`
#: leaves calls to ngspice.
FUNCTIONS = frozenset((
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "ceil", "cos", "cosh", "exp",
    "floor", "int", "ln", "log", "log10", "max", "min", "nint", "pow", "pwr", "sgn", "sin",
    "sinh", "sqrt", "tan", "tanh", "u", "uramp", "agauss", "gauss", "aunif", "unif", "limit",
))
PARAM_KINDS = ("width", "length", "current", "capacitance", "resistance", "voltage")
#: Element kinds a netlist may contain (first letter of the element name).
ELEMENT_KINDS = "MRCLVIEGFHDQXB"
#: ``.model`` types a netlist may define.
MODEL_TYPES = frozenset(("nmos", "pmos", "d", "npn", "pnp", "r", "c", "l", "sw", "csw"))
#: Statements a netlist may contain (matched whole, in any case).
STATEMENTS = (".subckt", ".ends", ".model", ".param", ".include", ".inc", ".lib", ".endl", ".end")
#: Limits on what is read: bytes of one file, depth of nested includes, files of one netlist,
#: characters and tree depth of one expression, characters of a name.
MAX_FILE_BYTES = 8 * 2**20
MAX_INCLUDE_DEPTH = 16
MAX_FILES = 256
MAX_EXPRESSION_CHARS = 4096
MAX_EXPRESSION_DEPTH = 64
MAX_NAME_CHARS = 128
#: Characters of an offending token shown in an error (only for the netlist file itself).
SHOWN_CHARS = 24

_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?(?:meg|mil|[tgkmunpfa])?"
_NUMBER_RE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpfa])?")
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ELEMENT_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
NODE_PATTERN = re.compile(r"[A-Za-z0-9_]+")
_NODE_MATCH = NODE_PATTERN.fullmatch
MODEL_CARD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[0-9]+)?")
FILE_PATTERN = re.compile(r"[A-Za-z0-9_./+-]+")
_KV_RE = re.compile(r"([A-Za-z_][\w.]*)\s*=\s*(\{[^}]*\}|'[^']*'|\S+)")
_TOKEN_RE = re.compile(r"\{[^{}]*\}|'[^']*'|=|[^\s='{}]+")
_BAD_CHAR_RE = re.compile(r"[^\t -~]")
_EXPR_TOKEN_RE = re.compile(
    rf"\s*(?:(?P<num>{_NUMBER})(?![A-Za-z0-9_.])|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),{}]))", re.I)


@dataclass(frozen=True)
class Line:
    """One logical line: continuation lines joined, comments removed."""

    number: int
    text: str


@dataclass(frozen=True)
class Device:
    """One element line of a netlist, its fields checked and written in canonical form.

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
    """A ``.subckt`` block: its pins, default parameters, devices and canonical body lines."""

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
    """A netlist read by the allow-list: its subcircuits, top-level ``.model``/``.param`` lines,
    parameter declarations, and the files it included.

    ``text`` is the canonical text written from this model (includes inlined, no comments):
    the only form of the netlist that ngspice ever receives.
    """

    text: str
    subckts: dict[str, Subcircuit]
    top: tuple[Line, ...]
    params: tuple[ParamDecl, ...]
    source: str
    files: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# Numbers and expressions


def parse_value(token: str) -> float:
    """Read a SPICE number with an optional scale suffix (``2u``, ``1.5meg``, ``10k``, ``3e-6``);
    used by every reader of the chapter "Circuits, process models and simulation" and the CLI.

    Raises
    ------
    NetlistError
        For anything that is not a plain number with a known suffix (ngspice itself would read
        ``1kfoo`` as 1000 silently).
    """
    m = _NUMBER_RE.fullmatch(token.lower())
    if not m:
        raise NetlistError(f"not a number: {_show(token)}")
    number, suffix = m.group(1), m.group(2)
    if suffix is None:
        value = float(number)
    elif suffix == "mil":
        value = float(number) * 25.4e-6
    else:
        exponent = {"t": 12, "g": 9, "meg": 6, "k": 3, "m": -3, "u": -6, "n": -9, "p": -12,
                    "f": -15, "a": -18}[suffix]
        # "20u" -> float("20e-6"): the double nearest the decimal value, unlike 20 * 1e-6
        value = (float(f"{number}e{exponent}") if "e" not in number
                 else float(number) * 10.0**exponent)
    if not math.isfinite(value):
        raise NetlistError(f"not a finite number: {_show(token)}")
    return value


def _expression_tree(text: str, behavioural: bool = False) -> tuple:
    """Parse an expression (without its braces) into a tree of tuples.

    Grammar (lowest precedence first; powers associate to the left as in ngspice)::

        sum     := product (("+" | "-") product)*
        product := unary (("*" | "/") unary)*
        unary   := ("-" | "+") unary | power
        power   := atom (("^" | "**") operand)*
        operand := ("-" | "+") operand | atom
        atom    := NUMBER | NAME | FUNCTION "(" sum ("," sum)* ")" | "(" sum ")"

    Nodes: ``("num", text, value)``, ``("name", name)``, ``("neg", x)``,
    ``("bin", op, left, right)``, ``("call", fn, args)``.

    Raises
    ------
    NetlistError
        For anything outside the grammar, an unknown function, or an expression too long or
        too deeply nested.
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        raise NetlistError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    tokens: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _EXPR_TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise NetlistError(f"expression: unexpected {_show(text[pos:].strip())}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    if not tokens:
        raise NetlistError("empty expression")
    i = 0

    def peek() -> tuple[str, str] | None:
        return tokens[i] if i < len(tokens) else None

    def take(op: str) -> bool:
        nonlocal i
        t = peek()
        if t is not None and t[0] == "op" and t[1] == op:
            i += 1
            return True
        return False

    depths: dict[int, int] = {}
    nest = 0

    def depth_of(node: tuple) -> tuple:
        kids = node[2] if node[0] == "call" else node[1:2] if node[0] == "neg" else node[2:]
        d = 1 + max((depths.get(id(k), 1) for k in kids), default=0)
        if d > MAX_EXPRESSION_DEPTH:
            raise NetlistError(f"expression nested deeper than {MAX_EXPRESSION_DEPTH}")
        depths[id(node)] = d
        return node

    def enter() -> None:
        nonlocal nest
        nest += 1
        if nest > MAX_EXPRESSION_DEPTH:
            raise NetlistError(f"expression nested deeper than {MAX_EXPRESSION_DEPTH}")

    def sum_() -> tuple:
        nonlocal i, nest
        enter()
        left = product()
        while True:
            t = peek()
            if t is not None and t[0] == "op" and t[1] in "+-":
                i += 1
                left = depth_of(("bin", t[1], left, product()))
            else:
                nest -= 1
                return left

    def product() -> tuple:
        nonlocal i
        left = unary()
        while True:
            t = peek()
            if t is not None and t[0] == "op" and t[1] in ("*", "/"):
                i += 1
                left = depth_of(("bin", t[1], left, unary()))
            else:
                return left

    def signed(inner: Callable[[], tuple]) -> tuple:
        """Leading signs, then ``inner``: ``unary`` is ``signed(power)`` (``-2^2`` is
        ``-(2^2)``), an exponent is ``signed(atom)`` (``2^-3^2`` is ``(2^-3)^2``)."""
        nonlocal nest
        while take("+"):
            pass
        if take("-"):
            enter()
            node = depth_of(("neg", signed(inner)))
            nest -= 1
            return node
        return inner()

    def unary() -> tuple:
        return signed(power)

    def power() -> tuple:
        nonlocal i
        left = atom()
        while True:
            t = peek()
            if t is not None and t[0] == "op" and t[1] in ("^", "**"):
                i += 1
                left = depth_of(("bin", "^", left, signed(atom)))
            else:
                return left

    def probe(name: str) -> tuple:
        """``v(node)``, ``v(node, node)`` or ``i(vsource)`` of a behavioural source."""
        nonlocal i
        args = []
        pattern = NODE_PATTERN if name == "v" else ELEMENT_PATTERN
        while True:
            t = peek()
            if t is None or t[0] == "op" or not pattern.fullmatch(t[1]):
                raise NetlistError(f"expression: {name}() takes "
                                   f"{'node names' if name == 'v' else 'a source name'}")
            args.append(t[1])
            i += 1
            if take(")"):
                break
            if not take(","):
                raise NetlistError("expression: ')' expected")
        if len(args) > (2 if name == "v" else 1):
            raise NetlistError(f"expression: too many arguments to {name}()")
        return ("probe", name, tuple(args))

    def atom() -> tuple:
        nonlocal i
        t = peek()
        if t is None:
            raise NetlistError("expression ends too early")
        i += 1
        kind, value = t
        if kind == "num":
            return ("num", value, parse_value(value))
        if kind == "name":
            name = value.lower()
            if behavioural and name in ("v", "i") and take("("):
                return probe(name)
            if take("("):
                if name not in FUNCTIONS:
                    raise NetlistError(f"expression: unknown function {_show(value)}")
                args = [sum_()]
                while take(","):
                    args.append(sum_())
                if not take(")"):
                    raise NetlistError("expression: ')' expected")
                return depth_of(("call", name, tuple(args)))
            if len(name) > MAX_NAME_CHARS:
                raise NetlistError("expression: name too long")
            return ("name", name)
        if kind == "op" and (value == "(" or (value == "{" and behavioural)):
            inner = sum_()
            close = ")" if value == "(" else "}"
            if not take(close):
                raise NetlistError(f"expression: '{close}' expected")
            return inner
        raise NetlistError(f"expression: unexpected {_show(value)}")

    tree = sum_()
    if i != len(tokens):
        raise NetlistError(f"expression: unexpected {_show(tokens[i][1])}")
    return tree


def _write_tree(node: tuple, top: bool = True) -> str:
    """Canonical text of an expression tree: every operation parenthesised except the
    outermost, so ngspice reads the same tree whatever its precedence rules."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "name":
        return node[1]
    if kind == "probe":
        return f"{node[1]}({', '.join(node[2])})"
    if kind == "neg":
        text = "-" + _write_tree(node[1], top=False)
    elif kind == "bin":
        text = f"{_write_tree(node[2], top=False)}{node[1]}{_write_tree(node[3], top=False)}"
    else:
        return f"{node[1]}({', '.join(_write_tree(a) for a in node[2])})"
    return text if top else f"({text})"


def _tree_names(node: tuple, names: set[str]) -> bool:
    """Collect the parameter names of a tree; return whether it calls a function."""
    kind = node[0]
    if kind == "name":
        names.add(node[1])
        return False
    if kind == "neg":
        return _tree_names(node[1], names)
    if kind == "bin":
        left = _tree_names(node[2], names)
        return _tree_names(node[3], names) or left
    if kind == "call":
        for a in node[2]:
            _tree_names(a, names)
        return True
    return kind == "probe"


def expression_names(expr: str) -> tuple[frozenset[str], bool]:
    """Parameter names a value field uses, and whether it calls a function (used by the test
    bench of the chapter "Circuits, process models and simulation" to decide which device
    values it can compute itself).

    Raises
    ------
    NetlistError
        When the field is not a number or an expression of the grammar.
    """
    compiled = _compile(expr)
    if isinstance(compiled, float):
        return frozenset(), False
    names: set[str] = set()
    calls = _tree_names(compiled, names)
    return frozenset(names), calls


def behavioural_names(expr: str) -> frozenset[str]:
    """Parameter names a behavioural source's expression uses (``v()`` and ``i()`` arguments
    are not names); the bench of the chapter "Circuits, process models and simulation"
    re-parses rather than alters when there are any.

    Raises
    ------
    NetlistError
        When the expression is outside the grammar.
    """
    names: set[str] = set()
    _tree_names(_expression_tree(expr, behavioural=True), names)
    return frozenset(names)


@lru_cache(maxsize=65536)
def _canonical_value(token: str) -> str:
    """A value field in canonical form: a number as written, or ``{expression}`` re-written
    from its parse tree (``'...'`` and bare expressions become ``{...}``)."""
    if len(token) >= 2 and token[0] + token[-1] in ("{}", "''"):
        return "{" + _write_tree(_expression_tree(token[1:-1])) + "}"
    if _NUMBER_RE.fullmatch(token.lower()):
        parse_value(token)
        return token
    return "{" + _write_tree(_expression_tree(token)) + "}"


def evaluate(expr: str | None, values: Mapping[str, float]) -> float:
    """Value of a netlist field: a SPICE number, or an expression of parameters (the bench's
    ``alter`` values and the circuit graphs of the chapter "Circuits, process models and
    simulation").

    The field may be ``{...}``, ``'...'``, a bare number or expression, and may start with
    ``DC`` (a source's value). Supports the grammar of the module docstring except function
    calls, which only ngspice computes.

    Raises
    ------
    NetlistError (a ``ValueError``)
        For a missing field, an unknown name, a function call, a field outside the grammar, or
        arithmetic that fails at these values (division by zero, overflow, a negative number to
        a fractional power, a result that is not finite).
    """
    if expr is None:
        raise NetlistError("no value")
    compiled = _compile(expr)
    return compiled if isinstance(compiled, float) else _eval(compiled, values)


@lru_cache(maxsize=4096)
def _compile(expr: str) -> float | tuple:
    text = expr.strip()
    if text[:3].upper() == "DC ":
        text = text[3:].strip()
    if len(text) >= 2 and text[0] + text[-1] in ("{}", "''"):
        return _expression_tree(text[1:-1])
    try:
        return parse_value(text)
    except NetlistError:
        return _expression_tree(text)


def _eval(node: tuple, values: Mapping[str, float]) -> float:
    kind = node[0]
    if kind == "num":
        return node[2]
    if kind == "name":
        if node[1] not in values:
            raise NetlistError(f"unknown parameter {node[1]!r} in an expression")
        return _finite(float(values[node[1]]), node[1])
    if kind == "neg":
        return -_eval(node[1], values)
    if kind in ("call", "probe"):
        raise NetlistError(f"unsupported expression: function {node[1]}() is left to ngspice")
    op, a, b = node[1], _eval(node[2], values), _eval(node[3], values)
    try:
        if op == "+":
            out = a + b
        elif op == "-":
            out = a - b
        elif op == "*":
            out = a * b
        elif op == "/":
            out = a / b
        else:
            if a < 0 and not float(b).is_integer():
                raise NetlistError(f"a negative number ({a:g}) to a fractional power ({b:g})")
            out = a ** b
    except ZeroDivisionError:
        raise NetlistError("division by zero") from None
    except OverflowError:
        raise NetlistError("overflow") from None
    return _finite(out, "result")


def _finite(value: float, what: str) -> float:
    if isinstance(value, complex) or not math.isfinite(value):
        raise NetlistError(f"{what} is not finite ({value})")
    return value


# ----------------------------------------------------------------------------------------------
# Lines and tokens


def _show(token: str) -> str:
    """An offending token for an error message: truncated, non-printable characters escaped."""
    short = token[:SHOWN_CHARS] + ("..." if len(token) > SHOWN_CHARS else "")
    return ascii(short)


class _Where:
    """Where a statement comes from, for error messages. Tokens of files other than the
    netlist itself are never shown: an error cannot display another file's contents."""

    def __init__(self, label: str, show: bool = True) -> None:
        self.label = label
        self.show = show

    def error(self, number: int, message: str, token: str | None = None) -> NetlistError:
        if token is not None and self.show:
            message = f"{message}: {_show(token)}"
        where = f"{self.label}, line {number}" if number else self.label
        return NetlistError(f"{where}: {message}")


def _strip_comment(raw: str) -> str:
    for marker in (" $", "\t$", ";"):
        i = raw.find(marker)
        if i >= 0:
            raw = raw[:i]
    return raw.rstrip()


def logical_lines(text: str, where: _Where | None = None) -> list[Line]:
    """Join continuation lines (``+``) and drop comments and blank lines (the first step of
    reading a netlist, chapter "Circuits, process models and simulation").

    The first line of a SPICE deck is its title; this reader treats files as fragments and keeps
    every line, so a title line must be a comment (``* title``). Comments may hold any text;
    the lines that remain must be printable ASCII.

    Raises
    ------
    NetlistError
        For a continuation line with nothing to continue, or a non-ASCII or control character.
    """
    where = where or _Where("netlist")
    out: list[Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("*"):
            continue
        body = _strip_comment(stripped)
        bad = _BAD_CHAR_RE.search(body)
        if bad is not None:
            raise where.error(number, f"character {bad.group()!a} not allowed (ASCII "
                                      "only, outside comments)")
        if body.startswith("+"):
            if not out:
                raise where.error(number, "continuation line with nothing to continue")
            prev = out[-1]
            out[-1] = Line(prev.number, prev.text + " " + body[1:].strip())
            continue
        if body:
            out.append(Line(number, body))
    return out


def parse_params(text: str) -> dict[str, str]:
    """``key=value`` pairs of a line (keys lower case, values as written)."""
    return {k.lower(): v for k, v in _KV_RE.findall(text)}


def _tokens(text: str, where: _Where, number: int) -> tuple[list[str], dict[str, str]]:
    """Positional tokens and ``key=value`` pairs of a line (keys lower case, values canonical).

    ``{...}`` and ``'...'`` are single tokens; ``params:`` is skipped; a positional token after
    the first pair is refused.
    """
    positional: list[str] = []
    pairs: dict[str, str] = {}
    if "=" in text or "{" in text or "'" in text or "}" in text:
        raw = _TOKEN_RE.findall(text)
        left = _TOKEN_RE.sub(" ", text).strip()
        if left:
            raise where.error(number, "unbalanced brace or quote", left)
    else:
        raw = text.split()
    i = 0
    while i < len(raw):
        tok = raw[i]
        if i + 1 < len(raw) and raw[i + 1] == "=":
            if i + 2 >= len(raw) or raw[i + 2] == "=":
                raise where.error(number, "a value is missing after", tok + "=")
            key = tok.lower()
            if not NAME_PATTERN.fullmatch(key) or len(key) > MAX_NAME_CHARS:
                raise where.error(number, "not a parameter name", tok)
            if key in pairs:
                raise where.error(number, "parameter given twice", tok)
            pairs[key] = _value(raw[i + 2], where, number)
            i += 3
            continue
        if tok == "=":
            raise where.error(number, "'=' without a name before it")
        if tok.lower() == "params:":
            i += 1
            continue
        if pairs:
            raise where.error(number, "a field after key=value pairs", tok)
        positional.append(tok)
        i += 1
    return positional, pairs


def _value(token: str, where: _Where, number: int) -> str:
    try:
        return _canonical_value(token)
    except NetlistError as exc:
        detail = str(exc) if where.show else "not a number or expression of the grammar"
        raise where.error(number, f"bad value ({detail})") from None


def _name(token: str, pattern: re.Pattern, what: str, where: _Where, number: int) -> str:
    if not pattern.fullmatch(token) or len(token) > MAX_NAME_CHARS:
        raise where.error(number, f"not a valid {what} (ASCII letters, digits, _)", token)
    return token


def checked_name(name: str, what: str = "element name") -> str:
    """``name`` if it matches the pattern of its kind (element, node, model or parameter
    name), else a :class:`NetlistError`: commands sent to ngspice (``alter``) and vector
    names are built from checked names only (the bench of the chapter "Circuits, process
    models and simulation")."""
    pattern = {"element name": ELEMENT_PATTERN, "node": NODE_PATTERN,
               "model name": MODEL_CARD_PATTERN}.get(what, NAME_PATTERN)
    if not isinstance(name, str) or not pattern.fullmatch(name) or len(name) > MAX_NAME_CHARS:
        raise NetlistError(f"not a valid {what}: {_show(str(name))}")
    return name


# ----------------------------------------------------------------------------------------------
# Statements


@dataclass(frozen=True)
class _Stmt:
    """One statement of a file: its kind, canonical text and the fields its kind needs."""

    kind: str  # element, subckt, ends, model, param, include, lib, section, endl, end
    number: int
    label: str
    text: str = ""
    device: Device | None = None
    name: str = ""
    pins: tuple[str, ...] = ()
    params: dict | None = None
    target: str = ""


def parse_device(line: Line, where: _Where | None = None) -> Device:
    """Parse one element line into a :class:`Device` (canonical values), by kind (the netlists
    of the chapter "Circuits, process models and simulation"):

    ====  =====================================================
    M     ``Mname d g s b model [key=value...]``
    R C L ``Xname n1 n2 value [key=value...]``
    V I   ``Xname n+ n- [[DC] value] [AC mag [phase]]``
    E G   ``Xname n+ n- nc+ nc- gain``
    F H   ``Xname n+ n- vname gain``
    D     ``Dname a k model [area] [key=value...]``
    Q     ``Qname c b e [s] model [area=...] [key=value...]``
    X     ``Xname nodes... subckt [params:] [key=value...]``
    B     ``Bname n+ n- V=expression`` or ``I=expression``
    ====  =====================================================

    Raises
    ------
    NetlistError
        For an unknown kind, a bad name, node or value, or fields of the wrong shape.
    """
    where = where or _Where("netlist")
    n = line.number
    if line.text[:1] in "bB":
        return _behavioural(line, where)
    tokens, params = _tokens(line.text, where, n)
    if not tokens:
        raise where.error(n, "empty element line")
    name = tokens[0]
    kind = name[0].upper()
    if kind not in ELEMENT_KINDS:
        raise where.error(n, f"unsupported element (kinds: {' '.join(ELEMENT_KINDS)})", name)
    _name(name, ELEMENT_PATTERN, "element name", where, n)
    rest = tokens[1:]

    def nodes(k: int) -> tuple[str, ...]:
        if len(rest) < k:
            raise where.error(n, f"a {kind} element needs {k} nodes")
        out = tuple(rest[:k])
        for t in out:
            if not _NODE_MATCH(t) or len(t) > MAX_NAME_CHARS:
                _name(t, NODE_PATTERN, "node name", where, n)
        return out

    def exactly(count: int, shape: str) -> None:
        if len(rest) != count:
            amount = "at least" if len(rest) < count else "exactly"
            raise where.error(n, f"a {kind} element needs {amount} {count} fields after its "
                                 f"name: {shape}")

    model: str | None = None
    value: str | None = None
    if kind == "M":
        exactly(5, "d g s b model [key=value...]")
        ns = nodes(4)
        model = _name(rest[4], NAME_PATTERN, "model name", where, n)
    elif kind in "RCL":
        exactly(3, "n1 n2 value [key=value...]")
        ns = nodes(2)
        value = _value(rest[2], where, n)
    elif kind in "VI":
        ns = nodes(2)
        if params:
            raise where.error(n, f"{kind} sources take no key=value pairs")
        value = _source_value(rest[2:], where, n)
    elif kind in "EG":
        exactly(5, "n+ n- nc+ nc- gain")
        ns = nodes(4)
        value = _value(rest[4], where, n)
    elif kind in "FH":
        exactly(4, "n+ n- vname gain")
        ns = nodes(2)
        vname = _name(rest[2], ELEMENT_PATTERN, "controlling source name", where, n)
        value = f"{vname} {_value(rest[3], where, n)}"
    elif kind == "D":
        if len(rest) not in (3, 4):
            raise where.error(n, "D element fields: a k model [area] expected")
        ns = nodes(2)
        model = _name(rest[2], NAME_PATTERN, "model name", where, n)
        value = _value(rest[3], where, n) if len(rest) == 4 else None
    elif kind == "Q":
        if len(rest) not in (4, 5):
            raise where.error(n, "Q element fields: c b e [s] model expected")
        ns = nodes(len(rest) - 1)
        model = _name(rest[-1], NAME_PATTERN, "model name", where, n)
    else:  # X
        if len(rest) < 2:
            raise where.error(n, "X element fields: nodes... subckt expected")
        ns = nodes(len(rest) - 1)
        model = _name(rest[-1], NAME_PATTERN, "subcircuit name", where, n)
    if params and kind in "EGFH":
        raise where.error(n, f"{kind} elements take no key=value pairs")
    return Device(name, kind, ns, model, value, params, n)


_B_RE = re.compile(r"(\S+)\s+(\S+)\s+(\S+)\s+([VvIi])\s*=\s*(.+)")


def _behavioural(line: Line, where: _Where) -> Device:
    """A behavioural source ``Bname n+ n- V=expr`` (or ``I=expr``): the expression under the
    grammar of the module docstring plus ``v(node)``, ``v(node, node)`` and ``i(vsource)``,
    and ``{...}`` as grouping; written back without braces (ngspice evaluates parameter names
    in a behavioural expression itself)."""
    n = line.number
    m = _B_RE.fullmatch(line.text)
    if m is None:
        raise where.error(n, "a B element is Bname n+ n- V=expression (or I=expression)")
    name = _name(m.group(1), ELEMENT_PATTERN, "element name", where, n)
    nodes = tuple(_name(t, NODE_PATTERN, "node name", where, n) for t in m.group(2, 3))
    expr = m.group(5).strip()
    if len(expr) >= 2 and expr[0] + expr[-1] in ("{}", "''"):
        expr = expr[1:-1]
    try:
        text = _write_tree(_expression_tree(expr, behavioural=True))
    except NetlistError as exc:
        detail = str(exc) if where.show else "not an expression of the grammar"
        raise where.error(n, f"bad value ({detail})") from None
    return Device(name, "B", nodes, None, None, {m.group(4).lower(): text}, n)


def _source_value(fields: list[str], where: _Where, n: int) -> str | None:
    out: list[str] = []
    i = 0
    seen: set[str] = set()
    while i < len(fields):
        word = fields[i].lower()
        if word in ("dc", "ac") and word not in seen:
            seen.add(word)
            if i + 1 >= len(fields):
                raise where.error(n, f"a value is missing after {word.upper()}")
            out += [word.upper(), _value(fields[i + 1], where, n)]
            i += 2
            if word == "ac" and i < len(fields) and fields[i].lower() != "dc":
                out.append(_value(fields[i], where, n))  # the AC phase
                i += 1
        elif i == 0:
            seen.add("dc")
            out.append(_value(fields[0], where, n))
            i += 1
        else:
            raise where.error(n, "source fields: [[DC] value] [AC mag [phase]] expected",
                              fields[i])
    return " ".join(out) or None


def write_device(dev: Device) -> str:
    """The canonical line of a device, every field checked again (a :class:`Device` may be
    built by hand): names against their patterns, values against the expression grammar (the
    bench of the chapter "Circuits, process models and simulation").

    Raises
    ------
    NetlistError
        For a field that the reader would refuse.
    """
    text = " ".join([dev.name, *dev.nodes, *([dev.model] if dev.model else []),
                     *([dev.value] if dev.value else [])]
                    + [f"{k}={v}" for k, v in dev.params.items()])
    again = parse_device(Line(dev.line, text), _Where(f"device {_show(dev.name)}"))
    return _device_text(again)


def write_subckt_header(sub: Subcircuit) -> str:
    """The canonical ``.subckt`` line of a subcircuit, its name, pins and defaults checked
    again (used by the test bench of the chapter "Circuits, process models and simulation").

    Raises
    ------
    NetlistError
        For a name, pin or default the reader would refuse.
    """
    pins = [checked_name(p, "node") for p in sub.pins]
    pairs = [f"{checked_name(k, 'parameter name')}={_canonical_value(v)}"
             for k, v in sub.defaults.items()]
    return " ".join([".subckt", checked_name(sub.name, "subcircuit name"), *pins, *pairs])


def _device_text(dev: Device) -> str:
    fields = [dev.name, *dev.nodes]
    if dev.model is not None:
        fields.append(dev.model)
    if dev.value is not None:
        fields.append(dev.value)
    fields += [f"{k}={v}" for k, v in dev.params.items()]
    return " ".join(fields)


def _statement(line: Line, where: _Where) -> _Stmt:
    """Read one logical line under the allow-list."""
    n, text = line.number, line.text
    words = text.split()
    word = words[0].lower()
    label = where.label
    if not word.startswith("."):
        dev = parse_device(line, where)
        return _Stmt("element", n, label, _device_text(dev), device=dev)
    if word not in STATEMENTS:
        hint = "" if where.show else ("; a process library is registered as a technology "
                                      "(circuits.register_library), not included")
        raise where.error(n, f"statement not accepted (accepted: {' '.join(STATEMENTS)}){hint}",
                          words[0])
    if word == ".end":
        return _Stmt("end", n, label)
    if word in (".include", ".inc"):
        if len(words) != 2:
            raise where.error(n, f"{word} takes one file name")
        return _Stmt("include", n, label, target=_file_name(words[1], where, n))
    if word == ".lib":
        if len(words) == 3:
            section = _name(words[2], NAME_PATTERN, "library section name", where, n).lower()
            return _Stmt("lib", n, label, name=section,
                         target=_file_name(words[1], where, n))
        if len(words) == 2:
            section = _name(words[1], NAME_PATTERN, "library section name", where, n).lower()
            return _Stmt("section", n, label, name=section)
        raise where.error(n, ".lib takes FILE SECTION (or SECTION to open a section)")
    if word == ".endl":
        if len(words) > 2:
            raise where.error(n, ".endl takes at most a section name")
        name = _name(words[1], NAME_PATTERN, "library section name", where, n).lower() \
            if len(words) == 2 else ""
        return _Stmt("endl", n, label, name=name)
    if word == ".ends":
        if len(words) > 2:
            raise where.error(n, ".ends takes at most the subcircuit name")
        name = _name(words[1], NAME_PATTERN, "subcircuit name", where, n).lower() \
            if len(words) == 2 else ""
        return _Stmt("ends", n, label, name=name)
    if word == ".model":
        return _model(line, where)
    positional, params = _tokens(text[len(words[0]):], where, n)
    if word == ".param":
        if positional or not params:
            raise where.error(n, ".param takes NAME=VALUE pairs only")
        for key in params:
            _check_param_name(key, where, n)
        return _Stmt("param", n, label, ".param " + _pairs(params), params=params)
    # .subckt
    if not positional:
        raise where.error(n, ".subckt needs a name")
    name = _name(positional[0], NAME_PATTERN, "subcircuit name", where, n).lower()
    pins = tuple(_name(p, NODE_PATTERN, "pin name", where, n).lower() for p in positional[1:])
    if len(set(pins)) != len(pins):
        raise where.error(n, f".subckt {name}: a pin is named twice")
    header = " ".join([".subckt", name, *pins]) + (f" {_pairs(params)}" if params else "")
    return _Stmt("subckt", n, label, header, name=name, pins=pins, params=params)


def _model(line: Line, where: _Where) -> _Stmt:
    n = line.number
    m = re.fullmatch(r"\.model\s+(\S+)\s+([A-Za-z]+)\s*(.*)", line.text, re.I | re.S)
    if m is None:
        raise where.error(n, ".model NAME TYPE [KEY=VALUE...] expected")
    name = _name(m.group(1), MODEL_CARD_PATTERN, "model name", where, n)
    mtype = m.group(2).lower()
    if mtype not in MODEL_TYPES:
        raise where.error(n, f"model type not accepted (types: {' '.join(sorted(MODEL_TYPES))})",
                          m.group(2))
    body = m.group(3).strip()
    if body.startswith("("):
        if not body.endswith(")"):
            raise where.error(n, ".model: '(' without ')'")
        body = body[1:-1]
    positional, params = _tokens(body, where, n)
    if positional:
        raise where.error(n, ".model takes KEY=VALUE pairs after its type", positional[0])
    items = [f"{k}={v}" for k, v in params.items()]
    lines = [f".model {name} {mtype}"] + [
        "+ " + " ".join(items[i:i + 6]) for i in range(0, len(items), 6)]
    return _Stmt("model", n, where.label, "\n".join(lines), name=name.lower(), params=params)


def _pairs(params: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _check_param_name(name: str, where: _Where, n: int) -> None:
    if name in RESERVED_NAMES:
        raise where.error(n, "parameter name is an ngspice function name", name)


def _file_name(token: str, where: _Where, n: int) -> str:
    if not FILE_PATTERN.fullmatch(token) or token.startswith("-"):
        raise where.error(
            n, "file name refused: a file name is ASCII letters, digits and _ . / + - (no "
               "quotes, commas, $, ~, spaces, backquotes)", token)
    return token


# ----------------------------------------------------------------------------------------------
# Files and includes


def read_text_file(path: Path, label: str) -> str:
    """The text of a regular file, read once, without blocking (a FIFO or a device is refused
    before it is read) and within :data:`MAX_FILE_BYTES` (netlists, included files, reference
    files of the chapter "Circuits, process models and simulation").

    Raises
    ------
    NetlistError
        For a missing, unreadable, non-regular, oversized, binary or non-UTF-8 file, naming it
        by ``label``.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NetlistError(f"{label}: not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except NetlistError:
        raise
    except OSError as exc:
        raise NetlistError(f"{label}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NetlistError(f"{label}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise NetlistError(f"{label}: larger than {MAX_FILE_BYTES // 2**20} MiB")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise NetlistError(f"{label}: larger than {MAX_FILE_BYTES // 2**20} MiB")
            chunks.append(chunk)
    except OSError as exc:
        raise NetlistError(f"{label}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return _decode(b"".join(chunks), label)


def _decode(data: bytes, label: str) -> str:
    if b"\x00" in data:
        raise NetlistError(f"{label}: a binary file, not a netlist")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NetlistError(f"{label}: not UTF-8 text") from None


@dataclass
class _File:
    """The statements of one file, each tagged with the library section it stands in."""

    statements: list[tuple[str | None, _Stmt]]
    sections: set[str]


class _Reader:
    """Reads a netlist and its includes: each file once, resolved by the project alone."""

    def __init__(self) -> None:
        self.files: dict[Path, _File] = {}
        self.order: list[Path] = []
        self.done: set[tuple[Path, str | None]] = set()

    def parse(self, text: str, where: _Where) -> _File:
        statements: list[tuple[str | None, _Stmt]] = []
        sections: set[str] = set()
        section: tuple[str, int] | None = None
        for line in logical_lines(text, where):
            st = _statement(line, where)
            if st.kind == "end":
                break
            if st.kind == "section":
                if section is not None:
                    raise where.error(st.number, f"library section {st.name} opened inside "
                                                 f"section {section[0]}")
                section = (st.name, st.number)
                sections.add(st.name)
                continue
            if st.kind == "endl":
                if section is None or (st.name and st.name != section[0]):
                    raise where.error(st.number, ".endl without its .lib section")
                section = None
                continue
            statements.append((section[0] if section else None, st))
        if section is not None:
            raise where.error(section[1], f"library section {section[0]} without .endl")
        return _File(statements, sections)

    def file(self, path: Path) -> _File:
        parsed = self.files.get(path)
        if parsed is None:
            if len(self.files) >= MAX_FILES:
                raise NetlistError(f"{path}: a netlist may read at most {MAX_FILES} files")
            parsed = self.parse(read_text_file(path, str(path)), _Where(str(path), show=False))
            self.files[path] = parsed
            self.order.append(path)
        return parsed

    def expand(self, parsed: _File, section: str | None, base: Path,
               chain: tuple[tuple[Path, str | None], ...], out: list[_Stmt]) -> None:
        """Append the statements of ``section`` (``None``: outside every section) of a file,
        with its includes inlined in place."""
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise NetlistError(f"{chain[-1][0]}: includes nested deeper than "
                               f"{MAX_INCLUDE_DEPTH}")
        for sec, st in parsed.statements:
            if sec != section:
                continue
            if st.kind not in ("include", "lib"):
                out.append(st)
                continue
            target = Path(st.target)
            where = _Where(st.label)
            try:
                path = (target if target.is_absolute() else base / target).resolve()
            except (OSError, RuntimeError) as exc:
                raise where.error(st.number, f"cannot resolve the file name: {exc}") from None
            wanted = st.name if st.kind == "lib" else None
            key = (path, wanted)
            if key in chain:
                raise where.error(st.number, f"{path} includes itself")
            if key in self.done:
                continue  # each file (or library section) is inlined once
            try:
                inc = self.file(path)
            except NetlistError as exc:
                raise where.error(st.number, f"in the file it includes: {exc}") from None
            if wanted is not None and wanted not in inc.sections:
                raise where.error(st.number, f"{path} has no library section {wanted}")
            self.done.add(key)
            self.expand(inc, wanted, path.parent, (*chain, key), out)


def parse_netlist(text: str, source: str = "netlist", base: Path | None = None,
                  _path: Path | None = None) -> Netlist:
    """Read a netlist fragment (subcircuits, models, parameters) by the allow-list (the user
    netlists of the chapter "Circuits, process models and simulation").

    Relative ``.include``/``.lib`` file names are resolved against ``base`` (default: the
    current directory), those of an included file against that file's directory. Every file is
    read once and inlined in :attr:`Netlist.text`.

    Raises
    ------
    NetlistError
        For anything the allow-list does not accept (see the module docstring), in the text or
        in a file it includes at any depth, naming the file and line; for a missing, unreadable,
        non-regular, binary or oversized file, an include cycle or a chain deeper than
        :data:`MAX_INCLUDE_DEPTH`; an unterminated or nested ``.subckt``, an element outside a
        ``.subckt``, duplicate names, or recursive subcircuits.
    """
    where = _Where(source)
    reader = _Reader()
    top_file = reader.parse(text, where)
    statements: list[_Stmt] = []
    base_dir = (Path.cwd() if base is None else Path(base)).resolve()
    chain: tuple[tuple[Path, str | None], ...] = ()
    if _path is not None:  # the netlist's own file: its sections are not read again
        chain = ((_path.resolve(), None),)
        reader.files[_path.resolve()] = top_file
    reader.expand(top_file, None, base_dir, chain, statements)
    subckts, top, blocks = _structure(statements, source)
    return Netlist("\n".join(blocks) + "\n", subckts, tuple(top), parse_param_decls(text, source),
                   source, tuple(str(p) for p in reader.order))


def _structure(statements: list[_Stmt], source: str
               ) -> tuple[dict[str, Subcircuit], list[Line], list[str]]:
    subckts: dict[str, Subcircuit] = {}
    top: list[Line] = []
    blocks: list[str] = []
    models: set[str] = set()
    header: _Stmt | None = None
    body: list[_Stmt] = []
    for st in statements:
        where = _Where(st.label) if st.kind != "element" or header is None else None
        if st.kind == "subckt":
            if header is not None:
                raise where.error(st.number, "nested .subckt")
            header, body = st, []
        elif st.kind == "ends":
            if header is None:
                raise where.error(st.number, ".ends without .subckt")
            if st.name and st.name != header.name:
                raise where.error(st.number, f".ends {st.name} closes .subckt {header.name}")
            if header.name in subckts:
                raise _Where(header.label).error(header.number,
                                                 f"subcircuit {header.name} defined twice")
            sub = _make_subckt(header, body)
            subckts[sub.name] = sub
            blocks.append("\n".join([header.text, *(ln.text for ln in sub.lines),
                                     f".ends {sub.name}"]))
            header = None
        elif st.kind == "element":
            if header is None:
                raise where.error(st.number, "element outside a .subckt refused (the test "
                                             "bench writes the top level)")
            body.append(st)
        else:  # model, param
            if st.kind == "model":
                if st.name in models:
                    raise where.error(st.number, f"model {st.name} defined twice")
                models.add(st.name)
            if header is not None:
                body.append(st)
            else:
                top.append(Line(st.number, st.text))
                blocks.append(st.text)
    if header is not None:
        raise _Where(header.label).error(header.number, ".subckt without .ends")
    _check_recursion(subckts, source)
    return subckts, top, blocks


def _make_subckt(header: _Stmt, body: list[_Stmt]) -> Subcircuit:
    devices = []
    seen: set[str] = set()
    for st in body:
        if st.device is None:
            continue
        key = st.device.name.lower()
        if key in seen:
            raise _Where(st.label).error(st.number, f"subckt {header.name}: duplicate element "
                                                    f"names ['{key}']")
        seen.add(key)
        devices.append(st.device)
    lines = tuple(Line(st.number, st.text) for st in body)
    return Subcircuit(header.name, header.pins, dict(header.params or {}), tuple(devices), lines)


def _check_recursion(subckts: dict[str, Subcircuit], source: str) -> None:
    """Refuse a subcircuit that instantiates itself, directly or through others (an iterative
    depth-first search: linear in the number of instances, whatever the depth)."""
    children = {name: [(d.model or "").lower() for d in sub.devices
                       if d.kind == "X" and (d.model or "").lower() in subckts]
                for name, sub in subckts.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in subckts:
        if state.get(root):
            continue
        path = [root]
        stack = [(root, iter(children[root]))]
        state[root] = 1
        while stack:
            name, it = stack[-1]
            child = next(it, None)
            if child is None:
                state[name] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                cycle = " -> ".join([*path[path.index(child):], child])
                raise NetlistError(f"{source}: recursive subcircuits: {cycle}")
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(children[child])))


def read_netlist(path: str | Path) -> Netlist:
    """Read a netlist file by the allow-list (:func:`parse_netlist`), its relative includes
    resolved against its own directory (chapter "Circuits, process models and simulation").

    Raises
    ------
    NetlistError
        As :func:`parse_netlist`, and for a path that is not a readable regular file.
    """
    path = Path(path)
    text = read_text_file(path, f"netlist {path}")
    return parse_netlist(text, source=str(path), base=path.resolve().parent, _path=path)


def canonical_lines(text: str, source: str = "bench") -> list[str]:
    """Canonical form of element, ``.model`` and ``.param`` lines (each checked by the
    allow-list); used by the test bench of the chapter "Circuits, process models and
    simulation" for every line derived from a netlist.

    Raises
    ------
    NetlistError
        For any other statement or a line the allow-list refuses.
    """
    where = _Where(source)
    out = []
    for line in logical_lines(text, where):
        st = _statement(line, where)
        if st.kind not in ("element", "model", "param"):
            raise where.error(line.number, "only elements, .model and .param lines here")
        out.append(st.text)
    return out


# ----------------------------------------------------------------------------------------------
# Design-parameter declarations


def parse_param_decls(text: str, source: str = "netlist") -> tuple[ParamDecl, ...]:
    """Read the ``*@param`` declarations of a netlist (see the module docstring)."""
    decls: list[ParamDecl] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s.lower().startswith("*@param"):
            continue
        where = f"{source}, line {number}" if source != "netlist" else f"line {number}"
        fields = s.split()[1:]
        if len(fields) < 2:
            raise NetlistError(f"{where}: '*@param NAME KIND [LO HI] description' expected")
        name, kind = fields[0].lower(), fields[1].lower()
        if kind not in PARAM_KINDS:
            raise NetlistError(f"{where}: parameter kind {_show(kind)} not one of "
                               f"{PARAM_KINDS}")
        lo = hi = None
        rest = fields[2:]
        if kind not in ("width", "length") or (len(rest) >= 2 and _is_number(rest[0])):
            if len(rest) < 2 or not (_is_number(rest[0]) and _is_number(rest[1])):
                raise NetlistError(f"{where}: parameter {_show(name)} of kind {kind} needs "
                                   "LO HI")
            lo, hi = parse_value(rest[0]), parse_value(rest[1])
            if not lo < hi:
                raise NetlistError(f"{where}: parameter {_show(name)}: LO must be below HI")
            rest = rest[2:]
        check_param_name(name, where=where)
        decls.append(ParamDecl(name, kind, lo, hi, " ".join(rest)))
    names = [d.name for d in decls]
    if len(set(names)) != len(names):
        raise NetlistError(f"{source}: a design parameter is declared twice")
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
    if not _NAME_RE.match(name) or len(name) > MAX_NAME_CHARS:
        raise NetlistError(f"{prefix}parameter name {_show(name)} must be lower-case letters, "
                           "digits, _")
    if name in RESERVED_NAMES:
        raise NetlistError(f"{prefix}parameter name {name!r} is an ngspice function name")


# ----------------------------------------------------------------------------------------------
# Trusted process libraries (technologies): device look-up only


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


_INCLUDE_RE = re.compile(
    r"""^\s*(\.include|\.inc|\.lib)\s+("[^"]*"|'[^']*'|[^\s;"']+)(\s+[^\s;]+)?""", re.I)


def include_target(text: str) -> str | None:
    """The file that a line of a trusted process library includes (``.include FILE``, ``.inc
    FILE`` or ``.lib FILE SECTION``; a quoted file name may hold spaces), or ``None`` (``.lib
    NAME`` alone opens a section and includes nothing)."""
    m = _INCLUDE_RE.match(_strip_comment(text))
    if m is None or (m.group(1).lower() == ".lib" and m.group(3) is None):
        return None
    return m.group(2).strip("'\"")


def library_definitions(path: Path) -> dict[str, str]:
    """Device names a trusted model library file defines (see :func:`defined_devices`).

    Raises
    ------
    NetlistError
        When the file or a file it includes cannot be read.
    """
    path = Path(path).resolve()
    return defined_devices(_read_library(path), path.parent, _seen={path})


def defined_devices(text: str, base: Path, _seen: set[Path] | None = None) -> dict[str, str]:
    """Device names that trusted library text and the files it includes define: ``.model``
    names (binned models under their base name) with their type, and ``.subckt`` names as
    ``"subckt"``. Relative includes resolve against ``base``."""
    def defined(body: str) -> dict[str, str]:
        found = model_types(body)
        for m in re.finditer(r"(?im)^\s*\.subckt\s+(\S+)", body):
            found.setdefault(m.group(1).lower(), "subckt")
        return found

    seen = set() if _seen is None else _seen
    found = defined(text)
    pending = [(text, base)]
    while pending:  # iterative: a long chain of includes cannot exhaust the stack
        body, where = pending.pop()
        for raw in body.splitlines():
            target = include_target(raw) if raw.lstrip()[:1] == "." else None
            if target is None:
                continue
            inc = Path(target)
            inc = (inc if inc.is_absolute() else where / inc).resolve()
            if inc in seen or not inc.is_file():
                continue
            seen.add(inc)
            inc_text = _read_library(inc)
            for name, kind in defined(inc_text).items():
                found.setdefault(name, kind)
            pending.append((inc_text, inc.parent))
    return found


def _read_library(path: Path) -> str:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NetlistError(f"model library {path} is not a regular file")
        return path.read_text(errors="replace")
    except OSError as exc:
        raise NetlistError(f"cannot read model library {path}: {exc}") from None


def dc_value(text: str) -> str:
    """The DC value of a source's value field: ``DC {2 * ib} AC 0`` and ``{2 * ib}`` both give
    ``{2 * ib}``."""
    m = re.match(r"\s*(?:dc\s+)?(\{[^}]*\}|'[^']*'|\S+)", text, re.I)
    return m.group(1) if m else text
