"""The reward of section III-C: every spec met, one missed, negative PM, failure."""

import math

import pytest

from macro.evaluation import Evaluation, fom
from macro.reward import B_GAP, EXPONENTS, PENALTY, Specs, meets_spec, redundancy, score, spow

SPECS = Specs()


def ev(gain=90.0, pm=60.0, gbw=1.4e6, power=20.9e-6):
    return Evaluation(True, "", gain, gbw, pm, power, fom(gbw, power))


def test_specs_of_the_paper():
    assert SPECS.as_vector() == (85.0, 55.0, 0.7e6, 250e-6)
    with pytest.raises(ValueError):
        Specs(gain_db=float("nan"))
    with pytest.raises(ValueError):
        Specs(power_w=-1.0)


def test_every_spec_met_scores_the_weighted_product_plus_b():
    e = ev()
    alpha = redundancy(e, SPECS)
    assert alpha == pytest.approx((90 / 85, 60 / 55, 2.0, 250 / 20.9))
    assert meets_spec(e, SPECS)
    for name, gammas in EXPONENTS.items():
        want = math.prod(a**g for a, g in zip(alpha, gammas, strict=True)) + B_GAP
        assert score(e, SPECS, name) == pytest.approx(want)
        assert score(e, SPECS, name) > 1 + B_GAP
    assert EXPONENTS["exp1"] == (0.4, 0.1, 0.7, 1.0)
    assert EXPONENTS["exp2"] == (0.1, 0.3, 0.5, 1.0)
    # more GBW or less power scores higher
    assert score(ev(gbw=2e6), SPECS) > score(e, SPECS) < score(ev(power=10e-6), SPECS)


def test_one_spec_missed_scores_its_redundancy_below_one():
    e = ev(gbw=0.5e6)
    assert not meets_spec(e, SPECS)
    assert score(e, SPECS) == pytest.approx(0.5 / 0.7)
    assert score(e, SPECS) < 1 < 1 + B_GAP < score(ev(), SPECS)
    hungry = ev(power=500e-6)
    assert score(hungry, SPECS, "exp2") == pytest.approx(0.5)
    # exactly at a threshold is not met (alpha must exceed 1)
    assert not meets_spec(ev(pm=55.0), SPECS)


def test_negative_phase_margin_scores_negative():
    e = ev(pm=-20.0)
    assert score(e, SPECS) == pytest.approx(-20 / 55)
    assert score(e, SPECS) < 0 < score(ev(pm=10.0), SPECS)
    assert score(ev(pm=-60.0), SPECS) < score(e, SPECS)
    assert spow(-2.0, 0.1) == pytest.approx(-(2.0**0.1)) and spow(4.0, 0.5) == 2.0


def test_failed_simulation_scores_the_penalty():
    failed = Evaluation.failed("unstable open loop")
    assert score(failed, SPECS) == PENALTY == 0.0
    assert score(failed, SPECS, penalty=-1.0) == -1.0
    assert not meets_spec(failed, SPECS)
    with pytest.raises(ValueError):
        redundancy(failed, SPECS)
    with pytest.raises(ValueError):
        score(ev(), SPECS, "exp3")
