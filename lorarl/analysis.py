"""Tables and curves of the LoRA-RL experiments, computed from the grid's run folders.

The measures (book chapter "LoRA-RL: experiments"):

final feasible FoM of an episode
    the FoM of the design the episode ends on when it is feasible, else 0
    (:func:`lorarl.train.feasible_fom`: a design counts only when feasible).
reach (Table 1)
    the first episode ``e`` at which the *median* final feasible FoM of the episodes
    ``e - W + 1 .. e`` is at least the target, ``W = 20`` (:data:`WINDOW`): at least half of 20
    consecutive episodes end on a feasible design scoring the target or more. A median, not a
    mean, because a few designs score FoM in the tens (a mean over 20 episodes would then pass
    the target with one lucky episode and 19 infeasible ones). The simulations to target are
    the run's simulations at that episode.
simulations until the best feasible design reaches the target
    the one measure shared with the black-box baselines (``sims_to_target`` of a run).
final FoM (Table 2)
    the mean final feasible FoM of the noise-free episodes after training (``evaluation``).
malfunction rate
    failed simulations / simulations of a run (no convergence, timeouts, unmeasurable
    responses).

Every aggregate is a mean and a sample standard deviation over seeds; a run that does not reach
the target within its budget counts as not reached (the table says how many of the seeds
reached it, and averages over those that did).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .env import LABELS, TARGETS

#: Window (episodes) of the moving median that defines "reach".
WINDOW = 20
#: Methods compared in Tables 1-2, in column order, with their names in the book.
METHOD_NAMES = {"scratch": "GCN-RL (scratch)", "finetune": "GCN-RL (fine-tune)",
                "lora-r4": "LoRA-RL r=4", "lora-r8": "LoRA-RL r=8"}


def final_feasible_fom(entry: Mapping[str, Any]) -> float:
    """An episode's final FoM when its final design is feasible, else 0."""
    fom = entry.get("fom")
    return float(fom) if entry.get("feasible") and fom is not None else 0.0


def reach(log: Sequence[Mapping[str, Any]], target: float, window: int = WINDOW
          ) -> tuple[int | None, int | None]:
    """``(episode, simulations)`` at which the run reaches the target (module docstring);
    ``(None, None)`` when it does not within its log."""
    foms = np.array([final_feasible_fom(e) for e in log], dtype=float)
    if len(foms) < window:
        return None, None
    windows = np.lib.stride_tricks.sliding_window_view(foms, window)
    hit = np.nonzero(np.median(windows, axis=1) >= target)[0]
    if not hit.size:
        return None, None
    episode = int(hit[0]) + window
    return episode, int(log[episode - 1]["sims"])


def moving_median(log: Sequence[Mapping[str, Any]], window: int = WINDOW) -> np.ndarray:
    """Moving median of the final feasible FoM, one value per episode from episode ``window``
    on. Shapes: ``(len(log) - window + 1,)``."""
    foms = np.array([final_feasible_fom(e) for e in log], dtype=float)
    if len(foms) < window:
        return np.zeros(0)
    return np.median(np.lib.stride_tricks.sliding_window_view(foms, window), axis=1)


def _stats(values: Iterable[float | None]) -> dict[str, Any]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return {"mean": float(np.mean(vals)) if vals else None,
            "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else (0.0 if vals else None),
            "n": len(vals)}


def _runs(results: Mapping[str, Mapping[str, Any]], **tags: Any) -> list[Mapping[str, Any]]:
    return [r for r in results.values()
            if all(r.get("tags", {}).get(k) == v for k, v in tags.items())]


def run_measures(run: Mapping[str, Any], window: int = WINDOW) -> dict[str, Any]:
    """The per-run measures: reach (episode, simulations), best-design simulations to target,
    final FoM, malfunction and infeasible rates, wall time and the share simulating."""
    target = run.get("target_fom") or TARGETS.get(run.get("tags", {}).get("circuit"), 1.0)
    log = run.get("episodes_log") or []
    ep, sims = reach(log, target, window)
    ev = run.get("evaluation") or {}
    n = run.get("sims") or 0
    failed = run.get("failed", run.get("failed_sims", 0)) or 0
    infeasible = run.get("infeasible", run.get("infeasible_sims", 0)) or 0
    return {"episodes_to_target": ep, "sims_to_target_policy": sims,
            "sims_to_best_target": run.get("sims_to_target"),
            "final_fom": ev.get("mean_final_fom"), "best_feasible_fom":
            run.get("best_feasible_fom"), "malfunction_rate": failed / n if n else None,
            "infeasible_rate": infeasible / n if n else None, "sims": n,
            "episodes": run.get("episodes"), "wall_s": run.get("wall_s"),
            "sim_share": run.get("sim_share"), "target": target,
            "trainable_fraction": (run.get("parameters") or {}).get("trainable_fraction")}


def method_summary(results: Mapping[str, Mapping[str, Any]], circuit: str, tech: str,
                   method: str, window: int = WINDOW) -> dict[str, Any]:
    """Measures of one method on one target, aggregated over seeds (mean, std, n)."""
    runs = _runs(results, circuit=circuit, tech=tech, method=method)
    m = [run_measures(r, window) for r in runs]
    out = {"seeds": len(runs), "reached": sum(x["episodes_to_target"] is not None for x in m)}
    for key in ("episodes_to_target", "sims_to_target_policy", "sims_to_best_target",
                "final_fom", "best_feasible_fom", "malfunction_rate", "infeasible_rate",
                "sims", "wall_s", "sim_share", "trainable_fraction"):
        out[key] = _stats(x[key] for x in m)
    out["best_reached"] = sum(x["sims_to_best_target"] is not None for x in m)
    return out


def table_one(results: Mapping[str, Mapping[str, Any]], tech: str = "45nm",
              methods: Sequence[str] = tuple(METHOD_NAMES), window: int = WINDOW
              ) -> list[dict[str, Any]]:
    """Table 1: per circuit and method, episodes and simulations to reach the target, and the
    speed-up over GCN-RL from scratch (ratio of the mean episodes to target)."""
    rows = []
    for circuit in LABELS:
        base = method_summary(results, circuit, tech, "scratch", window)
        for method in methods:
            s = method_summary(results, circuit, tech, method, window)
            if not s["seeds"]:
                continue
            e, b = s["episodes_to_target"]["mean"], base["episodes_to_target"]["mean"]
            rows.append({"circuit": LABELS[circuit], "name": circuit, "method": method,
                         "target": TARGETS[circuit], **s,
                         "speedup": b / e if e and b and method != "scratch" else None})
    return rows


def table_two(results: Mapping[str, Mapping[str, Any]], tech: str = "45nm",
              reference: str = "scratch", methods: Sequence[str] = ("lora-r4", "lora-r8")
              ) -> list[dict[str, Any]]:
    """Table 2: final FoM of the noise-free episodes, GCN-RL (``reference``) against LoRA-RL,
    and the relative difference ``(LoRA - GCN-RL) / GCN-RL``."""
    rows = []
    for circuit in LABELS:
        g = method_summary(results, circuit, tech, reference)["final_fom"]
        if g["n"] == 0:
            continue
        row = {"circuit": LABELS[circuit], "name": circuit, "gcn_rl": g}
        for m in methods:
            f = method_summary(results, circuit, tech, m)["final_fom"]
            row[m] = f
            row[f"delta_{m}"] = ((f["mean"] - g["mean"]) / g["mean"]
                                 if f["mean"] is not None and g["mean"] else None)
        rows.append(row)
    return rows


def learning_curves(results: Mapping[str, Mapping[str, Any]], circuit: str = "current_mirror_ota",
                    tech: str = "45nm", methods: Sequence[str] = tuple(METHOD_NAMES),
                    window: int = WINDOW) -> dict[str, dict[str, np.ndarray]]:
    """Per method: ``episode`` (E,), ``mean`` and ``std`` (E,) over seeds of the moving median
    of the final feasible FoM (the measure of "reach"), for the learning-speed figure."""
    out = {}
    for m in methods:
        curves = [moving_median(r.get("episodes_log") or [], window)
                  for r in _runs(results, circuit=circuit, tech=tech, method=m)]
        curves = [c for c in curves if c.size]
        if not curves:
            continue
        n = min(c.size for c in curves)
        stack = np.stack([c[:n] for c in curves])
        out[m] = {"episode": np.arange(window, window + n), "mean": stack.mean(axis=0),
                  "std": stack.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(n),
                  "seeds": len(curves)}
    return out


def ablations(results: Mapping[str, Mapping[str, Any]], tech: str = "45nm",
              lora: str = "lora-r4", reference: str = "scratch", window: int = WINDOW
              ) -> dict[str, Any]:
    """The paper's ablation claims, measured: sample efficiency (episodes to target of GCN-RL
    from scratch / of LoRA-RL, its "A x"), malfunction rate of both (its "halves"), SPICE calls
    saved (1 - simulations to target of LoRA-RL / of GCN-RL, its "XX %"), per circuit and
    averaged over the circuits where both reached the target."""
    per = {}
    for circuit in LABELS:
        a = method_summary(results, circuit, tech, reference, window)
        b = method_summary(results, circuit, tech, lora, window)
        if not (a["seeds"] and b["seeds"]):
            continue
        ea, eb = a["episodes_to_target"]["mean"], b["episodes_to_target"]["mean"]
        sa, sb = a["sims_to_target_policy"]["mean"], b["sims_to_target_policy"]["mean"]
        per[LABELS[circuit]] = {
            "sample_efficiency": ea / eb if ea and eb else None,
            "sims_saved": 1 - sb / sa if sa and sb else None,
            "malfunction_reference": a["malfunction_rate"]["mean"],
            "malfunction_lora": b["malfunction_rate"]["mean"],
            "malfunction_ratio": (b["malfunction_rate"]["mean"] / a["malfunction_rate"]["mean"]
                                  if a["malfunction_rate"]["mean"] else None),
        }
    summary = {k: _stats(v[k] for v in per.values()) for k in
               ("sample_efficiency", "sims_saved", "malfunction_ratio")}
    return {"per_circuit": per, "mean": summary}


def rank_sweep(results: Mapping[str, Mapping[str, Any]], circuit: str = "current_mirror_ota",
               tech: str = "45nm", ranks: Sequence[int] = (1, 2, 4, 8, 16),
               window: int = WINDOW) -> list[dict[str, Any]]:
    """Per rank: trainable fraction, episodes to target and final FoM over seeds."""
    rows = []
    for r in ranks:
        s = method_summary(results, circuit, tech, f"lora-r{r}", window)
        if s["seeds"]:
            rows.append({"rank": r, **s})
    return rows


def baseline_table(results: Mapping[str, Mapping[str, Any]], tech: str = "45nm",
                   methods: Sequence[str] = ("random", "cma", "bo", "scratch", "lora-r4")
                   ) -> list[dict[str, Any]]:
    """Simulations until the best feasible design reaches the target: black-box baselines and
    the RL methods side by side (mean over the seeds that reached it, and how many did), and
    the best feasible FoM within the budget."""
    rows = []
    for circuit in LABELS:
        for m in methods:
            runs = _runs(results, circuit=circuit, tech=tech, method=m)
            if not runs:
                continue
            rows.append({"circuit": LABELS[circuit], "method": m, "seeds": len(runs),
                         "reached": sum(r.get("sims_to_target") is not None for r in runs),
                         "sims_to_target": _stats(r.get("sims_to_target") for r in runs),
                         "budget": _stats(r.get("sims") for r in runs),
                         "best_feasible_fom": _stats(r.get("best_feasible_fom") for r in runs),
                         "malfunction_rate": _stats(
                             (r.get("failed", r.get("failed_sims")) or 0) / r["sims"]
                             for r in runs if r.get("sims"))})
    return rows


def fmt(stat: Mapping[str, Any] | None, digits: int = 0, percent: bool = False) -> str:
    """``mean +- std`` of an aggregate for a table cell; an em dash when nothing was measured."""
    if not stat or stat.get("mean") is None:
        return "—"
    k = 100.0 if percent else 1.0
    m, s = stat["mean"] * k, (stat.get("std") or 0.0) * k
    unit = " %" if percent else ""
    if stat.get("n", 1) > 1:
        return f"{m:.{digits}f} ± {s:.{digits}f}{unit}"
    return f"{m:.{digits}f}{unit}"


def start_distribution(circuit: str, tech: str = "45nm", spread: float = 0.2, episodes: int = 50,
                       seed: int = 0, simulator=None) -> dict[str, Any]:
    """What the start distribution gives before any learning: the share of feasible, infeasible
    and failed start designs and their median final feasible FoM, and the same for the designs a
    policy of uniformly random actions ends its episodes on (``episodes`` episodes, stepped
    together on the simulator's workers). Used by the book chapter "LoRA-RL: experiments" to
    show that the target is not met without learning.
    """
    from dataclasses import replace

    from .env import EnvConfig, VecSizingEnv

    cfg = replace(EnvConfig(circuit=circuit, tech=tech, seed=seed), start_spread=spread)
    venv = VecSizingEnv(cfg, episodes, simulator)
    try:
        venv.reset(seed=seed)
        starts = [e.current_info() for e in venv.envs]
        rng = np.random.default_rng(seed)
        finals: list[dict] = []
        for _ in range(cfg.episode_length):
            _, _, _, trunc, infos = venv.step(rng.uniform(-1, 1, (episodes,
                                                                  len(venv.param_names))))
            if trunc.all():
                finals = [i["final_info"] for i in infos]
    finally:
        venv.close()

    def describe(infos: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        foms = [final_feasible_fom(i) for i in infos]
        return {"feasible": float(np.mean([i["feasible"] for i in infos])),
                "failed": float(np.mean([i["failed"] for i in infos])),
                "median_fom": float(np.median(foms)), "mean_fom": float(np.mean(foms))}

    return {"circuit": circuit, "tech": tech, "spread": spread, "episodes": episodes,
            "target": cfg.target, "start": describe(starts), "random_policy": describe(finals)}
