"""What the book says about itself: how it was built, which saved runs it quotes and whether they
are current, and what each part of it implements so far.

Used by the book pages "Reproducibility" (:func:`build_info`, :func:`runs_table`) and "Status"
(:func:`feature_status`, :func:`status_table`, :func:`status_box`), and by ``make stale`` /
``make refresh`` through the command line::

    python -m circuits.bookinfo list           # every saved run and whether it is current
    python -m circuits.bookinfo stale          # the stale ones, their changed files, notebooks
    python -m circuits.bookinfo refresh-list   # the notebooks that quote a stale run

Each part of the book keeps a registry of the paper's sections and features it must cover, as
plain data in its package (``lorarl/status.py``, ``macro/status.py``): a tuple ``FEATURES`` of
``(section, feature, target)`` entries, ``target`` the dotted path ``"package.module:attribute"``
of the object that implements the feature. A feature is *implemented* when its target imports
and a test under ``tests/`` imports the target's module and names the attribute; *untested* when
it exists but no such test does; *not yet* when it does not exist. Nothing in the status page is
typed by hand.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from .notebook import quick_mode
from .runs import PACKAGES, Run, _cpu_model, _git, ngspice_version, project_root, saved_runs

#: Packages of the book's tool chain listed on the reproducibility page, beside :data:`PACKAGES`.
BOOK_PACKAGES = ("jupyter-book", "myst-nb", "Sphinx", "sphinxcontrib-bibtex", "papermill",
                 "schemdraw", "networkx", "playwright")
#: Parts of the book with a feature registry (``<package>/status.py``), in book order.
PARTS = {"lorarl": "LoRA-RL", "macro": "MACRO"}


# --- the build -----------------------------------------------------------------------------

def build_info() -> dict:
    """How this build is made: commit (and local changes), date, mode, versions of Python, the
    numerical packages, the book's tool chain and ngspice, and the machine.

    Used by the book page "Reproducibility".
    """
    versions = {"python": sys.version.split()[0]}
    for package in (*PACKAGES, *BOOK_PACKAGES):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    status = _git("status", "--porcelain")
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    return {
        "commit": _git("rev-parse", "HEAD"),
        "commit_date": _git("log", "-1", "--format=%cI"),
        "dirty": None if status is None else bool(status),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick_mode() else "full",
        "versions": versions,
        "ngspice": ngspice_version(),
        "machine": {"cpu": _cpu_model(), "cpus": os.cpu_count(), "memory_gb": memory_gb,
                    "system": f"{platform.system()} {platform.release()}",
                    "arch": platform.machine()},
    }


def runs_table(runs: Sequence[Run] | None = None) -> list[list[str]]:
    """Rows (run, mode, commit, made: date, wall time and machine, status, quoted by) of every
    saved run (:func:`circuits.runs.saved_runs`) for the book's table of saved runs.

    Used by the book page "Reproducibility".
    """
    from .runs import quoting_notebooks

    rows = []
    root = project_root()
    for r in saved_runs() if runs is None else runs:
        day = str(r.provenance.get("started", ""))[:10]
        status = r.status()
        if r.stale:
            n = len(r.changed)
            status += f" ({n} file{'' if n == 1 else 's'} changed)"
        quoted = ", ".join(f"`{os.path.relpath(nb, root / 'book')}`"
                           for nb in quoting_notebooks(r.name)) or "none"
        rows.append([f"`{r.name}`", r.mode, f"`{r.commit}`",
                     f"{day}, {r.wall_time()} on {r.machine()}", status, quoted])
    return rows


# --- what each part implements ---------------------------------------------------------------

@dataclass(frozen=True)
class FeatureStatus:
    """One registry entry checked against the code."""

    section: str
    """The paper's section (e.g. ``"3.1"`` or ``"III-A"``)."""
    feature: str
    """What the paper describes there, in a few words."""
    target: str
    """Dotted path ``"package.module:attribute"`` of the implementing object."""
    exists: bool
    """Whether the target imports and has the attribute."""
    tested: bool
    """Whether a test file under ``tests/`` imports the target's module and names the
    attribute (:func:`names_target`)."""
    reason: str = ""
    """Why the target is missing, or the error importing it raised."""

    @property
    def state(self) -> str:
        """``"implemented"``, ``"untested"`` or ``"not yet"``."""
        if not self.exists:
            return "not yet"
        return "implemented" if self.tested else "untested"


def resolve(target: str) -> object:
    """The object at ``"package.module:attribute.sub"``.

    Raises
    ------
    ValueError
        When ``target`` has no ``:`` or is empty on either side.
    ImportError, AttributeError
        When the module or the attribute does not exist.
    """
    module, sep, attribute = target.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"a target is 'package.module:attribute', not {target!r}")
    obj: object = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@cache
def _test_sources(tests: Path) -> tuple[str, ...]:
    return tuple(p.read_text(errors="replace") for p in sorted(tests.rglob("test_*.py")))


def names_target(source: str, target: str) -> bool:
    """Whether the source of a test file imports the module of ``target``
    (``"package.module:attribute"``) and names the attribute (its last part, as a word).

    The module counts as imported when its dotted name appears (``from macro.solver import
    evaluate``, ``import macro.solver``) or when its package imports it by name (``from lorarl
    import analysis as A``). A test that only mentions a common word (``train``, ``score``) in
    another context does not count.

    Used by :func:`feature_status` (book page "Status").
    """
    module, _sep, attribute = target.partition(":")
    name = attribute.rpartition(".")[2]
    package, _dot, last = module.rpartition(".")
    imported = re.search(rf"(?<![\w.]){re.escape(module)}\b", source) is not None
    if not imported and package:
        imported = re.search(rf"\bfrom\s+{re.escape(package)}\s+import\s+\(?[\w\s,]*?"
                             rf"\b{re.escape(last)}\b", source) is not None
    return imported and re.search(rf"\b{re.escape(name)}\b", source) is not None


def feature_status(entries: Iterable[Sequence[str]], tests: Path | None = None
                   ) -> list[FeatureStatus]:
    """Check registry entries ``(section, feature, target)``: does the target exist, and does a
    test (``tests/**/test_*.py``, default the project's) import its module and name its
    attribute (:func:`names_target`)?

    An import that fails for another reason than a missing module (a bug in a module being
    written) counts as missing, with the error as the reason.

    Used by the book page "Status" and the status boxes of the LoRA-RL and MACRO parts.
    """
    sources = _test_sources(tests or project_root() / "tests")
    out = []
    for section, feature, target in entries:
        try:
            resolve(target)
            exists, reason = True, ""
        except (ImportError, AttributeError) as error:
            exists, reason = False, f"{type(error).__name__}: {error}"
        except Exception as error:  # a broken module is "not yet", with the reason
            exists, reason = False, f"{type(error).__name__} on import: {error}"
        tested = exists and any(names_target(text, target) for text in sources)
        out.append(FeatureStatus(section, feature, target, exists, tested, reason))
    return out


def registry(package: str) -> tuple[tuple[str, str, str], ...]:
    """The feature registry ``FEATURES`` of ``<package>.status``."""
    return tuple(importlib.import_module(f"{package}.status").FEATURES)


def status_table(statuses: Sequence[FeatureStatus]) -> list[list[str]]:
    """Rows (section, feature, target, state) for a Markdown table.

    Used by the book page "Status"."""
    mark = {"implemented": "implemented", "untested": "exists, no test names it",
            "not yet": "not yet"}
    return [[s.section, s.feature, f"`{s.target}`", mark[s.state]] for s in statuses]


def status_box(package: str, statuses: Sequence[FeatureStatus] | None = None) -> str:
    """A short Markdown note for the top of a part: how many of the features its registry
    lists (or ``statuses``, default :func:`feature_status` of the registry) are implemented and
    tested, exist without a test, or do not exist yet.

    Used by the parts "LoRA-RL" and "MACRO" (glued from the page "Status")."""
    if statuses is None:
        statuses = feature_status(registry(package))
    count = {state: sum(s.state == state for s in statuses)
             for state in ("implemented", "untested", "not yet")}

    def are(n: int) -> str:
        return f"{n} is" if n == 1 else f"{n} are"

    text = (f"Of the {len(statuses)} features of {PARTS.get(package, package)} that this book "
            f"tracks, {are(count['implemented'])} implemented and tested")
    if count["untested"]:
        one = count["untested"] == 1
        text += (f", {count['untested']} {'exists' if one else 'exist'} without a test that "
                 f"names {'it' if one else 'them'}")
    if count["not yet"]:
        missing = [s.feature for s in statuses if s.state == "not yet"]
        text += f", and {are(count['not yet'])} not implemented yet (first: {missing[0]})"
    return text + "."


# --- command line ---------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m circuits.bookinfo list|stale|refresh-list [--root DIR]``: every saved run
    with its status; the stale (or undecidable) ones with their changed files and quoting
    notebooks; or only the notebooks to re-run, one per line (for ``make refresh``)."""
    from .runs import quoting_notebooks

    parser = argparse.ArgumentParser(prog="python -m circuits.bookinfo",
                                     description="Saved runs of the book and their staleness.")
    parser.add_argument("command", choices=("list", "stale", "refresh-list"))
    parser.add_argument("--root", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    runs = saved_runs(args.root)
    root = project_root()
    if args.command == "refresh-list":
        notebooks = {nb for r in runs if r.stale is not False for nb in quoting_notebooks(r.name)}
        for notebook in sorted(notebooks):
            print(os.path.relpath(notebook, root))
        return 0
    shown = runs if args.command == "list" else [r for r in runs if r.stale is not False]
    for r in shown:
        day = str(r.provenance.get("started", ""))[:10]
        print(f"{r.name}: {r.status()} ({r.mode} mode, commit {r.commit}, {day}, "
              f"{r.wall_time()} on {r.machine()})")
        for path in r.changed:
            print(f"    changed: {path}")
        for notebook in quoting_notebooks(r.name):
            print(f"    quoted by: {os.path.relpath(notebook, root)}")
    if args.command == "stale" and not shown:
        print("no stale runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
