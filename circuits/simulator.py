"""The public simulation API: :class:`Simulator`, :func:`simulate`, :func:`simulate_many`.

A :class:`Simulator` owns a pool of ngspice worker processes and a cache of prepared benches.
Parameters are validated in Python before ngspice sees them: an unknown name raises
:class:`~circuits.errors.ParameterError`; a non-finite or out-of-bounds value, or values at
which a device expression cannot be computed (a division by zero, an overflow), give a failed
result (``failure == "invalid_parameter"``) so that one bad candidate never stops a batch.

Used by every chapter of the book that simulates, and by :mod:`lorarl` and :mod:`macro`.
"""

from __future__ import annotations

import atexit
import hashlib
import threading
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
    workers : number of worker processes (one ngspice each, one thread each), 1 to
        :data:`circuits.pool.MAX_WORKERS`.
    timeout : wall-clock limit of one simulation (s), above 0 and at most
        :data:`circuits.pool.MAX_TIMEOUT` (one day); a simulation past it is killed and
        returns a ``timeout`` failure, and its worker is replaced.
    sandbox : workers forbid starting programs (a seccomp filter, :mod:`circuits.sandbox`).
        Where the filter cannot be installed, the first simulation raises
        :class:`~circuits.sandbox.SandboxError`; ``False`` runs without it (see
        :attr:`sandboxed`).

    Thread safety: a simulator may be shared by several threads. A re-entrant lock serialises
    its batches (the pool serves one batch at a time, on all its workers) and guards the bench
    cache; calls from other threads wait for the running batch. For parallel simulation, pass
    a whole batch to :meth:`simulate_many` (or use one simulator per thread).

    Raises
    ------
    circuits.pool.PoolSettingError
        For a number of workers or a timeout out of range (``nan``, ``inf``, ``1e300``, ``0``).
    """

    def __init__(self, workers: int = 1, timeout: float = 30.0, sandbox: bool = True) -> None:
        self.pool = WorkerPool(workers, timeout, sandbox=sandbox)
        self._benches: dict[tuple, OpenLoopBench] = {}
        # fingerprints of the amplifier objects seen (the object is kept: its id stays its own)
        self._fingerprints: dict[int, tuple[Amplifier, str]] = {}
        self._lock = threading.RLock()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sandboxed(self) -> bool:
        """Whether the workers forbid starting programs (false only with ``sandbox=False``)."""
        return self.pool.sandboxed

    def close(self, wait: float = 10.0) -> None:
        """Stop the worker processes.

        A batch running in another thread is waited for up to ``wait`` seconds, then its
        workers are killed (see :meth:`circuits.pool.WorkerPool.close`): closing never hangs.
        """
        if not self._lock.acquire(timeout=max(0.0, wait)):
            self.pool.close(wait=0.0)
            return
        try:
            self.pool.close(wait=wait)
        finally:
            self._lock.release()

    def bench(self, circuit: CircuitLike, tech: str | Technology,
              settings: BenchSettings | None = None) -> OpenLoopBench:
        """The prepared bench of an amplifier in a technology (cached)."""
        amp = resolve_amplifier(circuit)
        t = get_technology(tech)
        s = settings or BenchSettings()
        with self._lock:
            known = self._fingerprints.get(id(amp))
            if known is None or known[0] is not amp:
                if len(self._fingerprints) >= 256:
                    self._fingerprints.clear()
                known = self._fingerprints[id(amp)] = (amp, _fingerprint(amp))
            key = (known[1], t, s)
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
        params = bench.check({})
        ref = bench.result(self.pool.run(bench.job(params)), params)
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

        The sizings go to the workers in chunks (:mod:`circuits.pool`), each with its own
        timeout; what each result holds is ``settings.detail``
        (:attr:`~circuits.testbench.BenchSettings.detail`: everything by default, or only the
        metrics and node voltages, with or without the transistors' operating points).

        A candidate that is not a mapping, has a value out of bounds or not a number, or values
        at which the bench cannot compute a device value (``OpenLoopBench.job`` raises
        :class:`~circuits.errors.ParameterError`: a division by zero, an overflow) gives a
        failed result (``invalid_parameter``) in its place; the others are simulated.

        Raises
        ------
        ParameterError
            When a parameter name is unknown (the whole batch is refused: a misspelt name is
            a caller's bug), or ``param_sets`` is not a sequence of mappings.
        """
        if isinstance(param_sets, Mapping | str | bytes):
            raise ParameterError("param_sets must be a sequence of parameter mappings, "
                                 f"not one {type(param_sets).__name__}")
        try:
            param_sets = list(param_sets)
        except TypeError:
            raise ParameterError("param_sets must be a sequence of parameter mappings, "
                                 f"not {type(param_sets).__name__}") from None
        with self._lock:
            bench = self.bench(circuit, tech, settings)
            self._prepare(bench)
            names = set(bench.amp.parameter_names)
            for params in param_sets:
                unknown = sorted(set(params) - names, key=str) \
                    if isinstance(params, Mapping) else []
                if unknown:
                    raise ParameterError(
                        f"{bench.amp.name} has no parameter(s) {unknown}; its parameters "
                        f"are {', '.join(bench.amp.parameter_names)}")
            jobs = _LazyJobs(bench, param_sets)

            def finish(i: int, raw: Raw) -> SimulationResult:
                refused = jobs.refused(i)
                if refused is not None:
                    return SimulationResult(
                        ok=False, circuit=bench.amp.name, technology=bench.tech.name,
                        params=_given(param_sets[i]), failure=Failure.INVALID_PARAMETER,
                        reason=f"invalid parameter: {refused}")
                return bench.result(raw, jobs.params(i))

            return self.pool.run_many(jobs, finish)

    def run_jobs(self, jobs: Sequence[Job]) -> list[Raw]:
        """Run raw engine jobs (any netlist; used for device characterisation)."""
        with self._lock:
            return self.pool.run_many(list(jobs))


class _LazyJobs(Sequence):
    """The engine jobs of a batch of candidates, each built when the pool first asks for it
    (so that the parent builds the next chunk while the workers simulate), and remembered.

    A candidate that cannot be simulated (:func:`_job` gives a :class:`ParameterError`) is a
    failed :class:`Raw` (``invalid_parameter``), which the pool answers without a worker;
    :meth:`refused` gives its error.
    """

    def __init__(self, bench: OpenLoopBench, candidates: list) -> None:
        self._bench = bench
        self._candidates = candidates
        self._built: list[tuple[dict[str, float], Job] | ParameterError | None] = \
            [None] * len(candidates)
        self._refusals: dict[int, Raw] = {}

    def __len__(self) -> int:
        return len(self._candidates)

    def _entry(self, i: int) -> tuple[dict[str, float], Job] | ParameterError:
        built = self._built[i]
        if built is None:
            built = self._built[i] = _job(self._bench, self._candidates[i])
        return built

    def __getitem__(self, i: int) -> Job | Raw:  # type: ignore[override]
        built = self._entry(i)
        if isinstance(built, ParameterError):
            raw = self._refusals.get(i)
            if raw is None:
                raw = self._refusals[i] = Raw(vectors={}, failure=Failure.INVALID_PARAMETER,
                                              message=str(built))
            return raw
        return built[1]

    def refused(self, i: int) -> ParameterError | None:
        """Why candidate ``i`` was not simulated, or ``None``."""
        built = self._entry(i)
        return built if isinstance(built, ParameterError) else None

    def params(self, i: int) -> dict[str, float]:
        """The checked parameters of candidate ``i`` (which was simulated)."""
        built = self._entry(i)
        assert not isinstance(built, ParameterError)
        return built[0]


def _job(bench: OpenLoopBench, params: object) -> tuple[dict[str, float], Job] | ParameterError:
    """The checked parameters and engine job of one candidate, or why it cannot be simulated."""
    if not isinstance(params, Mapping):
        return ParameterError(f"a candidate must map parameter names to values, not "
                              f"{type(params).__name__}")
    try:
        checked = bench.check(params)
        return checked, bench.job(checked)
    except ParameterError as exc:
        return exc
    except ArithmeticError as exc:  # a device value that cannot be computed at these values
        return ParameterError(f"a device value cannot be computed: {type(exc).__name__}: {exc}")


def _given(params: object) -> dict[str, float]:
    """The values a caller gave, as floats (``nan`` for what is not a number)."""
    if not isinstance(params, Mapping):
        return {}
    return {str(k): _as_float(v) for k, v in params.items()}


def _as_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return float("nan")


_DEFAULT: Simulator | None = None
_DEFAULT_LOCK = threading.Lock()


def default_simulator() -> Simulator:
    """A process-wide simulator with one worker, created on first use, closed at exit."""
    global _DEFAULT
    with _DEFAULT_LOCK:
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
