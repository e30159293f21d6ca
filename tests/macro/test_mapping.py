"""gm/Id mapping of behaviour-level designs to 180 nm transistors, checked in ngspice."""

import math

import pytest
import torch

from circuits import Simulator
from macro.design import Design
from macro.gmid import gmid_tables
from macro.mapping import MappingError, MappingTargets, map_design, simulate_mapped
from macro.solver import evaluate
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
    r = simulate_mapped(m, sim)
    assert r.ok, r.reason
    devs = r.devices
    checks = {"main1": ("main1_b", "main1_e", 2e-4, 50), "main3": ("main3_a", "main3_l", 3e-4, 45)}
    for stage, (drv, load, gm, gain) in checks.items():
        assert devs[f"M{drv}"].gm == pytest.approx(gm, rel=0.10), stage
        assert _stage_gain(devs, drv, load) == pytest.approx(gain, rel=0.10), stage
    # main2 (-gm, non-inverting): its driver's gm, and gm * R at the mirror output
    drv, out, load = devs["Mmain2_a"], devs["Mmain2_e"], devs["Mmain2_l"]
    assert drv.gm == pytest.approx(5e-5, rel=0.10)
    assert drv.gm / (out.gds + load.gds) == pytest.approx(70, rel=0.10)
    # the whole chain: the product of the stage gains, as the bench measures it
    assert r.gain_db == pytest.approx(20 * math.log10(50 * 70 * 45), abs=2.0)


def test_basic_three_stage_simulates_in_the_bench(tables, sim):
    m = map_design(Design.default(BASIC), tables=tables)
    assert "*@param w_main1_a width" in m.netlist
    assert set(m.amplifier.parameter_names) == set(m.params)
    r = simulate_mapped(m, sim)
    assert r.ok, r.reason
    assert r.gain_db > 90 and r.ugbw_hz > 1e5 and r.power_w < 250e-6
    assert r.power_w == pytest.approx(m.power_estimate, rel=0.15)


def test_extra_stages_map_and_simulate(tables, sim):
    """Feed-forward pairs from vin (either sign, one through a series R) with a capacitor from
    n1 to vout simulate from the predicted operating point (a +gm pair from vin has a second,
    latched DC solution); an R || C between n1 and vout brings the gain down as in the
    behaviour-level model."""
    for types in ((0, 5, 2, 0, 0), (0, 6, 2, 0, 0), (0, 7, 0, 0, 0)):
        m = map_design(Design(Topology(types)), tables=tables)
        assert {s.stage: s.kind for s in m.stages}["vin_vout"] == "diffpair"
        r = simulate_mapped(m, sim)
        assert r.ok, (types, r.reason)
        assert r.gain_db > 85, types
    d = Design(Topology((0, 0, 3, 0, 0)))
    r = simulate_mapped(map_design(d, tables=tables), sim)
    assert r.ok, r.reason
    assert r.gain_db == pytest.approx(evaluate([d])[0].gain_db, abs=3.0)


def test_gm_in_series_with_a_capacitor(tables, sim):
    """A gm in series with C has an internal node without a DC path of its own: from an
    internal node its load is set by a replica (either sign); from vin the pair's own balance
    holds it. Each maps and simulates, with the behaviour-level GBW within a factor 1.5."""
    for types, kind in (((0, 0, 8, 0, 0), "cs_replica"), ((0, 0, 10, 0, 0), "cs_mirror_replica"),
                        ((10, 0, 0, 0, 0), "diffpair")):
        d = Design(Topology(types))
        m = map_design(d, tables=tables)
        assert m.stages[3].kind == kind
        r = simulate_mapped(m, sim)
        assert r.ok, (types, r.reason)
        gbw = evaluate([d])[0].gbw_hz
        assert gbw / 1.5 < r.ugbw_hz < gbw * 1.5, types


def test_unrealisable_stage_is_named(tables):
    d = Design.default(BASIC)
    with pytest.raises(MappingError, match=r"stage main1: gm/Id = 60 /V is not reached") as e:
        map_design(d, tables=tables, targets=MappingTargets(gm_id_input=60.0))
    assert e.value.stage == "main1"
    with pytest.raises(MappingError, match=r"stage bias: NMOS diode width .* is outside"):
        map_design(d, tables=tables, targets=MappingTargets(i_ref=1e-9))
    with pytest.raises(MappingError, match="above") as e:
        map_design(d, tables=tables, targets=MappingTargets(gain_scale=20.0))
    assert e.value.stage == "main3"  # sized first, from the output back
    fb_from_vout = Topology((0, 0, 24, 0, 0))  # fb -gm - C: vout -> n1, mirrored
    with pytest.raises(MappingError, match="above") as e:
        map_design(Design(fb_from_vout), tables=tables)
    assert e.value.stage == "n1_vout"


def test_map_command_writes_an_amplifier_that_circuits_simulates(tmp_path, capsys):
    import json

    from circuits.cli import main as circuits_main
    from macro.cli import main
    from macro.mapcli import register_commands

    register_commands()
    register_commands()  # idempotent
    out = tmp_path / "amp.sp"
    assert main(["map", "--edges", "0,0,4,0,0", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ok"] and res["before"]["ok"] and res["out"] == str(out)
    assert res["stages"]["main2"]["kind"] == "cs_mirror"
    assert circuits_main(["simulate-file", str(out), "--tech", "180nm", "--load-cap", "1e-8",
                          "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["ok"]
    assert sim["gain_db"] == pytest.approx(res["before"]["gain_db"], abs=0.1)
    # a stage that cannot be realised: bad input naming the stage
    assert main(["map", "--edges", "0,0,24,0,0", "--json"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["error"] == "bad_input" and "stage n1_vout" in err["reason"]


def test_schematics_draw_and_pass_the_netlist_check(tables):
    """Every device of the mapped netlist is drawn and every net is one connected piece
    (draw_mapped runs the schematic builder's check, which raises otherwise)."""
    from macro.transistor import PER_BAND, draw_mapped

    for types in ((0, 0, 0, 0, 0), (10, 0, 8, 0, 0), (7, 10, 4, 4, 0)):
        m = map_design(Design(Topology(types)), tables=tables)
        drawing = draw_mapped(m.amplifier)
        bands = -(-len(m.amplifier.subckt.devices) // PER_BAND)
        bb = drawing.get_bbox()
        assert bb.ymax - bb.ymin > 9.0 * bands, types
