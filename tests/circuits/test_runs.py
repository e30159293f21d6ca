"""Run folders: atomic writes, provenance, full results reused by quick builds."""

import json

import pytest

from circuits.runs import load_or_run, load_run, provenance, save_run, write_json_atomic


def test_write_json_atomic_leaves_no_partial_file(tmp_path):
    path = tmp_path / "a" / "x.json"
    write_json_atomic(path, {"v": 1})
    assert json.loads(path.read_text()) == {"v": 1}
    with pytest.raises(ValueError):  # NaN is not JSON: the old file stays, no temporary left
        write_json_atomic(path, {"v": float("nan")})
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_quick_builds_reuse_a_full_run_with_the_same_inputs(tmp_path):
    calls = []

    def compute(n):
        calls.append(n)
        return {"sum": sum(range(n))}

    quick = load_or_run("demo", {"n": 100}, {"n": 10}, compute, full_mode=False, root=tmp_path)
    assert quick.mode == "quick" and quick.metrics == {"sum": 45} and not quick.saved
    assert not (tmp_path / "demo").exists()
    full = load_or_run("demo", {"n": 100}, {"n": 10}, compute, full_mode=True, seed=3,
                       root=tmp_path)
    assert full.mode == "full" and full.metrics == {"sum": 4950} and full.saved
    again = load_or_run("demo", {"n": 100}, {"n": 10}, compute, full_mode=False, root=tmp_path)
    assert again.metrics == {"sum": 4950} and again.mode == "full"
    assert calls == [10, 100]  # the quick build loaded the full run instead of computing
    assert again.provenance["seed"] == 3 and again.provenance["wall_s"] >= 0
    # other inputs: the saved run does not apply
    other = load_or_run("demo", {"n": 200}, {"n": 10}, compute, full_mode=False, root=tmp_path)
    assert other.mode == "quick" and calls == [10, 100, 10]


def test_an_interrupted_overwrite_keeps_the_old_run_whole(tmp_path, monkeypatch):
    import circuits.runs as runs

    save_run("r", {"n": 100, "mode": "full"}, {"score": 1.0}, {"seed": 1}, root=tmp_path)
    real = runs.write_json_atomic

    def crash_on_config(path, obj):
        if path.name == "config.json":
            raise KeyboardInterrupt  # the writer dies after metrics and provenance
        real(path, obj)

    monkeypatch.setattr(runs, "write_json_atomic", crash_on_config)
    with pytest.raises(KeyboardInterrupt):
        save_run("r", {"n": 5000, "mode": "full"}, {"score": 99.0}, {"seed": 2}, root=tmp_path)
    monkeypatch.undo()
    old = load_run("r", {"n": 100, "mode": "full"}, root=tmp_path)
    assert old.metrics == {"score": 1.0} and old.provenance == {"seed": 1}
    assert load_run("r", {"n": 5000, "mode": "full"}, root=tmp_path) is None
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging folder left behind
    save_run("r", {"n": 5000, "mode": "full"}, {"score": 99.0}, {"seed": 2}, root=tmp_path)
    assert load_run("r", {"n": 5000, "mode": "full"}, root=tmp_path).metrics == {"score": 99.0}
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_full_and_loaded_runs_give_the_same_plain_data(tmp_path):
    import numpy as np

    def compute():
        return {"count": np.int64(3), "by_n": {8: np.float64(1.5)}, "pair": (1, 2),
                "curve": np.arange(3.0), "bad": float("inf")}

    full = load_or_run("d", {}, {}, compute, full_mode=True, root=tmp_path)
    loaded = load_or_run("d", {}, {}, compute, full_mode=False, root=tmp_path)
    expected = {"count": 3, "by_n": {"8": 1.5}, "pair": [1, 2], "curve": [0.0, 1.0, 2.0],
                "bad": None}
    assert full.metrics == loaded.metrics == expected


def test_provenance_records_versions_machine_and_commit():
    prov = provenance(seed=7, wall_s=1.5)
    assert prov["seed"] == 7 and prov["wall_s"] == 1.5
    assert prov["versions"]["python"] and prov["versions"]["numpy"]
    assert prov["machine"]["cpus"] >= 1 and prov["machine"]["cpu"]
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
