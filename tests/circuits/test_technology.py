"""Technologies: generated cards, registry, user libraries, device lines."""

import pytest

from circuits import TechnologyError, get_technology, list_technologies, register_library
from circuits.netlist import Device
from circuits.technology import model_card, predictive_table


def test_predictive_nodes():
    assert list_technologies()[:4] == ["180nm", "90nm", "45nm", "22nm"]
    for node, vdd in (("180nm", 1.8), ("90nm", 1.2), ("45nm", 1.0), ("22nm", 0.8)):
        t = get_technology(node)
        assert t.vdd == vdd and t.kind == "predictive"
        assert t.width_bounds == (2 * t.lmin, 2000 * t.lmin)


def test_model_card_is_generated_from_the_table():
    card = model_card("45nm")
    table = predictive_table()
    assert ".model nch45 nmos level=54" in card and ".model pch45 pmos level=54" in card
    assert f"vth0={table['nodes']['45nm']['nmos']['vth0']:g}" in card
    assert "not foundry data" in card
    with pytest.raises(TechnologyError):
        model_card("7nm")


def test_unknown_technology():
    with pytest.raises(TechnologyError, match="unknown technology"):
        get_technology("3nm")


def test_register_user_library(tmp_path, sim):
    (tmp_path / "a dir").mkdir()  # a path with a space, and the models one include away
    lib = tmp_path / "a dir" / "my.lib"
    (tmp_path / "a dir" / "cards.inc").write_text(
        model_card("90nm").replace("nch90", "myn").replace("pch90", "myp"))
    lib.write_text("* my foundry library\n.include cards.inc\n")
    tech = register_library("my90", lib, nmos="myn", pmos="myp", vdd=1.2, lmin=90e-9,
                            replace=True)
    assert get_technology("my90") is tech and "my90" in list_technologies()
    ref90 = sim.simulate("two_stage", "90nm")
    mine = sim.simulate("two_stage", tech, dict(ref90.params),
                        settings=__import__("circuits").BenchSettings(vcm=0.75))
    assert mine.ok and mine.gain_db == pytest.approx(ref90.gain_db, abs=1e-6)
    with pytest.raises(TechnologyError, match="not found"):
        register_library("nope", tmp_path / "missing.lib", nmos="a", pmos="b", vdd=1, lmin=1e-7)


def test_device_line_for_a_subckt_pdk():
    from dataclasses import replace

    t = replace(get_technology("45nm"), name="fake", device_style="subckt", size_unit=1e-6,
                nmos="pdk_nfet", pmos="pdk_pfet")
    dev = Device("M1", "M", ("d", "g", "s", "b"), "nch", None, {"w": "{w1}", "l": "{l1}"})
    assert t.device_line(dev) == "XM1 d g s b pdk_nfet w={w1/1e-06} l={l1/1e-06}"
    assert t.op_vector("x1", dev, "gm") == "@m.x1.xm1.mpdk_nfet[gm]"


@pytest.mark.skipif("sky130" not in list_technologies(), reason="SKY130 not installed")
def test_sky130_runs_the_two_stage(sim):
    from circuits import BenchSettings, get_amplifier

    p = {k: max(v, 0.45e-6) if k.startswith("w") else v
         for k, v in get_amplifier("two_stage").reference("180nm").params.items()}
    res = sim.simulate("two_stage", "sky130", p, BenchSettings(vcm=0.9))
    assert res.ok and res.all_saturated, res.reason


def test_register_library_refuses_what_could_never_simulate(tmp_path):
    lib = tmp_path / "my.lib"
    lib.write_text(model_card("90nm"))
    with pytest.raises(TechnologyError, match=r"defines no nmos 'nmosx'.*nch90"):
        register_library("bad", lib, nmos="nmosx", pmos="pch90", vdd=1.2, lmin=90e-9)
    with pytest.raises(TechnologyError, match="defines no pmos 'nch90'"):
        register_library("bad", lib, nmos="nch90", pmos="nch90", vdd=1.2, lmin=90e-9)
    with pytest.raises(TechnologyError, match="exists; pass replace=True"):
        register_library("45nm", lib, nmos="nch90", pmos="pch90", vdd=1.2, lmin=90e-9)
    assert get_technology("45nm").kind == "predictive"


@pytest.mark.parametrize("name", ['q"x.lib', "q'x.lib", "q,x.lib", "q$x.lib", "q;x.lib",
                                  "q`x`.lib", "q\u00e9.lib"])
def test_register_library_refuses_paths_ngspice_would_read_differently(tmp_path, name):
    lib = tmp_path / name
    lib.write_text(model_card("90nm"))
    with pytest.raises(TechnologyError, match="ngspice would read it differently"):
        register_library("oddpath", lib, nmos="nch90", pmos="pch90", vdd=1.2, lmin=90e-9)
    assert "oddpath" not in list_technologies()


def test_register_library_refuses_spaces_in_a_corner_library_and_odd_names(tmp_path):
    (tmp_path / "a dir").mkdir()
    lib = tmp_path / "a dir" / "c.lib"
    lib.write_text(".lib tt\n" + model_card("90nm") + ".endl tt\n")
    # ngspice 39 splits a quoted .lib path at the space (it looks for ".../a")
    with pytest.raises(TechnologyError, match="spaces only for a library without a corner"):
        register_library("spaced", lib, nmos="nch90", pmos="pch90", vdd=1.2, lmin=90e-9,
                         corner="tt")
    plain = tmp_path / "c.lib"
    plain.write_text(lib.read_text())
    with pytest.raises(TechnologyError, match="is not a name"):
        register_library("badcorner", plain, nmos="nch90", pmos="pch90", vdd=1.2, lmin=90e-9,
                         corner="tt\n.control")
    with pytest.raises(TechnologyError, match="nmos device name"):
        register_library("badname", plain, nmos="nch90`x`", pmos="pch90", vdd=1.2, lmin=90e-9)
    tech = register_library("cornered", plain, nmos="nch90", pmos="pch90", vdd=1.2,
                            lmin=90e-9, corner="tt", replace=True)
    assert tech.library == f'.lib "{plain}" tt\n'


def test_register_library_refuses_a_fifo(tmp_path):
    import os

    fifo = tmp_path / "models.lib"
    os.mkfifo(fifo)
    with pytest.raises(TechnologyError, match="not found"):
        register_library("fifo", fifo, nmos="a", pmos="b", vdd=1.0, lmin=1e-7)


@pytest.mark.parametrize(("field", "value"), [
    ("vdd", float("inf")), ("vdd", float("nan")), ("vdd", "1.2"), ("vdd", True),
    ("lmin", float("inf")), ("lmin", -90e-9), ("wmax", float("inf")), ("lmax", float("nan")),
    ("size_unit", 0.0), ("size_unit", float("inf"))])
def test_register_library_refuses_sizes_and_supplies_that_are_not_finite_positive(
        tmp_path, field, value):
    lib = tmp_path / "my.lib"
    lib.write_text(model_card("90nm"))
    given = {"vdd": 1.2, "lmin": 90e-9, field: value}
    with pytest.raises(TechnologyError, match=r"must be (a finite number > 0|positive)") as info:
        register_library("inf", lib, nmos="nch90", pmos="pch90", **given)
    assert field in str(info.value)
    assert "inf" not in list_technologies()
