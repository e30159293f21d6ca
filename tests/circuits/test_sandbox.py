"""Worker sandbox: no program starts from a worker, scratch directories, death with the parent."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from circuits import sandbox
from circuits.sandbox import SandboxError

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="seccomp is Linux's")

# a relaxation oscillator has no DC solution: ngspice's operating point never ends (a deck
# written here, run as a raw engine job)
HANG = "* hang\nB1 n1 0 V=1-u(v(n2)-0.5)\nR2 n1 n2 1k\nC2 n2 0 1n\n.op\n.end\n"


# -- the BPF program, run by a small interpreter of the instructions it uses ----------------------

def _run_bpf(prog, nr, arch):
    data = {0: nr, 4: arch}
    acc, pc = 0, 0
    for _ in range(100):
        code, jt, jf, k = prog[pc]
        if code == 0x20:  # ld [k]
            acc = data[k]
            pc += 1
        elif code in (0x15, 0x35):  # jeq / jge k
            hit = acc == k if code == 0x15 else acc >= k
            pc += 1 + (jt if hit else jf)
        elif code == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
    raise AssertionError("the program does not end")


EPERM = 0x00050000 | errno.EPERM
ALLOW, KILL = 0x7FFF0000, 0x80000000


@pytest.mark.parametrize(("machine", "audit", "execve", "execveat", "read"), [
    ("x86_64", 0xC000003E, 59, 322, 0), ("aarch64", 0xC00000B7, 221, 281, 63)])
def test_filter_program_denies_exec_only_and_kills_foreign_abis(machine, audit, execve,
                                                                execveat, read):
    prog = sandbox.program(machine=machine)
    assert _run_bpf(prog, execve, audit) == EPERM
    assert _run_bpf(prog, execveat, audit) == EPERM
    for nr in (read, 1, 56, 57, 220, 435):  # read, fork/clone on either, clone3
        if nr not in (execve, execveat):
            assert _run_bpf(prog, nr, audit) == ALLOW, nr
    assert _run_bpf(prog, execve, 0x40000003) == KILL  # i386 / arm ABI
    assert _run_bpf(prog, read, 0x40000028) == KILL
    if machine == "x86_64":  # x32 ABI calls (execve is 520 there)
        assert _run_bpf(prog, 0x40000000 + 520, audit) == EPERM


def test_unsupported_architecture_is_a_typed_error():
    with pytest.raises(SandboxError, match="riscv64"):
        sandbox.program(machine="riscv64")
    with pytest.raises(SandboxError, match="no system-call number"):
        sandbox.program(["open"], machine="x86_64")


# -- a real worker -----------------------------------------------------------------------------

def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@linux_only
def test_shell_command_in_a_worker_starts_nothing_and_simulations_still_work(tmp_path):
    from circuits import Simulator

    canary = tmp_path / "CANARY"
    with Simulator(workers=1, timeout=20) as sim:
        assert sim.simulate("two_stage", "45nm").ok
        pid = sim.pool.worker_pids()[0]
        assert sandbox.status(pid)["Seccomp"] == "2" and sandbox.status(pid)["NoNewPrivs"] == "1"
        assert sim.sandboxed
        scratch = Path(os.readlink(f"/proc/{pid}/cwd"))
        assert scratch != Path.cwd() and scratch.name.startswith("circuits-worker-")
        sim.pool._command(f"shell touch {canary}")
        time.sleep(0.2)
        assert not canary.exists()
        res = sim.simulate("two_stage", "45nm")
        assert res.ok and sim.pool.worker_pids() == [pid]  # the same worker, still serving
        # a backquote: ngspice's popen fails, and ngspice crashes on that (not checked for
        # NULL); nothing runs, the worker is replaced, the next simulation works
        sim.pool._command(f"echo `touch {canary}`")
        time.sleep(0.2)
        assert not canary.exists()
        assert sim.simulate("two_stage", "45nm").ok
    assert not scratch.exists()  # removed with the worker


def test_a_spiceinit_in_the_callers_directory_is_not_read(tmp_path, monkeypatch):
    from circuits.engine import NgspiceSession
    from circuits.pool import WorkerPool

    (tmp_path / ".spiceinit").write_text("* start-up file\nset mark=read\n")
    monkeypatch.chdir(tmp_path)
    assert NgspiceSession()._command("echo $mark") == "read"  # ngspice reads it from the cwd
    with WorkerPool(1, timeout=20) as pool:
        assert "no such variable" in pool._command("echo $mark")
        scratch = Path(pool._workers[0].scratch)
        assert scratch.is_dir() and scratch.parent != tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == [".spiceinit"]


@linux_only
def test_the_same_shell_command_runs_without_the_sandbox(tmp_path):
    # the control experiment: the command above does start a program in an unfiltered worker
    from circuits import Simulator

    canary = tmp_path / "CANARY"
    with Simulator(workers=1, timeout=20, sandbox=False) as sim:
        sim.pool._command(f"shell touch {canary}")
        assert canary.exists()
        canary.unlink()
        assert sim.pool._command(f"echo `touch {canary}; echo ran`") == "ran"
        assert canary.exists()
        assert not sim.sandboxed
        pid = sim.pool.worker_pids()[0]
        assert sandbox.status(pid)["Seccomp"] == "0"


@linux_only
def test_a_worker_that_cannot_install_the_filter_refuses_to_start(tmp_path):
    # the parent forbids the seccomp call for itself and its children (as an old kernel would)
    script = tmp_path / "no_seccomp.py"
    script.write_text(textwrap.dedent("""
        import errno
        from circuits import Simulator, SandboxError
        from circuits.sandbox import install_filter
        install_filter(["seccomp"], errno.ENOSYS)
        with Simulator(workers=1, timeout=20) as sim:
            try:
                sim.simulate("two_stage", "45nm")
                print("ran unprotected")
            except SandboxError as exc:
                print("refused:", exc)
        with Simulator(workers=1, timeout=20, sandbox=False) as sim:
            print("unsandboxed:", sim.simulate("two_stage", "45nm").ok, sim.sandboxed)
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("refused:") and "seccomp" in lines[0], lines
    assert lines[1] == "unsandboxed: True False"


PARENT = """
import sys, threading
from circuits import Simulator
from circuits.engine import Job
sim = Simulator(workers=1, timeout=600)
def start():
    assert sim.simulate("two_stage", "45nm").ok
if {from_thread}:  # no parent-death signal then: the watchdog alone must end the worker
    t = threading.Thread(target=start); t.start(); t.join()
else:
    start()
pid = sim.pool.worker_pids()[0]
print(pid, sim.pool._workers[0].scratch, flush=True)
sim.run_jobs([Job("hang", {hang!r}, {{}}, (("op", "n1"),))])  # never returns
"""


@linux_only
@pytest.mark.parametrize(("sig", "from_thread"), [
    (signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGKILL, True)])
def test_workers_die_with_their_parent(tmp_path, sig, from_thread):
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(hang=HANG, from_thread=from_thread))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = parent.stdout.readline().split()
        assert line, parent.stderr.read()[-2000:]
        pid, scratch = int(line[0]), Path(line[1])
        time.sleep(1.0)  # the hanging simulation is under way
        assert parent.poll() is None, "the parent must still be waiting for its worker"
        assert _alive(pid) and psutil.Process(pid).ppid() == parent.pid
        parent.send_signal(sig)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the worker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
    sandbox.sweep_stale_scratch()  # what a killed parent left, the next pool removes
    assert not scratch.exists()


@linux_only
def test_a_worker_started_from_a_finished_thread_keeps_serving():
    # the parent-death signal follows the starting thread: it must not kill this worker
    from circuits import Simulator

    with Simulator(workers=1, timeout=20) as sim:
        t = threading.Thread(target=lambda: sim.simulate("two_stage", "45nm"))
        t.start()
        t.join()
        pid = sim.pool.worker_pids()[0]
        time.sleep(0.3)
        assert sim.simulate("two_stage", "45nm").ok
        assert sim.pool.worker_pids() == [pid] and sim.pool.restarts == 0


def test_stale_scratch_folders_of_dead_parents_are_swept(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f"circuits-worker-{dead}-abc"
    mine = Path(sandbox.make_scratch())
    other = tmp_path / "circuits-worker-notapid"
    for d in (stale, other):
        d.mkdir()
    (stale / "left.raw").write_text("x")
    assert sandbox.sweep_stale_scratch() == 1
    assert not stale.exists() and mine.exists() and other.exists()
    sandbox.remove_scratch(str(mine))
    assert not mine.exists()
