"""``python -m macro params | netlist | simulate`` and its errors."""

import json
import os
import subprocess
import sys

import pytest

from macro.cli import main, parse_si

MILLER = ["--edges", "0,0,2,0,0", "--set", "n1_vout_c=10p", "--set", "g1=10u",
          "--set", "g2=1m", "--set", "g3=1m"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_params_json(capsys):
    code, out, _ = run(capsys, "params", "--edges", "4,5,12,0,3", "--json")
    assert code == 0
    table = json.loads(out)
    assert list(table)[:6] == ["g1", "rscl1", "g2", "rscl2", "g3", "rscl3"]
    assert table["vin_vout_gm"] == {"kind": "gm", "bounds": [1e-5, 1e-2],
                                    "default": pytest.approx(1e-5**0.5 * 1e-2**0.5),
                                    "log": True, "element": "vin_vout"}
    assert table["vin_n2_r"]["bounds"] == [1e4, 1e7] and table["n2_gnd_c"]["kind"] == "c"
    assert "n1_gnd_r" not in table


def test_netlist_is_plain_g_r_c_with_the_standard_nodes(capsys):
    code, out, _ = run(capsys, "netlist", *MILLER)
    assert code == 0
    lines = out.splitlines()
    assert any(ln.startswith("V") and ln.split()[1:3] == ["vin", "0"] and ln.endswith("AC 1")
               for ln in lines)
    elements = [ln for ln in lines if ln[:1] in "GRC"]
    assert {ln[0] for ln in elements} == {"G", "R", "C"}
    nodes = {n for ln in elements for n in ln.split()[1:-1]}
    assert nodes == {"vin", "n1", "n2", "vout", "0"}
    values = {ln.split()[0]: float(ln.split()[-1]) for ln in elements}
    assert values["Cc_n1_vout"] == pytest.approx(10e-12, rel=1e-15)
    assert values["Cc_load"] == 1e-8 and values["Rr_load"] == 0.15e6
    assert values["Gg_main2"] == -1e-3 and values["Gg_main1"] == pytest.approx(1e-5)
    for ln in elements:
        float(ln.split()[-1])  # numeric values only


def test_simulate_json_every_solver(capsys):
    results = {}
    for solver in ("batched", "compiled", "ngspice"):
        code, out, _ = run(capsys, "simulate", *MILLER, "--solver", solver, "--json")
        assert code == 0
        results[solver] = json.loads(out)
    for r in results.values():
        assert {"ok", "reason", "gain_db", "gbw_hz", "pm_deg", "power_w", "fom", "score",
                "meets_spec"} <= set(r)
        assert r["ok"] is True and isinstance(r["meets_spec"], bool)
    b = results["ngspice"]
    for a in (results["batched"], results["compiled"]):
        assert a["gbw_hz"] == pytest.approx(b["gbw_hz"], rel=1e-6)
        assert a["score"] == pytest.approx(b["score"], rel=1e-6)
    assert results["compiled"]["solver"] == "compiled"


def test_simulate_failed_design_is_not_an_error(capsys):
    code, out, _ = run(capsys, "simulate", "--edges", "0,0,15,0,0", "--set", "n1_vout_gm=1m",
                       "--json")
    r = json.loads(out)
    assert code == 0 and r["ok"] is False and "unstable" in r["reason"]
    assert r["score"] == 0.0 and r["meets_spec"] is False and r["gain_db"] is None


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--edges", "0,0,2,0"], "5 comma-separated"),
    (["simulate", "--edges", "0,0,2,0,x"], "comma-separated integers"),
    (["simulate", "--edges", "11,0,2,0,0"], "vin-n2 allows types 0-10"),
    (["simulate", "--edges", "0,0,25,0,0"], "n1-vout allows types 0-24"),
    (["simulate", "--edges", "0,0,2,0,5"], "n2-gnd allows types 0-4"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "nope=1"], "unknown parameter"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "g1=1"], "outside its bounds"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "g1=1kk"], "not a number"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "g1"], "NAME=VALUE"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "g1=nan"], "not a number"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "g1=1e999"], "not finite"),
    (["simulate", "--edges", "0,0,2,0,0", "--set", "g1=1u", "--set", "g1=2u"], "twice"),
    (["simulate", "--edges", "0,0,2,0,0", "--solver", "spectre"], "invalid choice"),
    (["params"], "required"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_exits_2_with_json(capsys, argv, message):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 2
    r = json.loads(out)
    assert r["ok"] is False and r["error"] == "bad_input" and message in r["reason"]
    assert message in err
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and message in err


def test_si_values():
    assert parse_si("2p") == pytest.approx(2e-12)
    assert parse_si("1.5meg") == pytest.approx(1.5e6)
    assert parse_si("3e-5") == 3e-5


def test_module_entry_point():
    p = subprocess.run([sys.executable, "-m", "macro", "simulate", *MILLER, "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ok"] is True
    p = subprocess.run([sys.executable, "-m", "macro", "params", "--edges", "1,2,3", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and json.loads(p.stdout)["ok"] is False


def test_missing_ngspice_is_an_engine_error_with_status_2():
    env = {**os.environ, "NGSPICE_LIBRARY_PATH": "/nonexistent/libngspice.so"}
    p = subprocess.run([sys.executable, "-m", "macro", "simulate", *MILLER, "--solver",
                        "ngspice", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 2
    r = json.loads(p.stdout)
    assert r["ok"] is False and r["error"] == "engine_error" and "libngspice" in r["reason"]
