"""Validation of the batched solver against ngspice, and its speed (``python -m macro.bench``).

:func:`validate` draws random designs (uniform valid topologies, each parameter uniform in its
unit coordinate) until ``n`` of them are measurable by the batched solver, runs every drawn
design through both simulators on the same grid, and compares: whether each is measurable (and
why not), and for the measurable ones the gain (dB), GBW (relative) and PM (deg) differences.
:func:`speed` times both simulators on the same batches of designs: the batched solver in this
process (one thread), ngspice on a pool of workers (one thread each), and reports designs per
second and the speed-up per design and per core, for the modal route (:mod:`macro.solver`)
and the compiled route (:mod:`macro.kernel`); :func:`floor` measures the per-design LAPACK
calls of two ways of solving with LAPACK (the modal route's eigenvalues, or one complex solve
per frequency) alone on those batches, which bounds the speed-up a route built on them could
reach.

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
from .kernel import evaluate as evaluate_compiled
from .kernel import metrics as metrics_compiled
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
        ``median`` absolute values and whether each is within :data:`TOLERANCES`; under
        ``compiled`` the same comparison for the compiled route (:mod:`macro.kernel`):
        ``ok_agree``, ``compared``, the three lists of differences and ``summary``.
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
    failures: dict[str, int] = {}
    for e in fast:
        if e.failure:
            failures[e.failure] = failures.get(e.failure, 0) + 1
    both = [a for a, b in zip(fast, ref, strict=True) if a.ok and b.ok]
    return {
        **_compare(fast, ref), "compiled": _compare(evaluate_compiled(designs), ref),
        "drawn": len(designs), "measurable": sum(e.ok for e in fast), "failures": failures,
        "ngspice_wall_s": ngspice_s, "gain_db": [a.gain_db for a in both],
        "gbw_hz": [a.gbw_hz for a in both], "pm_deg": [a.pm_deg for a in both],
    }


def _compare(evaluations: Sequence, ref: Sequence) -> dict:
    """One route's evaluations against ngspice's (see :func:`validate`): ``ok_agree``,
    ``compared``, the differences ``d_gain_db``, ``d_gbw_rel``, ``d_pm_deg`` of the designs
    both measured, and their ``summary`` against :data:`TOLERANCES`."""
    both = [(a, b) for a, b in zip(evaluations, ref, strict=True) if a.ok and b.ok]
    diffs = {"d_gain_db": [a.gain_db - b.gain_db for a, b in both],
             "d_gbw_rel": [a.gbw_hz / b.gbw_hz - 1 for a, b in both],
             "d_pm_deg": [a.pm_deg - b.pm_deg for a, b in both]}

    def summary(values: Sequence[float], tol: float) -> dict:
        mags = [abs(v) for v in values]
        worst = max(mags) if mags else float("nan")
        return {"worst": worst, "median": statistics.median(mags) if mags else float("nan"),
                "tolerance": tol, "within": bool(mags) and worst <= tol}

    return {"ok_agree": sum(a.failure == b.failure
                            for a, b in zip(evaluations, ref, strict=True)),
            "compared": len(both), **diffs,
            "summary": {key: summary(diffs[f"d_{key}"], tol) for key, tol in TOLERANCES.items()}}


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


#: Parts of each batch that :func:`speed` gives ngspice one at a time (the solvers are timed
#: between them).
SPEED_PARTS = 4
#: Batches that :func:`speed` gives the solvers back to back between ngspice's parts.
SPEED_POOL = 8
#: Seconds for which :func:`speed` runs each route of the solver over its pool, pass after
#: pass, between ngspice's parts (each part lasts about a tenth of a second too).
SPEED_SUSTAIN = 0.1
#: The speed-up per design aimed for against ngspice (chapter "The behaviour-level model").
SPEED_TARGET = 1000.0
#: Differences below this are drawn at it (a log axis has no zero), as
#: :func:`macro.plots.plot_validation` draws them.
TINY = 1e-16


def speed(batch: int = 128, repeats: int = 3, seed: int = 1, workers: int = 1) -> dict:
    """Designs per second of both simulators on the same batches (the grid of
    :data:`macro.evaluation.SWEEP`); chapter "The behaviour-level model", section "Validation
    and speed".

    Each repeat draws :data:`SPEED_POOL` batches (the pool) and calls ngspice, the modal
    route and the compiled route's metrics once untimed (ngspice on four designs of the first
    batch, which starts the workers; the solvers on every batch, which loads the compiled
    kernel and caches the stamps of the topologies).
    ngspice runs the first batch in :data:`SPEED_PARTS` parts (``parts`` in the result; its
    fixed cost per call is paid once per part), each part a sustained run of about a tenth of
    a second. Before each part and after the last, each route of the batched solver runs over
    the whole pool back to back (the modal route of :mod:`macro.solver` with its sparse
    measurement, the compiled route of :mod:`macro.kernel`), pass after pass for at least
    :data:`SPEED_SUSTAIN` seconds: a sustained run about as long as one of ngspice's parts
    on batches of 128 (shorter ones, for smaller batches), rather than one pass made on
    caches that went cold while this process waited for ngspice and ran the other routes.
    The first pass of each run of the compiled route, which follows a run of the modal route
    (and, but for the first run of a repeat, one of ngspice's parts), is reported as well
    (``compiled_first_pass_us_per_design`` and ``speedup_compiled_first_pass``). This
    machine's speed also drifts within seconds (``compiled_spread``, the slowest over the
    fastest run of the compiled route, records by how much), so the solvers' runs are
    spread over the same stretch of time as ngspice's parts, and every rate is a total
    (ngspice) or a mean (the solvers) over the repeats: no best-of.
    ``speedup`` (modal route) and ``speedup_compiled`` are per design in wall-clock time;
    ``speedup_per_core`` divides the ngspice rate by its workers; ``speedup_cpu`` compares
    CPU time (for ngspice the workers' and this process's, which writes the netlists and
    reads the results; for the modal route this process's).

    ``compiled_us_per_design`` times :func:`macro.kernel.metrics`, the metrics of every design
    as arrays (outcome, ok flag, gain, GBW, PM, power and FoM);
    ``compiled_evaluations_us_per_design`` :func:`macro.kernel.evaluate`, which builds the
    :class:`macro.evaluation.Evaluation` objects with their reasons as well;
    ``compiled_points_per_measured_design`` is the mean number of times the kernel
    computed ``H`` per design that passed (``ok``). ``batched_whole_grid_designs_per_s`` is
    the modal route computing every grid point (two calls per repeat).

    ``floor_us_per_design`` is :func:`floor` on the same batches (averaged over the repeats),
    and ``speedup_bound`` the ngspice time per design over the least of those floors: the
    largest speed-up the modal route's two ways of solving could reach here on batches of
    this size, were everything but those LAPACK calls free.
    """
    _threads()
    rng = np.random.default_rng(seed)
    t_ng = cpu_ng = 0.0
    calls: dict[str, list[float]] = {"modal": [], "modal_cpu": [], "grid": [], "compiled": [],
                                     "compiled_ev": [], "compiled_first": []}
    passes: list[int] = []
    n = 0
    parts: dict[str, float] = {}
    floors: dict[str, float] = {}
    points: list[float] = []
    coarse_points = 0
    load_before = os.getloadavg()[0]

    with Simulator(workers=workers, timeout=60.0) as sim:
        for _ in range(repeats):
            pool = [random_designs(batch, rng) for _ in range(SPEED_POOL)]
            designs = pool[0]
            evaluate(designs[:4], solver="ngspice", simulator=sim)
            parts_of = [designs[int(a[0]):int(a[-1]) + 1]
                        for a in np.array_split(np.arange(batch), SPEED_PARTS) if a.size]
            for b in pool:
                evaluate(b)
                m = metrics_compiled(b)
                points += [float(p) for p in m.points[m.ok]]
            for k in range(len(parts_of) + 1):
                for key, func in (("modal", evaluate), ("compiled", metrics_compiled),
                                  ("compiled_ev", evaluate_compiled)):
                    # the whole pool back to back, pass after pass: a sustained rate, as
                    # ngspice's parts are
                    c0, t0 = time.process_time(), time.perf_counter()
                    done = 0
                    while True:
                        for b in pool:
                            func(b)
                        done += 1
                        elapsed = time.perf_counter() - t0
                        if done == 1 and key == "compiled":
                            calls["compiled_first"].append(elapsed / len(pool))
                        if elapsed >= SPEED_SUSTAIN:
                            break
                    calls[key].append(elapsed / (done * len(pool)))
                    if key == "compiled":
                        passes.append(done)
                    if key == "modal":
                        calls["modal_cpu"].append((time.process_time() - c0) / (done * len(pool)))
                if k == len(parts_of):
                    break
                if k < 2:
                    t0 = time.perf_counter()
                    evaluate(designs, exact_grid=True)
                    calls["grid"].append(time.perf_counter() - t0)
                part = parts_of[k]
                c0, p0, t0 = _children_cpu(), time.process_time(), time.perf_counter()
                evaluate(part, solver="ngspice", simulator=sim)
                t_ng += time.perf_counter() - t0
                # the workers' CPU and this process's (netlists, results)
                cpu_ng += _children_cpu() - c0 + time.process_time() - p0
            n += batch
            for key, seconds in _breakdown(designs).items():
                parts[key] = parts.get(key, 0.0) + seconds
            least = floor(designs)
            coarse_points = least["coarse_points"]
            for key, us in least.items():
                if key.endswith("_us"):
                    floors[key] = floors.get(key, 0.0) + us / repeats
    per = {k: statistics.fmean(v) / batch for k, v in calls.items()}
    ng = t_ng / n
    return {
        "batch": batch, "repeats": repeats, "designs": n, "parts": len(parts_of),
        "pool": SPEED_POOL, "sustain_s": SPEED_SUSTAIN,
        "compiled_passes_per_run": statistics.fmean(passes),
        "compiled_spread": max(calls["compiled"]) / min(calls["compiled"]),
        "grid_points": int(SWEEP.frequencies().size), "ngspice_workers": workers,
        "batched_designs_per_s": 1 / per["modal"],
        "batched_whole_grid_designs_per_s": 1 / per["grid"],
        "ngspice_designs_per_s": 1 / ng,
        "speedup": ng / per["modal"],
        "speedup_whole_grid": ng / per["grid"],
        "speedup_per_core": ng * workers / per["modal"],
        "compiled_designs_per_s": 1 / per["compiled"],
        "compiled_us_per_design": 1e6 * per["compiled"],
        "speedup_compiled": ng / per["compiled"],
        "compiled_first_pass_us_per_design": 1e6 * per["compiled_first"],
        "speedup_compiled_first_pass": ng / per["compiled_first"],
        "compiled_evaluations_us_per_design": 1e6 * per["compiled_ev"],
        "speedup_compiled_evaluations": ng / per["compiled_ev"],
        "compiled_points_per_measured_design": statistics.fmean(points) if points else None,
        "ngspice_ms_per_design": 1e3 * ng,
        "batched_us_per_design": 1e6 * per["modal"],
        "batched_cpu_breakdown_us_per_design": {k: 1e6 * v / n for k, v in parts.items()},
        "ngspice_cpu_ms_per_design": 1e3 * cpu_ng / n,
        "batched_cpu_us_per_design": 1e6 * per["modal_cpu"],
        "speedup_cpu": (cpu_ng / n) / per["modal_cpu"] if per["modal_cpu"] > 0 else None,
        "floor_us_per_design": floors,
        "floor_coarse_points": coarse_points,
        "speedup_bound": 1e6 * ng / min(floors.values()) if floors else None,
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
    two ways of solving with LAPACK, the linear algebra alone, on ``designs`` as one batch
    (chapter "The behaviour-level model", section "Validation and speed").

    ``eig_numpy_us``, ``eig_torch_us``: the eigenvalues ``lambda`` of ``G^-1 C`` (the poles
    are ``-1 / lambda``; the modal route judges stability from them and builds the response on
    them), with the designs grouped by their number of unknowns so that no padded matrix is
    decomposed, and ``G^-1 C`` formed beforehand (not timed). ``coarse_solve_numpy_us``,
    ``coarse_solve_torch_us``: one complex solve of ``(G + sC) v = b`` per frequency at the
    coarse points alone (every ``COARSE``-th point of the grid, the least the sparse
    measurement looks at), a way without poles. Grouping, cutting and forming ``G^-1 C``
    are left out, as are assembling, the residues and the measurement: a solver built on
    either needs them on top. Each LAPACK call has a fixed cost, so the figures fall with the
    batch size. The compiled route (:mod:`macro.kernel`) makes no LAPACK call and is not
    bounded by these figures.
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


def plot(validation: dict, speed_: dict, target: float = SPEED_TARGET):
    """The batched solver against ngspice (chapter "The behaviour-level model", section
    "Validation and speed"): :func:`macro.plots.plot_validation` of the modal route, with the
    compiled route's differences drawn over it and the designs per second of every route and
    of ngspice, the rate ``target`` times ngspice's dotted."""
    from .plots import plot_validation

    fig = plot_validation(validation, speed_)
    axes = fig.axes
    for ax, key in zip(axes[:3], ("d_gain_db", "d_gbw_rel", "d_pm_deg"), strict=True):
        d = np.sort(np.maximum(np.abs(np.asarray(validation["compiled"][key], dtype=float)),
                               TINY))
        ax.lines[0].set_label("modal")
        ax.semilogy(np.arange(1, d.size + 1), d, "x", ms=3, label="compiled")
    axes[0].legend(fontsize=7, loc="upper left")
    ax = axes[3]
    ax.clear()
    names = ["modal", "modal,\nwhole grid", "compiled", "ngspice"]
    rates = [speed_["batched_designs_per_s"], speed_["batched_whole_grid_designs_per_s"],
             speed_["compiled_designs_per_s"], speed_["ngspice_designs_per_s"]]
    bars = ax.bar(names, rates, color=["tab:blue", "tab:cyan", "tab:green", "tab:orange"])
    aim = target * speed_["ngspice_designs_per_s"]
    ax.axhline(aim, color="tab:red", ls=":", lw=1, label=f"{target:,.0f} x ngspice")
    ax.set_yscale("log")
    ax.set_ylabel("designs / s")
    ax.tick_params(axis="x", labelsize=7)
    for bar, r in zip(bars, rates, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, r * 1.1, f"{r:,.0f}", ha="center", fontsize=7)
    ax.set_ylim(min(rates) / 3, max(*rates, aim) * 5)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


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
