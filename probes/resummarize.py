"""Re-summarise a saved run under the current verdict rule, without probing again: indices, verdict, readout check
and `used` per row from results.json's rows. A saved row keeps its per-seed score (`score_by_seed`, causal:
`effect_by_seed`) but only the seed-mean of its controls, so each seed's row is rebuilt with that mean control;
the verdict can differ from a fresh run's only where a seed's control sat far from the mean."""
from __future__ import annotations

from mesaprobe.probes.causal import evidence_methods
from mesaprobe.probes.indices import (TaskView, families, mark_used, ranked_beyond_controls, readout, summarize,
                                     visible_goal_notes)


def split_seeds(rows: list[dict], key: str) -> list[list[dict]]:
    """Per-seed rows from seed-averaged rows: `key` per seed from `<key>_by_seed`, every other field the mean."""
    seeds = max((len(r.get(f"{key}_by_seed", [])) for r in rows), default=0) or 1
    return [[r | {key: r.get(f"{key}_by_seed", [r[key]] * seeds)[s]} for r in rows] for s in range(seeds)]


def resummarize(results: dict, task) -> dict:
    """`results` with indices, verdict, readout and probe rows' decodable / used recomputed by this version's
    rule (task: the Task the run probed, rebuilt from results['task'])."""
    view = TaskView.of(task)
    probes = split_seeds(results["probes"], "score")
    causal = split_seeds(results["causal"], "effect") if results["causal"] else None
    attention = results.get("attention")
    if attention:  # each head's margin as this version's controls give it (indices.ranked_beyond_controls)
        attention = attention | {"heads": ranked_beyond_controls(attention["heads"]),
                                 "by_seed": [r | {"heads": ranked_beyond_controls(r["heads"])}
                                             for r in attention["by_seed"]]}
    indices, verdict = summarize(view, probes, causal, attention and attention["by_seed"])
    methods = tuple({m for f in families(view) for m in evidence_methods(f)})
    now = {"indices": indices, "verdict": verdict, "readout": readout(results["causal"], methods),
           "probes": mark_used(results["probes"], results["causal"], methods),
           "notes": visible_goal_notes(view, results["probes"])}
    return results | ({"attention": attention} if attention else {}) | now


def saved_task(results: dict):
    """The Task a saved run probed, rebuilt from results['task'] (results also list parameters a task derives)."""
    from mesaprobe.tasks import get_task, task_class

    name = results["task"].get("spec") or results["task"]["name"]
    declared = task_class(name).PARAMS
    return get_task(name, **{k: v for k, v in results["task"]["params"].items() if k in declared})


def under_current_rule(results: dict) -> dict:
    """A saved run as this version's rule reads it; where the verdict changed, a note says what was saved. A task
    this installation cannot rebuild (a plugin no longer there) leaves the run as saved, with a note."""
    from mesaprobe.errors import UserError

    try:
        now = resummarize(results, saved_task(results))
    except UserError as exc:
        return results | {"notes": [*results.get("notes", []), f"shown as saved (not re-summarised: {exc})"]}
    if now["verdict"] != results["verdict"]:
        now["notes"] = [*now["notes"], f"verdict as saved: {results['verdict']}; under this version's rule: "
                                       f"{now['verdict']} (the rows are the saved ones)"]
    return now
