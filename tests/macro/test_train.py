"""Co-training (III-D, E): same seed same result, resume equals an uninterrupted run."""

import pytest
import torch

from macro.dvae import DVAE, DVAEConfig
from macro.train import TrainConfig, TrainError, train, train_macro

torch.set_num_threads(1)


def _vae():
    torch.manual_seed(0)
    return DVAE(DVAEConfig(hidden=16))


def _strip(log):
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in log]


def _weights(result):
    return [*result.agent_t.state_dict().values(), *result.agent_p.state_dict().values()]


def test_same_seed_same_training_step():
    cfg = TrainConfig(epochs=1, n_batch=8, seed=5)
    a = train_macro(cfg, _vae())
    b = train_macro(cfg, _vae())
    assert _strip(a.summary["log"]) == _strip(b.summary["log"])
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b), strict=True))
    c = train_macro(TrainConfig(epochs=1, n_batch=8, seed=6), _vae())
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(c), strict=True))
    assert a.summary["n_simulations"] == 8
    # the step changed the agents
    fresh = train_macro(TrainConfig(epochs=1, n_batch=8, seed=5), _vae(), stop_after=0)
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(fresh), strict=True))


def test_resume_equals_uninterrupted(tmp_path):
    cfg = TrainConfig(epochs=4, n_batch=8, seed=2, checkpoint_every=1)
    ckpt = tmp_path / "macro.pt"
    first = train_macro(cfg, _vae(), checkpoint=ckpt, stop_after=2)
    assert first.summary["epochs_done"] == 2 and not first.summary["complete"]
    resumed = train_macro(cfg, _vae(), checkpoint=ckpt)
    straight = train_macro(cfg, _vae())
    assert resumed.summary["complete"] and resumed.summary["n_simulations"] == 32
    assert _strip(resumed.summary["log"]) == _strip(straight.summary["log"])
    assert resumed.summary["best"] == straight.summary["best"]
    assert all(torch.equal(x, y)
               for x, y in zip(_weights(resumed), _weights(straight), strict=True))
    # a checkpoint of another configuration is refused
    with pytest.raises(TrainError):
        train(TrainConfig(epochs=4, n_batch=8, seed=3, checkpoint_every=1), _vae(),
              checkpoint=ckpt)


def test_bad_config_is_a_typed_error():
    with pytest.raises(TrainError):
        TrainConfig(n_batch=1)
    with pytest.raises(TrainError):
        TrainConfig(baseline="median")
