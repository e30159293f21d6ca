"""Batched round trips: chunks of jobs per message, a deadline per job, the rest re-queued."""

import math
import os
import signal
import threading
import time

import numpy as np
import pytest

from circuits import Failure
from circuits.engine import Job
from circuits.pool import MAX_CHUNK, WorkerPool

# a relaxation oscillator has no DC solution: ngspice's operating point never ends
HANG = Job("hang", "* hang\nB1 n1 0 V=1-u(v(n2)-0.5)\nR2 n1 n2 1k\nC2 n2 0 1n\n.op\n.end\n",
           {}, (("op", "n1"),))


def _rc(r: float) -> Job:
    netlist = f"* rc\nV1 in 0 DC 0 AC 1\nR1 in out {r}\nC1 out 0 1n\n.ac dec 5 1e3 1e7\n.end\n"
    return Job(f"rc{r}", netlist, {}, (("ac", "frequency"), ("ac", "out")))


def _corner(raw) -> float:
    """The -3 dB frequency of an RC job's answer (Hz)."""
    f = np.real(raw.vectors[("ac", "frequency")])
    return float(np.interp(1 / math.sqrt(2), abs(raw.vectors[("ac", "out")])[::-1], f[::-1]))


def _check_rc(raws, rs):
    for r, raw in zip(rs, raws, strict=True):
        assert raw.failure is None, raw.message
        assert _corner(raw) == pytest.approx(1 / (2 * math.pi * r * 1e-9), rel=0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_hanging_job_in_a_batch_times_out_and_the_others_return_in_order(workers):
    rs = [1e3 * (1 + i) for i in range(12)]
    jobs = [_rc(r) for r in rs[:6]] + [HANG] + [_rc(r) for r in rs[6:]]
    timeout = 2.0
    with WorkerPool(workers, timeout=timeout) as pool:
        start = time.monotonic()
        raws = pool.run_many(jobs)
        elapsed = time.monotonic() - start
        assert raws[6].failure is Failure.TIMEOUT
        _check_rc(raws[:6] + raws[7:], rs)
        assert pool.restarts == 1
        assert elapsed < timeout + 10  # one deadline, not one per job queued behind it
        _check_rc(pool.run_many([_rc(r) for r in rs[:3]]), rs[:3])  # the pool goes on


def test_two_hanging_jobs_each_get_their_own_deadline():
    jobs = [_rc(1e3), HANG, _rc(2e3), HANG, _rc(3e3)]
    with WorkerPool(1, timeout=1.5) as pool:
        raws = pool.run_many(jobs)
    assert [r.failure for r in raws] == [None, Failure.TIMEOUT, None, Failure.TIMEOUT, None]
    _check_rc([raws[0], raws[2], raws[4]], [1e3, 2e3, 3e3])


def test_a_worker_killed_mid_batch_fails_its_job_only():
    rs = [1e3 * (1 + i) for i in range(8)]
    jobs = [_rc(r) for r in rs[:3]] + [HANG] + [_rc(r) for r in rs[3:]]
    with WorkerPool(1, timeout=60) as pool:
        pool.run(_rc(1e3))
        pid = pool.worker_pids()[0]
        killer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))
        killer.start()
        start = time.monotonic()
        raws = pool.run_many(jobs)
        killer.join()
        assert time.monotonic() - start < 30  # not the 60 s timeout
    assert raws[3].failure is Failure.ENGINE and "died" in raws[3].message
    _check_rc(raws[:3] + raws[4:], rs)


def test_a_netlist_that_fails_to_load_fails_every_job_of_its_chunk_alike():
    # ngspice cannot recover from this one: each answer restarts the worker, and the jobs
    # queued behind it go to the next worker, with the netlist sent again
    bad = Job("bad", "* bad\nR1 in out {nosuch}\n.op\n.end\n", {}, (("op", "out"),))
    jobs = [bad] * 3 + [_rc(1e3)]
    with WorkerPool(1, timeout=20) as pool:
        raws = pool.run_many(jobs)
        assert pool.restarts == 3
    assert all(r.failure is Failure.NETLIST for r in raws[:3]), [r.message for r in raws]
    assert all("not sent" not in r.message for r in raws[:3])
    _check_rc(raws[3:], [1e3])


def test_chunks_shrink_towards_the_end_of_a_batch():
    pool = WorkerPool(2, timeout=20)
    try:
        assert pool._chunk(10_000) == MAX_CHUNK
        assert pool._chunk(40) == 10
        assert pool._chunk(3) == 1
    finally:
        pool.close()


class _Recorded(list):
    """A job list that records, for each job the pool reads, how many answers had come."""

    def __init__(self, jobs, answered):
        super().__init__(jobs)
        self.answered = answered
        self.read_at: dict[int, int] = {}

    def __getitem__(self, i):
        self.read_at.setdefault(i, len(self.answered))
        return super().__getitem__(i)


def test_jobs_are_read_chunk_by_chunk_and_a_ready_answer_is_passed_through():
    from circuits.engine import Raw

    rs = [1e3 * (1 + i) for i in range(3 * MAX_CHUNK)]
    answered: list[int] = []
    refused = Raw(vectors={}, failure=Failure.INVALID_PARAMETER, message="not simulated")
    jobs = _Recorded([_rc(r) for r in rs[:5]] + [refused] + [_rc(r) for r in rs[5:]], answered)

    def finish(i, raw):
        answered.append(i)
        return raw

    with WorkerPool(1, timeout=60) as pool:
        raws = pool.run_many(jobs, finish)
    assert raws[5] is refused  # answered as it is, in its place
    _check_rc(raws[:5] + raws[6:], rs)
    # the last jobs were read (built, for a lazy list) after the first answers had come back
    assert jobs.read_at[len(jobs) - 1] > 0 and jobs.read_at[0] == 0
