"""Circuit graphs, checked by hand on a small amplifier."""

import math

import pytest
import torch

from circuits import Amplifier, get_amplifier, get_technology
from circuits.graph import EDGE_FEATURES, NODE_FEATURES, circuit_graph, net_types

SMALL = """
*@param ib current 1e-7 1e-3 bias current
.subckt small inp inn out vdd vss wn=1u lm=0.1u ib=10u
M1 out inp tail vss nch W={wn} L={lm}
M2 tail nb vss vss nch W={wn} L={lm}
R1 vdd out 10k
Ib vdd nb DC {ib}
.ends small
"""


def test_small_graph_by_hand():
    amp = Amplifier.from_text(SMALL, source="small")
    tech = get_technology("45nm")
    assert net_types(amp) == {"inp": "signal", "out": "signal",
                              "tail": "signal", "nb": "bias", "vdd": "supply", "vss": "supply"}
    g = circuit_graph(amp, tech, {"wn": 1e-6, "lm": 0.1e-6, "ib": 1e-5})
    assert g.device_names == ["M1", "M2", "R1", "Ib", "Cload"]
    assert g.x.shape == (5, len(NODE_FEATURES))
    assert g.node_type.tolist() == [0, 0, 2, 4, 3]
    # nets shared: out {M1, R1, Cload}: 6 directed edges; tail {M1, M2}: 2; nb {M2, Ib}: 2;
    # vss {M1 (bulk), M2, Cload}: 6; vdd {R1, Ib}: 2
    assert g.edge_index.shape == (2, 18)
    assert g.edge_attr.shape == (18, len(EDGE_FEATURES))
    pairs = {(g.device_names[a], g.device_names[b], n)
             for (a, b), n in zip(g.edge_index.t().tolist(), g.net_names, strict=True)}
    assert ("M1", "M2", "tail") in pairs and ("M2", "M1", "tail") in pairs
    assert ("M2", "Ib", "nb") in pairs and ("R1", "Ib", "vdd") in pairs
    assert ("M1", "Cload", "out") in pairs
    assert ("M1", "R1", "tail") not in pairs
    # features: W and L linear in the technology's bounds, R/C/I logarithmic
    wlo, whi = tech.width_bounds
    llo, lhi = tech.length_bounds
    m1 = dict(zip(NODE_FEATURES, g.x[0].tolist(), strict=True))
    assert m1["is_nmos"] == 1 and m1["resistance"] == 0
    assert m1["width"] == pytest.approx((1e-6 - wlo) / (whi - wlo), rel=1e-5)
    assert m1["length"] == pytest.approx((0.1e-6 - llo) / (lhi - llo), rel=1e-5)
    r1 = dict(zip(NODE_FEATURES, g.x[2].tolist(), strict=True))
    assert r1["resistance"] == pytest.approx(4 / 8)  # log10(10k) = 4 on [0, 8]
    ib = dict(zip(NODE_FEATURES, g.x[3].tolist(), strict=True))
    assert ib["current"] == pytest.approx((-5 + 8) / 6, rel=1e-5)
    # edge one-hots: tail is signal, nb bias, vss supply; no operating point: voltage 0
    by_net = {n: g.edge_attr[i].tolist() for i, n in enumerate(g.net_names)}
    assert by_net["tail"][:3] == [1, 0, 0]
    assert by_net["nb"][:3] == [0, 1, 0]
    assert by_net["vss"][:3] == [0, 0, 1]
    assert all(v[3] == 0 for v in by_net.values())


def test_graph_of_a_simulated_amplifier_carries_dc_voltages(sim):
    amp, tech = get_amplifier("two_stage"), get_technology("45nm")
    res = sim.simulate(amp, tech)
    g = circuit_graph(amp, tech, res.params, res)
    i = g.net_names.index("nb")
    assert g.edge_attr[i, 3].item() == pytest.approx(res.node_voltages["x1.nb"] / tech.vdd,
                                                     rel=1e-5)
    j = g.net_names.index("vdd")
    assert g.edge_attr[j, 3].item() == pytest.approx(1.0)
    # same layout for every circuit and technology
    for name in ("folded_cascode", "three_stage_nmc"):
        other = circuit_graph(get_amplifier(name), get_technology("22nm"),
                              get_amplifier(name).check({}, "22nm"))
        assert other.x.shape[1] == g.x.shape[1]
        assert other.edge_attr.shape[1] == g.edge_attr.shape[1]
        assert torch.all((other.x >= 0) & (other.x <= 1))


def test_graph_node_order_is_deterministic():
    amp, tech = get_amplifier("folded_cascode"), get_technology("45nm")
    p = amp.check({}, tech)
    a, b = circuit_graph(amp, tech, p), circuit_graph(amp, tech, p)
    assert a.device_names == b.device_names
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)


def test_pdk_transistor_instances_carry_the_signal():
    from dataclasses import replace

    pdk = replace(get_technology("45nm"), name="pdk", device_style="subckt", size_unit=1e-6,
                  nmos="pdk_nfet", pmos="pdk_pfet")
    amp = Amplifier.from_text(SMALL.replace("M1 out inp tail vss nch W={wn} L={lm}",
                                            "XM1 out inp tail vss pdk_nfet w=1 l=0.1"))
    assert net_types(amp, pdk)["out"] == "signal" and net_types(amp, pdk)["tail"] == "signal"
    g = circuit_graph(amp, pdk, {"wn": 1e-6, "lm": 0.1e-6, "ib": 1e-5})
    assert g.device_names[0] == "XM1" and g.node_type.tolist()[0] == 0


def test_a_transistor_of_unknown_polarity_is_an_error_not_a_missing_node(tmp_path):
    from circuits import TechnologyError, register_library
    from circuits.technology import model_card

    (tmp_path / "cards.inc").write_text(
        model_card("45nm") + ".model nlvt nmos level=54 vth0=0.2\n")
    (tmp_path / "lib.sp").write_text(".include cards.inc\n")
    tech = register_library("lvt45", tmp_path / "lib.sp", nmos="nch45", pmos="pch45", vdd=1.0,
                            lmin=45e-9, replace=True)
    params = {"wn": 1e-6, "lm": 0.1e-6, "ib": 1e-5}
    lvt = Amplifier.from_text(SMALL.replace("M2 tail nb vss vss nch", "M2 tail nb vss vss nlvt"))
    g = circuit_graph(lvt, tech, params)  # nlvt is an NMOS of a file the library includes
    assert g.device_names[:2] == ["M1", "M2"] and g.node_type.tolist()[:2] == [0, 0]
    odd = Amplifier.from_text(SMALL.replace("M2 tail nb vss vss nch", "M2 tail nb vss vss nxyz"))
    with pytest.raises(TechnologyError, match="nxyz"):
        circuit_graph(odd, tech, params)


def test_values_from_param_lines_and_dc_expressions():
    text = (".param k=2\n" + SMALL).replace("W={wn}", "W={k*wn}").replace(
        "Ib vdd nb DC {ib}", "Ib vdd nb DC {2 * ib} AC 0")
    m1, ib = _features(text, {"wn": 1e-6, "lm": 0.1e-6, "ib": 1e-5}, 0, 3)
    assert m1["width"] == pytest.approx(_width_unit(2e-6), rel=1e-5)
    assert ib["current"] == pytest.approx((math.log10(2e-5) + 8) / 6, rel=1e-5)


def test_derived_params_follow_the_design_values():
    text = SMALL.replace("M2 tail nb vss vss nch W={wn} L={lm}",
                         ".param w2={2*wn}\nM2 tail nb vss vss nch W={w2} L={lm}")
    (m2,) = _features(text, {"wn": 5e-6, "lm": 0.1e-6, "ib": 1e-5}, 1)
    assert m2["width"] == pytest.approx(_width_unit(1e-5), rel=1e-5)


def _features(text, params, *nodes):
    """Named node features of some nodes of the graph of netlist ``text`` at 45 nm."""
    g = circuit_graph(Amplifier.from_text(text), get_technology("45nm"), params)
    return [dict(zip(NODE_FEATURES, g.x[i].tolist(), strict=True)) for i in nodes]


def _width_unit(w):
    lo, hi = get_technology("45nm").width_bounds
    return (w - lo) / (hi - lo)
