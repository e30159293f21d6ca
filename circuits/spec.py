"""Design specifications: bounds on the measured metrics, checked against a result.

A :class:`Spec` is what "meets the spec" means for LoRA-RL's infeasibility penalty (phase margin
>= 60 deg, every transistor in saturation) and for MACRO's constraints (gain, PM, GBW, power).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import SpecError
from .results import SimulationResult


@dataclass(frozen=True)
class Spec:
    """Bounds on a simulation's metrics; ``None`` leaves a metric free.

    Attributes
    ----------
    min_gain_db : lowest DC gain (dB).
    min_pm_deg : lowest phase margin (deg).
    min_ugbw_hz : lowest unity-gain bandwidth (Hz).
    max_power_w : highest supply power (W).
    saturation : every transistor must be in saturation.
    """

    min_gain_db: float | None = None
    min_pm_deg: float | None = None
    min_ugbw_hz: float | None = None
    max_power_w: float | None = None
    saturation: bool = False

    def __post_init__(self) -> None:
        for name in ("min_gain_db", "min_pm_deg", "min_ugbw_hz", "max_power_w"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                finite = not isinstance(value, bool) and isinstance(value, int | float) \
                    and math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise SpecError(f"spec {name} must be a finite number, not {value!r}")
        for name in ("min_ugbw_hz", "max_power_w"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise SpecError(f"spec {name} must be > 0")
        if not isinstance(self.saturation, bool):
            raise SpecError("spec saturation must be true or false")

    @classmethod
    def from_dict(cls, data: Mapping) -> Spec:
        """A spec from a mapping with the attribute names as keys.

        Raises
        ------
        SpecError
            For an unknown key or a bad value.
        """
        if not isinstance(data, Mapping):
            raise SpecError("a spec is a mapping of bounds")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise SpecError(f"unknown spec keys {unknown}; known: "
                            f"{sorted(cls.__dataclass_fields__)}")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path) -> Spec:
        """A spec from a JSON file (see :meth:`from_dict`)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot read spec {path}: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return asdict(self)

    def violations(self, result: SimulationResult) -> list[str]:
        """What ``result`` misses (empty when it meets every bound); a bounded metric that was
        not measured (``None`` or NaN) is a violation."""
        if not result.ok:
            return [f"simulation failed: {result.reason}"]
        out = []
        checks = (("gain", result.gain_db, self.min_gain_db, 1, "{:.1f} dB", "{:g} dB"),
                  ("phase margin", result.pm_deg, self.min_pm_deg, 1, "{:.1f} deg", "{:g} deg"),
                  ("UGBW", result.ugbw_hz, self.min_ugbw_hz, 1, "{:.3g} Hz", "{:.3g} Hz"),
                  ("power", result.power_w, self.max_power_w, -1, "{:.3g} W", "{:.3g} W"))
        for label, value, bound, sign, fmt, bfmt in checks:
            if bound is None:
                continue
            if value is None or not math.isfinite(value):
                out.append(f"{label} not measured")
            elif sign * value < sign * bound:
                out.append(f"{label} {fmt.format(value)} {'<' if sign > 0 else '>'} "
                           f"{bfmt.format(bound)}")
        if self.saturation:
            if not result.devices:
                out.append("no transistor operating point to check saturation on")
            elif not result.all_saturated:
                off = [f"{n} ({d.region})" for n, d in result.devices.items()
                       if d.region != "saturation"]
                out.append(f"not in saturation: {', '.join(off)}")
        return out

    def met(self, result: SimulationResult) -> bool:
        """True when ``result`` meets every bound."""
        return not self.violations(result)
