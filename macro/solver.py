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
exact DC gain. A design whose ``V`` is ill-conditioned (``cond > 1e10``, a nearly defective
``A``) is solved directly instead, one complex ``(G + sC)`` solve per frequency. The metrics
then come from :func:`macro.evaluation.measure`, the same code the ngspice reference uses.

Shapes: a batch of ``B`` designs, ``F`` frequencies and ``M = MAX_NODES`` unknowns gives
``G, C: (B, M, M)``, ``u, w: (B, M)``, responses ``(B, F)``.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``) and by every
MACRO chapter that evaluates designs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .design import Design
from .evaluation import SWEEP, Evaluation, Sweep, measure
from .nodal import MAX_NODES, OUT, assemble, instability_reason, singular, unstable

#: Condition number of the eigenvectors above which a design is solved directly.
MAX_CONDITION = 1e10
#: Solvers :func:`evaluate` knows.
SOLVERS = ("batched", "ngspice")

def _direct(g: np.ndarray, c: np.ndarray, u: np.ndarray, w: np.ndarray, s: np.ndarray
            ) -> np.ndarray:
    """``v_out(s)`` of one design by one complex solve per frequency, shape ``(F,)``."""
    y = g[None] + s[:, None, None] * c[None]
    rhs = u[None] + s[:, None] * w[None]
    return np.linalg.solve(y, rhs[..., None])[:, OUT, 0]


def response(designs: Sequence[Design], frequency: np.ndarray | None = None,
             method: str = "modal") -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Open-loop responses of a batch.

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
    g, c, u, w = assemble(designs)
    b = len(designs)
    bad = singular(g)
    problems = ["the nodal conductance matrix is singular" if x else "" for x in bad]
    g[bad] = np.eye(MAX_NODES)
    c[bad] = 0.0
    with np.errstate(all="ignore"):
        ginv = np.linalg.inv(g)
        lam, vec = np.linalg.eig(ginv @ c)
        ill = ~(np.linalg.cond(vec) < MAX_CONDITION)
        vec[ill] = np.eye(MAX_NODES)
        vinv = np.linalg.inv(vec)
        # modal coordinates of the sources: u~ = V^-1 G^-1 u, w~ = V^-1 G^-1 w
        ut = np.einsum("bij,bjk,bk->bi", vinv, ginv, u)
        wt = np.einsum("bij,bjk,bk->bi", vinv, ginv, w)
        cout = vec[:, OUT, :]
        alpha, beta = cout * ut, cout * wt
        dc = np.real(alpha.sum(axis=1))
        finite = np.abs(lam) > 0
        safe = np.where(finite, lam, 1.0)
        # (alpha + s beta) / (1 + s lam) = beta / lam + (alpha - beta / lam) / (1 + s lam)
        direct_term = np.where(finite, beta / safe, alpha).sum(axis=1)
        res = np.where(finite, alpha - beta / safe, 0.0)
        improper = np.where(finite, 0.0, beta).sum(axis=1)
        if method == "modal":
            # keep only the modes that contribute (padding has zero residue)
            active = res != 0
            order = np.argsort(~active, axis=1, kind="stable")
            k = max(int(active.sum(axis=1).max()), 1)
            lam_k = np.take_along_axis(lam, order[:, :k], axis=1)
            res_k = np.take_along_axis(res, order[:, :k], axis=1)
            h = (res_k[:, None, :] / (1.0 + s[None, :, None] * lam_k[:, None, :])).sum(axis=2)
            h += direct_term[:, None] + s[None, :] * improper[:, None]
            redo = np.nonzero(ill & ~bad)[0]
        else:
            h = np.empty((b, f.size), dtype=complex)
            redo = np.nonzero(~bad)[0]
        for i in redo:
            h[i] = _direct(g[i], c[i], u[i], w[i], s)
        for i in np.nonzero(ill & ~bad)[0]:
            dc[i] = float(np.linalg.solve(g[i], u[i])[OUT])
        p = np.where(finite, -1.0 / safe, np.nan)
        p = np.where(np.isfinite(p), p, np.nan)
    h[bad] = np.nan
    dc[bad] = np.nan
    p[bad] = np.nan
    return h, dc, p, problems


def evaluate(designs: Sequence[Design], *, solver: str = "batched", sweep: Sweep = SWEEP,
             simulator=None) -> list[Evaluation]:
    """Evaluate designs: gain, GBW, PM, power and FoM (see :mod:`macro.evaluation`).

    Parameters
    ----------
    designs : the designs (any topologies, in one batch).
    solver : ``"batched"`` (this module) or ``"ngspice"`` (:mod:`macro.reference`).
    sweep : the frequency grid.
    simulator : for ``"ngspice"``, a :class:`circuits.Simulator` (default: the shared one).

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
    h, dc, p, problems = response(designs, f)
    power = np.array([d.power() for d in designs])
    rhp = unstable(p)
    out = measure(f, h, dc, power)
    for i in range(len(designs)):
        if problems[i]:
            out[i] = Evaluation.failed(problems[i])
        elif rhp[i]:
            out[i] = Evaluation.failed(instability_reason(p[i]))
    return out


__all__ = ["MAX_CONDITION", "SOLVERS", "Evaluation", "evaluate", "response"]
