"""Run folders (RunLog): config written first, another run refused, torn log lines, resume cut."""

import json

import pytest

from lorarl.runlog import EPISODE_FIELDS, RunLog, RunLogError, read_episodes


def test_run_folder_files_and_finish(tmp_path):
    log = RunLog(tmp_path / "run", {"circuit": "two_stage", "seed": 1})
    assert json.loads((log.folder / "config.json").read_text()) == {"circuit": "two_stage",
                                                                     "seed": 1}
    assert not log.finished and log.metrics() is None
    for i in range(3):
        log.log_episode({k: i for k in EPISODE_FIELDS})
    assert [r["episode"] for r in log.episodes()] == [0, 1, 2]
    log.finish({"best": 1.5, "nan": float("nan")}, seed=1)
    assert log.finished and log.metrics() == {"best": 1.5, "nan": None}
    prov = json.loads((log.folder / "provenance.json").read_text())
    assert prov["seed"] == 1 and prov["wall_s"] >= 0 and "versions" in prov
    # reopening with the same config resumes the same folder
    again = RunLog(tmp_path / "run", {"seed": 1, "circuit": "two_stage"})
    assert again.finished and len(again.episodes()) == 3


def test_another_config_is_refused_unless_overwritten(tmp_path):
    RunLog(tmp_path / "run", {"seed": 1}).log_episode({"episode": 1})
    with pytest.raises(RunLogError, match=r"another config.*seed"):
        RunLog(tmp_path / "run", {"seed": 2})
    fresh = RunLog(tmp_path / "run", {"seed": 2}, overwrite=True)
    assert fresh.episodes() == [] and not fresh.finished


def test_torn_last_line_is_ignored_and_truncate_cuts_back(tmp_path):
    log = RunLog(tmp_path / "run", {"x": 1})
    for i in range(4):
        log.log_episode({"episode": i + 1})
    with open(log.episodes_path, "a") as fh:
        fh.write('{"episode": 5, "fo')  # a crash mid-write
    assert [r["episode"] for r in read_episodes(log.episodes_path)] == [1, 2, 3, 4]
    log.truncate(2)
    assert [r["episode"] for r in log.episodes()] == [1, 2]
    log.log_episode({"episode": 3})
    assert [r["episode"] for r in log.episodes()] == [1, 2, 3]


def test_a_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "episodes.jsonl"
    path.write_text('{"episode": 1}\nnot json\n{"episode": 3}\n')
    with pytest.raises(RunLogError, match="line 2"):
        read_episodes(path)
