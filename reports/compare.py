"""Two conditions compared across training seeds (SL vs RL; one knob value vs another). Each model is one number per
measure (its data seeds averaged first); a condition's mean carries a 95% bootstrap CI over its models, and the
difference of the two means a CI from resampling both conditions' models independently. The variance that matters
when comparing training methods is the one between models trained with different seeds, not between data seeds."""
from __future__ import annotations

import numpy as np

from mesaprobe.probes.indices import bootstrap_ci

MEASURES = (("behavior", "behaviour (success rate or accuracy, the probe's own rollouts)"),
            ("search_index", "search index"), ("search_decodability", "search: decodable beyond controls"),
            ("search_causal", "search: causal beyond controls"),
            ("search_breadth", "search breadth (share of candidates ordered correctly)"), ("goal_index", "goal index"),
            ("goal_decodability", "goal: decodable beyond controls"), ("goal_causal", "goal: causal beyond controls"),
            ("horizon", "horizon H (future states read beyond the tokens)"),
            ("steer_reach", "steering reach, best block"), ("steer_random", "steering reach, random direction"))


def model_measures(results: dict) -> dict[str, float | None]:
    """One model's measures from its results.json (as saved or re-summarised): each over its data seeds."""
    behavior = results["behavior"]
    metric = next((k for k in ("success_rate", "accuracy", "rank_accuracy") if k in behavior), None)
    out: dict[str, float | None] = {"behavior": behavior.get(metric) if metric else None}
    for family, entry in results.get("indices", {}).items():
        if not entry or entry.get("value") is None:
            continue
        out[f"{family}_index"] = entry["value"]
        for part in ("decodability", "causal"):
            out[f"{family}_{part}"] = (entry.get(part) or {}).get("value")
        if entry.get("horizon"):
            out["horizon"] = float(np.mean(entry["horizon"]))
        if entry.get("breadth"):
            out[f"{family}_breadth"] = entry["breadth"]["value"]
    steers = [c for c in results.get("causal", []) if c["method"] == "steer"]
    if steers:
        best = max(steers, key=lambda c: c["effect"])
        out["steer_reach"], out["steer_random"] = best["effect"], best["control_effect"]
    return out


def bootstrap_difference(a: list[float], b: list[float], seed: int = 0, n_boot: int = 2000) -> list[float]:
    """95% percentile CI of mean(a) - mean(b), each side resampled on its own (models of a condition, or a run's data
    seeds in the side-by-side report)."""
    va, vb = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    diffs = (va[rng.integers(0, len(va), (n_boot, len(va)))].mean(1)
             - vb[rng.integers(0, len(vb), (n_boot, len(vb)))].mean(1))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return [float(lo), float(hi)]


def compare(a: list[dict], b: list[dict], measures=MEASURES) -> list[dict]:
    """Per measure both conditions hold: n models, mean [CI] per condition, and the difference a - b [CI]. `a` and
    `b` are lists of `model_measures` dicts, one per training seed."""
    rows = []
    for key, label in measures:
        va = [m[key] for m in a if m.get(key) is not None]
        vb = [m[key] for m in b if m.get(key) is not None]
        if not va or not vb:
            continue
        rows.append({"measure": label, "key": key, "n_a": len(va), "n_b": len(vb),
                     "mean_a": float(np.mean(va)), "ci_a": bootstrap_ci(va), "mean_b": float(np.mean(vb)),
                     "ci_b": bootstrap_ci(vb), "difference": float(np.mean(va) - np.mean(vb)),
                     "difference_ci": bootstrap_difference(va, vb)})
    return rows


def excludes_zero(row: dict) -> bool:
    lo, hi = row["difference_ci"]
    return lo > 0 or hi < 0


def below_bar(task_name: str | None, behavior: dict | float | None, metric: str | None = None) -> bool:
    """Whether a model's behaviour (a results' behaviour dict, or one value of `metric`) misses its task's bar
    (False where the task is not known)."""
    from mesaprobe.tasks import REGISTRY, task_class

    if task_name not in REGISTRY:
        return False
    bar_metric, bar = task_class(task_name).behavior_bar
    value = behavior.get(bar_metric) if isinstance(behavior, dict) else behavior if metric == bar_metric else None
    return value is not None and value < bar


def comparison_rows(a_name: str, a: list[dict], b_name: str, b: list[dict], low: tuple[int, int]) -> list[dict]:
    """`compare` as table rows for a report: per measure each condition's mean [CI] and the difference a - b [CI],
    with how many models each side has and how many miss their behaviour bar."""
    fmt = lambda m, ci: f"{m:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return [{"measure": r["measure"], f"{a_name} ({r['n_a']} models, {low[0]} below bar)": fmt(r["mean_a"], r["ci_a"]),
             f"{b_name} ({r['n_b']} models, {low[1]} below bar)": fmt(r["mean_b"], r["ci_b"]),
             f"{a_name} - {b_name}": fmt(r["difference"], r["difference_ci"]),
             "CI excludes 0": excludes_zero(r)} for r in compare(a, b)]
