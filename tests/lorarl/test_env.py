"""The sizing environment on real ngspice: gymnasium's checker, rewards, failures, batching."""

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from circuits import Simulator
from lorarl.env import (
    FEASIBILITY,
    TARGETS,
    DesignSpace,
    EnvConfig,
    EnvConfigError,
    FlatObservation,
    SizingEnv,
    VecSizingEnv,
    feasible,
)


@pytest.fixture(scope="module")
def env(sim):
    e = SizingEnv(EnvConfig(circuit="two_stage", tech="45nm"), sim)
    yield e
    e.close()


def test_check_env_passes(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning fails the test
        check_env(env, skip_render_check=True)


def test_spaces_and_graph_layout(env):
    obs, info = env.reset(seed=0)
    n_nodes = len(env.device_names)
    assert obs["x"].shape == (n_nodes, 10) and obs["x"].dtype == np.float32
    assert obs["edge_attr"].shape == (env.edge_index.shape[1], 4)
    assert obs["metrics"].shape == (4,)
    assert env.edge_index.dtype == np.int64 and env.edge_index.max() < n_nodes
    assert env.action_space.shape == (len(env.param_names),)
    assert len(env.param_nodes) == len(env.param_names)
    # w12 sizes the input pair M1, M2 and cc the compensation capacitor
    names = env.device_names
    assert [names[i] for i in env.param_nodes[env.param_names.index("w12")]] == ["M1", "M2"]
    assert [names[i] for i in env.param_nodes[env.param_names.index("cc")]] == ["Cc"]
    assert info["sims"] == 1 and info["step"] == 0


def test_reference_scores_one_and_start_is_not_the_reference(env):
    ref = env.reference_result
    assert feasible(ref) and ref.fom == pytest.approx(1.0, rel=1e-6)
    for seed in range(3):
        env.reset(seed=seed)
        u = env.space.to_unit(np.array([env._last_params[n] for n in env.param_names]))
        offset = np.abs(u - env.space.reference)
        assert offset.max() > 0.01 and offset.max() <= env.config.start_spread + 1e-9


def test_reward_is_change_of_feasible_fom_minus_penalty(env):
    cfg = env.config
    _, info = env.reset(seed=4)
    prev = min(info["fom"], cfg.fom_clip) if info["feasible"] else 0.0
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(cfg.episode_length):
        _, r, term, trunc, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        assert not term
        if info["failed"]:
            assert r == -cfg.failure_penalty
            kinds.add("failed")
            continue
        now = min(info["fom"], cfg.fom_clip) if info["feasible"] else 0.0
        expected = now - prev - (0.0 if info["feasible"] else cfg.infeasible_penalty)
        assert r == pytest.approx(expected, abs=1e-12)
        kinds.add("feasible" if info["feasible"] else "infeasible")
        if not info["feasible"]:
            assert info["reason"]  # what it violates
        prev = now
    assert trunc  # the episode ends at its length
    assert "feasible" in kinds


def test_zero_action_keeps_the_design_and_gives_zero_reward(env):
    obs0, info0 = env.reset(seed=2)
    obs1, r, _, _, info1 = env.step(np.zeros(env.action_space.shape, np.float32))
    assert info1["params"] == info0["params"]
    expected = 0.0 if info0["feasible"] else -env.config.infeasible_penalty
    assert r == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(obs1["metrics"], obs0["metrics"], atol=1e-6)


def test_a_failing_simulation_is_a_penalised_step():
    """A worker that does not answer in time is killed: the step is penalised, not raised, and
    the design is rejected (the sizing stays where it was)."""
    with Simulator(workers=1, timeout=20.0) as good:
        e = SizingEnv(EnvConfig(), good)
        obs0, info0 = e.reset(seed=0)
        with Simulator(workers=1, timeout=1e-4) as hanging:
            e.sim = hanging
            obs1, r, term, trunc, info = e.step(np.full(e.action_space.shape, 0.5, np.float32))
        assert info["failed"] and info["failure"] == "timeout" and "timeout" in info["reason"]
        assert r == -e.config.failure_penalty and not term and not trunc
        assert info["fom"] is None and info["failed_sims"] == 1
        for k in obs0:
            np.testing.assert_array_equal(obs1[k], obs0[k])
        e.sim = good
        _, _, _, _, after = e.step(np.zeros(e.action_space.shape, np.float32))
        assert after["params"] == info0["params"]  # stepped from the kept design
        assert e.total_failed == 1


def test_batched_stepping_equals_single_stepping(sim):
    cfg = EnvConfig(circuit="current_mirror_ota", episode_length=2, seed=7)
    vec = VecSizingEnv(cfg, 2, sim)
    singles = [SizingEnv(EnvConfig(**{**cfg.to_dict(), "seed": 7 + i}), sim) for i in range(2)]
    obs_v = vec.reset()
    obs_s = [e.reset()[0] for e in singles]
    for a, b in zip(obs_v, obs_s, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    rng = np.random.default_rng(0)
    for t in range(3):  # crosses an episode end: auto-reset
        acts = rng.uniform(-1, 1, (2, len(vec.param_names))).astype(np.float32)
        obs_v, rew_v, term_v, trunc_v, info_v = vec.step(acts)
        for i, e in enumerate(singles):
            o, r, te, tr, info = e.step(acts[i])
            assert r == rew_v[i] and te == term_v[i] and tr == trunc_v[i]
            if tr:
                assert info_v[i]["final_info"]["params"] == info["params"]
                for k in o:
                    np.testing.assert_array_equal(info_v[i]["final_observation"][k], o[k])
                o, info = e.reset()
                assert info_v[i]["reset_info"]["params"] == info["params"]
            else:
                assert info_v[i]["params"] == info["params"]
            for k in o:
                np.testing.assert_array_equal(obs_v[i][k], o[k])
        assert trunc_v.all() == (t == 1)
    assert vec.total_sims == sum(e.total_sims for e in singles)


def test_flat_observation_trains_a_stable_baselines3_agent(sim):
    import torch
    from stable_baselines3 import TD3

    torch.set_num_threads(1)
    env = FlatObservation(SizingEnv(EnvConfig(circuit="two_stage", episode_length=5), sim))
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape and env.observation_space.contains(obs)
    model = TD3("MlpPolicy", env, learning_starts=20, batch_size=16, train_freq=1,
                policy_kwargs={"net_arch": [32, 32]}, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(total_timesteps=60)
    inner = env.unwrapped
    # 60 steps; our reset, the one learn() starts with, and one after each of 12 episodes
    assert inner.total_sims == 60 + 1 + 1 + 60 // 5
    assert any(not torch.equal(a, b) for a, b in zip(before, model.actor.parameters(),
                                                     strict=True))  # it trained
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action.astype(np.float32))


def test_design_space_round_trip_and_scales():
    for scale in ("log", "linear"):
        space = DesignSpace.of("three_stage_nmc", "22nm", scale)
        u = np.linspace(0, 1, space.dim)
        np.testing.assert_allclose(space.to_unit(space.to_values(u)), u, atol=1e-12)
        v = space.to_values(space.reference)
        assert np.all(v >= space.lo) and np.all(v <= space.hi)
    log, lin = DesignSpace.of("two_stage", "45nm", "log"), DesignSpace.of("two_stage", "45nm",
                                                                          "linear")
    assert log.reference[0] > lin.reference[0]  # small widths sit higher on the log scale


def test_targets_and_feasibility_rule():
    assert TARGETS == {"two_stage": 1.00, "folded_cascode": 0.95, "current_mirror_ota": 1.05,
                       "three_stage_nmc": 0.98}  # LoRA-RL Table 1
    assert EnvConfig(circuit="folded_cascode").target == 0.95
    assert EnvConfig(target_fom=2.0).target == 2.0
    assert FEASIBILITY.min_pm_deg == 60 and FEASIBILITY.saturation


@pytest.mark.parametrize("kwargs, text", [
    ({"circuit": "nope"}, "unknown circuit"),
    ({"tech": "7nm"}, "unknown node"),
    ({"episode_length": 0}, "episode_length"),
    ({"action_scale": math.nan}, "action_scale"),
    ({"start": "reference"}, "start"),
    ({"scale": "cubic"}, "scale"),
    ({"target_fom": -1.0}, "target_fom"),
])
def test_bad_config_is_a_typed_error(kwargs, text):
    with pytest.raises(EnvConfigError, match=text):
        EnvConfig(**kwargs)


def test_config_round_trip_and_unknown_keys():
    cfg = EnvConfig(circuit="folded_cascode", seed=3)
    assert EnvConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(EnvConfigError, match="unknown environment settings"):
        EnvConfig.from_dict({"circuit": "two_stage", "colour": 1})
