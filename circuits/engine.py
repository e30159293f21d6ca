"""ngspice in one process, through PySpice's shared-library interface.

:class:`NgspiceSession` keeps one circuit loaded and re-simulates new parameter values with
``alterparam`` + ``reset`` (about a millisecond, against 10-20 ms for parsing a netlist anew in a
fresh ``ngspice -b`` run). New device values go in as ``alter`` commands joined by ``;`` into as
few command lines as fit ngspice's limit (:func:`chain_alters`); it reads only the vectors a job
asks for (an operating-point value straight from ngspice's memory, checked with
:func:`math.isfinite`), destroys the plots after each run (plots are what grows memory), and
classifies failures from ngspice's own output. The time of ngspice's own calls is measured
(:attr:`Raw.ngspice_s`).

A transistor quantity (``@m.x1.m1[gm]``) is asked of ngspice after the run, by its full name in
the operating-point plot (not the current plot, whose look-up table ngspice rebuilds after each
such read); the names are worked out once per bench (:meth:`NgspiceSession._plan`). Saving them
during the run instead (``.save``) was measured at almost three times the instructions per
simulation: the AC analysis then computes every one of them at every frequency. When the
compiled fast path is built (:mod:`circuits.native`), the operating-point values are asked in
one call from C instead of a Python loop: the same values, read sooner.

A session is not protected against a simulation that never returns, nor against a command
that starts a program: run it inside a worker process (:mod:`circuits.pool`) that a parent can
kill at a wall-clock timeout and that forbids starting programs (:mod:`circuits.sandbox`).

Used by the section "The simulation engine" of the chapter "Circuits, process models and simulation"
(through :class:`circuits.Simulator`).
"""

from __future__ import annotations

import ctypes.util
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from . import native
from .errors import NgspiceNotFoundError


class Failure(StrEnum):
    """Why a simulation did not give a result."""

    NONCONVERGENCE = "nonconvergence"
    SINGULAR_MATRIX = "singular_matrix"
    MODEL_BIN = "model_bin"
    NETLIST = "netlist_error"
    INVALID_PARAMETER = "invalid_parameter"
    TIMEOUT = "timeout"
    MEASUREMENT = "measurement"
    ENGINE = "engine_error"


# Ordered: the first pattern that matches ngspice's output names the failure.
_PATTERNS: list[tuple[Failure, re.Pattern]] = [
    (Failure.MODEL_BIN, re.compile(r"could not find a valid modelname|no model found for", re.I)),
    (Failure.SINGULAR_MATRIX, re.compile(r"singular matrix|matrix is singular", re.I)),
    (Failure.NONCONVERGENCE, re.compile(
        r"timestep too small|stepping failed|solution failed|iteration limit|no convergence|"
        r"op failed|dc solution failed|failed to converge|ac: can't find dc", re.I)),
    (Failure.NETLIST, re.compile(
        r"error on line|not parsed|unknown (?:model|subckt|device|parameter)|expression err|"
        r"undefined parameter|cannot compute|could not find|unable to find|no such|"
        r"syntax error|too few|there aren't any circuits|fatal|cannot recover|"
        r"bad (?:value|syntax)|undefined|unrecognized", re.I)),
]
#: What ngspice writes when a run lost its results (looked for in the lower-cased log: a
#: substring test costs about a microsecond per run, a case-insensitive regular expression fifty).
_ABORTED = ("simulation(s) aborted", "analysis aborted", "cannot recover")
_FATAL = re.compile(r"cannot recover|awaits to be detached", re.I)


#: Longest command line sent to ngspice (bytes). ngspice 39 does not run a longer line as
#: written, and says nothing: of ``alter`` commands joined by ``;``, a line of 1024 bytes sets
#: them all, one of 1049 bytes loses its last one, and over 1 kB another value was seen set
#: instead (``tests/circuits/test_engine.py`` checks it).
MAX_COMMAND = 900


class CommandError(ValueError):
    """An ``alter`` command that cannot be sent safely (two values on one line, a ``;``, a
    line longer than :data:`MAX_COMMAND`)."""


def chain_alters(alters: Sequence[str], limit: int = MAX_COMMAND) -> list[str]:
    """``alter`` commands joined by ``;`` into as few lines of at most ``limit`` bytes as fit.

    Each alter sets one value (``"m.x1.m1 w=1e-06"``): ngspice's ``alter`` given two
    (``w=1u l=2u``) silently sets only the first, so such a command is refused, as is a ``;``
    inside one (it would start another command). Used by :meth:`NgspiceSession.run` for the
    bench's re-simulation (section "The simulation engine").

    Raises
    ------
    CommandError
        For a command with more or less than one ``=``, with a ``;``, or longer than ``limit``.
    """
    if not alters:
        return []
    line = "alter " + ";alter ".join(alters)
    # the common case, one line: checked at once (each alter one '=' and no ';' or newline:
    # as many ';' as joints, and the pattern's parts between them)
    if len(line) <= limit and line.count(";") == len(alters) - 1 and \
            _ONE_LINE.fullmatch(line) is not None:
        return [line]
    lines: list[str] = []
    current = ""
    for alter in alters:
        if _ONE_ALTER.fullmatch(alter) is None:
            raise CommandError(f"an alter command sets exactly one value: {alter[:80]!r}")
        command = f"alter {alter}"
        if len(command) > limit:
            raise CommandError(f"alter command longer than {limit} bytes")
        if current and len(current) + 1 + len(command) > limit:
            lines.append(current)
            current = command
        else:
            current = f"{current};{command}" if current else command
    lines.append(current)
    return lines


#: One alter (one ``=``, no ``;`` or line break), and a line of them joined by ``;``.
_ONE_ALTER = re.compile(r"[^=;\n]*=[^=;\n]*")
_ONE_LINE = re.compile(r"alter [^=;\n]*=[^=;\n]*(?:;alter [^=;\n]*=[^=;\n]*)*")


def classify(log: str) -> Failure | None:
    """The failure ngspice's output reports, or ``None`` if it reports none."""
    for failure, pattern in _PATTERNS:
        if pattern.search(log):
            return failure
    return None


@dataclass(frozen=True)
class Job:
    """One simulation for a worker.

    Attributes
    ----------
    key : identifies ``netlist``; a worker with this key loaded skips parsing.
    netlist : full SPICE deck (title line first, ``.end`` last), with ``.param`` defaults.
    params : values for ``alterparam`` (every one must be a ``.param`` of the netlist).
    finish : applied in the worker to the raw result and ``params``; what it returns comes back
        as :attr:`Raw.result` instead of the vectors (it must be picklable; like ``vectors``
        it is remembered with the netlist).
    alters : instead of ``params``, ``alter`` commands that set device values directly, one
        value each (``"m.x1.m1 w=1e-06"``); no ``reset`` (re-parse) is needed. They must set
        every value that depends on a design parameter, so that a job never inherits the
        previous one's. They are sent joined by ``;`` (:func:`chain_alters`).
    vectors : ``(analysis, vector)`` pairs to return, e.g. ``("op", "vdd#branch")`` or
        ``("ac", "out")``; the analysis is the prefix of the plot name ngspice makes. A worker
        remembers the last ``vectors`` and ``finish`` it was sent, and the netlist of the last
        key: a later job may leave all three empty.
    """

    key: str
    netlist: str
    params: dict[str, float] = field(default_factory=dict)
    vectors: tuple[tuple[str, str], ...] = ()
    alters: tuple[str, ...] = ()
    finish: Callable[[Raw, dict[str, float]], Any] | None = None

    @classmethod
    def unpack(cls, packed: tuple) -> Job:
        """The job of a plain tuple of its fields in order (what a worker is sent): the same
        as ``Job(*packed)``, without setting the fields of a frozen dataclass one by one."""
        job = object.__new__(cls)
        job.__dict__.update(zip(_JOB_FIELDS, packed, strict=True))
        return job


_JOB_FIELDS = ("key", "netlist", "params", "vectors", "alters", "finish")


@dataclass
class Raw:
    """What a worker returns: the vectors found, the failure, the log, and whether to restart.

    ``vectors`` maps each requested ``(analysis, name)`` found to its data: a float for a
    one-point real vector (an operating-point value), else an array.
    """

    vectors: dict[tuple[str, str], np.ndarray | float]
    failure: Failure | None = None
    message: str = ""
    log: str = ""
    restart: bool = False
    elapsed_s: float = 0.0
    loaded_key: str | None = None
    result: Any = None
    #: Time (s) inside ngspice's own calls for the new values and the analysis (``alter`` or
    #: ``alterparam`` + ``reset``, and ``run``); loading a netlist is not counted.
    ngspice_s: float = 0.0

    def pack(self) -> tuple:
        """Plain tuple for the pipe (cheaper to pickle than the object); :meth:`unpack`."""
        return (self.vectors, self.failure.value if self.failure else None, self.message,
                self.log, self.restart, self.elapsed_s, self.loaded_key, self.result,
                self.ngspice_s)

    @classmethod
    def unpack(cls, packed: tuple) -> Raw:
        vectors, failure, message, log, restart, elapsed, key, result, ngspice_s = packed
        return cls(vectors, Failure(failure) if failure else None, message, log, restart,
                   elapsed, key, result, ngspice_s)


def locate_library() -> str:
    """Path or soname of ``libngspice``; sets ``NGSPICE_LIBRARY_PATH`` for PySpice.

    Raises
    ------
    NgspiceNotFoundError
        When no ngspice shared library is installed.
    """
    path = os.environ.get("NGSPICE_LIBRARY_PATH")
    if path:
        return path
    prefixes = [os.environ.get("CONDA_PREFIX"), sys.prefix]  # conda's ngspice-lib, then the system
    candidates = [os.path.join(p, "lib", name) for p in prefixes if p
                  for name in ("libngspice.so", "libngspice.so.0")]
    candidates += ["/usr/lib/x86_64-linux-gnu/libngspice.so",
                   "/usr/lib/x86_64-linux-gnu/libngspice.so.0", "/usr/lib/libngspice.so",
                   "/usr/local/lib/libngspice.so"]
    for candidate in candidates:
        if os.path.exists(candidate):
            os.environ["NGSPICE_LIBRARY_PATH"] = candidate
            return candidate
    found = ctypes.util.find_library("ngspice")
    if not found:
        raise NgspiceNotFoundError(
            "the ngspice shared library (libngspice) is not installed; run `make setup` or "
            "`apt-get install ngspice libngspice0`, or set NGSPICE_LIBRARY_PATH"
        )
    os.environ["NGSPICE_LIBRARY_PATH"] = found
    return found


def shared_api() -> tuple[Any, Any]:
    """PySpice's ``NgSpiceShared`` class and its ``ffi``, with the library located.

    Everything that may start a helper program (``ctypes.util.find_library`` runs ``ldconfig``)
    or read the platform happens here, so a worker calls it before it forbids starting
    programs (:func:`circuits.sandbox.forbid_exec`) and before ngspice itself is loaded.

    Raises
    ------
    NgspiceNotFoundError
        When no ngspice shared library is installed or PySpice cannot use it.
    """
    locate_library()
    for name in ("PySpice", "PySpice.Spice.NgSpice.Shared"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi
    except OSError as exc:  # dlopen failed
        raise NgspiceNotFoundError(f"cannot load libngspice: {exc}") from None
    return NgSpiceShared, ffi


class NgspiceSession:
    """One ngspice instance (one per process), one loaded circuit at a time."""

    #: Free ngspice's command history every so many commands (it grows otherwise); a command
    #: counts once per 16 bytes (ngspice keeps every word of it).
    HISTORY_FLUSH = 5000

    def __init__(self) -> None:
        NgSpiceShared, ffi = shared_api()
        self._ffi = ffi
        try:
            self._ng = NgSpiceShared.new_instance()
        except OSError as exc:  # dlopen of NGSPICE_LIBRARY_PATH failed
            raise NgspiceNotFoundError(
                f"cannot load libngspice ({os.environ.get('NGSPICE_LIBRARY_PATH')}): {exc}; "
                "run `make setup` or `apt-get install ngspice libngspice0`, or set "
                "NGSPICE_LIBRARY_PATH to the library") from None
        self._lib = self._ng._ngspice_shared
        # where ngGet_Vec_Info is, for the compiled fast path (which calls it from C)
        self._query_address = int(ffi.cast("uintptr_t", self._lib.ngGet_Vec_Info))
        self._commands = 0
        self.loaded_key: str | None = None
        self._vectors: tuple[tuple[str, str], ...] = ()
        self.finish: Callable[[Raw, dict[str, float]], Any] | None = None
        self._known: tuple[str | None, str] = (None, "")  # the last key's netlist
        # the reading plan of the last plots and vectors (:meth:`_plan`)
        self._plan_cache: tuple[tuple[bytes, ...], object, tuple] | None = None
        self._command("set num_threads=1")

    # -- low level ------------------------------------------------------------------------------

    def _output(self) -> str:
        ng = self._ng
        if not (ng._stdout or ng._stderr):
            return ""
        return "\n".join(ng._stdout + ng._stderr)

    def _command(self, command: str) -> str:
        return self._timed(command)[0]

    def _load(self, netlist: str) -> str:
        lines = [ln for ln in netlist.splitlines() if ln.strip()] + [""]
        keep = [self._ffi.new("char[]", ln.encode("utf-8")) for ln in lines] + [self._ffi.NULL]
        self._ng.clear_output()
        rc = self._lib.ngSpice_Circ(self._ffi.new("char *[]", keep))
        out = self._output()
        if rc:
            out += "\n(ngSpice_Circ returned an error)"
        return out

    def _vector(self, name: str) -> np.ndarray | None:
        info = self._lib.ngGet_Vec_Info(name.encode("utf-8"))
        if info == self._ffi.NULL or info.v_length <= 0:
            return None
        return self._array(info)

    def _plots(self) -> tuple[bytes, ...]:
        """The names of ngspice's plots, newest first (asked of the library directly)."""
        names = self._lib.ngSpice_AllPlots()
        string = self._ffi.string
        out = []
        i = 0
        while names[i]:
            out.append(string(names[i]))
            i += 1
        return tuple(out)

    # -- jobs -----------------------------------------------------------------------------------

    def _timed(self, command: str) -> tuple[str, float]:
        """Output of one command and the time (s) of ngspice's call alone (with the output
        lines ngspice hands to PySpice during it; not the bookkeeping around it)."""
        if self._commands >= self.HISTORY_FLUSH:
            self._lib.ngSpice_Command(self._ffi.NULL)
            self._commands = 0
        self._commands += 1 + len(command) // 16  # long lines weigh more
        self._ng.clear_output()
        text = command.encode("ascii")
        start = time.perf_counter()
        rc = self._lib.ngSpice_Command(text)
        spent = time.perf_counter() - start
        out = self._output()
        if rc:
            out += f"\n(ngSpice_Command {command!r} returned {rc})"
        return out, spent

    def _read(self, plots: tuple[bytes, ...], vectors: Sequence[tuple[str, str]]
              ) -> tuple[dict[tuple[str, str], np.ndarray | float], list[str]]:
        """The requested vectors of the current plots, and the names of those missing or not
        finite. A one-point real vector (an operating-point value) is read as a float straight
        from ngspice's memory; longer ones are copied into arrays.

        The full names (``op1.@m.x1.m1[gm]``) are worked out once per list of plots and
        vectors (:meth:`_plan`). The vectors of other analyses are read first, then those of
        the operating point, device quantities last, since ngspice adds a vector to the current
        plot for each; the operating-point values in one call of the compiled fast path when it
        is built (:class:`circuits.native.ScalarReader`), else one by one: the same values."""
        others, scalars, pairs, reader = self._plan(plots, vectors)
        found: dict[tuple[str, str], np.ndarray | float] = {}
        bad: list[str] = []
        self._read_each(others, found, bad)
        if reader is None:
            self._read_each(scalars, found, bad)
            return found, bad
        values, status = reader.read()
        if status is None:
            found.update(zip(pairs, values, strict=True))
            return found, bad
        for entry, value, state in zip(scalars, values, status, strict=True):
            pair = entry[0]
            if state == native.READ_OK:
                found[pair] = value
            elif state == native.READ_NOT_FINITE:
                found[pair] = value
                bad.append(f"{pair[0]}:{pair[1]}")
            elif state == native.READ_MISSING:
                bad.append(f"{pair[0]}:{pair[1]}")
            else:  # not a one-point real vector: copied as an array
                self._read_each([entry], found, bad)
        return found, bad

    def _read_each(self, entries: Sequence[tuple[tuple[str, str], bytes | None]],
                   found: dict[tuple[str, str], np.ndarray | float], bad: list[str]) -> None:
        """:meth:`_read` of ``entries`` one by one, into ``found`` and ``bad``."""
        get = self._lib.ngGet_Vec_Info
        isfinite = math.isfinite
        for pair, full in entries:
            # a cffi pointer is false when NULL (cheaper than comparing it with ffi.NULL)
            info = get(full) if full is not None else None
            if not info:
                bad.append(f"{pair[0]}:{pair[1]}")
                continue
            n = info.v_length
            if n == 1:
                real = info.v_realdata
                if real:
                    value = found[pair] = real[0]
                    if not isfinite(value):
                        bad.append(f"{pair[0]}:{pair[1]}")
                    continue
            elif n <= 0:
                bad.append(f"{pair[0]}:{pair[1]}")
                continue
            data = found[pair] = self._array(info)
            if not np.isfinite(data).all():
                bad.append(f"{pair[0]}:{pair[1]}")

    def _plan(self, plots: tuple[bytes, ...], vectors: Sequence[tuple[str, str]]
              ) -> tuple[list, list, tuple, native.ScalarReader | None]:
        """The reading plan, kept while the plots and the vectors stay the same: ``(others,
        scalars, pairs, reader)``, lists of ``(pair, full name)`` (``None`` for an analysis
        without a plot) of the vectors of other analyses and of the operating point (device
        quantities last), the pairs of the latter, and their compiled reader (``None`` without
        the fast path)."""
        cached = self._plan_cache
        if cached is not None and cached[0] == plots and (
                cached[1] is vectors or cached[1] == vectors):
            return cached[2]
        names = [p.decode("utf-8", "replace") for p in plots]
        by_analysis = {p.rstrip("0123456789"): p for p in reversed(names)}
        plan = []
        for pair in sorted(vectors, key=_device_last):
            plot = by_analysis.get(pair[0])
            plan.append((pair, None if plot is None else f"{plot}.{pair[1]}".encode()))
        others = [e for e in plan if e[0][0] != "op"]
        scalars = [e for e in plan if e[0][0] == "op"]
        reader = None
        if scalars and native.available():
            reader = native.ScalarReader([full for _, full in scalars], self._query_address)
        pairs = tuple(pair for pair, _ in scalars)
        self._plan_cache = (plots, vectors, (others, scalars, pairs, reader))
        return others, scalars, pairs, reader

    def _array(self, info: Any) -> np.ndarray:
        n = info.v_length
        if info.v_compdata != self._ffi.NULL:
            buf = self._ffi.buffer(info.v_compdata, n * 16)
            return np.frombuffer(buf, dtype=np.complex128).copy()
        buf = self._ffi.buffer(info.v_realdata, n * 8)
        return np.frombuffer(buf, dtype=np.float64).copy()

    def run(self, job: Job) -> Raw:
        """Load (if needed), set parameters, simulate, and read the requested vectors.

        New values go in as ``alter`` commands joined by ``;`` (:func:`chain_alters`), or as
        ``alterparam`` + ``reset``; the time of those calls and of ``run`` is
        :attr:`Raw.ngspice_s`.
        """
        log_parts: list[str] = []
        if job.netlist:
            self._known = (job.key, job.netlist)
        if job.key != self.loaded_key:
            netlist = job.netlist or (self._known[1] if self._known[0] == job.key else "")
            if not netlist:
                return Raw(vectors={}, failure=Failure.ENGINE, message="netlist not sent")
            self.unload()
            self._vectors = job.vectors
            self.finish = job.finish
            out = self._load(netlist)
            log_parts.append(out)
            if "(ngSpice_Circ returned an error)" in out or _loading_failed(out):
                self.loaded_key = None
                return self._fail(log_parts, classify(out) or Failure.NETLIST,
                                  restart=bool(_FATAL.search(out)))
            self.loaded_key = job.key
        else:
            if job.vectors:
                self._vectors = job.vectors
            if job.finish is not None:
                self.finish = job.finish
        spent = 0.0
        if job.alters:
            try:
                lines = chain_alters(job.alters)
            except CommandError as exc:
                return Raw(vectors={}, failure=Failure.ENGINE, message=str(exc))
            for line in lines:
                out, dt = self._timed(line)
                spent += dt
                if out.strip():  # notices (a binned model re-selected) are not failures
                    log_parts.append(out)
                    if classify(out) or "error" in out.lower():
                        return self._fail(log_parts, classify(out) or Failure.NETLIST)
        elif job.params:
            for name, value in job.params.items():
                out, dt = self._timed(f"alterparam {name}={value:.12g}")
                spent += dt
                log_parts.append(out)
            out, dt = self._timed("reset")
            spent += dt
            log_parts.append(out)
            if _loading_failed(out):
                self.loaded_key = None
                return self._fail(log_parts, classify(out) or Failure.NETLIST,
                                  restart=bool(_FATAL.search(out)))
        out, dt = self._timed("run")
        spent += dt
        log_parts.append(out)
        vectors, missing = self._read(self._plots(), job.vectors or self._vectors)
        self._command("destroy all")
        log = "\n".join(p for p in log_parts if p)
        failure = None
        low = log.lower()
        if missing or any(text in low for text in _ABORTED):
            # Warnings alone (a gmin-stepping attempt that failed before source stepping
            # succeeded) are not failures: only a run that lost results or aborted is.
            failure = classify(log) or Failure.NONCONVERGENCE
        if failure is not None:
            raw = self._fail(log_parts, failure, restart=bool(_FATAL.search(log)))
            if missing and not raw.message:
                raw.message = f"no result for {', '.join(missing[:4])}"
            raw.vectors = vectors
            raw.ngspice_s = spent
            return raw
        return Raw(vectors=vectors, log=log, ngspice_s=spent)

    def _fail(self, log_parts: list[str], failure: Failure, restart: bool = False) -> Raw:
        log = "\n".join(p for p in log_parts if p)
        return Raw(vectors={}, failure=failure, message=first_error_line(log), log=log[-4000:],
                   restart=restart)

    def unload(self) -> None:
        """Remove the loaded circuit and every plot (keeps memory flat)."""
        if self.loaded_key is not None:
            self._command("destroy all")
            self._command("remove_circuit")
            self.loaded_key = None


def _device_last(pair: tuple[str, str]) -> bool:
    return pair[1].startswith("@")


def _loading_failed(out: str) -> bool:
    low = out.lower()
    return any(s in low for s in ("error", "not parsed", "cannot recover", "there aren't any"))


_NOISE = re.compile(r"^(note:|circuit:|doing analysis|no\. of data rows|reset re-loads|"
                    r"warning:|using spice|\s*$|\(ngspice_command|trying |gmin step|source step|"
                    r"\s*supplies reduced)", re.I)


_TITLE = re.compile(r"^circuit:", re.I)


def first_error_line(log: str) -> str:
    """The most informative line of an ngspice log: the first error-like line, with what it
    introduces. ngspice writes some errors over several lines (``Error on line:``, then the
    offending line, then ``unknown parameter (inf)``): a line ending in ``:`` is joined with the
    next two (``"Error on line: r.x1.r1 out 0 inf / unknown parameter (inf)"``). Used for the
    reason of a failed simulation (section "The simulation engine")."""
    lines = [" ".join(ln.split()) for ln in log.splitlines() if ln.strip()]
    for pattern in (p for _, p in _PATTERNS):
        for i, ln in enumerate(lines):
            if pattern.search(ln) and not _TITLE.match(ln):  # not the deck's title echoed
                if ln.endswith(":"):
                    more = [x for x in lines[i + 1:i + 3] if not _NOISE.match(x)]
                    ln = " ".join([ln, " / ".join(more)]) if more else ln
                return ln[:300]
    for ln in lines:
        if not _NOISE.match(ln):
            return ln[:300]
    return ""
