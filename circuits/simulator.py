"""The public simulation API: :class:`Simulator`, :func:`simulate`, :func:`simulate_many`.

A :class:`Simulator` owns a pool of ngspice worker processes and a cache of prepared benches.
Parameters are validated in Python before ngspice sees them: an unknown name raises
:class:`~circuits.errors.ParameterError`; a non-finite or out-of-bounds value gives a failed
result (``failure == "invalid_parameter"``) so that one bad candidate never stops a batch.

Used by every chapter of the book that simulates, and by :mod:`lorarl` and :mod:`macro`.
"""

from __future__ import annotations

import atexit
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from .amplifier import Amplifier, get_amplifier
from .engine import Failure, Job, Raw
from .errors import ParameterError
from .pool import WorkerPool
from .results import SimulationResult
from .technology import Technology, get_technology
from .testbench import BenchSettings, OpenLoopBench

CircuitLike = str | Path | Amplifier


def resolve_amplifier(circuit: CircuitLike) -> Amplifier:
    """A built-in amplifier by name, a user netlist by path, or an :class:`Amplifier`."""
    if isinstance(circuit, Amplifier):
        return circuit
    if isinstance(circuit, Path) or (isinstance(circuit, str) and circuit.endswith(
            (".sp", ".cir", ".spi", ".spice", ".net", ".ckt"))):
        return Amplifier.from_file(circuit)
    return get_amplifier(str(circuit))


class Simulator:
    """Simulates amplifiers in their open-loop bench on a pool of ngspice workers.

    Parameters
    ----------
    workers : number of worker processes (one ngspice each, one thread each).
    timeout : wall-clock limit of one simulation (s); a simulation past it is killed and
        returns a ``timeout`` failure, and its worker is replaced.
    """

    def __init__(self, workers: int = 1, timeout: float = 30.0) -> None:
        self.pool = WorkerPool(workers, timeout)
        self._benches: dict[tuple, OpenLoopBench] = {}

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.close()

    def bench(self, circuit: CircuitLike, tech: str | Technology,
              settings: BenchSettings | None = None) -> OpenLoopBench:
        """The prepared bench of an amplifier in a technology (cached)."""
        amp = resolve_amplifier(circuit)
        t = get_technology(tech)
        s = settings or BenchSettings()
        key = (_fingerprint(amp), t, s)
        bench = self._benches.get(key)
        if bench is None:
            bench = OpenLoopBench(amp, t, s)
            self._benches[key] = bench
        return bench

    def _prepare(self, bench: OpenLoopBench) -> None:
        """Simulate the reference sizing once, if the amplifier has one in this technology:
        its UGBW and power normalise the FoM, and its operating point becomes the bench's
        ``.nodeset`` (Newton then starts next to the solution)."""
        if bench.prepared:
            return
        bench.prepared = True
        if bench.tech.name not in bench.amp.references:
            return
        params = bench.amp.check({}, bench.tech)
        ref = _finish(bench, self.pool.run(bench.job(params)), params)
        if ref.node_voltages:
            bench.set_nodeset(ref.node_voltages)
        if ref.ok and ref.ugbw_hz and ref.power_w:
            bench.reference_metrics = (ref.ugbw_hz, ref.power_w)

    def simulate(self, circuit: CircuitLike, tech: str | Technology,
                 params: Mapping[str, float] | None = None,
                 settings: BenchSettings | None = None) -> SimulationResult:
        """Simulate one sizing (missing parameters take the reference, else the default)."""
        return self.simulate_many(circuit, tech, [params or {}], settings)[0]

    def simulate_many(self, circuit: CircuitLike, tech: str | Technology,
                      param_sets: Sequence[Mapping[str, float]],
                      settings: BenchSettings | None = None) -> list[SimulationResult]:
        """Simulate a batch of sizings on all workers; results in the order given.

        Raises
        ------
        ParameterError
            When a parameter name is unknown (values out of bounds give failed results).
        """
        bench = self.bench(circuit, tech, settings)
        self._prepare(bench)
        checked: list[dict[str, float] | ParameterError] = []
        for params in param_sets:
            unknown = sorted(set(params) - set(bench.amp.parameter_names))
            if unknown:
                raise ParameterError(f"{bench.amp.name} has no parameter(s) {unknown}; its "
                                     f"parameters are {', '.join(bench.amp.parameter_names)}")
            try:
                checked.append(bench.amp.check(params, bench.tech))
            except ParameterError as exc:
                checked.append(exc)
        valid = [p for p in checked if not isinstance(p, ParameterError)]
        results = iter(self.pool.run_many(
            [bench.job(p) for p in valid],
            lambda i, raw: _finish(bench, raw, valid[i])))
        out = []
        for params, given in zip(checked, param_sets, strict=True):
            if isinstance(params, ParameterError):
                out.append(SimulationResult(
                    ok=False, circuit=bench.amp.name, technology=bench.tech.name,
                    params={k: float(v) if _is_number(v) else float("nan")
                            for k, v in given.items()},
                    failure=Failure.INVALID_PARAMETER, reason=f"invalid parameter: {params}"))
            else:
                out.append(next(results))
        return out

    def run_jobs(self, jobs: Sequence[Job]) -> list[Raw]:
        """Run raw engine jobs (any netlist; used for device characterisation)."""
        return self.pool.run_many(list(jobs))


def _finish(bench: OpenLoopBench, raw: Raw, params: Mapping[str, float]) -> SimulationResult:
    """The worker's finished result, or the parent's for raws it made (timeouts, crashes)."""
    return raw.result if raw.result is not None else bench.result(raw, params)


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


_DEFAULT: Simulator | None = None


def default_simulator() -> Simulator:
    """A process-wide simulator with one worker, created on first use, closed at exit."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Simulator(workers=1)
        atexit.register(_DEFAULT.close)
    return _DEFAULT


def simulate(circuit: CircuitLike, tech: str | Technology,
             params: Mapping[str, float] | None = None,
             settings: BenchSettings | None = None) -> SimulationResult:
    """Simulate one sizing with the default simulator (see :meth:`Simulator.simulate`)."""
    return default_simulator().simulate(circuit, tech, params, settings)


def simulate_many(circuit: CircuitLike, tech: str | Technology,
                  param_sets: Sequence[Mapping[str, float]],
                  settings: BenchSettings | None = None) -> list[SimulationResult]:
    """Simulate a batch with the default simulator (see :meth:`Simulator.simulate_many`)."""
    return default_simulator().simulate_many(circuit, tech, param_sets, settings)


def _fingerprint(amp: Amplifier) -> str:
    """What a bench is built from: the netlist text, the subcircuit, references and load (an
    amplifier read again after its file changed gets a bench of its own)."""
    refs = {t: (r.vcm, sorted(r.params.items())) for t, r in sorted(amp.references.items())}
    text = "\n".join([amp.name, amp.subckt.name, amp.netlist.text, repr(refs),
                      repr(amp.load_cap)])
    return hashlib.sha1(text.encode()).hexdigest()
