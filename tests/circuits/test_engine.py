"""The lean re-simulation path: alters joined into few command lines, values read on demand.

Two facts about ngspice 39 shape the path, and are checked here against ngspice itself: one
``alter`` with two values sets only the first, and a command line over about 1 kB is not run as
written (its end lost, or worse), without an error.
"""

import dataclasses

import numpy as np
import pytest

from circuits import BenchSettings, get_amplifier
from circuits.engine import MAX_COMMAND, CommandError, Job, chain_alters
from circuits.pool import WorkerPool

DIVIDER = ("* divider\nV1 in 0 DC 1\nR1 in out 1k\nR2 out 0 1k\n"
           "M1 in out 0 0 nm W=1u L=1u\n.model nm nmos level=1\n.op\n.end\n")
READ = (("op", "out"), ("op", "@m1[w]"), ("op", "@m1[l]"))


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(1, timeout=20) as p:
        yield p


def _run(pool, alters=()):
    raw = pool.run(Job("divider", DIVIDER, {}, READ, tuple(alters)))
    assert raw.failure is None, raw.message
    return raw.vectors


def test_chain_alters_joins_commands_under_the_line_limit():
    alters = [f"m.x1.m{i} w={i}e-06" for i in range(200)]
    lines = chain_alters(alters)
    assert 1 < len(lines) < 20
    assert all(len(line) <= MAX_COMMAND for line in lines)
    assert ";".join(lines).split(";") == [f"alter {a}" for a in alters]  # all, in order
    assert chain_alters([]) == []
    assert chain_alters(["r.x1.r1 resistance=1000"]) == ["alter r.x1.r1 resistance=1000"]


@pytest.mark.parametrize("bad", ["m.x1.m1 w=1e-06 l=2e-07", "m.x1.m1", "r1 r=1; shell ls",
                                 "r1 r=1\nrun", "r1 r=" + "1" * MAX_COMMAND,
                                 "r1 r=1;alter r2 r=2", "r1 r=1;"])
def test_chain_alters_refuses_what_ngspice_would_get_wrong(bad):
    with pytest.raises(CommandError):
        chain_alters(["r.x1.r2 resistance=5", bad])


def test_chain_alters_one_line_check_agrees_with_the_check_of_each_alter():
    """The line that fits is checked at once; the same alters over a short limit are checked
    one by one: both accept and refuse the same lists, and join them the same way."""
    rng = np.random.default_rng(0)
    words = ["m.x1.m1 w=1e-06", "r1 r=1", "=", ";", "\n", "a", "b=c=d", "", "alter x=1"]
    for _ in range(3000):
        alters = [str(w) for w in rng.choice(words, size=int(rng.integers(1, 5)))]
        outcomes = []
        for limit in (MAX_COMMAND, 40):
            try:
                outcomes.append(";".join(chain_alters(alters, limit)).split(";"))
            except CommandError:
                outcomes.append(None)
        assert outcomes[0] == outcomes[1], alters


def test_a_job_unpacked_from_its_fields_equals_the_job():
    fields = tuple(f.name for f in dataclasses.fields(Job))
    job = Job("k", "* deck\n.end\n", {"w1": 1e-6}, (("op", "out"),), ("r1 r=5",), None)
    packed = tuple(getattr(job, name) for name in fields)
    twin = Job.unpack(packed)
    assert twin == job and type(twin) is Job
    with pytest.raises(dataclasses.FrozenInstanceError):
        twin.key = "other"


def test_ngspice_alter_with_two_values_sets_only_the_first(pool):
    before = _run(pool)
    assert before[("op", "@m1[w]")] == pytest.approx(1e-6)
    assert before[("op", "@m1[l]")] == pytest.approx(1e-6)
    pool._command("alter m1 w=2u l=3u")
    after = _run(pool)
    assert after[("op", "@m1[w]")] == pytest.approx(2e-6)
    assert after[("op", "@m1[l]")] == pytest.approx(1e-6)  # l=3u was dropped silently
    pool._command("alter m1 w=1u")


def test_ngspice_loses_the_end_of_a_command_line_over_1kb():
    filler = ["alter r1 resistance=1000"] * 44  # 44 x 25 bytes: over 1 kB with the last one
    with WorkerPool(1, timeout=20) as own:  # a line too long may corrupt the session
        short = ";".join([*filler[:30], "alter r2 resistance=3000"])
        assert len(short) < 1000
        _run(own)
        own._command(short)
        assert _run(own)[("op", "out")] == pytest.approx(0.75, abs=2e-3)  # r2 was set
        own._command("alter r2 resistance=1000")
        line = ";".join([*filler, "alter r2 resistance=3000"])
        assert len(line) > 1024
        own._command(line)
        raw = own.run(Job("divider", DIVIDER, {}, READ))
        # not what the line says: seen with ngspice 39, r2 not set (0.5 V), another value
        # set (1 mV), or the session's circuit gone
        assert raw.failure is not None or \
            raw.vectors[("op", "out")] != pytest.approx(0.75, abs=2e-3)


def test_the_engine_splits_long_alter_lists_safely(pool):
    filler = ["r1 resistance=1000"] * 60
    assert len(";".join(f"alter {a}" for a in filler)) > 1024
    got = _run(pool, [*filler, "r2 resistance=3000"])
    assert got[("op", "out")] == pytest.approx(0.75, abs=2e-3)  # the last value was set
    got = _run(pool, [*filler, "r2 resistance=1000"])
    assert got[("op", "out")] == pytest.approx(0.5, abs=2e-3)


def test_joined_alters_give_the_same_vectors_as_one_command_each(pool):
    from circuits import OpenLoopBench, get_technology

    bench = OpenLoopBench(get_amplifier("two_stage"), get_technology("45nm"))
    p = bench.check({})
    rng = np.random.default_rng(11)
    q = {k: v * rng.uniform(0.85, 1.15) for k, v in p.items()}
    joined = dataclasses.replace(bench.job(q), key="ts-joined", finish=None)
    assert len(chain_alters(joined.alters)) < len(joined.alters)
    a = pool.run(joined)
    pool.run(dataclasses.replace(bench.job(p), key="ts-joined", finish=None))  # other values
    for alter in joined.alters:  # the same values, one command each
        assert pool._command(f"alter {alter}") == ""
    b = pool.run(dataclasses.replace(joined, params={}, alters=()))
    assert a.failure is None and b.failure is None
    assert a.vectors.keys() == b.vectors.keys()
    for name, value in a.vectors.items():
        np.testing.assert_array_equal(value, b.vectors[name], err_msg=str(name))
    assert 0 < a.ngspice_s < a.elapsed_s


def test_alter_templates_give_the_commands_of_the_expression_evaluator(sim):
    from circuits.netlist import evaluate

    bench = sim.bench("folded_cascode", "22nm")
    p = bench.check({})
    rng = np.random.default_rng(5)
    q = bench.check({k: v * rng.uniform(0.9, 1.1) for k, v in p.items()})
    expected = [f"{path} {k}={evaluate(e, q):.12g}"
                for path, fields in bench.alter_plan for k, e in fields.items()]
    assert list(bench.job(q).alters) == expected


def test_cached_checks_equal_the_amplifiers_checks(sim):
    from circuits import ParameterError

    bench = sim.bench("three_stage_nmc", "90nm")
    amp, tech = bench.amp, bench.tech
    p = amp.check({}, tech)
    cases = [{}, {k: v * 1.05 for k, v in p.items()}, {next(iter(p)): np.float64(1e-6)},
             {next(iter(p)): "2e-6"}]
    for c in cases:
        try:
            want = amp.check(c, tech)
        except ParameterError as exc:
            with pytest.raises(ParameterError, match=str(exc)[:30]):
                bench.check(c)
        else:
            assert bench.check(c) == want
    for bad in (float("nan"), float("inf"), 1e9, "wide", None, -1.0):
        name = next(iter(p))
        with pytest.raises(ParameterError) as want:
            amp.check({name: bad}, tech)
        with pytest.raises(ParameterError) as got:
            bench.check({name: bad})
        assert str(got.value) == str(want.value)


@pytest.mark.parametrize(("circuit", "tech"), [("two_stage", "45nm"), ("folded_cascode", "180nm"),
                                               ("three_stage_nmc", "22nm")])
def test_values_read_on_demand_equal_the_full_read(sim, circuit, tech):
    amp = get_amplifier(circuit)
    p = amp.check({}, tech)
    rng = np.random.default_rng(2)
    sizings = [p] + [{k: v * rng.uniform(0.9, 1.1) for k, v in p.items()} for _ in range(4)]
    sizings = [sim.bench(circuit, tech).check(s) for s in sizings]
    by = {d: sim.simulate_many(circuit, tech, sizings, BenchSettings(detail=d))
          for d in ("metrics", "devices", "full")}
    full_bench = sim.bench(circuit, tech, BenchSettings(detail="full"))
    # the full read of raw vectors, turned into results in this process
    raws = sim.run_jobs([dataclasses.replace(full_bench.job(s), key=full_bench.key + "-raw",
                                             finish=None) for s in sizings])
    direct = [full_bench.result(raw, s) for raw, s in zip(raws, sizings, strict=True)]
    assert all(r.ok for r in direct)
    for i, ref in enumerate(direct):
        for d, results in by.items():
            r = results[i]
            assert r.ok, r.reason
            assert (r.gain_db, r.ugbw_hz, r.pm_deg, r.power_w) == \
                (ref.gain_db, ref.ugbw_hz, ref.pm_deg, ref.power_w), d
            assert r.node_voltages == ref.node_voltages, d
            if d == "metrics":
                assert r.devices == {} and r.frequency is None and not r.all_saturated
            else:
                assert r.devices == ref.devices and r.all_saturated == ref.all_saturated
            if d == "full":
                np.testing.assert_array_equal(r.frequency, ref.frequency)
                np.testing.assert_array_equal(r.response, ref.response)
            else:
                assert r.response is None
        assert ref.devices and ref.fom is not None
        assert by["devices"][i].fom == ref.fom == by["metrics"][i].fom


def test_the_default_detail_keeps_what_the_sizing_environments_use(sim):
    r = sim.simulate("two_stage", "45nm")
    assert r.ok and r.devices and r.all_saturated and r.node_voltages
    assert r.fom == pytest.approx(1.0, rel=1e-9)
    assert r.frequency is not None and r.response is not None
    assert BenchSettings().detail == "full"
    with pytest.raises(Exception, match="detail"):
        BenchSettings(detail="everything")


def test_a_failure_reason_gives_the_lines_ngspice_writes_after_error_on_line(pool):
    # ngspice writes "Error on line 4 ...:", then the line, then the cause on lines of their own
    deck = ("* a bad value in the title is not the reason\n.param rz=1000\nV1 a 0 DC 1\n"
            "R1 a 0 {1e9/(rz-1000)}\n.op\n.end\n")
    raw = pool.run(Job("bad-value", deck, {}, (("op", "a"),)))
    assert raw.failure == "netlist_error"
    assert raw.message.startswith("Error on line 4")
    assert "r1 a 0 inf" in raw.message and "unknown parameter (inf)" in raw.message


READ_BOTH_WAYS = r"""
import json, sys
import numpy as np
from circuits import BenchSettings, OpenLoopBench, get_amplifier, get_technology
from circuits.engine import NgspiceSession, chain_alters

amp, tech = get_amplifier("two_stage"), get_technology("45nm")
bench = OpenLoopBench(amp, tech, BenchSettings(detail="full"))
session = NgspiceSession()
base = bench.check({})
out = []
for scale in (1.0, 1.1):
    job = bench.job(bench.check({k: v * scale for k, v in base.items()}))
    raw = session.run(job)  # the engine's read: planned names, scalars straight from memory
    assert raw.failure is None, raw.message
    # the plain read: one look-up per vector in the order asked, every vector copied
    for line in chain_alters(job.alters):
        session._command(line)
    session._command("run")
    assert session._plots() == tuple(p.encode() for p in session._ng.plot_names)
    plots = {p.rstrip("0123456789"): p for p in session._ng.plot_names}
    plain = {}
    for analysis, name in job.vectors:
        info = session._lib.ngGet_Vec_Info(f"{plots[analysis]}.{name}".encode())
        plain[(analysis, name)] = session._array(info)
    session._command("destroy all")
    assert set(plain) == set(raw.vectors)
    for key, data in plain.items():
        got = np.atleast_1d(raw.vectors[key])
        assert got.dtype == data.dtype and got.tobytes() == data.tobytes(), key
    out.append(len(plain))
print(json.dumps(out))
"""


def test_the_engines_read_equals_a_plain_read_of_every_vector_bit_for_bit():
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", READ_BOTH_WAYS], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts == [4 + 5 + 1 + 8 * 7 + 2] * 2  # pins, internal nets, supply, 8 x 7, AC
