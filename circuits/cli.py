"""Command line of the :mod:`circuits` package (``python -m circuits ...``).

::

    python -m circuits list [--json]
    python -m circuits simulate CIRCUIT --tech TECH [--set NAME=VALUE ...] [--json]
    python -m circuits simulate-file NETLIST --tech TECH [--subckt NAME] [--timeout S] [--json]
    python -m circuits bench [--sims N] [--json]

``simulate`` and ``simulate-file`` print one JSON object with at least ``ok``, ``reason``,
``gain_db``, ``ugbw_hz``, ``pm_deg``, ``power_w`` and ``fom``. They exit with 0 when the
simulation ran (whether or not it succeeded: ``ok`` says), and with 2 for bad input (unknown
circuit, parameter or technology, malformed netlist), printing the error (and, with ``--json``,
a JSON object whose ``ok`` is false).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence

from .amplifier import Amplifier, get_amplifier, list_amplifiers
from .engine import Failure
from .errors import CircuitsError, NetlistError, NgspiceNotFoundError, ParameterError
from .netlist import parse_value
from .pool import WorkerStartError
from .simulator import Simulator
from .technology import get_technology, list_technologies
from .testbench import BenchSettings


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


_seconds = _si("a finite number of seconds > 0", lambda v: v > 0)
_volts = _si("a finite voltage", lambda v: True)
_farads = _si("a positive capacitance", lambda v: v > 0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m circuits",
                                description="Amplifier simulation on ngspice.")
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
                        help="simulation time limit (s)")
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
    bench.add_argument("--sims", type=int, default=5000, help="simulations for the RSS test")
    bench.add_argument("--circuit", default="two_stage")
    bench.add_argument("--tech", default="45nm")
    bench.add_argument("--json", action="store_true")
    return p


def _print(obj: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, allow_nan=False))
        return
    for key, value in obj.items():
        if not isinstance(value, dict | list):
            print(f"{key:>14}: {value}")


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
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    try:
        tech = get_technology(args.tech)
        if args.command == "simulate-file":
            amp: Amplifier = Amplifier.from_file(args.netlist, subckt=args.subckt)
        else:
            amp = get_amplifier(args.circuit)
        params = dict(args.assignments)
        settings = BenchSettings(vcm=args.vcm, load_cap=args.load_cap)
        with Simulator(workers=1, timeout=args.timeout) as sim:
            result = sim.simulate(amp, tech, params, settings)
    except CircuitsError as exc:
        if isinstance(exc, ParameterError):
            failure = Failure.INVALID_PARAMETER
        elif isinstance(exc, NgspiceNotFoundError | WorkerStartError):
            failure = Failure.ENGINE
        else:
            failure = Failure.NETLIST
        print(f"error: {exc}", file=sys.stderr)
        if args.json:
            _print({"ok": False, "failure": failure.value, "reason": str(exc), "gain_db": None,
                    "ugbw_hz": None, "pm_deg": None, "power_w": None, "fom": None}, True)
        return 2
    _print(result.to_dict(include_ac=args.ac), args.json)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .benchmark import run_benchmark

    report = run_benchmark(circuit=args.circuit, tech=args.tech, rss_sims=args.sims,
                           progress=None if args.json else print)
    _print(report, args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m circuits``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args)
        if args.command in ("simulate", "simulate-file"):
            return _cmd_simulate(args)
        return _cmd_bench(args)
    except CircuitsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
