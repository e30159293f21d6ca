"""The behaviour-level experiment of MACRO's Table II: BOBO, RLBO and MACRO, three repeats each.

:func:`run_experiment` trains the D-VAE once (seed 0; shared by the three methods, as the
paper's pre-trained VAE), then runs every (method, repeat) pair that has no finished run folder
with the current inputs, in parallel worker processes (one torch thread each), each with its
own checkpoint so that an interrupted experiment resumes where it stopped. A finished run is a
folder ``macro/experiment/<mode>/<method>-exp<k>`` of :mod:`circuits.runs` (config, metrics,
provenance, written atomically); its checkpoint is then removed.

Two budgets: ``full`` (MACRO as the paper: 200 epochs of 128 trajectories; the baselines size
each topology by BO with 15 + 40 points, with a number of topologies chosen so that the nine
runs fit in about three hours on two cores) and ``quick`` (a few epochs and topologies, for the
book's quick build and CI).

:func:`table_two` turns the nine runs into the rows of Table II; :func:`paper_table_two` reads
the paper's values from ``book/macro/paper_table2.json``.

Used by the book chapter "MACRO: Table II, behaviour-level search".
"""

from __future__ import annotations

import json
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from circuits.runs import json_safe, load_run, project_root, provenance, results_root, save_run

from .baselines import BOBOConfig, RLBOConfig, SizingConfig, bobo, rlbo
from .dvae import DVAEConfig, load_dvae, save_dvae, train_dvae
from .train import TrainConfig, train_macro

#: The three methods of Table II, in its row order.
METHODS = ("bobo", "rlbo", "macro")
#: Modes of the experiment.
MODES = ("quick", "full")


class ExperimentError(ValueError):
    """A bad experiment input (mode, method, repeats)."""


@dataclass(frozen=True)
class ExperimentConfig:
    """Every input of the experiment (recorded in each run folder's config)."""

    mode: str
    """"quick" or "full"."""
    repeats: int = 3
    """Repeats per method (exp1..expN; paper: 3)."""
    dvae: DVAEConfig = field(default_factory=DVAEConfig)
    """The D-VAE shared by the methods (trained once, seed 0)."""
    macro: TrainConfig = field(default_factory=TrainConfig)
    """MACRO's co-training (the seed is the repeat number)."""
    bobo: BOBOConfig = field(default_factory=BOBOConfig)
    """BOBO (the seed is the repeat number)."""
    rlbo: RLBOConfig = field(default_factory=RLBOConfig)
    """RLBO (the seed is the repeat number)."""


def experiment_config(mode: str) -> ExperimentConfig:
    """The inputs of a mode.

    * full: D-VAE on 10,000 topologies; MACRO 200 epochs x 128 (25,600 simulations per run);
      BOBO 5 random + 15 BO latent points; RLBO 4 epochs x 5 topologies; every topology of
      the baselines sized with 15 + 40 points (IV-B1).
    * quick: D-VAE on 1,000 topologies for 5 epochs; MACRO 6 epochs x 64; BOBO 1 + 1 latent
      points and RLBO 1 epoch x 2 topologies, sized with 4 + 1 points.
    """
    if mode == "full":
        return ExperimentConfig(mode="full")
    if mode == "quick":
        sizing = SizingConfig(n_init=4, n_iter=1, num_restarts=2, raw_samples=32)
        return ExperimentConfig(
            mode="quick", dvae=DVAEConfig(n_train=1000, epochs=5),
            macro=TrainConfig(epochs=6, n_batch=64, checkpoint_every=2),
            bobo=BOBOConfig(n_init=1, n_iter=1, sizing=sizing, box_samples=200),
            rlbo=RLBOConfig(epochs=1, n_batch=2, sizing=sizing))
    raise ExperimentError(f"mode must be 'quick' or 'full', not {mode!r}")


def run_name(mode: str, method: str, repeat: int) -> str:
    """The run folder of one run (under the results root)."""
    return f"macro/experiment/{mode}/{method}-exp{repeat + 1}"


def method_config(config: ExperimentConfig, method: str, repeat: int) -> dict:
    """The recorded inputs of one run: the method's settings with ``seed = repeat``, the
    D-VAE's settings and the mode."""
    if method not in METHODS:
        raise ExperimentError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    cfg = replace(getattr(config, method), seed=repeat)
    return json_safe({"mode": config.mode, "method": method, "repeat": repeat + 1,
                      "settings": asdict(cfg), "dvae": asdict(config.dvae)})


#: The code a run of the experiment depends on (its fingerprint decides whether a saved run is
#: current): this module and every ``macro`` module it imports, with the package's data files.
CODE = ("macro.experiment",)


def _folder(root: Path, mode: str) -> Path:
    return root / "macro" / "experiment" / mode


def prepare_dvae(config: ExperimentConfig, root: Path, *, progress: bool = False):
    """The experiment's D-VAE: loaded from ``<mode>/dvae.pt`` when its saved report has the
    same config, else trained and saved (weights and a run folder ``<mode>/dvae`` with the
    reconstruction accuracy, validity and uniqueness). Returns (model, report)."""
    folder = _folder(root, config.mode)
    name = f"macro/experiment/{config.mode}/dvae"
    cfg = json_safe({"mode": config.mode, "dvae": asdict(config.dvae)})
    saved = load_run(name, cfg, root)
    weights = folder / "dvae.pt"
    if saved is not None and weights.exists():
        return load_dvae(weights), saved.metrics
    started, t0 = datetime.now(UTC), time.perf_counter()
    model, report = train_dvae(config.dvae, progress=progress)
    save_dvae(model, weights)
    save_run(name, cfg, report, provenance(seed=config.dvae.seed,
                                            wall_s=time.perf_counter() - t0, started=started,
                                            code=CODE), root)
    return model, report


def dvae_report(mode: str, root: str | Path | None = None) -> dict | None:
    """The saved D-VAE report (reconstruction, validity, uniqueness, epoch time) of a mode when
    its inputs are current, else None."""
    config = experiment_config(mode)
    root = Path(root) if root is not None else results_root()
    saved = load_run(f"macro/experiment/{mode}/dvae",
                     json_safe({"mode": mode, "dvae": asdict(config.dvae)}), root)
    return None if saved is None else saved.metrics

def _run_job(job: dict) -> dict:
    """One run in a worker process: compute, save the run folder, remove the checkpoint."""
    import torch

    torch.set_num_threads(1)
    root, mode, method, repeat = Path(job["root"]), job["mode"], job["method"], job["repeat"]
    config = experiment_config(mode)
    vae = load_dvae(job["dvae"])
    cfg = method_config(config, method, repeat)
    ckpt_dir = _folder(root, mode) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    started, t0 = datetime.now(UTC), time.perf_counter()
    try:
        if method == "macro":
            ckpt = ckpt_dir / f"{method}-exp{repeat + 1}.pt"
            result = train_macro(replace(config.macro, seed=repeat), vae, checkpoint=ckpt,
                                 progress=job["progress"]).summary
        elif method == "bobo":
            ckpt = ckpt_dir / f"{method}-exp{repeat + 1}.json"
            result = bobo(replace(config.bobo, seed=repeat), vae, checkpoint=ckpt,
                          progress=job["progress"])
        else:
            ckpt = ckpt_dir / f"{method}-exp{repeat + 1}.pt"
            result = rlbo(replace(config.rlbo, seed=repeat), vae, checkpoint=ckpt,
                          progress=job["progress"])
    except Exception as exc:  # a failed run is reported, the others go on
        return {"method": method, "repeat": repeat + 1, "ok": False,
                "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    result = {**result, "run_wall_s": time.perf_counter() - t0}
    save_run(run_name(mode, method, repeat), cfg, result,
             provenance(seed=repeat, wall_s=time.perf_counter() - t0, started=started,
                        code=CODE), root)
    ckpt.unlink(missing_ok=True)
    return {"method": method, "repeat": repeat + 1, "ok": True, "skipped": False}


def run_experiment(mode: str = "quick", *, root: str | Path | None = None, workers: int = 2,
                   methods: tuple[str, ...] = METHODS, progress: bool = False) -> dict:
    """Run every missing (method, repeat) of Table II; returns what ran and the runs' data.

    ``root``: the results root (default :func:`circuits.runs.results_root`). Finished runs whose
    recorded inputs equal the current ones are skipped; interrupted ones resume from their
    checkpoints. Runs go to ``workers`` processes (spawned, one torch thread each).

    Used by the book chapter "MACRO: Table II, behaviour-level search" and ``python -m macro
    experiment``.
    """
    config = experiment_config(mode)
    if workers < 1:
        raise ExperimentError(f"workers must be >= 1, not {workers}")
    for m in methods:
        if m not in METHODS:
            raise ExperimentError(f"method must be one of {', '.join(METHODS)}, not {m!r}")
    root = Path(root) if root is not None else results_root()
    t0 = time.perf_counter()
    _, dvae_report = prepare_dvae(config, root, progress=progress)
    jobs, status = [], []
    for method in methods:
        for k in range(config.repeats):
            if load_run(run_name(mode, method, k), method_config(config, method, k), root):
                status.append({"method": method, "repeat": k + 1, "ok": True, "skipped": True})
            else:
                jobs.append({"root": str(root), "mode": mode, "method": method, "repeat": k,
                             "dvae": str(_folder(root, mode) / "dvae.pt"),
                             "progress": progress})
    if jobs:
        if workers == 1:
            status += [_run_job(j) for j in jobs]
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                     mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_run_job, j) for j in jobs]
                for fut in as_completed(futures):
                    try:
                        status.append(fut.result())
                    except Exception as exc:  # a worker that died
                        status.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return {"mode": mode, "root": str(root), "status": status,
            "wall_s": time.perf_counter() - t0, "dvae": dvae_report,
            "runs": load_runs(mode, root, methods)}


def load_runs(mode: str, root: str | Path | None = None, methods: tuple[str, ...] = METHODS
              ) -> dict[str, list]:
    """The finished runs of a mode whose inputs are current: method -> list of
    :class:`circuits.runs.Run` (or None for a missing repeat), in repeat order."""
    config = experiment_config(mode)
    root = Path(root) if root is not None else results_root()
    return {m: [load_run(run_name(mode, m, k), method_config(config, m, k), root)
                for k in range(config.repeats)] for m in methods}


def _row(method: str, label: str, metrics: dict) -> dict:
    best = metrics.get("best") or {}
    to_best = metrics.get("to_best") or {}
    return {"method": method, "exp": label, "fom": best.get("fom"),
            "gain_db": best.get("gain_db"), "pm_deg": best.get("pm_deg"),
            "gbw_mhz": None if best.get("gbw_hz") is None else best["gbw_hz"] / 1e6,
            "power_uw": None if best.get("power_w") is None else best["power_w"] * 1e6,
            "time_h": to_best["wall_s"] / 3600.0 if best and to_best.get("wall_s") is not None
            else None,
            "sims_to_best": to_best.get("simulations") if best else None,
            "simulations": metrics.get("n_simulations"),
            "wall_h": (metrics.get("wall_s") or 0.0) / 3600.0,
            "types": best.get("types")}


def table_two(runs: dict[str, list]) -> list[dict]:
    """Rows of Table II from the runs of :func:`load_runs` (or plain metrics dicts): per method
    exp1..expN then ``avg`` (the mean of each column over the repeats that found a
    spec-meeting design). Time is the wall time until the best design was found (the paper's
    "Time": until the data pool's best stops changing)."""
    rows = []
    keys = ("fom", "gain_db", "pm_deg", "gbw_mhz", "power_uw", "time_h", "sims_to_best",
            "simulations", "wall_h")
    for method in METHODS:
        found = []
        for k, run in enumerate(runs.get(method, [])):
            if run is None:
                continue
            metrics = run.metrics if hasattr(run, "metrics") else run
            row = _row(method, f"exp{k + 1}", metrics)
            rows.append(row)
            if row["fom"] is not None:
                found.append(row)
        avg = {}
        for key in keys:
            vals = [r[key] for r in found if r[key] is not None]
            avg[key] = float(np.mean(vals)) if vals else None
        if not found:   # the run totals still average over the repeats that ran
            ran = [r for r in rows if r["method"] == method]
            for key in ("simulations", "wall_h"):
                vals = [r[key] for r in ran if r[key] is not None]
                avg[key] = float(np.mean(vals)) if vals else None
        rows.append({"method": method, "exp": "avg", **avg, "types": None})
    return rows


def ratios(rows: list[dict], column: str = "fom") -> dict[str, float | None]:
    """MACRO's average over BOBO's and over RLBO's (the paper: 2.22x and 1.27x)."""
    avg = {r["method"]: r[column] for r in rows if r["exp"] == "avg"}
    m = avg.get("macro")
    return {f"macro/{b}": (m / avg[b] if m and avg.get(b) else None) for b in ("bobo", "rlbo")}


def paper_table_two(path: str | Path | None = None) -> dict:
    """The paper's Table II as typed into ``book/macro/paper_table2.json`` (with its source)."""
    path = Path(path) if path else project_root() / "book" / "macro" / "paper_table2.json"
    return json.loads(path.read_text())


def estimate_full_budget(sizing_s: float, epoch_s: float, workers: int = 2) -> dict[str, Any]:
    """Wall-time estimate of the full experiment from a measured BO sizing (one topology) and
    MACRO epoch: the nine runs' work divided over ``workers`` processes."""
    cfg = experiment_config("full")
    per = {"macro": cfg.macro.epochs * epoch_s,
           "bobo": (cfg.bobo.n_init + cfg.bobo.n_iter) * sizing_s,
           "rlbo": cfg.rlbo.epochs * cfg.rlbo.n_batch * sizing_s}
    total = cfg.repeats * sum(per.values())
    return {"per_run_s": per, "core_s": total, "wall_s": total / workers,
            "longest_run_s": max(per.values())}


def _fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def table_two_rows(rows: list[dict], paper: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of Table II with the paper's values beside ours ("ours / paper"), for
    :func:`macro.plots.markdown_table`. A repeat without a spec-meeting design shows "–"."""
    ref = {(r["method"], r["exp"]): r for r in paper["rows"]}
    names = {"bobo": "BOBO", "rlbo": "RLBO", "macro": "MACRO"}
    cols = (("fom", ",.0f", ",.0f"), ("gain_db", ".1f", ".1f"), ("pm_deg", ".1f", ".1f"),
            ("gbw_mhz", ".2f", ".1f"), ("power_uw", ".1f", ".1f"), ("time_h", ".2f", ".2f"))
    header = ["method", "", "FoM", "gain (dB)", "PM (deg)", "GBW (MHz)", "power (uW)",
              "time (h)", "simulations to best / all"]
    out = []
    for r in rows:
        p = ref.get((r["method"], r["exp"]), {})
        cells = [f"{_fmt(r[c], f1)} / {_fmt(p.get(c), f2)}" for c, f1, f2 in cols]
        sims = f"{_fmt(r['sims_to_best'], ',.0f')} / {_fmt(r['simulations'], ',.0f')}"
        out.append([names[r["method"]], r["exp"], *cells, sims])
    return header, out


def plot_convergence(runs: dict[str, list]):
    """Best spec-meeting FoM against simulations, every run of every method (book chapter
    "MACRO: Table II, behaviour-level search")."""
    import matplotlib.pyplot as plt

    colors = {"bobo": "tab:orange", "rlbo": "tab:green", "macro": "tab:blue"}
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for method in METHODS:
        for k, run in enumerate(runs.get(method, [])):
            if run is None:
                continue
            metrics = run.metrics if hasattr(run, "metrics") else run
            pts = [(n, f) for n, f in metrics.get("convergence", []) if f is not None]
            if not pts:
                continue
            n, f = zip(*pts, strict=True)
            n = [*n, metrics.get("n_simulations", n[-1])]
            f = [*f, f[-1]]
            ax.step(n, f, where="post", color=colors[method], alpha=0.85,
                    ls=("-", "--", ":")[k % 3], label=f"{method.upper()} exp{k + 1}")
    ax.set_xscale("log")
    ax.set_xlabel("simulations")
    ax.set_ylabel("best spec-meeting FoM")
    if ax.lines:
        ax.legend(fontsize=7, ncol=3)
    else:
        ax.text(0.5, 0.5, "no spec-meeting design in these runs", ha="center",
                transform=ax.transAxes)
    fig.tight_layout()
    return fig


def plot_best_topologies(rows: list[dict]):
    """The best topology of each method's first repeat that met the specs (the
    behaviour-level halves of Figs. 6-8). Book chapter "MACRO: Table II, behaviour-level
    search"."""
    import matplotlib.pyplot as plt

    from .plots import draw_topology
    from .topology import Topology

    picks = {}
    for r in rows:
        if r["exp"] != "avg" and r.get("types") and r["method"] not in picks:
            picks[r["method"]] = r
    fig, axes = plt.subplots(1, max(1, len(picks)), figsize=(5.2 * max(1, len(picks)), 3.2))
    axes = np.atleast_1d(axes)
    for ax, (method, r) in zip(axes, picks.items(), strict=False):
        draw_topology(Topology(tuple(r["types"])), ax=ax,
                      title=f"{method.upper()} {r['exp']}: FoM {r['fom']:,.0f}")
    if not picks:
        axes[0].axis("off")
        axes[0].text(0.5, 0.5, "no spec-meeting design in these runs", ha="center")
    fig.tight_layout()
    return fig


def plot_trajectory(trajectory: dict):
    """Figure 4: agent T's five design steps (chosen type and its probability) and agent P's
    Gaussian for each parameter (mean, sigma and the value taken, in normalised coordinates).
    Book chapter "MACRO: Table II, behaviour-level search"."""
    import matplotlib.pyplot as plt

    steps, params = trajectory["topology_steps"], trajectory["parameter_steps"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    a.barh(range(len(steps)), [s["prob"] for s in steps], color="tab:blue")
    a.set_yticks(range(len(steps)),
                 [f"step {k + 1}: {s['pair']} = {s['type']} ({s['label']})"
                  for k, s in enumerate(steps)], fontsize=8)
    a.invert_yaxis()
    a.set_xlim(0, 1)
    a.set_xlabel("probability of the chosen type")
    a.set_title("agent T (topology)", fontsize=10)
    x = np.arange(len(params))
    b.errorbar(x, [p["mu"] for p in params], yerr=[p["sigma"] for p in params], fmt="o",
               color="tab:red", ms=4, capsize=3, label="mean ± sigma")
    b.plot(x, [p["unit"] for p in params], "k_", ms=12, label="value taken")
    b.set_xticks(x, [p["name"] for p in params], rotation=60, ha="right", fontsize=7)
    b.set_ylim(-0.05, 1.05)
    b.set_ylabel("normalised value")
    b.set_title("agent P (parameters, along the signal)", fontsize=10)
    b.legend(fontsize=7)
    fig.tight_layout()
    return fig


def comparison_text(rows: list[dict], paper: dict, mode: str) -> str:
    """The sentences that compare our Table II with the paper's, written from the numbers
    (book chapter "MACRO: Table II, behaviour-level search")."""
    avg = {r["method"]: r for r in rows if r["exp"] == "avg" and r["fom"] is not None}
    ref = {r["method"]: r for r in paper["rows"] if r["exp"] == "avg"}
    names = {"bobo": "BOBO", "rlbo": "RLBO", "macro": "MACRO"}
    out = []
    if mode == "quick":
        out.append("These are quick-mode runs with a tiny budget (a few epochs and topologies): "
                   "they exercise the code, and their numbers are not a reproduction of the "
                   "paper's; the full experiment (`python -m macro experiment --mode full`) "
                   "gives the comparison.")
    missing = [names[m] for m in METHODS if m not in avg]
    if missing:
        out.append(f"No spec-meeting design was found by {', '.join(missing)} in these runs.")
    for m in METHODS:
        if m in avg:
            ours, theirs = avg[m]["fom"], ref[m]["fom"]
            word = "above" if ours > theirs else "below"
            out.append(f"{names[m]}'s average FoM, {ours:,.0f}, is {ours / theirs:.2f} times the "
                       f"paper's ({theirs:,.0f}), {word} it.")
    if "macro" in avg:
        beaten = [names[b] for b in ("bobo", "rlbo") if b in avg
                  and avg[b]["fom"] >= avg["macro"]["fom"]]
        if beaten:
            out.append(f"Unlike the paper, MACRO does not beat {' and '.join(beaten)} on average "
                       "FoM here.")
        elif all(b in avg for b in ("bobo", "rlbo")):
            out.append("As in the paper, MACRO's average FoM is the highest of the three.")
    return " ".join(out)


__all__ = [
    "METHODS",
    "MODES",
    "ExperimentConfig",
    "ExperimentError",
    "comparison_text",
    "dvae_report",
    "estimate_full_budget",
    "experiment_config",
    "load_runs",
    "method_config",
    "paper_table_two",
    "plot_best_topologies",
    "plot_convergence",
    "plot_trajectory",
    "prepare_dvae",
    "ratios",
    "run_experiment",
    "run_name",
    "table_two",
    "table_two_rows",
]

