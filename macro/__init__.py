"""MACRO: topology agent T and sizing agent P trained jointly by policy gradient.

The package of the book part "MACRO". Its behaviour-level three-stage op-amp, the two agents,
the BOBO and RLBO baselines and the gm/Id mapping to transistors (on :mod:`circuits` and its
180 nm node) are added here with the chapters that use them.
"""

__all__: list[str] = []
