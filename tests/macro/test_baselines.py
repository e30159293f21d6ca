"""BOBO and RLBO (IV-B1): sizing by BO on the real solver, resume, the runner, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from macro.baselines import (
    BaselineError,
    BOBOConfig,
    RLBOConfig,
    SizingConfig,
    bobo,
    rlbo,
    size_topology,
    spec_margins,
)
from macro.dvae import DVAE, DVAEConfig
from macro.evaluation import Evaluation
from macro.experiment import ratios, table_two
from macro.reward import Specs
from macro.topology import Topology

torch.set_num_threads(1)
TINY = SizingConfig(n_init=4, n_iter=1, num_restarts=1, raw_samples=16)


def _vae():
    torch.manual_seed(0)
    return DVAE(DVAEConfig(hidden=16))


def test_spec_margins_sign_matches_the_specs():
    specs = Specs()
    good = Evaluation(True, "", 90.0, 1e6, 60.0, 100e-6, 1.0)
    assert (spec_margins(good, specs) > 0).all()
    bad_pm = Evaluation(True, "", 90.0, 1e6, -10.0, 100e-6, 1.0)
    m = spec_margins(bad_pm, specs)
    assert m[1] < 0 and (np.delete(m, 1) > 0).all()
    assert np.isnan(spec_margins(Evaluation.failed("unstable"), specs)).all()


def test_sizing_a_miller_topology_records_every_simulation():
    topo = Topology((0, 0, 2, 0, 0))    # a Miller capacitor n1-vout
    out = size_topology(topo, Specs(), TINY, seed=0)
    assert out["n_simulations"] == 5 and len(out["trace"]) == 5
    rec = out["best"] or out["closest"]
    assert rec is not None and rec["types"] == [0, 0, 2, 0, 0]
    assert set(rec["values"]) == {s.name for s in topo.parameters()}


def test_bobo_resumes_to_the_same_result(tmp_path):
    cfg = BOBOConfig(n_init=2, n_iter=1, seed=1, sizing=TINY, box_samples=50)
    ckpt = tmp_path / "bobo.json"
    part = bobo(cfg, _vae(), checkpoint=ckpt, stop_after=2)
    assert not part["complete"] and len(part["topologies"]) == 2
    resumed = bobo(cfg, _vae(), checkpoint=ckpt)
    straight = bobo(cfg, _vae())
    assert resumed["complete"]
    key = ("types", "z", "y", "c", "simulations")
    assert ([{k: v[k] for k in key} for v in resumed["topologies"]]
            == [{k: v[k] for k in key} for v in straight["topologies"]])
    assert resumed["n_simulations"] == straight["n_simulations"] > 0
    with pytest.raises(BaselineError):
        bobo(BOBOConfig(n_init=2, n_iter=1, seed=2, sizing=TINY, box_samples=50), _vae(),
             checkpoint=ckpt)


def test_rlbo_trains_agent_t_and_resumes(tmp_path):
    random_sizing = SizingConfig(n_init=3, n_iter=0)     # no GP: this test is about RLBO
    cfg = RLBOConfig(epochs=2, n_batch=2, seed=0, sizing=random_sizing)
    ckpt = tmp_path / "rlbo.pt"
    part = rlbo(cfg, _vae(), checkpoint=ckpt, stop_after=1)
    assert not part["complete"] and len(part["topologies"]) == 2
    resumed = rlbo(cfg, _vae(), checkpoint=ckpt)
    straight = rlbo(cfg, _vae())
    assert resumed["complete"] and len(resumed["topologies"]) == 4
    assert resumed["n_simulations"] == 3 * resumed["n_topologies_sized"]
    assert all(isinstance(v["reward"], float) for v in resumed["topologies"])
    assert resumed["topologies"] == straight["topologies"]


def test_table_two_rows_and_ratios():
    def run(fom):
        return {"best": {"fom": fom, "gain_db": 86.0, "pm_deg": 56.0, "gbw_hz": 1e6,
                         "power_w": 20e-6, "types": [0, 0, 2, 0, 0]},
                "to_best": {"wall_s": 3600.0, "simulations": 10}, "n_simulations": 20,
                "wall_s": 7200.0}
    runs = {"bobo": [run(1.0), run(3.0), None], "rlbo": [run(4.0)], "macro": [run(8.0)]}
    rows = table_two(runs)
    avg = {r["method"]: r for r in rows if r["exp"] == "avg"}
    assert avg["bobo"]["fom"] == 2.0 and avg["bobo"]["time_h"] == 1.0
    assert ratios(rows) == {"macro/bobo": 4.0, "macro/rlbo": 2.0}


@pytest.mark.parametrize("argv", [
    ["train", "--mode", "quick", "--epochs", "0", "--json"],
    ["train", "--mode", "slow", "--json"],
    ["baseline", "gp", "--json"],
    ["experiment", "--json"],
    ["experiment", "--mode", "quick", "--workers", "0", "--json"],
])
def test_cli_bad_input_exits_2(argv):
    out = subprocess.run([sys.executable, "-m", "macro", *argv], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    reply = json.loads(out.stdout)
    assert reply["ok"] is False and reply["error"] == "bad_input" and reply["reason"]


def test_run_experiment_saves_runs_and_skips_finished_ones(tmp_path):
    from macro.experiment import load_runs, run_experiment

    first = run_experiment("quick", root=tmp_path, workers=1, methods=("macro",))
    assert [s["skipped"] for s in first["status"]] == [False, False, False]
    assert (tmp_path / "macro/experiment/quick/dvae.pt").exists()
    assert not any((tmp_path / "macro/experiment/quick/checkpoints").iterdir())
    again = run_experiment("quick", root=tmp_path, workers=1, methods=("macro",))
    assert [s["skipped"] for s in again["status"]] == [True, True, True]
    runs = load_runs("quick", tmp_path, ("macro",))["macro"]
    assert [r.metrics["n_simulations"] for r in runs] == [384, 384, 384]
    assert runs[0].provenance["seed"] == 0 and runs[2].config["repeat"] == 3
