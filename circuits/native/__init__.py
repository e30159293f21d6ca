"""The compiled fast path of a simulation worker (``fastpath.c``), when it is built.

``make setup`` compiles ``fastpath.c`` into ``libfastpath.so`` beside it (gcc, without fused
multiply-add), with the SHA-256 of the source inside. :func:`load` opens it with cffi only when
that hash is the source's: a library built from an older source is never used. Without the
library (not built, or ``CIRCUITS_NATIVE=0`` in the environment) the engine and the measurement
run their Python forms, which give the same values to the last bit
(``tests/circuits/test_native.py`` checks it); only the time differs.

Two functions, each once per simulation in a worker:

* :class:`ScalarReader`: operating-point values asked of ngspice by their full names in one
  call, instead of a Python loop over the library's ``ngGet_Vec_Info``;
* :func:`measure`: the AC measurement of :func:`circuits.results.ac_values` from |H| onwards.

Used by the section "The simulation engine" of the chapter "Circuits, process models and
simulation" (through :class:`circuits.engine.NgspiceSession` and
:func:`circuits.results.ac_values`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SOURCE = Path(__file__).with_name("fastpath.c")
LIBRARY = Path(__file__).with_name("libfastpath.so")

#: What :func:`measure` found.
MEASURED, NO_CROSSING, NOT_FINITE, ZERO, INVERTED, ABOVE_POLE = range(6)
#: The status of each value :meth:`ScalarReader.read` asked for.
READ_OK, READ_MISSING, READ_NOT_FINITE, READ_NOT_SCALAR = range(4)

_CDEF = """
int read_scalars(uintptr_t get, char **names, int n, double *values, int *status);
int measure_ac(const double *log_f, const double *mag, const double *h, int n,
               double tolerance, int cubic, double *turns, double *out, int *at);
const char *fastpath_source(void);
"""

_loaded: tuple[Any, Any] | None = None
_tried = False


def source_hash() -> str:
    """SHA-256 of ``fastpath.c`` (what the Makefile compiles into the library)."""
    return hashlib.sha256(SOURCE.read_bytes()).hexdigest()


def load() -> tuple[Any, Any] | None:
    """``(ffi, lib)`` of the built library, or ``None`` when it is missing, was built from
    another source, cannot be loaded, or ``CIRCUITS_NATIVE=0`` is set. Tried once per process."""
    global _loaded, _tried
    if not _tried:
        _tried = True
        if os.environ.get("CIRCUITS_NATIVE", "1") != "0" and LIBRARY.is_file():
            try:
                import cffi

                ffi = cffi.FFI()
                ffi.cdef(_CDEF)
                lib = ffi.dlopen(str(LIBRARY))
                if ffi.string(lib.fastpath_source()).decode() == source_hash():
                    _loaded = (ffi, lib)
            except (OSError, ImportError, AttributeError):
                _loaded = None
    return _loaded


def available() -> bool:
    """Whether the compiled fast path is in use in this process."""
    return load() is not None


class ScalarReader:
    """Operating-point values of one reading plan, asked of ngspice in one call.

    ``names`` are the full vector names (``b"op1.@m.x1.m1[gm]"``; ``None`` for an analysis
    without a plot); ``get`` is the address of ngspice's ``ngGet_Vec_Info``. :meth:`read`
    returns the values (floats, NaN where there is none) and the status of each
    (:data:`READ_OK`, ...), ``None`` when every one is :data:`READ_OK`.
    """

    def __init__(self, names: Sequence[bytes | None], get: int) -> None:
        loaded = load()
        if loaded is None:
            raise RuntimeError("the compiled fast path is not built (make setup)")
        ffi, self._lib = loaded
        self._keep = [ffi.new("char[]", n) if n is not None else ffi.NULL for n in names]
        self._names = ffi.new("char *[]", self._keep)
        self._n = len(names)
        self._values = np.empty(self._n)
        self._status = np.empty(self._n, dtype=np.intc)
        self._values_p = ffi.from_buffer("double[]", self._values)
        self._status_p = ffi.from_buffer("int[]", self._status)
        self._get = get

    def read(self) -> tuple[list[float], list[int] | None]:
        bad = self._lib.read_scalars(self._get, self._names, self._n, self._values_p,
                                     self._status_p)
        return self._values.tolist(), (self._status.tolist() if bad else None)


class _Scratch:
    """Buffers :func:`measure` reuses (one measurement at a time per process)."""

    def __init__(self, ffi: Any) -> None:
        self.out = np.empty(4)
        self.at = np.zeros(1, dtype=np.intc)
        self.out_p = ffi.from_buffer("double[]", self.out)
        self.at_p = ffi.from_buffer("int[]", self.at)
        self.turns = np.empty(0)
        self.turns_p = ffi.from_buffer("double[]", self.turns)


_scratch: _Scratch | None = None


def measure(log_f: np.ndarray, mag: np.ndarray, h: np.ndarray, tolerance: float,
            cubic: bool) -> tuple[int, float, float, float, float, int]:
    """The AC measurement in C: ``(code, gain_db, log10_ugbw, pm_deg, phase0_deg, at)``.

    ``code`` is one of :data:`MEASURED`, :data:`NO_CROSSING` (``gain_db`` only),
    :data:`NOT_FINITE`, :data:`ZERO` (``at``: the first point of least |H|), :data:`INVERTED`
    and :data:`ABOVE_POLE` (``phase0_deg``: the low-frequency phase). Call it only when
    :func:`available`.

    Shapes
    ------
    log_f, mag : ``(n,)`` float64, contiguous (log10 of the checked grid; ``numpy.abs`` of h).
    h : ``(n,)`` complex128, contiguous.
    """
    global _scratch
    ffi, lib = _loaded
    s = _scratch
    if s is None:
        s = _scratch = _Scratch(ffi)
    n = mag.shape[0]
    if s.turns.shape[0] < n:
        s.turns = np.empty(n)
        s.turns_p = ffi.from_buffer("double[]", s.turns)
    code = lib.measure_ac(ffi.from_buffer("double[]", log_f), ffi.from_buffer("double[]", mag),
                          ffi.from_buffer("double[]", h), n, tolerance, cubic, s.turns_p,
                          s.out_p, s.at_p)
    out = s.out.tolist()
    return code, out[0], out[1], out[2], out[3], int(s.at[0])
