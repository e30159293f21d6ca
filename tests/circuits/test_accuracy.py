"""The unity-gain crossing: cubic interpolation against exact answers and a dense ngspice sweep."""

import math

import numpy as np
import pytest

from circuits import BenchSettings
from circuits.accuracy import TOLERANCE, chosen_grid, crossing_accuracy
from circuits.results import measure_ac


def _two_pole(f):
    return 1e3 / ((1 + 1j * f / 1e4) * (1 + 1j * f / 2e7))


def _exact_crossing():
    lo, hi = 1e5, 1e9
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if abs(_two_pole(mid)) > 1 else (lo, mid)
    return lo, 180 - math.degrees(math.atan(lo / 1e4) + math.atan(lo / 2e7))


def test_cubic_crossing_is_far_more_accurate_than_linear_on_a_coarse_grid():
    f = np.logspace(-1, 11, 12 * 5 + 1)  # 5 points per decade
    ugbw, pm = _exact_crossing()
    cubic, linear = (measure_ac(f, _two_pole(f), m) for m in ("cubic", "linear"))
    assert cubic.ugbw_hz == pytest.approx(ugbw, rel=3e-4)
    assert cubic.pm_deg == pytest.approx(pm, rel=4e-4)
    assert abs(linear.ugbw_hz / ugbw - 1) > 10 * abs(cubic.ugbw_hz / ugbw - 1)
    assert abs(linear.pm_deg - pm) > 5 * abs(cubic.pm_deg - pm)


def test_unknown_interpolation_is_refused():
    f = np.logspace(-1, 11, 61)
    with pytest.raises(ValueError, match="interpolation"):
        measure_ac(f, _two_pole(f), "spline")


def test_default_sweep_keeps_metrics_within_tolerance_of_a_dense_ngspice_sweep():
    default = BenchSettings().points_per_decade
    report = crossing_accuracy(["two_stage", "three_stage_nmc"], n=12, grids=(default,),
                               direct_checks=2, workers=1)
    for name, c in report["circuits"].items():
        assert c["sizings"] >= 10, name
    worst = report["worst"][str(default)]["cubic"]
    assert max(worst.values()) <= TOLERANCE
    # a coarse grid subsampled from the dense sweep is what ngspice computes at that grid
    assert report["direct_max_abs_diff"]["pm_deg"] < 1e-6
    assert report["direct_max_abs_diff"]["gain_db"] < 1e-9


def test_chosen_grid_is_the_sparsest_within_tolerance():
    def worst(e):
        return {"cubic": dict.fromkeys(("gain_db", "ugbw_hz", "pm_deg"), e)}

    report = {"worst": {"4": worst(1e-3), "8": worst(1e-4), "10": worst(1e-5)}}
    assert chosen_grid(report) == 8
    assert chosen_grid(report, margin=20) == 10
    assert chosen_grid({"worst": {"4": worst(1.0)}}) is None
