"""Command line of the :mod:`macro` package (``python -m macro ...``).

::

    python -m macro params   --edges A,B,C,D,E [--json]
    python -m macro netlist  --edges A,B,C,D,E [--set NAME=VALUE ...] [--json]
    python -m macro simulate --edges A,B,C,D,E [--set NAME=VALUE ...]
                             [--solver batched|compiled|ngspice] [--exponents exp1|exp2] [--json]
    python -m macro train    [--mode quick|full] [--seed N] [--epochs N] [--batch N] [--json]
    python -m macro baseline bobo|rlbo [--mode quick|full] [--seed N] [--json]
    python -m macro experiment --mode quick|full [--workers N] [--root DIR] [--json]

``--edges`` gives the connection types (Table I numbers) of the five tunable pairs in the order
``vin-n2, vin-vout, n1-vout, n1-gnd, n2-gnd``; ``--set`` overrides a parameter's default
(``python -m macro params`` lists them; values take SI suffixes: ``2p``, ``1.5meg``).

* ``params --json`` prints one object mapping each parameter name to
  ``{"kind", "bounds": [lo, hi], "default", "log", "element"}``;
* ``netlist`` prints the ngspice deck of the reference simulator (G, R, C elements with numeric
  values, the load, nodes ``vin n1 n2 vout 0``, ``Vsrc vin 0 DC 1 AC 1``);
* ``simulate --json`` prints one object with ``ok``, ``reason``, ``gain_db``, ``gbw_hz``,
  ``pm_deg``, ``power_w``, ``fom``, ``score`` and ``meets_spec`` (and the inputs).

Exit status 0 when the command ran (a failed simulation included: ``ok`` says), 2 for bad input
(an unknown command or option, bad edges, an unknown parameter name, a malformed or
out-of-bounds value; any exception class in :data:`BAD_INPUT`), with the message on standard
error and, under ``--json``, one object ``{"ok": false, "error": "bad_input", "reason": ...}``
on standard output; also 2, with ``"error": "engine_error"``, when the simulation engine cannot
run (a :class:`circuits.CircuitsError`, e.g. no ngspice library); 1 for an internal error.

New sub-commands are added with :func:`register` (a name, a help line, a function that adds
its arguments to an :class:`argparse.ArgumentParser`, and a function from the parsed arguments
to a JSON-compatible result or text).

Used by the chapter "The behaviour-level model" (``book/macro/model.ipynb``) and the README.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from circuits import CircuitsError

from .design import Design, DesignError, parameter_table
from .topology import CONNECTION_TYPES, N_CHOICES, TUNABLE_PAIRS, Topology

#: Exit status of a command that ran, of an internal error, of bad input.
EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(ValueError):
    """Bad input on the command line."""


class _Parser(argparse.ArgumentParser):
    """Raises :class:`UsageError` instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


_SI = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "meg": 1e6,
       "g": 1e9, "t": 1e12}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(meg|[fpnumkgt])?$", re.I)


def parse_si(text: str) -> float:
    """A number with an optional SI suffix (``f p n u m k meg g t``, case-insensitive).

    Raises
    ------
    UsageError
        When ``text`` is not such a number or is not finite.
    """
    m = _NUMBER.match(text.strip())
    if not m:
        raise UsageError(f"{text!r} is not a number (SI suffixes f p n u m k meg g t allowed)")
    value = float(m.group(1)) * _SI.get((m.group(2) or "").lower(), 1.0)
    if not math.isfinite(value):
        raise UsageError(f"{text!r} is not finite")
    return value


def parse_edges(text: str) -> Topology:
    """``"A,B,C,D,E"``: the topology with these tunable connection types.

    Raises
    ------
    UsageError
        Unless there are five integers, each allowed for its pair.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != len(TUNABLE_PAIRS) or not all(re.fullmatch(r"\d+", p) for p in parts):
        raise UsageError(f"--edges needs {len(TUNABLE_PAIRS)} comma-separated integers (types "
                         f"of {', '.join('-'.join(p) for p in TUNABLE_PAIRS)}), not {text!r}")
    types = tuple(int(p) for p in parts)
    for pair, t, n in zip(TUNABLE_PAIRS, types, N_CHOICES, strict=True):
        if t >= n:
            label = CONNECTION_TYPES[t].label if t < len(CONNECTION_TYPES) else "no such type"
            raise UsageError(f"--edges: pair {'-'.join(pair)} allows types 0-{n - 1}, not {t} "
                             f"({label})")
    return Topology(types)  # type: ignore[arg-type]


def parse_sets(items: Sequence[str] | None) -> dict[str, float]:
    """``NAME=VALUE`` items as a mapping (a name given twice is an error)."""
    out: dict[str, float] = {}
    for item in items or ():
        if "=" not in item:
            raise UsageError(f"--set expects NAME=VALUE, not {item!r}")
        name, value = (x.strip() for x in item.split("=", 1))
        if name in out:
            raise UsageError(f"--set {name} given twice")
        try:
            out[name] = parse_si(value)
        except UsageError as exc:
            raise UsageError(f"--set {name}: {exc}") from None
    return out


def design_from_args(args: argparse.Namespace) -> Design:
    """The design of ``--edges`` and ``--set`` (a :class:`DesignError` becomes bad input)."""
    topology = parse_edges(args.edges)
    try:
        return Design(topology, parse_sets(getattr(args, "set", None)))
    except DesignError as exc:
        raise UsageError(str(exc)) from None


@dataclass(frozen=True)
class Command:
    """A sub-command.

    Attributes
    ----------
    name : its name on the command line.
    help : one line of help.
    arguments : adds its arguments to its parser.
    run : from the parsed arguments to a JSON-compatible result, or text to print as is when
        ``--json`` is not given (``text`` then formats the result).
    text : formats the result without ``--json`` (default: indented JSON).
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]
    text: Callable[[Any], str] | None = None


COMMANDS: dict[str, Command] = {}
#: Exceptions that mean bad input (exit status 2); a command module may append its own.
BAD_INPUT: list[type[Exception]] = [UsageError, DesignError]


def register(command: Command) -> Command:
    """Add a sub-command (its ``--json`` flag is added for it)."""
    if command.name in COMMANDS:
        raise ValueError(f"command {command.name!r} exists")
    COMMANDS[command.name] = command
    return command


def _edges_and_sets(parser: argparse.ArgumentParser, sets: bool = True) -> None:
    parser.add_argument("--edges", required=True, metavar="A,B,C,D,E",
                        help="connection types of vin-n2, vin-vout, n1-vout, n1-gnd, n2-gnd")
    if sets:
        parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                            help="a parameter value (repeatable)")


def _params(args: argparse.Namespace) -> dict[str, Any]:
    return parameter_table(parse_edges(args.edges))


def _params_text(table: dict[str, Any]) -> str:
    lines = [f"{'name':<16} {'kind':<5} {'lo':>10} {'hi':>10} {'default':>10}  scale"]
    for name, p in table.items():
        lo, hi = p["bounds"]
        lines.append(f"{name:<16} {p['kind']:<5} {lo:>10.4g} {hi:>10.4g} {p['default']:>10.4g}"
                     f"  {'log' if p['log'] else 'linear'}")
    return "\n".join(lines)


def _netlist(args: argparse.Namespace) -> dict[str, Any]:
    from .reference import netlist

    design = design_from_args(args)
    return {"ok": True, "edges": list(design.topology.types), "netlist": netlist(design)}


def _simulate_args(parser: argparse.ArgumentParser) -> None:
    _edges_and_sets(parser)
    parser.add_argument("--solver", choices=("batched", "compiled", "ngspice"),
                        default="batched",
                        help="the batched small-signal solver (default), its compiled route "
                             "(macro.kernel) or ngspice")
    parser.add_argument("--exponents", choices=("exp1", "exp2"), default="exp1",
                        help="exponent set of the score (section IV-C)")


def _simulate(args: argparse.Namespace) -> dict[str, Any]:
    from .reward import Specs, meets_spec, score
    from .solver import evaluate

    design = design_from_args(args)
    if args.solver == "compiled":
        from .kernel import evaluate as evaluate_compiled

        ev = evaluate_compiled([design])[0]
    else:
        ev = evaluate([design], solver=args.solver)[0]
    specs = Specs()
    return {**ev.to_dict(), "score": score(ev, specs, args.exponents),
            "meets_spec": meets_spec(ev, specs), "solver": args.solver,
            "exponents": args.exponents, "edges": list(design.topology.types),
            "topology": design.topology.describe(), "values": dict(design.values)}


register(Command("params", "the design parameters of a topology", _edges_and_sets, _params,
                 _params_text))
register(Command("netlist", "the ngspice netlist of a design", _edges_and_sets, _netlist,
                 lambda r: r["netlist"].rstrip("\n")))
register(Command("simulate", "simulate a design and score it", _simulate_args, _simulate))


# -- learning: co-training, baselines, the Table II experiment (lazy imports: torch) ----------

def _mode_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("quick", "full"), default="full",
                        help="budget and D-VAE of that experiment mode (default: full)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--checkpoint", metavar="FILE", help="checkpoint to save and resume")


def _learning(run: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], Any]:
    """Typed input errors of the learning modules become bad input (exit 2)."""
    def wrapped(args: argparse.Namespace) -> Any:
        import torch

        from .baselines import BaselineError
        from .bo import BOError
        from .dvae import DVAEError
        from .experiment import ExperimentError
        from .train import TrainError

        torch.set_num_threads(1)
        try:
            return run(args)
        except (BaselineError, BOError, DVAEError, ExperimentError, TrainError) as exc:
            raise UsageError(str(exc)) from exc
    return wrapped


def _short(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("method", "complete", "best", "n_simulations", "wall_s", "to_best", "convergence")
    return {"ok": True, **{k: summary.get(k) for k in keys}}


def _train_args(parser: argparse.ArgumentParser) -> None:
    _mode_arg(parser)
    parser.add_argument("--epochs", type=int, help="epochs (default: the mode's)")
    parser.add_argument("--batch", type=int, help="trajectories per epoch (default: the mode's)")
    parser.add_argument("--exponents", choices=("exp1", "exp2"), default="exp1",
                        help="exponent set of the score (section IV-C)")


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import replace

    from circuits.runs import results_root

    from .experiment import experiment_config, prepare_dvae
    from .train import train_macro

    cfg = experiment_config(args.mode)
    changes = {"seed": args.seed, "exponents": args.exponents}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.batch is not None:
        changes["n_batch"] = args.batch
    config = replace(cfg.macro, **changes)
    vae, _ = prepare_dvae(cfg, results_root())
    return _short(train_macro(config, vae, checkpoint=args.checkpoint,
                              progress=not args.json).summary)


def _baseline_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", choices=("bobo", "rlbo"), help="which baseline")
    _mode_arg(parser)


def _baseline(args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import replace

    from circuits.runs import results_root

    from .baselines import bobo, rlbo
    from .experiment import experiment_config, prepare_dvae

    cfg = experiment_config(args.mode)
    vae, _ = prepare_dvae(cfg, results_root())
    run = bobo if args.method == "bobo" else rlbo
    settings = replace(getattr(cfg, args.method), seed=args.seed)
    return _short(run(settings, vae, checkpoint=args.checkpoint, progress=not args.json))


def _experiment_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("quick", "full"), required=True,
                        help="quick (minutes) or full (the Table II budget, hours)")
    parser.add_argument("--workers", type=int, default=2, help="parallel runs (default 2)")
    parser.add_argument("--root", metavar="DIR", help="results root (default: results/)")


def _experiment(args: argparse.Namespace) -> dict[str, Any]:
    from .experiment import ratios, run_experiment, table_two

    out = run_experiment(args.mode, root=args.root, workers=args.workers,
                         progress=not args.json)
    rows = table_two(out["runs"])
    return {"ok": all(s.get("ok") for s in out["status"]), "mode": out["mode"],
            "root": out["root"], "status": out["status"], "wall_s": out["wall_s"],
            "table": rows, "ratios": ratios(rows)}


register(Command("train", "co-train agents T and P (MACRO)", _train_args, _learning(_train)))
register(Command("baseline", "run the BOBO or RLBO baseline", _baseline_args,
                 _learning(_baseline)))
register(Command("experiment", "the Table II experiment: 3 methods x 3 repeats, resumable",
                 _experiment_args, _learning(_experiment)))

from .mapcli import register_commands as _register_mapping  # noqa: E402 (registers into COMMANDS)

_register_mapping()


def build_parser() -> _Parser:
    """The parser with every registered sub-command."""
    parser = _Parser(prog="python -m macro", description="MACRO behaviour-level op-amps")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.arguments(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _emit(obj: Any) -> None:
    print(json.dumps(_jsonable(obj), allow_nan=False))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            raise UsageError("python -m macro: give a command: " + ", ".join(COMMANDS))
        cmd = COMMANDS[args.command]
        result = cmd.run(args)
    except tuple(BAD_INPUT) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if as_json:
            _emit({"ok": False, "error": "bad_input", "reason": str(exc)})
        return EXIT_BAD_INPUT
    except CircuitsError as exc:  # the simulation engine cannot run (no ngspice, ...)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if as_json:
            _emit({"ok": False, "error": "engine_error", "reason": f"{type(exc).__name__}: {exc}"})
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: report it the same way
        traceback.print_exc()
        if as_json:
            _emit({"ok": False, "error": "internal_error", "reason": f"{type(exc).__name__}: "
                   f"{exc}"})
        return EXIT_BUG
    try:
        if as_json:
            _emit(result)
        elif cmd.text is not None:
            print(cmd.text(result))
        elif isinstance(result, str):
            print(result)
        else:
            print(json.dumps(_jsonable(result), indent=2, allow_nan=False))
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = None  # type: ignore[assignment]
        return EXIT_BUG
    return EXIT_OK


__all__ = ["BAD_INPUT", "COMMANDS", "EXIT_BAD_INPUT", "EXIT_BUG", "EXIT_OK", "Command",
           "UsageError", "build_parser", "design_from_args", "main", "parse_edges", "parse_sets",
           "parse_si", "register"]
