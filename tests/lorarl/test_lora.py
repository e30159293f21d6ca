"""LoRA algebra: equivalence at init, merge/unmerge, exact counts, frozen backbone, PEFT parity."""

import copy
import math

import pytest
import torch
from torch import nn

from lorarl.gcn import ActorCritic, GraphLayout, encode
from lorarl.lora import (
    LoRALinear,
    inject_lora,
    lora_modules,
    lora_size,
    merge_all,
    parameter_counts,
    unmerge_all,
)

torch.set_num_threads(1)


def _layout():
    # a 4-node path graph 0-1-2-3 with 3 design parameters
    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    return GraphLayout.build(ei, 4, [[0, 1], [0, 1], [3]], ["width", "length", "current"]), ei


def _batch(b=5, n=4, e=6, p=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, n, 10, generator=g), torch.rand(b, e, 4, generator=g),
            torch.rand(b, 4, generator=g), torch.rand(b, p, generator=g) * 2 - 1)


def test_lora_linear_equals_base_at_init_and_follows_formula():
    torch.manual_seed(0)
    base = nn.Linear(7, 5)
    ref = copy.deepcopy(base)
    lora = LoRALinear(base, r=3, alpha=2.0)
    x = torch.randn(4, 7)
    assert torch.equal(lora.lora_B, torch.zeros(5, 3))
    assert lora.lora_A.abs().max() <= 1 / math.sqrt(7)  # Kaiming-uniform bound of nn.Linear
    assert lora.lora_A.abs().max() > 0
    torch.testing.assert_close(lora(x), ref(x), rtol=0, atol=0)
    with torch.no_grad():
        lora.lora_B.normal_()
    expected = x @ ref.weight.t() + ref.bias + (2.0 / 3) * x @ lora.lora_A.t() @ lora.lora_B.t()
    torch.testing.assert_close(lora(x), expected)
    torch.testing.assert_close(lora.delta_weight(), (2.0 / 3) * lora.lora_B @ lora.lora_A)


def test_merge_unmerge_round_trip():
    torch.manual_seed(1)
    lora = LoRALinear(nn.Linear(6, 4), r=2, alpha=1.0)
    with torch.no_grad():
        lora.lora_B.normal_()
    w0 = lora.base.weight.clone()
    x = torch.randn(3, 6)
    y = lora(x)
    lora.merge()
    torch.testing.assert_close(lora.base.weight, w0 + lora.delta_weight())
    torch.testing.assert_close(lora(x), y, rtol=1e-6, atol=1e-6)
    with pytest.raises(RuntimeError):
        lora.merge()
    lora.unmerge()
    torch.testing.assert_close(lora.base.weight, w0, rtol=0, atol=1e-6)
    torch.testing.assert_close(lora(x), y, rtol=1e-6, atol=1e-6)
    with pytest.raises(RuntimeError):
        lora.unmerge()


def test_bad_rank_and_alpha_are_typed_errors():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(3, 3), r=0)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(nn.Linear(3, 3), r=2, alpha=-1.0)
    with pytest.raises(TypeError):
        LoRALinear(nn.Conv1d(3, 3, 1), r=2)


def test_adapted_gcn_equals_backbone_then_merge_equals_unmerged():
    torch.manual_seed(2)
    layout, _ = _layout()
    net = ActorCritic(hidden=32)
    ref = copy.deepcopy(net)
    x, ea, m, a = _batch()
    s = encode(layout, x, ea, m)
    mu0, q0 = ref(layout, s, a)
    names = inject_lora(net, r=4, alpha=1.0)
    # every linear projection of the convolutions and of both heads is adapted
    assert len(names) == 2 * 3 + 2 + 3
    assert all(n.startswith(("backbone.convs.", "actor.", "critic.")) for n in names)
    mu, q = net(layout, s, a)
    torch.testing.assert_close(mu, mu0, rtol=0, atol=0)
    torch.testing.assert_close(q, q0, rtol=0, atol=0)
    for mod in lora_modules(net):
        with torch.no_grad():
            mod.lora_B.normal_(std=0.1)
    mu1, q1 = net(layout, s, a)
    assert not torch.allclose(mu1, mu0) and not torch.allclose(q1, q0)
    merge_all(net)
    for got, want in zip(net(layout, s, a), (mu1, q1), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    unmerge_all(net)
    for got, want in zip(net(layout, s, a), (mu1, q1), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="already"):
        inject_lora(net)


@pytest.mark.parametrize("r", [1, 4, 8])
def test_exact_counts_and_only_adapters_train(r):
    layout, _ = _layout()
    net = ActorCritic(hidden=16)
    before = sum(p.numel() for p in net.parameters())
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    expected = sum(lora_size(m.in_features, m.out_features, r) for m in linears)
    inject_lora(net, r=r)
    c = parameter_counts(net)
    assert c["backbone"] == before
    assert c["adapter"] == expected == c["trainable"]
    assert c["total"] == before + expected
    assert c["fraction"] == pytest.approx(expected / before)
    # the frozen backbone receives no gradient, the adapters do
    x, ea, m, _ = _batch()
    for mod in lora_modules(net):
        with torch.no_grad():
            mod.lora_B.normal_(std=0.1)
    mu, q = net(layout, encode(layout, x, ea, m))
    (mu.sum() + q.sum()).backward()
    for name, p in net.named_parameters():
        if "lora_" in name:
            assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert not p.requires_grad and p.grad is None, name


def test_matches_peft_lora_on_same_weights():
    peft = pytest.importorskip("peft")

    torch.manual_seed(3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(9, 12)
            self.b = nn.Linear(12, 5)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)))

    base = Net()
    mine = copy.deepcopy(base)
    config = peft.LoraConfig(r=4, lora_alpha=1, target_modules=["a", "b"], lora_dropout=0.0,
                             bias="none")
    theirs = peft.get_peft_model(copy.deepcopy(base), config)
    inject_lora(mine, r=4, alpha=1.0)
    x = torch.randn(6, 9)
    # both start as the backbone; PEFT's B is zero as ours
    torch.testing.assert_close(theirs(x), base(x), rtol=0, atol=0)
    for name in ("a", "b"):
        layer = getattr(theirs.base_model.model, name)
        assert torch.equal(layer.lora_B["default"].weight, torch.zeros_like(layer.lora_B[
            "default"].weight))
        assert layer.scaling["default"] == pytest.approx(getattr(mine, name).scaling)
        with torch.no_grad():
            layer.lora_B["default"].weight.normal_()
            getattr(mine, name).lora_A.copy_(layer.lora_A["default"].weight)
            getattr(mine, name).lora_B.copy_(layer.lora_B["default"].weight)
    torch.testing.assert_close(mine(x), theirs(x), rtol=1e-6, atol=1e-6)
    trainable, _ = theirs.get_nb_trainable_parameters()
    assert parameter_counts(mine)["trainable"] == trainable
    for name in ("a", "b"):
        layer = getattr(theirs.base_model.model, name)
        torch.testing.assert_close(getattr(mine, name).delta_weight(),
                                   layer.get_delta_weight("default"))
    merged = theirs.merge_and_unload()
    merge_all(mine)
    for name in ("a", "b"):
        torch.testing.assert_close(getattr(mine, name).base.weight,
                                   getattr(merged, name).weight, rtol=1e-6, atol=1e-6)
