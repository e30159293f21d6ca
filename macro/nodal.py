"""Nodal equations of behaviour-level designs, batched, and the stability check.

With the source ``v(vin) = 1``, the unknown node voltages ``v`` of a design (``n1, n2, vout``
and one internal node per tunable pair, :data:`NODE_ORDER`, padded so that designs of any
topology share one shape) obey

.. math::  (G + sC)\\,v = u + s\\,w,

``G`` holding conductances and transconductances, ``C`` capacitances, and ``u, w`` the currents
injected by the elements tied to ``vin``. A conductance or capacitance ``y`` between nodes
``p`` and ``q`` adds ``y`` to ``[p, p]`` and ``[q, q]`` and ``-y`` to ``[p, q]`` and ``[q, p]``
(towards ``vin`` it injects ``y`` into ``p``); ``G a 0 ca 0 gm`` draws ``gm * v(ca)`` out of
``a``, ``+gm`` at ``[a, ca]`` (or ``-gm`` injected when ``ca`` is ``vin``). Unused internal
nodes get a unit conductance to ground and no source.

The poles of a design are the ``s`` where ``det(G + sC) = 0``: with ``A = G^{-1} C`` and its
eigenvalues ``lambda``, ``s = -1 / lambda`` (``lambda = 0`` is a pole at infinity). A design
with a pole whose real part exceeds ``RHP_TOLERANCE * |s|`` is unstable by itself: its AC
response is not a steady state (ngspice's AC analysis still prints one), and both simulators
fail it with this reason.

Shapes: ``B`` designs and ``M = MAX_NODES`` unknowns give ``G, C: (B, M, M)`` and
``u, w: (B, M)``.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from .design import Design, element_recipes
from .topology import TUNABLE_PAIRS, Topology, pair_name

#: Unknown node voltages of every design, padded: the three main nodes, then one internal node
#: per tunable pair (used only by series combinations).
NODE_ORDER = ("n1", "n2", "vout", *(f"x_{pair_name(p)}" for p in TUNABLE_PAIRS))
MAX_NODES = len(NODE_ORDER)
INDEX = {n: i for i, n in enumerate(NODE_ORDER)}
OUT = INDEX["vout"]
#: Relative real part above which a pole counts as in the right half plane.
RHP_TOLERANCE = 1e-9

_M2 = MAX_NODES * MAX_NODES
# target arrays of a stamp: 0 = G, 1 = C (flat M*M), 2 = u, 3 = w (M)
_SIZES = (_M2, _M2, MAX_NODES, MAX_NODES)


@functools.lru_cache(maxsize=4096)
def _stamps(topology: Topology) -> tuple[np.ndarray, ...]:
    """Per target (G, C, u, w): flat positions, element indices and coefficients, and whether
    each element's value enters as its inverse (resistors)."""
    recipes = element_recipes(topology)
    pos: list[list[int]] = [[], [], [], []]
    elem: list[list[int]] = [[], [], [], []]
    coef: list[list[float]] = [[], [], [], []]
    used = set()

    def add(target: int, where: int, k: int, c: float) -> None:
        pos[target].append(where)
        elem[target].append(k)
        coef[target].append(c)

    for k, e in enumerate(recipes):
        if e.kind == "G":
            p, q = INDEX.get(e.a), INDEX.get(e.ca)
            if p is None:
                continue
            used.add(p)
            if q is not None:
                add(0, p * MAX_NODES + q, k, 1.0)
            elif e.ca == "vin":
                add(2, p, k, -1.0)
            continue
        mat, src = (0, 2) if e.kind == "R" else (1, 3)
        p, q = INDEX.get(e.a), INDEX.get(e.b)
        for x, other in ((p, e.b), (q, e.a)):
            if x is None:
                continue
            used.add(x)
            add(mat, x * MAX_NODES + x, k, 1.0)
            if other == "vin":
                add(src, x, k, 1.0)
        if p is not None and q is not None:
            add(mat, p * MAX_NODES + q, k, -1.0)
            add(mat, q * MAX_NODES + p, k, -1.0)
    inverse = np.array([e.kind == "R" for e in recipes])
    unused = np.array(sorted(x * MAX_NODES + x for x in set(range(MAX_NODES)) - used), dtype=int)
    return (*(np.array(p, dtype=int) for p in pos), *(np.array(e, dtype=int) for e in elem),
            *(np.array(c) for c in coef), inverse, unused)


def assemble(designs: Sequence[Design]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nodal matrices of a batch: ``G, C (B, M, M)`` and sources ``u, w (B, M)``."""
    b = len(designs)
    flat_pos: list[list[np.ndarray]] = [[], [], [], []]
    flat_w: list[list[np.ndarray]] = [[], [], [], []]
    pad = []
    for i, d in enumerate(designs):
        st = _stamps(d.topology)
        v = d.values
        vals = np.array([r.value(v) for r in element_recipes(d.topology)], dtype=float)
        y = np.where(st[12], 1.0 / vals, vals)
        for t in range(4):
            flat_pos[t].append(st[t] + i * _SIZES[t])
            flat_w[t].append(st[8 + t] * y[st[4 + t]])
        pad.append(st[13] + i * _M2)
    out = []
    for t in range(4):
        idx = np.concatenate(flat_pos[t]) if b else np.zeros(0, int)
        wts = np.concatenate(flat_w[t]) if b else np.zeros(0)
        arr = np.bincount(idx, wts, minlength=b * _SIZES[t]) if idx.size else \
            np.zeros(b * _SIZES[t])
        out.append(arr)
    if b:
        out[0][np.concatenate(pad)] = 1.0
    g = out[0].reshape(b, MAX_NODES, MAX_NODES)
    c = out[1].reshape(b, MAX_NODES, MAX_NODES)
    return g, c, out[2].reshape(b, MAX_NODES), out[3].reshape(b, MAX_NODES)


def singular(g: np.ndarray) -> np.ndarray:
    """Whether each ``G`` is (numerically) singular, shape ``(B,)``: the determinant of ``G``
    with each row scaled to a largest entry of 1 is below ``1e-13``."""
    with np.errstate(all="ignore"):
        scale = np.abs(g).max(axis=2, keepdims=True)
        det = np.linalg.det(g / np.where(scale > 0, scale, 1.0))
    return ~(np.abs(det) > 1e-13)


def poles(designs: Sequence[Design]) -> np.ndarray:
    """The finite poles ``s = -1 / lambda`` (rad/s) of each design, shape ``(B, M)``, ``nan``
    for poles at infinity and padding, and for every pole of a singular design."""
    g, c, _, _ = assemble(designs)
    bad = singular(g)
    g[bad] = np.eye(MAX_NODES)
    with np.errstate(all="ignore"):
        lam = np.linalg.eigvals(np.linalg.solve(g, c))
        p = np.where(np.abs(lam) > 0, -1.0 / lam, np.nan)
    p = np.where(np.isfinite(p), p, np.nan)
    p[bad] = np.nan
    return p


def unstable(p: np.ndarray) -> np.ndarray:
    """Whether each row of poles has one with ``Re s > RHP_TOLERANCE * |s|``, shape ``(B,)``."""
    with np.errstate(invalid="ignore"):
        rhp = np.nan_to_num(np.real(p) > RHP_TOLERANCE * np.abs(p), nan=0.0)
    return rhp.astype(bool).any(axis=1)


def instability_reason(p: np.ndarray) -> str:
    """The failure reason for one design's poles ``p`` (``(M,)``), naming its worst pole."""
    with np.errstate(invalid="ignore"):
        rhp = p[np.real(p) > RHP_TOLERANCE * np.abs(p)]
    worst = rhp[np.argmax(np.real(rhp))]
    return ("unstable open loop: a pole in the right half plane at "
            f"{np.real(worst) / (2 * np.pi):.3g}{np.imag(worst) / (2 * np.pi):+.3g}j Hz")


__all__ = ["INDEX", "MAX_NODES", "NODE_ORDER", "OUT", "RHP_TOLERANCE", "assemble",
           "instability_reason", "poles", "singular", "unstable"]
