"""DDPG of GCN-RL: replay buffer, critic and actor updates, Polyak targets (with LoRA), warm-up,
noise, seeding and exact checkpoints."""

import io
from dataclasses import replace

import pytest
import torch

from lorarl.ddpg import DDPG, Batch, DDPGConfig, ReplayBuffer, polyak_, seed_everything
from lorarl.gcn import GraphLayout

torch.set_num_threads(1)

SMALL = DDPGConfig(hidden=16, batch_size=8, buffer_size=64, warmup_steps=10,
                   updates_per_transition=0.5)


def _layout():
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    return GraphLayout.build(ei, 4, [[0, 1], [0, 1], [3]], ["width", "length", "current"])


def _fill(agent, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n // 2):
        s = torch.rand(2, 4, 18, generator=g)
        agent.buffer.add(s, torch.rand(2, 3, generator=g) * 2 - 1, torch.rand(2, generator=g),
                         torch.rand(2, 4, 18, generator=g), torch.zeros(2))


def _flat(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def test_replay_buffer_ring_sample_and_state():
    buf = ReplayBuffer(5, 4, 3)
    for k in range(7):
        buf.add(torch.full((1, 4, 18), float(k)), torch.zeros(1, 3), torch.tensor([k]),
                torch.zeros(1, 4, 18), torch.zeros(1))
    assert len(buf) == 5 and buf.ptr == 2
    assert sorted(buf.reward.tolist()) == [2, 3, 4, 5, 6]  # the two oldest overwritten
    b = buf.sample(16, torch.Generator().manual_seed(0))
    assert isinstance(b, Batch)
    assert b.state.shape == (16, 4, 18) and b.action.shape == (16, 3) and b.done.shape == (16,)
    assert torch.equal(b.state[:, 0, 0], b.reward)  # rows stay together
    other = ReplayBuffer(5, 4, 3)
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.state, buf.state) and other.ptr == buf.ptr
    buf.clear()
    assert len(buf) == 0
    with pytest.raises(ValueError):
        buf.sample(1, torch.Generator())


def test_critic_update_moves_q_towards_the_target():
    seed_everything(0)
    agent = DDPG(_layout(), replace(SMALL, gamma=0.0, critic_lr=1e-2))
    _fill(agent)
    batch = agent.buffer.sample(16, torch.Generator().manual_seed(1))
    before = _flat(agent.net.critic).clone()
    backbone = _flat(agent.net.backbone).clone()
    with torch.no_grad():
        loss0 = torch.mean((agent.net.q(agent.layout, batch.state, batch.action)
                            - batch.reward) ** 2)
    for _ in range(30):
        out = agent.update(batch)
    assert not torch.equal(_flat(agent.net.critic), before)
    assert not torch.equal(_flat(agent.net.backbone), backbone)  # trained by the critic loss
    # with gamma = 0 the target is the reward: the critic fits it
    assert out["critic_loss"] < 0.5 * loss0.item()
    assert agent.updates == 30


def test_actor_update_climbs_the_critic():
    seed_everything(1)
    # a critic (and backbone) that barely learns: the actor's steps alone must raise Q(s, mu(s))
    agent = DDPG(_layout(), replace(SMALL, actor_lr=1e-2, critic_lr=1e-12))
    _fill(agent)
    batch = agent.buffer.sample(16, torch.Generator().manual_seed(2))
    critic0 = torch.cat([_flat(agent.net.critic), _flat(agent.net.backbone)]).clone()
    actor0 = _flat(agent.net.actor).clone()
    with torch.no_grad():
        q0 = agent.net(agent.layout, batch.state)[1]
    for _ in range(20):
        agent.update(batch)
    critic1 = torch.cat([_flat(agent.net.critic), _flat(agent.net.backbone)])
    torch.testing.assert_close(critic1, critic0, rtol=0, atol=1e-6)
    assert not torch.equal(_flat(agent.net.actor), actor0)
    assert all(p.requires_grad for p in agent.net.parameters())  # restored after the step
    with torch.no_grad():
        q1 = agent.net(agent.layout, batch.state)[1]
    assert q1.mean() > q0.mean() + 1e-3


def test_polyak_is_exact_lerp_and_keeps_equal_values():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    polyak_(a, b, 0.25)
    torch.testing.assert_close(a.weight, wa + 0.25 * (wb - wa))
    c = torch.nn.Linear(3, 2)
    c.load_state_dict(b.state_dict())
    polyak_(c, b, 0.3)
    assert torch.equal(c.weight, b.weight)


def test_lora_targets_share_frozen_base_and_average_adapters():
    seed_everything(2)
    agent = DDPG(_layout(), SMALL)
    counts = agent.insert_adapters(r=2, alpha=1.0)
    assert counts["trainable"] == counts["adapter"] > 0
    # at insertion the target equals the adapted network
    assert torch.equal(_flat(agent.target), _flat(agent.net))
    _fill(agent)
    for _ in range(5):
        agent.update()
    t, o = agent.target, agent.net
    for (name, pt), po in zip(t.named_parameters(), o.parameters(), strict=True):
        if "lora_" not in name:
            assert torch.equal(pt, po), name  # frozen base: bit-identical in the target
    adapters_t = [p for n, p in t.named_parameters() if "lora_B" in n]
    adapters_o = [p for n, p in o.named_parameters() if "lora_B" in n]
    assert any(not torch.equal(a, b) for a, b in zip(adapters_t, adapters_o, strict=True))
    assert any(a.abs().sum() > 0 for a in adapters_t)  # the target's adapters moved
    assert {n.split(".")[0] for n, p in o.named_parameters() if "lora_B" in n and
            p.abs().sum() > 0} == {"backbone", "actor", "critic"}


def test_warmup_then_policy_with_decaying_noise():
    seed_everything(3)
    agent = DDPG(_layout(), replace(SMALL, noise_sigma=0.5, noise_decay=0.5, noise_min=0.1))
    s = torch.rand(2, 4, 18)
    # warm-up: uniform random actions, no updates until max(warm-up, batch) transitions
    a = agent.act(s)
    assert a.shape == (2, 3) and a.abs().max() <= 1
    assert not torch.allclose(a, agent.act(s, explore=False))
    for _ in range(4):
        assert agent.observe(s, agent.act(s), [0.0, 0.0], s, [0.0, 0.0]) == []
    losses = agent.observe(s, agent.act(s), [0.0, 0.0], s, [0.0, 0.0])
    assert len(losses) == 1  # 10 transitions x 0.5 updates per transition, from the 10th
    assert agent.sigma == 0.1  # 0.5 * 0.5**5 < floor
    with torch.no_grad():
        mu = agent.net.policy(agent.layout, s)
    torch.testing.assert_close(agent.act(s, explore=False), mu.clamp(-1, 1))


def test_same_seed_same_result_and_checkpoint_continues_exactly():
    def run(split=False):
        seed_everything(4)
        agent = DDPG(_layout(), SMALL, generator_seed=4)
        g = torch.Generator().manual_seed(5)
        for k in range(20):
            if split and k == 10:  # save, load into a fresh agent, continue
                buf = io.BytesIO()
                torch.save(agent.state_dict(), buf)
                buf.seek(0)
                seed_everything(99)
                fresh = DDPG(_layout(), SMALL, generator_seed=99)
                fresh.load_state_dict(torch.load(buf, weights_only=True))
                agent = fresh
            s = torch.rand(2, 4, 18, generator=g)
            agent.observe(s, agent.act(s), torch.rand(2, generator=g), s, [0.0, 0.0])
        return agent

    a, b, c = run(), run(), run(split=True)
    assert a.updates > 0
    for x, y in ((a, b), (a, c)):
        assert torch.equal(_flat(x.net), _flat(y.net))
        assert torch.equal(_flat(x.target), _flat(y.target))


def test_bad_hyper_parameters_are_typed_errors():
    with pytest.raises(ValueError, match="gamma"):
        DDPGConfig(gamma=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        DDPGConfig(batch_size=0)


def test_learns_the_best_action_of_a_bandit():
    """One-step episodes with reward -mean((a - a*)^2): the policy must approach a*."""
    seed_everything(5)
    cfg = replace(SMALL, hidden=16, gamma=0.0, batch_size=16, buffer_size=2000, warmup_steps=64,
                  actor_lr=3e-3, critic_lr=3e-3, noise_sigma=0.4, noise_decay=0.995,
                  noise_min=0.1, updates_per_transition=1.0)
    agent = DDPG(_layout(), cfg, generator_seed=5)
    best = torch.tensor([0.5, -0.3, 0.2])
    g = torch.Generator().manual_seed(6)
    for _ in range(300):
        s = torch.rand(2, 4, 18, generator=g)
        a = agent.act(s)
        r = -((a - best) ** 2).mean(dim=1)
        agent.observe(s, a, r, s, [1.0, 1.0])
    with torch.no_grad():
        mu = agent.net.policy(agent.layout, torch.rand(64, 4, 18, generator=g))
    err = (mu - best).abs().mean(dim=0)
    assert err.max() < 0.15, err


def test_benchmark_script_reports_every_timing():
    from lorarl import bench

    out = bench.run("two_stage", "45nm", repeats=1, batch=8, simulate=False, hidden=16)
    for key in ("update_full_fused", "update_lora4_fused", "update_full_plain",
                "update_lora4_plain", "backbone_forward", "critic_forward_backward"):
        assert out[key]["median_ms"] > 0 and out[key]["repeats"] == 1
    assert out["batch"] == 8 and out["threads"] == 1 and out["params"] == 13
    assert out["hidden"] == 16
