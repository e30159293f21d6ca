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
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
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
        """What ``result`` misses (empty when it meets every bound)."""
        if not result.ok:
            return [f"simulation failed: {result.reason}"]
        out = []
        if self.min_gain_db is not None and result.gain_db < self.min_gain_db:
            out.append(f"gain {result.gain_db:.1f} dB < {self.min_gain_db:g} dB")
        if self.min_pm_deg is not None and result.pm_deg < self.min_pm_deg:
            out.append(f"phase margin {result.pm_deg:.1f} deg < {self.min_pm_deg:g} deg")
        if self.min_ugbw_hz is not None and result.ugbw_hz < self.min_ugbw_hz:
            out.append(f"UGBW {result.ugbw_hz:.3g} Hz < {self.min_ugbw_hz:.3g} Hz")
        if self.max_power_w is not None and result.power_w > self.max_power_w:
            out.append(f"power {result.power_w:.3g} W > {self.max_power_w:.3g} W")
        if self.saturation and not result.all_saturated:
            off = [n for n, d in result.devices.items() if d.region != "saturation"]
            out.append(f"not in saturation: {', '.join(off)}")
        return out

    def met(self, result: SimulationResult) -> bool:
        """True when ``result`` meets every bound."""
        return not self.violations(result)
