"""Transistor-level re-optimisation: the search space, and a tiny BO run in ngspice.

(That the constrained BO improves on its initial points on a toy constrained problem is
tests/macro/test_bo.py's ``test_bo_improves_on_its_initial_points``.)"""

import math

import numpy as np
import pytest
import torch

from circuits import Amplifier, Simulator
from macro.bo import BOConfig
from macro.design import Design
from macro.evaluation import fom
from macro.mapping import MappingTargets, bench_settings
from macro.reoptimise import decode, point_of, reoptimise, search_space
from macro.topology import Topology

torch.set_num_threads(1)

COMPENSATED = Topology((0, 0, 4, 0, 0))  # R - C from n1 to vout


def test_search_space_and_round_trip():
    d = Design(COMPENSATED)
    dims = search_space(d)
    names = [x.name for x in dims]
    assert names[:5] == ["gm_id_input", "gm_id_stage", "gm_id_mirror", "log_l_bias",
                         "log_gain_scale"]
    assert {"log_n1_vout_r", "log_n1_vout_c"} <= set(names)
    x = point_of(d, dims, MappingTargets())
    d2, t2 = decode(d, dims, x)
    assert t2.gm_id_input == MappingTargets().gm_id_input
    assert t2.l_bias == pytest.approx(MappingTargets().l_bias)
    assert d2.values["n1_vout_c"] == pytest.approx(d.values["n1_vout_c"])
    # out-of-box coordinates are clipped, not extrapolated
    _, t3 = decode(d, dims, np.full(len(dims), 1e3))
    assert t3.gm_id_input == 22.0


def test_tiny_reoptimisation_keeps_the_best_simulated_design():
    d = Design(COMPENSATED)
    with Simulator(workers=1) as sim:
        r = reoptimise(d, config=BOConfig(n_init=3, n_iter=2, seed=1), sim=sim)
        assert r["n_evaluations"] == 5
        assert [h["source"] for h in r["history"]][:3] == ["mapping", "init", "init"]
        assert r["before"]["meets_spec"]
        after = r["after"]
        assert after is not None and after["meets_spec"]
        assert after["fom"] >= r["before"]["fom"]
        assert after["fom"] == max(h["fom"] for h in r["history"] if h["meets_spec"])
        # the kept netlist is an ordinary amplifier: simulated again, the same figures
        amp = Amplifier.from_text(r["best"]["netlist"], load_cap=10e-9)
        again = sim.simulate(amp, "180nm", r["best"]["params"], bench_settings("metrics"))
    assert again.ok
    assert fom(again.ugbw_hz, again.power_w) == pytest.approx(after["fom"], rel=1e-3)
    assert math.isclose(again.gain_db, after["gain_db"], abs_tol=0.05)


def test_table_three_rows_ratios_and_degradation():
    from macro.transistor import paper_table_three, table_three

    def rec(method, exp, fom_after, fom_behaviour):
        after = None if fom_after is None else {"fom": fom_after, "gain_db": 100.0,
                                                 "pm_deg": 60.0, "gbw_hz": 2e6,
                                                 "power_w": 50e-6, "meets_spec": True}
        return {"method": method, "exp": exp, "after": after, "before": None,
                "behaviour": {"fom": fom_behaviour}}

    recs = [rec("bobo", "exp1", 100.0, 200.0), rec("bobo", "exp2", 300.0, 400.0),
            rec("rlbo", "exp1", 200.0, 400.0), rec("rlbo", "exp2", None, 1e6),
            rec("macro", "exp1", 800.0, 1000.0)]
    t = table_three(recs)
    avg = {r["method"]: r for r in t["rows"] if r["exp"] == "avg"}
    assert avg["bobo"]["fom"] == 200.0 and avg["rlbo"]["fom"] == 200.0
    # averages over the repeats that met the specs: rlbo exp2 (none found) is left out
    assert avg["rlbo"]["behaviour_fom"] == 400.0
    assert t["ratios"] == {"macro/bobo": 4.0, "macro/rlbo": 4.0}
    assert t["degradation"] == {"bobo": 200.0 / 300.0, "rlbo": 0.5, "macro": 0.8}
    paper = paper_table_three()
    assert paper["ratios"] == {"macro/bobo": 3.1, "macro/rlbo": 2.08}
    p_avg = {r["method"]: r["fom"] for r in paper["rows"] if r["exp"] == "avg"}
    assert p_avg["macro"] / p_avg["bobo"] == pytest.approx(3.1, abs=0.01)


def test_failures_say_why_no_point_met_the_specs():
    from macro.transistor import failures

    def point(reason="", fom=None, meets=False):
        return {"reason": reason, "fom": fom, "meets_spec": meets}

    recs = [
        {"method": "bobo", "exp": "exp1", "history": [
            point("mapping: stage 2 gain 81.5 dB above 60.2 dB at gm/Id 12"),
            point("mapping: stage 3 gain 90 dB above 61.1 dB at gm/Id 15"),
            point("mapping: M5 width 0.21 um below the 0.36 um minimum"),
            point(fom=1e5), point("simulation failed: nonconvergence")]},
        {"method": "macro", "exp": "exp1", "history": [point(fom=5e5, meets=True)]},
        {"method": "rlbo", "exp": "exp2", "history": []},
    ]
    out = failures(recs)
    assert [(f["method"], f["exp"]) for f in out] == [("bobo", "exp1")]
    f = out[0]
    assert (f["points"], f["unmapped"], f["simulated"], f["failed"]) == (5, 3, 1, 1)
    # numbers become '#', the digit of a device name stays: alike refusals count together
    assert f["common"] == [("stage # gain # dB above # dB at gm/Id #", 2),
                           ("M5 width # um below the # um minimum", 1)]


def test_table_three_runs_are_reused_until_their_code_changes(tmp_path, monkeypatch):
    import json

    from macro import transistor

    entry = {"method": "macro", "exp": "exp1", "types": [0, 0, 4, 0, 0], "values": {"x": 1.0}}
    calls = []

    def mapped(e, config, progress=False):
        calls.append(e["exp"])
        return {**e, "after": None, "history": []}

    monkeypatch.setattr(transistor, "best_designs", lambda mode, root: [dict(entry)])
    monkeypatch.setattr(transistor, "map_one", mapped)
    first = transistor.run_table_three("quick", root=tmp_path)
    assert calls == ["exp1"] and first[0]["exp"] == "exp1"
    assert transistor.run_table_three("quick", root=tmp_path) == first and len(calls) == 1
    # as if made by another engine: shown as saved when not computing, redone when computing
    prov_path = tmp_path / transistor.run_name("quick", "macro", "exp1") / "provenance.json"
    prov = json.loads(prov_path.read_text())
    assert "circuits/engine.py" in prov["code"]["files"]
    prov["code"]["files"]["circuits/engine.py"] = "0" * 64
    prov_path.write_text(json.dumps(prov))
    assert transistor.run_table_three("quick", root=tmp_path, compute=False) == first
    assert len(calls) == 1
    transistor.run_table_three("quick", root=tmp_path)
    assert len(calls) == 2
    transistor.run_table_three("quick", root=tmp_path)  # current again
    assert len(calls) == 2
