"""MACRO: topology agent T and sizing agent P trained jointly by policy gradient.

The package of the book part "MACRO": the behaviour-level topology space
(:mod:`macro.topology`), designs (:mod:`macro.design`), the batched small-signal solver
(:mod:`macro.solver`) and its ngspice reference (:mod:`macro.reference`), the reward
(:mod:`macro.reward`) and the command line (``python -m macro``).
"""

from .design import Design, DesignError
from .topology import (
    N_ACTIONS,
    N_CHOICES,
    N_TYPES,
    NODES,
    TUNABLE_PAIRS,
    ParamSpec,
    Topology,
    action_mask,
    action_offsets,
    enumerate_topologies,
    sample_topologies,
)

__all__ = [
    "NODES", "N_ACTIONS", "N_CHOICES", "N_TYPES", "TUNABLE_PAIRS", "Design", "DesignError",
    "ParamSpec", "Topology", "action_mask", "action_offsets", "enumerate_topologies",
    "sample_topologies",
]
