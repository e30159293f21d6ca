"""Simulation substrate shared by the LoRA-RL and MACRO companions.

Process technologies (:mod:`circuits.technology`), amplifier netlists with design parameters
(:mod:`circuits.amplifier`), the open-loop test bench (:mod:`circuits.testbench`), ngspice in
killable worker processes (:mod:`circuits.pool`), typed results (:mod:`circuits.results`) and
circuit graphs for GCNs (:mod:`circuits.graph`, which needs torch-geometric).

>>> from circuits import simulate
>>> r = simulate("two_stage", "45nm")            # doctest: +SKIP
>>> r.ok, r.gain_db, r.ugbw_hz, r.pm_deg, r.fom  # doctest: +SKIP
"""

from .amplifier import Amplifier, DesignParameter, Reference, get_amplifier, list_amplifiers
from .engine import Failure
from .errors import (
    CharacterisationError,
    CircuitsError,
    NetlistError,
    NgspiceNotFoundError,
    ParameterError,
    SpecError,
    TechnologyError,
)
from .linear import ACResult, ACSweep, LinearCircuit, LinearElement, run_ac
from .pool import PoolSettingError
from .results import DeviceOP, SimulationResult, measure_ac
from .sandbox import SandboxError
from .simulator import Simulator, simulate, simulate_many
from .spec import Spec
from .technology import (
    Technology,
    get_technology,
    list_technologies,
    register_library,
    register_technology,
)
from .testbench import BenchSettings, OpenLoopBench

__all__ = [
    "ACResult", "ACSweep", "Amplifier", "BenchSettings", "CharacterisationError",
    "CircuitsError", "DesignParameter", "DeviceOP", "Failure", "LinearCircuit", "LinearElement",
    "NetlistError", "NgspiceNotFoundError", "OpenLoopBench", "ParameterError",
    "PoolSettingError", "Reference", "SandboxError", "SimulationResult", "Simulator", "Spec",
    "SpecError", "Technology", "TechnologyError",
    "circuit_graph", "get_amplifier", "get_technology", "list_amplifiers", "list_technologies",
    "measure_ac", "register_library", "register_technology", "run_ac", "simulate",
    "simulate_many",
]


def __getattr__(name: str):
    """``circuit_graph`` is imported on first use: it needs torch-geometric, which takes seconds
    to import and is not needed to simulate."""
    if name == "circuit_graph":
        from .graph import circuit_graph

        return circuit_graph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
