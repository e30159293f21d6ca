"""Result folders of runs: inputs, results and provenance, written atomically.

A run that the book quotes keeps one folder, ``results/<name>/``, with

``config.json``
    the inputs that determine the result (the mode, ``"full"`` or ``"quick"``, included);
``metrics.json``
    the result (any JSON-compatible mapping);
``provenance.json``
    where and how it was made: git commit (and whether the tree had changes), versions of
    Python, the key packages and ngspice, machine, CPU count, seed, start time, wall time, and
    the *code fingerprint*: a SHA-256 hash of every file of the packages the run depends on
    (:func:`code_fingerprint`).

Every file is written to a temporary name and renamed (:func:`write_json_atomic`), into a new
folder that then replaces the old one by renames (:func:`save_run`): a run interrupted while
saving, or two saving at once, never leave a folder that mixes two runs.

The notebooks of the book call :func:`load_or_run`: in full mode it computes the paper-scale
run and saves it; in quick mode it loads the saved full run when its recorded inputs equal the
current ones, and otherwise computes the small quick run (book chapter "Circuits, process
models and simulation"; ``make full`` runs every notebook in full mode).

A loaded run is *stale* when the code it depends on has changed since it was made: the files
hashed in its fingerprint differ from (or are missing from, or are fewer than) the files of the
same packages now. A run saved before fingerprints were recorded is judged by git instead: stale
when its packages' files differ between its commit and the working tree. A stale run is still
quoted, and :meth:`Run.describe` says that older code made it, at which commit;
``python -m circuits.bookinfo stale`` (``make stale``) lists stale runs and the notebooks that quote
them, and ``make refresh`` re-runs those notebooks in full mode (book page "Reproducibility").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .jsondata import json_safe

#: Packages whose versions a provenance record lists.
PACKAGES = ("numpy", "scipy", "torch", "torch-geometric", "PySpice", "matplotlib")
#: The project's own top-level packages (:func:`code_dependencies` follows imports among them).
PROJECT_PACKAGES = ("circuits", "lorarl", "macro")
#: Files of a package that are not code or data a run depends on.
_IGNORED_PARTS = frozenset({"__pycache__", ".ipynb_checkpoints"})
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".tmp", ".so")  # caches, partial writes, builds


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


def code_files(names: Iterable[str]) -> dict[str, Path]:
    """The files a result made by ``names`` depends on, keyed by their path relative to the
    top-level package's parent folder (e.g. ``"circuits/engine.py"``).

    A package name (``"circuits"``) stands for every file of the package. A module name
    (``"circuits.benchmark"``) stands for the module and every module of the same top-level
    package that it imports, directly or through others (read from the source, not executed),
    plus the package's data files (netlists, model cards, JSON: every file that is not Python
    source, the C source of a compiled fast path included). Caches and built libraries are
    left out.

    Raises
    ------
    ValueError
        When a name is not an importable package or module.
    """
    import importlib.util

    files: dict[str, Path] = {}
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or (spec.origin is None and not spec.submodule_search_locations):
            raise ValueError(f"no importable package or module named {name!r}")
        top = name.split(".", 1)[0]
        folder = package_folder(top)
        if folder is None:  # a single-file module
            files[Path(spec.origin).name] = Path(spec.origin)
            continue
        whole = spec.submodule_search_locations is not None and name == top
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder.parent)
            if (path.is_file() and not _IGNORED_PARTS & set(rel.parts)
                    and not path.name.endswith(_IGNORED_SUFFIXES)
                    and not path.name.startswith(".")
                    and (whole or path.suffix != ".py")):
                files[rel.as_posix()] = path
        if not whole:
            for module in _import_closure(name, top):
                path = _module_path(module, folder)
                if path is not None:
                    files[path.relative_to(folder.parent).as_posix()] = path
    return dict(sorted(files.items()))


def package_folder(top: str) -> Path | None:
    """The source folder of the top-level package ``top`` (the one holding its
    ``__init__.py``), ``None`` for a single-file module or a name that does not import.

    A folder named like the package in the working directory (``book/macro``, beside the
    pages of ``book/`` that a notebook runs among) is a namespace package ``top`` to the path
    finder, which comes before an editable install's finder: ``find_spec(top)`` then names that
    folder. The folder that holds ``__init__.py`` is then the one ``top.__init__`` resolves to.
    """
    import importlib.util

    spec = importlib.util.find_spec(top)
    if spec is None or spec.submodule_search_locations is None:
        return None
    locations = [Path(loc) for loc in spec.submodule_search_locations]
    for location in locations:
        if (location / "__init__.py").is_file():
            return location
    init = importlib.util.find_spec(f"{top}.__init__")
    if init is not None and init.origin and Path(init.origin).name == "__init__.py":
        return Path(init.origin).parent
    return locations[0] if locations else None  # a namespace package of its own


def _module_path(module: str, folder: Path) -> Path | None:
    parts = module.split(".")[1:]
    candidate = folder.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class _ImportStatement:
    """One ``import`` statement of a source file, as :func:`_imports` reads it."""

    module: str | None
    """``import a.b``: ``"a.b"``; ``from a.b import c``: ``"a.b"`` (``None`` for ``from .``)."""
    names: tuple[tuple[str, str | None], ...]
    """The names imported by ``from``, with their ``as`` names (empty for ``import``)."""
    level: int
    """The number of leading dots of a relative ``from`` import (0: absolute)."""
    is_from: bool
    top_level: bool
    """Whether the statement is in the module's body (not inside a function or a block)."""


@functools.lru_cache(maxsize=1024)
def _parse_imports(text: str) -> tuple[_ImportStatement, ...] | None:
    import ast

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    body = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [_ImportStatement(a.name, (), 0, False, id(node) in body) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(_ImportStatement(node.module, tuple((a.name, a.asname) for a in node.names),
                                        node.level, True, id(node) in body))
    return tuple(out)


def _imports(path: Path) -> tuple[_ImportStatement, ...] | None:
    """The import statements of the source file ``path`` in source order (``None`` when it
    cannot be read or parsed), parsed once per content of the file."""
    try:
        return _parse_imports(path.read_text())
    except (OSError, UnicodeDecodeError):
        return None


def _reachable(start: str, step: Callable[[str], Iterable[str] | None]) -> set[str]:
    """Every name reachable from ``start`` through ``step`` (the names one leads to; ``None``
    for a name that does not exist, which is left out)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        following = step(current)
        if following is None:
            continue
        seen.add(current)
        todo += following
    return seen


def _import_closure(module: str, top: str) -> set[str]:
    """``module`` and the modules of package ``top`` it imports, transitively, from the
    source's ``import`` statements (relative ones resolved). A name imported from a package's
    ``__init__`` brings that ``__init__``; importing a submodule does not (what the parent's
    ``__init__`` imports does not shape the submodule's result)."""
    folder = package_folder(top)
    if folder is None:
        return set()

    def imported(current: str) -> list[str] | None:
        path = _module_path(current, folder)
        if path is None:
            return None
        package = current if path.name == "__init__.py" else current.rsplit(".", 1)[0]
        found: list[str] = []
        for st in _imports(path) or ():
            if not st.is_from:
                if st.module.split(".")[0] == top:
                    found.append(st.module)
                continue
            base = st.module or ""
            if st.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (st.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != top:
                continue
            for name, _ in st.names:  # a submodule by name, else a name the base defines
                sub = f"{base}.{name}"
                found.append(sub if _module_path(sub, folder) is not None else base)
        return found

    return _reachable(module, imported)


def code_dependencies(module: str, packages: Iterable[str] = PROJECT_PACKAGES) -> list[str]:
    """The module names a result made by ``module`` depends on across the project's top-level
    ``packages``: ``module`` and every module of another of those packages that it imports,
    directly or through the modules it reaches (read from the source, not executed). Pass the
    list to :func:`code_fingerprint` (each name then brings its closure in its own package).

    A name imported from another package's ``__init__`` (``from circuits import Simulator``)
    is traced to the module the ``__init__`` imports it from (``circuits.simulator``), so that
    a result does not depend on the whole package; a name the ``__init__`` defines itself, or
    one it imports lazily, brings the ``__init__`` (that is, the whole package).

    Used by the runs of ``macro.transistor`` and ``macro.gmid``, which simulate with
    ``circuits``.

    Raises
    ------
    ValueError
        When ``module`` is not in one of ``packages``.
    """
    tops = tuple(packages)
    if module.split(".")[0] not in tops:
        raise ValueError(f"{module!r} is not in the packages {list(tops)}")
    folders = {top: package_folder(top) for top in tops}

    def statements(name: str) -> tuple[_ImportStatement, ...]:
        folder = folders.get(name.split(".")[0])
        path = _module_path(name, folder) if folder is not None else None
        return (_imports(path) or ()) if path is not None else ()

    def origin(top: str, name: str) -> str:
        """The module of package ``top`` that defines ``name``, as its ``__init__`` says."""
        folder = folders[top]
        if folder is not None and _module_path(f"{top}.{name}", folder) is not None:
            return f"{top}.{name}"
        for st in statements(top):  # top-level imports only: lazy ones are not traced
            if st.top_level and st.is_from and st.level == 1 and st.module and any(
                    (asname or imported) == name for imported, asname in st.names):
                return f"{top}.{st.module}"
        return top

    def modules(name: str) -> set[str]:
        """``name`` with its closure in its package; a whole package: all its modules."""
        top = name.split(".")[0]
        folder = folders[top]
        if name != top or folder is None:
            return _import_closure(name, top)
        return {".".join((top, *p.relative_to(folder).with_suffix("").parts)).removesuffix(
            ".__init__") for p in folder.rglob("*.py") if not _IGNORED_PARTS & set(p.parts)}

    def imported(current: str) -> list[str]:
        """The modules of the other packages that ``current`` (with its closure) imports."""
        top = current.split(".")[0]
        found: list[str] = []
        for name in modules(current):
            for st in statements(name):
                if st.level or not st.module:
                    continue
                other = st.module.split(".")[0]
                if other not in tops or other == top:
                    continue
                if not st.is_from:
                    found.append(st.module)
                elif st.module == other:
                    found += [origin(other, n) for n, _ in st.names]
                else:  # a submodule by name, else a name the module defines
                    folder = folders[other]
                    found += [f"{st.module}.{n}" if folder is not None and _module_path(
                        f"{st.module}.{n}", folder) is not None else st.module
                        for n, _ in st.names]
        return found

    seen = _reachable(module, imported)
    wholes = {name for name in seen if "." not in name}
    closures = {name: modules(name) for name in seen}
    # a module that a kept one already holds adds nothing (whole packages first, then the
    # largest closures); a whole package is never dropped
    kept: list[str] = []
    covered: set[str] = set()
    for name in sorted(seen, key=lambda n: (n not in wholes, -len(closures[n]), n)):
        if name in wholes or (name not in covered and name.split(".")[0] not in wholes):
            kept.append(name)
            covered |= closures[name]
    return sorted(kept)


def code_fingerprint(packages: Iterable[str]) -> dict:
    """The fingerprint of the code a run depends on: ``{"packages": [...], "files": {path:
    sha256}}`` over the files of ``packages``, package or module names (:func:`code_files`).

    A run records it in its provenance; :func:`stale_files` compares it with the code of now.
    """
    packages = sorted(set(packages))
    files = {rel: hashlib.sha256(path.read_bytes()).hexdigest()
             for rel, path in code_files(packages).items()}
    return {"packages": packages, "files": files}


def stale_files(recorded: Mapping, current: Mapping | None = None) -> list[str]:
    """The files whose hash differs between a recorded fingerprint and the current code
    (``current``, default: :func:`code_fingerprint` of the recorded packages now), with the
    files added or removed since; empty when the code is the same."""
    current = current or code_fingerprint(recorded.get("packages", ()))
    old, new = dict(recorded.get("files", {})), dict(current.get("files", {}))
    return sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))


def ngspice_version() -> dict:
    """Which ngspice runs the simulations: the version the ``ngspice`` program reports, the
    shared library the engine loads (the path it resolves to) and, on Debian, its package
    version; ``None`` for what cannot be found."""
    info: dict[str, str | None] = {"ngspice": None, "libngspice": None,
                                    "libngspice_package": None}
    try:
        out = subprocess.run(["ngspice", "--version"], capture_output=True, text=True,
                             timeout=20, check=False, stdin=subprocess.DEVNULL)
        found = re.search(r"ngspice-(\S+)", out.stdout + out.stderr)
        info["ngspice"] = found.group(1) if found else None
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        from .engine import locate_library
        from .errors import NgspiceNotFoundError

        try:
            library = locate_library()
        except NgspiceNotFoundError:
            library = None
    except ImportError:
        library = None
    if library:
        real = os.path.realpath(library) if os.path.exists(library) else library
        info["libngspice"] = real
        try:
            owner = subprocess.run(["dpkg-query", "-S", real], capture_output=True, text=True,
                                   timeout=10, check=False)
            package = owner.stdout.split(":", 1)[0].strip() if owner.returncode == 0 else ""
            if package:
                version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                                         capture_output=True, text=True, timeout=10,
                                         check=False)
                if version.returncode == 0:
                    info["libngspice_package"] = f"{package} {version.stdout.strip()}"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return info


def provenance(*, seed: int | None = None, wall_s: float | None = None,
               started: datetime | None = None, code: Iterable[str] = ()) -> dict:
    """Where and how a result is made: git commit, versions (ngspice's included), machine,
    seed, timing, and the fingerprint of the packages ``code`` it depends on."""
    versions = {"python": sys.version.split()[0]}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions.update(ngspice_version())
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
        "code": code_fingerprint(code),
    }


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=False)


@dataclass(frozen=True)
class Run:
    """A result with its inputs and provenance, saved or just computed.

    ``stale`` is ``True`` when the code the run depends on has changed since it was made
    (``changed`` lists the files), ``False`` when it has not, ``None`` when that cannot be told
    (no fingerprint, and a commit git does not know).
    """

    name: str
    config: dict
    metrics: dict
    provenance: dict
    saved: bool
    stale: bool | None = False
    changed: tuple[str, ...] = field(default=())

    @property
    def mode(self) -> str:
        return str(self.config.get("mode", "quick"))

    @property
    def commit(self) -> str:
        """The short commit the run was made at (``"unknown"`` without one)."""
        return (self.provenance.get("git_commit") or "unknown")[:8]

    def wall_time(self) -> str:
        """The run's wall time in words: seconds, minutes or hours."""
        wall = self.provenance.get("wall_s")
        if wall is None:
            return "an unknown time"
        return (f"{wall:.0f} s" if wall < 120 else f"{wall / 60:.0f} min" if wall < 7200
                else f"{wall / 3600:.1f} h")

    def machine(self) -> str:
        """The machine in words: CPU count and model."""
        machine = self.provenance.get("machine", {})
        return f"{machine.get('cpus', '?')} {machine.get('cpu', 'unknown')} CPUs"

    def status(self) -> str:
        """``"current"``, ``"stale"`` or ``"unknown"`` (whether its code changed since)."""
        return {False: "current", True: "stale", None: "unknown"}[self.stale]

    def describe(self) -> str:
        """Where the figures come from, for the book's text (plain text, for ``{glue:text}``):
        the mode, and for a saved run its commit, date, wall time and machine, and whether the
        code has changed since."""
        p = self.provenance
        if not self.saved:
            return f"in this build, in quick mode ({self.wall_time()} on {self.machine()})"
        dirty = " with local changes" if p.get("git_dirty") else ""
        day = str(p.get("started", ""))[:10]
        text = (f"in a saved {self.mode}-mode run (commit {self.commit}{dirty}, {day}; "
                f"{self.wall_time()} on {self.machine()})")
        if self.stale:
            shown = ", ".join(self.changed[:3])
            more = f" and {len(self.changed) - 3} more files" if len(self.changed) > 3 else ""
            text += (f", made by older code ({shown}{more} changed since commit "
                     f"{self.commit}; make refresh re-runs it)")
        elif self.stale is None:
            text += ", made by code this build cannot compare with its own"
        return text


def run_packages(name: str, prov: Mapping, code: Iterable[str] | None = None) -> list[str]:
    """The packages a run depends on: ``code`` when given, else those its fingerprint
    records, else the first part of its name (``"circuits/bench"`` -> ``["circuits"]``)."""
    if code is not None:
        return sorted(set(code))
    recorded = (prov.get("code") or {}).get("packages")
    return sorted(recorded) if recorded else [name.split("/", 1)[0]]


def staleness(name: str, prov: Mapping, code: Iterable[str] | None = None
              ) -> tuple[bool | None, tuple[str, ...]]:
    """Whether a saved run's code changed since it was made, and the changed files.

    With a recorded fingerprint the files are compared by hash (:func:`stale_files`; the
    packages asked for now, ``code``, are included). Without one (a run from before
    fingerprints), git compares the packages' files at the run's commit with the working tree;
    ``(None, ())`` when git cannot tell.
    """
    packages = run_packages(name, prov, code)
    recorded = prov.get("code")
    if recorded and recorded.get("files") is not None:
        try:
            changed = stale_files(recorded)
        except ValueError:  # a recorded package no longer exists
            return True, tuple(f"{p} (gone)" for p in recorded.get("packages", ()))
        if packages != sorted(recorded.get("packages", ())):
            changed.append(f"dependencies now {', '.join(packages)}")
        return bool(changed), tuple(changed)
    commit = prov.get("git_commit")
    if not commit or _git("cat-file", "-e", f"{commit}^{{commit}}") is None:
        return None, ()
    try:
        files = [os.path.relpath(path, project_root()) for path in code_files(packages).values()]
    except ValueError:
        return None, ()
    diff = _git("diff", "--name-only", commit, "--", *files) if files else None
    if diff is None:
        return None, ()
    changed = tuple(sorted(line for line in diff.splitlines() if line.strip()))
    return bool(changed), changed


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


def load_run(name: str, config: Mapping, root: Path | None = None,
             code: Iterable[str] | None = None, *, current: bool = False) -> Run | None:
    """The saved run ``name`` when its recorded inputs equal ``config``, else ``None``; its
    ``stale`` field says whether the code (packages ``code``, default: those it recorded) has
    changed since it was made (:func:`staleness`). With ``current``, a run made by older code
    counts as absent too (for a caller about to compute it anew).

    A folder without ``config.json`` (an interrupted save), or with unreadable files, counts
    as absent.
    """
    run = read_run(name, root, code)
    if run is None or _canonical(run.config) != _canonical(dict(config)):
        return None
    if current and run.stale is True:
        return None
    return run


def read_run(name: str, root: Path | None = None, code: Iterable[str] | None = None
             ) -> Run | None:
    """The saved run ``name`` whatever its inputs (``None`` when absent or unreadable), with
    its staleness."""
    folder = (root or results_root()) / name
    try:
        saved = json.loads((folder / "config.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
        prov = json.loads((folder / "provenance.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or not isinstance(prov, dict):
        return None
    stale, changed = staleness(name, prov, code)
    return Run(name, saved, metrics, prov, saved=True, stale=stale, changed=changed)


def load_or_run(name: str, full: Mapping, quick: Mapping,
                compute: Callable[..., Mapping], *, full_mode: bool, seed: int | None = None,
                root: Path | None = None, code: Sequence[str] | None = None) -> Run:
    """The run ``name`` for a notebook: computed and saved in full mode; in quick mode the
    saved full run when its inputs equal ``full`` (stale or not: :class:`Run` says), else
    computed with ``quick`` (not saved).

    ``full`` and ``quick`` are keyword arguments of ``compute``; the recorded config adds
    ``mode``. ``code`` names the packages or modules the result depends on (default: the
    module of ``compute`` and, for a module of the project, the modules of its other packages
    that it imports (:func:`code_dependencies`: a MACRO benchmark that simulates through
    ``circuits`` depends on the engine); each with what it imports from its package and the
    package's data files, :func:`code_files`); their fingerprint is recorded.
    """
    if code is None:
        module = compute.__module__
        code = (code_dependencies(module) if module.split(".")[0] in PROJECT_PACKAGES
                else [module])
    code = list(code)
    full_config = {**full, "mode": "full"}
    if not full_mode:
        stored = load_run(name, full_config, root, code)
        if stored is not None:
            return stored
    kwargs = dict(full if full_mode else quick)
    started, t0 = datetime.now(UTC), time.perf_counter()
    # as JSON gives it back: a full run and a quick build that loads it see the same data
    metrics = json.loads(json.dumps(json_safe(compute(**kwargs)), allow_nan=False))
    prov = provenance(seed=seed, wall_s=time.perf_counter() - t0, started=started, code=code)
    if full_mode:
        save_run(name, full_config, metrics, prov, root)
        return Run(name, full_config, metrics, prov, saved=True)
    return Run(name, {**quick, "mode": "quick"}, metrics, prov, saved=False)


def saved_runs(root: Path | None = None) -> list[Run]:
    """Every saved run under ``root`` (default :func:`results_root`): each folder holding a
    ``config.json``, named by its path below ``root``, with its staleness; sorted by name."""
    root = root or results_root()
    runs = []
    for config in sorted(root.rglob("config.json")) if root.is_dir() else ():
        rel = config.parent.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # a staging folder of a save in progress
        run = read_run(rel.as_posix(), root)
        if run is not None:
            runs.append(run)
    return runs


def quoting_notebooks(name: str, book: Path | None = None) -> list[Path]:
    """The notebooks of the book (``book/**/*.ipynb``) whose code quotes the run ``name``: its
    name as a string literal, or a folder of runs that holds it as a string literal ending in
    ``/`` (``"macro/experiment/full/"`` quotes every run saved below that folder, for a notebook
    that loads runs through a library function)."""
    book = book or project_root() / "book"
    folders = [name[:i + 1] for i, char in enumerate(name) if char == "/"]
    quoted = "|".join(re.escape(n) for n in (name, *folders))
    pattern = re.compile(r"""(['"])(?:""" + quoted + r")\1")
    found = []
    for notebook in sorted(book.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        try:
            cells = json.loads(notebook.read_text()).get("cells", [])
        except (OSError, ValueError):
            continue
        if any(pattern.search("".join(c.get("source", ""))) for c in cells
               if c.get("cell_type") == "code"):
            found.append(notebook)
    return found
