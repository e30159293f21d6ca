"""Low-rank adapters (LoRA) on frozen linear projections (LoRA-RL sections 2.3 and 3.2).

A :class:`LoRALinear` wraps a pre-trained ``nn.Linear`` with weight :math:`W_0` and adds a
rank-:math:`r` update

.. math::

    y = W_0 x + b_0 + \\frac{\\alpha}{r} B A x, \\qquad
    A \\in \\mathbb{R}^{r \\times d_{in}},\\; B \\in \\mathbb{R}^{d_{out} \\times r},

with :math:`A` Kaiming-uniform and :math:`B = 0`, so that the adapted network equals the backbone
at the start of transfer. :math:`W_0` and the bias :math:`b_0` stay frozen (the bias is part of the
backbone here). The paper writes the update as :math:`W = W_0 + AB` with the factor names
swapped; the product is the same low-rank matrix. :func:`inject_lora` puts an adapter on every
linear projection of a network (the graph convolutions and the actor and critic heads of
:mod:`lorarl.gcn`) and freezes everything else; :func:`parameter_counts` gives the exact number
and fraction of trainable parameters.

Used by the book chapter "LoRA-RL: method" (``book/lorarl/method.ipynb``) and by the transfer
phase of :mod:`lorarl.train`.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (LoRA-RL eq. of section 3.2).

    .. math:: y = x W_0^\\top + b_0 + \\frac{\\alpha}{r}\\, x A^\\top B^\\top

    Parameters
    ----------
    base : the pre-trained projection; its weight and bias are frozen in place.
    r : rank of the update (``r >= 1``).
    alpha : scaling numerator; the update is multiplied by ``alpha / r``.

    Shapes
    ------
    input ``(..., in_features)``, output ``(..., out_features)``;
    ``lora_A`` ``(r, in_features)``, ``lora_B`` ``(out_features, r)``.

    Used by the book chapter "LoRA-RL: method".
    """

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 1.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, not {type(base).__name__}")
        if int(r) != r or r < 1:
            raise ValueError(f"LoRA rank must be a positive integer, got {r!r}")
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"LoRA alpha must be positive and finite, got {alpha!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r = int(r)
        self.alpha = float(alpha)
        self.scaling = self.alpha / self.r
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, dtype=w.dtype))
        # as nn.Linear and PEFT: bound 1/sqrt(in_features)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.merged = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update :math:`\\Delta W = (\\alpha/r) B A`, shape ``(out_features, in_features)``."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def effective_weight(self) -> torch.Tensor:
        """:math:`W_0 + \\Delta W` whether or not the adapter is merged."""
        if self.merged:
            return self.base.weight
        return self.base.weight + self.delta_weight()

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight (:math:`W_0 \\leftarrow W_0 + \\Delta W`).

        While merged, the forward pass is the base layer alone: the output is unchanged but no
        gradient reaches ``lora_A``/``lora_B``. Merging twice raises ``RuntimeError``.
        """
        if self.merged:
            raise RuntimeError("LoRA adapter is already merged")
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo :meth:`merge` (:math:`W_0 \\leftarrow W_0 - \\Delta W`), exact up to rounding."""
        if not self.merged:
            raise RuntimeError("LoRA adapter is not merged")
        self.base.weight -= self.delta_weight()
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.merged:
            return y
        # y + (alpha/r) (x A^T) B^T, the addition fused into the second product (addmm)
        xa = x.reshape(-1, self.in_features) @ self.lora_A.t()
        y = torch.addmm(y.reshape(-1, self.out_features), xa, (self.scaling * self.lora_B).t())
        return y.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha}, merged={self.merged}")


def lora_size(in_features: int, out_features: int, r: int) -> int:
    """Number of adapter parameters of one projection: :math:`r (d_{in} + d_{out})`
    (book chapter "LoRA-RL: method")."""
    return r * (in_features + out_features)


def inject_lora(module: nn.Module, r: int = 4, alpha: float = 1.0) -> list[str]:
    """Freeze ``module`` and wrap every ``nn.Linear`` in it with a :class:`LoRALinear`.

    Afterwards the only trainable parameters are the adapters' ``lora_A``/``lora_B``; layer
    norms, biases and every base weight are frozen (LoRA-RL Algorithm 1, lines 8-9).

    Returns
    -------
    list[str]
        The qualified names of the wrapped projections, in module order.

    Used by :mod:`lorarl.ddpg` and the book chapter "LoRA-RL: method".

    Raises
    ------
    ValueError
        If ``module`` already carries adapters or has no linear projection.
    """
    if any(isinstance(m, LoRALinear) for m in module.modules()):
        raise ValueError("the module already carries LoRA adapters")
    for p in module.parameters():
        p.requires_grad_(False)
    targets = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not targets:
        raise ValueError("the module has no nn.Linear projection to adapt")
    for name, lin in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, attr, LoRALinear(lin, r=r, alpha=alpha))
    return [name for name, _ in targets]


def lora_modules(module: nn.Module) -> list[LoRALinear]:
    """Every :class:`LoRALinear` inside ``module`` (book chapter "LoRA-RL: method")."""
    return [m for m in module.modules() if isinstance(m, LoRALinear)]


def merge_all(module: nn.Module) -> None:
    """:meth:`LoRALinear.merge` on every adapter of ``module`` (book chapter "LoRA-RL: method")."""
    for m in lora_modules(module):
        m.merge()


def unmerge_all(module: nn.Module) -> None:
    """:meth:`LoRALinear.unmerge` on every adapter of ``module`` (book chapter
    "LoRA-RL: method")."""
    for m in lora_modules(module):
        m.unmerge()


def parameter_counts(module: nn.Module) -> dict[str, float]:
    """Exact parameter counts of a (possibly adapted) network.

    Returns
    -------
    dict
        ``total`` (every parameter, adapters included), ``adapter`` (``lora_A``/``lora_B``
        entries), ``backbone`` (``total - adapter``), ``trainable`` (``requires_grad``) and
        ``fraction`` = adapter / backbone, the share the paper quotes as about 0.7 % at r = 4
        (section 3.2); 0 for a network without adapters.

    Used by the book chapter "LoRA-RL: method" (trainable parameters per rank).
    """
    total = sum(p.numel() for p in module.parameters())
    adapter = sum(m.lora_A.numel() + m.lora_B.numel() for m in lora_modules(module))
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    backbone = total - adapter
    return {"total": total, "adapter": adapter, "backbone": backbone, "trainable": trainable,
            "fraction": adapter / backbone if backbone else 0.0}
