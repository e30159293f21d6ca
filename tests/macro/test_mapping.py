"""gm/Id mapping of behaviour-level designs to 180 nm transistors, checked in ngspice."""

import pytest
import torch

from circuits import Simulator
from macro.design import Design
from macro.gmid import gmid_tables
from macro.mapping import MappingError, MappingTargets, bench_settings, map_design
from macro.topology import Topology

torch.set_num_threads(1)

BASIC = Topology((0, 0, 0, 0, 0))


@pytest.fixture(scope="module")
def tables():
    return gmid_tables("180nm", save=False)


@pytest.fixture(scope="module")
def sim():
    with Simulator(workers=1) as s:
        yield s


def _stage_gain(devs, driver, load):
    d, lo = devs[f"M{driver}"], devs[f"M{load}"]
    return d.gm / (d.gds + lo.gds)


def test_stages_land_within_ten_percent_of_target_gm_and_gain(tables, sim):
    """A differential pair (main1) and two common-source stages (main2, main3) mapped from
    their target gm and gain gm*R: ngspice's operating point gives gm and gm / (gds_driver +
    gds_load) within 10 %."""
    d = Design(BASIC, {"g1": 2e-4, "rscl1": 50, "g2": 5e-5, "rscl2": 70, "g3": 3e-4,
                       "rscl3": 45})
    m = map_design(d, tables=tables)
    r = sim.simulate(m.amplifier, "180nm", m.params, settings=bench_settings())
    assert r.ok, r.reason
    devs = r.devices
    checks = {"main1": ("main1_b", "main1_e", 2e-4, 50), "main2": ("main2_a", "main2_l", 5e-5, 70),
              "main3": ("main3_a", "main3_l", 3e-4, 45)}
    for stage, (drv, load, gm, gain) in checks.items():
        assert devs[f"M{drv}"].gm == pytest.approx(gm, rel=0.10), stage
        assert _stage_gain(devs, drv, load) == pytest.approx(gain, rel=0.10), stage
    # the whole chain: the product of the stage gains, as the bench measures it
    assert r.gain_db == pytest.approx(20 * __import__("math").log10(50 * 70 * 45), abs=2.0)


def test_basic_three_stage_simulates_in_the_bench(tables, sim):
    m = map_design(Design.default(BASIC), tables=tables)
    assert "*@param w_main1_a width" in m.netlist
    assert set(m.amplifier.parameter_names) == set(m.params)
    r = sim.simulate(m.amplifier, "180nm", m.params, settings=bench_settings())
    assert r.ok, r.reason
    assert r.gain_db > 90 and r.ugbw_hz > 1e5 and r.power_w < 250e-6
    assert r.power_w == pytest.approx(m.power_estimate, rel=0.15)


def test_extra_stages_map_and_simulate(tables, sim):
    """A feed-forward -gm from vin to vout (a second pair) and a capacitor from n1 to vout
    map to a circuit that simulates."""
    topo = Topology((0, 6, 2, 0, 0))
    d = Design(topo)
    m = map_design(d, tables=tables)
    kinds = {s.stage: s.kind for s in m.stages}
    assert kinds["vin_vout"] == "diffpair"
    r = sim.simulate(m.amplifier, "180nm", m.params, settings=bench_settings())
    assert r.ok, r.reason


def test_unrealisable_stage_is_named(tables):
    d = Design.default(BASIC)
    with pytest.raises(MappingError, match="stage main1") as e:
        map_design(d, tables=tables, targets=MappingTargets(gm_id_input=60.0))
    assert e.value.stage == "main1"
    with pytest.raises(MappingError, match="above") as e:
        map_design(d, tables=tables, targets=MappingTargets(gain_scale=20.0))
    assert e.value.stage == "main1"
    series_c = Topology((0, 8, 0, 0, 0))  # ff +gm in series with C from vin to vout
    with pytest.raises(MappingError, match="DC path") as e:
        map_design(Design(series_c), tables=tables)
    assert e.value.stage == "vin_vout"
