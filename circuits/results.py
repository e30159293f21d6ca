"""Typed simulation results and the AC measurements both papers use.

A :class:`SimulationResult` is what every simulation returns: ``ok`` and, when not ok, the
failure and its reason; the DC operating point (node voltages, and per transistor Id, gm, gds,
Vgs, Vth, Vds, Vdsat and region); and the AC metrics DC gain, unity-gain bandwidth, phase margin,
supply power and LoRA-RL's figure of merit.

:func:`measure_ac` holds the measurement definitions (book chapter "Circuits, process models and
simulation"): DC gain = |H| at the lowest frequency; unity-gain bandwidth by log-log
interpolation at the first downward crossing of |H| = 1 (cubic through the four nearest sweep
points, :func:`circuits.accuracy.crossing_accuracy` measures its error); phase margin = 180 deg +
the phase (unwrapped from the lowest frequency) at that crossing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import native
from .engine import Failure
from .jsondata import json_safe

#: Quantities read for every transistor at the operating point.
OP_QUANTITIES = ("id", "gm", "gds", "vgs", "vth", "vds", "vdsat")


#: How far (V) below its threshold a gate-source voltage turns a transistor off: with a
#: subthreshold swing of 80-90 mV/decade, 200 mV is under 1 % of the threshold current, while
#: an input pair biased deep in weak inversion (high gm/Id) stays within it.
CUTOFF_MARGIN = 0.2


@dataclass(frozen=True)
class DeviceOP:
    """Operating point of one transistor (magnitudes for PMOS, as ngspice's BSIM4 reports them).

    ``margin`` is |Vds| - |Vdsat|: positive in saturation. ``region`` is ``"cutoff"`` when
    |Vgs| is more than :data:`CUTOFF_MARGIN` below |Vth| (the device is off, whatever its
    Vds), else ``"saturation"`` or ``"triode"``; ``weak_inversion`` is true when |Vgs| < |Vth|.
    """

    name: str
    polarity: str
    id: float
    gm: float
    gds: float
    vgs: float
    vth: float
    vds: float
    vdsat: float

    @property
    def margin(self) -> float:
        return abs(self.vds) - abs(self.vdsat)

    @property
    def region(self) -> str:
        if abs(self.vgs) < abs(self.vth) - CUTOFF_MARGIN:
            return "cutoff"
        return "saturation" if self.margin > 0 else "triode"

    @property
    def weak_inversion(self) -> bool:
        return abs(self.vgs) < abs(self.vth)

    @property
    def gm_over_id(self) -> float:
        return self.gm / abs(self.id) if self.id else float("nan")

    @property
    def intrinsic_gain(self) -> float:
        return self.gm / self.gds if self.gds else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(margin=self.margin, region=self.region, weak_inversion=self.weak_inversion)
        return d


@dataclass(frozen=True)
class ACMetrics:
    """Small-signal metrics of an open-loop response."""

    gain_db: float
    ugbw_hz: float | None
    pm_deg: float | None


@dataclass
class SimulationResult:
    """The result of one simulation; ``ok`` false carries ``failure`` and ``reason``."""

    ok: bool
    circuit: str
    technology: str
    params: dict[str, float]
    failure: Failure | None = None
    reason: str | None = None
    gain_db: float | None = None
    ugbw_hz: float | None = None
    pm_deg: float | None = None
    power_w: float | None = None
    fom: float | None = None
    node_voltages: dict[str, float] = field(default_factory=dict)
    devices: dict[str, DeviceOP] = field(default_factory=dict)
    frequency: np.ndarray | None = field(default=None, repr=False)
    response: np.ndarray | None = field(default=None, repr=False)
    elapsed_s: float = 0.0
    log: str = field(default="", repr=False)
    #: Time (s) inside ngspice's own calls: the new values (``alter``) and the analysis.
    ngspice_s: float = field(default=0.0, repr=False)

    @property
    def all_saturated(self) -> bool:
        """Every transistor in saturation (false when there is no operating point)."""
        return bool(self.devices) and all(d.region == "saturation" for d in self.devices.values())

    @property
    def min_margin(self) -> float:
        """Smallest |Vds| - |Vdsat| over the transistors (V); NaN without transistors."""
        return min((d.margin for d in self.devices.values()), default=float("nan"))

    def to_dict(self, include_ac: bool = False, include_log: bool = False) -> dict[str, Any]:
        """A JSON-ready dictionary (``failure`` as its string value)."""
        d: dict[str, Any] = {
            "ok": self.ok, "reason": self.reason,
            "failure": self.failure.value if self.failure else None,
            "circuit": self.circuit, "technology": self.technology,
            "gain_db": self.gain_db, "ugbw_hz": self.ugbw_hz, "pm_deg": self.pm_deg,
            "power_w": self.power_w, "fom": self.fom,
            "all_saturated": self.all_saturated if self.devices else None,
            "min_margin_v": None if math.isnan(self.min_margin) else self.min_margin,
            "params": dict(self.params), "node_voltages": dict(self.node_voltages),
            "devices": {k: v.to_dict() for k, v in self.devices.items()},
            "elapsed_s": self.elapsed_s,
        }
        if include_ac and self.frequency is not None and self.response is not None:
            d["ac"] = {"frequency_hz": self.frequency.tolist(),
                       "re": self.response.real.tolist(), "im": self.response.imag.tolist()}
        if include_log:
            d["log"] = self.log
        return json_safe(d)


#: Largest distance (deg) of the lowest frequency's phase from 0 (or 180, inverted) for its gain
#: to count as the DC gain: at most 3 dB below it for a dominant pole.
LOW_FREQUENCY_PHASE_TOLERANCE = 45.0


class MeasurementError(ValueError):
    """The response cannot be measured (e.g. the amplifier inverts)."""


def measure_ac(frequency: np.ndarray, response: np.ndarray, interpolation: str = "cubic"
               ) -> ACMetrics:
    """DC gain, unity-gain bandwidth and phase margin of an open-loop response.

    The DC gain is |H| at the lowest frequency, whose phase must be within
    :data:`LOW_FREQUENCY_PHASE_TOLERANCE` of 0 deg (the sweep starts below the dominant pole).
    The unity-gain bandwidth is the first frequency where |H| falls through 1: between the two
    sweep points around it, log|H| and the phase are interpolated over log f by the cubic through
    the four nearest points (``interpolation="cubic"``, the default) or by straight lines
    (``"linear"``); the phase margin is 180 deg plus the phase there, or, when |H| rises above 1
    again and falls through it later (a resonance), the smallest of the margins at every such
    crossing: the one that decides the stability of the closed loop.

    Parameters
    ----------
    frequency : increasing frequencies (Hz), shape ``(n,)``.
    response : complex gain v(out)/v(in) at those frequencies, shape ``(n,)``.
    interpolation : ``"cubic"`` or ``"linear"`` (see above).

    Returns
    -------
    ACMetrics
        ``ugbw_hz`` and ``pm_deg`` are ``None`` when |H| never falls through 1 (gain below
        0 dB at the lowest frequency, or above 0 dB at the highest).

    Raises
    ------
    MeasurementError
        When the low-frequency phase is near 180 deg (the output is inverted with respect to
        ``inp``: the pins are swapped and the DC feedback is positive), or neither near 0 nor
        180 deg (the sweep starts above the dominant pole: its lowest gain is not the DC gain).
    """
    return ACMetrics(*ac_values(frequency, response, interpolation))


def ac_values(frequency: np.ndarray, response: np.ndarray, interpolation: str = "cubic"
              ) -> tuple[float, float | None, float | None]:
    """:func:`measure_ac` as a plain tuple ``(gain_db, ugbw_hz, pm_deg)``, the same values.

    The form a simulation worker uses once per simulation (section "The simulation engine"):
    lean on purpose. Whole-array operations only where every point matters (the magnitude,
    the crossings, the accumulated phase); scalars elsewhere, with the same arithmetic in the
    same order as the whole-array form, so the values are the same to the last bit. The checks
    of a frequency grid and its logarithms are kept for the grid seen last (:class:`_Grid`):
    a bench sweeps the same grid every time. When the compiled fast path is built
    (:mod:`circuits.native`), everything after |H| runs in C with the same operations in the
    same order (no fused multiply-add): the same values and the same errors, about four times
    sooner.

    Raises
    ------
    MeasurementError
        As :func:`measure_ac`.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, not {interpolation!r}")
    f = np.asarray(frequency, dtype=float)
    h = np.asarray(response, dtype=complex)
    if f.shape != h.shape or f.ndim != 1 or f.size < 2:
        raise MeasurementError("frequency and response must be 1-D arrays of the same length")
    log_f, log_f_array = _Grid.checked(f)
    mag = np.abs(h)
    if native.available():
        return _native_values(f, log_f_array, mag, h, interpolation == "cubic")
    if not math.isfinite(_MAX(mag)):  # a NaN or an infinity: the greatest is not finite
        raise MeasurementError("response is not finite")
    if _MIN(mag) <= 0:
        raise MeasurementError(f"response is zero at {f[np.argmin(mag)]:.3g} Hz")
    h0 = complex(h[0])
    angle0 = math.atan2(h0.imag, h0.real)
    phase0 = angle0 * _DEGREES
    off = abs((phase0 + 180) % 360 - 180)  # distance of the low-frequency phase from 0 deg
    if off > 180 - LOW_FREQUENCY_PHASE_TOLERANCE:
        raise _inverted(phase0)
    if off > LOW_FREQUENCY_PHASE_TOLERANCE:
        raise _above_pole(f, phase0)
    mag0 = float(mag[0])
    gain_db = 20 * math.log10(mag0)
    if mag0 <= 1:
        return gain_db, None, None
    crossings = _falls(np.greater(mag, 1.0).tobytes())
    if not crossings:
        return gain_db, None, None
    # The unwrapped phase (deg) at point k: the principal angle of each step h[j+1]/h[j]
    # accumulated (as numpy.unwrap does) plus the first angle, turned so that it starts within
    # 180 deg of 0. Only the points a crossing looks at are turned into degrees.
    n = f.size
    last = min(max(crossings[-1] + 3, 4), n)
    step = h[1:last] / h[:last - 1]
    turns = np.add.accumulate(np.arctan2(step.imag, step.real)).tolist()
    shift = 360 * round(phase0 / 360)

    def phase(k: int) -> float:
        return ((turns[k - 1] + angle0) if k else angle0) * _DEGREES - shift

    cross = _cubic_crossing if interpolation == "cubic" else _linear_crossing
    found = [cross(log_f, mag, phase, i) for i in crossings]
    return gain_db, 10 ** found[0][0], min(pm for _, pm in found)


def _falls(above: bytes) -> list[int]:
    """The indices i where ``above[i]`` is 1 and ``above[i + 1]`` is 0 (bytes of a boolean
    array): where |H| falls through 1."""
    out = []
    i = above.find(b"\x01\x00")
    while i >= 0:
        out.append(i)
        i = above.find(b"\x01\x00", i + 1)
    return out


def _native_values(f: np.ndarray, log_f: np.ndarray, mag: np.ndarray, h: np.ndarray,
                   cubic: bool) -> tuple[float, float | None, float | None]:
    """:func:`ac_values` by the compiled fast path (:func:`circuits.native.measure`), from |H|
    onwards: the same values and the same errors."""
    code, gain_db, log_ugbw, pm_deg, phase0, at = native.measure(
        log_f, mag, np.ascontiguousarray(h), LOW_FREQUENCY_PHASE_TOLERANCE, cubic)
    if code == native.MEASURED:
        return gain_db, 10 ** log_ugbw, pm_deg
    if code == native.NO_CROSSING:
        return gain_db, None, None
    if code == native.NOT_FINITE:
        raise MeasurementError("response is not finite")
    if code == native.ZERO:
        raise MeasurementError(f"response is zero at {f[at]:.3g} Hz")
    if code == native.INVERTED:
        raise _inverted(phase0)
    raise _above_pole(f, phase0)


def _inverted(phase0: float) -> MeasurementError:
    return MeasurementError(
        f"the low-frequency phase is {phase0:.0f} deg: the output is inverted with respect to "
        "inp (swap inp and inn)")


def _above_pole(f: np.ndarray, phase0: float) -> MeasurementError:
    return MeasurementError(
        f"the phase at the lowest frequency ({f[0]:.3g} Hz) is already {phase0:.0f} deg: the "
        "sweep starts above the dominant pole, so the DC gain is not reached (lower f_start)")


class _Grid:
    """The frequency grid checked last and its base-10 logarithms (one grid per bench: the
    checks and the logarithms are made once, not once per simulation)."""

    _last: tuple[bytes, list[float], np.ndarray] | None = None

    @classmethod
    def checked(cls, f: np.ndarray) -> tuple[list[float], np.ndarray]:
        """``log10(f)`` as a list and as a (read-only) array, once ``f`` is known positive,
        finite and increasing.

        Raises
        ------
        MeasurementError
            When it is not.
        """
        key = f.tobytes()
        last = cls._last
        if last is not None and last[0] == key:
            return last[1], last[2]
        if not (math.isfinite(f[-1]) and f[0] > 0 and _ALL(np.greater(f[1:], f[:-1]))):
            raise MeasurementError("frequencies must be positive, finite and increasing")
        log_f = np.log10(f)
        log_f.flags.writeable = False
        cls._last = (key, log_f.tolist(), log_f)
        return cls._last[1], log_f


#: Radians to degrees, as :func:`numpy.degrees` computes it.
_DEGREES = 180.0 / math.pi
# the reductions of measure_ac, called as ufunc methods (the array methods add a Python layer)
_ALL, _MAX, _MIN = np.logical_and.reduce, np.maximum.reduce, np.minimum.reduce


#: How the unity-gain crossing is located between two sweep points (see :func:`measure_ac`).
INTERPOLATIONS = ("cubic", "linear")


def _linear_crossing(log_f: list[float], mag: np.ndarray, phase: Callable[[int], float], i: int
                     ) -> tuple[float, float]:
    """Crossing between points i and i+1 by linear interpolation of log|H| and of the phase
    over log f: (log10 of the frequency, phase margin)."""
    lf0, lf1 = log_f[i], log_f[i + 1]
    lm0, lm1 = math.log10(mag[i]), math.log10(mag[i + 1])
    t = lm0 / (lm0 - lm1)
    p0 = phase(i)
    return lf0 + t * (lf1 - lf0), 180.0 + p0 + t * (phase(i + 1) - p0)


def _cubic(xs: list[float], ys: list[float]) -> Callable[[float], float]:
    """The cubic through four points (Lagrange form), as a function."""
    x0, x1, x2, x3 = xs
    w0 = ys[0] / ((x0 - x1) * (x0 - x2) * (x0 - x3))
    w1 = ys[1] / ((x1 - x0) * (x1 - x2) * (x1 - x3))
    w2 = ys[2] / ((x2 - x0) * (x2 - x1) * (x2 - x3))
    w3 = ys[3] / ((x3 - x0) * (x3 - x1) * (x3 - x2))

    def value(x: float) -> float:
        d0, d1, d2, d3 = x - x0, x - x1, x - x2, x - x3
        return w0 * d1 * d2 * d3 + w1 * d0 * d2 * d3 + w2 * d0 * d1 * d3 + w3 * d0 * d1 * d2

    return value


def _cubic_crossing(log_f: list[float], mag: np.ndarray, phase: Callable[[int], float], i: int
                    ) -> tuple[float, float]:
    """Crossing between points i and i+1 on the cubics through the four nearest points:
    (log10 of the frequency, phase margin).

    log|H| and the unwrapped phase are each interpolated over log f by the cubic through points
    i-1 .. i+2 (shifted inwards at the ends of the sweep; linear with fewer than four points);
    the root of log|H| in [f_i, f_i+1], where it changes sign, is found by the Illinois variant
    of regula falsi, and the phase margin is 180 deg plus the phase cubic there.
    """
    n = len(log_f)
    if n < 4:
        return _linear_crossing(log_f, mag, phase, i)
    start = min(max(i - 1, 0), n - 4)
    xs = log_f[start:start + 4]
    ys = [math.log10(m) for m in mag[start:start + 4].tolist()]
    magnitude = _cubic(xs, ys)
    a, b = xs[i - start], xs[i + 1 - start]
    fa, fb = ys[i - start], ys[i + 1 - start]
    x, side = b, 0
    for _ in range(60 if fb != 0.0 else 0):
        x = b - fb * (b - a) / (fb - fa)
        fx = magnitude(x)
        if abs(fx) < 1e-15 or b - a < 1e-13:
            break
        if (fx > 0) == (fa > 0):
            a, fa = x, fx
            if side == -1:
                fb /= 2
            side = -1
        else:
            b, fb = x, fx
            if side == 1:
                fa /= 2
            side = 1
    return x, 180.0 + _cubic(xs, [phase(k) for k in range(start, start + 4)])(x)


def fom(ugbw_hz: float, power_w: float, ref_ugbw_hz: float, ref_power_w: float
        ) -> float | None:
    """LoRA-RL's figure of merit ``(GBW / GBW_ref)^2 / (P / P_ref)`` (1.0 at the reference).

    ``None`` when a power is not positive (a circuit that draws no supply current has no FoM).
    """
    if not (power_w > 0 and ref_power_w > 0 and ref_ugbw_hz > 0):
        return None
    return (ugbw_hz / ref_ugbw_hz) ** 2 / (power_w / ref_power_w)
