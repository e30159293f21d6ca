"""How accurately the bench's AC sweep locates the unity-gain crossing (book chapter "Circuits,
process models and simulation", section on the test bench).

The unity-gain bandwidth and the phase margin are read between two points of the AC sweep
(:func:`circuits.results.measure_ac`). A coarse sweep is cheap, a dense one exact; this study
measures the error of each sweep density and interpolation against a dense reference sweep:

1. ``n`` sizings of every amplifier are drawn around its reference sizing (each parameter
   multiplied by a log-uniform factor in ``[1 / (1 + spread), 1 + spread]``, clipped to its
   bounds) and simulated once with a dense sweep (``dense_ppd`` points per decade);
2. the reference metrics are measured on that dense sweep (cubic interpolation);
3. each coarser grid of ``g`` points per decade is the dense sweep's every ``dense_ppd / g``-th
   point (an AC analysis solves each frequency independently around the same operating point,
   so this is the sweep ngspice would compute at ``g`` points per decade; ``direct_checks``
   sizings are also simulated at each grid to show it), measured with each interpolation;
4. the relative errors of gain, UGBW and phase margin are summarised (median, 99th
   percentile, maximum) per amplifier, grid and interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .amplifier import get_amplifier, list_amplifiers
from .results import INTERPOLATIONS, MeasurementError, SimulationResult, measure_ac
from .simulator import Simulator
from .technology import get_technology
from .testbench import BenchSettings

METRICS = ("gain_db", "ugbw_hz", "pm_deg")


def perturbed_sizings(circuit: str, tech: str, n: int, spread: float = 0.3,
                      seed: int = 0) -> list[dict[str, float]]:
    """``n`` sizings around the reference: each parameter times a log-uniform factor in
    ``[1 / (1 + spread), 1 + spread]``, clipped to its bounds."""
    amp = get_amplifier(circuit)
    t = get_technology(tech)
    base = amp.check({}, t)
    bounds = amp.bounds(t)
    rng = np.random.default_rng(seed)
    span = math.log(1 + spread)
    out = []
    for _ in range(n):
        p = {}
        for k, v in base.items():
            lo, hi = bounds[k]
            p[k] = float(min(max(v * math.exp(rng.uniform(-span, span)), lo), hi))
        out.append(p)
    return out


def _subsample(result: SimulationResult, step: int) -> tuple[np.ndarray, np.ndarray]:
    return result.frequency[::step], result.response[::step]


def _relative(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)


def _summary(errors: Sequence[float]) -> dict[str, float]:
    e = np.asarray(errors, dtype=float)
    return {"median": float(np.median(e)), "p99": float(np.percentile(e, 99)),
            "max": float(e.max())}


def crossing_accuracy(circuits: Sequence[str] | None = None, tech: str = "45nm", n: int = 500,
                      dense_ppd: int = 200, grids: Sequence[int] = (4, 5, 8, 10, 20),
                      spread: float = 0.3, direct_checks: int = 5, seed: int = 0,
                      workers: int = 2, sim: Simulator | None = None) -> dict:
    """Errors of UGBW, phase margin and gain per sweep density and interpolation (see the module
    docstring); relative errors, as fractions.

    Returns
    -------
    dict
        ``{"circuits": {name: {"sizings": n_measured, "failed": n_failed, "grids": {g: {interp:
        {metric: {"median", "p99", "max"}}}}}}, "worst": {g: {interp: {metric: max over
        circuits}}}, "direct_max_abs_diff": {metric: largest difference between a subsampled
        dense sweep and a simulation at that grid}}``.
    """
    names = list(circuits or list_amplifiers())
    for g in grids:
        if dense_ppd % g:
            raise ValueError(f"grid {g} does not divide the dense grid {dense_ppd}")
    own = sim is None
    sim = sim or Simulator(workers=workers, timeout=60)
    dense = BenchSettings(points_per_decade=dense_ppd)
    report: dict = {"circuits": {}, "worst": {}, "direct_max_abs_diff": dict.fromkeys(METRICS, 0.0)}
    try:
        for name in names:
            sizings = perturbed_sizings(name, tech, n, spread, seed)
            results = sim.simulate_many(name, tech, sizings, dense)
            errors = {g: {m: {k: [] for k in METRICS} for m in INTERPOLATIONS} for g in grids}
            measured = failed = 0
            for r in results:
                if not (r.ok and r.ugbw_hz):
                    failed += 1
                    continue
                ref = measure_ac(r.frequency, r.response, "cubic")
                rows = {}
                try:
                    for g in grids:
                        f, h = _subsample(r, dense_ppd // g)
                        rows[g] = {m: measure_ac(f, h, m) for m in INTERPOLATIONS}
                except MeasurementError:
                    failed += 1
                    continue
                if any(v.ugbw_hz is None for row in rows.values() for v in row.values()):
                    failed += 1  # a crossing the coarse grid misses is reported as a failure
                    continue
                measured += 1
                for g, row in rows.items():
                    for m, v in row.items():
                        for k in METRICS:
                            errors[g][m][k].append(_relative(getattr(v, k), getattr(ref, k)))
            report["circuits"][name] = {
                "sizings": measured, "failed": failed,
                "grids": {str(g): {m: {k: _summary(e) for k, e in by.items()}
                                   for m, by in errors[g].items()} for g in grids},
            }
            _direct_check(sim, name, tech, sizings[:direct_checks], results[:direct_checks],
                          dense_ppd, grids, report["direct_max_abs_diff"])
    finally:
        if own:
            sim.close()
    for g in grids:
        report["worst"][str(g)] = {
            m: {k: max(c["grids"][str(g)][m][k]["max"] for c in report["circuits"].values())
                for k in METRICS} for m in INTERPOLATIONS}
    return report


def _direct_check(sim: Simulator, name: str, tech: str, sizings: list[Mapping[str, float]],
                  dense: list[SimulationResult], dense_ppd: int, grids: Sequence[int],
                  worst: dict[str, float]) -> None:
    """Simulate a few sizings at each grid and compare with the subsampled dense sweep."""
    for g in grids:
        direct = sim.simulate_many(name, tech, sizings, BenchSettings(points_per_decade=g))
        for d, r in zip(direct, dense, strict=True):
            if not (d.ok and r.ok and d.ugbw_hz and r.ugbw_hz):
                continue
            f, h = _subsample(r, dense_ppd // g)
            if f.shape != d.frequency.shape:
                raise RuntimeError(f"the {g}-per-decade sweep has {d.frequency.size} points, "
                                   f"the subsampled dense one {f.size}")
            sub = measure_ac(f, h)
            for k in METRICS:
                worst[k] = max(worst[k], abs(getattr(sub, k) - getattr(d, k)))


#: The accuracy the bench must keep: gain, UGBW and phase margin within 0.05 % of the dense
#: reference sweep.
TOLERANCE = 5e-4


def chosen_grid(report: Mapping, interpolation: str = "cubic", tolerance: float = TOLERANCE,
                margin: float = 2.0) -> int | None:
    """The sparsest grid of a :func:`crossing_accuracy` report whose worst error, over every
    sizing of every amplifier and every metric, is within ``tolerance / margin``; ``None``
    when no grid is."""
    ok = [int(g) for g, by in report["worst"].items()
          if max(by[interpolation].values()) <= tolerance / margin]
    return min(ok) if ok else None
