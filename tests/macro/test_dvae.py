"""D-VAE (II-C): shapes, reconstruction on a tiny set, validity/uniqueness, safe loading."""

import numpy as np
import pytest
import torch

from macro.dvae import (
    DVAE,
    DVAEConfig,
    DVAEError,
    evaluate_dvae,
    load_dvae,
    pair_types,
    save_dvae,
    topology_types,
    train_dvae,
)
from macro.topology import N_CHOICES, sample_topologies

torch.set_num_threads(1)


def test_shapes_and_fixed_pairs():
    model = DVAE(DVAEConfig(hidden=16))
    types = topology_types(sample_topologies(7, np.random.default_rng(0)))
    mu, logvar, big_h = model.encode(types)
    assert mu.shape == (7, 10) and logvar.shape == (7, 10) and big_h.shape == (7, 5, 16)
    logits = model.decode_logits(mu)
    assert [lg.shape[1] for lg in logits] == list(N_CHOICES)
    assert model.decode(mu).shape == (7, 5)
    # the ten pairs: main stages +gm, -gm, +gm; empty vin-gnd and vout-gnd; tunable copied
    full = pair_types(torch.tensor([[1, 2, 3, 4, 0]]))[0].tolist()
    assert sorted(full) == sorted([5, 1, 2, 0, 6, 3, 4, 5, 0, 0])
    with pytest.raises(DVAEError):
        pair_types(torch.zeros(3, 4, dtype=torch.long))


def test_embedding_depends_on_every_tunable_pair():
    model = DVAE(DVAEConfig(hidden=16))
    base = torch.zeros(1, 5, dtype=torch.long)
    mu0, _ = model.embed(base)
    for k in range(5):
        t = base.clone()
        t[0, k] = 1
        assert not torch.allclose(model.embed(t)[0], mu0)


def test_trains_to_reconstruct_a_tiny_set(tmp_path):
    cfg = DVAEConfig(n_train=60, epochs=60, batch=6, hidden=32, seed=1, lr=1e-2)
    model, report = train_dvae(cfg)
    assert report["loss"][-1] < 0.2 * report["loss"][0]
    # the training topologies (the data set is the seeded sample; a tenth held out)
    data = topology_types(sample_topologies(cfg.n_train, np.random.default_rng(cfg.seed)))
    train = evaluate_dvae(model, data[cfg.n_train // 10:], n_prior=10)
    assert train["reconstruction_accuracy"] > 0.7     # chance for all five pairs < 1e-5
    assert 0.0 <= report["validity"] <= 1.0 and 0.0 < report["uniqueness"] <= 1.0
    path = save_dvae(model, tmp_path / "vae.pt")
    again = load_dvae(path)
    types = topology_types(sample_topologies(5, np.random.default_rng(3)))
    assert torch.equal(again.embed(types)[0], model.embed(types)[0])
    stats = evaluate_dvae(again, types, n_prior=50)
    assert stats["n_prior"] == 50


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"kind": "something else"}, bad)
    with pytest.raises(DVAEError):
        load_dvae(bad)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DVAEError):
        load_dvae(tmp_path / "junk.pt")
