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


def test_a_late_resonant_crossing_sets_the_phase_margin():
    # 80 dB, dominant pole at 1 kHz, then a Q = 5 resonance at 30 MHz that lifts |H| above 1
    # again: the second crossing has a negative margin and decides stability
    f = _grid()
    s = 1j * f
    w0, q = 2 * math.pi * 30e6, 5.0
    h = 1e4 / (1 + s / (2 * math.pi * 1e3)) * w0**2 / (s**2 + s * w0 / q + w0**2)
    mag = np.abs(h)
    down = np.nonzero((mag[:-1] > 1) & (mag[1:] <= 1))[0]
    assert down.size >= 2  # the response does cross twice
    m = measure_ac(f, h)
    # the sweep up to the first crossing and the point after it (the cubic's four points)
    first = measure_ac(f[: down[0] + 3], h[: down[0] + 3])
    assert m.ugbw_hz == pytest.approx(first.ugbw_hz)  # the bandwidth is the first crossing
    assert first.pm_deg > 60
    assert m.pm_deg < 0  # but the margin is the worst crossing's


def test_gain_below_one_at_low_frequency_has_no_bandwidth():
    f = _grid()
    s = 1j * f
    w0 = 2 * math.pi * 1e6
    h = 0.5 * w0**2 / (s**2 + s * w0 / 10 + w0**2)  # -6 dB, peaking to +14 dB at 1 MHz
    assert np.abs(h).max() > 1
    m = measure_ac(f, h)
    assert m.ugbw_hz is None and m.pm_deg is None


def test_sweep_starting_above_the_dominant_pole_is_refused():
    f = np.logspace(4, 10, 121)  # the pole at 1 kHz is below the first frequency
    with pytest.raises(MeasurementError, match="above the dominant pole"):
        measure_ac(f, 1e4 / (1 + 1j * f / 1e3))
    m = measure_ac(f, 1e4 / (1 + 1j * f / 1e5))  # 5.7 deg at 10 kHz: fine
    assert m.gain_db == pytest.approx(80 - 10 * math.log10(1.01), abs=1e-6)


@pytest.mark.parametrize(("f", "h", "match"), [
    ([1.0, 10.0, 100.0], [10, 5, 0j], "zero at 100 Hz"),
    ([1.0, 10.0, 10.0], [10, 5, 1], "increasing"),
    ([0.0, 10.0, 100.0], [10, 5, 1], "positive"),
    ([1.0, 10.0, 100.0], [10, np.nan, 1], "not finite"),
])
def test_unmeasurable_responses_are_measurement_errors(f, h, match):
    with pytest.raises(MeasurementError, match=match):
        measure_ac(np.array(f), np.array(h, dtype=complex))
