"""Typed errors of the :mod:`circuits` package.

Bad input (a malformed netlist, a parameter out of bounds, an unknown technology) raises one of
these before ngspice sees it. A simulation that runs but fails (no convergence, singular matrix,
timeout, ...) does not raise: it returns a :class:`circuits.results.SimulationResult` whose
``ok`` is false and whose ``reason`` says why.
"""

from __future__ import annotations


class CircuitsError(Exception):
    """Base class of every error raised by :mod:`circuits`."""


class NetlistError(CircuitsError, ValueError):
    """A netlist is malformed, unsafe (``.control`` blocks, scripts) or lacks the standard pins."""


class ParameterError(CircuitsError, ValueError):
    """A design parameter is unknown, not finite, or outside its bounds."""


class TechnologyError(CircuitsError, ValueError):
    """A process technology is unknown, malformed, or its model files are missing."""


class SpecError(CircuitsError, ValueError):
    """A design specification is malformed (unknown metric, non-finite bound, ...)."""


class NgspiceNotFoundError(CircuitsError, RuntimeError):
    """The ngspice shared library (``libngspice``) cannot be found or loaded."""


class CharacterisationError(CircuitsError, RuntimeError):
    """A device-characterisation sweep failed in ngspice (the message gives ngspice's reason)."""
