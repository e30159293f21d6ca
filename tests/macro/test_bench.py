"""The speed protocol of macro.bench (the figures themselves are the benchmark's, not tested)."""

from macro.bench import SPEED_POOL, SPEED_SUSTAIN, speed


def test_speed_runs_each_solver_route_for_a_sustained_stretch_and_reports_the_first_pass():
    r = speed(batch=8, repeats=1)
    assert r["pool"] == SPEED_POOL and r["sustain_s"] == SPEED_SUSTAIN
    # a pass over the pool of 64 designs takes well under a millisecond: many passes per run
    assert r["compiled_passes_per_run"] > 10
    # every run lasts at least SPEED_SUSTAIN seconds: passes * pool * batch * time per design
    assert (r["compiled_passes_per_run"] * r["pool"] * r["batch"]
            * r["compiled_us_per_design"] * 1e-6) >= 0.5 * SPEED_SUSTAIN
    # the first pass of each run is reported beside: one pass, far shorter than a run
    assert 0 < (r["compiled_first_pass_us_per_design"] * r["pool"] * r["batch"] * 1e-6
                ) < SPEED_SUSTAIN
