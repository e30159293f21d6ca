"""The experiment grid: the plan, finished cells skipped on a second run, failures contained."""

import json
import os

import pytest

from lorarl.grid import BUDGETS, Cell, estimate, load_results, plan, run_grid


def _baseline(name, seed, budget=3, needs=()):
    return Cell(name, "baseline", {"method": "random", "circuit": "current_mirror_ota",
                                   "tech": "45nm", "budget": budget, "seed": seed, "batch": 1},
                needs, {"seed": seed})


def test_full_plan_covers_the_experiment():
    cells = plan("full")
    names = [c.name for c in cells]
    assert len(names) == len(set(names))
    kinds = {k: sum(c.kind == k for c in cells) for k in ("pretrain", "transfer", "baseline")}
    # per seed: 16 at 45 nm, 8 at 22 nm, 3 extra ranks; 12 baselines; one pre-training
    assert kinds == {"pretrain": 3, "transfer": 3 * 27, "baseline": 3 * 12}
    by_name = {c.name: c for c in cells}
    for c in cells:
        for n in c.needs:  # dependencies exist and come first
            assert names.index(n) < names.index(c.name)
            assert by_name[n].kind == "pretrain" and by_name[n].config["seed"] == c.config["seed"]
        if c.kind == "transfer":
            assert bool(c.needs) == (c.config["method"] != "scratch")
    at22 = {c.tags["method"] for c in cells if c.tags.get("tech") == "22nm"}
    assert at22 == {"scratch", "lora-r4"}
    ranks = {c.tags["rank"] for c in cells if c.kind == "transfer"
             and c.tags["circuit"] == "current_mirror_ota" and c.tags["tech"] == "45nm"
             and c.config["method"] == "lora"}
    assert ranks == {1, 2, 4, 8, 16}
    pre = by_name["pretrain/two_stage-90nm/s0"]
    assert pre.config["env"] == {"circuit": "two_stage", "tech": "90nm"}
    assert len(BUDGETS["full"]["seeds"]) >= 3


def test_estimate_scales_with_the_episode_time():
    cells = plan("full")
    a, b = estimate(cells, episode_s=0.5), estimate(cells, episode_s=1.0)
    assert b["wall_seconds"] > a["wall_seconds"] > 0
    assert estimate(cells, 0.5, jobs=1)["wall_seconds"] == pytest.approx(2 * a["wall_seconds"])


def test_bad_mode_or_seeds():
    with pytest.raises(ValueError, match="mode"):
        plan("huge")
    with pytest.raises(ValueError, match="seed"):
        plan("quick", seeds=())


def test_second_run_skips_finished_cells_and_failures_stay_contained(tmp_path):
    cells = [_baseline("baseline/a/s0", 0), _baseline("baseline/b/s1", 1),
             _baseline("baseline/c/s0", 0, needs=("pretrain/missing/s0",))]
    first = run_grid(cells, tmp_path, "quick", jobs=1)
    assert first["cells"]["baseline/a/s0"]["status"] == "done"
    assert first["cells"]["baseline/b/s1"]["status"] == "done"
    assert first["cells"]["baseline/c/s0"]["status"] == "blocked"
    metrics = tmp_path / "baseline/a/s0/metrics.json"
    before = metrics.read_text(), metrics.stat().st_mtime_ns
    second = run_grid(cells, tmp_path, "quick", jobs=1)
    assert second["cells"]["baseline/a/s0"]["status"] == "skipped"
    assert second["cells"]["baseline/b/s1"]["status"] == "skipped"
    assert (metrics.read_text(), metrics.stat().st_mtime_ns) == before
    saved = json.loads((tmp_path / "grid.json").read_text())
    assert saved["counts"] == {"skipped": 2, "blocked": 1}
    results = load_results(tmp_path, cells)
    assert set(results) == {"baseline/a/s0", "baseline/b/s1"}
    assert results["baseline/a/s0"]["sims"] == 3
    # a folder that holds another run's config is reported, not overwritten
    other = [_baseline("baseline/a/s0", 0, budget=4)]
    out = run_grid(other, tmp_path, "quick", jobs=1)
    assert out["cells"]["baseline/a/s0"]["status"] == "failed"
    assert "another config" in out["cells"]["baseline/a/s0"]["error"]
    assert metrics.read_text() == before[0]


def test_cells_run_in_parallel_processes(tmp_path):
    cells = [_baseline("baseline/p/s0", 0, budget=2), _baseline("baseline/q/s1", 1, budget=2)]
    out = run_grid(cells, tmp_path, "quick", jobs=2)
    assert out["counts"] == {"done": 2}
    pids = {json.loads((tmp_path / c.name / "metrics.json").read_text())["pid"] for c in cells}
    assert os.getpid() not in pids  # run in the pool's processes, not here


def test_training_cells_pass_the_backbone_and_drop_their_checkpoints(tmp_path):
    pre = Cell("pretrain/a/s0", "pretrain", {"env": {"circuit": "two_stage", "tech": "90nm",
                                                     "episode_length": 2},
                                             "episodes": 2, "seed": 0, "workers": 1})
    tr = Cell("transfer/c/lora-r2/s0", "transfer", {
        "env": {"circuit": "current_mirror_ota", "tech": "45nm", "episode_length": 2},
        "method": "lora", "rank": 2, "episodes": 2, "eval_episodes": 2, "seed": 0,
        "workers": 1}, needs=(pre.name,), tags={"method": "lora-r2"})
    out = run_grid([tr, pre], tmp_path, "quick", jobs=1)  # dependencies run first
    assert out["counts"] == {"done": 2}
    assert (tmp_path / pre.name / "backbone.pt").is_file()
    for c in (pre, tr):
        assert not (tmp_path / c.name / "checkpoint.pt").exists()
        assert (tmp_path / c.name / "episodes.jsonl").is_file()
    summary = json.loads((tmp_path / tr.name / "metrics.json").read_text())
    assert summary["method"] == "lora" and summary["evaluation"]["episodes"] == 2
    assert summary["parameters"]["trainable"] < summary["parameters"]["total"]
    again = run_grid([pre, tr], tmp_path, "quick", jobs=1)
    assert again["counts"] == {"skipped": 2}
    assert len(load_results(tmp_path, [pre, tr])[tr.name]["episodes_log"]) == 2
