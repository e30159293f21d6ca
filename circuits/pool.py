"""Simulation workers: ngspice in child processes, killed and restarted at a wall-clock timeout.

Each worker process hosts one :class:`circuits.engine.NgspiceSession` (ngspice pinned to one
thread). The parent sends :class:`~circuits.engine.Job` objects through a pipe, several per
message (a chunk), as plain tuples without what the worker already holds (the netlist of the key
it has loaded, the vectors and finisher it was last sent); the worker answers each job as soon as
it is done, with a plain tuple (:meth:`~circuits.engine.Raw.pack`). Every job has its own
deadline: ``timeout`` seconds from the moment it became the worker's current job (the previous
answer, or the chunk's sending). A worker that misses it, or dies, is killed and replaced; that
job gets a ``TIMEOUT`` (or ``ENGINE``) failure and the jobs queued behind it go back to the
queue. A pool of N workers serves a batch in parallel (:meth:`WorkerPool.run_many`) and returns
results in the order of the jobs.

Each worker is also a sandbox (:mod:`circuits.sandbox`): before ngspice is loaded it forbids
starting programs (a seccomp filter; a worker that cannot install it refuses to start with
:class:`~circuits.sandbox.SandboxError`, unless the pool was made with ``sandbox=False``), it
works in a scratch directory of its own (removed when it ends), and it dies with its parent
(parent-death signal and a watchdog thread), so that killing the caller never leaves a worker
simulating.

Used by the section "The simulation engine" of the chapter "Circuits, process models and simulation"
(through :class:`circuits.Simulator`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import multiprocessing as mp
import numbers
import os
import pickle
import select
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from . import sandbox as _sandbox
from .engine import Failure, Job, Raw
from .errors import CircuitsError, NgspiceNotFoundError
from .sandbox import SandboxError

_CTX = mp.get_context("spawn")
#: Seconds a new worker may take to start ngspice.
START_TIMEOUT = 60.0
#: Largest per-job timeout (s), one day: larger values (``1e300``, ``inf``) are refused with a
#: :class:`PoolSettingError` (waits cannot be that long, and no simulation needs it).
MAX_TIMEOUT = 86400.0
#: Largest number of worker processes of one pool.
MAX_WORKERS = 1024
#: Most jobs sent to a worker in one message, and how few a worker may have left before it
#: is sent its next chunk (so that it never waits for the parent).
MAX_CHUNK = 32
LOW_WATER = 4
#: While every worker has more than ``LOW_WATER`` jobs queued, the parent sleeps for up to this
#: many of their answers (at most ``MAX_NAP`` seconds, never past a deadline) and then reads
#: them all at once: fewer wake-ups, more of the processor left to the workers.
NAP_ANSWERS = 8
MAX_NAP = 0.02


@dataclasses.dataclass(frozen=True)
class _Command:
    """An ngspice command for a worker, written by the project (tests, diagnostics).

    Internal: never built from user text. Jobs carry netlists and validated values only.
    """

    text: str


def _worker_main(conn: Connection, scratch: str, parent_pid: int, use_pdeathsig: bool,
                 sandboxed: bool) -> None:
    """Entry point of a worker process: serve jobs until the pipe closes.

    Before ngspice is loaded: die with the parent, move into the scratch directory, locate the
    library (which may run ``ldconfig``), then forbid starting programs.
    """
    parent = mp.parent_process()
    _sandbox.watch_parent(parent_pid, parent.sentinel if parent is not None else None,
                         use_pdeathsig, scratch)
    try:
        _serve_jobs(conn, scratch, sandboxed)
    finally:
        _sandbox.remove_scratch(scratch)


def _serve_jobs(conn: Connection, scratch: str, sandboxed: bool) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        os.chdir(scratch)
        from .engine import NgspiceSession, shared_api

        shared_api()
        if sandboxed:
            _sandbox.forbid_exec()
        session = NgspiceSession()
    except Exception as exc:  # report why the worker cannot start, then stop
        conn.send(("error", (type(exc).__name__, str(exc))))
        return
    conn.send(("ready", (os.getpid(), sandboxed)))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        if isinstance(message, _Command):
            try:
                out = session._command(message.text)
            except Exception as exc:  # e.g. a command that is not ASCII
                out = f"{type(exc).__name__}: {exc}"
            conn.send(("output", out))
            continue
        for packed in message:  # a chunk of jobs, answered one by one
            raw = _run_one(session, Job.unpack(packed))
            # what Connection.send does, without its pickler's extra reducers (a plain tuple)
            conn.send_bytes(pickle.dumps(raw.pack(), protocol=pickle.HIGHEST_PROTOCOL))
            if raw.restart:
                return


def _run_one(session: Any, job: Job) -> Raw:
    """One job in a worker: the simulation, then the finisher (never raises)."""
    start = time.perf_counter()
    try:
        raw = session.run(job)
    except Exception as exc:  # never let one job kill the worker silently
        raw = Raw(vectors={}, failure=Failure.ENGINE, message=f"{type(exc).__name__}: {exc}",
                  restart=True)
    raw.elapsed_s = time.perf_counter() - start
    raw.loaded_key = session.loaded_key
    if session.finish is not None and raw.loaded_key == job.key:
        try:
            raw.result = session.finish(raw, job.params)
            raw.vectors = {}  # the result holds what the caller needs
            if raw.result is not None:
                raw.log = ""
        except Exception as exc:  # a finisher's bug must not kill the worker
            raw.result = None
            raw.message = f"finishing failed: {type(exc).__name__}: {exc}"
    return raw


@contextlib.contextmanager
def _without_main_script():
    """Keep a starting worker from re-running the parent's main script.

    A ``spawn`` child re-imports the parent's ``__main__`` from its file before it runs its
    target. Workers need nothing from it, and re-running it fails for a script read from
    standard input (no such file) and re-enters a script that starts simulations at import time
    (no ``if __name__ == "__main__"`` guard). Hiding the path while the worker starts avoids both.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    hidden = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
    # ``python -m module`` re-imports by its spec's name, a script by its file: hide both
    if "__file__" in hidden:
        del main.__file__
    main.__spec__ = None
    try:
        yield
    finally:
        for key, value in hidden.items():
            setattr(main, key, value)
        if "__spec__" not in hidden:
            del main.__spec__


class WorkerStartError(CircuitsError, RuntimeError):
    """A worker process could not start ngspice (the message says why)."""


class PoolSettingError(CircuitsError, ValueError):
    """A worker-pool setting is invalid (number of workers, timeout)."""


def check_timeout(timeout: object) -> float:
    """``timeout`` as seconds, checked: a real number with ``0 < timeout <= MAX_TIMEOUT``.

    Raises
    ------
    PoolSettingError
        For anything else (``nan``, ``inf``, ``1e300``, a string, a bool).
    """
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise PoolSettingError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    try:
        value = float(timeout)
    except OverflowError:
        value = math.inf
    if not (0 < value <= MAX_TIMEOUT):
        raise PoolSettingError(f"timeout must be a number of seconds > 0 and at most "
                               f"{MAX_TIMEOUT:g} (one day), not {value:g}")
    return value


def check_workers(n: object) -> int:
    """``n`` as a number of workers, checked: an integer from 1 to ``MAX_WORKERS``.

    Raises
    ------
    PoolSettingError
        For anything else.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise PoolSettingError(f"the number of workers must be an integer, not "
                               f"{type(n).__name__}")
    if not 1 <= n <= MAX_WORKERS:
        raise PoolSettingError(f"a pool needs 1 to {MAX_WORKERS} workers, not {int(n)}")
    return int(n)


class _Worker:
    def __init__(self, sandboxed: bool) -> None:
        self.conn, child = _CTX.Pipe()
        self.scratch = _sandbox.make_scratch()
        # the parent-death signal follows the starting thread: ask for it from the main thread
        main = threading.current_thread() is threading.main_thread()
        self.process = _CTX.Process(
            target=_worker_main, args=(child, self.scratch, os.getpid(), main, sandboxed),
            daemon=True)
        try:
            with _without_main_script():
                self.process.start()
        except BaseException:
            _sandbox.remove_scratch(self.scratch)
            raise
        finally:
            child.close()
        self.ready = False
        self.sandboxed = False
        #: indices of the jobs sent and not answered, in order; the first is running since
        #: ``started`` (monotonic seconds)
        self.queue: collections.deque[int] = collections.deque()
        self.started = 0.0
        self.pace = 0.0  # average seconds a job takes in the worker (0 until measured: no nap)
        # what the worker holds: the key of the last netlist, the last vectors and finisher
        self.sent_key: str | None = None
        self.sent_vectors: object = None
        self.sent_finish: object = None

    def pack(self, job: Job) -> tuple:
        """``job`` as a plain tuple, without what this worker already holds."""
        if job.key != self.sent_key:
            self.sent_key, self.sent_vectors, self.sent_finish = job.key, job.vectors, job.finish
            return (job.key, job.netlist, job.params, job.vectors, job.alters, job.finish)
        vectors, finish = job.vectors, job.finish
        if vectors is self.sent_vectors:
            vectors = ()
        elif vectors:
            self.sent_vectors = vectors
        if finish is self.sent_finish:
            finish = None
        elif finish is not None:
            self.sent_finish = finish
        return (job.key, "", job.params, vectors, job.alters, finish)

    def wait_ready(self) -> None:
        if self.ready:
            return
        if not self.conn.poll(START_TIMEOUT):
            self.kill()
            raise WorkerStartError("ngspice worker did not start within "
                                   f"{START_TIMEOUT:.0f} s")
        try:
            kind, info = self.conn.recv()
        except EOFError:
            self.kill()
            raise WorkerStartError("ngspice worker died while starting") from None
        if kind != "ready":
            self.kill()
            error, message = info
            if error == NgspiceNotFoundError.__name__:
                raise NgspiceNotFoundError(message)
            if error == SandboxError.__name__:
                raise SandboxError(f"{message} (Simulator(sandbox=False) runs workers without "
                                   "it; user netlists are still checked)")
            raise WorkerStartError(f"ngspice worker could not start: {error}: {message}")
        _pid, self.sandboxed = info
        self.ready = True

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        _sandbox.remove_scratch(self.scratch)


_swept = False


class WorkerPool:
    """``n`` ngspice worker processes with a per-job wall-clock ``timeout`` (seconds).

    Use as a context manager, or call :meth:`close`. Workers start lazily. ``sandbox`` (default
    true) makes every worker forbid starting programs; where that is impossible, starting a
    worker raises :class:`~circuits.sandbox.SandboxError` instead of running unprotected.

    One batch runs at a time: a lock serialises :meth:`run_many` calls from several threads.

    Raises
    ------
    PoolSettingError
        For a number of workers outside 1..``MAX_WORKERS`` or a timeout that is not a number
        of seconds in (0, ``MAX_TIMEOUT``].
    """

    def __init__(self, n: int = 1, timeout: float = 30.0, sandbox: bool = True) -> None:
        global _swept
        self.n = check_workers(n)
        self.timeout = check_timeout(timeout)
        self.sandbox = bool(sandbox)
        self._workers: list[_Worker | None] = [None] * self.n
        self._lock = threading.RLock()
        self.restarts = 0
        if not _swept:  # scratch folders left by parents that were killed
            _swept = True
            _sandbox.sweep_stale_scratch()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _worker(self, i: int) -> _Worker:
        w = self._workers[i]
        if w is None or not w.process.is_alive():
            if w is not None:
                w.kill()
            w = _Worker(self.sandbox)
            self._workers[i] = w
        w.wait_ready()
        return w

    def _replace(self, i: int) -> None:
        w = self._workers[i]
        if w is not None:
            w.kill()
        self._workers[i] = None
        self.restarts += 1

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for memory measurements)."""
        return [w.pid for w in self._workers if w is not None and w.process.is_alive()]

    @property
    def sandboxed(self) -> bool:
        """Whether this pool's workers forbid starting programs (every started worker confirmed
        it; a worker that cannot install the filter does not start)."""
        return self.sandbox and all(w.sandboxed for w in self._workers
                                    if w is not None and w.ready)

    def _command(self, text: str, slot: int = 0) -> str:
        """Send one ngspice command, written by the project, to worker ``slot``; its output.

        Internal (tests, diagnostics): never pass user text. A worker that does not answer
        within the timeout is replaced and the answer is ``""``.
        """
        with self._lock:
            worker = self._worker(slot)
            try:
                worker.conn.send(_Command(text))
                if worker.conn.poll(self.timeout):
                    kind, out = worker.conn.recv()
                    if kind == "output":
                        return out
            except (EOFError, OSError):
                pass
            self._replace(slot)
            return ""

    def run(self, job: Job) -> Raw:
        """Run one job on the first worker."""
        return self.run_many([job])[0]

    def run_many(self, jobs: Sequence[Job | Raw],
                 finish: Callable[[int, Raw], Any] | None = None) -> list:
        """Run jobs on all workers in parallel; results come back in the order of ``jobs``.

        ``finish(index, raw)``, when given, turns each raw result into the returned item as
        soon as it arrives, while the workers go on with the next jobs. ``jobs`` is indexed
        chunk by chunk as the workers need them (it may build each job on demand); an entry
        that is already a :class:`~circuits.engine.Raw` is its own answer.
        """
        results: list = [None] * len(jobs)
        done = finish or (lambda _i, raw: raw)
        pending = collections.deque(range(len(jobs)))
        busy: dict[int, _Worker] = {}  # worker slot -> worker with jobs not answered
        with self._lock:
            try:
                self._serve(jobs, results, done, pending, busy)
            except BaseException:
                # a worker still busy would answer this batch's job to the next caller
                for slot in busy:
                    self._replace(slot)
                raise
        return results

    def _chunk(self, left: int) -> int:
        """Jobs per message: large for a long queue, smaller towards its end (so that the
        workers finish together)."""
        return max(1, min(MAX_CHUNK, left // (2 * self.n)))

    def _take(self, jobs: Sequence[Job | Raw], results: list, done: Callable[[int, Raw], Any],
              pending: collections.deque[int]) -> list[int]:
        """The next chunk of ``pending`` for a worker. ``jobs[i]`` is read only here, when its
        chunk is due (a lazy sequence builds each job while the workers simulate the ones
        before it); an entry that is a :class:`Raw` (a job that could not be built) is
        answered as it is, without a worker."""
        size = self._chunk(len(pending))
        chunk: list[int] = []
        while pending and len(chunk) < size:
            i = pending.popleft()
            if isinstance(jobs[i], Raw):
                results[i] = done(i, jobs[i])
            else:
                chunk.append(i)
        return chunk

    def _serve(self, jobs: Sequence[Job | Raw], results: list, done: Callable[[int, Raw], Any],
               pending: collections.deque[int], busy: dict[int, _Worker]) -> None:
        """The scheduling loop of :meth:`run_many` (fills ``results`` in place)."""
        while pending or busy:
            for slot in range(self.n):
                if not pending:
                    break
                worker = busy.get(slot)
                if worker is not None and len(worker.queue) > LOW_WATER:
                    continue
                if worker is None:
                    worker = self._worker(slot)
                chunk = self._take(jobs, results, done, pending)
                if not chunk:
                    continue
                try:
                    worker.conn.send([worker.pack(jobs[i]) for i in chunk])
                except (BrokenPipeError, OSError):
                    pending.extendleft(reversed(chunk))
                    self._lost(slot, worker, results, done, pending, busy,
                               "ngspice worker died during the simulation")
                    continue
                if not worker.queue:
                    worker.started = time.monotonic()
                worker.queue.extend(chunk)
                busy[slot] = worker
            if not busy:
                continue
            soonest = min(w.started for w in busy.values()) + self.timeout
            nap = min(MAX_NAP, soonest - time.monotonic(),
                      *(min(len(w.queue) - LOW_WATER - 1, NAP_ANSWERS) * w.pace
                        for w in busy.values()))
            if nap > 1e-3:
                time.sleep(nap)
            fds = {w.conn.fileno(): w for w in busy.values()}
            ready_fds, _, _ = select.select(list(fds), [], [],
                                            max(0.0, soonest - time.monotonic()))
            ready = {id(fds[fd]) for fd in ready_fds}
            for slot, worker in list(busy.items()):
                if id(worker) in ready:
                    self._receive(slot, worker, results, done, pending, busy)
                elif time.monotonic() >= worker.started + self.timeout:
                    raw = Raw(vectors={}, failure=Failure.TIMEOUT,
                              message=f"no result within the {self.timeout:g} s timeout; "
                                      "the simulation was killed", elapsed_s=self.timeout)
                    self._lost(slot, worker, results, done, pending, busy, raw=raw)

    def _receive(self, slot: int, worker: _Worker, results: list,
                 done: Callable[[int, Raw], Any], pending: collections.deque[int],
                 busy: dict[int, _Worker]) -> None:
        """Every answer ``worker`` has sent so far (at least one)."""
        while True:
            try:
                packed = worker.conn.recv()
            except (EOFError, OSError):
                self._lost(slot, worker, results, done, pending, busy,
                           "ngspice worker died during the simulation")
                return
            raw = Raw.unpack(packed)
            if raw.restart:  # the worker stops after this answer
                self._lost(slot, worker, results, done, pending, busy, raw=raw)
                return
            index = worker.queue.popleft()
            now = time.monotonic()
            worker.pace = 0.8 * worker.pace + 0.2 * min(raw.elapsed_s, 1.0)
            worker.started = now
            if not worker.queue:
                del busy[slot]
            results[index] = done(index, raw)
            if not worker.queue or not select.select([worker.conn.fileno()], [], [], 0)[0]:
                return

    def _lost(self, slot: int, worker: _Worker, results: list, done: Callable[[int, Raw], Any],
              pending: collections.deque[int], busy: dict[int, _Worker], message: str = "",
              raw: Raw | None = None) -> None:
        """A worker that stops (dead, past its deadline, or asking to restart): its current
        job gets ``raw`` (else an ``ENGINE`` failure with ``message``), the jobs queued behind
        it go back to the front of ``pending``, and the worker is replaced."""
        queue = list(worker.queue)
        worker.queue.clear()
        busy.pop(slot, None)
        self._replace(slot)
        if not queue:
            return
        pending.extendleft(reversed(queue[1:]))
        if raw is None:
            raw = Raw(vectors={}, failure=Failure.ENGINE, message=message, restart=True)
        results[queue[0]] = done(queue[0], raw)

    def close(self, wait: float = 10.0) -> None:
        """Stop every worker (and remove its scratch directory).

        A batch running in another thread is waited for up to ``wait`` seconds; after that the
        worker processes are killed under it (its simulations in flight fail with
        ``engine_error``), so that closing, at interpreter exit too, never hangs.
        """
        if not self._lock.acquire(timeout=max(0.0, wait)):
            for w in list(self._workers):
                if w is not None and w.process.is_alive():
                    w.process.kill()  # the thread running the batch cleans up after them
            return
        try:
            for i, w in enumerate(self._workers):
                if w is None:
                    continue
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(None)
                w.process.join(1)
                w.kill()
                self._workers[i] = None
        finally:
            self._lock.release()
