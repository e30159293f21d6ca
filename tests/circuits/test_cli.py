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
    assert code == 2 and res["ok"] is False and res["failure"] == "invalid_parameter"


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
    assert code == 2 and "line 7: statement not accepted" in err and "'.control'" in err
    assert json.loads(out)["ok"] is False


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


# -- one contract for every error, and a closed standard output ------------------------------

def _one_json_object(out):
    obj = json.loads(out)  # the whole of standard output is one JSON object
    assert isinstance(obj, dict)
    return obj


@pytest.mark.parametrize("args", [
    ["--json"],  # no command
    ["nosuchcommand", "--json"],
    ["simulate", "--json"],  # no circuit, no --tech
    ["simulate", "two_stage", "--tech", "45nm", "--bogus", "--json"],
    ["simulate", "two_stage", "--tech", "45nm", "--timeout", "1e300", "--json"],
    ["simulate", "two_stage", "--tech", "45nm", "--timeout", "inf", "--js"],
    ["simulate", "two_stage", "--tech", "45nm", "--set", "w12", "--json"],
    ["simulate", "two_stage", "--tech", "45nm", "--vcm", "1x", "--json"],
    ["bench", "--sims", "0", "--json"],
    ["bench", "--sims", "-5", "--json"],
    ["bench", "--sims", "many", "--json"],
    ["bench", "--circuit", "nope", "--json"],
    ["bench", "--tech", "7nm", "--json"],
])
def test_every_error_under_json_is_one_object_and_exit_2(args):
    code, out, err = run(*args)
    assert code == 2, (code, err)
    res = _one_json_object(out)
    assert res["ok"] is False and res["reason"] and res["failure"] == "invalid_parameter", res
    assert "Traceback" not in err and "error" in err


def test_bench_needs_a_reference_sizing(monkeypatch, capsys):
    # in-process, with a technology registered for this test only: no amplifier has a
    # reference sizing in it (whatever other tests registered, or which PDKs are installed)
    import dataclasses

    from circuits import get_technology, technology
    from circuits.cli import main

    tech = dataclasses.replace(get_technology("45nm"), name="noref45")
    monkeypatch.setitem(technology._REGISTERED, tech.name, tech)
    code = main(["bench", "--tech", tech.name, "--sims", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "no reference sizing" in err and "Traceback" not in err
    assert _one_json_object(out)["ok"] is False


def test_unreadable_netlist_paths_are_bad_input(tmp_path):
    for path in (tmp_path, tmp_path / "missing.sp"):
        code, out, err = run("simulate-file", str(path), "--tech", "45nm", "--json")
        assert code == 2 and "Traceback" not in err, err
        res = _one_json_object(out)
        assert res["ok"] is False and res["failure"] == "netlist_error", res


def test_huge_timeout_without_json_is_an_option_error():
    code, out, err = run("simulate", "two_stage", "--tech", "45nm", "--timeout", "1e300")
    assert code == 2 and out == "" and "argument --timeout" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["list"], ["list", "--json"],
                                  ["simulate", "two_stage", "--tech", "45nm", "--json"],
                                  ["simulate", "two_stage", "--tech", "7nm", "--json"]])
def test_a_closed_standard_output_is_not_a_traceback(args):
    import os

    r, w = os.pipe()
    os.close(r)  # as `| head` does once it has read enough: every write fails
    try:
        proc = subprocess.run([sys.executable, "-m", "circuits", *args], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(w)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_list_piped_into_head_prints_its_first_line():
    proc = subprocess.run(f"{sys.executable} -m circuits list | head -1", shell=True,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout == "circuits:\n" and "Traceback" not in proc.stderr
