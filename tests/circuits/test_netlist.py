"""The SPICE reader: numbers, lines, devices, safety checks, parameter declarations."""

import math
from pathlib import Path

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
    [(".control\nshell rm -rf /\n.endc", r"statement not accepted.*'\.control'"),
     (".tran 1n 1u", r"statement not accepted.*'\.tran'"),
     (".meas ac x max v(out)", r"statement not accepted.*'\.meas'"),
     (".save all", r"statement not accepted.*'\.save'"),
     (".options gmin=1e-12", r"statement not accepted.*'\.options'")],
)
def test_statements_outside_the_allow_list_are_refused(body, match):
    with pytest.raises(NetlistError, match=r"netlist, line 5: " + match):
        parse_netlist(f"* x\n.subckt a inp inn out vdd vss\nR1 out vss 1k\n.ends\n{body}\n")


def test_ngspice_script_is_refused():
    with pytest.raises(NetlistError, match=r"line 2: unsupported element.*'shell'"):
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
    with pytest.raises(NetlistError, match=r"evil\.sp, line 1: statement not accepted"):
        Amplifier.from_file(tmp_path / "amp.sp")
    with pytest.raises(NetlistError, match=r"evil\.sp, line 1: statement not accepted"):
        Amplifier.from_text(AMP.format(inc=tmp_path / "mid.sp"))
    assert not (tmp_path / "pwned").exists()


def test_include_cycles_and_missing_files_are_refused(tmp_path):
    (tmp_path / "a.sp").write_text(".include b.sp\n")
    (tmp_path / "b.sp").write_text(".include a.sp\n")
    with pytest.raises(NetlistError, match=r"b\.sp, line 1: .*a\.sp includes itself"):
        parse_netlist(".include a.sp\n", base=tmp_path)
    with pytest.raises(NetlistError, match=r"line 1: in the file it includes: .*nowhere\.sp"):
        parse_netlist(".include nowhere.sp\n", base=tmp_path)


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
    assert ".param unused=1" in amp.netlist.text and ".include" not in amp.netlist.text
    assert [Path(f).name for f in amp.netlist.files] == ["all.sp", "stage.sp", "models.lib"]
    res = sim.simulate(amp, "45nm")
    assert res.ok, res.reason
    assert res.gain_db == pytest.approx(60.0, abs=0.01)


def test_corner_libraries_that_open_their_own_sections(tmp_path, sim):
    from circuits import Amplifier
    from circuits.technology import model_card

    (tmp_path / "cards.inc").write_text(model_card("45nm"))
    (tmp_path / "corners.lib").write_text(
        "* corner library\n"
        ".lib tt\n.lib corners.lib models\n.endl tt\n"
        ".lib ff\n.lib missing_in_an_unused_corner.lib ff\n.endl ff\n"
        ".lib models ; the shared cards\n.include cards.inc\n.endl models\n")
    net = parse_netlist(".lib corners.lib tt\n", base=tmp_path)
    assert [Path(p).name for p in net.files] == ["corners.lib", "cards.inc"]
    assert ".model nch45 nmos" in net.text
    amp = Amplifier.from_text(".lib corners.lib tt\n" + AMP.format(inc="cards.inc"),
                              base=tmp_path)
    assert sim.simulate(amp, "45nm").ok
    (tmp_path / "corners.lib").write_text(
        (tmp_path / "corners.lib").read_text() + ".lib bad\n.control\n.endc\n.endl bad\n")
    with pytest.raises(NetlistError, match=r"corners\.lib, line 12: statement not accepted"):
        parse_netlist(".lib corners.lib tt\n", base=tmp_path)  # even in an unused section
    with pytest.raises(NetlistError, match=r"has no library section zz"):
        parse_netlist(".lib cards.inc zz\n", base=tmp_path)


@pytest.mark.parametrize(("line", "match"), [
    ('.include "a.sp"', "file name refused"),
    (".include 'a.sp'", "file name refused"),
    (".include a.sp,b.sp", "file name refused"),
    (".include a$b.sp", "file name refused"),
    (".include ~/a.sp", "file name refused"),
    (".include a`b`.sp", "file name refused"),
    (".include a.sp b.sp", r"\.include takes one file name"),
    (".lib x.lib tt ff", r"\.lib takes FILE SECTION"),
    (".incl a.sp", "statement not accepted"),
    (".includex a.sp", "statement not accepted"),
    (".library a.sp tt", "statement not accepted"),
])
def test_file_names_and_include_spellings_outside_the_allow_list(tmp_path, line, match):
    (tmp_path / "a.sp").write_text(".param p=1\n")
    with pytest.raises(NetlistError, match=f"netlist, line 1: {match}"):
        parse_netlist(line + "\n", base=tmp_path)


def test_accepted_include_spellings_are_inlined(tmp_path):
    (tmp_path / "a.sp").write_text(".param p=1\n")
    (tmp_path / "b.lib").write_text(".lib tt\n.param q=2\n.endl\n")
    for line in (".include a.sp", ".INCLUDE a.sp", ".inc a.sp", ".Inc ./a.sp"):
        assert parse_netlist(line + "\n", base=tmp_path).text == ".param p=1\n"
    assert parse_netlist(".LIB b.lib TT\n", base=tmp_path).text == ".param q=2\n"


def test_canonical_text_is_written_from_the_parse():
    net = parse_netlist(
        "* a comment\n*# shell touch x\n.param a=2 b='a*3' c=a+1\n"
        ".model mn NMOS (level=54 vth0=0.4\n+ u0=0.03)\n"
        ".subckt amp inp inn out vdd vss w=1u\n"
        "M1 out inp vss vss mn W = {w * 2 ^ 2} L=0.1u ; a comment\n"
        "I1 vdd out dc {-b} ac 1\nR1 out vss '1k*a' $ a comment\n.ends\n.end\nanything\n")
    assert net.text == (
        ".param a=2 b={a*3} c={a+1}\n.model mn nmos\n+ level=54 vth0=0.4 u0=0.03\n"
        ".subckt amp inp inn out vdd vss w=1u\n"
        "M1 out inp vss vss mn w={w*(2^2)} l=0.1u\nI1 vdd out DC {-b} AC 1\n"
        "R1 out vss {1k*a}\n.ends amp\n")


@pytest.mark.parametrize(("body", "match"), [
    ("R1 out vss 1k\n", "element outside a .subckt refused"),
    (".subckt b x\nR1 x 0 {1 + `ls`}\n.ends\n", "bad value"),
    (".subckt b x\nR1 x 0 {foo(1)}\n.ends\n", "unknown function"),
    (".subckt b x\nR`ls` x 0 1\n.ends\n", "not a valid element name"),
    (".subckt b x\nR1>x x 0 1\n.ends\n", "not a valid element name"),
    (".subckt b x\nR1 x.y 0 1\n.ends\n", "not a valid node name"),
    (".subckt b x\nM1 x x 0 0 n.1 w=1u\n.ends\n", "not a valid model name"),
    (".subckt b x\nK1 L1 L2 0.9\n.ends\n", "unsupported element"),
    (".subckt b x\nA1 x 0 adc\n.ends\n", "unsupported element"),
    (".subckt b x\nB1 x 0 V=v(x)*`ls`\n.ends\n", "bad value"),
    (".subckt b x\nB1 x 0 V=v(x.y)\n.ends\n", "bad value"),
    (".subckt b x\nB1 x 0 V=v(-x)\n.ends\n", r"v\(\) takes node names"),
    (".subckt b x\nB1 x 0 V=i(x,y)\n.ends\n", "too many arguments"),
    (".subckt b x\nB1 x 0 R=1\n.ends\n", "a B element is"),
    (".subckt b x\nV1 x 0 SIN(0 1 1k)\n.ends\n", "bad value|source fields"),
    (".subckt b x\nR1 x 0 1k\n.ends c\n", r"\.ends c closes \.subckt b"),
    (".model m1 vdmos level=1\n", "model type not accepted"),
    (".model m1 nmos level\n", "KEY=VALUE pairs"),
    (".param ln=1\n", "ngspice function name"),
    (".param a=1 a=2\n", "given twice"),
    (".param x={1+}\n", "bad value"),
    (".param r\u00e9=1\n", "not allowed .ASCII only"),
    (".param x={1}}\n", "unbalanced brace"),
    (".subckt b x\nR1 x 0 1k\n.ends\n.subckt b x\nR1 x 0 1k\n.ends\n", "defined twice"),
])
def test_what_the_allow_list_refuses(body, match):
    with pytest.raises(NetlistError, match=match):
        parse_netlist(body)


def test_behavioural_sources_are_rewritten_without_braces():
    net = parse_netlist(".subckt b x y\nB1 x 0 V = {1-u(v(y, 0)-0.5) + i(Vs)*2}\n"
                        "Vs y 0 0\n.ends\n")
    dev = net.subckts["b"].devices[0]
    assert (dev.kind, dev.nodes, dev.params) == ("B", ("x", "0"),
                                                 {"v": "(1-u(v(y, 0)-0.5))+(i(Vs)*2)"})
    assert "B1 x 0 v=(1-u(v(y, 0)-0.5))+(i(Vs)*2)" in net.text


def test_expressions_are_rewritten_from_their_tree_and_evaluated_like_ngspice():
    from circuits.netlist import _canonical_value

    assert _canonical_value("{2^3^2}") == "{(2^3)^2}"  # ngspice: powers associate left
    assert evaluate("{2^3^2}", {}) == 64.0
    assert evaluate("{-2^2}", {}) == -4.0
    assert _canonical_value("'a ** -b'") == "{a^(-b)}"
    assert _canonical_value("1.5meg") == "1.5meg"
    for bad in ("{1/0}", "{10^1000}", "{(0-8)^(1/3)}", "{1e308*10}"):
        with pytest.raises(NetlistError):
            evaluate(bad, {})
    with pytest.raises(NetlistError, match="nested deeper"):
        evaluate("{" + "(" * 500 + "1" + ")" * 500 + "}", {})
    with pytest.raises(NetlistError, match="nested deeper"):
        evaluate("{" + "+".join(["a"] * 1000) + "}", {"a": 1.0})
    with pytest.raises(NetlistError, match="longer than"):
        evaluate("{" + "1+" * 3000 + "1}", {})
