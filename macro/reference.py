"""The ngspice reference of the behaviour-level op-amp (the second simulator of II-B).

A design's G, R and C elements (:meth:`macro.design.Design.elements`) become a
:class:`circuits.LinearCircuit` driven at ``vin`` by ``Vsrc vin 0 DC 1 AC 1``; ngspice computes
the operating point (whose ``v(vout)`` is the exact DC gain of the linear circuit) and the AC
sweep on the workers of a :class:`circuits.Simulator`. The response is measured by
:func:`macro.evaluation.measure`, the code the batched solver uses, so that the two simulators
differ only in how they solve the circuit. ngspice's AC analysis prints a response even for a
circuit that is unstable by itself, so the reference applies the same pole check
(:func:`macro.nodal.poles`, eigenvalues of the nodal matrices) as the batched solver.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``) to validate
the batched solver, and by ``python -m macro simulate --solver ngspice``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from circuits import ACSweep, LinearCircuit, LinearElement, run_ac

from .design import Design
from .evaluation import SWEEP, Evaluation, Sweep, measure
from .nodal import instability_reason, poles, unstable


def linear_circuit(design: Design) -> LinearCircuit:
    """The design as a :class:`circuits.LinearCircuit` (nodes ``vin n1 n2 vout 0`` and the
    internal nodes ``x_<pair>``), the load included."""
    elements = tuple(LinearElement(e.kind, e.name, e.a, e.b, e.value, e.ca, e.cb)
                     for e in design.elements())
    title = "MACRO behaviour-level op-amp, types " + " ".join(map(str, design.topology.types))
    return LinearCircuit(elements, source="vin", dc=1.0, title=title)


def netlist(design: Design, sweep: Sweep = SWEEP) -> str:
    """The ngspice deck the reference runs for ``design``."""
    return linear_circuit(design).netlist(_sweep(sweep), ["vout"])


def _sweep(sweep: Sweep) -> ACSweep:
    return ACSweep(sweep.start, sweep.stop, sweep.points_per_decade)


def responses(designs: Sequence[Design], sweep: Sweep = SWEEP, simulator=None):
    """ngspice's responses: ``(frequency (F,), H (B, F), dc (B,), reasons)``; a failed
    simulation gives a ``nan`` row and its reason."""
    results = run_ac([linear_circuit(d) for d in designs], ["vout"], _sweep(sweep), simulator)
    f = sweep.frequencies()
    h = np.full((len(designs), f.size), np.nan, dtype=complex)
    dc = np.full(len(designs), np.nan)
    reasons = [""] * len(designs)
    for i, r in enumerate(results):
        if not r.ok:
            reasons[i] = f"ngspice failed: {r.failure}: {r.reason}"
        elif r.frequency.shape != f.shape or not np.allclose(r.frequency, f, rtol=1e-9):
            reasons[i] = "ngspice failed: it returned a different frequency grid"
        else:
            h[i] = r.voltages["vout"]
            dc[i] = r.dc["vout"]
    return f, h, dc, reasons


def evaluate_ngspice(designs: Sequence[Design], sweep: Sweep = SWEEP,
                     simulator=None) -> list[Evaluation]:
    """Evaluate designs in ngspice (see :func:`macro.solver.evaluate`); chapter "The
    behaviour-level model", section "Validation and speed"."""
    designs = list(designs)
    f, h, dc, reasons = responses(designs, sweep, simulator)
    out = measure(f, h, dc, np.array([d.power() for d in designs]))
    p = poles(designs)
    rhp = unstable(p)
    return [Evaluation.failed(r) if r else
            Evaluation.failed(instability_reason(p[i])) if rhp[i] else e
            for i, (e, r) in enumerate(zip(out, reasons, strict=True))]


__all__ = ["evaluate_ngspice", "linear_circuit", "netlist", "responses"]
