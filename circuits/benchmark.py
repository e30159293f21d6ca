"""Speed and memory of the simulation engine, measured (``python -m circuits bench``).

Figures, all from one run on the machine at hand:

``engine_ms``
    median wall time of one simulation in a worker: new sizes set with ``alter``, the ``.ac``
    analysis with its operating point, the result vectors read and measured.
``ngspice_ms``
    time per simulation inside ngspice's own calls (the ``alter`` commands and the ``run``:
    the library calls alone, with the output lines ngspice hands to PySpice during them),
    measured in the worker during the batch that gives ``roundtrip_ms``.
``roundtrip_ms``
    wall time per simulation of a batch of ``latency_sims`` sizings through one
    :meth:`~circuits.simulator.Simulator.simulate_many` call on one worker, as the caller sees
    it: parameter checks, the jobs sent to the worker, the engine, the results sent back and
    turned into :class:`~circuits.results.SimulationResult` objects (the best of ``repeats``
    batches, the one least disturbed by other processes; ``ngspice_ms`` is from that batch).
``roundtrip_over_ngspice``
    ``roundtrip_ms / ngspice_ms``: what the caller waits for, per unit of ngspice's own work.
``single_ms``
    median wall time of one :meth:`~circuits.simulator.Simulator.simulate` call (one sizing
    per call, a round trip each).
``by_detail``
    ``roundtrip_ms``, ``ngspice_ms`` and their ratio at each
    :attr:`~circuits.testbench.BenchSettings.detail` level (the default is the headline).
``device_read_ms``, ``device_query_us``, ``node_query_us``
    what reading values after a run costs in the worker: all transistor quantities of one
    simulation, one transistor quantity (a query that ngspice answers by asking the device
    model), and one node voltage (a value ngspice has stored); the worker's reads timed
    alone, after runs whose plots are kept (:func:`read_costs`).
``batch_ms``
    median wall time of a fresh ``ngspice -b`` process on the same bench netlist (parse, the same
    analysis, a raw file written), measured in the same run.
``speedup``, ``speedup_roundtrip``
    ``batch_ms / engine_ms`` and ``batch_ms / roundtrip_ms``.
``rss_growth_mb``
    growth of the worker's resident memory from after a warm-up to after ``rss_sims``
    simulations.
``parallel_speedup``
    throughput of a 2-worker pool divided by that of a 1-worker pool on the same batch, each
    the best of ``repeats`` alternating runs (the run least disturbed by other processes).
``parent_cpu_ms``, ``worker_cpu_ms``, ``parallel_bound``
    in the best 2-worker run, the processor time per simulation of the calling process (jobs
    built and sent, results received and turned into objects) and of the workers together;
    ``parallel_bound`` is what two busy cores allow: ``2 / (parent_cpu_ms + worker_cpu_ms)``
    simulations per millisecond, over the 1-worker throughput (``None`` for a batch too short
    for the processor times to be read). Two workers cannot beat it
    however well they are scheduled, since the caller's own work shares the cores with them.
``anatomy``
    where one simulation's time in a worker goes (:func:`worker_anatomy`).
``fast_path``
    whether the workers ran the compiled fast path (:mod:`circuits.native`; the same results,
    sooner) or its Python forms.

The book chapter "Circuits, process models and simulation" quotes these figures.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil

from . import native
from .amplifier import get_amplifier
from .engine import Job, NgspiceSession
from .errors import CircuitsError, NgspiceNotFoundError
from .pool import _run_one, _without_main_script
from .simulator import Simulator
from .technology import get_technology
from .testbench import DETAILS, BenchSettings


class BenchmarkError(CircuitsError, RuntimeError):
    """The benchmark could not measure (a sizing failed, ``ngspice -b`` failed, a worker
    restarted during the memory test); the message says which."""


def _sizings(amp, tech, n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` sizings within +-20 % of the reference (all simulate without failing)."""
    rng = np.random.default_rng(seed)
    base = amp.check({}, tech)
    bounds = amp.bounds(tech)
    out = []
    for _ in range(n):
        p = {}
        for k, v in base.items():
            lo, hi = bounds[k]
            p[k] = float(min(max(v * rng.uniform(0.8, 1.2), lo), hi))
        out.append(p)
    return out


def batch_time(netlist: str, runs: int = 30) -> float:
    """Median wall time (ms) of a fresh ``ngspice -b`` run of ``netlist``."""
    exe = shutil.which("ngspice")
    if exe is None:
        raise NgspiceNotFoundError("the ngspice executable is not installed (make setup)")
    times = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.cir"
        path.write_text(netlist)
        for _ in range(runs):
            start = time.perf_counter()
            try:
                proc = subprocess.run([exe, "-b", str(path), "-r", str(Path(d) / "out.raw")],
                                      capture_output=True, timeout=60, check=False, cwd=d)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BenchmarkError(f"ngspice -b could not run: {exc}") from None
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise BenchmarkError("ngspice -b failed: "
                                     f"{proc.stderr.decode(errors='replace')[-300:]}")
    return statistics.median(times) * 1e3


def _batch_roundtrip(sim: Simulator, amp, tech, sizings: list[dict[str, float]], repeats: int,
                     settings: BenchSettings) -> dict[str, float]:
    """Wall time per simulation of ``sizings`` in one ``simulate_many`` call, and the time
    inside ngspice per simulation in the same batch (the best of ``repeats`` batches)."""
    sim.simulate_many(amp, tech, sizings[:10], settings)  # the bench prepared, the worker told
    best: dict[str, float] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        results = sim.simulate_many(amp, tech, sizings, settings)
        wall = (time.perf_counter() - start) / len(sizings)
        bad = next((r for r in results if not r.ok), None)
        if bad is not None:
            raise BenchmarkError(f"benchmark sizing failed: {bad.reason}")
        ngspice = sum(r.ngspice_s for r in results) / len(results)
        if not best or wall * 1e3 < best["roundtrip_ms"]:
            best = {"roundtrip_ms": wall * 1e3, "ngspice_ms": ngspice * 1e3,
                    "roundtrip_over_ngspice": wall / ngspice}
    return best


def read_costs(circuit: str = "two_stage", tech: str = "45nm", sims: int = 200) -> dict:
    """The cost of reading results after a run, in a worker (section "The simulation engine").

    In a child process, on the engine a worker runs (:class:`~circuits.engine.NgspiceSession`,
    the compiled fast path when it is built), each sizing is simulated and its plots kept, then
    read, timed around the worker's read alone (:meth:`~circuits.engine.NgspiceSession._read`),
    three times: one node voltage; every node voltage and the supply current; those and every
    transistor quantity (each list with its reading plan made already, as in a worker). The
    differences of the medians over the sizings are what more values cost, without what every
    read costs whatever it reads: ``device_read_ms`` (every transistor quantity of one
    simulation), ``device_query_us`` (per transistor quantity, a query that ngspice answers by
    asking the device model) and ``node_query_us`` (per further node value, one that ngspice
    has stored); with the counts.

    Raises
    ------
    BenchmarkError
        For fewer than 2 sizings (the first only makes the reading plans), or when a sizing
        fails.
    """
    if isinstance(sims, bool) or not isinstance(sims, int) or sims < 2:
        raise BenchmarkError(f"read_costs needs at least 2 sizings, not {sims!r}")
    with _without_main_script(), ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as child:
        return child.submit(_read_costs, circuit, tech, sims).result()


def _read_costs(circuit: str, tech: str, sims: int) -> dict:
    """:func:`read_costs`, in the child process."""
    amp, t = get_amplifier(circuit), get_technology(tech)
    settings = BenchSettings(detail="full")
    with Simulator(workers=1, timeout=30) as sim:
        bench = sim.bench(amp, t, settings)
        sim.simulate_many(amp, t, [{}], settings)  # the reference: the bench's nodeset
    values = tuple(v for v in bench.vectors if v[0] == "op" and not v[1].startswith("@"))
    devices = tuple(v for v in bench.vectors if v[1].startswith("@"))
    jobs = [bench.job(bench.check(p)) for p in _sizings(amp, t, sims, seed=3)]
    session = NgspiceSession()
    lists = {"one": values[:1], "values": values, "all": values + devices}
    spent: dict[str, list[float]] = {name: [] for name in lists}
    clock = time.perf_counter
    try:
        for i, job in enumerate(jobs):
            raw = _run_one(session, job)  # loads the circuit; the sizing's values set
            if raw.failure is not None:
                raise BenchmarkError(f"benchmark sizing failed: {raw.message}")
            session._command("run")  # the same sizing again, its plots kept for the reads
            plots = session._plots()
            # ngspice's first query after a run costs more whatever it asks (paid once per
            # simulation): made before the timed reads, so that their differences are per value
            session._read(plots, lists["one"])
            for name, vectors in lists.items():
                session._plan(plots, vectors)  # the list's reading plan, as a worker has it
                start = clock()
                found, bad = session._read(plots, vectors)
                took = clock() - start
                if bad or len(found) != len(vectors):
                    raise BenchmarkError(f"benchmark read failed: {', '.join(bad[:4])}")
                if i:  # the first sizing only makes the plans
                    spent[name].append(took)
            session._command("destroy all")
    finally:
        session.unload()
    median = {name: statistics.median(times) for name, times in spent.items()}
    device_s = median["all"] - median["values"]
    return {"device_read_ms": device_s * 1e3, "device_queries": len(devices),
            "device_query_us": device_s / len(devices) * 1e6,
            "node_query_us": (median["values"] - median["one"]) / (len(values) - 1) * 1e6,
            "node_queries": len(values), "read_sims": sims}


class _TimedLibrary:
    """A stand-in for ngspice's library object that adds up the time inside each call, by
    kind: ``alter`` and ``run`` commands, vector queries, and every other call."""

    def __init__(self, lib: object) -> None:
        self._lib = lib
        self.spent = {"alter_run": 0.0, "queries": 0.0, "other": 0.0}

    def __getattr__(self, name: str):
        function = getattr(self._lib, name)
        spent = self.spent
        clock = time.perf_counter

        def timed(*args):
            start = clock()
            try:
                return function(*args)
            finally:
                if name == "ngGet_Vec_Info":
                    kind = "queries"
                elif name == "ngSpice_Command" and args and isinstance(args[0], bytes) and \
                        args[0].startswith((b"alter", b"run")):
                    kind = "alter_run"
                else:
                    kind = "other"
                spent[kind] += clock() - start

        return timed

    def reader(self, reader: object) -> object:
        """``reader`` (a :class:`circuits.native.ScalarReader`) with the time of each read
        added to the queries: the compiled loop around ngspice's answers is counted with them
        (a few nanoseconds per value, against microseconds for ngspice's answer)."""
        return _TimedReader(reader, self.spent)


class _TimedReader:
    """A compiled reader of operating-point values whose reads count as vector queries."""

    def __init__(self, reader, spent: dict[str, float]) -> None:
        self._reader, self._spent = reader, spent

    def read(self):
        start = time.perf_counter()
        try:
            return self._reader.read()
        finally:
            self._spent["queries"] += time.perf_counter() - start


def worker_anatomy(circuit: str = "two_stage", tech: str = "45nm", sims: int = 200,
                   detail: str = "full") -> dict[str, float]:
    """Where one simulation's time in a worker goes (section "The simulation engine").

    The bench's jobs run in a child process, on the engine a worker runs
    (:class:`~circuits.engine.NgspiceSession`, the bench's finisher, the answer pickled as a
    worker pickles it), each sizing twice in a row: once as it is (the total time), once with
    every call into the ngspice library timed (alternating, so that a machine that speeds up or
    slows down weighs on both alike). Returns, in ms per simulation (means over ``sims``
    sizings): ``total_ms``; ``alter_run_ms``, inside ngspice's ``alter`` and ``run`` commands
    (what ``ngspice_ms`` counts); ``queries_ms``, inside its answers to the vector queries (a
    transistor quantity is computed by the device model when asked); ``other_ms``, inside its
    other calls (the plots listed and cleared); and ``python_ms``, the rest: Python in the
    worker, from the job to the pickled answer. With the compiled fast path
    (:mod:`circuits.native`), its one call that reads the operating-point values counts as
    queries whole. The pipe and the calling process are not
    included (``roundtrip_ms`` has them).

    Raises
    ------
    BenchmarkError
        For fewer than 2 sizings, or when a sizing fails.
    """
    if isinstance(sims, bool) or not isinstance(sims, int) or sims < 2:
        raise BenchmarkError(f"worker_anatomy needs at least 2 sizings, not {sims!r}")
    # ngspice is loaded once per process and keeps its state: not in the caller's
    with _without_main_script(), ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as child:
        return child.submit(_anatomy, circuit, tech, sims, detail).result()


def _anatomy(circuit: str, tech: str, sims: int, detail: str) -> dict[str, float]:
    """:func:`worker_anatomy`, in the child process."""
    amp, t = get_amplifier(circuit), get_technology(tech)
    settings = BenchSettings(detail=detail)
    with Simulator(workers=1, timeout=30) as sim:
        bench = sim.bench(amp, t, settings)
        sim.simulate_many(amp, t, [{}], settings)  # the reference: the bench's nodeset
    jobs = [bench.job(bench.check(p)) for p in _sizings(amp, t, sims, seed=4)]
    session = NgspiceSession()
    plain, library = session._lib, _TimedLibrary(session._lib)

    def run_one(job: Job) -> float:
        start = time.perf_counter()
        raw = _run_one(session, job)
        if raw.failure is not None or raw.result is None:
            raise BenchmarkError(f"benchmark sizing failed: {raw.message}")
        pickle.dumps(raw.pack(), protocol=pickle.HIGHEST_PROTOCOL)
        return time.perf_counter() - start

    plan = session._plan

    def timed_plan(plots, vectors):  # the compiled reader (when built) timed as queries
        others, scalars, pairs, reader = plan(plots, vectors)
        return others, scalars, pairs, None if reader is None else library.reader(reader)

    def timed(job: Job) -> None:
        session._lib = session._ng._ngspice_shared = library
        session._plan = timed_plan
        try:
            run_one(job)
        finally:
            session._lib = session._ng._ngspice_shared = plain
            del session._plan

    total = 0.0
    try:
        for job in jobs[:10]:  # the circuit loaded, the reading plan made
            run_one(job)
            timed(job)
        library.spent = dict.fromkeys(library.spent, 0.0)
        for job in jobs:
            total += run_one(job)
            timed(job)
    finally:
        session.unload()
    total /= len(jobs)
    per = {k: v / len(jobs) for k, v in library.spent.items()}
    out = {"total_ms": total * 1e3, "alter_run_ms": per["alter_run"] * 1e3,
           "queries_ms": per["queries"] * 1e3, "other_ms": per["other"] * 1e3,
           "sims": sims}
    out["python_ms"] = out["total_ms"] - out["alter_run_ms"] - out["queries_ms"] - \
        out["other_ms"]
    return out


def run_benchmark(circuit: str = "two_stage", tech: str = "45nm", rss_sims: int = 5000,
                  latency_sims: int = 300, parallel_sims: int = 1000, repeats: int = 3,
                  progress: Callable[[str], object] | None = None) -> dict:
    """Measure the engine; returns the figures described in the module docstring.

    Raises
    ------
    BenchmarkError
        For counts that are not positive integers, or when a measurement fails.
    """
    for name, value in (("rss_sims", rss_sims), ("latency_sims", latency_sims),
                        ("parallel_sims", parallel_sims), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchmarkError(f"{name} must be a positive integer, not {value!r}")
    say = progress or (lambda _msg: None)
    amp, t = get_amplifier(circuit), get_technology(tech)
    report: dict = {"circuit": circuit, "technology": tech, "cpus": os.cpu_count(),
                    "machine": platform.processor() or platform.machine(),
                    "fast_path": native.available()}

    with Simulator(workers=1, timeout=30) as sim:
        bench = sim.bench(amp, t)
        sizings = _sizings(amp, t, latency_sims)
        sim.simulate_many(amp, t, sizings[:20])  # warm-up: worker start and circuit load
        lat, engine = [], []
        for p in sizings:
            start = time.perf_counter()
            r = sim.simulate(amp, t, p)
            lat.append(time.perf_counter() - start)
            engine.append(r.elapsed_s)
            if not r.ok:
                raise BenchmarkError(f"benchmark sizing failed: {r.reason}")
        report["engine_ms"] = statistics.median(engine) * 1e3
        report["single_ms"] = statistics.median(lat) * 1e3
        by_detail = {}
        default = BenchSettings().detail
        for detail in (default, *(d for d in DETAILS if d != default)):
            by_detail[detail] = _batch_roundtrip(sim, amp, t, sizings, repeats,
                                                 BenchSettings(detail=detail))
        report["by_detail"] = by_detail
        report.update(roundtrip_ms=by_detail[default]["roundtrip_ms"],
                      ngspice_ms=by_detail[default]["ngspice_ms"],
                      roundtrip_over_ngspice=by_detail[default]["roundtrip_over_ngspice"],
                      detail=default)
        say(f"engine: {report['engine_ms']:.2f} ms per simulation, "
            f"{report['ngspice_ms']:.2f} ms of it in ngspice; round trip in a batch "
            f"{report['roundtrip_ms']:.2f} ms ({report['roundtrip_over_ngspice']:.2f}x ngspice), "
            f"one call {report['single_ms']:.2f} ms")
        report.update(read_costs(circuit, tech, max(2, min(latency_sims, 200))))
        say(f"reads: {report['device_queries']} transistor quantities "
            f"{report['device_read_ms']:.3f} ms per simulation "
            f"({report['device_query_us']:.2f} us each; a node value "
            f"{report['node_query_us']:.2f} us)")
        report["batch_ms"] = batch_time(bench.netlist)
        report["speedup"] = report["batch_ms"] / report["engine_ms"]
        report["speedup_roundtrip"] = report["batch_ms"] / report["roundtrip_ms"]
        say(f"batch: {report['batch_ms']:.2f} ms per run, speedup {report['speedup']:.1f}x "
            f"({report['speedup_roundtrip']:.1f}x round trip)")

        pid = sim.pool.worker_pids()[0]
        proc = psutil.Process(pid)
        rss0 = proc.memory_info().rss
        many = _sizings(amp, t, rss_sims, seed=1)
        start = time.perf_counter()
        for i in range(0, rss_sims, 500):
            sim.simulate_many(amp, t, many[i:i + 500])
        elapsed = time.perf_counter() - start
        if sim.pool.worker_pids() != [pid]:
            raise BenchmarkError("the worker restarted during the memory test")
        rss1 = proc.memory_info().rss
        report.update(rss_sims=rss_sims, rss_start_mb=rss0 / 2**20, rss_end_mb=rss1 / 2**20,
                      rss_growth_mb=(rss1 - rss0) / 2**20,
                      throughput_1_worker_per_s=rss_sims / elapsed)
        say(f"memory: {report['rss_start_mb']:.1f} -> {report['rss_end_mb']:.1f} MB "
            f"over {rss_sims} simulations")

    batch = _sizings(amp, t, parallel_sims, seed=2)
    rates: dict[int, float] = {1: 0.0, 2: 0.0}
    with Simulator(workers=1, timeout=30) as one, Simulator(workers=2, timeout=30) as two:
        pools = {1: one, 2: two}
        for n, sim in pools.items():
            sim.simulate_many(amp, t, batch[: 10 * n])  # start and load every worker
        workers = [psutil.Process(pid) for pid in two.pool.worker_pids()]
        cpu: dict[str, float] = {}
        for _ in range(repeats):  # alternate, keep the best of each: least disturbed
            for n, sim in pools.items():
                before = (time.process_time(), [_cpu(w) for w in workers] if n == 2 else [])
                start = time.perf_counter()
                sim.simulate_many(amp, t, batch)
                rate = parallel_sims / (time.perf_counter() - start)
                if n == 2 and rate > rates[2]:
                    cpu = {"parent_cpu_ms": (time.process_time() - before[0]) / parallel_sims
                           * 1e3,
                           "worker_cpu_ms": sum(_cpu(w) - c for w, c in zip(
                               workers, before[1], strict=True)) / parallel_sims * 1e3}
                rates[n] = max(rates[n], rate)
        if sorted(two.pool.worker_pids()) != sorted(w.pid for w in workers):
            raise BenchmarkError("a worker restarted during the parallel test")
    report["parallel_speedup"] = rates[2] / rates[1]
    report.update(cpu)
    used = cpu["parent_cpu_ms"] + cpu["worker_cpu_ms"]  # 0 for a batch too short to time
    report["parallel_bound"] = 2.0 / used * 1e3 / rates[1] if used > 0 else None
    report["parallel_repeats"] = repeats
    report["throughput_per_s"] = {"1": rates[1], "2": rates[2]}
    say(f"parallel: {rates[1]:.0f}/s with 1 worker, {rates[2]:.0f}/s with 2: "
        f"{report['parallel_speedup']:.2f}x (processor time per simulation: caller "
        f"{report['parent_cpu_ms']:.3f} ms, workers {report['worker_cpu_ms']:.3f} ms; two busy "
        f"cores allow {report['parallel_bound'] or math.nan:.2f}x)")
    report["anatomy"] = worker_anatomy(circuit, tech, max(2, min(latency_sims, 200)))
    a = report["anatomy"]
    say(f"a worker's simulation: {a['total_ms']:.3f} ms = alter and run {a['alter_run_ms']:.3f}"
        f" + ngspice answering queries {a['queries_ms']:.3f} + other ngspice calls "
        f"{a['other_ms']:.3f} + Python {a['python_ms']:.3f}")
    return report


def _cpu(process: psutil.Process) -> float:
    """User and system processor time (s) of ``process`` so far."""
    times = process.cpu_times()
    return times.user + times.system
