"""Result folders of runs: inputs, results and provenance, written atomically.

A run that the book quotes keeps one folder, ``results/<name>/``, with

``config.json``
    the inputs that determine the result (the mode, ``"full"`` or ``"quick"``, included);
``metrics.json``
    the result (any JSON-compatible mapping);
``provenance.json``
    where and how it was made: git commit (and whether the tree had changes), versions of
    Python and the key packages, machine, CPU count, seed, start time and wall time.

Every file is written to a temporary name and renamed (:func:`write_json_atomic`), into a new
folder that then replaces the old one by renames (:func:`save_run`): a run interrupted while
saving, or two saving at once, never leave a folder that mixes two runs.

The notebooks of the book call :func:`load_or_run`: in full mode it computes the paper-scale
run and saves it; in quick mode it loads the saved full run when its recorded inputs equal the
current ones, and otherwise computes the small quick run (book chapter "Circuits, process
models and simulation"; ``make full`` runs every notebook in full mode).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

#: Packages whose versions a provenance record lists.
PACKAGES = ("numpy", "scipy", "torch", "torch-geometric", "PySpice", "matplotlib")


def project_root(start: Path | None = None) -> Path:
    """The project folder: the nearest parent of ``start`` (default: the working directory)
    that holds ``pyproject.toml`` and ``_config.yml``; ``start`` itself when there is none."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "_config.yml").is_file():
            return folder
    return here


def results_root() -> Path:
    """Where run folders live: ``$BOOK_RESULTS``, else ``results/`` of the project."""
    env = os.environ.get("BOOK_RESULTS")
    return Path(env).resolve() if env else project_root() / "results"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(*, seed: int | None = None, wall_s: float | None = None,
               started: datetime | None = None) -> dict:
    """Where and how a result is made: git commit, versions, machine, seed, timing."""
    versions = {"python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    status = _git("status", "--porcelain")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "versions": versions,
        "machine": {"cpu": _cpu_model(), "cpus": os.cpu_count(), "system": platform.system(),
                    "arch": platform.machine()},
        "seed": seed,
        "started": (started or datetime.now(UTC)).isoformat(timespec="seconds"),
        "wall_s": wall_s,
    }


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=False)


@dataclass(frozen=True)
class Run:
    """A result with its inputs and provenance, saved or just computed."""

    name: str
    config: dict
    metrics: dict
    provenance: dict
    saved: bool

    @property
    def mode(self) -> str:
        return str(self.config.get("mode", "quick"))

    def describe(self) -> str:
        """Where the figures come from, for the book's text: the mode, and for a saved run its
        commit, date, wall time and machine."""
        p = self.provenance
        machine = p.get("machine", {})
        wall = p.get("wall_s")
        took = f"{wall:.0f} s" if wall is not None and wall < 120 else (
            f"{wall / 60:.0f} min" if wall is not None and wall < 7200 else
            f"{wall / 3600:.1f} h" if wall is not None else "an unknown time")
        where = f"{machine.get('cpus', '?')} {machine.get('cpu', 'unknown')} CPUs"
        if not self.saved:
            return f"in this build, in quick mode ({took} on {where})"
        commit = (p.get("git_commit") or "unknown")[:8]
        dirty = " with local changes" if p.get("git_dirty") else ""
        day = str(p.get("started", ""))[:10]
        return (f"in a saved {self.mode}-mode run (commit {commit}{dirty}, {day}; {took} on "
                f"{where})")


def save_run(name: str, config: Mapping, metrics: Mapping, prov: Mapping,
             root: Path | None = None) -> Path:
    """Save a run folder; returns it.

    The files are written into a fresh folder beside the target, which then replaces the old
    folder by renames: a reader sees the old run, or (for an instant) none, or the new one, and
    never a mix of the two, whatever happens to the writer.
    """
    folder = (root or results_root()) / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.new."))
    try:
        write_json_atomic(staging / "metrics.json", json_safe(metrics))
        write_json_atomic(staging / "provenance.json", json_safe(prov))
        write_json_atomic(staging / "config.json", json_safe(config))
        os.chmod(staging, 0o755)
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old."))
            os.replace(folder, old / "run")
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_run(name: str, config: Mapping, root: Path | None = None) -> Run | None:
    """The saved run ``name`` when its recorded inputs equal ``config``, else ``None``.

    A folder without ``config.json`` (an interrupted save), or with unreadable files, counts
    as absent.
    """
    folder = (root or results_root()) / name
    try:
        saved = json.loads((folder / "config.json").read_text())
        if _canonical(saved) != _canonical(dict(config)):
            return None
        metrics = json.loads((folder / "metrics.json").read_text())
        prov = json.loads((folder / "provenance.json").read_text())
    except (OSError, ValueError):
        return None
    return Run(name, saved, metrics, prov, saved=True)


def load_or_run(name: str, full: Mapping, quick: Mapping,
                compute: Callable[..., Mapping], *, full_mode: bool, seed: int | None = None,
                root: Path | None = None) -> Run:
    """The run ``name`` for a notebook: computed and saved in full mode; in quick mode the
    saved full run when its inputs equal ``full``, else computed with ``quick`` (not saved).

    ``full`` and ``quick`` are keyword arguments of ``compute``; the recorded config adds
    ``mode``.
    """
    full_config = {**full, "mode": "full"}
    if not full_mode:
        stored = load_run(name, full_config, root)
        if stored is not None:
            return stored
    kwargs = dict(full if full_mode else quick)
    started, t0 = datetime.now(UTC), time.perf_counter()
    # as JSON gives it back: a full run and a quick build that loads it see the same data
    metrics = json.loads(json.dumps(json_safe(compute(**kwargs)), allow_nan=False))
    prov = provenance(seed=seed, wall_s=time.perf_counter() - t0, started=started)
    if full_mode:
        save_run(name, full_config, metrics, prov, root)
        return Run(name, full_config, metrics, prov, saved=True)
    return Run(name, {**quick, "mode": "quick"}, metrics, prov, saved=False)


def json_safe(obj: Any) -> Any:
    """Plain (strict) JSON data: NumPy scalars and arrays as Python numbers and lists, non-finite
    floats as ``None``, tuples as lists, mapping keys as strings, recursively."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj
