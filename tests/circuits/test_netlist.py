"""The SPICE reader: numbers, lines, devices, safety checks, parameter declarations."""

import math

import pytest

from circuits.errors import NetlistError
from circuits.netlist import (
    evaluate,
    logical_lines,
    parse_device,
    parse_netlist,
    parse_param_decls,
    parse_value,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1.0), ("2u", 2e-6), ("1.5meg", 1.5e6), ("10k", 1e4), ("3e-6", 3e-6), ("-4p", -4e-12),
     ("1M", 1e-3), (".5n", 0.5e-9)],
)
def test_parse_value(text, value):
    assert math.isclose(parse_value(text), value, rel_tol=1e-12)


@pytest.mark.parametrize("text", ["1kfoo", "abc", "", "1..2"])
def test_parse_value_refuses_garbage(text):
    with pytest.raises(NetlistError):
        parse_value(text)


def test_logical_lines_join_continuations_and_drop_comments():
    lines = logical_lines("* title\nR1 a b 1k $ inline\n+ tc1=0\n\n; x\nC1 a 0 1p ; note\n")
    assert [ln.text for ln in lines] == ["R1 a b 1k tc1=0", "C1 a 0 1p"]
    assert lines[0].number == 2


def test_parse_device_mosfet_and_subckt_instance():
    from circuits.netlist import Line

    m = parse_device(Line(1, "M1 d g s b nch W={w12} L={l12}"))
    assert (m.kind, m.nodes, m.model) == ("M", ("d", "g", "s", "b"), "nch")
    assert m.params == {"w": "{w12}", "l": "{l12}"}
    x = parse_device(Line(2, "X1 a b c amp w=1u"))
    assert (x.kind, x.nodes, x.model, x.params) == ("X", ("a", "b", "c"), "amp", {"w": "1u"})
    i = parse_device(Line(3, "Iref vdd nb DC {ibias}"))
    assert (i.nodes, i.value) == (("vdd", "nb"), "DC {ibias}")
    with pytest.raises(NetlistError, match="at least"):
        parse_device(Line(4, "M1 d g s"))


@pytest.mark.parametrize(
    ("body", "match"),
    [(".control\nshell rm -rf /\n.endc", r"\.control refused"),
     (".tran 1n 1u", "analyses and outputs belong to the test bench"),
     (".meas ac x max v(out)", "analyses"),
     (".save all", "analyses")],
)
def test_unsafe_netlists_are_refused(body, match):
    with pytest.raises(NetlistError, match=match):
        parse_netlist(f"* x\n.subckt a inp inn out vdd vss\nR1 out vss 1k\n.ends\n{body}\n")


def test_ngspice_script_is_refused():
    with pytest.raises(NetlistError, match="scripts"):
        parse_netlist("*ng_script\nshell ls\n")


def test_subckt_structure_errors():
    with pytest.raises(NetlistError, match=r"without \.ends"):
        parse_netlist(".subckt a x y\nR1 x y 1\n")
    with pytest.raises(NetlistError, match="nested"):
        parse_netlist(".subckt a x\n.subckt b y\n.ends\n.ends\n")
    with pytest.raises(NetlistError, match="duplicate"):
        parse_netlist(".subckt a x y\nR1 x y 1\nR1 x y 2\n.ends\n")
    with pytest.raises(NetlistError, match="recursive"):
        parse_netlist(".subckt a x y\nX1 x y b\n.ends\n.subckt b x y\nX1 x y a\n.ends\n")


def test_param_declarations():
    decls = parse_param_decls("*@param w1 width input width\n*@param ib current 1u 1m bias\n")
    assert decls[0].name == "w1" and decls[0].lo is None and decls[0].description == "input width"
    assert (decls[1].kind, decls[1].lo, decls[1].hi) == ("current", 1e-6, 1e-3)
    with pytest.raises(NetlistError, match="needs LO HI"):
        parse_param_decls("*@param cc capacitance\n")
    with pytest.raises(NetlistError, match="ngspice function name"):
        parse_param_decls("*@param ln length\n")
    with pytest.raises(NetlistError, match="kind"):
        parse_param_decls("*@param w1 area 1 2\n")


def test_evaluate_expressions():
    assert evaluate("{2*w + 1u}", {"w": 1e-6}) == pytest.approx(3e-6)
    assert evaluate("DC {ibias}", {"ibias": 5e-6}) == 5e-6
    assert evaluate("10k", {}) == 1e4
    with pytest.raises(ValueError, match="unknown parameter"):
        evaluate("{q}", {})
    with pytest.raises(ValueError, match="unsupported"):
        evaluate("{sqrt(w)}", {"w": 1.0})


AMP = """.include {inc}
.subckt amp inp inn out vdd vss
G1 vss out inp inn 1m
R1 out vss 1meg
.ends amp
"""


def test_includes_are_checked_at_every_depth(tmp_path):
    from circuits import Amplifier

    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "evil.sp").write_text(".control\nshell touch pwned\n.endc\n")
    (tmp_path / "mid.sp").write_text(".include deep/evil.sp\n")
    (tmp_path / "amp.sp").write_text(AMP.format(inc="mid.sp"))
    with pytest.raises(NetlistError, match=r"evil\.sp, line 1: \.control refused"):
        Amplifier.from_file(tmp_path / "amp.sp")
    with pytest.raises(NetlistError, match=r"evil\.sp, line 1: \.control refused"):
        Amplifier.from_text(AMP.format(inc=tmp_path / "mid.sp"))
    assert not (tmp_path / "pwned").exists()


def test_include_cycles_and_missing_files_are_refused(tmp_path):
    from circuits.netlist import check_includes

    (tmp_path / "a.sp").write_text(".include b.sp\n")
    (tmp_path / "b.sp").write_text(".include a.sp\n")
    with pytest.raises(NetlistError, match="includes itself"):
        check_includes(".include a.sp\n", tmp_path)
    with pytest.raises(NetlistError, match="included file not found"):
        check_includes(".include nowhere.sp\n", tmp_path)


def test_nested_includes_resolve_against_the_including_file(tmp_path, sim):
    from circuits import Amplifier

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "stage.sp").write_text(
        ".subckt stage a b\nG1 0 b a 0 1m\nR1 b 0 1meg\nC1 b 0 10p\n.ends stage\n")
    # a .lib FILE SECTION line includes a file; the ".lib tt" section header inside it does not
    (tmp_path / "lib" / "all.sp").write_text(
        f".include stage.sp\n.lib {tmp_path / 'lib' / 'models.lib'} tt\n")
    (tmp_path / "lib" / "models.lib").write_text(".lib tt\n.param unused=1\n.endl tt\n")
    (tmp_path / "amp.sp").write_text(
        ".include lib/all.sp\n.subckt amp inp inn out vdd vss\nX1 inp n1 stage\n"
        "E1 out vss n1 inn 1\n.ends amp\n")
    amp = Amplifier.from_file(tmp_path / "amp.sp")
    res = sim.simulate(amp, "45nm")
    assert res.ok, res.reason
    assert res.gain_db == pytest.approx(60.0, abs=0.01)


def test_corner_libraries_that_open_their_own_sections(tmp_path, sim):
    from circuits import Amplifier
    from circuits.netlist import absolutise_includes, check_includes
    from circuits.technology import model_card

    (tmp_path / "cards.inc").write_text(model_card("45nm"))
    (tmp_path / "corners.lib").write_text(
        "* corner library\n"
        ".lib tt\n.lib 'corners.lib' models\n.endl tt\n"
        ".lib ff\n.lib missing_in_an_unused_corner.lib ff\n.endl ff\n"
        ".lib models ; the shared cards\n.include cards.inc\n.endl models\n")
    found = check_includes(".lib corners.lib tt\n", tmp_path)
    assert [p.name for p in found] == ["corners.lib", "cards.inc"]
    amp = Amplifier.from_text(absolutise_includes(".lib corners.lib tt\n" + AMP.format(
        inc="cards.inc"), tmp_path))
    assert sim.simulate(amp, "45nm").ok
    (tmp_path / "corners.lib").write_text(
        (tmp_path / "corners.lib").read_text() + ".lib bad\n.control\n.endc\n.endl bad\n")
    with pytest.raises(NetlistError, match=r"\.control refused"):  # even in an unused section
        check_includes(".lib corners.lib tt\n", tmp_path)


@pytest.mark.parametrize(("line", "expected"), [
    (".lib tt ; a section header with a comment", ".lib tt ; a section header with a comment"),
    (".lib lib tt", ".lib {base}/lib tt"),
    ('.include "a b/c.sp"', '.include "{base}/a b/c.sp"'),
    (".LIB 'x.l' FF", ".LIB '{base}/x.l' FF"),
    (".inc m.sp $ comment", ".inc {base}/m.sp $ comment"),
    (".include /abs/y.sp", ".include /abs/y.sp"),
])
def test_absolutise_includes_rewrites_only_file_names(tmp_path, line, expected):
    from circuits.netlist import absolutise_includes

    assert absolutise_includes(line + "\n", tmp_path) == expected.format(base=tmp_path) + "\n"
