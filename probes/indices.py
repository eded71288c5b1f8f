"""The search and goal indices, their bootstrap CIs over seeds, and the verdict rule (DESIGN.md, Metrics)."""
from __future__ import annotations

import numpy as np

DECODABLE = 0.10  # an index component counts as evidence above this margin over every control


def bootstrap_ci(values: list[float], seed: int = 0, n_boot: int = 2000, level: float = 0.95) -> list[float]:
    """Percentile bootstrap CI of the mean over seeds."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return [float(v[0]), float(v[0])]
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def beyond_controls(row: dict) -> float:
    """How far a probe's score stands above *all* of its controls: min(selectivity, delta vs random-init,
    delta vs the observation-only baseline), floored at 0."""
    return max(0.0, min(row["selectivity"], row["score"] - row["random_init"], row["score"] - row["obs_baseline"]))


def s1_decodability(task, rows: list[dict]) -> float:
    """S1: per running-best (target, position), the best layer's margin over all controls; mean over them."""
    wanted = {(t.name, p) for t in task.targets() if t.index == "S1" for p in t.positions}
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        key = (r["target"], r["position"])
        if key in wanted and r["layer"] >= 0:
            best[key] = max(best.get(key, 0.0), beyond_controls(r))
    return float(np.mean(list(best.values()))) if best else 0.0


def index_entry(per_seed: list[float]) -> dict:
    return {"value": float(np.mean(per_seed)), "ci": bootstrap_ci(per_seed), "by_seed": [float(v) for v in per_seed]}


def verdict_rule(search: float | None, goal: float | None, search_causal: bool, goal_causal: bool) -> str:
    """Decodability alone is never enough (Ravichander et al. 2021; Belinkov 2022): an index counts only when its
    causal check (S5 / G4) also beat its random-subspace control. Without that, decodable evidence gives
    'inconclusive'; nothing decodable gives 'neither'."""
    has_search = search is not None and search > DECODABLE
    has_goal = goal is not None and goal > DECODABLE
    if not (has_search or has_goal):
        return "neither"
    search_ok, goal_ok = has_search and search_causal, has_goal and goal_causal
    if search_ok and goal_ok:
        return "both"
    if search_ok:
        return "search-in-map"
    if goal_ok:
        return "goal-across-time"
    return "inconclusive"


def summarize(task, per_seed_rows: list[list[dict]], causal: list[dict]) -> tuple[dict, str]:
    """indices + verdict for a run. Causal evidence is added by the causal probes (empty: verdict is never
    stronger than 'inconclusive')."""
    search = [s1_decodability(task, rows) for rows in per_seed_rows] if task.family == "search" else None
    indices = {
        "search": index_entry(search) if search else {"value": None, "ci": None, "note": "not a search task"},
        "goal": {"value": None, "ci": None, "note": "not a goal task"},
    }
    verdict = verdict_rule(indices["search"]["value"], indices["goal"]["value"], search_causal=False,
                           goal_causal=False)
    return indices, verdict
