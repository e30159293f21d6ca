"""Linear G/R/C circuits written as netlists and swept in ngspice (circuits.linear)."""

import numpy as np
import pytest

from circuits import ACSweep, LinearCircuit, LinearElement, NetlistError, run_ac
from circuits.engine import Failure


def one_stage(gm=1e-4, r=1e6, c=1e-12):
    """A gm stage into R || C: H = -gm / (1/R + s C)."""
    return LinearCircuit((LinearElement("G", "1", "out", "0", gm, "in", "0"),
                          LinearElement("R", "1", "out", "0", r),
                          LinearElement("C", "1", "out", "0", c)), source="in")


def test_one_stage_matches_its_transfer_function(sim):
    sweep = ACSweep(1.0, 1e9, 20)
    r = run_ac([one_stage()], ["out"], sweep, simulator=sim)[0]
    assert r.ok, r.reason
    f = sweep.frequencies()
    np.testing.assert_allclose(r.frequency, f, rtol=1e-12)
    expected = -1e-4 / (1e-6 + 2j * np.pi * f * 1e-12)
    np.testing.assert_allclose(r.voltages["out"], expected, rtol=1e-9)
    assert r.dc["out"] == pytest.approx(-100.0)  # DC 1 V in, gain -gm R
    assert "Vsrc in 0 DC 1.0 AC 1" in r.netlist


def test_many_circuits_in_order(sim):
    circuits = [one_stage(gm=g) for g in (1e-5, 2e-5, 4e-5)]
    results = run_ac(circuits, ["out"], ACSweep(10, 1e3, 5), simulator=sim)
    assert [r.dc["out"] for r in results] == pytest.approx([-10.0, -20.0, -40.0])


def test_frequencies_follow_ngspice_decades():
    f = ACSweep(1.0, 1e9, 100).frequencies()
    assert f.size == 901 and f[0] == 1.0 and f[-1] == pytest.approx(1e9)


def test_singular_circuit_is_a_failed_result_not_an_exception(sim):
    # a negative conductance -1/R at "out" cancels R: the nodal matrix is singular at DC
    c = LinearCircuit((LinearElement("R", "1", "in", "out", 1e3),
                       LinearElement("G", "1", "out", "0", -1e-3, "out", "0")), source="in")
    r = run_ac([c], ["out"], simulator=sim)[0]
    assert not r.ok and r.failure is not None and r.reason
    assert isinstance(r.failure, Failure)


@pytest.mark.parametrize("element, message", [
    (LinearElement("L", "1", "in", "0", 1.0), "kind"),
    (LinearElement("R", "1;x", "in", "0", 1.0), "element name"),
    (LinearElement("R", "1", "in out", "0", 1.0), "node name"),
    (LinearElement("R", "1", "in", "0", float("nan")), "not finite"),
    (LinearElement("R", "1", "in", "0", float("inf")), "not finite"),
    (LinearElement("R", "1", "in", "0", -5.0), "> 0"),
    (LinearElement("C", "1", "in", "0", 0.0), "> 0"),
    (LinearElement("R", "1", "in", "0", "1k"), "not a number"),
    (LinearElement("R", "1", "in", "in", 1.0), "both ends"),
    (LinearElement("R", "1", "in", "0", 1.0, "a", "b"), "control"),
    (LinearElement("G", "1", "in", "0", 1.0, "", "0"), "node name"),
])
def test_malformed_elements_raise(element, message):
    with pytest.raises(NetlistError, match=message):
        LinearCircuit((element,), source="in").netlist(ACSweep())


def test_malformed_circuits_raise():
    r = LinearElement("R", "1", "in", "0", 1.0)
    with pytest.raises(NetlistError, match="two elements"):
        LinearCircuit((r, r), source="in").check()
    with pytest.raises(NetlistError, match="source"):
        LinearCircuit((r,), source="0").check()
    with pytest.raises(NetlistError, match="touches"):
        LinearCircuit((r,), source="elsewhere").check()
    with pytest.raises(NetlistError, match="output node"):
        LinearCircuit((r,), source="in").netlist(ACSweep(), ["nowhere"])
    with pytest.raises(NetlistError):
        ACSweep(10.0, 1.0)
    with pytest.raises(NetlistError):
        run_ac([LinearCircuit((r,), source="in")], [])
