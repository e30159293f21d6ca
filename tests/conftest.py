"""Shared fixtures: one pool of real ngspice workers for the whole test session."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def sim():
    """A two-worker simulator with a short timeout (real ngspice)."""
    from circuits import Simulator

    with Simulator(workers=2, timeout=20.0) as s:
        yield s
