"""The measures of the experiments chapter on hand-made episode logs and run summaries."""

import pytest

from lorarl import analysis as A


def _log(foms, feasible=None, sims_per=11):
    feasible = feasible or [True] * len(foms)
    return [{"episode": i + 1, "fom": f, "feasible": ok, "sims": (i + 1) * sims_per}
            for i, (f, ok) in enumerate(zip(foms, feasible, strict=True))]


def test_reach_is_the_moving_median_not_the_mean():
    # one outlier among infeasible episodes: the mean passes, the median does not
    foms = [0.1, 0.2, 50.0, 0.1]
    log = _log(foms, [False, False, True, False])
    assert A.reach(log, 1.0, window=4) == (None, None)
    # half of the window at or above the target: reached at that episode
    log = _log([0.5, 0.6, 1.2, 1.3, 1.1, 0.2])
    assert A.reach(log, 1.0, window=4) == (5, 55)
    assert A.reach(log, 1.0, window=10) == (None, None)  # shorter than the window


def test_infeasible_final_design_counts_zero():
    log = _log([2.0, 2.0, 2.0], [False, True, False])
    assert [A.final_feasible_fom(e) for e in log] == [0.0, 2.0, 0.0]
    assert A.moving_median(log, 2).tolist() == [1.0, 1.0]


def _run(circuit, method, seed, episodes_to, sims, failed, final):
    foms = [0.0] * (episodes_to - 1) + [2.0] * 5 if episodes_to else [0.0] * 10
    return {"tags": {"circuit": circuit, "tech": "45nm", "method": method, "seed": seed},
            "target_fom": 1.0, "episodes_log": _log(foms), "sims": sims, "failed": failed,
            "sims_to_target": 7, "evaluation": {"mean_final_fom": final},
            "best_feasible_fom": 2.0, "episodes": len(foms)}


def test_tables_and_ablations_aggregate_over_seeds():
    res = {"a": _run("two_stage", "scratch", 0, 9, 100, 20, 1.0),
           "b": _run("two_stage", "scratch", 1, 11, 100, 10, 1.2),
           "c": _run("two_stage", "lora-r4", 0, 3, 100, 5, 1.1),
           "d": _run("two_stage", "lora-r4", 1, None, 100, 5, 1.1)}
    t1 = {r["method"]: r for r in A.table_one(res, window=1)}
    assert t1["scratch"]["episodes_to_target"]["mean"] == pytest.approx(10.0)
    assert t1["lora-r4"]["reached"] == 1 and t1["lora-r4"]["episodes_to_target"]["n"] == 1
    assert t1["lora-r4"]["speedup"] == pytest.approx(10 / 3)
    t2 = A.table_two(res)[0]
    assert t2["delta_lora-r4"] == pytest.approx(1.1 / 1.1 - 1)
    ab = A.ablations(res)["per_circuit"]["A"]
    assert ab["malfunction_reference"] == pytest.approx(0.15)
    assert ab["malfunction_ratio"] == pytest.approx(0.05 / 0.15)
    assert A.fmt({"mean": 1.234, "std": 0.1, "n": 2}, 2) == "1.23 ± 0.10"
    assert A.fmt({"mean": None, "std": None, "n": 0}) == "—"


def test_learning_curves_mean_and_spread_over_seeds():
    res = {"a": _run("current_mirror_ota", "lora-r4", 0, 2, 50, 0, 1.0),
           "b": _run("current_mirror_ota", "lora-r4", 1, 4, 50, 0, 1.0)}
    c = A.learning_curves(res, "current_mirror_ota", window=1)["lora-r4"]
    assert c["seeds"] == 2 and c["episode"][0] == 1
    # seed 0 reaches 2.0 at episode 2, seed 1 at episode 4
    assert c["mean"][:4].tolist() == [0.0, 1.0, 1.0, 2.0]
    assert c["std"][1] == pytest.approx(2 ** 0.5)


def test_start_distribution_on_ngspice(sim):
    d = A.start_distribution("current_mirror_ota", episodes=3, simulator=sim)
    for part in ("start", "random_policy"):
        assert 0 <= d[part]["feasible"] + d[part]["failed"] <= 1
        assert d[part]["median_fom"] <= d[part]["mean_fom"] or d[part]["feasible"] > 0.5
    assert d["target"] == 1.05 and d["spread"] == 0.2
