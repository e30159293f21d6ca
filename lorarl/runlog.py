"""Run folders of LoRA-RL runs: config, per-episode log, summary and provenance.

A run (a pre-training, a transfer, a baseline, a grid cell) writes one folder::

    <folder>/config.json        the inputs (written first; a folder with another config is
                                refused, so two runs never mix)
    <folder>/episodes.jsonl     one JSON line per episode (see :data:`EPISODE_FIELDS`)
    <folder>/metrics.json       the summary, written when the run finishes
    <folder>/provenance.json    git commit, versions, machine, seed, wall time
                                (:func:`circuits.runs.provenance`)

JSON files are written through a temporary file and a rename
(:func:`circuits.runs.write_json_atomic`); the episode log is appended one flushed line at a
time, a torn last line (a crash mid-write) is ignored when read, and on resume the log is cut
back to the episodes of the checkpoint (:meth:`RunLog.truncate`, an atomic rewrite), so a resumed
run logs exactly what an uninterrupted one logs. ``metrics.json`` present means finished.

Used by :mod:`lorarl.train`, :mod:`lorarl.grid`, the command line and the book chapter
"LoRA-RL: experiments".
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from circuits.runs import json_safe, provenance, write_json_atomic

#: Columns of one episode row (a run may add more).
EPISODE_FIELDS = (
    "episode",          # 1, 2, ... within the run
    "fom",              # FoM of the episode's final design (None when it failed)
    "feasible",         # the final design is feasible
    "episode_best",     # best feasible FoM within the episode (0 when none)
    "best_feasible_fom",  # best feasible FoM of the run so far
    "sims",             # simulations of the run so far
    "failed_sims",      # failed simulations of the run so far
    "infeasible_sims",  # simulated but infeasible designs of the run so far
    "wall_s",           # wall time of the run so far (s)
    "sim_s",            # of which simulating (s)
    "sim_share",        # sim_s / wall_s
)


#: The code a run depends on (its fingerprint decides whether a saved run is current): the
#: whole ``lorarl`` package, and the ``circuits`` modules that simulate and build graphs, with
#: what they import and the package's data files (netlists, references, model cards).
CODE = ("lorarl", "circuits.simulator", "circuits.graph")


class RunLogError(RuntimeError):
    """A run folder cannot be used (it holds another run's config, or is unreadable)."""


class RunLog:
    """One run's folder (see the module docstring).

    Parameters
    ----------
    folder : the run folder (created when missing).
    config : the run's inputs (JSON-compatible). An existing folder must hold the same config
        (the run is resumed); another config raises :class:`RunLogError` unless ``overwrite``.
    overwrite : replace an existing folder with another config (its files are removed).
    """

    def __init__(self, folder: str | Path, config: Mapping[str, Any], *,
                 overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.config = json.loads(json.dumps(json_safe(dict(config)), allow_nan=False))
        self.started = datetime.now(UTC)
        self._t0 = time.perf_counter()
        cfg_path = self.folder / "config.json"
        if cfg_path.is_file():
            try:
                saved = json.loads(cfg_path.read_text())
            except (OSError, ValueError) as exc:
                raise RunLogError(f"{cfg_path}: unreadable ({exc})") from None
            if _canonical(saved) != _canonical(self.config):
                if not overwrite:
                    raise RunLogError(
                        f"{self.folder} holds a run with another config; choose another folder "
                        f"or overwrite it (differs in: {', '.join(_diff(saved, self.config))})")
                for name in ("episodes.jsonl", "metrics.json", "provenance.json"):
                    (self.folder / name).unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cfg_path, self.config)

    # -- the episode log ----------------------------------------------------------------------

    @property
    def episodes_path(self) -> Path:
        return self.folder / "episodes.jsonl"

    def log_episode(self, row: Mapping[str, Any]) -> None:
        """Append one episode row (one flushed, fsynced JSON line)."""
        line = json.dumps(json_safe(dict(row)), sort_keys=True, allow_nan=False)
        with open(self.episodes_path, "a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def episodes(self) -> list[dict[str, Any]]:
        """The logged rows, in order (a torn last line is left out)."""
        return read_episodes(self.episodes_path)

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` rows (resume from a checkpoint taken after episode ``n``)."""
        rows = self.episodes()[:n]
        text = "".join(json.dumps(r, sort_keys=True, allow_nan=False) + "\n" for r in rows)
        tmp = self.episodes_path.with_name(f".{self.episodes_path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, self.episodes_path)

    # -- other files --------------------------------------------------------------------------

    def save_json(self, name: str, obj: Any) -> Path:
        """Write ``<folder>/<name>`` atomically (plain JSON)."""
        path = self.folder / name
        write_json_atomic(path, json_safe(obj))
        return path

    @property
    def finished(self) -> bool:
        """True when the run wrote its summary."""
        return (self.folder / "metrics.json").is_file()

    def metrics(self) -> dict[str, Any] | None:
        """The summary of a finished run (``None`` before)."""
        try:
            return json.loads((self.folder / "metrics.json").read_text())
        except (OSError, ValueError):
            return None

    def finish(self, metrics: Mapping[str, Any], seed: int | None = None,
               wall_s: float | None = None) -> None:
        """Write the provenance, then the summary (its presence marks the run finished)."""
        wall = time.perf_counter() - self._t0 if wall_s is None else wall_s
        self.save_json("provenance.json", provenance(seed=seed, wall_s=wall,
                                                     started=self.started, code=CODE))
        self.save_json("metrics.json", metrics)


def read_episodes(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an ``episodes.jsonl`` file (missing file: none; a torn last line is left out)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    rows = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i >= len(lines) - 2:  # the last line, cut by a crash
                break
            raise RunLogError(f"{path}: line {i + 1} is not JSON") from None
    return rows


def progress_bar(total: int, desc: str, enabled: bool | None = None):
    """A tqdm progress bar on standard error (off when ``enabled`` is false, or when ``None``
    and standard error is not a terminal and ``LORARL_PROGRESS`` is not set)."""
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty() or bool(os.environ.get("LORARL_PROGRESS"))
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=False)


def _diff(a: Mapping, b: Mapping) -> Iterable[str]:
    keys = sorted(set(a) | set(b))
    return [k for k in keys if _canonical(a.get(k)) != _canonical(b.get(k))] or ["(order)"]
