"""The batched solver against hand-derived transfer functions, its failures, and ngspice."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from macro.design import Design
from macro.evaluation import SWEEP, fom
from macro.nodal import poles
from macro.solver import evaluate, modes, response
from macro.topology import C_LOAD, F_T, R_LOAD, TAU_OUT, Topology, sample_topologies

W = 2 * np.pi * SWEEP.frequencies()


def _stage_admittances(v, s):
    """Node admittances of the three main stages (each a gm with its R and C)."""
    y1 = v["g1"] / v["rscl1"] + s * v["g2"] / (2 * np.pi * F_T)
    y2 = v["g2"] / v["rscl2"] + s * v["g3"] / (2 * np.pi * F_T)
    y3 = v["g3"] / v["rscl3"] + 1 / R_LOAD + s * C_LOAD
    return y1, y2, y3


def test_three_cascaded_single_stages():
    """Basic topology: each stage is one gm into its own R || C, so
    H = (-g1 / Y1) (+g2 / Y2) (-g3 / Y3), non-inverting."""
    d = Design(Topology((0, 0, 0, 0, 0)), {"g1": 3e-5, "rscl1": 50, "g2": 2e-4, "rscl2": 70,
                                            "g3": 8e-4, "rscl3": 45})
    v, s = d.values, 1j * W
    y1, y2, y3 = _stage_admittances(v, s)
    expected = v["g1"] * v["g2"] * v["g3"] / (y1 * y2 * y3)
    h, dc, p, problems = response([d])
    assert problems == [""]
    np.testing.assert_allclose(h[0], expected, rtol=1e-7)
    y10, y20, y30 = _stage_admittances(v, 0)
    assert dc[0] == pytest.approx(v["g1"] * v["g2"] * v["g3"] / (y10 * y20 * y30), rel=1e-10)
    # three real poles at -Y_i / C_i
    want = sorted([-(v["g1"] / v["rscl1"]) / (v["g2"] / (2 * np.pi * F_T)),
                   -(v["g2"] / v["rscl2"]) / (v["g3"] / (2 * np.pi * F_T)),
                   -(v["g3"] / v["rscl3"] + 1 / R_LOAD) / C_LOAD])
    got = np.sort(np.real(p[0][np.isfinite(p[0])]))
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_feed_forward_stage_adds_its_own_path():
    """vin-vout type 6 (feed-forward -gm, non-inverting): H = g1 g2 g3 / (Y1 Y2 Y3) + gf / Y3'
    where Y3' also holds the feed-forward stage's rscl / gf and gf * TAU_OUT."""
    d = Design(Topology((0, 6, 0, 0, 0)), {"vin_vout_gm": 2e-3, "vin_vout_rscl": 60})
    v, s = d.values, 1j * W
    y1, y2, y3 = _stage_admittances(v, s)
    y3 = y3 + v["vin_vout_gm"] / v["vin_vout_rscl"] + s * v["vin_vout_gm"] * TAU_OUT
    expected = (v["g1"] * v["g2"] * v["g3"] / (y1 * y2) + v["vin_vout_gm"]) / y3
    np.testing.assert_allclose(response([d])[0][0], expected, rtol=1e-7)


MILLER = {"g1": 1e-5, "rscl1": 60, "g2": 1e-3, "rscl2": 40, "g3": 1e-3, "rscl3": 50,
          "n1_vout_c": 10e-12}


def _miller(v, s):
    """Miller capacitor Cc from n1 to vout around stages 2-3; by KCL at n1, n2 and vout,
    H = g1 (g2 g3 - s Cc Y2) / (Y1 Y2 Y3 + s Cc Y2 (Y1 + Y3) + s Cc g2 g3)."""
    cc = v["n1_vout_c"]
    y1, y2, y3 = _stage_admittances(v, s)
    num = v["g1"] * (v["g2"] * v["g3"] - s * cc * y2)
    return num / (y1 * y2 * y3 + s * cc * y2 * (y1 + y3) + s * cc * v["g2"] * v["g3"])


def test_miller_compensation_transfer_function_and_poles():
    d = Design(Topology((0, 0, 2, 0, 0)), MILLER)
    v = d.values
    h, _, p, _ = response([d])
    np.testing.assert_allclose(h[0], _miller(v, 1j * W), rtol=1e-7)
    # poles: roots of the cubic denominator, coefficients in s (highest first)
    cc = v["n1_vout_c"]
    y1 = np.array([v["g2"] / (2 * np.pi * F_T), v["g1"] / v["rscl1"]])
    y2 = np.array([v["g3"] / (2 * np.pi * F_T), v["g2"] / v["rscl2"]])
    y3 = np.array([C_LOAD, v["g3"] / v["rscl3"] + 1 / R_LOAD])
    den = np.polymul(np.polymul(y1, y2), y3)
    den = np.polyadd(den, np.polymul([cc, 0], np.polymul(y2, np.polyadd(y1, y3))))
    den = np.polyadd(den, [cc * v["g2"] * v["g3"], 0])
    want = np.sort_complex(np.roots(den))
    got = np.sort_complex(p[0][np.isfinite(p[0])])
    np.testing.assert_allclose(got, want, rtol=1e-7)
    # zeros: g2 g3 - s Cc (G2 + s C2) = 0, one of them in the right half plane (the
    # feed-forward through Cc); here C2 dominates, so z ~ sqrt(g2 g3 / (Cc C2))
    zeros = np.roots([-cc * y2[0], -cc * y2[1], v["g2"] * v["g3"]])
    rhp_zero = float(np.max(np.real(zeros)))
    assert rhp_zero > 0
    assert rhp_zero == pytest.approx(np.sqrt(v["g2"] * v["g3"] / (cc * y2[0])), rel=0.05)
    m = modes([d])
    h_zero = m.at(np.array([0]), np.array([rhp_zero + 0j]))[0, 0]
    assert abs(h_zero) < 1e-9 * abs(m.dc[0])
    # pole splitting: the dominant pole is near -G1 G2 G3 / (Cc g2 g3)
    g1, g2, g3 = v["g1"] / v["rscl1"], v["g2"] / v["rscl2"], y3[1]
    assert np.max(np.real(want)) == pytest.approx(-g1 * g2 * g3 / (cc * v["g2"] * v["g3"]),
                                                  rel=0.05)


def test_miller_metrics_match_the_exact_crossing():
    d = Design(Topology((0, 0, 2, 0, 0)), MILLER)
    ev = evaluate([d])[0]
    assert ev.ok, ev.reason
    v = d.values
    fc = brentq(lambda f: abs(_miller(v, 2j * np.pi * f)) - 1, 1e3, 1e8, xtol=1e-6)
    assert ev.gbw_hz == pytest.approx(fc, rel=1e-3)
    # continuous phase of the hand-derived H at fc (no wrap between DC and fc here)
    pm = 180 + np.degrees(np.unwrap(np.angle(_miller(v, 1j * np.logspace(-3, np.log10(
        2 * np.pi * fc), 4000))))[-1])
    assert ev.pm_deg == pytest.approx(pm, abs=0.05)
    # classic two-stage estimates: GBW = g1 / (2 pi Cc)
    assert ev.gbw_hz == pytest.approx(v["g1"] / (2 * np.pi * v["n1_vout_c"]), rel=0.1)
    assert ev.gain_db == pytest.approx(20 * np.log10(abs(_miller(v, 2j * np.pi))), abs=1e-9)
    assert ev.power_w == pytest.approx(1.8 * (v["g1"] + v["g2"] + v["g3"]) / 20)


def test_fom_arithmetic():
    assert fom(1.4e6, 20.9e-6) == pytest.approx(670_000, rel=0.001)
    assert fom(0.7e6, 250e-6) == pytest.approx(28_000)
    assert math.isnan(fom(1e6, 0.0))


def test_failures_are_typed_results_with_reasons():
    unstable = Design(Topology((0, 0, 15, 0, 0)), {"n1_vout_gm": 1e-3})  # positive feedback
    inverted = Design(Topology((6, 0, 0, 0, 0)), {"g1": 1e-5, "rscl1": 40, "g2": 1e-5,
                                                  "vin_n2_gm": 1e-2})
    small = Design(Topology((0, 0, 0, 1, 1)), {"g1": 1e-5, "g2": 1e-5, "g3": 1e-5,
                                               "n1_gnd_r": 1e4, "n2_gnd_r": 1e4})
    evs = evaluate([unstable, inverted, small])
    assert [e.ok for e in evs] == [False, False, False]
    assert evs[0].failure == "unstable open loop" and "right half plane" in evs[0].reason
    assert evs[1].failure == "inverted at DC" and "DC gain is negative" in evs[1].reason
    assert evs[2].failure == "no gain" and "not above 0 dB" in evs[2].reason
    assert all(e.gain_db is None and e.fom is None for e in evs)
    assert np.real(poles([unstable])[0][np.isfinite(poles([unstable])[0])]).max() > 0


def test_random_and_extreme_designs_never_raise_and_modal_equals_direct():
    rng = np.random.default_rng(3)
    tops = sample_topologies(96, rng)
    designs = [Design.random(t, rng) for t in tops[:64]]
    designs += [Design.from_unit(t, np.full(len(t.parameters()), float(k % 2)))
                for k, t in enumerate(tops[64:])]
    evs = evaluate(designs)
    assert len(evs) == len(designs)
    assert all(e.ok or e.reason for e in evs)
    assert any(e.ok for e in evs) and any(not e.ok for e in evs)
    h, dc, _, _ = response(designs)
    hd, dcd, _, _ = response(designs, method="direct")
    ok = np.isfinite(hd).all(axis=1)
    np.testing.assert_allclose(h[ok], hd[ok], rtol=1e-6, atol=0)
    np.testing.assert_allclose(dc, dcd, rtol=1e-8)


def test_solver_agrees_with_ngspice(sim):
    rng = np.random.default_rng(4)
    designs = [Design(Topology((0, 0, 2, 0, 0)), MILLER)]
    designs += [Design.random(t, rng) for t in sample_topologies(11, rng)]
    fast = evaluate(designs)
    ref = evaluate(designs, solver="ngspice", simulator=sim)
    assert [e.ok for e in fast] == [e.ok for e in ref]
    assert fast[0].ok
    for a, b in zip(fast, ref, strict=True):
        if a.ok:
            assert a.gain_db == pytest.approx(b.gain_db, abs=0.05)
            assert a.gbw_hz == pytest.approx(b.gbw_hz, rel=0.005)
            assert a.pm_deg == pytest.approx(b.pm_deg, abs=0.5)
        else:
            assert a.failure == b.failure


def test_sparse_measurement_equals_the_whole_grid():
    """evaluate() fills in the grid only near crossings and fast phase turns; its metrics must
    be those of the whole-grid measurement."""
    rng = np.random.default_rng(5)
    tops = sample_topologies(384, rng)
    designs = [Design.random(t, rng) for t in tops[:256]]
    designs += [Design.from_unit(t, rng.integers(0, 2, len(t.parameters())).astype(float))
                for t in tops[256:]]
    sparse = evaluate(designs)
    whole = evaluate(designs, exact_grid=True)
    assert sum(e.ok for e in whole) > 100
    for a, b in zip(sparse, whole, strict=True):
        assert (a.ok, a.reason) == (b.ok, b.reason)
        if a.ok:
            assert a.gain_db == b.gain_db and a.power_w == b.power_w
            assert a.gbw_hz == pytest.approx(b.gbw_hz, rel=1e-12)
            assert a.pm_deg == pytest.approx(b.pm_deg, abs=1e-9)


def test_equal_stage_poles_take_the_direct_path():
    """With every default value the two inner stage poles coincide (a defective A); the solver
    falls back to one solve per frequency and still matches the cascade formula."""
    d = Design(Topology((0, 0, 0, 0, 0)))
    v, s = d.values, 1j * W
    y1, y2, y3 = _stage_admittances(v, s)
    pole1 = (v["g1"] / v["rscl1"]) / (v["g2"] / (2 * np.pi * F_T))
    pole2 = (v["g2"] / v["rscl2"]) / (v["g3"] / (2 * np.pi * F_T))
    assert pole1 == pytest.approx(pole2, rel=1e-12)
    assert modes([d]).direct[0]
    h, _, _, problems = response([d])
    assert problems == [""]
    np.testing.assert_allclose(h[0], v["g1"] * v["g2"] * v["g3"] / (y1 * y2 * y3), rtol=1e-7)
    assert evaluate([d])[0].ok


def test_validation_run_on_a_few_designs(sim):
    from macro.bench import validate

    v = validate(6, seed=7, simulator=sim)
    assert v["compared"] == v["measurable"] == 6 and v["drawn"] >= 6
    assert v["ok_agree"] == v["drawn"]
    assert all(s["within"] for s in v["summary"].values())
    assert len(v["d_pm_deg"]) == 6
    # the compiled route against ngspice on the same designs
    assert v["compiled"]["ok_agree"] == v["drawn"] and v["compiled"]["compared"] == 6
    assert all(s["within"] for s in v["compiled"]["summary"].values())


def test_vectorised_assembly_equals_stamping_the_netlist_elements():
    """assemble() computes element values from the parameters in one vector operation; it must
    equal stamping each element of Design.elements() (what ngspice is given) by hand."""
    from macro.nodal import INDEX, MAX_NODES, assemble

    rng = np.random.default_rng(8)
    designs = [Design.random(t, rng) for t in sample_topologies(200, rng)]
    g, c, u, w = assemble(designs)
    for k, d in enumerate(designs):
        gg, cc = np.zeros((MAX_NODES, MAX_NODES)), np.zeros((MAX_NODES, MAX_NODES))
        uu, ww = np.zeros(MAX_NODES), np.zeros(MAX_NODES)
        used = set()
        for e in d.elements():
            if e.kind == "G":
                p = INDEX.get(e.a)
                if p is not None:
                    used.add(p)
                    if e.ca == "vin":
                        uu[p] -= e.value
                    elif e.ca in INDEX:
                        gg[p, INDEX[e.ca]] += e.value
                continue
            m, src, y = (gg, uu, 1 / e.value) if e.kind == "R" else (cc, ww, e.value)
            for x, other in ((e.a, e.b), (e.b, e.a)):
                if x in INDEX:
                    used.add(INDEX[x])
                    m[INDEX[x], INDEX[x]] += y
                    if other in INDEX:
                        m[INDEX[x], INDEX[other]] -= y
                    elif other == "vin":
                        src[INDEX[x]] += y
        for x in set(range(MAX_NODES)) - used:
            gg[x, x] = 1.0
        np.testing.assert_allclose(g[k], gg, rtol=1e-12, atol=0)
        np.testing.assert_allclose(c[k], cc, rtol=1e-12, atol=0)
        np.testing.assert_allclose(u[k], uu, rtol=1e-12, atol=0)
        np.testing.assert_allclose(w[k], ww, rtol=1e-12, atol=0)


def test_the_speed_floor_decomposes_each_design_without_its_padding():
    """macro.bench.floor times the eigenvalues of matrices cut to the unknowns a topology uses:
    every design is in one group, and its cut matrices have exactly the design's finite poles."""
    from macro.bench import floor, reduced_pencils
    from macro.nodal import MAX_NODES

    rng = np.random.default_rng(11)
    designs = [Design.random(t, rng) for t in sample_topologies(60, rng)]
    pencils = reduced_pencils(designs)
    rows = np.concatenate([r for r, _, _ in pencils.values()])
    assert sorted(rows.tolist()) == list(range(len(designs)))
    assert len(pencils) > 1 and min(pencils) >= 3 and max(pencils) <= MAX_NODES
    for m, (idx, g, c) in pencils.items():
        assert g.shape == c.shape == (len(idx), m, m)
        lam = np.linalg.eigvals(np.linalg.solve(g, c))
        for i, x in zip(idx, lam, strict=True):
            assert (np.abs(x) > 0).all()  # a padded node would leave a zero eigenvalue
            got = np.sort_complex(-1 / x)
            p = poles([designs[i]])[0]
            want = np.sort_complex(p[np.isfinite(p)])
            np.testing.assert_allclose(got, want, rtol=1e-6)
    f = floor(designs[:20], repeats=1)
    assert all(f[k] > 0 for k in ("eig_numpy_us", "eig_torch_us", "coarse_solve_numpy_us",
                                  "coarse_solve_torch_us"))
