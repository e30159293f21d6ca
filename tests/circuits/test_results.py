"""AC measurements against responses with known answers (no simulator involved)."""

import math

import numpy as np
import pytest

from circuits.results import MeasurementError, ac_values, fom, measure_ac


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


def _whole_array_metrics(f, h, interpolation):
    """The measurement written with whole-array operations throughout (the phase unwrapped at
    every point, the logarithms of every point): the form :func:`ac_values` must equal."""
    mag = np.abs(h)
    angle0 = math.atan2(h[0].imag, h[0].real)
    phase0 = angle0 * (180.0 / math.pi)
    gain_db = 20 * math.log10(mag[0])
    above = mag > 1.0
    crossings = np.flatnonzero(above[:-1] & ~above[1:])
    if crossings.size == 0 or mag[0] <= 1:
        return gain_db, None, None
    step = h[1:] / h[:-1]
    phase = np.concatenate([[angle0], np.cumsum(np.arctan2(step.imag, step.real)) + angle0])
    phase = phase * (180.0 / math.pi) - 360 * round(phase0 / 360)
    log_f, log_m = np.log10(f).tolist(), np.log10(mag).tolist()
    found = []
    for i in crossings.tolist():
        if interpolation == "linear":
            t = log_m[i] / (log_m[i] - log_m[i + 1])
            found.append((log_f[i] + t * (log_f[i + 1] - log_f[i]),
                          180.0 + phase[i] + t * (phase[i + 1] - phase[i])))
            continue
        s = min(max(i - 1, 0), f.size - 4)
        xs, ys, ps = log_f[s:s + 4], log_m[s:s + 4], phase[s:s + 4].tolist()

        def cubic(values, x, xs=xs):  # Lagrange form, the products in the same order
            terms = []
            for k in range(4):
                den = 1.0
                for j in range(4):
                    if j != k:
                        den *= xs[k] - xs[j]
                terms.append(values[k] / den)
            d = [x - xk for xk in xs]
            return (terms[0] * d[1] * d[2] * d[3] + terms[1] * d[0] * d[2] * d[3]
                    + terms[2] * d[0] * d[1] * d[3] + terms[3] * d[0] * d[1] * d[2])

        a, b, fa, fb = xs[i - s], xs[i + 1 - s], ys[i - s], ys[i + 1 - s]
        x, side = b, 0
        for _ in range(60 if fb != 0.0 else 0):
            x = b - fb * (b - a) / (fb - fa)
            fx = cubic(ys, x)
            if abs(fx) < 1e-15 or b - a < 1e-13:
                break
            if (fx > 0) == (fa > 0):
                a, fa = x, fx
                if side == -1:
                    fb /= 2
                side = -1
            else:
                b, fb = x, fx
                if side == 1:
                    fa /= 2
                side = 1
        found.append((x, 180.0 + cubic(ps, x)))
    return gain_db, 10 ** found[0][0], min(pm for _, pm in found)


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
def test_the_lean_measurement_equals_the_whole_array_form_bit_for_bit(interpolation):
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(400):
        f = np.logspace(-1, 11, 12 * int(rng.integers(3, 25)) + 1)
        s = 1j * f
        h = 10 ** rng.uniform(0, 5) / ((1 + s / 10 ** rng.uniform(0, 4))
                                      * (1 + s / 10 ** rng.uniform(5, 9))
                                      * (1 + s / 10 ** rng.uniform(6, 10)))
        if rng.random() < 0.3:  # a resonance: several crossings
            w0, q = 10 ** rng.uniform(7, 10), rng.uniform(0.5, 20)
            h = h * w0**2 / (s**2 + s * w0 / q + w0**2) * rng.uniform(0.5, 3)
        lean = ac_values(f, h, interpolation)
        assert lean == _whole_array_metrics(f, h, interpolation)
        m = measure_ac(f, h, interpolation)
        assert (m.gain_db, m.ugbw_hz, m.pm_deg) == lean
        compared += lean[1] is not None
    assert compared > 300


def test_a_grid_is_checked_whatever_grid_was_measured_before():
    f = _grid()
    h = 1e4 / (1 + 1j * f / 1e3)
    first = ac_values(f, h)
    shifted = f * 1.5  # another grid: its own logarithms
    assert ac_values(shifted, h) == _whole_array_metrics(shifted, h, "cubic")
    assert ac_values(f, h) == first
    bad = f.copy()
    bad[5] = bad[4]
    with pytest.raises(MeasurementError, match="increasing"):
        ac_values(bad, h)
    with pytest.raises(MeasurementError, match="increasing"):
        ac_values(bad, h)  # refused every time, not remembered as checked
