"""The ``map`` command of ``python -m macro``: a behaviour-level design as a transistor netlist.

::

    python -m macro map --edges A,B,C,D,E [--set NAME=VALUE ...] [--tech 180nm] [--out amp.sp]
                        [--reoptimise [--n-init 20] [--n-iter 50] [--seed 0]] [--json]
    python -m macro transistor [--mode quick|full] [--json]

writes the mapped amplifier (:func:`macro.mapping.map_design`: a ``.subckt macro_amp inp inn
out vdd vss`` with ``*@param`` bounds, which ``python -m circuits simulate-file`` reads) to
``--out`` (written to a temporary name and renamed), and prints its metrics in the open-loop
bench with the 10 nF load (``before``); with ``--reoptimise`` it runs the constrained BO of
:mod:`macro.reoptimise` (the paper's 20 + 50 by default), writes the best spec-meeting netlist
instead (the mapped one when none meets the specs) and prints ``before`` and ``after``. A
design that cannot be mapped exits with status 2 and the stage named
(:class:`macro.mapping.MappingError` is bad input).

``transistor`` maps and re-optimises the best design of every finished run of the
behaviour-level experiment in that mode (:func:`macro.transistor.run_table_three`: one run
folder per design, resumable) and prints Table III's rows, ratios and degradation ratios.

:func:`register_commands` adds the command to :data:`macro.cli.COMMANDS` (idempotent).

Used by the book chapter "MACRO: transistor-level mapping" and the README.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from .cli import BAD_INPUT, COMMANDS, Command, UsageError, design_from_args, register
from .mapping import MappingError


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _map_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--edges", required=True, metavar="A,B,C,D,E",
                        help="connection types of vin-n2, vin-vout, n1-vout, n1-gnd, n2-gnd")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="a parameter value (repeatable)")
    parser.add_argument("--tech", default="180nm", help="technology (default 180nm)")
    parser.add_argument("--out", help="file to write the amplifier netlist to")
    parser.add_argument("--reoptimise", action="store_true",
                        help="re-tune the mapping by constrained BO in ngspice")
    parser.add_argument("--n-init", type=int, default=20, help="BO initial points (20)")
    parser.add_argument("--n-iter", type=int, default=50, help="BO iterations (50)")
    parser.add_argument("--seed", type=int, default=0, help="BO seed (0)")


def _map(args: argparse.Namespace) -> dict[str, Any]:
    from circuits import TechnologyError

    from .bo import BOConfig, BOError
    from .mapping import map_design, simulate_mapped
    from .reoptimise import metrics, reoptimise

    design = design_from_args(args)
    try:
        mapped = map_design(design, args.tech)
    except TechnologyError as e:
        raise UsageError(str(e)) from e
    out: dict[str, Any] = {"ok": True, "edges": list(design.topology.types),
                           "tech": mapped.tech, "stages": {
                               s.stage: {"kind": s.kind, "gm": s.gm, "gain": s.gain,
                                         "gm_id": s.gm_id, "length": s.length,
                                         "current": s.current} for s in mapped.stages}}
    netlist = mapped.netlist
    if args.reoptimise:
        try:
            config = BOConfig(n_init=args.n_init, n_iter=args.n_iter, seed=args.seed)
        except BOError as e:
            raise UsageError(str(e)) from e
        r = reoptimise(design, mapped.tech, config, progress=not args.json)
        out.update(before=r["before"], after=r["after"], n_evaluations=r["n_evaluations"],
                   wall_s=r["wall_s"])
        if r["best"] is not None:
            netlist = r["best"]["netlist"]
    else:
        out["before"] = metrics(simulate_mapped(mapped, detail="metrics"))
    if args.out:
        write_text_atomic(Path(args.out), netlist)
        out["out"] = str(args.out)
    else:
        out["netlist"] = netlist
    return out


def _transistor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("quick", "full"), default="full",
                        help="which experiment's best designs, and the budget (default full)")


def _transistor(args: argparse.Namespace) -> dict[str, Any]:
    from .transistor import run_table_three, table_three

    records = run_table_three(args.mode, progress=not args.json)
    if not records:
        raise UsageError(f"the {args.mode} behaviour-level experiment has no finished runs: "
                         f"run python -m macro experiment --mode {args.mode} first")
    table = table_three(records)
    return {"ok": True, "mode": args.mode, **table,
            "errors": {f"{r['method']}-{r['exp']}": r["error"] for r in records
                       if r.get("error")},
            "wall_s": sum(r.get("wall_s") or 0.0 for r in records)}


def register_commands() -> None:
    """Add ``map`` and ``transistor`` to the command line of :mod:`macro.cli` (once)."""
    if "map" not in COMMANDS:
        register(Command("map", "map a design to a transistor-level netlist (gm/Id)",
                         _map_args, _map))
    if "transistor" not in COMMANDS:
        register(Command("transistor", "Table III: the experiment's best designs mapped and "
                         "re-optimised (resumable)", _transistor_args, _transistor))
    if MappingError not in BAD_INPUT:
        BAD_INPUT.append(MappingError)


__all__ = ["register_commands", "write_text_atomic"]
