"""Defence in depth for ngspice worker processes (Linux): no program starts, a scratch directory,
death with the parent.

A user netlist is checked and rewritten before ngspice sees it (:mod:`circuits.netlist`); this
module protects against what that check might miss, inside each worker process of
:mod:`circuits.pool`:

* :func:`forbid_exec` installs a seccomp filter (a small classic-BPF program written here with
  :mod:`ctypes`, no library needed) under which ``execve`` and ``execveat`` fail with ``EPERM``
  for the process and every thread it has or will start. ngspice's ``shell`` command, a
  backquote in a string, ``popen`` or ``system`` cannot start a program: the fork succeeds, the
  program does not. The filter checks the system-call architecture first: a call through a
  foreign ABI (32-bit ``int 0x80`` on x86_64, AArch32 on aarch64) kills the process, and on
  x86_64 every x32-ABI call fails with ``EPERM``. Supported: x86_64 and aarch64. Where seccomp is
  unavailable (not Linux, another architecture, a kernel that refuses the filter) it raises
  :class:`SandboxError`; it never returns leaving the process unprotected.
* :func:`watch_parent` makes the worker die with the process that started it: the kernel's
  parent-death signal (``PR_SET_PDEATHSIG`` = ``SIGKILL``, with the ``getppid`` race checked),
  and a watchdog thread that waits on the parent's process sentinel (a pipe whose other end only
  the parent holds) and ends the worker when it closes, whatever killed the parent.
* :func:`make_scratch` / :func:`remove_scratch` give each worker a fresh working directory,
  so that nothing ngspice writes or reads by relative path (including a ``.spiceinit`` file)
  touches the caller's directory; :func:`sweep_stale_scratch` removes those of workers whose
  parent was killed before it could clean up.

Used by the section "The simulation engine" of the book chapter "Circuits, process models and
simulation" (through :class:`circuits.Simulator`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CircuitsError


class SandboxError(CircuitsError, RuntimeError):
    """The worker sandbox (seccomp filter against starting programs) cannot be installed here."""


# -- the seccomp filter ---------------------------------------------------------------------------

# linux/filter.h (classic BPF)
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
# linux/seccomp.h
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_SET_MODE_FILTER = 1
_FILTER_FLAG_TSYNC = 1
# struct seccomp_data: int nr; __u32 arch; ...
_OFFSET_NR, _OFFSET_ARCH = 0, 4
# linux/prctl.h
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_X32_SYSCALL_BIT = 0x40000000


@dataclass(frozen=True)
class _Arch:
    """System-call facts of one architecture (linux/audit.h and the syscall tables).

    Attributes
    ----------
    audit : ``AUDIT_ARCH_*`` value that ``seccomp_data.arch`` holds for native calls.
    seccomp : number of the ``seccomp`` system call.
    calls : numbers of the calls a filter may name (``execve``, ``execveat`` start a program).
    x32 : whether the x32 ABI (calls numbered from ``0x40000000``) shares the arch value.
    """

    audit: int
    seccomp: int
    calls: dict[str, int]
    x32: bool = False


_ARCHES = {
    "x86_64": _Arch(audit=0xC000003E, seccomp=317,
                    calls={"execve": 59, "execveat": 322, "seccomp": 317}, x32=True),
    "aarch64": _Arch(audit=0xC00000B7, seccomp=277,
                     calls={"execve": 221, "execveat": 281, "seccomp": 277}),
}
_ARCHES["amd64"] = _ARCHES["x86_64"]
_ARCHES["arm64"] = _ARCHES["aarch64"]

#: The system calls the worker filter makes fail (with ``EPERM``).
FORBIDDEN = ("execve", "execveat")


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _arch(machine: str | None = None) -> _Arch:
    """The system-call facts of ``machine`` (default: this one)."""
    name = (machine or platform.machine()).lower()
    if name not in _ARCHES:
        raise SandboxError(f"the worker sandbox supports x86_64 and aarch64, not {name!r}")
    return _ARCHES[name]


def program(calls: Sequence[str] = FORBIDDEN, machine: str | None = None,
            error: int = errno.EPERM) -> list[tuple[int, int, int, int]]:
    """The classic-BPF seccomp program that makes ``calls`` fail with ``error``.

    Layout (``n`` checks)::

        0        ld  [arch]
        1        jeq AUDIT_ARCH, next, kill        a foreign ABI kills the process
        2        ld  [nr]
        3..2+n   jge X32_BIT / jeq NR_i -> deny    (the x32 check on x86_64 only)
        3+n      ret ALLOW
        4+n      ret ERRNO | error              deny
        5+n      ret KILL_PROCESS              kill

    Returns
    -------
    list of ``(code, jt, jf, k)`` instructions (jumps relative to the next instruction).

    Raises
    ------
    SandboxError
        For an unsupported architecture or an unknown call name.
    """
    arch = _arch(machine)
    unknown = [c for c in calls if c not in arch.calls]
    if unknown:
        raise SandboxError(f"no system-call number known for {unknown}")
    checks: list[tuple[int, int]] = [(_BPF_JGE_K, _X32_SYSCALL_BIT)] if arch.x32 else []
    checks += [(_BPF_JEQ_K, arch.calls[c]) for c in calls]
    n = len(checks)
    deny, kill = 4 + n, 5 + n  # ALLOW sits at 3 + n
    prog = [(_BPF_LD_W_ABS, 0, 0, _OFFSET_ARCH),
            (_BPF_JEQ_K, 0, kill - 2, arch.audit),
            (_BPF_LD_W_ABS, 0, 0, _OFFSET_NR)]
    for i, (code, k) in enumerate(checks):
        prog.append((code, deny - (3 + i) - 1, 0, k))
    prog += [(_BPF_RET_K, 0, 0, _RET_ALLOW), (_BPF_RET_K, 0, 0, _RET_ERRNO | (error & 0xFFFF)),
             (_BPF_RET_K, 0, 0, _RET_KILL_PROCESS)]
    return prog


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def install_filter(calls: Sequence[str] = FORBIDDEN, error: int = errno.EPERM) -> None:
    """Make ``calls`` fail with ``error`` in this process and all its threads, for good.

    Sets ``PR_SET_NO_NEW_PRIVS`` (needed to install a filter without privileges; it also keeps
    a set-user-ID program from gaining any), then ``seccomp(SECCOMP_SET_MODE_FILTER,
    SECCOMP_FILTER_FLAG_TSYNC)`` so that every thread of the process gets the filter; threads
    and children started later inherit it. It cannot be removed.

    Raises
    ------
    SandboxError
        Not Linux, an unsupported architecture, or the kernel refused (the reason is given).
    """
    if sys.platform != "linux":
        raise SandboxError(f"the worker sandbox needs Linux (seccomp), not {sys.platform}")
    arch = _arch()
    prog = program(calls, error=error)
    filters = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), filters)
    libc = _libc()
    if libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}")
    rc = libc.syscall(ctypes.c_long(arch.seccomp), ctypes.c_long(_SET_MODE_FILTER),
                      ctypes.c_long(_FILTER_FLAG_TSYNC), ctypes.byref(fprog))
    if rc != 0:
        err = ctypes.get_errno()
        why = (f"thread {rc} could not be synchronised" if rc > 0
               else os.strerror(err) or f"errno {err}")
        raise SandboxError(f"the kernel refused the seccomp filter ({why}); workers cannot be "
                           "kept from starting programs on this machine")


def forbid_exec() -> None:
    """Install the worker filter: ``execve`` and ``execveat`` fail with ``EPERM`` from now on.

    Raises
    ------
    SandboxError
        When the filter cannot be installed (see :func:`install_filter`).
    """
    install_filter(FORBIDDEN, errno.EPERM)
    seen = status()
    if seen and seen.get("Seccomp") != "2":  # where /proc is mounted, confirm the mode
        raise SandboxError("the seccomp filter was accepted but /proc/self/status does not "
                           "show filter mode")


def status(pid: int | str = "self") -> dict[str, str]:
    """``NoNewPrivs``, ``Seccomp`` and ``Seccomp_filters`` of a process, from ``/proc``.

    ``Seccomp`` is ``"2"`` for a process under a filter. Empty where ``/proc`` is missing.
    """
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("NoNewPrivs", "Seccomp", "Seccomp_filters"):
                out[key] = value.strip()
    return out


# -- dying with the parent -------------------------------------------------------------------------

def watch_parent(parent_pid: int, sentinel: int | None, use_pdeathsig: bool,
                 scratch: str | None = None) -> None:
    """End this process when its parent ends, whether or not the parent could clean up.

    * ``use_pdeathsig``: the kernel sends ``SIGKILL`` when the parent ends. The signal follows
      the parent *thread* that started this process, so the pool asks for it only for workers
      started from the main thread (a worker started from a short-lived thread would die with
      that thread). If the parent ended before the request, this process ends at once.
    * ``sentinel``: a file descriptor that becomes readable when the parent ends
      (``multiprocessing.parent_process().sentinel``); a daemon thread waits on it, then removes
      ``scratch`` and ends the process with ``os._exit``. It works while the main thread is
      inside ngspice, which runs without the GIL.
    """
    if use_pdeathsig and sys.platform == "linux":
        _libc().prctl(ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL),
                      ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if os.getppid() != parent_pid:  # the parent ended before the signal was asked for
        remove_scratch(scratch)
        os._exit(1)
    if sentinel is None:
        return

    def watchdog() -> None:
        from multiprocessing.connection import wait

        with contextlib.suppress(OSError, ValueError):
            wait([sentinel])
        remove_scratch(scratch)
        os._exit(1)

    threading.Thread(target=watchdog, name="parent-watchdog", daemon=True).start()


# -- scratch directories -------------------------------------------------------------------------

_SCRATCH_PREFIX = "circuits-worker-"
_SCRATCH = re.compile(rf"^{_SCRATCH_PREFIX}(\d+)-")


def make_scratch() -> str:
    """A fresh private directory (mode 700) in the temporary directory for one worker.

    Its name carries this (the parent's) process id, for :func:`sweep_stale_scratch`.
    """
    return tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-")


def remove_scratch(path: str | None) -> None:
    """Remove a worker's scratch directory and what it holds (missing is fine)."""
    if path:
        shutil.rmtree(path, ignore_errors=True)


def sweep_stale_scratch() -> int:
    """Remove scratch directories of this user whose parent process no longer exists.

    They remain when a parent was killed before its workers' watchdogs could remove them.
    Returns how many were removed.
    """
    removed = 0
    root = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            m = _SCRATCH.match(entry.name)
            if not m or entry.is_symlink() or not entry.is_dir():
                continue
            with contextlib.suppress(OSError):
                if entry.stat().st_uid != os.getuid() or _alive(int(m.group(1))):
                    continue
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
