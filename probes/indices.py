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


def decodability(task, rows: list[dict], family_indices: tuple[str, ...]) -> float:
    """Per target feeding the given indices (S1: running best; G1: goal; G2: future states), the best
    (layer >= 0, position)'s margin over all controls; the mean over those targets."""
    wanted = {t.name for t in task.targets() if t.index in family_indices}
    best = {name: 0.0 for name in wanted}
    for r in rows:
        if r["target"] in wanted and r["layer"] >= 0:
            best[r["target"]] = max(best[r["target"]], beyond_controls(r))
    return float(np.mean(list(best.values()))) if best else 0.0


def horizon(rows: list[dict], margin: float = DECODABLE) -> int:
    """G2's horizon H: the largest k whose position+k is decodable beyond the observation baseline by `margin`."""
    h = 0
    for r in rows:
        if r["target"].startswith("position+") and r["layer"] >= 0 and r["score"] - r["obs_baseline"] > margin:
            h = max(h, int(r["target"].split("+")[1]))
    return h


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
    if task.family == "search":
        search = index_entry([decodability(task, rows, ("S1",)) for rows in per_seed_rows])
        goal = {"value": None, "ci": None, "note": "not a goal task"}
    else:
        search = {"value": None, "ci": None, "note": "not a search task"}
        goal = index_entry([decodability(task, rows, ("G1", "G2")) for rows in per_seed_rows])
        goal["horizon"] = [horizon(rows) for rows in per_seed_rows]
    indices = {"search": search, "goal": goal}
    verdict = verdict_rule(indices["search"]["value"], indices["goal"]["value"], search_causal=False,
                           goal_causal=False)
    return indices, verdict
