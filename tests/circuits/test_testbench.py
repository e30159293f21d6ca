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


def test_behavioural_sources_of_design_parameters_are_re_parsed_not_altered():
    from circuits import Amplifier, NetlistError, OpenLoopBench, get_technology

    net = """*@param g conductance 1e-4 1e-2 gain
.subckt amp inp inn out vdd vss g=1m
B1 vss out I={g}*v(inp, inn)
R1 out vss 1meg
R2 inp vss {1/g}
.ends amp
"""
    tech = get_technology("45nm")
    with pytest.raises(NetlistError, match="kind"):  # 'conductance' is not a parameter kind
        Amplifier.from_text(net)
    amp = Amplifier.from_text(net.replace("conductance", "current"))
    assert OpenLoopBench(amp, tech).alter_plan is None  # B1 follows g only through a re-parse
    fixed = Amplifier.from_text(net.replace("conductance", "current").replace("{g}*", "1m*"))
    assert OpenLoopBench(fixed, tech).alter_plan == [
        ("r.x1.r2", {"resistance": "{1/g}"})]


def test_a_behavioural_source_follows_its_design_parameter(sim):
    from circuits import Amplifier

    amp = Amplifier.from_text("""*@param g current 1e-4 1e-2 transconductance (A/V)
.subckt amp inp inn out vdd vss g=1m
B1 vss out I={g}*v(inp, inn)
R1 out vss 1meg
C1 out vss 1p
R2 n9 vss {1/g}
R3 n9 vdd 1meg
.ends amp
""")  # R2 alone could be altered; B1 makes the bench re-parse
    low, high = sim.simulate_many(amp, "45nm", [{"g": 1e-3}, {"g": 2e-3}])
    assert low.ok and high.ok, (low.reason, high.reason)
    assert low.gain_db == pytest.approx(60.0, abs=0.01)
    assert high.gain_db - low.gain_db == pytest.approx(20 * math.log10(2), abs=0.01)


def test_a_model_card_of_design_parameters_follows_them(sim):
    from circuits import Amplifier

    amp = Amplifier.from_text("""*@param rs resistance 1 1e3 diode series resistance
.subckt amp inp inn out vdd vss rs=10
.model dm d is=1e-14 rs={rs}
G1 vss out inp inn 1m
R1 out vss 1meg
C1 out vss 1p
D1 nd vss dm
I1 vdd nd 1m
R2 n9 vss {rs}
R3 n9 vdd 1meg
.ends amp
""")
    a, b = sim.simulate_many(amp, "45nm", [{"rs": 10.0}, {"rs": 500.0}])
    assert a.ok and b.ok, (a.reason, b.reason)
    # the diode's voltage rises by about 1 mA * (500 - 10) ohm with its series resistance
    assert b.node_voltages["x1.nd"] - a.node_voltages["x1.nd"] == pytest.approx(0.49, abs=0.01)


SINGULAR = """*@param rz resistance 10 1e5 a resistor
.subckt amp inp inn out vdd vss rz=1k
G1 vss out inp inn 1m
R1 out vss {1e9/(rz-1000)}
C1 out vss 1p
.ends amp
"""


def test_a_device_value_that_fails_at_the_starting_values_is_refused_at_the_bench():
    # loaded with rz=1k, ngspice refused R1 (value inf) and every simulation failed with
    # "Error on line:", whatever rz was asked for
    from circuits import Amplifier, NetlistError, OpenLoopBench, get_technology

    tech = get_technology("45nm")
    with pytest.raises(NetlistError, match=r"device R1 value=\{1e9/\(rz-1000\)\} cannot be "
                                           r"computed at the starting values \(rz=1000\): "
                                           r"division by zero"):
        OpenLoopBench(Amplifier.from_text(SINGULAR), tech)
    overflow = SINGULAR.replace("{1e9/(rz-1000)}", "{1e300*rz*rz*rz*rz}")
    with pytest.raises(NetlistError, match=r"device R1 .*rz=1000.*(overflow|not finite)"):
        OpenLoopBench(Amplifier.from_text(overflow), tech)
    fine = Amplifier.from_text(SINGULAR.replace("rz=1k", "rz=2k"))
    assert OpenLoopBench(fine, tech).alter_plan == [("r.x1.r1", {"resistance":
                                                                 "{1e9/(rz-1000)}"})]


def test_simulate_file_names_the_failing_device_value(tmp_path):
    import json
    import subprocess
    import sys

    path = tmp_path / "sing.sp"
    path.write_text(SINGULAR)
    proc = subprocess.run([sys.executable, "-m", "circuits", "simulate-file", str(path),
                           "--tech", "45nm", "--json"], capture_output=True, text=True,
                          timeout=120)
    res = json.loads(proc.stdout)
    assert proc.returncode == 2 and res["ok"] is False and res["failure"] == "netlist_error"
    assert "device R1" in res["reason"] and "rz=1000" in res["reason"]
    assert "division by zero" in res["reason"]


@pytest.mark.parametrize("model", ["nch45", "NCH45", "pch45", "nch", "pch"])
def test_a_user_model_named_like_the_technologys_is_refused(model):
    from circuits import Amplifier, NetlistError, OpenLoopBench, get_technology

    net = (f".subckt amp inp inn out vdd vss\nM1 out inp vss vss {model} W=1u L=1u\n"
           "R1 vdd out 10k\nR2 inn vss 1k\n.ends amp\n"
           f".model {model} {'pmos' if 'p' in model.lower()[:1] else 'nmos'} level=1\n")
    tech = get_technology("45nm")
    with pytest.raises(NetlistError, match=rf"defines \.model {model.lower()}, a name that "
                                           r"technology 45nm gives its own"):
        OpenLoopBench(Amplifier.from_text(net), tech)
    renamed = net.replace(model, "mymos")
    OpenLoopBench(Amplifier.from_text(renamed), tech)  # a name of its own is accepted


def test_a_copy_of_the_technologys_own_card_is_accepted_a_changed_one_refused():
    from circuits import Amplifier, NetlistError, OpenLoopBench, get_technology
    from circuits.technology import model_card

    card = model_card("45nm")
    net = (".subckt amp inp inn out vdd vss\nM1 out inp vss vss nch45 W=1u L=1u\n"
           "R1 vdd out 10k\nR2 inn vss 1k\n.ends amp\n")
    tech = get_technology("45nm")
    OpenLoopBench(Amplifier.from_text(net + card), tech)  # the same card: nothing ignored
    changed = card.replace("version=4.8", "version=4.7", 1)
    assert changed != card
    with pytest.raises(NetlistError, match=r"defines \.model nch45"):
        OpenLoopBench(Amplifier.from_text(net + changed), tech)
