"""Real ngspice simulations: known answers, the four reference designs, failures, determinism."""

import dataclasses
import math
import time

import numpy as np
import pytest

from circuits import (
    Amplifier,
    BenchSettings,
    Failure,
    NetlistError,
    ParameterError,
    get_amplifier,
    get_technology,
    list_amplifiers,
)
from circuits.engine import Job
from circuits.testbench import OpenLoopBench

IDEAL_TWO_POLE = """
* two-pole amplifier of ideal transconductors
*@param gm1 resistance 1e-6 1 first-stage transconductance (S)
*@param gm2 resistance 1e-6 1 second-stage transconductance (S)
.subckt ideal2 inp inn out vdd vss gm1=1m gm2=2m
G1 vss n1 inp inn {gm1}
R1 n1 vss 100k
C1 n1 vss 10p
G2 vss out n1 vss {gm2}
R2 out vss 50k
.ends ideal2
"""


def _exact_two_pole(a1, p1, a2, p2):
    def h(f):
        return a1 * a2 / ((1 + 1j * f / p1) * (1 + 1j * f / p2))

    lo, hi = 1.0, 1e12
    for _ in range(300):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if abs(h(mid)) > 1 else (lo, mid)
    pm = 180 + math.degrees(np.angle(h(lo)))
    return 20 * math.log10(a1 * a2), lo, pm


def test_rc_lowpass_engine_vectors(sim):
    r, c = 1e3, 1e-9
    fc = 1 / (2 * math.pi * r * c)
    netlist = (f"* rc\nV1 in 0 DC 0 AC 1\nR1 in out {r}\nC1 out 0 {c}\n"
               ".ac dec 50 1e3 1e7\n.end\n")
    raw = sim.run_jobs([Job("rc", netlist, {}, (("ac", "frequency"), ("ac", "out")))])[0]
    assert raw.failure is None
    f = np.real(raw.vectors[("ac", "frequency")])
    h = raw.vectors[("ac", "out")]
    np.testing.assert_allclose(h, 1 / (1 + 2j * np.pi * f * r * c), rtol=1e-6)
    i = int(np.argmin(abs(np.log(f / fc))))
    assert abs(h[i]) == pytest.approx(1 / math.sqrt(2), rel=0.05)


@pytest.mark.parametrize(("gm1", "gm2"), [(1e-3, 2e-3), (4e-3, 0.5e-3), (1e-4, 8e-3)])
def test_ideal_two_pole_amplifier_metrics(sim, gm1, gm2):
    # gm1 and gm2 sit in the value fields of G elements: re-simulation must honour them
    amp = Amplifier.from_text(IDEAL_TWO_POLE, source="ideal2")
    tech = get_technology("45nm")
    cl = 2e-12
    res = sim.simulate(amp, tech, {"gm1": gm1, "gm2": gm2}, BenchSettings(load_cap=cl))
    assert res.ok, res.reason
    gain_db, ugbw, pm = _exact_two_pole(gm1 * 100e3, 1 / (2 * math.pi * 100e3 * 10e-12),
                                        gm2 * 50e3, 1 / (2 * math.pi * 50e3 * cl))
    assert res.gain_db == pytest.approx(gain_db, abs=0.01)
    assert res.ugbw_hz == pytest.approx(ugbw, rel=0.01)
    assert res.pm_deg == pytest.approx(pm, abs=0.5)
    assert res.power_w == pytest.approx(0.0, abs=1e-12)
    assert res.devices == {} and not res.all_saturated


@pytest.mark.parametrize("tech", ["45nm", "22nm"])
@pytest.mark.parametrize("circuit", list_amplifiers())
def test_reference_designs_work(sim, circuit, tech):
    res = sim.simulate(circuit, tech)
    assert res.ok, res.reason
    off = {n: round(d.margin, 3) for n, d in res.devices.items() if d.region != "saturation"}
    assert res.all_saturated, f"not in saturation (|Vds|-|Vdsat|, V): {off}"
    assert res.pm_deg >= 60.0
    assert res.fom == pytest.approx(1.0, rel=1e-9)
    assert res.node_voltages["out"] == pytest.approx(res.node_voltages["inp"], abs=0.02)


def test_same_parameters_same_result(sim):
    amp = get_amplifier("two_stage")
    p = amp.check({}, "45nm")
    q = {**p, "w6": p["w6"] * 1.3, "ibias": p["ibias"] * 0.8}
    a, b, c = sim.simulate_many(amp, "45nm", [q, p, q])
    assert a.ok and c.ok
    assert (a.gain_db, a.ugbw_hz, a.pm_deg, a.power_w) == (c.gain_db, c.ugbw_hz, c.pm_deg,
                                                           c.power_w)
    assert a.ugbw_hz != b.ugbw_hz


def test_alter_path_equals_reparse_path(sim):
    bench = sim.bench("two_stage", "45nm")
    assert bench.alter_plan, "the built-in amplifiers re-simulate with alter"
    p = bench.amp.check({}, bench.tech)
    rng = np.random.default_rng(3)
    q = {k: v * rng.uniform(0.85, 1.15) for k, v in p.items()}
    # raw vectors: jobs under keys of their own, without the bench's finisher
    job = dataclasses.replace(bench.job(q), key=bench.key + "-alter", finish=None)
    reparse = dataclasses.replace(job, key=bench.key + "-reparse", alters=())
    fast, slow = sim.run_jobs([job, reparse])
    assert fast.failure is None and slow.failure is None
    np.testing.assert_allclose(fast.vectors[("ac", "out")], slow.vectors[("ac", "out")],
                               rtol=1e-9)
    for name, value in fast.vectors.items():
        if name[0] == "op":
            assert value == pytest.approx(slow.vectors[name], rel=1e-7, abs=1e-15), name


def test_parameter_validation(sim):
    with pytest.raises(ParameterError, match="no parameter"):
        sim.simulate("two_stage", "45nm", {"w99": 1e-6})
    for bad in (1.0, float("nan"), float("inf"), -1e-6):
        res = sim.simulate("two_stage", "45nm", {"w12": bad})
        assert not res.ok and res.failure is Failure.INVALID_PARAMETER
        assert "w12" in res.reason
    res = sim.simulate("two_stage", "45nm", {"ibias": 1.0})
    assert res.failure is Failure.INVALID_PARAMETER and "outside" in res.reason


def _user(body: str) -> Amplifier:
    return Amplifier.from_text(f".subckt amp inp inn out vdd vss\n{body}\n.ends\n", source="t")


FAILURES = {
    "singular_matrix": ("G1 vss out inp inn 1m\nR1 out vss 1meg\nV1 n1 vss 1\nV2 n1 vss 2",
                        Failure.SINGULAR_MATRIX),
    "nonconvergence": ("G1 vss out inp inn 1m\nR1 out vss 1meg\n"
                       "B1 n1 vss V=1-u(v(n1)-0.5)\nR2 n1 vss 1k", Failure.NONCONVERGENCE),
    "model_bin": ("G1 vss out inp inn 1m\nR1 out vss 1meg\nM1 out out vss vss nb W=1u L=5u\n"
                  ".model nb.1 nmos level=54 lmin=1e-7 lmax=1e-6 wmin=1e-7 wmax=1e-5",
                  Failure.MODEL_BIN),
    "netlist_error": ("G1 vss out inp inn 1m\nR1 out vss {undefined_param}", Failure.NETLIST),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failures_are_typed_and_the_pool_keeps_serving(sim, case):
    body, failure = FAILURES[case]
    res = sim.simulate(_user(body), "45nm")
    assert not res.ok
    assert res.failure is failure, res.reason
    assert res.reason
    after = sim.simulate("two_stage", "45nm")
    assert after.ok


def test_hanging_netlist_times_out_and_the_next_simulation_succeeds():
    from circuits import Simulator

    # a relaxation oscillator has no DC solution: ngspice's transient operating point never ends
    hang = _user("G1 vss out inp inn 1m\nR1 out vss 1meg\nB1 n1 vss V=1-u(v(n2)-0.5)\n"
                 "R2 n1 n2 1k\nC2 n2 vss 1n")
    with Simulator(workers=1, timeout=2.0) as s:
        assert s.simulate("two_stage", "45nm").ok
        start = time.monotonic()
        res = s.simulate(hang, "45nm")
        elapsed = time.monotonic() - start
        assert res.failure is Failure.TIMEOUT
        assert elapsed < 2.0 + 1.5
        assert s.pool.restarts == 1
        assert s.simulate("two_stage", "45nm").ok


def test_malformed_user_netlists_raise_clear_errors():
    with pytest.raises(NetlistError, match=r"no \.subckt with the pins"):
        Amplifier.from_text(".subckt amp a b c\nR1 a b 1k\n.ends\n")
    with pytest.raises(NetlistError, match="exactly the pins"):
        Amplifier.from_text(".subckt amp inp inn out vdd vss extra\nR1 inp out 1k\n.ends\n")
    with pytest.raises(NetlistError, match=r"line 4: statement not accepted.*'\.control'"):
        Amplifier.from_text(".subckt amp inp inn out vdd vss\nR1 inp out 1k\n.ends\n"
                            ".control\nshell touch /tmp/pwned\n.endc\n")
    with pytest.raises(NetlistError, match="neither"):
        OpenLoopBench(_user("M1 out inp vss vss nosuch W=1u L=1u"), get_technology("45nm"))
    with pytest.raises(NetlistError, match="need a"):
        Amplifier.from_text(".subckt amp inp inn out vdd vss ibias=1u\nR1 inp out 1k\n.ends\n")


def test_user_netlist_file_with_generic_devices(sim, tmp_path):
    src = get_amplifier("two_stage").path.read_text()
    path = tmp_path / "mine.sp"
    path.write_text(src.replace("two_stage", "mine"))
    amp = Amplifier.from_file(path)
    settings = BenchSettings(vcm=0.55)  # the user's file has no reference (and no vcm)
    ref = sim.simulate("two_stage", "45nm", get_amplifier("two_stage").defaults(), settings)
    mine = sim.simulate(amp, "45nm", settings=settings)
    assert mine.ok and ref.ok
    assert mine.gain_db == pytest.approx(ref.gain_db, abs=1e-6)
    assert mine.fom is None  # no references next to the file


@pytest.mark.parametrize("how", ["stdin", "unguarded script", "unguarded module"])
def test_workers_start_from_any_main_module(tmp_path, how):
    import subprocess
    import sys

    code = 'from circuits import simulate\nprint(simulate("two_stage", "45nm").ok)\n'
    script = tmp_path / "no_main_guard.py"
    script.write_text(code)
    args, stdin = {
        "stdin": ([sys.executable, "-"], code),
        "unguarded script": ([sys.executable, str(script)], None),
        "unguarded module": ([sys.executable, "-m", "no_main_guard"], None),
    }[how]
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"


def _rc_job(r: float) -> Job:
    netlist = f"* rc\nV1 in 0 DC 0 AC 1\nR1 in out {r}\nC1 out 0 1n\n.ac dec 5 1e3 1e7\n.end\n"
    return Job(f"rc{r}", netlist, {}, (("ac", "frequency"), ("ac", "out")))


def test_an_exception_mid_batch_loses_no_result_to_the_next_batch():
    from circuits.pool import WorkerPool

    def corner(r, raw):
        f = np.real(raw.vectors[("ac", "frequency")])
        return float(np.interp(1 / math.sqrt(2), abs(raw.vectors[("ac", "out")])[::-1], f[::-1]))

    def failing(i, raw):
        raise RuntimeError("a caller's bug")

    first, rs = [1e3, 2e3, 4e3, 8e3], [16e3, 32e3, 64e3, 128e3]
    with WorkerPool(2, timeout=20) as pool:
        with pytest.raises(RuntimeError, match="caller's bug"):
            pool.run_many([_rc_job(r) for r in first], finish=failing)
        got = pool.run_many([_rc_job(r) for r in rs],
                            finish=lambda i, raw: corner(rs[i], raw))
    for r, fc in zip(rs, got, strict=True):  # each answer belongs to its own job
        assert fc == pytest.approx(1 / (2 * math.pi * r * 1e-9), rel=0.05)


def test_fom_needs_positive_power():
    from circuits.results import fom

    assert fom(2e6, 1e-3, 1e6, 1e-3) == pytest.approx(4.0)
    assert fom(2e6, 0.0, 1e6, 1e-3) is None
    assert fom(2e6, 1e-3, 1e6, 0.0) is None


def test_pins_are_matched_by_name_not_position(sim):
    amp = get_amplifier("two_stage")
    text = amp.path.read_text().replace(".subckt two_stage inp inn out vdd vss",
                                        ".subckt mine vdd vss inp inn out")
    assert ".subckt mine vdd vss inp inn out" in text
    mine = Amplifier.from_text(text.replace(".ends two_stage", ".ends mine"), source="mine.sp")
    settings = BenchSettings(vcm=amp.reference("45nm").vcm)
    params = amp.reference("45nm").params
    a = sim.simulate(amp, "45nm", params)
    b = sim.simulate(mine, "45nm", params, settings)
    assert a.ok and b.ok, b.reason
    assert b.gain_db == pytest.approx(a.gain_db, abs=1e-6)
    assert b.power_w == pytest.approx(a.power_w, rel=1e-9)


@pytest.mark.parametrize("tech", ["45nm", "22nm"])
def test_transistors_that_are_off_are_not_in_saturation(sim, tech):
    from circuits import Spec

    amp = Amplifier.from_text(
        ".subckt off inp inn out vdd vss\nG1 vss out inp inn 1m\nR1 out vss 1meg\n"
        "C1 out vss 1p\nMn vdd vss vss vss nch W=1u L=0.1u\nMp vss vdd vdd vdd pch W=1u L=0.1u\n"
        ".ends off\n", source="off")
    res = sim.simulate(amp, tech)
    assert res.ok, res.reason
    assert {d.region for d in res.devices.values()} == {"cutoff"}
    assert all(d.margin > 0 for d in res.devices.values())  # |Vds| > |Vdsat| all the same
    assert not res.all_saturated
    assert not Spec(saturation=True).met(res)


def test_an_edited_netlist_file_is_simulated_anew(sim, tmp_path):
    path = tmp_path / "amp.sp"
    body = ".subckt amp inp inn out vdd vss\nG1 vss out inp inn 1m\nR1 out vss {r}\n" \
           "C1 out vss 1p\n.ends amp\n"
    path.write_text(body.format(r="1meg"))
    assert sim.simulate(path, "45nm").gain_db == pytest.approx(60.0, abs=0.01)
    path.write_text(body.format(r="10k"))
    assert sim.simulate(path, "45nm").gain_db == pytest.approx(20.0, abs=0.01)


def test_source_values_with_spaced_expressions_follow_their_parameters(sim):
    amp = Amplifier.from_text(
        "*@param ib current 1e-7 1e-3 bias\n.subckt z inp inn out vdd vss ib=1u\n"
        "G1 vss out inp inn 1m\nR1 out vss 1meg\nC1 out vss 1p\nI1 vdd vss DC {2 * ib} AC 0\n"
        ".ends z\n", source="z")
    vdd = get_technology("45nm").vdd
    for ib in (1e-6, 1e-5, 3e-5):
        assert sim.simulate(amp, "45nm", {"ib": ib}).power_w == pytest.approx(2 * ib * vdd)


# -- settings at their extremes, bad candidates in a batch, threads ------------------------------

@pytest.mark.parametrize("timeout", [1e300, float("inf"), float("nan"), 0.0, -1.0, 86400.5,
                                     10**400, "5", True, None])
def test_extreme_timeouts_are_refused_with_a_typed_error(timeout):
    from circuits import PoolSettingError, Simulator
    from circuits.pool import WorkerPool

    with pytest.raises(PoolSettingError, match="timeout"):
        WorkerPool(1, timeout=timeout)
    with pytest.raises(PoolSettingError, match="timeout"):
        Simulator(workers=1, timeout=timeout)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2", 10**6])
def test_bad_worker_counts_are_refused_with_a_typed_error(workers):
    from circuits import PoolSettingError, Simulator

    with pytest.raises(PoolSettingError, match="workers"):
        Simulator(workers=workers)


def test_the_largest_timeout_still_simulates():
    from circuits import Simulator
    from circuits.pool import MAX_TIMEOUT

    with Simulator(workers=1, timeout=MAX_TIMEOUT) as s:
        assert s.simulate("two_stage", "45nm").ok


DIVIDES = """
*@param g resistance 1e-6 1 conductance offset of the load
.subckt zdiv inp inn out vdd vss g=2m
G1 vss out inp inn 1
R1 out vss {1/(g-1m)}
C1 out vss 1p
.ends zdiv
"""


def test_one_bad_candidate_never_stops_a_batch(sim):
    amp = Amplifier.from_text(DIVIDES, source="zdiv")
    bench = sim.bench(amp, "45nm")
    assert bench.alter_plan, "the load is computed here, per candidate"
    batch = [{"g": 2e-3}, {"g": 1e-3}, None, {"g": "wide"}, {"g": 3e-3}, {"g": 10**400}]
    res = sim.simulate_many(amp, "45nm", batch)
    assert [r.ok for r in res] == [True, False, False, False, True, False]
    assert res[0].gain_db == pytest.approx(60.0, abs=0.01)  # 1 S x 1 kOhm
    assert res[4].gain_db == pytest.approx(20 * math.log10(500), abs=0.01)
    for bad in res[1:4] + res[5:]:
        assert bad.failure is Failure.INVALID_PARAMETER and bad.reason
    assert res[1].params == {"g": 1e-3}
    with pytest.raises(ParameterError, match="sequence"):
        sim.simulate_many(amp, "45nm", {"g": 2e-3})


def test_a_simulator_shared_by_threads_gives_each_caller_its_own_results():
    import threading

    from circuits import Simulator

    amp = get_amplifier("two_stage")
    base = amp.check({}, "45nm")
    batches = [[{**base, "ibias": base["ibias"] * f} for f in np.linspace(0.8, 1.2, 6) * k]
               for k in (0.9, 0.95, 1.0, 1.05)]
    with Simulator(workers=2, timeout=20) as s:
        first = [s.simulate_many(amp, "45nm", b) for b in batches]
        assert all(r.ok for rs in first for r in rs)
        expected = [[r.power_w for r in rs] for rs in first]
        got: list = [None] * len(batches)
        errors = []

        def work(i):
            try:
                for _ in range(3):
                    got[i] = [r.power_w for r in s.simulate_many(amp, "45nm", batches[i])]
                    assert got[i] == expected[i]
            except BaseException as exc:  # reported below, with the thread's index
                errors.append((i, exc))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert got == expected
        assert s.pool.restarts == 0


def test_closing_while_another_thread_simulates_does_not_hang():
    import threading

    from circuits import Simulator

    # a relaxation oscillator has no DC solution: its operating point never ends
    hang = Job("hang", "* hang\nB1 n1 0 V=1-u(v(n2)-0.5)\nR2 n1 n2 1k\nC2 n2 0 1n\n.op\n.end\n",
               {}, (("op", "n1"),))
    s = Simulator(workers=1, timeout=600)
    assert s.simulate("two_stage", "45nm").ok
    pid = s.pool.worker_pids()[0]
    got = []
    t = threading.Thread(target=lambda: got.extend(s.run_jobs([hang])), daemon=True)
    t.start()
    time.sleep(0.5)
    start = time.monotonic()
    s.close(wait=0.5)
    assert time.monotonic() - start < 5
    t.join(10)
    assert not t.is_alive() and got[0].failure is Failure.ENGINE
    s.close()
    assert pid not in s.pool.worker_pids() and s.pool.worker_pids() == []
