"""Black-box baselines on tiny budgets (real ngspice): budget, box, feasibility, target count."""

import itertools

import numpy as np
import pytest
import torch

from lorarl.baselines import BaselineConfig, constraints, loss, run_baseline
from lorarl.env import DesignSpace, EnvConfigError, feasible

torch.set_num_threads(1)


def _check_run(r, cfg):
    assert r["sims"] == cfg.budget
    curve = r["best_curve"]
    assert len(curve) == cfg.budget and all(b >= a for a, b in itertools.pairwise(curve))
    assert curve[-1] == r["best_feasible_fom"]
    assert r["failed_sims"] + r["infeasible_sims"] <= r["sims"]
    if r["sims_to_target"] is None:
        assert r["best_feasible_fom"] < r["target_fom"] and not r["reached"]
    else:
        k = r["sims_to_target"]
        assert curve[k - 1] >= r["target_fom"] and (k == 1 or curve[k - 2] < r["target_fom"])
    if r["best_params"] is not None:  # inside the search region around the start
        space = DesignSpace.of(cfg.circuit, cfg.tech, cfg.scale)
        u = space.to_unit(np.array([r["best_params"][n] for n in space.names]))
        u0 = space.to_unit(np.array([r["start_params"][n] for n in space.names]))
        assert np.all(np.abs(u - u0) <= cfg.radius + 1e-9)


@pytest.mark.parametrize("method, budget", [("random", 8), ("cma", 10), ("bo", 6)])
def test_baseline_on_a_tiny_budget(sim, method, budget):
    cfg = BaselineConfig(method=method, circuit="two_stage", budget=budget, seed=3, bo_init=4,
                         bo_refit=2)
    r = run_baseline(cfg, sim)
    _check_run(r, cfg)
    assert r["bo_fallbacks"] == 0  # every BO proposal came from the fitted GPs
    # the first simulation is the start point, a draw of the environment's start distribution
    assert r["start_params"] != r["config"] and len(r["start_params"]) == 13


def test_same_seed_same_result(sim):
    cfg = BaselineConfig(method="random", circuit="current_mirror_ota", budget=6, seed=5)
    a, b = run_baseline(cfg, sim), run_baseline(cfg, sim)
    assert a["best_curve"] == b["best_curve"] and a["best_params"] == b["best_params"]


def test_stop_at_target_counts_simulations(sim):
    cfg = BaselineConfig(method="cma", circuit="two_stage", budget=40, seed=1,
                         target_fom=1e-6, stop_at_target=True)
    r = run_baseline(cfg, sim)
    assert r["reached"] and r["sims"] <= r["sims_to_target"] + cfg.batch


def test_loss_ranks_feasible_above_infeasible_above_failed(sim):
    ref = sim.simulate("two_stage", "45nm")
    assert feasible(ref)
    assert loss(ref) == pytest.approx(-np.log10(ref.fom))
    off = sim.simulate("two_stage", "45nm", {"cc": 1e-14})  # no compensation: PM collapses
    assert not feasible(off) and 10 <= loss(off) < 20
    failed = sim.simulate("two_stage", "45nm", {"w12": -1.0})
    assert not failed.ok and loss(failed) == 20
    pm, margin = constraints(ref)
    assert pm >= 0 and margin >= 0
    assert constraints(off)[0] < 0 or constraints(off)[1] < 0


@pytest.mark.parametrize("kwargs, text", [
    ({"method": "grid"}, "unknown baseline"),
    ({"budget": 0}, "budget"),
    ({"radius": 2.0}, "radius"),
    ({"circuit": "opamp9"}, "unknown circuit"),
])
def test_bad_baseline_config(kwargs, text):
    with pytest.raises(EnvConfigError, match=text):
        BaselineConfig(**kwargs)
