"""The compiled route of the batched solver: transfer-function polynomials, Routh-Hurwitz and
crossings placed on the grid by Descartes' rule of signs, one design after another in machine
code (numba).

The modal route (:mod:`macro.solver`) spends most of its time in per-batch LAPACK calls and
array bookkeeping; this route computes the same metrics with no LAPACK call at all. For each
design the kernel

1. stamps the design's parameters into its nodal matrices ``G, C`` and sources ``u, w`` part
   by part (the main stages, then each tunable pair's connection; the stamps of
   :mod:`macro.nodal`, one small table per part for all topologies), cut to the unknowns its
   topology uses (no padding);
2. fails it as singular by the test of :func:`macro.nodal.singular` (the determinant of ``G``
   with its rows scaled to a largest entry of 1, from the pivots of the elimination that
   solves with it, :func:`_solve`);
3. writes the response as two polynomials. With ``A = G^{-1} C``, ``b_0 = G^{-1} u`` and
   ``b_1 = G^{-1} w`` (one solve), ``det(G + sC) = det(G) det(I + sA)`` and ``H(s) =
   e_{vout}^T (I + sA)^{-1} (b_0 + s b_1)``, so

   .. math::  H(s) = H(0)\\,\\frac{\\sum_k n_k s^k}{\\sum_k d_k s^k},\\qquad n_0 = d_0 = 1,

   with ``H(0) = (b_0)_{vout}``. ``d_k`` is the sum of the principal minors of order ``k`` of
   ``A``: an exact zero column or row with a zero diagonal entry (a node without capacitance,
   a pole at infinity) is taken out, and the rest, transposed with ``vout`` first, is brought
   to upper Hessenberg form ``H`` by stabilised elimination (:func:`_reduce`). That
   similarity leaves ``e_{vout}`` in place and carries ``b_0, b_1`` along, so the numerator
   comes from the same reduction: the first column of the adjugate of the Hessenberg matrix
   ``I + sH`` is a product of its subdiagonal entries and the determinant of a trailing block
   (:func:`_numerator`), and both polynomials follow from one determinant recurrence over
   the trailing blocks. When ``vout`` or a node whose row alone is zero was taken out, the
   numerator is computed apart, by Cramer's rule: ``det(I + sA')`` with ``A' = G'^{-1} C'``,
   ``G', C'`` the matrices whose ``vout`` column is replaced by ``u, w`` (``G'^{-1}`` a
   rank-one update of ``G^{-1}``, Sherman-Morrison; :func:`_minor_sums`);
4. judges stability by the Routh-Hurwitz table of ``sum_k d_k s^k``: a first-column entry that
   is not positive (a root in the right half plane or on the axis) fails the design. The
   reason names the worst pole, found by :func:`macro.nodal.poles` when the evaluations are
   built. The modal route lets a pole through whose real part is positive but below
   :data:`macro.nodal.RHP_TOLERANCE` times its magnitude; this route fails it (and says the
   Routh-Hurwitz table did);
5. measures the response on the grid of :data:`macro.evaluation.SWEEP` by the rules of
   :func:`macro.evaluation.measure`, computing ``H`` at a few grid points only. On the
   imaginary axis each polynomial splits into even and odd parts in ``v = w^2``
   (``P(j w) = E(v) + j w O(v)``); then

   * ``|H|^2 - 1`` has the sign of ``P(v) = H(0)^2 |N(j w)|^2 - |D(j w)|^2``. When
     Descartes' rule of signs on ``P`` over the whole axis allows at most one crossing, its
     grid step is found by bisection on the sign of ``P``. Otherwise the roots of ``P`` on
     the grid's span are isolated (the span is cut at geometric means until Descartes' bound
     on each piece is 0 or 1) and each is placed on its grid step by bisection; a step that
     holds two roots is no crossing, and roots off the grid do not count. Each step found is
     checked on ``H`` at its two ends (down through 1, or up);
   * ``Im H`` has the sign of ``H(0) Q(v)`` with ``Q = O_N E_D - E_N O_D``, so a grid step
     across which ``Q`` keeps its sign stays in one half plane and crosses no axis. The
     winding before each downward crossing (the walk's count of steps across the negative
     real axis, which unwraps the phase) is the sum of :func:`_crosses_cut` over the steps
     where ``Q`` changes sign, found the same way: none when Descartes' rule shows no root
     of ``Q`` up to the crossing;
   * each downward crossing is then interpolated as :func:`macro.evaluation.measure`
     interpolates it (the GBW at the first, the PM the least).

   Nothing is proved from a coefficient that has cancelled to within ``_CANCELLED`` of the
   magnitudes of its terms, a root on a grid point or a split point, or more than
   ``_MAX_PIECES`` pieces. The grid is then walked (:func:`_walk`): when at most one
   crossing was shown, ``H`` at every ``COARSE``-th grid point, 16 at a time, up to the
   first where ``|H| <= 1``, every grid point of a coarse segment before it where the phase
   turns by more than 90 deg, and every point of the crossing's segment; otherwise the whole
   grid by the rule of :func:`macro.solver.measure_sparse` (a coarse segment is filled in
   when ``|H|`` at an end is within a factor ``REFINE_MAGNITUDE`` of 1 or the phase turns by
   more than 90 deg across it), the unwrapped phase counting the principal steps that cross
   the negative real axis. None of 5,120 random designs needed it;
6. computes the power and the FoM of :mod:`macro.evaluation`.

Shapes: a batch of ``B`` designs gives arrays of shape ``(B,)`` (:class:`Metrics`). The first
call compiles the kernel (about 15 s; numba caches it beside this file).

``tests/macro/test_kernel.py`` checks it against hand-derived transfer functions and the modal
route, and ``python -m macro.bench`` against ngspice. Used by the book chapter "The
behaviour-level model" (``book/macro/model.ipynb``), section "Validation and speed", and by
``python -m macro simulate --solver compiled``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numba import njit

from .design import _MAIN_STAGES, Design, connection_recipes
from .evaluation import GM_OVER_ID, SWEEP, VDD, Evaluation, Sweep, verdict
from .nodal import MAX_NODES, OUT, RHP_TOLERANCE, _part_stamps, poles
from .solver import _SINGULAR, COARSE, REFINE_MAGNITUDE
from .topology import (
    C_LOAD,
    MAIN_PARAMETERS,
    N_TYPES,
    TUNABLE_PAIRS,
    connection_parameters,
)

#: Outcome codes of :class:`Metrics` ``code``: measured (``verdict`` decides), singular,
#: unstable.
MEASURED, SINGULAR, UNSTABLE = 0, 1, 2
#: Coarse points evaluated at once while looking for the one crossing.
_CHUNK = 16
#: A coefficient smaller than this times the sum of the magnitudes of its terms has no sign to
#: trust: nothing is proved from it (step 5 of the module docstring).
_CANCELLED = 1e-12
#: Entries of the even and odd parts of a polynomial of degree up to ``MAX_NODES`` in ``s``, as
#: polynomials in ``w^2`` (:func:`_split`), and of their products.
_NE, _NO, _NP = MAX_NODES // 2 + 1, (MAX_NODES + 1) // 2, MAX_NODES + 1
if _NP != 9:  # _estrin is written out for 9 coefficients
    raise ImportError(f"macro.kernel expects MAX_NODES = 8, not {MAX_NODES}")
#: Most pieces of the grid's span looked at while isolating the unity-gain crossings.
_MAX_PIECES = 64


# -- the compiled part ------------------------------------------------------------------------
# Every array a compiled function writes is a workspace allocated once per batch by _batch.
# The functions _batch calls allocate nothing and keep no array beyond their call, so they are
# compiled without numba's reference counting (_nrt=False, a flag of numba's own decorator;
# numba is pinned): its atomic updates of the arrays' counts took about a tenth of the time.

@njit(cache=True, error_model="numpy", _nrt=False)
def _solve(g, rhs, m, ncol, x):  # pragma: no cover - compiled
    """``x[:m, :ncol] = g^{-1} rhs`` by Gaussian elimination with partial pivoting on ``g`` and
    ``rhs`` together (both overwritten), each row first scaled so that its largest entry in
    ``g`` has magnitude 1; returns the determinant of the scaled ``g``, as
    :func:`macro.nodal.singular` computes it (0 when a pivot is exactly zero, ``x`` then
    unset)."""
    for i in range(m):
        s = 0.0
        for j in range(m):
            s = max(s, abs(g[i, j]))
        if s == 0.0:
            s = 1.0
        inv = 1.0 / s
        for j in range(m):
            g[i, j] = g[i, j] * inv
        for j in range(ncol):
            rhs[i, j] = rhs[i, j] * inv
    det = 1.0
    for k in range(m):
        p = k
        for i in range(k + 1, m):
            if abs(g[i, k]) > abs(g[p, k]):
                p = i
        if g[p, k] == 0.0:
            return 0.0
        if p != k:
            for j in range(k, m):
                g[k, j], g[p, j] = g[p, j], g[k, j]
            for j in range(ncol):
                rhs[k, j], rhs[p, j] = rhs[p, j], rhs[k, j]
            det = -det
        det *= g[k, k]
        inv = 1.0 / g[k, k]
        for i in range(k + 1, m):
            f = g[i, k] * inv
            if f != 0.0:
                for j in range(k + 1, m):
                    g[i, j] -= f * g[k, j]
                for j in range(ncol):
                    rhs[i, j] -= f * rhs[k, j]
    # back substitution by columns: each solved row is taken from the rows above it at once
    for k in range(m - 1, -1, -1):
        inv = 1.0 / g[k, k]
        for j in range(ncol):
            x[k, j] = rhs[k, j] * inv
        for i in range(k):
            f = g[i, k]
            if f != 0.0:
                for j in range(ncol):
                    rhs[i, j] -= f * x[k, j]
    return det


@njit(cache=True, error_model="numpy", _nrt=False)
def _take_out(a, m, o, keep):  # pragma: no cover - compiled
    """Marks in ``keep`` the unknowns of ``a[:m, :m]`` that stay: an exact zero column or row
    whose diagonal entry is zero is taken out (``det(I + sA)`` expands along it to 1 times the
    rest), again until none is left. Returns whether every one taken out went by its column
    and none is ``o`` (the numerator can then follow from the rest, :func:`_reduce`)."""
    for j in range(m):
        keep[j] = True
    fast = True
    changed = True
    while changed:
        changed = False
        for j in range(m):
            if not keep[j] or a[j, j] != 0.0:
                continue
            col = True
            row = True
            for i in range(m):
                if keep[i] and i != j:
                    if a[i, j] != 0.0:
                        col = False
                    if a[j, i] != 0.0:
                        row = False
            if col or row:
                keep[j] = False
                changed = True
                if j == o or not col:
                    fast = False
    return fast


@njit(cache=True, error_model="numpy", _nrt=False)
def _kept(keep, m, first, idx):  # pragma: no cover - compiled
    """The unknowns that :func:`_take_out` kept, into ``idx`` in ascending order but for
    ``first`` (when kept; ``-1`` for none), which leads; returns how many."""
    n = 0
    if first >= 0 and keep[first]:
        idx[0] = first
        n = 1
    for j in range(m):
        if keep[j] and j != first:
            idx[n] = j
            n += 1
    return n


@njit(cache=True, error_model="numpy", _nrt=False)
def _hessenberg(h, n, rows):  # pragma: no cover - compiled
    """``h[:n, :n]`` brought to upper Hessenberg form by stabilised elimination (Gaussian
    elimination with partial pivoting, applied as a similarity ``L^-1 h L``: the minor sums
    do not change; row and column 0 are never exchanged). The column operations act on the
    first ``rows`` rows, so rows ``n ..`` beneath become ``L^T`` times what they held."""
    for k in range(1, n - 1):
        p = k
        for i in range(k + 1, n):
            if abs(h[i, k - 1]) > abs(h[p, k - 1]):
                p = i
        if h[p, k - 1] == 0.0:
            continue
        if p != k:
            for j in range(n):
                h[k, j], h[p, j] = h[p, j], h[k, j]
            for j in range(rows):
                h[j, k], h[j, p] = h[j, p], h[j, k]
        inv = 1.0 / h[k, k - 1]
        for i in range(k + 1, n):
            f = h[i, k - 1] * inv
            if f != 0.0:
                for j in range(k - 1, n):
                    h[i, j] -= f * h[k, j]
                for j in range(rows):
                    h[j, k] += f * h[j, i]
            h[i, k - 1] = 0.0


@njit(cache=True, error_model="numpy", _nrt=False)
def _minor_sums(a, m, out, keep, idx, h, q):  # pragma: no cover - compiled
    """``out[k]`` = the sum of the principal minors of order ``k`` of ``a[:m, :m]`` (the
    coefficients of ``det(I + sA)``), ``out[0] = 1``; returns the degree. An exact zero column
    or row whose diagonal entry is zero is taken out first (``det(I + sA)`` expands along it
    to 1 times the rest); the rest is reduced to Hessenberg form by stabilised elimination
    (Gaussian elimination with partial pivoting, applied as a similarity) and expanded by
    the Hessenberg determinant recurrence. ``keep, idx, h, q`` are workspaces."""
    _take_out(a, m, -1, keep)
    n = _kept(keep, m, -1, idx)
    for k in range(out.size):
        out[k] = 0.0
    out[0] = 1.0
    if n == 0:
        return 0
    for i in range(n):
        for j in range(n):
            h[i, j] = a[idx[i], idx[j]]
    _hessenberg(h, n, n)
    _trailing_dets(h, n, q)
    return _leading(q, n, out)


@njit(cache=True, error_model="numpy", _nrt=False)
def _trailing_dets(h, n, r):  # pragma: no cover - compiled
    """``r[i, :]`` = the coefficients (ascending powers of ``s``) of ``det(I + sH[i:, i:])``
    for the upper Hessenberg ``H = h[:n, :n]``, ``i = 0 .. n`` (``r[n] = 1``), by the
    Hessenberg determinant recurrence expanded along each trailing block's first row:

    .. math:: r_i = (1 + s h_{ii}) r_{i+1} + \\sum_{j>i} (-1)^{j-i} s h_{ij}
              \\prod_{k=i}^{j-1} (s h_{k+1,k})\\, r_{j+1}.

    ``r[0]`` is ``det(I + sH)``; :func:`_numerator` uses the others."""
    for i in range(n + 1):
        for j in range(n + 1):
            r[i, j] = 0.0
    r[n, 0] = 1.0
    for i in range(n - 1, -1, -1):
        top = n - i  # the degree of r_i at most
        for j in range(top):
            r[i, j] += r[i + 1, j]
            r[i, j + 1] += h[i, i] * r[i + 1, j]
        prod = 1.0
        for j in range(i + 1, n):
            prod *= h[j, j - 1]
            if prod == 0.0:
                break
            coef = h[i, j] * prod
            if (j - i) % 2:
                coef = -coef
            shift = j - i + 1
            for k in range(n - j):
                r[i, k + shift] += coef * r[j + 1, k]


@njit(cache=True, error_model="numpy", _nrt=False)
def _leading(r, n, out):  # pragma: no cover - compiled
    """``out[:n + 1] = r[0, :n + 1]`` (a polynomial of degree up to ``n``); returns its
    degree (:func:`_degree`)."""
    for k in range(n + 1):
        out[k] = r[0, k]
    return _degree(out, n)


@njit(cache=True, error_model="numpy", _nrt=False)
def _degree(c, n):  # pragma: no cover - compiled
    """The degree of ``sum_k c_k s^k`` (``k <= n``): the index of its last non-zero
    coefficient."""
    while n > 0 and c[n] == 0.0:
        n -= 1
    return n


@njit(cache=True, error_model="numpy", _nrt=False)
def _reduce(x, m, o, out, keep, idx, h, r):  # pragma: no cover - compiled
    """``D(s) = det(I + sA)`` of ``A = x[:m, :m]`` into ``out`` (as :func:`_minor_sums`, the
    degree returned), reduced so that the numerator can follow from the same reduction
    (:func:`_numerator`): returns ``(degree, n)``, ``n`` the size of the reduced matrix, or
    ``-1`` when it cannot (the output ``o`` or a node whose row alone is zero was taken out;
    the numerator must then be computed apart).

    With ``b0 = x[:m, m]`` and ``b1 = x[:m, m + 1]`` (``G^-1 u`` and ``G^-1 w``), the
    response is ``H(s) = e_o^T (I + sA)^-1 (b0 + s b1)``; transposed, ``(b0 + s b1)^T adj(I +
    sA^T) e_o``. ``h`` receives ``B = A^T`` cut to the unknowns kept, ``o`` first, with the
    rows ``b0, b1`` beneath it, and ``B`` is brought to upper Hessenberg form by stabilised
    elimination: the similarity ``L^-1 B L`` leaves ``e_0`` where it is (row and column 0
    are never exchanged and the multipliers sit in later rows), and its column operations
    turn the rows beneath into ``L^T b0, L^T b1``. ``r[i]`` receives ``det(I + sH)`` of the
    trailing block from ``i`` on (``r[0]`` is ``D``, :func:`_trailing_dets`).

    An unknown whose column of ``A`` is zero (no capacitance at its node) feeds no other
    equation: it is taken out and the rest is exact. One whose row alone is zero would feed
    the others; then ``-1``. ``keep, idx`` have ``m`` entries, ``h`` ``(m + 2, m)``, ``r`` ``(m
    + 1, m + 1)``."""
    fast = _take_out(x, m, o, keep)
    n = _kept(keep, m, o, idx)
    for k in range(out.size):
        out[k] = 0.0
    out[0] = 1.0
    if n == 0:
        return 0, -1
    for i in range(n):
        for j in range(n):
            h[i, j] = x[idx[j], idx[i]]
    for j in range(n):
        h[n, j] = x[idx[j], m]
        h[n + 1, j] = x[idx[j], m + 1]
    _hessenberg(h, n, n + 2)
    _trailing_dets(h, n, r)
    deg = _leading(r, n, out)
    return deg, (n if fast else -1)


@njit(cache=True, error_model="numpy", _nrt=False)
def _numerator(h, r, n, dc, out):  # pragma: no cover - compiled
    """The numerator ``sum_k n_k s^k`` (``n_0 = 1``) of ``H(s) / H(0)`` into ``out`` from the
    reduction of :func:`_reduce` (``n`` its size); returns its degree. The first column of
    the adjugate of the upper Hessenberg ``M = I + sH`` is ``adj(M)_(i,0) = (-1)^i
    prod_(k<i) M_(k+1,k) det(M[i+1:, i+1:])``, so

    .. math:: H(0) N(s) = \\sum_i (-1)^i \\prod_{k<i} (s h_{k+1,k})
              (\\hat b_{0,i} + s \\hat b_{1,i})\\, r_{i+1}(s).
    """
    for k in range(out.size):
        out[k] = 0.0
    pi = 1.0
    for i in range(n):
        if i > 0:
            pi = -pi * h[i, i - 1]
            if pi == 0.0:
                break
        a0 = pi * h[n, i]
        a1 = pi * h[n + 1, i]
        for k in range(n - i):
            rk = r[i + 1, k]
            out[k + i] += a0 * rk
            out[k + i + 1] += a1 * rk
    inv = 1.0 / dc
    for k in range(n + 1):
        out[k] *= inv
    out[0] = 1.0
    return _degree(out, n)


@njit(cache=True, error_model="numpy", _nrt=False)
def _routh_unstable(d, deg, r0, r1, r2):  # pragma: no cover - compiled
    """Whether ``sum_k d_k s^k`` has a root with a positive real part or on the imaginary
    axis: a first-column entry of its Routh-Hurwitz table that is not positive (after the
    leading coefficient is made positive). ``r0, r1, r2`` are workspaces."""
    if deg <= 0:
        return False
    sign = 1.0 if d[deg] > 0 else -1.0
    width = deg // 2 + 2
    for i in range(width):
        r0[i] = sign * d[deg - 2 * i] if deg - 2 * i >= 0 else 0.0
        r1[i] = sign * d[deg - 2 * i - 1] if deg - 2 * i - 1 >= 0 else 0.0
    for _ in range(deg):
        if not r1[0] > 0.0:
            return True
        ratio = r0[0] / r1[0]
        for i in range(width - 1):
            r2[i] = r0[i + 1] - ratio * r1[i + 1]
        r2[width - 1] = 0.0
        for i in range(width):
            r0[i] = r1[i]
            r1[i] = r2[i]
    return False


@njit(cache=True, error_model="numpy", _nrt=False)
def _horner_part(c, top, x, count, out):  # pragma: no cover - compiled
    """``out[j] = sum_i c_(top - 2i) x_j^(...)``: Horner's rule over every other coefficient
    from ``c[top]`` down (the even or the odd part of a polynomial), for ``count`` points."""
    for j in range(count):
        out[j] = 0.0
    for k in range(top, -1, -2):
        ck = c[k]
        for j in range(count):
            out[j] = out[j] * x[j] + ck


@njit(cache=True, error_model="numpy", _nrt=False)
def _evaluate(n, dn, d, dd, dc, w, x, count, e1, o1, e2, o2, hr, hi, m2):  # pragma: no cover
    """``H(j w_j)`` at ``count`` points (``x = -w^2``) into ``hr, hi`` and ``|H|^2`` into
    ``m2``: each polynomial by Horner's rule in ``x``, even and odd parts apart (``P(jw) =
    E(x) + j w O(x)``), loops over the points innermost so that they vectorise. ``e1, o1,
    e2, o2`` are workspaces."""
    _horner_part(n, dn - (dn % 2), x, count, e1)
    _horner_part(n, dn - 1 + (dn % 2), x, count, o1)
    _horner_part(d, dd - (dd % 2), x, count, e2)
    _horner_part(d, dd - 1 + (dd % 2), x, count, o2)
    for j in range(count):
        nr = e1[j]
        ni = w[j] * o1[j]
        dr = e2[j]
        di = w[j] * o2[j]
        inv = dc / (dr * dr + di * di)
        r = (nr * dr + ni * di) * inv
        i = (ni * dr - nr * di) * inv
        hr[j] = r
        hi[j] = i
        m2[j] = r * r + i * i


@njit(cache=True, error_model="numpy", _nrt=False)
def _horner(c, deg, v):  # pragma: no cover - compiled
    """``sum_k c_k v^k`` by Horner's rule."""
    s = 0.0
    for k in range(deg, -1, -1):
        s = s * v + c[k]
    return s


@njit(cache=True, error_model="numpy", _nrt=False)
def _split(c, deg, e, o):  # pragma: no cover - compiled
    """The even and odd parts of ``sum_k c_k s^k`` on the imaginary axis, as polynomials in
    ``v = w^2``: ``P(j w) = E(v) + j w O(v)`` with ``E_k = (-1)^k c_2k`` and ``O_k = (-1)^k
    c_2k+1``, padded with zeros to ``_NE`` and ``_NO`` entries (a degree up to
    ``MAX_NODES``)."""
    for k in range(_NE):
        i = 2 * k
        v = c[i] if i <= deg else 0.0
        e[k] = -v if k & 1 else v
    for k in range(_NO):
        i = 2 * k + 1
        v = c[i] if i <= deg else 0.0
        o[k] = -v if k & 1 else v


@njit(cache=True, error_model="numpy", _nrt=False)
def _at(en, on, ed, od, dc, wj, vj):  # pragma: no cover - compiled
    """``H(j w) = H(0) N(j w) / D(j w)`` at one point (``vj = wj^2``) from the parts of
    :func:`_split`: ``(Re H, Im H, |H|^2)``. Horner's rule in ``v`` on the signed parts gives,
    bit for bit, what :func:`_evaluate`'s rule in ``x = -v`` gives (the intermediate sums
    differ in sign only, and the leading zeros add nothing)."""
    e1 = _horner(en, _NE - 1, vj)
    o1 = _horner(on, _NO - 1, vj)
    e2 = _horner(ed, _NE - 1, vj)
    o2 = _horner(od, _NO - 1, vj)
    ni = wj * o1
    di = wj * o2
    inv = dc / (e2 * e2 + di * di)
    r = (e1 * e2 + ni * di) * inv
    i = (ni * e2 - e1 * di) * inv
    return r, i, r * r + i * i


@njit(cache=True, error_model="numpy", _nrt=False)
def _crosses_cut(r1, i1, r2, i2):  # pragma: no cover - compiled
    """+1 (-1) when the principal step from ``r1 + j i1`` to ``r2 + j i2`` crosses the negative
    real axis counter-clockwise (clockwise), so that the principal angle jumps by -2 pi
    (+2 pi); 0 otherwise."""
    cross = r1 * i2 - i1 * r2
    if i1 >= 0.0 and i2 < 0.0 and cross > 0.0:
        return 1
    if i1 < 0.0 and i2 >= 0.0 and cross < 0.0:
        return -1
    return 0


@njit(cache=True, error_model="numpy", _nrt=False)
def _sign_changes(c, size, deg):  # pragma: no cover - compiled
    """The sign changes of ``c[:deg + 1]``, or -1 when a coefficient is not finite or has
    cancelled to within ``_CANCELLED`` of ``size`` (the magnitudes of its terms): its sign
    cannot be trusted."""
    changes = 0
    last = 0.0
    for k in range(deg + 1):
        if not (math.isfinite(c[k]) and math.isfinite(size[k])):
            return -1
        if size[k] > 0.0 and not abs(c[k]) > _CANCELLED * size[k]:
            return -1
        if c[k] != 0.0:
            if last != 0.0 and (c[k] > 0.0) != (last > 0.0):
                changes += 1
            last = c[k]
    return changes


@njit(cache=True, error_model="numpy", _nrt=False)
def _crossings_bound(en, on, ed, od, dc, p, size):  # pragma: no cover - compiled
    """Descartes' bound on the number of unity-gain crossings: the sign changes of the
    coefficients of ``P(v) = H(0)^2 |N(j w)|^2 - |D(j w)|^2 = H(0)^2 (E_N^2 + v O_N^2) -
    (E_D^2 + v O_D^2)``, a polynomial in ``v = w^2`` (left in ``p``; the parts of
    :func:`_split`). A coefficient that cancels to within ``_CANCELLED`` of the magnitudes of
    its terms (``size``) has no sign to trust: the bound is then ``_NP``, more than any
    count. ``p, size`` have ``_NP`` entries."""
    for k in range(_NP):
        p[k] = 0.0
        size[k] = 0.0
    s = dc * dc
    for i in range(_NE):
        for j in range(_NE):
            a = s * en[i] * en[j]
            b = ed[i] * ed[j]
            p[i + j] += a - b
            size[i + j] += abs(a) + abs(b)
    for i in range(_NO):
        for j in range(_NO):
            a = s * on[i] * on[j]
            b = od[i] * od[j]
            p[i + j + 1] += a - b
            size[i + j + 1] += abs(a) + abs(b)
    changes = _sign_changes(p, size, _NP - 1)
    return _NP if changes < 0 else changes


@njit(cache=True, error_model="numpy", _nrt=False)
def _imag_part(en, on, ed, od, q, qs):  # pragma: no cover - compiled
    """The imaginary part of ``N(j w) conj(D(j w))`` as a polynomial in ``v = w^2``: ``Im H(j w)
    = H(0) w Q(w^2) / |D(j w)|^2`` with ``Q = O_N E_D - E_N O_D`` (the parts of
    :func:`_split`), ascending, in ``q``; ``qs`` gathers the magnitudes of the terms of each
    coefficient (its rounding scale). Returns the degree of ``Q`` (the highest power with a
    term). The workspaces have ``_NP`` entries."""
    for k in range(_NP):
        q[k] = 0.0
        qs[k] = 0.0
    for i in range(_NO):
        for j in range(_NE):
            a = on[i] * ed[j]
            b = en[j] * od[i]
            q[i + j] += a - b
            qs[i + j] += abs(a) + abs(b)
    dq = _NP - 1
    while dq > 0 and qs[dq] == 0.0:
        dq -= 1
    return dq


@njit(cache=True, error_model="numpy", _nrt=False)
def _changes(c, cs, deg, a, b, t, ts):  # pragma: no cover - compiled
    """Descartes' bound on the number of roots of ``sum_k c_k v^k`` in ``(a, b)``, ``0 <= a <=
    b``: the sign changes of the coefficients of ``(1 + t)^deg c(a + (b - a) / (1 + t))``
    (which maps ``t`` in ``(0, inf)`` onto ``v`` in ``(a, b)``), left in ``t``: its constant
    coefficient is ``c(b)``, its leading one ``t[deg] = c(a)``. Made by a Taylor shift by
    ``a``, a scaling by ``b - a``, a reversal and a Taylor shift by 1 (synthetic division, no
    divisions); ``ts`` the same on the magnitudes ``cs`` of the terms of each ``c_k``. Returns
    -1 when a coefficient is not finite or has cancelled to within ``_CANCELLED`` of the
    magnitudes of its terms (the signs of ``c(a)`` and ``c(b)`` among them)."""
    for k in range(deg + 1):
        t[k] = c[k]
        ts[k] = cs[k]
    if a != 0.0:
        for i in range(deg):
            for j in range(deg - 1, i - 1, -1):
                t[j] += a * t[j + 1]
                ts[j] += a * ts[j + 1]
    y = b - a
    yk = 1.0
    for k in range(deg + 1):
        t[k] *= yk
        ts[k] *= yk
        yk *= y
    for k in range(deg // 2 + 1):
        j = deg - k
        t[k], t[j] = t[j], t[k]
        ts[k], ts[j] = ts[j], ts[k]
    for i in range(deg):
        for j in range(deg - 1, i - 1, -1):
            t[j] += t[j + 1]
            ts[j] += ts[j + 1]
    return _sign_changes(t, ts, deg)


@njit(cache=True, error_model="numpy", _nrt=False)
def _first_above(x, i0, i1, value):  # pragma: no cover - compiled
    """The first grid index ``i`` in ``i0 .. i1`` with ``w_i^2 = -x[i] > value`` (``i1 + 1`` when
    there is none), by bisection (``-x`` ascends)."""
    lo = i0
    hi = i1 + 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if -x[mid] > value:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, error_model="numpy", _nrt=False)
def _sign_change_steps(c, cs, deg, x, i0, i1, t, ts, lo_stack, hi_stack, steps):  # pragma: no cover
    """The grid steps ``(g, g + 1)``, ``i0 <= g < i1``, across which ``sum_k c_k v^k`` changes
    sign (``v = -x``, the grid's ``w^2``), ascending, in ``steps``; returns how many, or -1
    when they cannot be proved.

    The roots in ``(v_i0, v_i1)`` are isolated: the interval is split at geometric means until
    Descartes' bound (:func:`_changes`) on each piece is 0 or 1 (then exact). A piece with one
    root gives its step by bisection on the sign of the polynomial at the grid points inside
    it (its sign at the piece's left end known); a step that holds an even number of roots
    is no sign change. -1 when a bound or a sign cannot be trusted (a root on a split point or
    a grid point among them) or more than ``_MAX_PIECES`` pieces or steps are met. ``t, ts``
    are workspaces of ``_NP`` entries, ``lo_stack, hi_stack, steps`` of ``_MAX_PIECES``."""
    n = 0
    top = 1
    lo_stack[0] = -x[i0]
    hi_stack[0] = -x[i1]
    looked = 0
    while top > 0:
        top -= 1
        lo = lo_stack[top]
        hi = hi_stack[top]
        looked += 1
        if looked > _MAX_PIECES:
            return -1
        ch = _changes(c, cs, deg, lo, hi, t, ts)
        if ch < 0:
            return -1
        if ch == 1:
            positive = t[deg] > 0.0  # the sign of c(lo), checked by _changes
            # the last grid point before the root: the left end stands for the points at or
            # below lo, the right end for those at or above hi
            left = _first_above(x, i0, i1, lo) - 1
            right = _first_above(x, i0, i1, hi)
            while right > i0 and -x[right - 1] >= hi:
                right -= 1
            while right - left > 1:
                mid = (left + right) >> 1
                v = -x[mid]
                cm = _horner(c, deg, v)
                if not abs(cm) > _CANCELLED * _horner(cs, deg, v):
                    return -1
                if (cm > 0.0) == positive:
                    left = mid
                else:
                    right = mid
            if n > 0 and steps[n - 1] == left:
                n -= 1  # two roots in one step: no sign change across it
            elif n < _MAX_PIECES:
                steps[n] = left
                n += 1
            else:
                return -1
        elif ch > 1:
            mid = math.sqrt(lo * hi)
            if not (lo < mid < hi) or top + 2 > _MAX_PIECES:
                return -1
            # the right half first, so that the left one is looked at next (roots ascend)
            lo_stack[top] = mid
            hi_stack[top] = hi
            lo_stack[top + 1] = lo
            hi_stack[top + 1] = mid
            top += 2
    return n


@njit(cache=True, error_model="numpy", _nrt=False)
def _estrin(c, v):  # pragma: no cover - compiled
    """``sum_k c_k v^k`` over the 9 entries of ``c`` (``_NP``, a degree up to ``MAX_NODES = 8``),
    by Estrin's scheme: a chain of 5 operations instead of Horner's 16."""
    v2 = v * v
    v4 = v2 * v2
    return ((c[0] + c[1] * v) + (c[2] + c[3] * v) * v2) + \
        ((c[4] + c[5] * v) + (c[6] + c[7] * v) * v2) * v4 + c[8] * (v4 * v4)


@njit(cache=True, error_model="numpy", _nrt=False)
def _winding_until(q, qs, dq, en, on, ed, od, dc, w, x, g, t, ts, lo_stack, hi_stack,
                   steps):  # pragma: no cover - compiled
    """The winding of the walk over the grid points ``0 .. g`` (the signed count of its steps
    across the negative real axis), found without walking: ``(found, winding, points)``,
    ``points`` the evaluations of ``H`` it made; ``found`` is False when the polynomials
    cannot settle it (the walk must then look).

    ``Im H`` has the sign of ``H(0) Q(w^2)`` (:func:`_imag_part`). A grid step across which
    ``Q`` keeps its sign stays in one half plane and crosses no axis; so when ``Q`` has no
    root in ``(0, w_g^2]`` (:func:`_changes`, no shift needed) the winding is 0, and
    otherwise it is the sum of :func:`_crosses_cut` over the steps where ``Q`` changes sign
    (:func:`_sign_change_steps`), as the walk would count them. Workspaces as
    :func:`_sign_change_steps`."""
    if _changes(q, qs, dq, 0.0, -x[g], t, ts) == 0:
        return True, 0, 0
    n = _sign_change_steps(q, qs, dq, x, 0, g, t, ts, lo_stack, hi_stack, steps)
    if n < 0:
        return False, 0, 0
    winding = 0
    for k in range(n):
        i = steps[k]
        ri, ii, _ = _at(en, on, ed, od, dc, w[i], -x[i])
        rj, ij, _ = _at(en, on, ed, od, dc, w[i + 1], -x[i + 1])
        winding += _crosses_cut(ri, ii, rj, ij)
    return True, winding, 2 * n


@njit(cache=True, error_model="numpy", _nrt=False)
def _step(rp, ip, m2p, rk, ik, m2k, winding, g, logf, out):  # pragma: no cover - compiled
    """One grid step of the walk, from grid point ``g`` to ``g + 1``: the winding after it;
    a unity-gain crossing in it updates the walk's state ``out[8:11]`` (crossed, gbw, pm)."""
    wind_k = winding + _crosses_cut(rp, ip, rk, ik)
    if m2p > 1.0 and m2k <= 1.0:
        lm1 = 0.5 * math.log10(m2p)
        lm2 = 0.5 * math.log10(m2k)
        t = lm1 / (lm1 - lm2)
        ph1 = math.degrees(math.atan2(ip, rp) + 2.0 * math.pi * winding)
        ph2 = math.degrees(math.atan2(ik, rk) + 2.0 * math.pi * wind_k)
        pm = 180.0 + ph1 + t * (ph2 - ph1)
        if pm < out[10]:
            out[10] = pm
        if out[8] == 0.0:
            out[9] = 10.0 ** (logf[g] + t * (logf[g + 1] - logf[g]))
            out[8] = 1.0
    return wind_k


@njit(cache=True, error_model="numpy", _nrt=False)
def _fill(n, dn, d, dd, dc, w, x, c0, cnt, r0, i0, m0, winding, logf, out, stop, work,
          ):  # pragma: no cover - compiled
    """Every grid point of a segment: ``H`` at grid points ``c0 + 1 .. c0 + cnt``, stepped
    through from ``H(c0) = r0 + j i0`` (``|H|^2 = m0``) by :func:`_step` (``stop``: up to the
    first crossing). Returns the winding after the last step and whether every point was
    finite."""
    fr, fi, f2 = work[7], work[8], work[9]
    _evaluate(n, dn, d, dd, dc, w[c0 + 1:c0 + 1 + cnt], x[c0 + 1:c0 + 1 + cnt], cnt,
              work[0], work[1], work[2], work[3], fr, fi, f2)
    rp, ip, m2p = r0, i0, m0
    for k in range(cnt):
        rk, ik, m2k = fr[k], fi[k], f2[k]
        if not (math.isfinite(m2k) and m2k > 0.0):
            return winding, False
        winding = _step(rp, ip, m2p, rk, ik, m2k, winding, c0 + k, logf, out)
        if stop and out[8] != 0.0:
            break
        rp, ip, m2p = rk, ik, m2k
    return winding, True


@njit(cache=True, error_model="numpy", _nrt=False)
def _walk(n, dn, d, dd, dc, w, x, wc, xc, logf, coarse, refine_mag, single, m20, m2e, out,
          work):  # pragma: no cover - compiled
    """The walk along the grid, for a design whose crossings the polynomials did not settle
    (step 5 of the module docstring): with ``single`` (at most one crossing on the grid), up
    to the crossing; otherwise over the whole grid by the rule of
    :func:`macro.solver.measure_sparse`. ``m20, m2e`` are ``|H|^2`` at the grid's ends, ``out``
    and ``work`` as in :func:`_measure`. Returns whether every point it computed was finite
    and non-zero, and how many it computed."""
    nf = w.size
    nc = wc.size
    e1, o1, e2, o2, hr, hi, m2 = work[0], work[1], work[2], work[3], work[4], work[5], work[6]
    finite = True
    points = 0
    if single and not (m20 > 1.0 and m2e <= 1.0):
        last = -1  # no crossing in the grid: nothing to walk
    elif single:
        # the coarse points, a chunk at a time, up to the first where |H| <= 1: the one
        # crossing lies in the coarse segment before it
        done = 0
        jc = -1
        while done < nc and jc < 0 and finite:
            cnt = min(_CHUNK, nc - done)
            _evaluate(n, dn, d, dd, dc, wc[done:done + cnt], xc[done:done + cnt], cnt, e1, o1,
                      e2, o2, hr[done:], hi[done:], m2[done:])
            for j in range(done, done + cnt):
                if not (math.isfinite(m2[j]) and m2[j] > 0.0):
                    finite = False
                    break
                if m2[j] <= 1.0:
                    jc = j
                    break
            done += cnt
        points += done
        last = jc - 1 if jc > 0 else -1
    else:
        last = nc - 1
    winding = 0
    if finite and last >= 0:
        if not single:
            _evaluate(n, dn, d, dd, dc, wc, xc, nc, e1, o1, e2, o2, hr, hi, m2)
            points += nc
            for j in range(nc):
                if not (math.isfinite(m2[j]) and m2[j] > 0.0):
                    finite = False
        lo2 = 1.0 / (refine_mag * refine_mag)
        hi2 = refine_mag * refine_mag
        first = 0
        if single and finite:
            # one pass over the segments before the crossing's: when none turns by more than
            # 90 deg, the winding is the sum of their cut crossings
            turns = 0
            wsum = 0
            for j in range(last):
                turns += int(hr[j] * hr[j + 1] + hi[j] * hi[j + 1] < 0.0)
                wsum += _crosses_cut(hr[j], hi[j], hr[j + 1], hi[j + 1])
            if turns == 0:
                winding = wsum
                first = last
        for j in range(first, nc - 1 if not single else last + 1):
            if not finite:
                break
            c0 = j * coarse
            if single and j == last:
                # the crossing's segment, every point up to the one after the crossing
                cnt = min(coarse, nf - 1 - c0)
                winding, finite = _fill(n, dn, d, dd, dc, w, x, c0, cnt, hr[j], hi[j], m2[j],
                                        winding, logf, out, True, work)
                points += cnt
                break
            ma, mb = m2[j], m2[j + 1]
            turn = (hr[j] * hr[j + 1] + hi[j] * hi[j + 1]) < 0.0
            if turn or (not single and max(ma, mb) > lo2 and min(ma, mb) < hi2):
                winding, finite = _fill(n, dn, d, dd, dc, w, x, c0, coarse, hr[j], hi[j], ma,
                                        winding, logf, out, False, work)
                points += coarse
            else:
                winding += _crosses_cut(hr[j], hi[j], hr[j + 1], hi[j + 1])
    return finite, points


@njit(cache=True, error_model="numpy", _nrt=False)
def _measure(n, dn, d, dd, dc, w, x, wc, xc, logf, coarse, refine_mag, shortcut, out, work,
             en, on, ed, od, p, ps, q, qs, t, ts, lo_stack, hi_stack, psteps, qsteps):
    """The measurement (step 5 of the module docstring) over the grid ``w`` (rad/s, ``x =
    -w^2``), ``wc, xc`` its coarse points (every ``coarse``-th). ``out[:8]``: finite, mag0,
    gain_db, crossed, mag_end, gbw, pm, evaluations of ``H``; ``out[8:11]`` holds the
    state of :func:`_step` (crossed, gbw, pm). ``work`` a ``(10, len(wc) + coarse + 1)``
    workspace for the walk; ``en, on, ed, od`` (``_NE``, ``_NO`` entries) hold the parts of
    :func:`_split`, ``p, ps`` Descartes' polynomial, ``q, qs`` the one of :func:`_imag_part`,
    ``psteps, qsteps`` the grid steps where they change sign; ``t, ts`` (``_NP`` entries
    each) and ``lo_stack, hi_stack`` are workspaces (``psteps`` to ``hi_stack``:
    ``_MAX_PIECES`` entries; separate arrays, so that no view is made per design).

    ``shortcut=False`` proves nothing and walks the whole grid (for checking the rest).
    """
    nf = w.size
    out[8] = 0.0
    out[9] = math.nan
    out[10] = math.inf
    _split(n, dn, en, on)
    _split(d, dd, ed, od)
    rl, il, m20 = _at(en, on, ed, od, dc, w[0], -x[0])
    rh, ih, m2e = _at(en, on, ed, od, dc, w[nf - 1], -x[nf - 1])
    points = 2
    bound = _crossings_bound(en, on, ed, od, dc, p, ps)
    finite = math.isfinite(m20) and m20 > 0.0 and math.isfinite(m2e) and m2e > 0.0
    bisected = False
    nsteps = -1
    if finite and shortcut and bound > 1:
        # the grid steps where |H| passes 1 (crossings off the grid do not count, and
        # Descartes' bound on the whole axis may be loose)
        dp = _NP - 1
        while dp > 0 and ps[dp] == 0.0:
            dp -= 1
        nsteps = _sign_change_steps(p, ps, dp, x, 0, nf - 1, t, ts, lo_stack, hi_stack,
                                    psteps)
    single = shortcut and (bound <= 1 or 0 <= nsteps <= 1)
    if finite and single and m20 > 1.0 and m2e <= 1.0:
        # |H| > 1 before the one crossing and <= 1 after it: its grid step by bisection on
        # the sign of Descartes' polynomial (the sign of |H|^2 - 1), checked on H
        lo = 0
        hi_ = nf - 1
        while hi_ - lo > 1:
            mid = (lo + hi_) >> 1
            if _estrin(p, -x[mid]) > 0.0:
                lo = mid
            else:
                hi_ = mid
        m2l, m2h = m20, m2e
        if lo > 0:
            rl, il, m2l = _at(en, on, ed, od, dc, w[lo], -x[lo])
            points += 1
        if hi_ < nf - 1:
            rh, ih, m2h = _at(en, on, ed, od, dc, w[hi_], -x[hi_])
            points += 1
        if (math.isfinite(m2l) and math.isfinite(m2h) and m2l > 1.0 and 0.0 < m2h <= 1.0):
            dq = _imag_part(en, on, ed, od, q, qs)
            proved, winding, extra = _winding_until(q, qs, dq, en, on, ed, od, dc, w, x, lo, t,
                                                    ts, lo_stack, hi_stack, qsteps)
            points += extra
            if proved:
                _step(rl, il, m2l, rh, ih, m2h, winding, lo, logf, out)
                bisected = True
    elif finite and nsteps > 1:
        # several steps where |H| passes 1, each checked on H; before a downward one, the
        # winding from the steps where Im H changes sign (found once, up to the last step)
        bisected = True
        nq = -1
        winding = 0
        j = 0
        for k in range(nsteps):
            g = psteps[k]
            ra, ia, m2a = _at(en, on, ed, od, dc, w[g], -x[g])
            rb, ib, m2b = _at(en, on, ed, od, dc, w[g + 1], -x[g + 1])
            points += 2
            if not (math.isfinite(m2a) and math.isfinite(m2b) and m2a > 0.0 and m2b > 0.0):
                finite = False
                break
            if m2a <= 1.0 and m2b > 1.0:
                continue  # upward
            if not (m2a > 1.0 and m2b <= 1.0):
                bisected = False  # no pass through 1 after all: the signs were not H's
                break
            if nq < 0:
                dq = _imag_part(en, on, ed, od, q, qs)
                last = psteps[nsteps - 1]
                nq = 0
                if _changes(q, qs, dq, 0.0, -x[last], t, ts) != 0:
                    nq = _sign_change_steps(q, qs, dq, x, 0, last, t, ts, lo_stack, hi_stack,
                                            qsteps)
                if nq < 0:
                    bisected = False
                    break
            while j < nq and qsteps[j] < g:
                i = qsteps[j]
                ri, ii, _ = _at(en, on, ed, od, dc, w[i], -x[i])
                rj, ij, _ = _at(en, on, ed, od, dc, w[i + 1], -x[i + 1])
                winding += _crosses_cut(ri, ii, rj, ij)
                points += 2
                j += 1
            _step(ra, ia, m2a, rb, ib, m2b, winding, g, logf, out)
        if not bisected:
            # the walk starts afresh
            out[8] = 0.0
            out[9] = math.nan
            out[10] = math.inf
    if finite and not bisected:
        finite, more = _walk(n, dn, d, dd, dc, w, x, wc, xc, logf, coarse, refine_mag, single,
                             m20, m2e, out, work)
        points += more
    out[0] = 1.0 if finite else 0.0
    out[1] = math.sqrt(m20)
    out[2] = 20.0 * math.log10(out[1]) if out[1] > 0 else -math.inf
    out[3] = out[8]
    out[4] = math.sqrt(m2e)
    out[5] = out[9]
    out[6] = out[10]
    out[7] = points


@njit(cache=True, error_model="numpy")
def _batch(types, values, nparams, st_start, st_count, st_pos, st_k, st_a, st_b, masks,
           gm_start, gm_count, gm_idx, mm, w, x, wc, xc, logf, coarse, refine_mag, shortcut,
           vdd, gm_over_id, c_load, out_idx, n_types):  # pragma: no cover - compiled
    """Every design of a batch (``types (B, 5)`` its topologies, ``values`` every design's
    parameters one after the other; ``nparams`` to ``mm`` the parts' tables of
    :func:`_part_tables`, ``w`` to ``coarse`` the grid of :func:`_grid`); returns ``code
    (B,)`` and ``res (B, 11)``: dc, finite, mag0, gain_db, crossed, mag_end, gbw, pm, power,
    fom, grid points evaluated."""
    b = types.shape[0]
    code = np.zeros(b, dtype=np.int64)
    res = np.full((b, 11), np.nan)
    # workspaces
    block = np.zeros(2 * mm * mm + 2 * mm)
    g = np.empty((mm, mm))
    rhs = np.empty((mm, mm + 2))
    xs = np.empty((mm, mm + 2))
    ap = np.empty((mm, mm))
    rowo = np.empty(mm)
    dcoef = np.zeros(mm + 1)
    ncoef = np.zeros(mm + 1)
    keep = np.empty(mm, dtype=np.bool_)
    idx = np.empty(mm, dtype=np.int64)
    hh = np.empty((mm + 2, mm))
    q = np.empty((mm + 1, mm + 1))
    r0 = np.empty(mm + 2)
    r1 = np.empty(mm + 2)
    r2 = np.empty(mm + 2)
    meas = np.empty(11)
    nodes = np.empty(mm, dtype=np.int64)
    top = 1
    for k in range(nparams.size):
        top = max(top, nparams[k] + 1)
    val = np.empty(top)
    rec = np.empty(top)
    work = np.empty((10, wc.size + coarse + 1))
    en, ed = np.empty(_NE), np.empty(_NE)
    on, od = np.empty(_NO), np.empty(_NO)
    mp, mps, mq, mqs = np.empty(_NP), np.empty(_NP), np.empty(_NP), np.empty(_NP)
    mt, mts = np.empty(_NP), np.empty(_NP)
    lo_stack, hi_stack = np.empty(_MAX_PIECES), np.empty(_MAX_PIECES)
    psteps = np.empty(_MAX_PIECES, dtype=np.int64)
    qsteps = np.empty(_MAX_PIECES, dtype=np.int64)
    nparts = types.shape[1] + 1
    off = 0
    for i in range(b):
        for k in range(block.size):
            block[k] = 0.0
        mask = 0
        pw = 0.0
        for part in range(nparts):
            # the main stages, then each tunable pair's connection
            t = 0 if part == 0 else 1 + (part - 1) * n_types + types[i, part - 1]
            # the part's parameters and their reciprocals, index -1 standing for 1
            for j in range(nparams[t]):
                val[j] = values[off + j]
                rec[j] = 1.0 / val[j]
            val[-1] = 1.0
            rec[-1] = 1.0
            off += nparams[t]
            for s in range(st_start[t], st_start[t] + st_count[t]):
                block[st_pos[s]] += st_k[s] * val[st_a[s]] * rec[st_b[s]]
            mask |= masks[t]
            for s in range(gm_start[t], gm_start[t] + gm_count[t]):
                pw += val[gm_idx[s]]
        m = 0
        o = -1
        for z in range(mm):
            if (mask >> z) & 1:
                if z == out_idx:
                    o = m
                nodes[m] = z
                m += 1
        # G, and beside it the right-hand sides of A = G^-1 C, G^-1 u and G^-1 w
        for p in range(m):
            for r in range(m):
                g[p, r] = block[nodes[p] * mm + nodes[r]]
                rhs[p, r] = block[mm * mm + nodes[p] * mm + nodes[r]]
            rhs[p, m] = block[2 * mm * mm + nodes[p]]
            rhs[p, m + 1] = block[2 * mm * mm + mm + nodes[p]]
        pw = vdd * pw / gm_over_id
        res[i, 8] = pw
        # A = G^-1 C, G^-1 u and G^-1 w in one solve
        if not abs(_solve(g, rhs, m, m + 2, xs)) > 1e-13:
            code[i] = SINGULAR
            continue
        dc = xs[o, m]
        res[i, 0] = dc
        dd, nred = _reduce(xs, m, o, dcoef, keep, idx, hh, q)
        if _routh_unstable(dcoef, dd, r0, r1, r2):
            code[i] = UNSTABLE
            continue
        if dc != 0.0 and nred >= 0:
            # the numerator from the same reduction
            dn = _numerator(hh, q, nred, dc, ncoef)
        elif dc != 0.0:
            # the numerator apart: A' = G'^-1 C' with the vout column of G, C replaced by u, w; by
            # Sherman-Morrison, G'^-1 = (I - (G^-1 u - e_o) e_o^T / H(0)) G^-1, so A' is
            # G^-1 C with its vout column replaced by G^-1 w, less a rank-one term
            for r in range(m):
                rowo[r] = xs[o, m + 1] if r == o else xs[o, r]
            for p in range(m):
                f = (xs[p, m] - (1.0 if p == o else 0.0)) / dc
                for r in range(m):
                    ap[p, r] = (xs[p, m + 1] if r == o else xs[p, r]) - f * rowo[r]
            dn = _minor_sums(ap, m, ncoef, keep, idx, hh, q)
        else:
            # H(0) = 0: the design is inverted at DC whatever its response elsewhere (its
            # numerator is not needed; the response is taken as finite and non-zero, as it
            # is unless the numerator vanishes too)
            res[i, 1] = 1.0
            res[i, 2] = 0.0
            res[i, 3] = -math.inf
            res[i, 4] = 0.0
            res[i, 10] = 0.0
            continue
        _measure(ncoef, dn, dcoef, dd, dc, w, x, wc, xc, logf, coarse, refine_mag, shortcut,
                 meas, work, en, on, ed, od, mp, mps, mq, mqs, mt, mts, lo_stack, hi_stack,
                 psteps, qsteps)
        for k in range(7):
            res[i, 1 + k] = meas[k]
        res[i, 10] = meas[7]
        gbw = meas[5]
        res[i, 9] = (gbw / 1e6) * (c_load * 1e12) / (pw * 1e3) if pw > 0 else math.nan
    return code, res


# -- the Python side --------------------------------------------------------------------------

@functools.cache
def _part_tables() -> tuple[np.ndarray, ...]:
    """The stamps of every part a design is made of, as flat arrays the kernel indexes by part:
    part 0 the main stages and load, part ``1 + k * N_TYPES + t`` connection type ``t`` of
    tunable pair ``k`` (:func:`macro.nodal._part_stamps`, parameter indices local to the
    part), with the unknown nodes each part uses (a bit mask), the local indices of its gm
    parameters (for the power, in the order of :func:`macro.design.stage_recipes`) and the
    number of unknowns of the largest design."""
    parts = [(None, 0)] + [(pair, t) for pair in TUNABLE_PAIRS for t in range(N_TYPES)]
    nparams, st_start, st_count, used, gm_start, gm_count = [], [], [], [], [], []
    pos, kk, aa, bb, gm = [], [], [], [], []
    for pair, t in parts:
        p, k, a, b, nodes, n = _part_stamps(pair, t)
        if pair is None:
            names, stages = [q.name for q in MAIN_PARAMETERS], _MAIN_STAGES
        else:
            names = [q.name for q in connection_parameters(pair, t)]
            stages = connection_recipes(pair, t)[0]
        nparams.append(n)
        st_start.append(len(pos))
        st_count.append(len(p))
        used.append(sum(1 << z for z in range(MAX_NODES) if z in nodes))
        gm_start.append(len(gm))
        gm_count.append(len(stages))
        pos += p
        kk += k
        aa += a
        bb += b
        gm += [names.index(r.gm) for r in stages]
    ints = functools.partial(np.array, dtype=np.int64)
    return (ints(nparams), ints(st_start), ints(st_count), ints(pos), np.array(kk, dtype=float),
            ints(aa), ints(bb), ints(used), ints(gm_start), ints(gm_count), ints(gm), MAX_NODES)


def _instability_reasons(designs: Sequence[Design]):
    """The reasons of :func:`macro.nodal.instability_reason` for unstable designs, one after
    the other, their poles found at once (an iterator); a design without a pole beyond
    :data:`macro.nodal.RHP_TOLERANCE` (the Routh-Hurwitz table failed it) says so instead.
    The wording is that function's, written out here because calling it costs about 23 us
    per design; ``tests/macro/test_kernel.py`` checks the two agree word for word."""
    if not designs:
        return iter(())
    p = poles(designs)
    with np.errstate(invalid="ignore"):
        rhp = np.real(p) > RHP_TOLERANCE * np.abs(p)
    worst = p[np.arange(len(p)), np.argmax(np.where(rhp, np.real(p), -np.inf), axis=1)]
    return iter([
        "unstable open loop: a pole in the right half plane at "
        f"{w.real / (2 * np.pi):.3g}{w.imag / (2 * np.pi):+.3g}j Hz" if has else
        "unstable open loop: the Routh-Hurwitz table of the characteristic polynomial has a "
        "non-positive first entry"
        for w, has in zip(worst.tolist(), rhp.any(axis=1).tolist(), strict=True)])


@dataclass(frozen=True)
class Metrics:
    """The metrics of a batch as arrays (shape ``(B,)`` each, read from the kernel's table
    when asked for: views of its columns, or a comparison for ``finite``, ``crossed`` and
    ``ok``); ``evaluations()`` turns them into :class:`macro.evaluation.Evaluation` objects.

    Attributes
    ----------
    code : :data:`MEASURED`, :data:`SINGULAR` or :data:`UNSTABLE`.
    table : ``(B, 11)``, the kernel's output, one column per metric below.
    designs : the designs, for the reasons of unstable ones.
    sweep : the grid.
    dc : the exact DC gain ``H(0)``.
    finite, crossed : whether the response is finite and non-zero on the grid, whether ``|H|``
        falls through 1 on it.
    mag0, gain_db, mag_end : ``|H|`` at the first grid point, in dB, and at the last.
    gbw_hz, pm_deg : the first unity-gain crossing and the least phase margin (``nan`` and
        ``inf`` when ``|H|`` does not fall through 1 on the grid).
    power_w, fom : the power model and equation (2).
    points : how many times the measurement computed ``H`` (both ends of the grid, the two
        ends of each grid step where ``|H|`` passes 1 and of each step before a downward one
        that changes half plane, and the points of any walk, a segment's end counted again;
        ``nan`` for designs not measured, 0 for those with ``H(0) = 0``).
    """

    code: np.ndarray
    table: np.ndarray
    designs: tuple[Design, ...]
    sweep: Sweep

    dc = property(lambda self: self.table[:, 0], doc="The exact DC gain ``H(0)``.")
    finite = property(lambda self: self.table[:, 1] > 0,
                      doc="Whether the response is finite and non-zero on the grid.")
    mag0 = property(lambda self: self.table[:, 2], doc="``|H|`` at the first grid point.")
    gain_db = property(lambda self: self.table[:, 3], doc="``mag0`` in dB.")
    crossed = property(lambda self: self.table[:, 4] > 0,
                       doc="Whether ``|H|`` falls through 1 on the grid.")
    mag_end = property(lambda self: self.table[:, 5], doc="``|H|`` at the last grid point.")
    gbw_hz = property(lambda self: self.table[:, 6], doc="The first unity-gain crossing.")
    pm_deg = property(lambda self: self.table[:, 7], doc="The least phase margin.")
    power_w = property(lambda self: self.table[:, 8], doc="The power model.")
    fom = property(lambda self: self.table[:, 9], doc="Equation (2).")
    points = property(lambda self: self.table[:, 10],
                      doc="How many times the measurement computed ``H``.")

    @property
    def ok(self) -> np.ndarray:
        """Whether each design was measured (the rules of :func:`macro.evaluation.verdict`)."""
        return (self.code == MEASURED) & self.finite & (self.dc > 0) & (self.mag0 > 1) & \
            self.crossed & ~(self.mag_end > 1)

    def evaluations(self) -> list[Evaluation]:
        """One :class:`macro.evaluation.Evaluation` per design, with its reason (chapter "The
        behaviour-level model", section "Validation and speed")."""
        f = self.sweep.frequencies()
        reasons = _instability_reasons([self.designs[i] for i in
                                        np.nonzero(self.code == UNSTABLE)[0]])
        out = []
        columns = (self.code, self.finite, self.dc, self.mag0, self.gain_db, self.crossed,
                   self.mag_end, self.gbw_hz, self.pm_deg, self.power_w)
        for code, finite, dc, mag0, gain_db, crossed, mag_end, gbw, pm, power in zip(
                *(c.tolist() for c in columns), strict=True):
            if code == SINGULAR:
                out.append(Evaluation.failed(_SINGULAR))
            elif code == UNSTABLE:
                out.append(Evaluation.failed(next(reasons)))
            else:
                out.append(verdict(finite, dc, mag0, gain_db, crossed, mag_end, gbw, pm, power,
                                   f))
        return out


@functools.lru_cache(maxsize=16)
def _grid(sweep: Sweep) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                  int]:
    """The sweep's angular frequencies ``w``, ``x = -w^2``, both at every coarse step of the
    walk, log10 frequencies and the coarse step; ``ValueError`` for a sweep with fewer than
    two frequencies."""
    f = sweep.frequencies()
    if f.size < 2:
        raise ValueError(f"the sweep {sweep} has fewer than two frequencies")
    coarse = COARSE if (f.size - 1) % COARSE == 0 and f.size > 2 * COARSE else 1
    w = 2 * np.pi * f
    x = -w * w
    return w, x, w[::coarse].copy(), x[::coarse].copy(), np.log10(f), coarse


def metrics(designs: Sequence[Design], sweep: Sweep = SWEEP, *, shortcut: bool = True
            ) -> Metrics:
    """The metrics of a batch of designs by the compiled route (see the module docstring);
    chapter "The behaviour-level model", section "Validation and speed". ``shortcut=False``
    walks the whole grid for every design (for checking the measurement that proves where the
    crossing lies and how the phase winds before it).

    Raises
    ------
    ValueError
        When the sweep has fewer than two frequencies.
    """
    grid = _grid(sweep)
    designs = tuple(designs)
    if not designs:
        return Metrics(np.zeros(0, dtype=np.int64), np.zeros((0, 11)), (), sweep)
    b = len(designs)
    types = np.fromiter(chain.from_iterable([d.topology.types for d in designs]), np.int64,
                        count=b * len(TUNABLE_PAIRS)).reshape(b, -1)
    # Design._values is the mapping behind Design.values (read directly: a tenth of a
    # microsecond per design less than through the property)
    values = np.fromiter(chain.from_iterable([d._values.values() for d in designs]), float)
    code, table = _batch(types, values, *_part_tables(), *grid, REFINE_MAGNITUDE, shortcut,
                         VDD, GM_OVER_ID, C_LOAD, OUT, N_TYPES)
    return Metrics(code, table, designs, sweep)


def evaluate(designs: Sequence[Design], sweep: Sweep = SWEEP) -> list[Evaluation]:
    """:func:`macro.solver.evaluate` by the compiled route (chapter "The behaviour-level
    model", section "Validation and speed"; ``python -m macro simulate --solver compiled``)."""
    return metrics(designs, sweep).evaluations()


__all__ = ["MEASURED", "SINGULAR", "UNSTABLE", "Metrics", "evaluate", "metrics"]
