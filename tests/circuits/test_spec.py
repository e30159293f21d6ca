"""Design specifications."""

import pytest

from circuits import Spec, SpecError


def test_spec_checks_a_result(sim):
    res = sim.simulate("two_stage", "45nm")
    assert Spec(min_pm_deg=60, saturation=True).met(res)
    v = Spec(min_gain_db=200, max_power_w=1e-9).violations(res)
    assert len(v) == 2 and "gain" in v[0] and "power" in v[1]
    bad = sim.simulate("two_stage", "45nm", {"w12": 1.0})
    assert Spec().violations(bad)[0].startswith("simulation failed")


@pytest.mark.parametrize("data", [{"min_gain_db": "high"}, {"min_pm": 60},
                                  {"max_power_w": -1.0}, {"min_ugbw_hz": float("nan")},
                                  {"saturation": "yes"}, ["min_gain_db"],
                                  {"min_gain_db": 10**400}])
def test_malformed_specs_raise(data):
    with pytest.raises(SpecError):
        Spec.from_dict(data)


def test_spec_from_json(tmp_path):
    p = tmp_path / "spec.json"
    p.write_text('{"min_gain_db": 85, "min_pm_deg": 55}')
    assert Spec.from_json(p) == Spec(min_gain_db=85, min_pm_deg=55)
    p.write_text("{not json")
    with pytest.raises(SpecError, match="cannot read"):
        Spec.from_json(p)


def test_unmeasured_metrics_and_missing_transistors_are_violations():
    import math

    from circuits import SimulationResult

    res = SimulationResult(ok=True, circuit="x", technology="45nm", params={}, gain_db=math.nan,
                           ugbw_hz=None, pm_deg=None, power_w=1e-4)
    v = Spec(min_gain_db=60, min_ugbw_hz=1e6, min_pm_deg=60, max_power_w=1e-3,
             saturation=True).violations(res)
    assert sorted(v) == sorted(["gain not measured", "UGBW not measured",
                                "phase margin not measured",
                                "no transistor operating point to check saturation on"])
