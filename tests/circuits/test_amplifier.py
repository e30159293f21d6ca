"""Amplifiers: design parameters, bounds and reference sizings read from files."""

import json
import math

import pytest

from circuits import Amplifier, NetlistError, ParameterError

NET = """*@param isup current 0 1m supply current
*@param vb voltage -1 -0.5 a negative bias
.subckt z inp inn out vdd vss isup=1u vb=-0.5
G1 vss out inp inn 1m
R1 out vss 1meg
C1 out vss 1p
I1 vdd vss DC {isup}
V1 nb vss DC {vb}
R2 nb vss 1k
.ends z
"""


def _write(tmp_path, refs):
    (tmp_path / "z.sp").write_text(NET)
    (tmp_path / "z.json").write_text(refs if isinstance(refs, str) else json.dumps(refs))
    return tmp_path / "z.sp"


@pytest.mark.parametrize(("refs", "match"), [
    ({"references": {"45nm": {"vcm": 0.5, "params": {"bogus": 3}}}}, r"unknown parameter.*bogus"),
    ({"references": {"45nm": {"vcm": 0.5, "params": {"isup": 5}}}}, r"isup=5 outside"),
    ({"references": {"45nm": {"vcm": 0.5, "params": {}}}, "load_cap": -1}, "load_cap"),
    ('{"references": {"45nm": {"vcm": NaN, "params": {}}}}', "vcm=nan is not finite"),
    ('{"references": {"elsewhere": {"vcm": 0.5, "params": {"isup": Infinity}}}}', "not finite"),
    ("[1, 2]", "malformed reference file"),
    # a misspelt or misplaced key used to drop every reference silently
    ({"referencs": {"45nm": {"vcm": 0.5, "params": {}}}}, r"unknown keys \['referencs'\]"),
    ({"45nm": {"vcm": 0.5, "params": {"isup": 5e-6}}}, r"unknown keys \['45nm'\]"),
    ({"references": {"45nm": {"vcm": 0.5, "param": {}}}}, r"unknown keys \['param'\]"),
    ({"references": {"45nm": {"params": {}}}}, r"references\[\"45nm\"\] lacks 'vcm'"),
    ({"references": {"45nm": {"vcm": 0.5, "params": {"isup": "5u"}}}},
     r"params\[\"isup\"\] must be a number"),
    ({"references": {"45nm": {"vcm": True, "params": {}}}}, r"vcm must be a number"),
    ({"references": {"45nm": [0.5]}}, r"references\[\"45nm\"\] must be an object"),
])
def test_malformed_references_are_refused_when_read(tmp_path, refs, match):
    with pytest.raises(NetlistError, match=match):
        Amplifier.from_file(_write(tmp_path, refs))


def test_reference_for_a_technology_not_installed_is_kept(tmp_path):
    amp = Amplifier.from_file(_write(
        tmp_path, {"references": {"elsewhere": {"vcm": 0.5, "params": {"isup": 2e-6}}}}))
    assert amp.references["elsewhere"].params == {"isup": 2e-6}


def test_negative_bounds_include_their_endpoints():
    amp = Amplifier.from_text(NET)
    for vb in (-1.0, -0.5, -0.75):
        assert amp.check({"vb": vb}, "45nm")["vb"] == vb
    for vb in (-1.01, -0.49, math.nan):
        with pytest.raises(ParameterError, match="vb"):
            amp.check({"vb": vb}, "45nm")
    assert amp.from_unit({"vb": 0.0}, "45nm") == {"vb": -1.0}
    assert amp.check(amp.from_unit({"vb": 1.0}, "45nm"), "45nm")["vb"] == -0.5


def test_missing_values_without_a_reference_are_clipped_into_the_technology():
    from dataclasses import replace

    from circuits import get_amplifier, get_technology

    amp = get_amplifier("two_stage")
    big = replace(get_technology("45nm"), name="big", lmin=0.3e-6, wmin=0.6e-6)
    full = amp.check({}, big)
    assert full["l12"] == pytest.approx(0.3e-6)  # the header default 0.18 um, clipped
    assert full["w12"] == amp.defaults()["w12"]  # in bounds: kept
    with pytest.raises(ParameterError, match="l12"):
        amp.check({"l12": 0.18e-6}, big)  # a value given is never clipped


def test_a_reference_out_of_bounds_is_never_clipped(tmp_path):
    from circuits import register_library
    from circuits.technology import model_card

    (tmp_path / "lib.sp").write_text(model_card("45nm"))
    path = _write(tmp_path, {"references": {"later": {"vcm": 0.5, "params": {"isup": 5e-3}}}})
    amp = Amplifier.from_file(path)  # "later" is unknown when the file is read
    tech = register_library("later", tmp_path / "lib.sp", nmos="nch45", pmos="pch45", vdd=1.0,
                            lmin=45e-9, replace=True)
    with pytest.raises(ParameterError, match=r"isup=0\.005 outside"):
        amp.check({}, tech)


def test_text_includes_resolve_against_the_base_given(tmp_path):
    (tmp_path / "p.sp").write_text(".param g=2m\n")
    text = ".include p.sp\n" + NET.replace("G1 vss out inp inn 1m", "G1 vss out inp inn {g}")
    amp = Amplifier.from_text(text, base=tmp_path)
    assert ".param g=2m" in amp.netlist.text and "G1 vss out inp inn {g}" in amp.netlist.text
    with pytest.raises(NetlistError, match=r"line 1: in the file it includes: .*p\.sp"):
        Amplifier.from_text(text, base=tmp_path / "elsewhere")


def test_a_reference_file_that_is_a_fifo_is_refused(tmp_path):
    import os

    (tmp_path / "z.sp").write_text(NET)
    os.mkfifo(tmp_path / "z.json")  # opening it for reading would block forever
    with pytest.raises(NetlistError, match=r"reference file .*z\.json: not a regular file"):
        Amplifier.from_file(tmp_path / "z.sp")


@pytest.mark.parametrize("options", [{"load_cap": "1p"}, {"load_cap": True},
                                     {"load_cap": float("nan")}, {"references": {"45nm": 5}}])
def test_malformed_python_arguments_are_netlist_errors(options):
    text = ("*@param rz resistance 10 1e5 a resistor\n.subckt amp inp inn out vdd vss rz=1k\n"
            "G1 vss out inp inn 1m\nR1 out vss {rz}\n.ends amp\n")
    assert Amplifier.from_text(text).load_cap == 1e-12
    with pytest.raises(NetlistError, match=r"load_cap must be|a Reference, not int"):
        Amplifier.from_text(text, **options)
