"""The compiled fast path of a simulation worker (circuits.native): built by ``make setup``,
used only when built from the current source, and equal to the Python forms bit for bit."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from circuits import native
from circuits.results import MeasurementError, ac_values


def test_the_fast_path_is_built_from_the_current_source():
    assert native.LIBRARY.is_file(), "circuits/native/libfastpath.so is missing: run make setup"
    assert native.available(), "the library was built from another fastpath.c: run make setup"


def test_a_library_built_from_another_source_is_not_used(monkeypatch):
    monkeypatch.setattr(native, "_tried", False)
    monkeypatch.setattr(native, "_loaded", None)
    monkeypatch.setattr(native, "source_hash", lambda: "0" * 64)
    assert native.load() is None and not native.available()


def _responses(rng, count):
    for _ in range(count):
        f = np.logspace(-1, 11, 12 * int(rng.integers(2, 25)) + 1)
        s = 1j * f
        h = 10 ** rng.uniform(-1, 5) / ((1 + s / 10 ** rng.uniform(0, 4))
                                       * (1 + s / 10 ** rng.uniform(5, 9))
                                       * (1 + s / 10 ** rng.uniform(6, 10)))
        if rng.random() < 0.3:  # a resonance: several crossings
            w0, q = 10 ** rng.uniform(7, 10), rng.uniform(0.5, 20)
            h = h * w0**2 / (s**2 + s * w0 / q + w0**2) * rng.uniform(0.5, 3)
        if rng.random() < 0.05:
            h = -h  # inverted
        if rng.random() < 0.03:
            h = h.copy()
            h[int(rng.integers(0, h.size))] = rng.choice([np.nan, np.inf, 0.0])
        yield f, h


def _measured(f, h, interpolation):
    try:
        return ac_values(f, h, interpolation)
    except MeasurementError as exc:
        return str(exc)


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
def test_the_compiled_measurement_equals_the_python_form_bit_for_bit(interpolation,
                                                                   monkeypatch):
    assert native.available()
    cases = list(_responses(np.random.default_rng(3), 1500))
    compiled = [_measured(f, h, interpolation) for f, h in cases]
    monkeypatch.setattr(native, "available", lambda: False)
    python = [_measured(f, h, interpolation) for f, h in cases]
    assert compiled == python
    kinds = {type(r).__name__ if isinstance(r, str) else ("none" if r[1] is None else "ok")
             for r in compiled}
    assert kinds == {"str", "none", "ok"}  # errors, responses without a crossing, crossings
    assert sum(isinstance(r, tuple) and r[1] is not None for r in compiled) > 1000


READ = r"""
import json
from circuits import BenchSettings, OpenLoopBench, get_amplifier, get_technology, native
from circuits.engine import NgspiceSession

amp, tech = get_amplifier("two_stage"), get_technology("45nm")
bench = OpenLoopBench(amp, tech, BenchSettings(detail="full"))
session = NgspiceSession()
base = bench.check({})
out = {"native": native.available(), "runs": []}
extra = (("op", "nosuch"), ("op", "@m.x1.nosuch[gm]"))  # missing: reported, not read
for scale in (1.0, 1.1, 0.9):
    job = bench.job(bench.check({k: v * scale for k, v in base.items()}))
    raw = session.run(job)
    assert raw.failure is None, raw.message
    session._command("run")  # the same sizing again, its plots kept for a second read
    found, bad = session._read(session._plots(), job.vectors + extra)
    session._command("destroy all")
    out["runs"].append({
        "values": {f"{a}:{n}": (v.tobytes().hex() if hasattr(v, "tobytes") else v.hex())
                   for (a, n), v in sorted(raw.vectors.items())},
        "again": {f"{a}:{n}": (v.tobytes().hex() if hasattr(v, "tobytes") else v.hex())
                  for (a, n), v in sorted(found.items())},
        "bad": bad})
print(json.dumps(out))
"""


def _read_in_a_process(native_on: bool) -> dict:
    env = {**os.environ, "CIRCUITS_NATIVE": "1" if native_on else "0"}
    proc = subprocess.run([sys.executable, "-c", READ], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_compiled_read_equals_the_read_one_by_one_bit_for_bit():
    compiled, python = _read_in_a_process(True), _read_in_a_process(False)
    assert compiled["native"] and not python["native"]
    assert compiled["runs"] == python["runs"]
    for run in compiled["runs"]:
        assert len(run["values"]) == 68 and run["again"] == run["values"]
        assert run["bad"] == ["op:nosuch", "op:@m.x1.nosuch[gm]"]
