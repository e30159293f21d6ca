"""AC measurements against responses with known answers (no simulator involved)."""

import math

import numpy as np
import pytest

from circuits.results import MeasurementError, fom, measure_ac


def _grid():
    return np.logspace(-1, 11, 12 * 20 + 1)


def test_single_pole_amplifier():
    a0, fp = 1e4, 1e3  # 80 dB, GBW 10 MHz
    f = _grid()
    h = a0 / (1 + 1j * f / fp)
    m = measure_ac(f, h)
    assert m.gain_db == pytest.approx(80.0, abs=1e-3)
    ugbw = fp * math.sqrt(a0**2 - 1)
    assert m.ugbw_hz == pytest.approx(ugbw, rel=2e-3)
    assert m.pm_deg == pytest.approx(180 - math.degrees(math.atan(ugbw / fp)), abs=0.05)


def test_two_pole_amplifier_phase_margin():
    a0, p1, p2 = 1e3, 1e4, 2e7
    f = _grid()
    h = a0 / ((1 + 1j * f / p1) * (1 + 1j * f / p2))
    # exact crossing by bisection on |H| = 1
    lo, hi = 1e5, 1e9
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if abs(a0 / ((1 + 1j * mid / p1) * (1 + 1j * mid / p2))) > 1:
            lo = mid
        else:
            hi = mid
    exact_pm = 180 - math.degrees(math.atan(lo / p1) + math.atan(lo / p2))
    m = measure_ac(f, h)
    assert m.ugbw_hz == pytest.approx(lo, rel=5e-3)
    assert m.pm_deg == pytest.approx(exact_pm, abs=0.3)


def test_no_crossing_gives_none():
    f = _grid()
    m = measure_ac(f, 0.5 / (1 + 1j * f / 1e3))
    assert m.ugbw_hz is None and m.pm_deg is None
    assert m.gain_db == pytest.approx(20 * math.log10(0.5), abs=1e-3)


def test_inverted_output_is_refused():
    f = _grid()
    with pytest.raises(MeasurementError, match="inverted"):
        measure_ac(f, -100 / (1 + 1j * f / 1e3))


def test_fom_is_one_at_the_reference_and_quadratic_in_gbw():
    assert fom(1e6, 1e-4, 1e6, 1e-4) == 1.0
    assert fom(2e6, 1e-4, 1e6, 1e-4) == pytest.approx(4.0)
    assert fom(1e6, 2e-4, 1e6, 1e-4) == pytest.approx(0.5)
