"""Two-phase training on the real environment (ngspice): same seed same result, resume equals
an uninterrupted run, the transfer methods, and bad settings."""

import json

import pytest
import torch

from lorarl.ddpg import DDPGConfig
from lorarl.env import EnvConfig
from lorarl.train import (
    BACKBONE,
    CHECKPOINT,
    PretrainConfig,
    TrainConfigError,
    TransferConfig,
    config_from_dict,
    episodes_to_target,
    load_backbone,
    pretrain,
    read_episode_log,
    transfer,
)

torch.set_num_threads(1)

AGENT = DDPGConfig(hidden=16, batch_size=8, buffer_size=256, warmup_steps=8,
                   updates_per_transition=0.5)
#: log fields that do not depend on the machine's speed
EXACT = ("episode", "fom", "feasible", "episode_best", "best_feasible_fom", "sims",
         "failed_sims", "infeasible_sims", "copy", "return", "episode_sims", "episode_failed_sims",
         "episode_infeasible_sims", "updates", "sigma")


def _pre(**kw):
    return PretrainConfig(env=EnvConfig(circuit="two_stage", tech="90nm", episode_length=3),
                          agent=AGENT, episodes=8, n_envs=2, checkpoint_every=1, **kw)


def _exact(log):
    return [{k: e[k] for k in EXACT} for e in log]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory, sim):
    run = tmp_path_factory.mktemp("pretrain")
    out = pretrain(_pre(), run_dir=run, simulator=sim)
    return run, out


def test_pretrain_logs_every_episode_and_saves_a_backbone(backbone):
    run, out = backbone
    assert out["finished"] and out["episodes"] == 8 and len(out["log"]) == 8
    assert out["updates"] > 0
    # 4 rounds x 2 copies x (1 start + 3 steps) simulations, plus the starts of the next round
    assert out["sims"] == 4 * 2 * 4 + 2
    assert out["log"][-1]["sims"] == out["sims"]
    run_folder_columns = {"episode", "fom", "feasible", "episode_best", "best_feasible_fom",
                          "sims", "failed_sims", "infeasible_sims", "wall_s", "sim_s",
                          "sim_share"}
    assert run_folder_columns <= set(out["log"][0])
    assert out["failed"] + out["infeasible"] <= out["sims"]
    assert 0 < out["sim_share"] < 1
    assert read_episode_log(run) == out["log"]
    summary = json.loads((run / "metrics.json").read_text())
    assert (run / "provenance.json").is_file() and (run / "config.json").is_file()
    assert summary["episodes"] == 8 and summary["backbone"].endswith(BACKBONE)
    weights = load_backbone(run / BACKBONE)
    assert set(weights) >= {"net", "agent", "env"}
    assert weights["env"]["tech"] == "90nm"


def test_same_seed_same_result(backbone, sim):
    _, first = backbone
    again = pretrain(_pre(), simulator=sim)
    assert _exact(again["log"]) == _exact(first["log"])
    other = pretrain(_pre(seed=1), simulator=sim)
    assert _exact(other["log"]) != _exact(first["log"])


def test_resume_equals_uninterrupted(backbone, tmp_path, sim):
    run0, full = backbone
    part = pretrain(_pre(), run_dir=tmp_path, simulator=sim, max_rounds=2)
    assert not part["finished"] and len(part["log"]) == 4
    assert (tmp_path / CHECKPOINT).is_file()
    rest = pretrain(_pre(), run_dir=tmp_path, simulator=sim)
    assert rest["finished"]
    assert _exact(rest["log"]) == _exact(full["log"])
    assert _exact(read_episode_log(tmp_path)) == _exact(full["log"])  # the folder's log too
    again = pretrain(_pre(), run_dir=tmp_path, simulator=sim)  # finished: read back, not rerun
    assert again["wall_s"] == rest["wall_s"] and _exact(again["log"]) == _exact(full["log"])
    a = load_backbone(tmp_path / BACKBONE)
    b = load_backbone(run0 / BACKBONE)
    for k in a["net"]:
        assert torch.equal(a["net"][k], b["net"][k]), k
    # another configuration never resumes a folder's checkpoint
    with pytest.raises(TrainConfigError, match="another configuration"):
        pretrain(_pre(seed=3), run_dir=tmp_path, simulator=sim)


def _tr(backbone_path, method, **kw):
    return TransferConfig(
        env=EnvConfig(circuit="current_mirror_ota", tech="45nm", episode_length=3),
        agent=AGENT, method=method, backbone=str(backbone_path), rank=2, episodes=4,
        n_envs=2, checkpoint_every=1, **kw)


def test_lora_transfer_trains_only_adapters_and_resumes(backbone, tmp_path, sim):
    run0, _ = backbone
    cfg = _tr(run0 / BACKBONE, "lora", eval_episodes=2)
    full = transfer(cfg, run_dir=tmp_path / "a", simulator=sim)
    c = full["parameters"]
    assert c["trainable"] == c["adapter"] > 0 and c["fraction"] == c["adapter"] / c["backbone"]
    assert full["updates"] > 0
    assert full["evaluation"]["episodes"] == 2
    state = torch.load(tmp_path / "a" / CHECKPOINT, weights_only=True)["agent"]
    weights = load_backbone(run0 / BACKBONE)
    moved = 0
    for k, v in weights["net"].items():
        module, _, name = k.rpartition(".")
        wrapped = f"{module}.base.{name}"
        key = wrapped if wrapped in state["net"] else k
        assert torch.equal(state["net"][key], v), k  # the backbone stays frozen
    for k, v in state["net"].items():
        if k.endswith("lora_B"):
            moved += int(v.abs().sum() > 0)
    assert moved > 0  # the adapters learnt
    part = transfer(cfg, run_dir=tmp_path / "b", simulator=sim, max_rounds=1)
    assert not part["finished"]
    rest = transfer(cfg, run_dir=tmp_path / "b", simulator=sim)
    assert _exact(rest["log"]) == _exact(full["log"])
    assert rest["evaluation"] == full["evaluation"]


def test_a_callers_run_log_is_used(backbone, tmp_path, sim):
    from lorarl.runlog import RunLog

    run0, _ = backbone
    log = RunLog(tmp_path / "cell", {"cell": "transfer/x", "mode": "quick"})
    out = transfer(_tr(run0 / BACKBONE, "finetune"), run_dir=log, simulator=sim)
    assert log.finished and len(log.episodes()) == out["episodes"] == 4
    assert json.loads((tmp_path / "cell" / "config.json").read_text())["cell"] == "transfer/x"


@pytest.mark.parametrize("method", ["scratch", "finetune"])
def test_other_methods_train_every_weight(backbone, method, sim):
    run0, _ = backbone
    out = transfer(_tr(run0 / BACKBONE, method), simulator=sim)
    c = out["parameters"]
    assert c["adapter"] == 0 and c["trainable"] == c["total"]
    assert out["episodes"] == 4 and out["method"] == method


def test_bad_settings_are_typed_errors(tmp_path):
    with pytest.raises(TrainConfigError, match="method"):
        TransferConfig(method="adapters", backbone="x")
    with pytest.raises(TrainConfigError, match="needs a backbone"):
        TransferConfig(method="lora")
    with pytest.raises(TrainConfigError, match="multiple of n_envs"):
        PretrainConfig(episodes=5, n_envs=2)
    with pytest.raises(TrainConfigError, match="no backbone file"):
        transfer(TransferConfig(method="lora", backbone=str(tmp_path / "missing.pt")))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainConfigError, match="not a readable backbone"):
        load_backbone(bad)
    with pytest.raises(TrainConfigError, match="unknown settings"):
        config_from_dict({"epochs": 3})
    cfg = config_from_dict({"method": "scratch", "episodes": 4, "env": {"circuit": "two_stage"},
                            "agent": {"hidden": 8}})
    assert cfg.env.circuit == "two_stage" and cfg.agent.hidden == 8


def test_episodes_to_target_moving_average():
    log = [{"fom": f, "feasible": True} for f in [0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 1.2, 1.2]]
    assert episodes_to_target(log, 1.0, window=2) == 4
    assert episodes_to_target(log, 1.0, window=3) == 5
    assert episodes_to_target(log, 2.0, window=2) is None
    assert episodes_to_target(log[:1], 0.0, window=2) is None
    # an infeasible or failed end counts as 0
    bad = [{"fom": 5.0, "feasible": False}, {"fom": None, "feasible": False}]
    assert episodes_to_target(bad + log, 1.0, window=2) == 6
