"""Metrics of a behaviour-level op-amp from its open-loop response, shared by both simulators.

Both the batched solver (:mod:`macro.solver`) and the ngspice reference (:mod:`macro.reference`)
hand their responses on the same frequency grid to :func:`measure`, so the two differ only in
how the response was computed. Definitions (section II-A, equation (2), and ``PAPER_FACTS``):

* the sweep is 1 Hz - 1 GHz with 100 points per decade (:data:`SWEEP`, 901 points);
* **gain** is ``20 log10 |H(1 Hz)|``;
* **GBW** is the first frequency where ``|H|`` falls through 1, by linear interpolation of
  ``log|H|`` over ``log f`` between the two sweep points around it;
* **PM** is ``180 deg + phase`` there, the phase unwrapped along the sweep from its principal
  value at 1 Hz and interpolated like the magnitude; when ``|H|`` rises above 1 again and falls
  through it later (a resonance), the smallest margin of all such crossings;
* **power** is the gm/Id model ``P = VDD * sum|gm| / (gm/Id)``, VDD = 1.8 V, gm/Id = 20 S/A;
* **FoM** = ``GBW[MHz] * C_L[pF] / P[mW]`` with C_L = 10 nF (1.4 MHz at 20.9 uW gives 670,000).

A design fails (``ok`` false, a reason, every metric ``None``) when the response cannot be
measured: the DC gain is not positive (the output is inverted at DC, so the feedback that the
op-amp is built for would be positive), ``|H(1 Hz)| <= 1``, ``|H|`` is still above 1 at 1 GHz,
or the response is not finite; the batched solver also fails a design whose open-loop circuit
has a pole in the right half plane (it is unstable by itself, so no AC response exists) or whose
nodal matrix is singular. A phase margin that is negative is *not* a failure: the reward scores
it (section III-C).

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .topology import C_LOAD

#: Supply voltage (V) and gm/Id (S/A) of the power model.
VDD = 1.8
GM_OVER_ID = 20.0


@dataclass(frozen=True)
class Sweep:
    """The AC grid.

    Attributes
    ----------
    start : first frequency (Hz).
    stop : last frequency (Hz).
    points_per_decade : points per decade.
    """

    start: float = 1.0
    stop: float = 1e9
    points_per_decade: int = 100

    def frequencies(self) -> np.ndarray:
        """``start * 10^(k / ppd)`` up to ``stop``, as ngspice's ``.ac dec`` makes them."""
        decades = math.log10(self.stop / self.start)
        n = math.floor(decades * self.points_per_decade + 1e-9) + 1
        return self.start * 10.0 ** (np.arange(n) / self.points_per_decade)


#: The grid of section II-B: 1 Hz - 1 GHz, 100 points per decade.
SWEEP = Sweep()


@dataclass(frozen=True)
class Evaluation:
    """The simulated metrics of one design.

    Attributes
    ----------
    ok : whether the design could be measured.
    reason : why not (``""`` when ok): a short kind, a colon, the details (``"unstable open
        loop: ..."``, ``"inverted at DC: ..."``, ``"no gain: ..."``, ``"no crossing: ..."``,
        ``"not finite: ..."``, ``"singular: ..."``, ``"ngspice failed: ..."``).
    gain_db : gain at 1 Hz (dB).
    gbw_hz : gain-bandwidth product, the 0 dB crossing (Hz).
    pm_deg : phase margin (deg), may be negative.
    power_w : supply power of the gm/Id model (W).
    fom : ``GBW[MHz] * C_L[pF] / P[mW]``.
    """

    ok: bool
    reason: str = ""
    gain_db: float | None = None
    gbw_hz: float | None = None
    pm_deg: float | None = None
    power_w: float | None = None
    fom: float | None = None

    @property
    def failure(self) -> str:
        """The kind of failure (the reason up to its colon), ``""`` when ok."""
        return self.reason.split(":", 1)[0] if not self.ok else ""

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dictionary."""
        return asdict(self)

    @classmethod
    def failed(cls, reason: str) -> Evaluation:
        """A failed evaluation."""
        return cls(False, reason)


def fom(gbw_hz: float, power_w: float, c_load: float = C_LOAD) -> float:
    """Equation (2): ``GBW[MHz] * C_L[pF] / P[mW]`` (``nan`` when the power is not positive)."""
    if not power_w > 0:
        return float("nan")
    return (gbw_hz / 1e6) * (c_load * 1e12) / (power_w * 1e3)


def measure(frequency: np.ndarray, response: np.ndarray, dc_gain: np.ndarray,
            power_w: np.ndarray) -> list[Evaluation]:
    """The metrics of many responses on one grid.

    Parameters
    ----------
    frequency : increasing frequencies (Hz), shape ``(F,)``.
    response : ``v(vout) / v(vin)``, shape ``(B, F)``.
    dc_gain : the exact DC transfer ``H(0)``, shape ``(B,)``.
    power_w : power of each design, shape ``(B,)``.

    Returns
    -------
    list[Evaluation]
        One per row, failed ones with their reason (see the module docstring).
    """
    f = np.asarray(frequency, dtype=float)
    h = np.atleast_2d(np.asarray(response, dtype=complex))
    b = h.shape[0]
    dc = np.broadcast_to(np.asarray(dc_gain, dtype=float), (b,))
    pw = np.broadcast_to(np.asarray(power_w, dtype=float), (b,))
    with np.errstate(all="ignore"):
        mag = np.abs(h)
        finite = np.isfinite(mag).all(axis=1) & (mag > 0).all(axis=1)
        logm = np.log10(np.where(mag > 0, mag, 1e-300))
        ratio = h[:, 1:] / np.where(h[:, :-1] != 0, h[:, :-1], 1)
        phase = np.empty(h.shape)
        phase[:, 0] = np.angle(h[:, 0])
        phase[:, 1:] = phase[:, :1] + np.cumsum(np.angle(ratio), axis=1)
        phase = np.degrees(phase)
        down = (mag[:, :-1] > 1) & (mag[:, 1:] <= 1)
        logf = np.log10(f)
        t = logm[:, :-1] / (logm[:, :-1] - logm[:, 1:])
        lf = logf[:-1] + t * (logf[1:] - logf[:-1])
        pm_all = 180.0 + phase[:, :-1] + t * (phase[:, 1:] - phase[:, :-1])
        pm = np.where(down, pm_all, np.inf).min(axis=1)
        first = np.argmax(down, axis=1)
        gbw = 10.0 ** lf[np.arange(b), first]
        gain_db = 20 * np.log10(mag[:, 0])
    return [verdict(bool(finite[i]), float(dc[i]), float(mag[i, 0]), float(gain_db[i]),
                    bool(down[i].any()), float(mag[i, -1]), float(gbw[i]), float(pm[i]),
                    float(pw[i]), f) for i in range(b)]


def verdict(finite: bool, dc: float, mag0: float, gain_db: float, crossed: bool,
            mag_end: float, gbw: float, pm: float, power: float, f: np.ndarray) -> Evaluation:
    """The evaluation of one measured response, by the rules of the module docstring:
    ``crossed`` whether ``|H|`` falls through 1 somewhere on the grid, ``mag0`` and ``mag_end``
    ``|H|`` at its ends, ``gbw`` and ``pm`` as measured at the crossings."""
    if not finite:
        return Evaluation.failed("not finite: the response is not finite or is zero")
    if not dc > 0:
        return Evaluation.failed(
            f"inverted at DC: the DC gain is {'negative' if dc < 0 else 'zero'}, so the "
            "op-amp's feedback would be positive")
    if mag0 <= 1:
        return Evaluation.failed(f"no gain: the gain at {f[0]:g} Hz is {gain_db:.1f} dB, not "
                                 "above 0 dB")
    if not crossed or mag_end > 1:
        return Evaluation.failed(f"no crossing: |H| is still above 1 at {f[-1]:.3g} Hz, no "
                                 "unity-gain crossing in the sweep")
    return Evaluation(True, "", gain_db, gbw, pm, power, fom(gbw, power))


__all__ = ["GM_OVER_ID", "SWEEP", "VDD", "Evaluation", "Sweep", "fom", "measure", "verdict"]
