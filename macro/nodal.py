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

import contextlib
import functools
from collections.abc import Sequence

import numpy as np

from .design import _MAIN_ELEMENTS, Design, connection_recipes, element_recipes
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


#: Layout of one design's block in the flat assembly: G (M*M), C (M*M), u (M), w (M).
_OFFSETS = (0, _M2, 2 * _M2, 2 * _M2 + MAX_NODES)
_BLOCK = 2 * _M2 + 2 * MAX_NODES


def _element_stamps(recipes) -> tuple[list[int], list[int], list[float], list[bool], set[int]]:
    """Stamps of a list of element recipes into a design's block (:data:`_OFFSETS`): flat
    positions, element indices (in ``recipes``), coefficients, whether each element enters by
    its inverse (resistors), and the unknown nodes it touches."""
    pos: list[int] = []
    elem: list[int] = []
    coef: list[float] = []
    used: set[int] = set()

    def add(target: int, where: int, k: int, c: float) -> None:
        pos.append(_OFFSETS[target] + where)
        elem.append(k)
        coef.append(c)

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
    return pos, elem, coef, [e.kind == "R" for e in recipes], used


@functools.cache
def _part_stamps(pair: tuple[str, str] | None, type_index: int):
    """Stamps of the main stages and load (``pair`` None) or of one tunable connection."""
    recipes = _MAIN_ELEMENTS if pair is None else connection_recipes(pair, type_index)[1]
    pos, elem, coef, inverse, used = _element_stamps(recipes)
    return pos, elem, coef, inverse, frozenset(used), len(recipes)


@functools.lru_cache(maxsize=8192)
def _stamps(topology: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                         np.ndarray]:
    """A topology's stamps into its block, in the element order of
    :func:`macro.design.element_recipes` (main part, then each tunable connection): flat
    positions, element indices and coefficients; whether each element enters by its inverse;
    and the positions of the unit diagonal of unused nodes."""
    pos: list[int] = []
    elem: list[int] = []
    coef: list[float] = []
    inverse: list[bool] = []
    used: set[int] = set()
    offset = 0
    for part in [_part_stamps(None, 0)] + [_part_stamps(p, t) for p, t in
                                           zip(TUNABLE_PAIRS, topology.types, strict=True)]:
        pos += part[0]
        elem += [k + offset for k in part[1]]
        coef += part[2]
        inverse += part[3]
        used |= part[4]
        offset += part[5]
    unused = [x * MAX_NODES + x for x in range(MAX_NODES) if x not in used]
    return (np.array(pos, dtype=int), np.array(elem, dtype=int), np.array(coef),
            np.array(inverse, dtype=bool), np.array(unused, dtype=int))


def assemble(designs: Sequence[Design]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nodal matrices of a batch: ``G, C (B, M, M)`` and sources ``u, w (B, M)``."""
    b = len(designs)
    values: list[float] = []
    pos, elem, coef, inverse, unused = [], [], [], [], []
    for i, d in enumerate(designs):
        st = _stamps(d.topology)
        v = d.values
        start = len(values)
        values.extend(r.value(v) for r in element_recipes(d.topology))
        pos.append(st[0] + i * _BLOCK)
        elem.append(st[1] + start)
        coef.append(st[2])
        inverse.append(st[3])
        unused.append(st[4] + i * _BLOCK)
    if b:
        vals = np.array(values, dtype=float)
        y = np.where(np.concatenate(inverse), 1.0 / vals, vals)
        flat = np.bincount(np.concatenate(pos), np.concatenate(coef) * y[np.concatenate(elem)],
                           minlength=b * _BLOCK)
        flat[np.concatenate(unused)] = 1.0
    else:
        flat = np.zeros(0)
    blocks = flat.reshape(b, _BLOCK)
    g = blocks[:, :_M2].reshape(b, MAX_NODES, MAX_NODES).copy()
    c = blocks[:, _M2:2 * _M2].reshape(b, MAX_NODES, MAX_NODES).copy()
    u = blocks[:, 2 * _M2:2 * _M2 + MAX_NODES].copy()
    w = blocks[:, 2 * _M2 + MAX_NODES:].copy()
    return g, c, u, w


def singular(g: np.ndarray) -> np.ndarray:
    """Whether each ``G`` is (numerically) singular, shape ``(B,)``: the determinant of ``G``
    with each row scaled to a largest entry of 1 is below ``1e-13``."""
    with np.errstate(all="ignore"):
        scale = np.abs(g).max(axis=2, keepdims=True)
        det = np.linalg.det(g / np.where(scale > 0, scale, 1.0))
    return ~(np.abs(det) > 1e-13)


def poles(designs: Sequence[Design]) -> np.ndarray:
    """The finite poles ``s = -1 / lambda`` (rad/s) of each design, shape ``(B, M)``, ``nan``
    for poles at infinity and padding, and for every pole of a singular design (or of one
    whose eigenvalues do not converge)."""
    g, c, _, _ = assemble(designs)
    bad = singular(g)
    g[bad] = np.eye(MAX_NODES)
    with np.errstate(all="ignore"):
        a = np.linalg.solve(g, c)
        try:
            lam = np.linalg.eigvals(a)
        except np.linalg.LinAlgError:  # no convergence for some design: its poles are nan
            lam = np.full(a.shape[:2], np.nan, dtype=complex)
            for i in range(a.shape[0]):
                with contextlib.suppress(np.linalg.LinAlgError):
                    lam[i] = np.linalg.eigvals(a[i])
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
