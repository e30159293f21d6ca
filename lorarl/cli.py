"""Command line of LoRA-RL (``python -m lorarl ...``).

::

    python -m lorarl pretrain [--mode quick|full] [--circuit C] [--tech T] [--episodes N]
                              [--seed S] [--run-dir DIR] [--config FILE] [--json]
    python -m lorarl transfer [--mode quick|full] --method scratch|finetune|lora [--rank R]
                              [--alpha A] [--backbone FILE] [--circuit C] [--tech T]
                              [--episodes N] [--eval-episodes N] [--seed S] [--run-dir DIR]
                              [--config FILE] [--json]
    python -m lorarl baseline --method random|cma|bo [--mode quick|full] [--circuit C]
                              [--tech T] [--budget N] [--seed S] [--run-dir DIR] [--json]
    python -m lorarl grid [--mode quick|full] [--jobs J] [--seeds 0,1,2] [--root DIR]
                          [--dry-run] [--episode-seconds S] [--json]

``--mode`` sets the default budgets (quick: seconds; full: the experiment's,
:data:`lorarl.grid.BUDGETS`); options given override them. ``--config`` reads the settings of
:class:`lorarl.train.PretrainConfig` or :class:`lorarl.train.TransferConfig` from a JSON file
(plain data, never code); options given on the command line override its values.

Exit status 0 when the command ran (its summary says whether the target was reached), 2 for bad
input (an unknown option, circuit, node or method, a malformed value or file: the message on
standard error and, with ``--json``, one JSON object ``{"ok": false, "error": ...}`` on standard
output), 1 for an internal error. With ``--json`` a finished command prints one JSON object with
``ok`` true and its summary.

Used by the README and the book chapter "LoRA-RL: experiments".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_BUG, EXIT_BAD_INPUT = 0, 1, 2

#: Default budgets of the single-run commands per mode.
DEFAULTS = {
    "quick": {"pretrain_episodes": 4, "transfer_episodes": 4, "eval_episodes": 2,
              "baseline_budget": 24},
    "full": {"pretrain_episodes": 2000, "transfer_episodes": 400, "eval_episodes": 200,
             "baseline_budget": 4400},
}


class UsageError(ValueError):
    """An option or argument of the command line is invalid."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``lo``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{text} must be >= {lo}")
        return v

    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a positive finite number")
    return v


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole "
                                         "numbers") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError("seeds must be whole numbers >= 0")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m lorarl``."""
    p = _Parser(prog="python -m lorarl", description="LoRA-RL: pre-train, transfer, "
                "black-box baselines and the experiment grid on ngspice.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(q: argparse.ArgumentParser, circuit: str, tech: str) -> None:
        q.add_argument("--mode", choices=("quick", "full"), default="quick",
                       help="default budgets (quick: seconds; full: the experiment's)")
        q.add_argument("--circuit", default=None, help=f"amplifier (default {circuit})")
        q.add_argument("--tech", default=None, help=f"process node (default {tech})")
        q.add_argument("--seed", type=_nonneg_int, default=None)
        q.add_argument("--run-dir", type=Path, default=None,
                       help="run folder (resumed when it holds the same run)")
        q.add_argument("--json", action="store_true", help="print a JSON summary")
        q.add_argument("--progress", action="store_true", help="show a progress bar")

    pre = sub.add_parser("pretrain", help="phase 1: train every parameter on circuit A, 90 nm")
    common(pre, "two_stage", "90nm")
    pre.add_argument("--episodes", type=_positive_int, default=None)
    pre.add_argument("--config", type=Path, default=None, help="JSON file of PretrainConfig")

    tr = sub.add_parser("transfer", help="phase 2 or a compared method on a target circuit")
    common(tr, "current_mirror_ota", "45nm")
    tr.add_argument("--method", choices=("scratch", "finetune", "lora"), default=None)
    tr.add_argument("--rank", type=_positive_int, default=None)
    tr.add_argument("--alpha", type=_positive_float, default=None)
    tr.add_argument("--backbone", type=Path, default=None, help="pre-trained backbone.pt")
    tr.add_argument("--episodes", type=_positive_int, default=None)
    tr.add_argument("--eval-episodes", type=_nonneg_int, default=None)
    tr.add_argument("--config", type=Path, default=None, help="JSON file of TransferConfig")

    bl = sub.add_parser("baseline", help="a black-box optimiser on the same box and budget")
    common(bl, "two_stage", "45nm")
    bl.add_argument("--method", choices=("random", "cma", "bo"), required=True)
    bl.add_argument("--budget", type=_positive_int, default=None, help="simulations")

    gr = sub.add_parser("grid", help="the whole experiment (resumable, cells in parallel)")
    gr.add_argument("--mode", choices=("quick", "full"), default="quick")
    gr.add_argument("--jobs", type=_positive_int, default=2, help="cells run at once")
    gr.add_argument("--seeds", type=_seeds, default=None, help="e.g. 0,1,2")
    gr.add_argument("--root", type=Path, default=None,
                    help="results folder (default results/lorarl/grid-<mode>)")
    gr.add_argument("--dry-run", action="store_true", help="list the cells and the estimate")
    gr.add_argument("--episode-seconds", type=_positive_float, default=0.5,
                    help="measured seconds per training episode, for the estimate")
    gr.add_argument("--json", action="store_true")
    gr.add_argument("--progress", action="store_true", help="print each finished cell")
    return p


def _read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config file holds one JSON object")
    return data


def _env_dict(base: dict[str, Any], args: argparse.Namespace, circuit: str, tech: str
              ) -> dict[str, Any]:
    env = dict(base.get("env") or {})
    env.setdefault("circuit", circuit)
    env.setdefault("tech", tech)
    if args.circuit is not None:
        env["circuit"] = args.circuit
    if args.tech is not None:
        env["tech"] = args.tech
    return env


def _bad_input_types() -> tuple[type[Exception], ...]:
    """The typed errors of bad input, from the modules a command has imported (the parser
    runs before any heavy import, so that bad options are reported at once)."""
    types: list[type[Exception]] = [UsageError]
    if "circuits" in sys.modules:
        from circuits import CircuitsError

        types.append(CircuitsError)
    if "lorarl.env" in sys.modules:
        from .env import EnvConfigError

        types.append(EnvConfigError)
    if "lorarl.train" in sys.modules:
        from .train import TrainConfigError

        types.append(TrainConfigError)
    if "lorarl.runlog" in sys.modules:
        from .runlog import RunLogError

        types.append(RunLogError)
    return tuple(types)


def cmd_pretrain(args: argparse.Namespace) -> dict[str, Any]:
    from . import train

    d = DEFAULTS[args.mode]
    data = _read_config(args.config)
    data["env"] = _env_dict(data, args, "two_stage", "90nm")
    data.setdefault("episodes", d["pretrain_episodes"])
    if args.episodes is not None:
        data["episodes"] = args.episodes
    if args.seed is not None:
        data["seed"] = args.seed
    config = train.config_from_dict(data, "pretrain")
    result = train.pretrain(config, run_dir=args.run_dir, progress=args.progress)
    return {k: v for k, v in result.items() if k != "log"}


def cmd_transfer(args: argparse.Namespace) -> dict[str, Any]:
    from . import train

    d = DEFAULTS[args.mode]
    data = _read_config(args.config)
    data["env"] = _env_dict(data, args, "current_mirror_ota", "45nm")
    data.setdefault("episodes", d["transfer_episodes"])
    data.setdefault("eval_episodes", d["eval_episodes"])
    for key in ("method", "rank", "alpha", "episodes", "eval_episodes", "seed"):
        v = getattr(args, key)
        if v is not None:
            data[key] = v
    if args.backbone is not None:
        if not args.backbone.is_file():
            raise UsageError(f"no backbone file at {args.backbone}")
        data["backbone"] = str(args.backbone)
    config = train.config_from_dict(data, "transfer")
    result = train.transfer(config, run_dir=args.run_dir, progress=args.progress)
    return {k: v for k, v in result.items() if k != "log"}


def cmd_baseline(args: argparse.Namespace) -> dict[str, Any]:
    from .baselines import BaselineConfig, run_baseline
    from .runlog import RunLog

    cfg = BaselineConfig(method=args.method, circuit=args.circuit or "two_stage",
                         tech=args.tech or "45nm",
                         budget=args.budget or DEFAULTS[args.mode]["baseline_budget"],
                         seed=args.seed or 0)
    log = RunLog(args.run_dir, {"kind": "baseline", "config": cfg.to_dict()}) \
        if args.run_dir is not None else None
    if log is not None and log.finished:
        return {**(log.metrics() or {}), "loaded": True}
    from .runlog import progress_bar

    bar = progress_bar(cfg.budget, f"{cfg.method} {cfg.circuit}", args.progress or None)
    try:
        result = run_baseline(cfg, progress=bar.update)
    finally:
        bar.close()
    if log is not None:
        log.finish(result, seed=cfg.seed, wall_s=result["wall_s"])
    return result


def cmd_grid(args: argparse.Namespace) -> dict[str, Any]:
    from circuits.runs import results_root

    from .grid import estimate, plan, run_grid

    cells = plan(args.mode, args.seeds)
    root = args.root or results_root() / "lorarl" / f"grid-{args.mode}"
    est = estimate(cells, episode_s=args.episode_seconds, jobs=args.jobs)
    if args.dry_run:
        return {"mode": args.mode, "root": str(root), "cells": [c.name for c in cells],
                "estimate": est, "dry_run": True}

    def show(name: str, status: str) -> None:
        if args.progress:
            print(f"{status:8s} {name}", file=sys.stderr, flush=True)

    out = run_grid(cells, root, args.mode, jobs=args.jobs, progress=show)
    return {**out, "estimate": est}


COMMANDS = {"pretrain": cmd_pretrain, "transfer": cmd_transfer, "baseline": cmd_baseline,
            "grid": cmd_grid}


def _summary_text(command: str, out: dict[str, Any]) -> str:
    if command == "grid":
        if out.get("dry_run"):
            e = out["estimate"]
            return (f"{len(out['cells'])} cells in {out['root']}; estimated "
                    f"{e['wall_hours']:.1f} h")
        return f"grid {out['mode']}: {out['counts']} in {out['wall_s']:.0f} s ({out['root']})"
    keys = ("episodes", "sims", "sims_to_target", "best_feasible_fom", "failed", "failed_sims",
            "wall_s")
    return ", ".join(f"{k}={out[k]:.4g}" if isinstance(out[k], float) else f"{k}={out[k]}"
                     for k in keys if k in out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
        out = COMMANDS[args.command](args)
    except Exception as exc:
        if isinstance(exc, _bad_input_types()):
            # bad input of any kind: an option, a circuit, a node, a method, a file
            msg = str(exc)
            print(f"error: {msg}", file=sys.stderr)
            if as_json:
                print(json.dumps({"ok": False, "error": msg}))
            return EXIT_BAD_INPUT
        traceback.print_exc()  # a bug: say so, with the traceback
        if as_json:
            print(json.dumps({"ok": False, "error": f"internal error: {exc}"}))
        return EXIT_BUG
    from circuits.runs import json_safe

    try:
        if as_json:
            print(json.dumps({"ok": True, **json_safe(out)}, allow_nan=False))
        else:
            print(_summary_text(args.command, out))
    except BrokenPipeError:
        return EXIT_BUG
    return EXIT_OK
