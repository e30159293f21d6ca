"""Validation of the batched solver against ngspice, and its speed (``python -m macro.bench``).

:func:`validate` draws random designs (uniform valid topologies, each parameter uniform in its
unit coordinate) until ``n`` of them are measurable by the batched solver, runs every drawn
design through both simulators on the same grid, and compares: whether each is measurable (and
why not), and for the measurable ones the gain (dB), GBW (relative) and PM (deg) differences.
:func:`speed` times both simulators on the same batches of designs: the batched solver in this
process (one thread), ngspice on a pool of workers (one thread each), and reports designs per
second and the speed-up per design and per core; :func:`floor` measures the per-design LAPACK
calls of the solver's two routes alone on those batches, which bounds the speed-up those
routes could reach.

Used by the book chapter "The behaviour-level model" (``book/macro/model.ipynb``), through
:func:`run` and :func:`circuits.runs.load_or_run` (results in ``results/macro/validation``).

::

    python -m macro.bench [--designs 500] [--batch 128] [--repeats 3] [--seed 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np
import psutil

from circuits import Simulator

from .design import Design
from .evaluation import SWEEP
from .nodal import MAX_NODES, _stamps, assemble
from .solver import COARSE, evaluate, measure_sparse, modes
from .topology import sample_topologies

#: Tolerances of the validation (issue "MACRO behaviour level"): gain (dB), GBW (relative),
#: PM (deg).
TOLERANCES = {"gain_db": 0.05, "gbw_rel": 0.005, "pm_deg": 0.5}


def random_designs(n: int, rng: np.random.Generator) -> list[Design]:
    """``n`` random designs: uniform valid topologies, parameters uniform in unit coordinates."""
    return [Design.random(t, rng) for t in sample_topologies(n, rng)]


def _threads() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def validate(n_designs: int = 500, seed: int = 0, workers: int = 2,
             simulator: Simulator | None = None) -> dict:
    """Compare both simulators on random designs until ``n_designs`` measurable ones (chapter
    "The behaviour-level model", section "Validation and speed").

    Returns
    -------
    dict
        ``drawn``, ``measurable`` (by the batched solver), ``ok_agree`` (designs whose ok flag
        and failure kind agree), ``failures`` (count per failure kind), and for the measurable
        designs the lists ``gain_db``, ``gbw_hz``, ``pm_deg`` (batched) and ``d_gain_db``,
        ``d_gbw_rel``, ``d_pm_deg`` (batched minus ngspice), with their ``worst`` and
        ``median`` absolute values and whether each is within :data:`TOLERANCES`.
    """
    rng = np.random.default_rng(seed)
    designs: list[Design] = []
    fast = []
    while sum(e.ok for e in fast) < n_designs:
        more = random_designs(128, rng)
        designs += more
        fast += evaluate(more)
    # keep the draw up to the n-th measurable design
    count, cut = 0, len(designs)
    for i, e in enumerate(fast):
        count += e.ok
        if count == n_designs:
            cut = i + 1
            break
    designs, fast = designs[:cut], fast[:cut]
    own = simulator is None
    sim = simulator or Simulator(workers=workers, timeout=60.0)
    try:
        t0 = time.perf_counter()
        ref = evaluate(designs, solver="ngspice", simulator=sim)
        ngspice_s = time.perf_counter() - t0
    finally:
        if own:
            sim.close()
    kind = [e.failure for e in fast]
    kind_ref = [e.failure for e in ref]
    agree = sum(a == b for a, b in zip(kind, kind_ref, strict=True))
    failures: dict[str, int] = {}
    for k in kind:
        if k:
            failures[k] = failures.get(k, 0) + 1
    both = [(a, b) for a, b in zip(fast, ref, strict=True) if a.ok and b.ok]
    d_gain = [a.gain_db - b.gain_db for a, b in both]
    d_gbw = [a.gbw_hz / b.gbw_hz - 1 for a, b in both]
    d_pm = [a.pm_deg - b.pm_deg for a, b in both]

    def summary(values: Sequence[float], tol: float) -> dict:
        mags = [abs(v) for v in values]
        worst = max(mags) if mags else float("nan")
        return {"worst": worst, "median": statistics.median(mags) if mags else float("nan"),
                "tolerance": tol, "within": bool(mags) and worst <= tol}

    return {
        "drawn": len(designs), "measurable": sum(e.ok for e in fast), "compared": len(both),
        "ok_agree": agree, "failures": failures, "ngspice_wall_s": ngspice_s,
        "gain_db": [a.gain_db for a, _ in both], "gbw_hz": [a.gbw_hz for a, _ in both],
        "pm_deg": [a.pm_deg for a, _ in both],
        "d_gain_db": d_gain, "d_gbw_rel": d_gbw, "d_pm_deg": d_pm,
        "summary": {"gain_db": summary(d_gain, TOLERANCES["gain_db"]),
                    "gbw_rel": summary(d_gbw, TOLERANCES["gbw_rel"]),
                    "pm_deg": summary(d_pm, TOLERANCES["pm_deg"])},
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's child processes (the ngspice
    workers)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def speed(batch: int = 128, repeats: int = 3, seed: int = 1, workers: int = 1) -> dict:
    """Designs per second of both simulators on the same batches (the grid of
    :data:`macro.evaluation.SWEEP`).

    Each repeat draws a new batch, times ngspice on it (``workers`` workers, warmed up), then
    the batched solver (sparse measurement, and the whole grid) three times, keeping the best;
    the rates are the totals over the repeats. ``speedup`` is per design in wall-clock time;
    ``speedup_per_core`` divides the ngspice rate by its workers; ``speedup_cpu`` compares CPU
    time (for ngspice the workers' and this process's, which writes the netlists and reads the
    results; for the batched solver this process's), which depends less on what else the
    machine runs (its load average is recorded before and after).

    ``floor_us_per_design`` is :func:`floor` on the same batches (averaged over the repeats),
    and ``speedup_bound`` the ngspice time per design over the least of those floors: the
    largest speed-up either route of this solver could reach here on batches of this size,
    were everything but those LAPACK calls free.
    """
    _threads()
    rng = np.random.default_rng(seed)
    t_fast = t_grid = t_ng = cpu_fast = cpu_ng = 0.0
    n = 0
    parts: dict[str, float] = {}
    floors: dict[str, float] = {}
    coarse_points = 0
    load_before = os.getloadavg()[0]
    with Simulator(workers=workers, timeout=60.0) as sim:
        evaluate(random_designs(4, rng), solver="ngspice", simulator=sim)  # start the workers
        for _ in range(repeats):
            designs = random_designs(batch, rng)
            c0, p0, t0 = _children_cpu(), time.process_time(), time.perf_counter()
            evaluate(designs, solver="ngspice", simulator=sim)
            t_ng += time.perf_counter() - t0
            # the workers' CPU and this process's (netlists, results)
            cpu_ng += _children_cpu() - c0 + time.process_time() - p0
            best, best_grid, best_cpu = float("inf"), float("inf"), float("inf")
            for _ in range(3):
                c0, t0 = time.process_time(), time.perf_counter()
                evaluate(designs)
                t1, c1 = time.perf_counter(), time.process_time()
                evaluate(designs, exact_grid=True)
                t2 = time.perf_counter()
                best, best_grid = min(best, t1 - t0), min(best_grid, t2 - t1)
                best_cpu = min(best_cpu, c1 - c0)
            t_fast += best
            t_grid += best_grid
            cpu_fast += best_cpu
            n += batch
            for key, seconds in _breakdown(designs).items():
                parts[key] = parts.get(key, 0.0) + seconds
            least = floor(designs)
            coarse_points = least["coarse_points"]
            for key, us in least.items():
                if key.endswith("_us"):
                    floors[key] = floors.get(key, 0.0) + us / repeats
    return {
        "batch": batch, "repeats": repeats, "designs": n, "grid_points": int(SWEEP.frequencies()
                                                                             .size),
        "ngspice_workers": workers,
        "batched_designs_per_s": n / t_fast, "batched_whole_grid_designs_per_s": n / t_grid,
        "ngspice_designs_per_s": n / t_ng,
        "speedup": (n / t_fast) / (n / t_ng),
        "speedup_whole_grid": (n / t_grid) / (n / t_ng),
        "speedup_per_core": (n / t_fast) / (n / t_ng / workers),
        "ngspice_ms_per_design": 1e3 * t_ng / n,
        "batched_us_per_design": 1e6 * t_fast / n,
        "batched_cpu_breakdown_us_per_design": {k: 1e6 * v / n for k, v in parts.items()},
        "ngspice_cpu_ms_per_design": 1e3 * cpu_ng / n,
        "batched_cpu_us_per_design": 1e6 * cpu_fast / n,
        "speedup_cpu": (cpu_ng / n) / (cpu_fast / n) if cpu_fast > 0 else None,
        "floor_us_per_design": floors,
        "floor_coarse_points": coarse_points,
        "speedup_bound": 1e6 * (t_ng / n) / min(floors.values()) if floors else None,
        "load_average": [load_before, os.getloadavg()[0]],
        "cpus": os.cpu_count(),
    }


def reduced_pencils(designs: Sequence[Design]
                    ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The nodal matrices ``(G, C)`` of each design cut to the unknowns its topology uses (no
    padding), stacked by size: ``{m: (rows (B_m,), G (B_m, m, m), C (B_m, m, m))}``, ``rows``
    the designs' positions in ``designs`` (the inputs of :func:`floor`; chapter "The
    behaviour-level model", section "Validation and speed")."""
    g, c, _, _ = assemble(designs)
    by_size: dict[int, tuple[list, list, list]] = {}
    for i, d in enumerate(designs):
        unused = {int(k) // MAX_NODES for k in _stamps(d.topology)[4]}
        used = [k for k in range(MAX_NODES) if k not in unused]
        rows, gs, cs = by_size.setdefault(len(used), ([], [], []))
        rows.append(i)
        gs.append(g[i][np.ix_(used, used)])
        cs.append(c[i][np.ix_(used, used)])
    return {m: (np.array(rows), np.array(gs), np.array(cs))
            for m, (rows, gs, cs) in sorted(by_size.items())}


def floor(designs: Sequence[Design], repeats: int = 10) -> dict[str, float]:
    """The least time per design (us, best of ``repeats``) of the per-design LAPACK calls of
    this solver's two routes, the linear algebra alone, on ``designs`` as one batch (chapter
    "The behaviour-level model", section "Validation and speed").

    ``eig_numpy_us``, ``eig_torch_us``: the eigenvalues ``lambda`` of ``G^-1 C`` (the poles
    are ``-1 / lambda``; the modal route judges stability from them and builds the response on
    them), with the designs grouped by their number of unknowns so that no padded matrix is
    decomposed, and ``G^-1 C`` formed beforehand (not timed). ``coarse_solve_numpy_us``,
    ``coarse_solve_torch_us``: one complex solve of ``(G + sC) v = b`` per frequency at the
    coarse points alone (every ``COARSE``-th point of the grid, the least the sparse
    measurement looks at), the route without poles. Grouping, cutting and forming ``G^-1 C``
    are left out, as are assembling, the residues and the measurement: a solver of either
    route needs them on top. Each LAPACK call has a fixed cost, so the figures fall with the
    batch size. Routes without per-design LAPACK calls (the characteristic polynomials of all
    designs at once, compiled code) are not measured here.
    """
    _threads()
    import torch

    pencils = reduced_pencils(designs)
    n = len(designs)
    a_np = {m: np.linalg.solve(g, c) for m, (_, g, c) in pencils.items()}
    a_t = {m: torch.from_numpy(a) for m, a in a_np.items()}
    s = 2j * np.pi * SWEEP.frequencies()[::COARSE]
    systems = {m: (g[:, None] + s[None, :, None, None] * c[:, None],
                   np.ones((len(g), s.size, m, 1), dtype=complex))
               for m, (_, g, c) in pencils.items()}
    systems_t = {m: (torch.from_numpy(y), torch.from_numpy(b)) for m, (y, b) in systems.items()}

    def best(step) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return 1e6 * min(times) / n

    return {
        "eig_numpy_us": best(lambda: [np.linalg.eigvals(a) for a in a_np.values()]),
        "eig_torch_us": best(lambda: [torch.linalg.eigvals(a) for a in a_t.values()]),
        "coarse_solve_numpy_us": best(lambda: [np.linalg.solve(y, b)
                                               for y, b in systems.values()]),
        "coarse_solve_torch_us": best(lambda: [torch.linalg.solve(y, b)
                                               for y, b in systems_t.values()]),
        "coarse_points": int(s.size),
        "designs_by_size": {str(m): len(rows) for m, (rows, _, _) in pencils.items()},
    }


def _breakdown(designs: Sequence[Design]) -> dict[str, float]:
    """CPU seconds (best of three) of the batched solver's stages on one batch: assembling the
    nodal matrices, the modal decomposition (which assembles again), and the measurement."""
    best = {"assemble": float("inf"), "modes": float("inf"), "measure": float("inf")}
    power = np.array([d.power() for d in designs])
    f = SWEEP.frequencies()
    for _ in range(3):
        t0 = time.process_time()
        assemble(designs)
        t1 = time.process_time()
        m = modes(designs)
        t2 = time.process_time()
        measure_sparse(m, f, power)
        t3 = time.process_time()
        best = {"assemble": min(best["assemble"], t1 - t0),
                "modes": min(best["modes"], max(t2 - t1 - (t1 - t0), 0.0)),
                "measure": min(best["measure"], t3 - t2)}
    return best


def run(n_designs: int = 500, seed: int = 0, batch: int = 128, repeats: int = 3) -> dict:
    """Validation and speed together: the run ``macro/validation`` that the chapter "The
    behaviour-level model" quotes (section "Validation and speed")."""
    return {"validation": validate(n_designs, seed), "speed": speed(batch, repeats, seed + 1)}


def main(argv: Sequence[str] | None = None) -> int:
    """Print the validation summary and the speeds (JSON with ``--json``)."""
    p = argparse.ArgumentParser(prog="python -m macro.bench", description=__doc__.split("\n")[0])
    p.add_argument("--designs", type=int, default=500)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.designs < 1 or args.batch < 1 or args.repeats < 1:
        print("error: --designs, --batch and --repeats must be >= 1", file=sys.stderr)
        return 2
    out = run(args.designs, args.seed, args.batch, args.repeats)
    brief = {"validation": {k: v for k, v in out["validation"].items()
                            if not isinstance(v, list)}, "speed": out["speed"]}
    print(json.dumps(brief, indent=None if args.json else 2, allow_nan=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
