"""The engine benchmark reports the time inside ngspice beside the caller's round trip."""

import math

import pytest

from circuits import native
from circuits.benchmark import BenchmarkError, read_costs, run_benchmark, worker_anatomy
from circuits.testbench import DETAILS


def test_a_tiny_benchmark_reports_ngspice_time_and_the_ratios():
    rep = run_benchmark(rss_sims=20, latency_sims=12, parallel_sims=8, repeats=1)
    assert 0 < rep["ngspice_ms"] < rep["roundtrip_ms"]
    assert rep["roundtrip_over_ngspice"] == pytest.approx(rep["roundtrip_ms"] / rep["ngspice_ms"])
    assert rep["speedup_roundtrip"] == pytest.approx(rep["batch_ms"] / rep["roundtrip_ms"])
    assert set(rep["by_detail"]) == set(DETAILS) and rep["detail"] == "full"
    assert rep["by_detail"]["full"]["roundtrip_ms"] == rep["roundtrip_ms"]
    for figures in rep["by_detail"].values():
        assert 0 < figures["ngspice_ms"] < figures["roundtrip_ms"]
    assert rep["single_ms"] > 0 and rep["engine_ms"] > 0 and rep["parallel_speedup"] > 0
    # the read costs: circuit A has 8 transistors of 7 quantities each, 9 nodes and a supply
    assert rep["device_queries"] == 56 and rep["node_queries"] == 10 and rep["read_sims"] == 12
    assert rep["device_query_us"] == pytest.approx(rep["device_read_ms"] * 1e3 / 56)
    assert all(math.isfinite(rep[k]) for k in ("device_read_ms", "node_query_us"))
    # the processor time of the parallel run, and the bound it sets
    assert rep["parent_cpu_ms"] >= 0 and rep["worker_cpu_ms"] >= 0
    used = rep["parent_cpu_ms"] + rep["worker_cpu_ms"]
    if used > 0:
        rate1 = rep["throughput_per_s"]["1"]
        assert rep["parallel_bound"] == pytest.approx(2e3 / used / rate1)
    else:  # a batch too short for the processor times to be read
        assert rep["parallel_bound"] is None
    assert set(rep["anatomy"]) >= {"total_ms", "alter_run_ms", "queries_ms", "other_ms",
                                   "python_ms"}
    assert rep["fast_path"] is native.available()


def test_the_anatomy_of_a_simulation_times_ngspice_calls_by_kind():
    full = worker_anatomy(sims=6)
    metrics = worker_anatomy(sims=6, detail="metrics")
    for rep in (full, metrics):
        assert rep["sims"] == 6
        assert 0 < rep["alter_run_ms"] < rep["total_ms"]
        assert rep["queries_ms"] > 0 and rep["other_ms"] > 0  # reads; plots listed, cleared
    # 56 transistor quantities more, each computed by the device model when asked for (read
    # in one call of the compiled fast path when it is built: timed as queries all the same)
    assert full["queries_ms"] > 2 * metrics["queries_ms"]
    with pytest.raises(BenchmarkError, match="at least 2"):
        worker_anatomy(sims=1)


@pytest.mark.parametrize("bad", [{"rss_sims": 0}, {"latency_sims": 1.5}, {"repeats": True}])
def test_bad_counts_are_refused(bad):
    with pytest.raises(BenchmarkError):
        run_benchmark(**bad)


def test_the_smallest_latency_count_still_measures_the_reads():
    rep = run_benchmark(rss_sims=2, latency_sims=1, parallel_sims=2, repeats=1)
    assert rep["read_sims"] == 2 and rep["device_queries"] == 56
    with pytest.raises(BenchmarkError, match="at least 2"):
        read_costs(sims=1)
