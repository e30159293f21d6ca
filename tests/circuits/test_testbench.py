"""Bench settings are checked before a netlist is written."""

import math

import pytest

from circuits import BenchSettings, ParameterError


@pytest.mark.parametrize("kwargs", [
    {"vcm": math.nan}, {"load_cap": -1e-12}, {"load_cap": 0.0}, {"f_start": 0.0},
    {"f_start": 1e6, "f_stop": 1e3}, {"f_stop": math.inf}, {"points_per_decade": 0},
    {"points_per_decade": 2.5}, {"temperature": math.nan}, {"temperature": -300.0},
])
def test_unphysical_bench_settings_are_refused(kwargs):
    with pytest.raises(ParameterError, match="bench settings"):
        BenchSettings(**kwargs)


def test_default_and_sensible_settings_are_accepted():
    BenchSettings()
    BenchSettings(vcm=0.5, load_cap=2e-12, f_start=1.0, f_stop=1e10, points_per_decade=20,
                  temperature=85.0)
