"""What the best behaviour-level designs are made of: where each parameter sits in its range.

The FoM of the behaviour-level model (equation (2)) divides GBW by a power that the gm/Id model
sets from the transconductances alone, ``P = VDD * sum|gm| / (gm/Id)``, while a stage's gain is
its own parameter ``rscl = gm * R``. A design can therefore raise its FoM by taking every gm to
its lower bound and every stage gain to its upper bound. :func:`anatomy` measures how far a
design went there: the share of its parameters at a bound of their range (within
``BOUND_MARGIN`` of it in unit coordinates, where log parameters are log-scaled), the gm
parameters at their lower bound and the gain parameters at their upper bound, with its power
and stage values. The transistor mapping (chapter "Transistor level") cannot realise every such
corner: a stage gain above what one transistor of the longest length gives, or a driver narrower
than the process minimum at a small current, is refused.

Used by the book chapter "MACRO: Table II, behaviour-level search" (section "What the best
designs are made of"), on the saved runs of :mod:`macro.experiment`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .design import Design
from .topology import Topology

#: Distance (unit coordinates) from a bound within which a parameter counts as at the bound.
BOUND_MARGIN = 0.01


def anatomy(types: Sequence[int], values: Mapping[str, float]) -> dict[str, Any]:
    """Where the parameters of one design sit in their ranges, and its stages.

    Parameters
    ----------
    types : the five tunable connection types (Table I indices).
    values : every parameter of the design (``Design.values``).

    Returns
    -------
    dict
        ``n_params``, ``at_bound`` (parameters within :data:`BOUND_MARGIN` of either bound),
        ``gm_low`` / ``n_gm`` (transconductances at their lower bound / all of them),
        ``gain_high`` / ``n_gain`` (stage gains ``rscl`` at their upper bound / all),
        ``power_w`` (the gm/Id model's power), ``stage_gm_s`` and ``stage_gain`` (each gm
        stage's |gm| and ``gm * R``, main stages first).
    """
    design = Design(Topology(tuple(int(t) for t in types)), values)
    specs = design.topology.parameters()
    u = design.unit()
    low = u <= BOUND_MARGIN
    high = u >= 1 - BOUND_MARGIN
    kinds = np.array([s.kind for s in specs])
    stages = design.stages()
    return {
        "n_params": len(specs),
        "at_bound": int((low | high).sum()),
        "n_gm": int((kinds == "gm").sum()),
        "gm_low": int((low & (kinds == "gm")).sum()),
        "n_gain": int((kinds == "rscl").sum()),
        "gain_high": int((high & (kinds == "rscl")).sum()),
        "power_w": float(design.power()),
        "stage_gm_s": [abs(s.gm) for s in stages],
        "stage_gain": [abs(s.gm) * s.r_out for s in stages],
    }


def anatomy_rows(best: Mapping[str, Sequence[Mapping[str, Any] | None]]
                 ) -> tuple[list[str], list[list[str]]]:
    """The book's table of the best designs' anatomies: one row per method and repeat.

    ``best`` maps each method to its repeats' best spec-meeting designs (dicts with ``types``,
    ``values``, ``fom``; ``None`` for a repeat without one). Returns (header, rows).
    """
    header = ["method", "", "FoM", "power (uW)", "gm stages", "median gm magnitude (uS)",
              "median gain gm R", "gm at lower bound", "gains at upper bound",
              "parameters at a bound"]
    rows = []
    for method, designs in best.items():
        for k, b in enumerate(designs):
            if b is None:
                rows.append([method.upper(), f"exp{k + 1}"] + ["–"] * (len(header) - 2))
                continue
            a = anatomy(b["types"], b["values"])
            rows.append([
                method.upper(), f"exp{k + 1}", f"{b['fom']:,.0f}", f"{a['power_w'] * 1e6:.1f}",
                str(len(a["stage_gm_s"])), f"{np.median(a['stage_gm_s']) * 1e6:.0f}",
                f"{np.median(a['stage_gain']):.0f}", f"{a['gm_low']} of {a['n_gm']}",
                f"{a['gain_high']} of {a['n_gain']}", f"{a['at_bound']} of {a['n_params']}"])
    return header, rows


__all__ = ["BOUND_MARGIN", "anatomy", "anatomy_rows"]
