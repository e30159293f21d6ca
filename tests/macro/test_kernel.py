"""The compiled route of the batched solver (macro.kernel): its polynomial algebra by hand, its
metrics against hand-derived transfer functions and the modal route, and its failures."""

import numpy as np
import pytest

from macro import kernel
from macro.design import Design
from macro.evaluation import Sweep, measure
from macro.kernel import (
    _NP,
    MEASURED,
    SINGULAR,
    UNSTABLE,
    _batch,
    _changes,
    _crossings_bound,
    _minor_sums,
    _numerator,
    _reduce,
    _routh_unstable,
    _sign_change_steps,
    _split,
    _winding_until,
    evaluate,
    metrics,
)
from macro.solver import evaluate as evaluate_modal
from macro.solver import response
from macro.topology import Topology, sample_topologies

from .test_solver import MILLER, W, _miller, _stage_admittances


def _minor_sums_of(a: np.ndarray) -> tuple[np.ndarray, int]:
    n = a.shape[0]
    out = np.zeros(n + 1)
    deg = _minor_sums(a.copy(), n, out, np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64),
                      np.zeros((n, n)), np.zeros((n + 1, n + 1)))
    return out, deg


def test_minor_sums_are_the_coefficients_of_det_i_plus_s_a():
    """det(I + sA) = prod_k (1 + s lambda_k): coefficient k is the k-th elementary symmetric
    function of the eigenvalues, i.e. the sum of the principal minors of order k."""
    a = np.array([[2.0, -1.0, 0.5, 0.0],
                  [1.0, 3.0, 0.0, 0.2],
                  [0.0, 0.7, 1.5, -0.3],
                  [0.4, 0.0, 1.0, 0.5]])
    got, deg = _minor_sums_of(a)
    lam = np.linalg.eigvals(a)
    # np.poly(-lam) = prod (x + lambda), highest power first: [1, e1, e2, e3, e4]
    want = np.real(np.poly(-lam))
    assert deg == 4
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # by hand: e1 is the trace, e4 the determinant
    assert got[1] == pytest.approx(np.trace(a))
    assert got[4] == pytest.approx(np.linalg.det(a))


def test_a_zero_row_is_taken_out_and_a_zero_column_with_a_diagonal_is_kept():
    a = np.array([[1e-3, 2e-4, 5e-5],
                  [0.0, 0.0, 0.0],
                  [1e-5, 3e-6, 3e-7]])
    got, deg = _minor_sums_of(a)
    assert deg == 2 and got[3] == 0.0
    sub = a[np.ix_([0, 2], [0, 2])]
    np.testing.assert_allclose(got[:3], [1.0, np.trace(sub), np.linalg.det(sub)], rtol=1e-12)
    # a zero column whose diagonal is not zero is the factor (1 + s a_jj): kept
    b = np.array([[2e-3, 0.0], [1e-4, 5e-4]])
    got, deg = _minor_sums_of(b)
    assert deg == 2
    np.testing.assert_allclose(got, [1.0, 2.5e-3, 1e-6], rtol=1e-12)


def test_a_node_without_capacitance_is_a_pole_at_infinity():
    """An exact zero column (and zero diagonal) leaves the factor 1: the degree drops exactly,
    with no round-off coefficient left above it."""
    a = np.array([[1e-3, 0.0, 2e-4],
                  [5e-4, 0.0, 1e-6],
                  [1e-5, 0.0, 3e-7]])
    got, deg = _minor_sums_of(a)
    assert deg == 2
    assert got[3] == 0.0
    sub = a[np.ix_([0, 2], [0, 2])]
    np.testing.assert_allclose(got[:3], [1.0, np.trace(sub), np.linalg.det(sub)], rtol=1e-12)


def _reduced(a: np.ndarray, b0: np.ndarray, b1: np.ndarray, o: int):
    """``_reduce`` and ``_numerator`` on ``x = [A | b0 | b1]``: ``(d, dd, n, dn)``, ``n`` None
    when the numerator must be computed apart."""
    m = a.shape[0]
    x = np.column_stack([a, b0, b1])
    d, n = np.zeros(m + 1), np.zeros(m + 1)
    h, r = np.zeros((m + 2, m)), np.zeros((m + 1, m + 1))
    dd, size = _reduce(x, m, o, d, np.zeros(m, dtype=bool), np.zeros(m, dtype=np.int64), h, r)
    if size < 0:
        return d, dd, None, -1
    dn = _numerator(h, r, size, b0[o], n)
    return d, dd, n, dn


def _cramer_numerator(a, b0, b1, o):
    """``det(I + sA with column o replaced by b0 + s b1) / b0[o]`` (Cramer's rule for
    ``x_o`` of ``(I + sA) x = b0 + s b1``), by the minor sums of ``E^-1 F``."""
    m = a.shape[0]
    e, f = np.eye(m), a.copy()
    e[:, o], f[:, o] = b0, b1
    got, _ = _minor_sums_of(np.linalg.solve(e, f))
    return got


def test_one_reduction_gives_the_denominator_and_the_numerator():
    """D(s) = det(I + sA) and H(0) N(s) = e_o^T adj(I + sA) (b0 + s b1) from one Hessenberg
    reduction, against the minor sums of A and Cramer's rule."""
    rng = np.random.default_rng(5)
    for o in range(5):
        a = rng.normal(size=(5, 5)) * 10.0 ** rng.uniform(-3, 3, size=5)
        b0, b1 = rng.normal(size=5), rng.normal(size=5) * 1e-2
        d, dd, n, dn = _reduced(a, b0, b1, o)
        want_d, _ = _minor_sums_of(a)
        assert dd == 5
        np.testing.assert_allclose(d, want_d, rtol=1e-10, atol=1e-12 * np.abs(want_d).max())
        want_n = _cramer_numerator(a, b0, b1, o)
        assert dn == 5 and n[0] == 1.0
        np.testing.assert_allclose(n, want_n, rtol=1e-9, atol=1e-12 * np.abs(want_n).max())
    # without the s b1 term the numerator has one degree less
    _, _, n, dn = _reduced(a, b0, np.zeros(5), 2)
    np.testing.assert_allclose(n, _cramer_numerator(a, b0, np.zeros(5), 2), rtol=1e-9,
                               atol=1e-12)
    assert dn == 4


def test_a_node_without_capacitance_leaves_the_numerator_exact_or_it_is_computed_apart():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 4))
    a[:, 1] = 0.0  # node 1 has no capacitance: it feeds no other equation
    b0, b1 = rng.normal(size=4), rng.normal(size=4)
    d, dd, n, dn = _reduced(a, b0, b1, 3)
    assert dd == 3 and d[4] == 0.0
    assert dn == 3 and n[4] == 0.0  # exactly: no round-off coefficient above the degree
    np.testing.assert_allclose(n, _cramer_numerator(a, b0, b1, 3), rtol=1e-10, atol=1e-13)
    # the output itself without capacitance, or a node whose row alone is zero: apart
    assert _reduced(a, b0, b1, 1)[2] is None
    c = rng.normal(size=(4, 4))
    c[2, :] = 0.0
    assert _reduced(c, b0, b1, 0)[2] is None
    # ... and the denominator is still exact
    sub = np.delete(np.delete(c, 2, 0), 2, 1)
    np.testing.assert_allclose(_reduced(c, b0, b1, 0)[0][:4], _minor_sums_of(sub)[0],
                               rtol=1e-12)


@pytest.mark.parametrize("a, o", [
    (np.array([[3.0]]), 0),                                   # one unknown
    (np.array([[2.0, -1.0], [0.5, 4.0]]), 1),                 # two
    (np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [0.0, 0.0, 5.0]]), 0),   # zero subdiagonal
    (np.array([[1.0, 0.0, 0.0], [2.0, 3.0, 0.0], [4.0, 5.0, 6.0]]), 2),   # pivoting needed
])
def test_one_reduction_on_small_and_structured_matrices(a, o):
    """Sizes 1 and 2 (no elimination step), a column already reduced (the step skipped) and
    a column whose pivot must be exchanged, against the minor sums and Cramer's rule."""
    n = a.shape[0]
    b0, b1 = np.arange(1.0, n + 1), np.full(n, 0.25)
    d, dd, num, dn = _reduced(a, b0, b1, o)
    np.testing.assert_allclose(d, _minor_sums_of(a)[0], rtol=1e-12, atol=1e-12)
    want = _cramer_numerator(a, b0, b1, o)
    np.testing.assert_allclose(num, want, rtol=1e-12, atol=1e-12)
    assert dd == n  # det(A) != 0 for each
    assert dn == np.flatnonzero(np.abs(want) > 1e-12).max()


def test_a_row_taken_out_computes_the_numerator_apart_in_the_batch():
    """G = I, C = [[1e-3, 5e-4], [0, 0]] on unknowns 0 (vout) and 1: A = C has a zero row 1
    (and a non-zero column), so the batch computes the numerator by Cramer's rule; H(s) =
    (100 + 1e-6 s) / (1 + 1e-3 s) there, measured as on the whole grid."""
    from macro.evaluation import SWEEP
    ints = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    mm = 8
    pos = ints(0, mm + 1, mm * mm, mm * mm + 1, 2 * mm * mm, 2 * mm * mm + mm)
    k = np.array([1.0, 1.0, 1e-3, 5e-4, 100.0, 1e-6])
    ones = ints(*([-1] * len(pos)))
    w, x, wc, xc, logf, coarse = kernel._grid(SWEEP)
    code, res = _batch(np.zeros((1, 0), dtype=np.int64), np.zeros(0), ints(0), ints(0),
                       ints(len(pos)), pos, k, ones, ones, ints(0b11), ints(0), ints(0), ints(),
                       mm, w, x, wc, xc, logf, coarse, 1.5, True, 1.8, 20.0, 1e-8, 0, 25)
    f = SWEEP.frequencies()
    s = 2j * np.pi * f
    want = measure(f, ((100 + 1e-6 * s) / (1 + 1e-3 * s))[None, :], np.array([100.0]),
                   np.array([1e-3]))[0]
    assert code[0] == MEASURED and res[0, 0] == pytest.approx(100.0, rel=1e-14)
    assert want.ok and res[0, 4] == 1.0
    assert res[0, 3] == pytest.approx(want.gain_db, abs=1e-9)
    assert res[0, 6] == pytest.approx(want.gbw_hz, rel=1e-9)
    assert res[0, 7] == pytest.approx(want.pm_deg, abs=1e-7)


@pytest.mark.parametrize("roots, unstable", [
    ([-1.0, -2.0, -3.0], False),
    ([-1e-7, -3e4 + 2e5j, -3e4 - 2e5j, -1e9], False),
    ([1.0, -2.0], True),
    ([-1.0, 2e-3 + 1.0j, 2e-3 - 1.0j], True),     # a slightly unstable resonance
    ([1j, -1j, -5.0], True),                       # on the axis: not a steady state
    ([-4.0], False),
    ([1.0], True),                                 # needs the sign made positive first
])
def test_routh_hurwitz_on_known_roots(roots, unstable):
    # sum_k d_k s^k with d_0 = 1 for the poles -1/lambda = roots: prod (1 - s / r)
    d = np.real(np.poly(roots)[::-1])
    d = d / d[0]
    deg = len(roots)
    assert _routh_unstable(d, deg, np.zeros(deg + 2), np.zeros(deg + 2),
                           np.zeros(deg + 2)) is unstable


def test_routh_hurwitz_with_positive_coefficients_can_still_be_unstable():
    """s^3 + s^2 + 2 s + 8: every coefficient positive, but the first column is 1, 1, -6, 8."""
    d = np.array([8.0, 2.0, 1.0, 1.0])
    assert _routh_unstable(d, 3, np.zeros(5), np.zeros(5), np.zeros(5))


def _descartes_polynomial(n: np.ndarray, d: np.ndarray, dc: float) -> np.ndarray:
    """dc^2 N(s) N(-s) - D(s) D(-s) at s^2 = -y, ascending powers of y (numpy, for checking)."""
    def even(c):
        c = np.asarray(c, dtype=float)
        flip = c * (-1.0) ** np.arange(c.size)
        prod = np.polymul(c[::-1], flip[::-1])[::-1]   # ascending in s, odd powers vanish
        return prod[::2] * (-1.0) ** np.arange(prod[::2].size)
    a, b = dc**2 * even(n), even(d)
    out = np.zeros(max(a.size, b.size))
    out[:a.size] += a
    out[:b.size] -= b
    return out


def _parts(c: np.ndarray, deg: int) -> tuple[np.ndarray, np.ndarray]:
    e, o = np.zeros(_NP // 2 + 1), np.zeros(_NP // 2)
    _split(np.concatenate([c, np.zeros(_NP)]), deg, e, o)
    return e, o


def _bound(n: np.ndarray, dn: int, d: np.ndarray, dd: int, dc: float) -> tuple[int, np.ndarray]:
    p = np.zeros(_NP)
    bound = _crossings_bound(*_parts(n, dn), *_parts(d, dd), dc, p, np.zeros(_NP))
    return bound, p


def test_descartes_polynomial_equals_numpys():
    rng = np.random.default_rng(5)
    for _ in range(20):
        dn, dd = rng.integers(0, 5), rng.integers(1, 7)
        n = np.concatenate([[1.0], rng.normal(size=dn) * 10.0 ** -rng.integers(0, 8, dn)])
        d = np.concatenate([[1.0], rng.random(dd) * 10.0 ** -rng.integers(0, 8, dd)])
        _, p = _bound(n, dn, d, dd, 37.0)
        want = _descartes_polynomial(n, d, 37.0)
        np.testing.assert_allclose(p[:want.size], want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_descartes_bound_counts_the_crossings():
    # H = 1000 / (1 + s)^2: |H| = 1 once; 1000^2 - (1 + y)^2 has one sign change
    d = np.array([1.0, 2.0, 1.0, 0.0])
    n = np.array([1.0, 0.0, 0.0, 0.0])
    bound, p = _bound(n, 0, d, 2, 1000.0)
    assert bound == 1
    np.testing.assert_allclose(p[:3], _descartes_polynomial(n[:1], d[:3], 1000.0), rtol=1e-14)
    # 10 / ((1 + s)(1 + s / (Q w0) + s^2 / w0^2)), w0 = 100, Q = 50: |H| falls through 1
    # near 10 rad/s, the resonance lifts it to about 5 at w0, and it falls again: three
    # crossings, and the bound cannot be less
    w0, q = 100.0, 50.0
    d3 = np.polymul([1 / w0**2, 1 / (q * w0), 1.0], [1.0, 1.0])[::-1]  # ascending powers
    bound, _ = _bound(np.array([1.0, 0, 0, 0]), 0, d3, 3, 10.0)
    s = 1j * np.logspace(-1, 4, 200001)
    mag = np.abs(10 / np.polyval(d3[::-1], s))
    crossings = int(np.sum((mag[:-1] > 1) != (mag[1:] > 1)))
    assert crossings == 3
    assert bound >= 3


def _roots_poly(roots) -> tuple[np.ndarray, np.ndarray]:
    """prod (v - r), ascending, padded to _NP entries, with the magnitudes of its terms."""
    c = np.zeros(_NP)
    asc = np.real(np.poly(roots))[::-1]
    c[:asc.size] = asc
    return c, np.abs(c)


def _count(c, cs, deg, a, b):
    return _changes(c, cs, deg, a, b, np.zeros(_NP), np.zeros(_NP))


def test_descartes_on_an_interval_counts_the_roots_in_it():
    c, cs = _roots_poly([1.0, 4.0, 9.0])
    assert _count(c, cs, 3, 0.0, 100.0) == 3
    assert _count(c, cs, 3, 0.5, 2.0) == 1
    assert _count(c, cs, 3, 2.0, 3.0) == 0
    assert _count(c, cs, 3, 10.0, 1e6) == 0
    assert _count(c, cs, 3, 3.0, 20.0) == 2   # 4 and 9
    # the transformed polynomial's ends are c(b) and c(a)
    t = np.zeros(_NP)
    _changes(c, cs, 3, 2.0, 3.0, t, np.zeros(_NP))
    assert t[0] == pytest.approx(np.polyval(c[:4][::-1], 3.0))
    assert t[3] == pytest.approx(np.polyval(c[:4][::-1], 2.0))
    # a root on an end, or a value within rounding of zero at one, proves nothing
    assert _count(c, cs, 3, 1.0, 2.0) == -1
    line = np.array([1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])     # 1 - v
    assert _count(line, np.abs(line), 1, 0.5, 1.0 + 1e-9) == 1
    assert _count(line, np.abs(line), 1, 0.5, 1.0 + 1e-14) == -1


def _steps(c, cs, deg, v):
    """_sign_change_steps of sum c_k v^k on the grid v (ascending w^2)."""
    steps = np.zeros(64, dtype=np.int64)
    n = _sign_change_steps(c, cs, deg, -v, 0, v.size - 1, np.zeros(_NP), np.zeros(_NP),
                           np.zeros(64), np.zeros(64), steps)
    return n, list(steps[:max(n, 0)])


def test_the_steps_where_a_polynomial_changes_sign_are_found_by_isolating_its_roots():
    v = np.logspace(0, 3, 31)                 # 10 points per decade, 1 .. 1000
    # (v - 10)^2 + 1 has no real root, but Descartes' bound on (1, 1000) is 2: the pieces
    # of a split show none
    free, size = np.zeros(_NP), np.zeros(_NP)
    free[:3] = [101.0, -20.0, 1.0]
    size[:3] = np.abs(free[:3])
    assert _count(free, size, 2, 1.0, 1000.0) == 2
    assert _steps(free, size, 2, v) == (0, [])
    # roots at 3 and 300: the steps that hold them, as np.searchsorted finds them
    c, cs = _roots_poly([3.0, 300.0])
    n, steps = _steps(c, cs, 2, v)
    assert n == 2 and steps == [np.searchsorted(v, 3.0) - 1, np.searchsorted(v, 300.0) - 1]
    # two roots inside one grid step: no sign change across it, none on the grid
    c, cs = _roots_poly([10.2, 10.4, 2000.0])
    assert _steps(c, cs, 3, v) == (0, [])
    # a root on a grid point cannot be placed
    c, cs = _roots_poly([10.0])
    assert _steps(c, cs, 1, v)[0] == -1


def _winding_of(h_num, h_den, dc, w, g):
    """(found, winding, points) of _winding_until for H = dc N / D on the grid w, up to g."""
    n = np.concatenate([h_num, np.zeros(_NP)])
    d = np.concatenate([h_den, np.zeros(_NP)])
    dn, dd = len(h_num) - 1, len(h_den) - 1
    en, on = _parts(n, dn)
    ed, od = _parts(d, dd)
    q, qs = np.zeros(_NP), np.zeros(_NP)
    dq = kernel._imag_part(en, on, ed, od, q, qs)
    return _winding_until(q, qs, dq, en, on, ed, od, dc, w, -w * w, g, np.zeros(_NP),
                          np.zeros(_NP), np.zeros(64), np.zeros(64),
                          np.zeros(64, dtype=np.int64))


def test_the_winding_is_proved_as_the_walk_counts_it():
    w = np.logspace(-2, 3, 501)
    unwrapped = lambda h: np.unwrap(np.angle(h))  # noqa: E731
    # 1 / (1 + s)^2: the phase falls to -180 deg only at infinity: no step crosses an axis
    found, winding, points = _winding_of([1.0], [1.0, 2.0, 1.0], 10.0, w, 400)
    assert (found, winding, points) == (True, 0, 0)
    # 1 / (1 + s)^3: the phase passes -180 deg at w = sqrt(3), from the lower half plane into
    # the upper one (clockwise): the unwrapped phase is the principal one minus 2 pi
    den = [1.0, 3.0, 3.0, 1.0]
    found, winding, points = _winding_of([1.0], den, 10.0, w, 400)
    h = 10.0 / np.polyval(den[::-1], 1j * w[:401])
    assert found and points == 2 and winding == -1
    assert unwrapped(h)[-1] == pytest.approx(np.angle(h[-1]) + 2 * np.pi * winding)
    # before w = sqrt(3) nothing has crossed
    assert _winding_of([1.0], den, 10.0, w, 200)[:2] == (True, 0)
    # (1 - s) / (1 + s)^2, a right-half-plane zero: the phase -3 atan(w) passes -180 deg at
    # w = sqrt(3) as well, with a numerator whose odd part is not zero
    num = [1.0, -1.0]
    den2 = [1.0, 2.0, 1.0]
    h2 = np.polyval(num[::-1], 1j * w[:451]) / np.polyval(den2[::-1], 1j * w[:451])
    found, winding, _ = _winding_of(num, den2, 1.0, w, 450)
    assert found and winding == -1
    assert unwrapped(h2)[-1] == pytest.approx(np.angle(h2[-1]) + 2 * np.pi * winding)


def test_three_cascaded_stages_and_miller_match_the_hand_derived_responses():
    basic = Design(Topology((0, 0, 0, 0, 0)), {"g1": 3e-5, "rscl1": 50, "g2": 2e-4,
                                                "rscl2": 70, "g3": 8e-4, "rscl3": 45})
    miller = Design(Topology((0, 0, 2, 0, 0)), MILLER)
    m = metrics([basic, miller])
    assert list(m.code) == [MEASURED, MEASURED]
    v = basic.values
    y10, y20, y30 = _stage_admittances(v, 0)
    assert m.dc[0] == pytest.approx(v["g1"] * v["g2"] * v["g3"] / (y10 * y20 * y30), rel=1e-10)
    assert m.dc[1] == pytest.approx(abs(_miller(miller.values, 0)), rel=1e-10)
    # the hand-derived responses on the grid, measured by the shared rules
    v1, v2 = basic.values, miller.values
    y1, y2, y3 = _stage_admittances(v1, 1j * W)
    hand = np.array([v1["g1"] * v1["g2"] * v1["g3"] / (y1 * y2 * y3), _miller(v2, 1j * W)])
    want = measure(W / (2 * np.pi), hand, m.dc, m.power_w)
    for i, e in enumerate(want):
        assert e.ok and m.ok[i]
        assert m.gain_db[i] == pytest.approx(e.gain_db, abs=1e-9)
        assert m.gbw_hz[i] == pytest.approx(e.gbw_hz, rel=1e-7)
        assert m.pm_deg[i] == pytest.approx(e.pm_deg, abs=1e-6)
    # the measured metrics are those of the modal route, which the hand-derived tests check
    for got, want in zip(evaluate([basic, miller]), evaluate_modal([basic, miller]),
                         strict=True):
        assert got.ok == want.ok and got.reason == want.reason
        if want.ok:
            assert got.gbw_hz == pytest.approx(want.gbw_hz, rel=1e-9)
            assert got.pm_deg == pytest.approx(want.pm_deg, abs=1e-7)
            assert got.gain_db == pytest.approx(want.gain_db, abs=1e-9)
            assert got.power_w == want.power_w
            assert got.fom == pytest.approx(want.fom, rel=1e-9)


def test_failures_are_the_modal_routes_with_the_same_reasons():
    unstable = Design(Topology((0, 0, 15, 0, 0)), {"n1_vout_gm": 1e-3})
    inverted = Design(Topology((6, 0, 0, 0, 0)), {"g1": 1e-5, "rscl1": 40, "g2": 1e-5,
                                                  "vin_n2_gm": 1e-2})
    small = Design(Topology((0, 0, 0, 1, 1)), {"g1": 1e-5, "g2": 1e-5, "g3": 1e-5,
                                               "n1_gnd_r": 1e4, "n2_gnd_r": 1e4})
    m = metrics([unstable, inverted, small])
    assert m.code[0] == UNSTABLE and m.code[1] == m.code[2] == MEASURED
    assert not m.ok.any()
    got = m.evaluations()
    want = evaluate_modal([unstable, inverted, small])
    assert [e.reason for e in got] == [e.reason for e in want]
    assert got[0].failure == "unstable open loop" and "right half plane" in got[0].reason


def _designs(n: int, seed: int) -> list[Design]:
    """Random designs and designs at the corners of their unit cubes."""
    rng = np.random.default_rng(seed)
    tops = sample_topologies(n, rng)
    half = n // 2
    out = [Design.random(t, rng) for t in tops[:half]]
    out += [Design.from_unit(t, (rng.random(len(t.parameters())) < 0.5).astype(float))
            for t in tops[half:]]
    return out


def test_random_and_corner_designs_agree_with_the_modal_route_on_the_whole_grid():
    designs = _designs(600, 11)
    got = evaluate(designs)
    want = evaluate_modal(designs, exact_grid=True)
    assert [e.reason for e in got] == [e.reason for e in want]
    both = [(a, b) for a, b in zip(got, want, strict=True) if a.ok]
    assert len(both) > 200
    assert max(abs(a.gain_db - b.gain_db) for a, b in both) < 1e-9
    assert max(abs(a.gbw_hz / b.gbw_hz - 1) for a, b in both) < 1e-7
    assert max(abs(a.pm_deg - b.pm_deg) for a, b in both) < 1e-4
    assert sum(not a.ok for a in got) > 50  # failures of every kind are in the sample
    assert {e.failure for e in got} >= {"", "unstable open loop", "inverted at DC", "no gain"}
    # the sample holds designs whose |H| passes 1 more than once on the grid, and designs
    # whose phase crosses the negative real axis before their first crossing: the proofs of
    # both kinds are exercised (and each such design needs more than four evaluations of H)
    m = metrics(designs)
    h, _, _, _ = response(designs)
    above = np.abs(h) > 1
    passes = (above[:, 1:] != above[:, :-1]).sum(axis=1)
    assert ((passes > 1) & (m.code == MEASURED)).sum() >= 5
    assert (m.points > 4).sum() >= 20


def _measure_of(num, den, dc, shortcut=True):
    """kernel._measure of H = dc N / D (ascending coefficients) on the sweep of SWEEP:
    (out, points) with out = (finite, mag0, gain_db, crossed, mag_end, gbw, pm)."""
    from macro.evaluation import SWEEP
    from macro.solver import COARSE
    w = 2 * np.pi * SWEEP.frequencies()
    x = -w * w
    n = np.zeros(_NP)
    d = np.zeros(_NP)
    n[:len(num)] = num
    d[:len(den)] = den
    out = np.zeros(11)
    wc = w[::COARSE].copy()
    ints = lambda k: np.zeros(k, dtype=np.int64)  # noqa: E731
    kernel._measure(n, len(num) - 1, d, len(den) - 1, dc, w, x, wc, -wc * wc,
                    np.log10(w / (2 * np.pi)), COARSE, 1.5, shortcut, out,
                    np.zeros((10, wc.size + COARSE + 1)), *_parts(n, len(num) - 1),
                    *_parts(d, len(den) - 1), *(np.zeros(_NP) for _ in range(6)),
                    np.zeros(64), np.zeros(64), ints(64), ints(64))
    return out[:7], out[7]


def _reference(num, den, dc):
    from macro.evaluation import SWEEP
    f = SWEEP.frequencies()
    s = 2j * np.pi * f
    h = dc * np.polyval(np.asarray(num)[::-1], s) / np.polyval(np.asarray(den)[::-1], s)
    return measure(f, h[None, :], np.array([dc]), np.array([1e-3]))[0]


def test_several_crossings_are_placed_and_the_least_margin_kept():
    """A resonant peak lifts |H| through 1 again: down near 1 kHz, up and down again around
    the resonance at 100 kHz, the phase past -180 deg there; the GBW is the first crossing and
    the PM the least, as on the whole grid."""
    w1, w0, q = 2 * np.pi * 1e2, 2 * np.pi * 1e5, 200.0
    den = np.polymul([1 / w0**2, 1 / (q * w0), 1.0], [1 / w1, 1.0])[::-1]   # ascending
    dc = 10.0
    got, points = _measure_of([1.0], den, dc)
    want = _reference([1.0], den, dc)
    assert want.ok and got[3] == 1.0
    assert got[5] == pytest.approx(want.gbw_hz, rel=1e-12)
    assert got[6] == pytest.approx(want.pm_deg, abs=1e-9)
    assert want.pm_deg < 0            # the least margin is the resonance's, not the first's
    assert 6 <= points <= 12          # three steps where |H| passes 1, both ends of each
    whole, whole_points = _measure_of([1.0], den, dc, shortcut=False)
    np.testing.assert_array_equal(got, whole)
    assert whole_points > 90


def test_a_phase_on_the_axis_at_a_grid_point_falls_back_to_the_walk():
    """Three equal poles at w_g / sqrt(3): the phase is -180 deg exactly at the grid point
    w_g, where Im H is zero to rounding: nothing can be proved there, the walk runs and gives
    the whole grid's metrics."""
    from macro.evaluation import SWEEP
    wg = 2 * np.pi * SWEEP.frequencies()[300]
    p = wg / np.sqrt(3.0)
    den = np.polymul(np.polymul([1 / p, 1.0], [1 / p, 1.0]), [1 / p, 1.0])[::-1]
    dc = 1e3
    got, points = _measure_of([1.0], den, dc)
    want = _reference([1.0], den, dc)
    assert want.ok and want.pm_deg < 0
    assert got[5] == pytest.approx(want.gbw_hz, rel=1e-12)
    assert got[6] == pytest.approx(want.pm_deg, abs=1e-9)
    assert points > 12                # the walk's coarse points, not a proof's few


def test_the_proved_measurement_equals_the_whole_walk():
    designs = _designs(400, 12)
    short = metrics(designs)
    whole = metrics(designs, shortcut=False)
    np.testing.assert_array_equal(short.code, whole.code)
    np.testing.assert_array_equal(short.ok, whole.ok)
    ok = short.ok
    np.testing.assert_allclose(short.gbw_hz[ok], whole.gbw_hz[ok], rtol=1e-12)
    np.testing.assert_allclose(short.pm_deg[ok], whole.pm_deg[ok], atol=1e-9)
    # and it evaluates fewer grid points
    assert np.nanmean(short.points[ok]) < 0.8 * np.nanmean(whole.points[ok])


def test_arrays_and_evaluations_agree_and_an_empty_batch_is_empty():
    designs = _designs(64, 13)
    m = metrics(designs)
    evs = m.evaluations()
    assert [e.ok for e in evs] == list(m.ok)
    for e, g, p, f in zip(evs, m.gbw_hz, m.pm_deg, m.fom, strict=True):
        if e.ok:
            assert (e.gbw_hz, e.pm_deg, e.fom) == (g, p, f)
    assert np.all((m.code == MEASURED) | (m.code == SINGULAR) | (m.code == UNSTABLE))
    empty = metrics([])
    assert empty.code.shape == (0,) and empty.evaluations() == []
    assert evaluate([]) == []


def test_power_and_results_do_not_depend_on_the_rest_of_the_batch():
    designs = _designs(40, 14)
    together = metrics(designs)
    np.testing.assert_array_equal(together.power_w, [d.power() for d in designs])
    alone = [metrics([d]) for d in designs[:10]]
    for i, m in enumerate(alone):
        assert m.code[0] == together.code[i]
        np.testing.assert_array_equal([m.gbw_hz[0], m.pm_deg[0], m.dc[0]],
                                      [together.gbw_hz[i], together.pm_deg[i], together.dc[i]])


@pytest.mark.parametrize("ppd", [33, 5])
def test_grids_that_do_not_split_into_coarse_segments(ppd):
    sweep = Sweep(1.0, 1e9, ppd)
    designs = _designs(200, 15)
    want = evaluate_modal(designs, sweep=sweep, exact_grid=True)
    for shortcut in (True, False):
        got = metrics(designs, sweep, shortcut=shortcut).evaluations()
        assert [e.reason for e in got] == [e.reason for e in want]
        for a, b in zip(got, want, strict=True):
            if a.ok:
                assert a.gbw_hz == pytest.approx(b.gbw_hz, rel=1e-8)
                assert a.pm_deg == pytest.approx(b.pm_deg, abs=1e-6)


def test_a_sweep_without_two_frequencies_is_refused():
    with pytest.raises(ValueError, match="fewer than two frequencies"):
        metrics(_designs(2, 16), Sweep(10.0, 1.0, 10))


def test_an_unstable_design_without_a_pole_past_the_modal_tolerance_says_routh(monkeypatch):
    unstable = Design(Topology((0, 0, 15, 0, 0)), {"n1_vout_gm": 1e-3})
    m = metrics([unstable])
    assert m.code[0] == UNSTABLE
    monkeypatch.setattr(kernel, "poles", lambda designs: np.full((len(designs), 8), -1.0 + 0j))
    (e,) = m.evaluations()
    assert e.failure == "unstable open loop" and "Routh-Hurwitz" in e.reason


def test_a_singular_conductance_matrix_is_a_typed_failure():
    """One part, no stamps, one unknown node: G = [0]."""
    ints = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
    w = 2 * np.pi * np.array([1.0, 10.0, 100.0])
    code, res = _batch(np.zeros((1, 0), dtype=np.int64), np.zeros(0), ints(0), ints(0), ints(0),
                       ints(), np.zeros(0), ints(), ints(), ints(1), ints(0), ints(0), ints(), 8,
                       w, -w * w, w, -w * w, np.log10(w / (2 * np.pi)), 1, 1.5, True, 1.8, 20.0,
                       1e-8, 2, 25)
    assert code[0] == SINGULAR and np.isnan(res[0, 0])
