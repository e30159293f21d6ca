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

from .design import _MAIN_ELEMENTS, Design, connection_recipes
from .topology import MAIN_PARAMETERS, TUNABLE_PAIRS, Topology, connection_parameters, pair_name

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


def _program(value, names: dict[str, int]) -> tuple[float, int, int]:
    """An element value of :mod:`macro.design` (a partial of ``_signed``, ``_ratio``,
    ``_scaled``, ``_constant`` or ``_value``) as ``(k, a, b)``: ``value = k * v[a] / v[b]``
    over the part's parameter vector ``v``, with index -1 standing for 1."""
    func, args = value.func.__name__, value.args
    if func == "_signed":
        return float(args[1]), names[args[0]], -1
    if func == "_ratio":
        return 1.0, names[args[0]], names[args[1]]
    if func == "_scaled":
        return float(args[1]), names[args[0]], -1
    if func == "_constant":
        return float(args[0]), -1, -1
    if func == "_value":
        return 1.0, names[args[0]], -1
    raise ValueError(f"no program for element value {value!r}")


@functools.cache
def _part_stamps(pair: tuple[str, str] | None, type_index: int):
    """Stamps of the main stages and load (``pair`` None) or of one tunable connection, each
    as ``(position, k, a, b)``: the entry at ``position`` of the block receives
    ``k * v[a] / v[b]`` (``v`` the part's parameters; a resistor's conductance swaps ``a`` and
    ``b``); and the unknown nodes the part touches, and its number of parameters."""
    if pair is None:
        recipes, params = _MAIN_ELEMENTS, MAIN_PARAMETERS
    else:
        recipes, params = connection_recipes(pair, type_index)[1], \
            connection_parameters(pair, type_index)
    names = {p.name: i for i, p in enumerate(params)}
    pos, elem, coef, inverse, used = _element_stamps(recipes)
    programs = [_program(r.value, names) for r in recipes]
    k, a, b = [], [], []
    for e, c in zip(elem, coef, strict=True):
        kk, aa, bb = programs[e]
        if inverse[e]:  # conductance of a resistor: 1 / (kk v[a] / v[b])
            kk, aa, bb = 1.0 / kk, bb, aa
        k.append(c * kk)
        a.append(aa)
        b.append(bb)
    return pos, k, a, b, frozenset(used), len(params)


@functools.lru_cache(maxsize=8192)
def _stamps(topology: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                         np.ndarray]:
    """A topology's stamps into its block: positions, factors ``k`` and parameter indices
    ``a``, ``b`` (into ``topology.parameters()``, -1 for 1) of ``k * v[a] / v[b]``, and the
    positions of the unit diagonal of unused nodes."""
    pos: list[int] = []
    k: list[float] = []
    a: list[int] = []
    b: list[int] = []
    used: set[int] = set()
    offset = 0
    for part in [_part_stamps(None, 0)] + [_part_stamps(p, t) for p, t in
                                           zip(TUNABLE_PAIRS, topology.types, strict=True)]:
        pos += part[0]
        k += part[1]
        a += [i + offset if i >= 0 else -1 for i in part[2]]
        b += [i + offset if i >= 0 else -1 for i in part[3]]
        used |= part[4]
        offset += part[5]
    unused = [x * MAX_NODES + x for x in range(MAX_NODES) if x not in used]
    return (np.array(pos, dtype=int), np.array(k), np.array(a, dtype=int),
            np.array(b, dtype=int), np.array(unused, dtype=int))


def assemble(designs: Sequence[Design]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nodal matrices of a batch: ``G, C (B, M, M)`` and sources ``u, w (B, M)``.

    The parameter values of every design go into one vector; each stamp of a design's
    topology adds ``k * v[a] / v[b]`` at its position of the design's block, all at once.
    """
    n = len(designs)
    values: list[float] = []
    stamps = []
    offsets = []
    for d in designs:
        stamps.append(_stamps(d.topology))
        offsets.append(len(values))
        values.extend(d.values.values())
    if not n:
        z = np.zeros((0, MAX_NODES, MAX_NODES))
        return z, z.copy(), np.zeros((0, MAX_NODES)), np.zeros((0, MAX_NODES))
    one = len(values)
    v = np.array([*values, 1.0])
    counts = np.array([len(st[0]) for st in stamps])
    off = np.repeat(np.array(offsets), counts)
    a = np.concatenate([st[2] for st in stamps])
    b = np.concatenate([st[3] for st in stamps])
    weight = np.concatenate([st[1] for st in stamps]) * v[np.where(a < 0, one, a + off)] / \
        v[np.where(b < 0, one, b + off)]
    where = np.concatenate([st[0] for st in stamps]) + np.repeat(np.arange(n) * _BLOCK, counts)
    flat = np.bincount(where, weight, minlength=n * _BLOCK)
    unused_counts = np.array([len(st[4]) for st in stamps])
    flat[np.concatenate([st[4] for st in stamps]) +
         np.repeat(np.arange(n) * _BLOCK, unused_counts)] = 1.0
    blocks = flat.reshape(n, _BLOCK)
    g = blocks[:, :_M2].reshape(n, MAX_NODES, MAX_NODES).copy()
    c = blocks[:, _M2:2 * _M2].reshape(n, MAX_NODES, MAX_NODES).copy()
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
