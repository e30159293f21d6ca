"""LoRA-RL: a GCN actor-critic that sizes amplifiers, transferred by low-rank adapters.

The package of the book part "LoRA-RL". It builds on :mod:`circuits` alone for simulation
(:class:`circuits.Simulator`) and circuit graphs (:func:`circuits.circuit_graph`). The sizing
environment (:mod:`lorarl.env`), the black-box baselines (:mod:`lorarl.baselines`), run folders
(:mod:`lorarl.runlog`), the experiment grid (:mod:`lorarl.grid`) and the command line
(``python -m lorarl``) are here with the GCN backbone, the LoRA layers, the DDPG agent and the
two-phase training schedule of the paper's Algorithm 1.
"""

__all__: list[str] = []
