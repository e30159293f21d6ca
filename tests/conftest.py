"""Shared fixtures: one pool of real ngspice workers for the whole test session, and a copy of
the project's saved results for the tests to read and write."""

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session", autouse=True)
def _saved_results_copy(tmp_path_factory):
    """Tests see the project's saved results through ``$BOOK_RESULTS`` pointing at a copy:
    what a test computes and saves (a stale table made again, a run folder) lands in the copy,
    never in ``results/``. A ``BOOK_RESULTS`` set by the caller is kept."""
    previous = os.environ.get("BOOK_RESULTS")
    if previous:
        yield
        return
    source = Path(__file__).resolve().parents[1] / "results"
    copy = tmp_path_factory.mktemp("saved") / "results"
    if source.is_dir():
        shutil.copytree(source, copy)
    else:
        copy.mkdir()
    os.environ["BOOK_RESULTS"] = str(copy)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("BOOK_RESULTS", None)
        else:
            os.environ["BOOK_RESULTS"] = previous


@pytest.fixture(scope="session")
def sim():
    """A two-worker simulator with a short timeout (real ngspice)."""
    from circuits import Simulator

    with Simulator(workers=2, timeout=20.0) as s:
        yield s
