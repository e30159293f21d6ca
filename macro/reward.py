"""MACRO's reward (section III-C, equations (14)-(16)) and the specifications of IV-C.

Each metric ``c_i`` is compared with its threshold by the *redundancy rate* (15),
``alpha_i = c_i / c_th^i``, normalised so that ``alpha_i > 1`` means the spec is met: for the
lower bounds (gain, PM, GBW) ``alpha = value / threshold``, for the upper bound on power
``alpha = threshold / value``. The score (14) is

.. math::

   \\text{score} = \\begin{cases}
       \\prod_i \\operatorname{spow}(\\alpha_i, \\gamma_i) + b, & \\alpha_i > 1\\ \\forall i \\\\
       \\min_i \\alpha_i, & \\text{otherwise}
   \\end{cases}

with the exponents ``gamma`` of IV-C (``"exp1"``: gain 0.4, PM 0.1, GBW 0.7, power 1;
``"exp2"``: 0.1, 0.3, 0.5, 1) and ``b = 1``: an unqualified design scores at most 1 and a
qualified one more than ``1 + b = 2`` (every factor exceeds 1), so ``b`` is the smallest gap
between the two, as the paper describes it.

**"Odd values" of gamma_PM.** The paper asks for "odd" exponents so that a negative PM (a
negative ``alpha_PM``) gives a negative score. ``0.1`` and ``0.3`` are not odd integers, so we
read it as an *odd power function*: ``spow(x, g) = sign(x) |x|^g``, which keeps the sign of
``x`` for any ``g > 0`` and equals ``x^g`` for ``x > 0``. In the qualified branch every
``alpha > 1``, so ``spow`` changes nothing there; in the unqualified branch a negative PM gives
``min_i alpha_i <= alpha_PM < 0``: a negative score, below every design with a positive PM,
as the paper wants. The unqualified branch uses ``alpha_i`` without exponents, as (14) writes.

**Failures (16).** A design whose simulation fails scores ``penalty = 0`` ("a penalty value
like 0"): below every design that meets some spec partly, above the designs with negative
alphas (negative PM, or gain below 0 dB), whose scores are negative.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``) and by agent
training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .evaluation import Evaluation

#: Exponent sets gamma = (gain, PM, GBW, power) of section IV-C.
EXPONENTS = {"exp1": (0.4, 0.1, 0.7, 1.0), "exp2": (0.1, 0.3, 0.5, 1.0)}
#: ``b`` of (14): the smallest gap between qualified and unqualified scores.
B_GAP = 1.0
#: The score (16) of a design whose simulation failed.
PENALTY = 0.0


@dataclass(frozen=True)
class Specs:
    """The specifications of section IV-C.

    Attributes
    ----------
    gain_db : minimum gain at 1 Hz (dB).
    pm_deg : minimum phase margin (deg).
    gbw_hz : minimum gain-bandwidth product (Hz).
    power_w : maximum power (W).
    """

    gain_db: float = 85.0
    pm_deg: float = 55.0
    gbw_hz: float = 0.7e6
    power_w: float = 250e-6

    def __post_init__(self) -> None:
        for name in ("gain_db", "pm_deg", "gbw_hz", "power_w"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v <= 0:
                raise ValueError(f"spec {name} must be a finite number > 0, not {v!r}")

    def as_vector(self) -> tuple[float, float, float, float]:
        """``(gain_db, pm_deg, gbw_hz, power_w)``: agent features ``c_th``."""
        return (self.gain_db, self.pm_deg, self.gbw_hz, self.power_w)


def spow(x: float, g: float) -> float:
    """The odd power ``sign(x) |x|^g``."""
    return math.copysign(abs(x) ** g, x)


def redundancy(ev: Evaluation, specs: Specs) -> tuple[float, float, float, float]:
    """Equation (15): ``alpha`` of gain, PM, GBW and power (power inverted: ``P_th / P``).

    Raises
    ------
    ValueError
        When the evaluation failed (it has no metrics).
    """
    if not ev.ok:
        raise ValueError(f"a failed evaluation has no redundancy rates ({ev.reason})")
    power = ev.power_w if ev.power_w and ev.power_w > 0 else float("nan")
    return (ev.gain_db / specs.gain_db, ev.pm_deg / specs.pm_deg, ev.gbw_hz / specs.gbw_hz,
            specs.power_w / power)


def meets_spec(ev: Evaluation, specs: Specs) -> bool:
    """Whether a successful evaluation meets every spec (strictly: every ``alpha > 1``); chapter
    "The behaviour-level model", sections "Random designs" and "The reward"."""
    if not ev.ok:
        return False
    return all(a > 1 for a in redundancy(ev, specs))


def score(ev: Evaluation, specs: Specs, exponents: str = "exp1", *, b: float = B_GAP,
          penalty: float = PENALTY) -> float:
    """Equations (14)-(16) (see the module docstring); chapter "The behaviour-level model",
    section "The reward".

    Parameters
    ----------
    ev : the evaluation.
    specs : the thresholds.
    exponents : ``"exp1"`` or ``"exp2"`` (:data:`EXPONENTS`).
    b : the gap of (14).
    penalty : the score of a failed simulation.

    Raises
    ------
    ValueError
        For an unknown exponent set.
    """
    if exponents not in EXPONENTS:
        raise ValueError(f"exponents must be one of {sorted(EXPONENTS)}, not {exponents!r}")
    if not ev.ok:
        return float(penalty)
    alpha = redundancy(ev, specs)
    if any(not math.isfinite(a) for a in alpha):
        return float(penalty)
    if all(a > 1 for a in alpha):
        return math.prod(spow(a, g) for a, g in zip(alpha, EXPONENTS[exponents],
                                                   strict=True)) + b
    return min(alpha)


__all__ = ["B_GAP", "EXPONENTS", "PENALTY", "Specs", "meets_spec", "redundancy", "score",
           "spow"]
