"""The command line: errors exit 2 with a clear message (JSON under --json); a baseline runs."""

import json
import subprocess
import sys

import pytest

from lorarl.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, text", [
    (["transfer", "--circuit", "opamp9", "--method", "scratch"], "unknown circuit"),
    (["pretrain", "--tech", "3nm"], "unknown node"),
    (["baseline", "--method", "anneal"], "invalid choice"),
    (["grid", "--mode", "huge"], "invalid choice"),
    (["grid", "--seeds", "a,b"], "comma-separated"),
    (["pretrain", "--episodes", "0"], "must be >= 1"),
    (["transfer", "--method", "lora"], "needs a backbone"),
    (["transfer", "--method", "lora", "--backbone", "/nonexistent/backbone.pt"],
     "no backbone file"),
    (["frobnicate"], "invalid choice"),
    (["baseline", "--method", "cma", "--budget", "-3"], "must be >= 1"),
])
def test_bad_input_exits_2_with_json(capsys, argv, text):
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 2
    data = json.loads(out)
    assert data["ok"] is False and text in data["error"]
    assert text in err


def test_bad_input_without_json_prints_only_to_stderr(capsys):
    code, out, err = _run(capsys, "baseline", "--method", "cma", "--circuit", "nope")
    assert code == 2 and out == "" and "unknown circuit" in err


def test_config_file_is_data_and_checked(capsys, tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("__import__('os').system('true')")
    code, out, _ = _run(capsys, "pretrain", "--config", str(bad), "--json")
    assert code == 2 and "not JSON" in json.loads(out)["error"]
    unknown = tmp_path / "u.json"
    unknown.write_text(json.dumps({"episodes": 2, "colour": "red"}))
    code, out, _ = _run(capsys, "pretrain", "--config", str(unknown), "--json")
    assert code == 2 and "unknown settings" in json.loads(out)["error"]


def test_baseline_runs_and_writes_a_run_folder(capsys, tmp_path):
    folder = tmp_path / "run"
    code, out, _ = _run(capsys, "baseline", "--method", "random", "--circuit",
                        "current_mirror_ota", "--budget", "5", "--seed", "2", "--run-dir",
                        str(folder), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] and data["sims"] == 5 and len(data["best_curve"]) == 5
    assert {p.name for p in folder.iterdir()} >= {"config.json", "metrics.json",
                                                   "provenance.json"}
    code, out, _ = _run(capsys, "baseline", "--method", "random", "--circuit",
                        "current_mirror_ota", "--budget", "5", "--seed", "2", "--run-dir",
                        str(folder), "--json")
    again = json.loads(out)
    assert code == 0 and again["loaded"] and again["best_curve"] == data["best_curve"]


def test_grid_dry_run_lists_cells_and_estimate(capsys):
    code, out, _ = _run(capsys, "grid", "--mode", "full", "--dry-run", "--json")
    data = json.loads(out)
    assert code == 0 and data["dry_run"]
    assert len(data["cells"]) == 120 and data["estimate"]["wall_hours"] > 0


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "lorarl", "grid", "--mode", "bad", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and json.loads(proc.stdout)["ok"] is False
