"""Simulation workers: ngspice in child processes, killed and restarted at a wall-clock timeout.

Each worker process hosts one :class:`circuits.engine.NgspiceSession` (ngspice pinned to one
thread). The parent sends :class:`~circuits.engine.Job` objects through a pipe and waits at most
``timeout`` seconds for each answer; a worker that does not answer in time, or dies, is killed and
replaced, and the job gets a ``TIMEOUT`` (or ``ENGINE``) failure. A pool of N workers serves a
batch in parallel (:meth:`WorkerPool.run_many`) and returns results in the order of the jobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from .engine import Failure, Job, Raw
from .errors import CircuitsError, NgspiceNotFoundError

_CTX = mp.get_context("spawn")
#: Seconds a new worker may take to start ngspice.
START_TIMEOUT = 60.0


def _worker_main(conn: Connection) -> None:
    """Entry point of a worker process: serve jobs until the pipe closes."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from .engine import NgspiceSession

        session = NgspiceSession()
    except Exception as exc:  # report why the worker cannot start, then stop
        conn.send(("error", (type(exc).__name__, str(exc))))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
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
                raw.vectors, raw.log = {}, ""  # the result holds what the caller needs
            except Exception as exc:  # a finisher's bug must not kill the worker
                raw.result = None
                raw.message = f"finishing failed: {type(exc).__name__}: {exc}"
        conn.send(raw)
        if raw.restart:
            return


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


class _Worker:
    def __init__(self) -> None:
        self.conn, child = _CTX.Pipe()
        self.process = _CTX.Process(target=_worker_main, args=(child,), daemon=True)
        with _without_main_script():
            self.process.start()
        child.close()
        self.ready = False
        self.deadline = 0.0
        self.index = -1
        self.loaded_key: str | None = None

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
            raise WorkerStartError(f"ngspice worker could not start: {error}: {message}")
        self.ready = True

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """``n`` ngspice worker processes with a per-job wall-clock ``timeout`` (seconds).

    Use as a context manager, or call :meth:`close`. Workers start lazily.
    """

    def __init__(self, n: int = 1, timeout: float = 30.0) -> None:
        if n < 1:
            raise ValueError("a pool needs at least one worker")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a finite number of seconds > 0, not {timeout!r}")
        self.n = n
        self.timeout = float(timeout)
        self._workers: list[_Worker | None] = [None] * n
        self.restarts = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _worker(self, i: int) -> _Worker:
        w = self._workers[i]
        if w is None or not w.process.is_alive():
            if w is not None:
                w.kill()
            w = _Worker()
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

    def run(self, job: Job) -> Raw:
        """Run one job on the first worker."""
        return self.run_many([job])[0]

    def run_many(self, jobs: list[Job], finish: Callable[[int, Raw], Any] | None = None) -> list:
        """Run jobs on all workers in parallel; results come back in the order of ``jobs``.

        ``finish(index, raw)``, when given, turns each raw result into the returned item as
        soon as it arrives, while the workers go on with the next jobs.
        """
        results: list = [None] * len(jobs)
        done = finish or (lambda _i, raw: raw)
        pending = list(range(len(jobs)))[::-1]
        busy: dict[int, _Worker] = {}  # worker slot -> worker
        try:
            self._serve(jobs, results, done, pending, busy)
        except BaseException:
            # a worker still busy would answer this batch's job to the next caller: replace it
            for slot in busy:
                self._replace(slot)
            raise
        return results

    def _serve(self, jobs: list[Job], results: list, done: Callable[[int, Raw], Any],
               pending: list[int], busy: dict[int, _Worker]) -> None:
        """The scheduling loop of :meth:`run_many` (fills ``results`` in place)."""
        while pending or busy:
            for slot in range(self.n):
                if slot in busy or not pending:
                    continue
                worker = self._worker(slot)
                index = pending.pop()
                worker.index, worker.deadline = index, time.monotonic() + self.timeout
                job = jobs[index]
                if worker.loaded_key == job.key:  # the worker has it: skip sending the text
                    job = dataclasses.replace(job, netlist="", vectors=(), finish=None)
                try:
                    worker.conn.send(job)
                except (BrokenPipeError, OSError):
                    self._replace(slot)
                    pending.append(index)
                    continue
                busy[slot] = worker
            if not busy:
                continue
            now = time.monotonic()
            soonest = min(w.deadline for w in busy.values())
            ready = wait([w.conn for w in busy.values()], timeout=max(0.0, soonest - now))
            for slot, worker in list(busy.items()):
                if worker.conn in ready:
                    try:
                        raw = worker.conn.recv()
                    except (EOFError, OSError):
                        raw = Raw(vectors={}, failure=Failure.ENGINE,
                                  message="ngspice worker died during the simulation",
                                  restart=True)
                    worker.loaded_key = raw.loaded_key
                    del busy[slot]
                    if raw.restart:
                        self._replace(slot)
                    results[worker.index] = done(worker.index, raw)
                elif time.monotonic() >= worker.deadline:
                    raw = Raw(vectors={}, failure=Failure.TIMEOUT,
                              message=f"no result within the {self.timeout:g} s timeout; "
                                      "the simulation was killed", elapsed_s=self.timeout)
                    del busy[slot]
                    self._replace(slot)
                    results[worker.index] = done(worker.index, raw)

    def close(self) -> None:
        """Stop every worker."""
        for i, w in enumerate(self._workers):
            if w is None:
                continue
            with contextlib.suppress(BrokenPipeError, OSError):
                w.conn.send(None)
            w.process.join(1)
            w.kill()
            self._workers[i] = None
