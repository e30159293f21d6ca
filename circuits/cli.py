"""Command line of the :mod:`circuits` package (``python -m circuits ...``).

::

    python -m circuits list [--json]
    python -m circuits simulate CIRCUIT --tech TECH [--set NAME=VALUE ...] [--json]
    python -m circuits simulate-file NETLIST --tech TECH [--subckt NAME] [--timeout S] [--json]
    python -m circuits bench [--sims N] [--circuit NAME] [--tech TECH] [--json]

``simulate`` and ``simulate-file`` print one JSON object with at least ``ok``, ``reason``,
``gain_db``, ``ugbw_hz``, ``pm_deg``, ``power_w`` and ``fom``.

The contract, for every command:

* exit status 0 when the command ran: a simulated result, whether or not it succeeded (``ok``
  says), a listing, a benchmark report;
* exit status 2 for bad input of any kind (an unknown option, command, circuit, parameter or
  technology, a malformed value or netlist) and for an engine that cannot run (no ngspice, no
  worker sandbox, a benchmark that cannot measure); the error goes to standard error and, with
  ``--json``, exactly one JSON object goes to standard output: ``ok`` false, ``failure``
  (``invalid_parameter`` for options, names and values, ``netlist_error`` for netlists,
  ``engine_error`` for the engine) and ``reason``;
* exit status 1, with the same JSON object, only for an internal error (a bug: the traceback
  goes to standard error);
* a standard output closed early (``python -m circuits list | head -1``) ends the command
  quietly, with status 1, as the Python documentation recommends.

Used by the README's command-line section and the section "The simulation engine" of the chapter
"Circuits, process models and simulation" (the benchmark).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from .amplifier import Amplifier, get_amplifier, list_amplifiers
from .benchmark import BenchmarkError
from .engine import Failure
from .errors import (
    CircuitsError,
    NetlistError,
    NgspiceNotFoundError,
    ParameterError,
    TechnologyError,
)
from .netlist import parse_value
from .pool import MAX_TIMEOUT, WorkerStartError
from .sandbox import SandboxError
from .simulator import Simulator
from .technology import get_technology, list_technologies
from .testbench import BenchSettings

#: Exit status of a command that ran (a result, ok or not), of bad input, of a bug.
EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(CircuitsError, ValueError):
    """An option or argument of the command line is invalid (argparse's message)."""

    usage = ""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of printing and exiting, so
    that every error of the command line is reported the same way (also under ``--json``).
    Sub-command parsers are made of the same class."""

    def error(self, message: str) -> None:  # type: ignore[override]
        exc = UsageError(f"{self.prog}: {message}")
        exc.usage = self.format_usage()
        raise exc


def _assignment(text: str) -> tuple[str, float]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name.strip().lower(), parse_value(value.strip())
    except NetlistError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None


def _si(what: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: a SPICE number (``2u``, ``1e-12``) that ``ok`` accepts."""
    def parse(text: str) -> float:
        try:
            value = parse_value(text)
        except NetlistError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text}")
        return value

    return parse


_seconds = _si(f"a number of seconds > 0 and at most {MAX_TIMEOUT:g} (one day)",
               lambda v: 0 < v <= MAX_TIMEOUT)
_volts = _si("a finite voltage", lambda v: True)
_farads = _si("a positive capacitance", lambda v: v > 0)


def _positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _circuit(text: str) -> str:
    if text not in list_amplifiers():
        raise argparse.ArgumentTypeError(
            f"unknown circuit {text!r}; one of {', '.join(list_amplifiers())}")
    return text


def _technology(text: str) -> str:
    if text not in list_technologies():
        raise argparse.ArgumentTypeError(
            f"unknown technology {text!r}; one of {', '.join(list_technologies())}")
    return text


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m circuits", description="Amplifier simulation on ngspice.")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="circuits and technologies")
    ls.add_argument("--json", action="store_true")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--tech", required=True, help="technology name (python -m circuits list)")
        sp.add_argument("--set", dest="assignments", action="append", type=_assignment,
                        default=[], metavar="NAME=VALUE", help="design parameter (SI or 2u)")
        sp.add_argument("--vcm", type=_volts, default=None, help="input common mode (V)")
        sp.add_argument("--load-cap", type=_farads, default=None, help="load (F)")
        sp.add_argument("--timeout", type=_seconds, default=30.0,
                        help=f"simulation time limit (s, at most {MAX_TIMEOUT:g})")
        sp.add_argument("--ac", action="store_true", help="include the AC response")
        sp.add_argument("--json", action="store_true", help="print JSON")

    sim = sub.add_parser("simulate", help="simulate a built-in amplifier")
    sim.add_argument("circuit", help=f"one of {', '.join(list_amplifiers())}")
    common(sim)

    simf = sub.add_parser("simulate-file", help="simulate a user's amplifier netlist")
    simf.add_argument("netlist", help="file with a .subckt with pins inp inn out vdd vss")
    simf.add_argument("--subckt", default=None, help="which .subckt, if several qualify")
    common(simf)

    bench = sub.add_parser("bench", help="benchmark the simulation engine")
    bench.add_argument("--sims", type=_positive_int, default=5000,
                       help="simulations for the RSS test")
    bench.add_argument("--circuit", type=_circuit, default="two_stage",
                       help="a built-in amplifier with a reference sizing in TECH")
    bench.add_argument("--tech", type=_technology, default="45nm")
    bench.add_argument("--json", action="store_true")
    return p


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the arguments."""
    for arg in argv:
        if arg == "--":
            break
        if len(arg) > 2 and "--json".startswith(arg.split("=", 1)[0]):
            return True
    return False


def _print(obj: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, allow_nan=False))
        return
    for key, value in obj.items():
        if not isinstance(value, dict | list):
            print(f"{key:>14}: {value}")


def _error(reason: str, failure: Failure, as_json: bool) -> None:
    """Report an error: a line on standard error and, with ``--json``, one JSON object."""
    print(f"error: {reason}", file=sys.stderr)
    if as_json:
        _print({"ok": False, "failure": failure.value, "reason": reason, "gain_db": None,
                "ugbw_hz": None, "pm_deg": None, "power_w": None, "fom": None}, True)


def _failure(exc: CircuitsError) -> Failure:
    """The ``failure`` an error of bad input or of the engine reports."""
    if isinstance(exc, ParameterError | UsageError | TechnologyError):
        return Failure.INVALID_PARAMETER
    if isinstance(exc, NgspiceNotFoundError | WorkerStartError | SandboxError | BenchmarkError):
        return Failure.ENGINE
    return Failure.NETLIST


def _cmd_list(args: argparse.Namespace) -> int:
    circuits = []
    for name in list_amplifiers():
        amp = get_amplifier(name)
        circuits.append({"name": name, "label": amp.label, "parameters": list(
            amp.parameter_names), "references": sorted(amp.references)})
    techs = []
    for name in list_technologies():
        t = get_technology(name)
        techs.append({"name": t.name, "vdd": t.vdd, "lmin": t.lmin, "kind": t.kind,
                      "description": t.description})
    if args.json:
        print(json.dumps({"circuits": circuits, "technologies": techs}, indent=2))
    else:
        print("circuits:")
        for c in circuits:
            print(f"  {c['label']} {c['name']:<20} {len(c['parameters'])} parameters, "
                  f"references: {', '.join(c['references'])}")
        print("technologies:")
        for t in techs:
            print(f"  {t['name']:<9} VDD {t['vdd']:g} V, Lmin {t['lmin'] * 1e9:g} nm  "
                  f"{t['description']}")
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    tech = get_technology(args.tech)
    if args.command == "simulate-file":
        try:
            amp: Amplifier = Amplifier.from_file(args.netlist, subckt=args.subckt)
        except OSError as exc:  # unreadable path: a directory, no permission, ...
            raise NetlistError(f"cannot read {args.netlist}: {exc.strerror or exc}") from None
    else:
        amp = get_amplifier(args.circuit)
    params = dict(args.assignments)
    amp.check(params, tech)  # a value out of bounds is bad input (exit 2), like an unknown name
    settings = BenchSettings(vcm=args.vcm, load_cap=args.load_cap)
    with Simulator(workers=1, timeout=args.timeout) as sim:
        result = sim.simulate(amp, tech, params, settings)
    _print(result.to_dict(include_ac=args.ac), args.json)
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from .benchmark import run_benchmark

    amp = get_amplifier(args.circuit)
    if args.tech not in amp.references:
        raise UsageError(f"bench: {args.circuit} has no reference sizing in {args.tech}; the "
                         f"benchmark needs one ({', '.join(sorted(amp.references))})")
    report = run_benchmark(circuit=args.circuit, tech=args.tech, rss_sims=args.sims,
                           progress=None if args.json else print)
    _print(report, args.json)
    return EXIT_OK


def _run(argv: Sequence[str]) -> int:
    as_json = _wants_json(argv)
    try:
        args = _parser().parse_args(argv)
        as_json = bool(getattr(args, "json", as_json))
        if args.command == "list":
            return _cmd_list(args)
        if args.command in ("simulate", "simulate-file"):
            return _cmd_simulate(args)
        return _cmd_bench(args)
    except CircuitsError as exc:
        if isinstance(exc, UsageError):
            sys.stderr.write(exc.usage)
        _error(str(exc), _failure(exc), as_json)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug: say so, in the same format
        traceback.print_exc()
        _error(f"internal error: {type(exc).__name__}: {exc}", Failure.ENGINE, as_json)
        return EXIT_BUG


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m circuits`` (see the module docstring for the contract)."""
    try:
        code = _run(sys.argv[1:] if argv is None else list(argv))
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        # standard output was closed (``| head``): silence the final flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BUG
    return code
