"""The experiment grid of the LoRA-RL part: every run the book's tables and figures need.

Cells (:func:`plan`), per seed:

* ``pretrain``: phase 1 on circuit A (``two_stage``) at 90 nm (the "older node");
* ``transfer`` at 45 nm to circuits A-D with ``scratch`` (GCN-RL from scratch), ``finetune``
  (GCN-RL, every weight from the backbone), ``lora`` r = 4 and r = 8 (Tables 1-2, the
  learning-speed figure on circuit C);
* ``transfer`` at 22 nm to A-D with LoRA r = 4 and ``scratch`` only (the shrunk-node claim);
* the rank sweep r in {1, 2, 16} on circuit C at 45 nm (r = 4 and 8 are above);
* ``baseline`` random search, CMA-ES and constrained BO at 45 nm on A-D, with the simulation
  budget of a transfer run (BO with a smaller one, :data:`BUDGETS`: each of its proposals fits
  a Gaussian process).

Transfer seed ``s`` starts from the backbone of pre-training seed ``s``. Budgets
(:data:`BUDGETS`) are set so that the full grid fits in 6 hours on 2 cores; :func:`estimate`
gives the expected time from a measured cost per episode. Every cell writes a run folder
(:class:`lorarl.runlog.RunLog`: config, episode log, summary, provenance) under
``<root>/<cell name>``; a cell whose folder holds ``metrics.json`` is finished and skipped, an
interrupted training cell resumes from its checkpoint (:func:`lorarl.train.transfer`), an
interrupted baseline runs again; a finished training cell's checkpoint is removed (a
pre-training keeps ``backbone.pt``, which its transfers load). Cells run ``jobs`` at a time in
separate processes (each with its own one-worker simulator: one learner and one ngspice per
core); the pre-trainings are started first.

Used by ``python -m lorarl grid`` and the book chapter "LoRA-RL: experiments".
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .env import LABELS
from .runlog import RunLog, RunLogError

CIRCUITS = ("two_stage", "folded_cascode", "current_mirror_ota", "three_stage_nmc")
#: Circuit of the learning-speed figure and the rank sweep (LoRA-RL section 4.3: circuit C).
FIGURE_CIRCUIT = "current_mirror_ota"
RANKS = (1, 2, 4, 8, 16)
BASELINES = ("random", "cma", "bo")
MODES = ("quick", "full")

#: Budgets per mode: seeds, pre-training and transfer episodes, noise-free evaluation episodes
#: (Table 2's 200 for the 45 nm comparison of methods, fewer for 22 nm and the rank sweep),
#: simulations of the random/CMA-ES and of the BO baselines, circuits of the 22 nm transfer and
#: of the baselines, ranks swept.
BUDGETS: dict[str, dict[str, Any]] = {
    "full": {"seeds": (0, 1, 2), "pretrain_episodes": 2000, "transfer_episodes": 400,
             "eval_episodes": 200, "eval_episodes_other": 50, "baseline_sims": 4400,
             "bo_sims": 150,
             "circuits_22nm": CIRCUITS, "baseline_circuits": CIRCUITS, "sweep": (1, 2, 16)},
    "quick": {"seeds": (0,), "pretrain_episodes": 4, "transfer_episodes": 4,
              "eval_episodes": 2, "eval_episodes_other": 2, "baseline_sims": 24, "bo_sims": 12,
              "circuits_22nm": (FIGURE_CIRCUIT,), "baseline_circuits": CIRCUITS,
              "sweep": (1, 16)},
}


@dataclass(frozen=True)
class Cell:
    """One run of the grid.

    ``kind`` is ``pretrain``, ``transfer`` or ``baseline``; ``config`` the plain-data settings
    of :class:`lorarl.train.PretrainConfig`, :class:`lorarl.train.TransferConfig` (its
    ``backbone`` filled in from the cell named in ``needs``) or
    :class:`lorarl.baselines.BaselineConfig`; ``tags`` what the book groups by (circuit,
    node, method, rank, seed).
    """

    name: str
    kind: str
    config: dict[str, Any]
    needs: tuple[str, ...] = ()
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def episodes(self) -> int:
        """Training episodes (0 for a baseline)."""
        return int(self.config.get("episodes", 0))

    @property
    def eval_episodes(self) -> int:
        """Noise-free evaluation episodes after training."""
        return int(self.config.get("eval_episodes", 0))


def _env(circuit: str, tech: str) -> dict[str, Any]:
    return {"circuit": circuit, "tech": tech}


def plan(mode: str = "full", seeds: Sequence[int] | None = None) -> list[Cell]:
    """The cells of the grid in ``mode`` (``quick`` or ``full``), dependencies first.

    Raises
    ------
    ValueError
        For an unknown mode or an empty list of seeds.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    b = BUDGETS[mode]
    seeds = tuple(b["seeds"] if seeds is None else seeds)
    if not seeds:
        raise ValueError("at least one seed is needed")
    cells: list[Cell] = []
    for s in seeds:
        pre = f"pretrain/two_stage-90nm/s{s}"
        cells.append(Cell(pre, "pretrain", {
            "env": _env("two_stage", "90nm"), "episodes": b["pretrain_episodes"], "seed": s,
            "workers": 1}, tags={"circuit": "two_stage", "tech": "90nm", "seed": s}))

        def transfer(circuit: str, tech: str, method: str, rank: int | None, s=s, pre=pre,
                     evals: int = b["eval_episodes"]):
            label = method if rank is None else f"{method}-r{rank}"
            cfg = {"env": _env(circuit, tech), "method": method, "episodes":
                   b["transfer_episodes"], "eval_episodes": evals, "seed": s, "workers": 1}
            if rank is not None:
                cfg["rank"] = rank
            needs = () if method == "scratch" else (pre,)
            cells.append(Cell(f"transfer/{circuit}-{tech}/{label}/s{s}", "transfer", cfg, needs,
                              {"circuit": circuit, "tech": tech, "method": label, "seed": s,
                               "rank": rank}))

        for c in CIRCUITS:
            transfer(c, "45nm", "scratch", None)
            transfer(c, "45nm", "finetune", None)
            transfer(c, "45nm", "lora", 4)
            transfer(c, "45nm", "lora", 8)
        for c in b["circuits_22nm"]:
            transfer(c, "22nm", "scratch", None, evals=b["eval_episodes_other"])
            transfer(c, "22nm", "lora", 4, evals=b["eval_episodes_other"])
        for r in b["sweep"]:
            transfer(FIGURE_CIRCUIT, "45nm", "lora", r, evals=b["eval_episodes_other"])
        for c in b["baseline_circuits"]:
            for m in BASELINES:
                budget = b["bo_sims"] if m == "bo" else b["baseline_sims"]
                cells.append(Cell(f"baseline/{c}-45nm/{m}/s{s}", "baseline", {
                    "method": m, "circuit": c, "tech": "45nm", "budget": budget, "seed": s,
                    "batch": 1}, tags={"circuit": c, "tech": "45nm", "method": m, "seed": s}))
    return cells


def estimate(cells: Iterable[Cell], episode_s: float, eval_episode_s: float = 0.1,
             sim_s: float = 0.005, bo_proposal_s: float = 2.0, jobs: int = 2
             ) -> dict[str, float]:
    """Expected wall time (s) of ``cells`` run ``jobs`` at a time, from measured times of a
    training episode (simulations and DDPG updates), a noise-free episode, a simulation and a BO
    proposal (a lower bound when the cells do not divide evenly between the jobs)."""
    total = 0.0
    for c in cells:
        if c.kind == "baseline":
            per = bo_proposal_s + sim_s if c.config["method"] == "bo" else sim_s
            total += c.config["budget"] * per
        else:
            total += c.episodes * episode_s + c.eval_episodes * eval_episode_s
    return {"cell_seconds": total, "wall_seconds": total / max(jobs, 1),
            "wall_hours": total / max(jobs, 1) / 3600}


# -- running one cell ---------------------------------------------------------------------------


def cell_folder(root: str | Path, name: str) -> Path:
    """The run folder of the cell ``name``."""
    return Path(root) / name


def _record(cell: Cell, mode: str) -> dict[str, Any]:
    return {"cell": cell.name, "kind": cell.kind, "mode": mode, "config": cell.config,
            "tags": cell.tags}


def run_cell(cell: Cell, root: str | Path, mode: str, progress: bool = False) -> dict[str, Any]:
    """Run one cell (resuming a training cell from its checkpoint) and write its run folder;
    returns its summary. A finished cell is loaded, not run again."""
    import torch

    torch.set_num_threads(1)
    root = Path(root)
    log = RunLog(cell_folder(root, cell.name), _record(cell, mode))
    done = log.metrics()
    if done is not None:
        return done
    t0 = time.perf_counter()
    if cell.kind == "baseline":
        from circuits import Simulator

        from .baselines import BaselineConfig, run_baseline

        with Simulator(1) as sim:
            summary = run_baseline(BaselineConfig(**cell.config), sim)
        seed = cell.config["seed"]
    else:
        from . import train

        cfg = dict(cell.config)
        if cell.kind == "pretrain":
            result = train.pretrain(train.config_from_dict(cfg, "pretrain"), run_dir=log,
                                    progress=progress)
        else:
            if cell.needs:
                cfg["backbone"] = str(cell_folder(root, cell.needs[0]) / train.BACKBONE)
            result = train.transfer(train.config_from_dict(cfg, "transfer"), run_dir=log,
                                    progress=progress)
        summary = {k: v for k, v in result.items() if k != "log"}
        seed = cfg["seed"]
    summary = {**summary, "cell": cell.name, "tags": cell.tags, "pid": os.getpid()}
    log.finish(summary, seed=seed, wall_s=time.perf_counter() - t0)
    if cell.kind != "baseline":
        # a finished cell is loaded from its summary, never resumed: its checkpoint (network,
        # optimisers, replay buffer; megabytes) is not kept among the results
        from .train import CHECKPOINT

        (log.folder / CHECKPOINT).unlink(missing_ok=True)
    return summary


def _run_cell_safely(cell: Cell, root: str, mode: str) -> tuple[str, dict | None, str | None]:
    try:
        return cell.name, run_cell(cell, root, mode), None
    except (Exception, KeyboardInterrupt) as exc:  # one failing cell never stops the grid
        return cell.name, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"


def run_grid(cells: Sequence[Cell], root: str | Path, mode: str, *, jobs: int = 2,
             progress: Callable[[str, str], None] | None = None) -> dict[str, Any]:
    """Run every unfinished cell, ``jobs`` at a time, dependencies first; returns the status
    of every cell (``done``, ``skipped`` (finished before), ``failed`` with the error, or
    ``blocked`` by a failed dependency) and writes it to ``<root>/grid.json``.

    ``progress(cell, status)`` is called as cells finish.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = {c.name for c in cells}
    status: dict[str, dict[str, Any]] = {}
    pending: list[Cell] = []
    for c in cells:
        try:
            finished = RunLog(cell_folder(root, c.name), _record(c, mode)).finished
        except RunLogError as exc:
            status[c.name] = {"status": "failed", "error": str(exc)}
            continue
        if finished:
            status[c.name] = {"status": "skipped"}
        else:
            pending.append(c)
    # the long pre-trainings first, so that the transfers waiting for them are not left to the end
    pending.sort(key=lambda c: c.kind != "pretrain")
    t0 = time.perf_counter()

    def ready(c: Cell) -> bool | None:
        """True when every dependency is finished, None when one failed, else False."""
        for n in c.needs:
            s = status.get(n, {}).get("status")
            if s in ("failed", "blocked") or (n not in names and not (
                    cell_folder(root, n) / "metrics.json").is_file()):
                return None
            if s not in ("done", "skipped"):
                return False
        return True

    def note(name: str) -> None:
        if progress is not None:
            progress(name, status[name]["status"])

    if jobs <= 1:
        waited = 0
        while pending:
            c = pending.pop(0)
            r = ready(c)
            if r is False and waited < len(pending) + 1:  # a dependency later in the list
                pending.append(c)
                waited += 1
                continue
            waited = 0
            if not r:
                status[c.name] = {"status": "blocked"}
            else:
                _, _, err = _run_cell_safely(c, str(root), mode)
                status[c.name] = {"status": "failed", "error": err} if err else \
                    {"status": "done"}
            note(c.name)
    else:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            running: dict[Future, str] = {}
            while pending or running:
                for c in list(pending):
                    if len(running) >= jobs:
                        break
                    r = ready(c)
                    if r is None:
                        pending.remove(c)
                        status[c.name] = {"status": "blocked"}
                        note(c.name)
                    elif r:
                        pending.remove(c)
                        running[pool.submit(_run_cell_safely, c, str(root), mode)] = c.name
                if not running:
                    if pending:  # nothing can start: dependencies outside the plan
                        for c in pending:
                            status[c.name] = {"status": "blocked"}
                        pending = []
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    name = running.pop(f)
                    try:
                        _, _, err = f.result()
                    except Exception as exc:  # the worker process died
                        err = f"{type(exc).__name__}: {exc}"
                    status[name] = {"status": "failed", "error": err} if err else \
                        {"status": "done"}
                    note(name)
    out = {"mode": mode, "root": str(root), "wall_s": time.perf_counter() - t0,
           "cells": {c.name: status.get(c.name, {"status": "blocked"}) for c in cells}}
    counts: dict[str, int] = {}
    for s in out["cells"].values():
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    out["counts"] = counts
    from circuits.runs import write_json_atomic

    write_json_atomic(root / "grid.json", out)
    return out


def load_results(root: str | Path, cells: Sequence[Cell]) -> dict[str, dict[str, Any]]:
    """Summaries of the finished cells (name -> ``metrics.json`` plus ``episodes``, the episode
    log of training cells); unfinished cells are left out."""
    from .runlog import read_episodes

    out = {}
    for c in cells:
        folder = cell_folder(root, c.name)
        try:
            metrics = json.loads((folder / "metrics.json").read_text())
            saved = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if saved.get("config") != c.config:
            continue  # a folder of another plan
        if c.kind != "baseline":
            metrics = {**metrics, "episodes_log": read_episodes(folder / "episodes.jsonl")}
        out[c.name] = metrics
    return out


def circuit_label(circuit: str) -> str:
    """``A``-``D`` for the built-in circuits."""
    return LABELS.get(circuit, circuit)
