"""The batched small-signal solver of behaviour-level op-amps (the fast simulator of II-B).

Every design is a linear circuit of G, R and C elements (:meth:`macro.design.Design.elements`)
driven at ``vin``. Nodal analysis with ``v(vin) = 1`` gives, for the unknown node voltages
``v`` (``n1, n2, vout`` and up to five internal nodes, padded to :data:`MAX_NODES` so that a
batch of any topologies is one array),

.. math::  (G + sC)\\,v = u + s\\,w,\\qquad H(s) = v_{out}(s),

with ``G`` the conductances and transconductances, ``C`` the capacitances, and ``u, w`` the
currents the elements tied to ``vin`` inject. Rather than one complex solve per frequency
(``B x F`` solves), the solver diagonalises ``A = G^{-1} C = V diag(lambda) V^{-1}`` once per
design, so that

.. math::  H(s) = \\sum_k \\frac{c_k (\\tilde u_k + s \\tilde w_k)}{1 + s \\lambda_k},
           \\quad c = e_{out}^T V,\\ \\tilde u = V^{-1} G^{-1} u,\\ \\tilde w = V^{-1} G^{-1} w,

and the poles of the circuit are ``s_k = -1 / lambda_k``: a design with a pole in the right
half plane (``Re s_k > 1e-9 |s_k|``) is unstable by itself and fails. ``H(0) = c . u~`` is the
exact DC gain. A design whose ``V`` is ill-conditioned (1-norm ``cond > 1e10``, a nearly defective
``A``) is solved directly instead, one complex ``(G + sC)`` solve per frequency. The metrics
then come from :func:`macro.evaluation.measure`, the same code the ngspice reference uses.

Shapes: a batch of ``B`` designs, ``F`` frequencies and ``M = MAX_NODES`` unknowns gives
``G, C: (B, M, M)``, ``u, w: (B, M)``, responses ``(B, F)``.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``) and by every
MACRO chapter that evaluates designs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .design import Design
from .evaluation import SWEEP, Evaluation, Sweep, measure, verdict
from .nodal import MAX_NODES, OUT, assemble, instability_reason, singular, unstable

#: Condition number (1-norm) of the eigenvectors above which a design is solved directly.
MAX_CONDITION = 1e10
#: Solvers :func:`evaluate` knows.
SOLVERS = ("batched", "ngspice")
_SINGULAR = "singular: the nodal conductance matrix is singular"
_NO_EIGENVALUES = "no eigenvalues: the eigen-decomposition of the nodal matrices did not converge"


def _direct(g: np.ndarray, c: np.ndarray, u: np.ndarray, w: np.ndarray, s: np.ndarray
            ) -> np.ndarray:
    """``v_out(s)`` of one design by one complex solve per frequency, shape ``(F,)``."""
    y = g[None] + s[:, None, None] * c[None]
    rhs = u[None] + s[:, None] * w[None]
    return np.linalg.solve(y, rhs[..., None])[:, OUT, 0]


@dataclass
class Modes:
    """The modal form ``H(s) = d + s e + sum_k r_k / (1 + s lambda_k)`` of a batch.

    Attributes
    ----------
    lam, res : ``(B, K)`` eigenvalues ``lambda`` (s) and residues ``r`` of the modes that
        contribute (padding dropped; zero-residue columns fill shorter rows).
    d, e : ``(B,)`` the constant and the (normally zero) improper term.
    dc : ``(B,)`` the exact DC gain ``H(0)``.
    poles : ``(B, M)`` the finite poles (rad/s), ``nan`` for padding and poles at infinity.
    direct : ``(B,)`` designs solved per frequency instead (ill-conditioned eigenvectors).
    bad : ``(B,)`` designs without a response (a singular ``G``, or no eigenvalues).
    matrices : ``(G, C, u, w)`` of the batch.
    problems : ``(B,)`` why each bad design has no response (``""`` for the others).
    """

    lam: np.ndarray
    res: np.ndarray
    d: np.ndarray
    e: np.ndarray
    dc: np.ndarray
    poles: np.ndarray
    direct: np.ndarray
    bad: np.ndarray
    matrices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    problems: list[str]

    def at(self, rows: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``H`` of designs ``rows`` at ``s`` (rad/s, imaginary), ``s`` shape ``(F,)`` or
        ``(len(rows), F)``; returns ``(len(rows), F)``."""
        s = np.asarray(s)
        s2 = np.broadcast_to(s, (len(rows), s.shape[-1]))
        # one (rows, K, F) array, divided in place, summed over the modes
        x = self.lam[rows][:, :, None] * (s[None, None, :] if s.ndim == 1 else s[:, None, :])
        x += 1.0
        np.divide(self.res[rows][:, :, None], x, out=x)
        h = x.sum(axis=1)
        h += self.d[rows, None] + s2 * self.e[rows, None]
        g, c, u, w = self.matrices
        for j in np.nonzero(self.direct[rows] | self.bad[rows])[0]:
            i = rows[j]
            try:
                h[j] = np.nan if self.bad[i] else _direct(g[i], c[i], u[i], w[i], s2[j])
            except np.linalg.LinAlgError:  # a pole exactly at a grid frequency
                h[j] = np.nan
        return h


def _inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched inverse that never raises: ``(inverses, failed)``; a matrix LAPACK finds
    exactly singular gets the identity and ``failed`` true."""
    try:
        return np.linalg.inv(a), np.zeros(a.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        out = np.empty_like(a)
        failed = np.zeros(a.shape[0], dtype=bool)
        for i in range(a.shape[0]):
            try:
                out[i] = np.linalg.inv(a[i])
            except np.linalg.LinAlgError:
                out[i] = np.eye(a.shape[1])
                failed[i] = True
        return out, failed


def _eig(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched eigen-decomposition that never raises: ``(values, vectors, failed)``; a matrix
    whose QR iteration does not converge gets zeros and ``failed`` true."""
    try:
        lam, vec = np.linalg.eig(a)
        return lam, vec, ~np.isfinite(lam).all(axis=1)
    except np.linalg.LinAlgError:
        lam = np.zeros(a.shape[:2], dtype=complex)
        vec = np.zeros(a.shape, dtype=complex)
        failed = np.zeros(a.shape[0], dtype=bool)
        for i in range(a.shape[0]):
            try:
                lam[i], vec[i] = np.linalg.eig(a[i])
            except np.linalg.LinAlgError:
                vec[i] = np.eye(a.shape[1])
                failed[i] = True
        return lam, vec, failed | ~np.isfinite(lam).all(axis=1)


def modes(designs: Sequence[Design]) -> Modes:
    """The modal form of a batch (see the module docstring)."""
    g, c, u, w = assemble(designs)
    bad = singular(g)
    problems = [_SINGULAR if x else "" for x in bad]
    g[bad] = np.eye(MAX_NODES)
    c[bad] = 0.0
    with np.errstate(all="ignore"):
        ginv, _ = _inverse(g)
        lam, vec, no_eig = _eig(ginv @ c)
        for i in np.nonzero(no_eig & ~bad)[0]:
            problems[i] = _NO_EIGENVALUES
        bad = bad | no_eig
        lam[bad] = 0.0
        vec[bad] = np.eye(MAX_NODES)
        vinv, singular_vec = _inverse(vec)
        # condition number in the 1-norm, ||V||_1 ||V^-1||_1
        cond = np.abs(vec).sum(axis=1).max(axis=1) * np.abs(vinv).sum(axis=1).max(axis=1)
        ill = ~(cond < MAX_CONDITION) | singular_vec
        vec[ill] = np.eye(MAX_NODES)
        vinv[ill] = np.eye(MAX_NODES)
        # modal coordinates of the sources: u~ = V^-1 G^-1 u, w~ = V^-1 G^-1 w
        ut = np.einsum("bij,bjk,bk->bi", vinv, ginv, u)
        wt = np.einsum("bij,bjk,bk->bi", vinv, ginv, w)
        cout = vec[:, OUT, :]
        alpha, beta = cout * ut, cout * wt
        dc = np.real(alpha.sum(axis=1))
        finite = np.abs(lam) > 0
        safe = np.where(finite, lam, 1.0)
        # (alpha + s beta) / (1 + s lam) = beta / lam + (alpha - beta / lam) / (1 + s lam)
        d = np.where(finite, beta / safe, alpha).sum(axis=1)
        res = np.where(finite, alpha - beta / safe, 0.0)
        e = np.where(finite, 0.0, beta).sum(axis=1)
        # keep only the modes that contribute (padding has zero residue)
        active = res != 0
        order = np.argsort(~active, axis=1, kind="stable")
        k = max(int(active.sum(axis=1).max()), 1) if len(designs) else 1
        lam_k = np.take_along_axis(lam, order[:, :k], axis=1)
        res_k = np.take_along_axis(res, order[:, :k], axis=1)
        for i in np.nonzero(ill & ~bad)[0]:
            dc[i] = float((ginv[i] @ u[i])[OUT])
        p = np.where(finite, -1.0 / safe, np.nan)
        p = np.where(np.isfinite(p), p, np.nan)
    dc[bad] = np.nan
    p[bad] = np.nan
    return Modes(lam_k, res_k, d, e, dc, p, ill, bad, (g, c, u, w), problems)


def response(designs: Sequence[Design], frequency: np.ndarray | None = None,
             method: str = "modal") -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Open-loop responses of a batch on a whole grid.

    Parameters
    ----------
    designs : ``B`` designs (any topologies).
    frequency : ``F`` frequencies (Hz); default the sweep of :data:`macro.evaluation.SWEEP`.
    method : ``"modal"`` (eigen-decomposition, the fast path) or ``"direct"`` (one complex
        solve per frequency, for checking).

    Returns
    -------
    (H, dc, poles, problems)
        ``H (B, F)`` complex ``v(vout)/v(vin)``; ``dc (B,)`` the exact DC gain ``H(0)``;
        ``poles (B, M)`` in rad/s (``nan`` for padding and poles at infinity); ``problems`` a
        reason per design, ``""`` when it was solved (a singular ``G`` gives a ``nan`` row).
    """
    if method not in ("modal", "direct"):
        raise ValueError(f"method must be 'modal' or 'direct', not {method!r}")
    f = SWEEP.frequencies() if frequency is None else np.asarray(frequency, dtype=float)
    s = 2j * np.pi * f
    m = modes(designs)
    rows = np.arange(len(designs))
    with np.errstate(all="ignore"):
        if method == "modal":
            h = m.at(rows, s)
        else:
            g, c, u, w = m.matrices
            h = np.array([_direct(g[i], c[i], u[i], w[i], s) for i in rows]).reshape(-1, f.size)
            h[m.bad] = np.nan
    return h, m.dc, m.poles, m.problems


#: Largest batch solved at once (longer lists are split; memory stays small).
CHUNK = 512
#: Coarse step (grid points) of :func:`evaluate`'s sparse measurement.
COARSE = 10
#: A coarse segment is refined when the phase turns by more than this (deg) across it.
REFINE_PHASE = 90.0
#: ... or when |H| at one of its ends is within this factor of 1 (the crossing may be in it).
REFINE_MAGNITUDE = 1.5


def measure_sparse(m: Modes, f: np.ndarray, power: np.ndarray) -> list[Evaluation]:
    """:func:`macro.evaluation.measure` of the modal responses, computed on part of the grid.

    ``H`` is computed at every ``COARSE``-th point of the grid; a coarse segment is filled in
    at every grid point when ``|H|`` at one of its ends lies within a factor
    ``REFINE_MAGNITUDE`` of 1 (a unity-gain crossing may lie in it) or the phase turns by more
    than ``REFINE_PHASE`` degrees across it. The unwrapped phase is the principal phase at 1 Hz
    plus the principal phase step of each segment (the sum of its grid steps where it was
    filled in), which equals the whole-grid unwrapping whenever the phase turns by less than
    180 deg across a segment that was not filled in; crossings are then found and
    interpolated exactly as :func:`macro.evaluation.measure` does on the grid points around
    them. Designs solved per frequency, and grids that do not split into whole segments, are
    measured on the whole grid. ``tests/macro/test_solver.py`` checks the two agree.
    """
    b, n = len(power), f.size
    rows = np.arange(b)
    s = 2j * np.pi * f
    if (n - 1) % COARSE or n < 2 * COARSE + 1 or m.direct.any():
        return measure(f, m.at(rows, s), m.dc, power)
    ci = np.arange(0, n, COARSE)
    with np.errstate(all="ignore"):
        hc = m.at(rows, s[ci])                        # (B, Nc)
        magc = np.abs(hc)
        stepc = np.angle(hc[:, 1:] / hc[:, :-1])      # (B, Nc - 1)
        lo, hi = np.minimum(magc[:, :-1], magc[:, 1:]), np.maximum(magc[:, :-1], magc[:, 1:])
        refine = ((hi > 1 / REFINE_MAGNITUDE) & (lo < REFINE_MAGNITUDE)) | \
            (np.abs(stepc) > np.radians(REFINE_PHASE))
        rb, rs = np.nonzero(refine)                   # design and segment of each refinement
        fi = rs[:, None] * COARSE + np.arange(COARSE + 1)[None, :]   # (R, COARSE + 1)
        hf = m.at(rb, s[fi]) if rb.size else np.zeros((0, COARSE + 1), complex)
        stepf = np.angle(hf[:, 1:] / hf[:, :-1])      # (R, COARSE)
        seg = stepc.copy()
        seg[rb, rs] = stepf.sum(axis=1)
        phc = np.concatenate([np.angle(hc[:, :1]), np.angle(hc[:, :1]) + np.cumsum(seg, axis=1)],
                             axis=1)                  # unwrapped phase at coarse points (rad)
        phf = np.degrees(phc[rb, rs][:, None] + np.concatenate(
            [np.zeros((rb.size, 1)), np.cumsum(stepf, axis=1)], axis=1))
        magf = np.abs(hf)
        logm = np.log10(np.where(magf > 0, magf, 1e-300))
        down = (magf[:, :-1] > 1) & (magf[:, 1:] <= 1)
        logf = np.log10(f)[fi]
        t = logm[:, :-1] / (logm[:, :-1] - logm[:, 1:])
        lf = logf[:, :-1] + t * (logf[:, 1:] - logf[:, :-1])
        pm_all = 180.0 + phf[:, :-1] + t * (phf[:, 1:] - phf[:, :-1])
        gain_db = 20 * np.log10(magc[:, 0])
        finite = np.isfinite(magc).all(axis=1) & (magc > 0).all(axis=1)
        finite[rb[~(np.isfinite(magf).all(axis=1) & (magf > 0).all(axis=1))]] = False
    gbw = np.full(b, np.nan)
    pm = np.full(b, np.inf)
    first = np.full(b, n)
    dr, dj = np.nonzero(down)
    np.minimum.at(pm, rb[dr], pm_all[dr, dj])
    np.minimum.at(first, rb[dr], fi[dr, dj])
    hit = fi[dr, dj] == first[rb[dr]]
    gbw[rb[dr][hit]] = 10.0 ** lf[dr[hit], dj[hit]]
    out = []
    for i in range(b):
        out.append(verdict(bool(finite[i]), m.dc[i], float(magc[i, 0]), float(gain_db[i]),
                            first[i] < n, float(magc[i, -1]), float(gbw[i]), float(pm[i]),
                            float(power[i]), f))
    return out


def evaluate(designs: Sequence[Design], *, solver: str = "batched", sweep: Sweep = SWEEP,
             simulator=None, exact_grid: bool = False) -> list[Evaluation]:
    """Evaluate designs: gain, GBW, PM, power and FoM (see :mod:`macro.evaluation`); chapter
    "The behaviour-level model", section "Two simulators of one design".

    Parameters
    ----------
    designs : the designs (any topologies, in one batch).
    solver : ``"batched"`` (this module) or ``"ngspice"`` (:mod:`macro.reference`).
    sweep : the frequency grid.
    simulator : for ``"ngspice"``, a :class:`circuits.Simulator` (default: the shared one).
    exact_grid : for ``"batched"``, compute the response at every grid point instead of the
        sparse measurement of :func:`measure_sparse` (same metrics, slower).

    Returns
    -------
    list[Evaluation]
        One per design, in order; a design that cannot be measured is a failed evaluation with
        a reason, never an exception.

    Raises
    ------
    ValueError
        For an unknown ``solver``.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, not {solver!r}")
    designs = list(designs)
    if not designs:
        return []
    if solver == "ngspice":
        from .reference import evaluate_ngspice

        return evaluate_ngspice(designs, sweep=sweep, simulator=simulator)
    f = sweep.frequencies()
    if len(designs) > CHUNK:
        return [e for i in range(0, len(designs), CHUNK)
                for e in evaluate(designs[i:i + CHUNK], sweep=sweep, exact_grid=exact_grid)]
    m = modes(designs)
    power = np.array([d.power() for d in designs])
    rhp = unstable(m.poles)
    out = measure_sparse(m, f, power) if exact_grid is False else \
        measure(f, m.at(np.arange(len(designs)), 2j * np.pi * f), m.dc, power)
    for i in range(len(designs)):
        if m.bad[i]:
            out[i] = Evaluation.failed(m.problems[i])
        elif rhp[i]:
            out[i] = Evaluation.failed(instability_reason(m.poles[i]))
    return out


__all__ = ["COARSE", "MAX_CONDITION", "SOLVERS", "Evaluation", "Modes", "evaluate",
           "measure_sparse", "modes", "response"]
