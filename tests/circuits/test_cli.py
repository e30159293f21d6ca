"""The command line, run as users run it (real ngspice in a subprocess)."""

import json
import subprocess
import sys

import pytest

KEYS = {"ok", "reason", "gain_db", "ugbw_hz", "pm_deg", "power_w", "fom"}


def run(*args, timeout=120, env=None):
    proc = subprocess.run([sys.executable, "-m", "circuits", *args], capture_output=True,
                          text=True, timeout=timeout, check=False, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def test_list():
    code, out, _ = run("list", "--json")
    assert code == 0
    data = json.loads(out)
    assert [c["name"] for c in data["circuits"]] == ["two_stage", "folded_cascode",
                                                     "current_mirror_ota", "three_stage_nmc"]
    assert {"180nm", "90nm", "45nm", "22nm"} <= {t["name"] for t in data["technologies"]}


def test_simulate_reference_and_set():
    code, out, _ = run("simulate", "two_stage", "--tech", "45nm", "--json")
    assert code == 0
    ref = json.loads(out)
    assert set(ref) >= KEYS and ref["ok"] is True
    assert ref["fom"] == pytest.approx(1.0)
    code, out, _ = run("simulate", "two_stage", "--tech", "45nm", "--set", "ibias=20u",
                       "--set", "cc=2e-12", "--json")
    res = json.loads(out)
    assert code == 0 and res["ok"] and res["params"]["ibias"] == 2e-5
    assert res["power_w"] > ref["power_w"] and res["fom"] != ref["fom"]


def test_bad_input_exits_2_with_a_json_failure():
    code, out, err = run("simulate", "two_stage", "--tech", "45nm", "--set", "nope=1", "--json")
    assert code == 2 and "no parameter" in err
    assert json.loads(out)["ok"] is False
    code, _, err = run("simulate", "two_stage", "--tech", "7nm", "--json")
    assert code == 2 and "unknown technology" in err
    code, out, _ = run("simulate", "two_stage", "--tech", "45nm", "--set", "w12=1", "--json")
    res = json.loads(out)
    assert code == 0 and res["ok"] is False and res["failure"] == "invalid_parameter"


@pytest.mark.parametrize(("option", "value"), [
    ("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"), ("--timeout", "inf"),
    ("--vcm", "nan"), ("--vcm", "1x"), ("--load-cap", "-1p"), ("--load-cap", "0"),
])
def test_bad_options_exit_2_without_a_traceback(option, value):
    code, _, err = run("simulate", "two_stage", "--tech", "45nm", option, value, "--json")
    assert code == 2 and f"argument {option}" in err and "Traceback" not in err


def test_missing_ngspice_library_is_a_typed_engine_failure():
    import os

    env = {**os.environ, "NGSPICE_LIBRARY_PATH": "/nonexistent/libngspice.so"}
    code, out, err = run("simulate", "two_stage", "--tech", "45nm", "--json", env=env)
    assert code == 2 and "Traceback" not in err
    res = json.loads(out)
    assert res["ok"] is False and res["failure"] == "engine_error"
    assert "cannot load libngspice" in res["reason"]


def test_simulate_file_user_netlist_and_refusals(tmp_path):
    good = tmp_path / "amp.sp"
    good.write_text("* ideal amplifier\n.subckt my inp inn out vdd vss\n"
                    "G1 vss out inp inn 1m\nR1 out vss 1meg\nC1 out vss 1p\n.ends\n")
    code, out, _ = run("simulate-file", str(good), "--tech", "45nm", "--json")
    res = json.loads(out)
    assert code == 0 and res["ok"], res
    assert res["gain_db"] == pytest.approx(60.0, abs=0.05) and res["fom"] is None
    bad = tmp_path / "bad.sp"
    bad.write_text(good.read_text() + ".control\nshell echo hi\n.endc\n")
    code, out, err = run("simulate-file", str(bad), "--tech", "45nm", "--json")
    assert code == 2 and ".control refused" in err and json.loads(out)["ok"] is False


def test_simulate_file_hanging_netlist_times_out(tmp_path):
    hang = tmp_path / "hang.sp"
    hang.write_text(".subckt osc inp inn out vdd vss\nG1 vss out inp inn 1m\n"
                    "R1 out vss 1meg\nB1 n1 vss V=1-u(v(n2)-0.5)\nR2 n1 n2 1k\n"
                    "C2 n2 vss 1n\n.ends\n")
    code, out, _ = run("simulate-file", str(hang), "--tech", "45nm", "--timeout", "2", "--json")
    res = json.loads(out)
    assert code == 0 and res["ok"] is False and res["failure"] == "timeout"


def test_bench_reports_every_figure():
    code, out, _ = run("bench", "--sims", "300", "--json", timeout=300)
    assert code == 0
    rep = json.loads(out)
    for key in ("engine_ms", "batch_ms", "speedup", "rss_growth_mb", "parallel_speedup"):
        assert rep[key] > 0 or key == "rss_growth_mb", key
    assert rep["speedup"] == pytest.approx(rep["batch_ms"] / rep["engine_ms"])
