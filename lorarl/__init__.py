"""LoRA-RL: a GCN actor-critic that sizes amplifiers, transferred by low-rank adapters.

The package of the book part "LoRA-RL". It builds on :mod:`circuits` alone for simulation
(:class:`circuits.Simulator`) and circuit graphs (:func:`circuits.graph.circuit_graph`); the
GCN backbone, the LoRA layers, the DDPG agent and the two-phase training schedule of the paper's
Algorithm 1 are added here with the chapters that use them.
"""

__all__: list[str] = []
