"""Write docs/findings.md from the committed results under experiments/results/ alone: no number on that page is
typed by hand, and tests/test_findings.py checks that it regenerates byte for byte.

    python experiments/findings.py [--check]

Sections: the latent-goal matched pairs (each model under the current verdict rule; SL vs RL across training seeds,
reports/compare.py), the named experiments (per knob value across training seeds, and whether the argument's
prediction holds at the size run), SmolLM2 and the models fine-tuned from it (experiments/findings_lm.py), and the
known answers' gallery, retargeting the search and the DAS settings (experiments/findings_probes.py)."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sections beside this script, however it is loaded
from findings_common import (LATENT_STANDARD, MIN_MODELS, PAGE, RESULTS, ROOT, SIZES, ci_text, fmt,  # noqa: E402
                             table)
from findings_lm import lm_pair_section, pretrained_section, three_seed_section  # noqa: E402
from findings_probes import das_section, gallery_section, grid_section, retarget_section  # noqa: E402


def below_bar(task, metric: str | None, value: float | None) -> bool:
    from mesaprobe.reports.compare import below_bar as misses

    return misses(task.name, value, metric)


def latent_goal_models() -> list[dict]:
    """Every latent-goal run committed: its saved results re-summarised under the current rule."""
    from mesaprobe.probes.resummarize import resummarize, saved_task
    from mesaprobe.reports.compare import model_measures
    from mesaprobe.schema import load_results

    models = []
    for run in sorted((RESULTS / "latent-goals").glob("*/results.json")):
        saved = load_results(run.parent)
        task = saved_task(saved)
        now = resummarize(saved, task)
        training = run.parent / "training.json"
        trained = json.loads(training.read_text()) if training.exists() else None
        metric = task.behavior_bar[0]
        at_training = trained["behavior"].get(metric) if trained else None
        models.append({"name": run.parent.name, "task": task, "method": saved["model"].get("training") or "-",
                       "random_init": "random-init" in run.parent.name, "saved": saved["verdict"],
                       "verdict": now["verdict"], "measures": model_measures(now), "metric": metric,
                       "at_training": at_training, "below_bar": below_bar(task, metric, at_training)})
    return models


def latent_goals_section() -> list[str]:
    from mesaprobe.reports.compare import compare, excludes_zero

    models = latent_goal_models()
    out = ["## Latent goals: behaviour cloning vs PPO, same architecture and episode budget", "",
           "Each model probed on 3 data seeds (`bash experiments/latent_goals.sh OUT rock-field maze`), re-summarised "
           "under the current verdict rule (the answer's own subspace counts for no family). Behaviour at training "
           "is the held-out success `mesaprobe train` measured; a model below its task's bar is marked `(below bar)`.",
           ""]
    rows = []
    for m in models:
        x = m["measures"]
        bar = f"{fmt(m['at_training'])}{' (below bar)' if m['below_bar'] else ''}"
        rows.append([m["name"], m["method"] if not m["random_init"] else "random-init", bar, fmt(x.get("behavior")),
                     m["saved"], m["verdict"], fmt(x.get("search_index")), fmt(x.get("goal_index")),
                     fmt(x.get("horizon"), 1), f"{fmt(x.get('steer_reach'))} ({fmt(x.get('steer_random'))})"])
    out += table(["model", "method", "behaviour at training", "behaviour (probe)", "verdict as saved",
                  "verdict now", "search index", "goal index", "H", "steering (random)"], rows) + [""]
    if (PAGE.parent / "figures" / "latent-goals.svg").exists():  # drawn by experiments/figures.py from these files
        out += ["![SL beside RL per latent-goal task: goal index, its parts, steering](figures/latent-goals.svg)", ""]
    for task in sorted({m["task"].name for m in models}):
        trained = [m for m in models if m["task"].name == task and not m["random_init"]]
        sl = [m for m in trained if m["method"] == "sl"]
        rl = [m for m in trained if m["method"] == "rl"]
        out += [f"### {task}: SL minus RL across training seeds", "",
                f"{len(sl)} SL and {len(rl)} RL models of 3 each ({sum(m['below_bar'] for m in sl + rl)} below "
                f"their bar, {task_bar(trained)}); means with 95% bootstrap CIs over training seeds, data seeds "
                f"averaged within a model first. A difference whose CI excludes 0 with {MIN_MODELS} models a side is in "
                "bold.", ""]
        if not sl or not rl:
            out += ["Not comparable yet: one method has no model.", ""]
            continue
        diff = compare([m["measures"] for m in sl], [m["measures"] for m in rl])
        out += table(["measure", "SL", "RL", "SL - RL"],
                     [[d["measure"], ci_text(d["mean_a"], d["ci_a"]), ci_text(d["mean_b"], d["ci_b"]),
                       ("**{}**" if excludes_zero(d) and min(d["n_a"], d["n_b"]) >= MIN_MODELS else "{}").format(ci_text(d["difference"], d["difference_ci"]))]
                      for d in diff]) + [""]
        verdicts = {meth: ", ".join(m["verdict"] for m in group) for meth, group in (("SL", sl), ("RL", rl))}
        out += [f"Verdicts: SL {verdicts['SL']}; RL {verdicts['RL']}.", ""]
    return out + goal_sum_rl_section()


def goal_sum_rl_section() -> list[str]:
    """PPO on the goal known positive (experiments/results/goal-sum-ppo/): whether RL reaches goal-sum's bar."""
    from mesaprobe.tasks import get_task

    runs = sorted((RESULTS / "goal-sum-ppo").glob("*training.json"))
    if not runs:
        return []
    rows = []
    for path in runs:
        t = json.loads(path.read_text())
        metric, bar = get_task("goal-sum").behavior_bar
        rows.append([str(t["steps"]), str(t["episode_budget"]), f"{t['size']['n_layer']} blocks",
                     fmt(t["behavior"][metric]), fmt(t["behavior"].get("optimal_rate")), f"{metric} >= {bar}"])
    return ["### goal-sum: can PPO learn it?", "",
            "Behaviour cloning learns the goal known positive; PPO is tried at larger budgets before an SL-vs-RL pair "
            "on it can be trained (`experiments/results/goal-sum-ppo/README.md`).", ""] + table(
        ["PPO iterations", "episodes", "model", "held-out success", "optimal", "bar"], rows) + [""]


def task_bar(models: list[dict]) -> str:
    metric, bar = models[0]["task"].behavior_bar
    return f"bar: {metric} >= {bar}"


def number(v: str):
    try:
        return float(v)
    except ValueError:
        return v or None


def mean_ci(rows: list[dict], key: str) -> str:
    from mesaprobe.probes.indices import bootstrap_ci

    values = [r[key] for r in rows if r.get(key) is not None]
    return ci_text(sum(values) / len(values), bootstrap_ci(values)) if values else "-"


def bar_value(row: dict) -> float | None:
    """The behaviour a row's bar is checked on: held-out success at training where the row has it, else its own."""
    return row.get("bar_behavior", row["behavior"])


def latent_rows(task_name: str) -> list[dict]:
    """Sweep-like rows (one per model) of the committed latent-goal models of one task, under the current rule, with
    each index's parts (`goal decodable`, `goal causal`, ...) that a sweep row keeps in its cell's results.json."""
    rows = []
    for m in latent_goal_models():
        if m["task"].name == task_name and not m["random_init"]:
            x = m["measures"]
            rows.append({"key": m["name"], "task": task_name, "method": m["method"], "behavior_metric": m["metric"],
                         "behavior": x.get("behavior"), "bar_behavior": m["at_training"],
                         "search_index": x.get("search_index"),
                         "goal_index": x.get("goal_index"), "verdict": m["verdict"],
                         **{f"{family} {part}": x.get(f"{family}_{key}") for family in ("search", "goal")
                            for part, key in (("decodable", "decodability"), ("causal", "causal"))}})
    return rows


def experiment_rows(name: str) -> tuple[str, list[dict], str] | None:
    """(size, sweep rows, provenance note) of the largest size committed."""
    provenance = json.loads((RESULTS / "provenance.json").read_text()) if (RESULTS / "provenance.json").exists() else {}
    for size in SIZES:
        if size == "standard" and name in LATENT_STANDARD and (rows := latent_rows(LATENT_STANDARD[name])):
            return size, rows, (f"the {LATENT_STANDARD[name]} models of the latent-goals section above (this "
                                "preset's standard size trains the same pairs, as experiments/latent_goals.sh does), "
                                "re-summarised under the current rule; behaviour is on the probe's own rollouts, "
                                "the bar is checked on the held-out success at training, as above")
        path = RESULTS / f"{name}-{size}.csv"
        if path.exists():
            with path.open() as f:
                rows = [{k: number(v) for k, v in r.items()} for r in csv.DictReader(f)]
            return size, rows, provenance.get(path.name, "")


HOLD_TOLERANCE = 0.05  # "holds or rises": the difference's CI may dip this far below 0


def prediction_state(d: dict, sign: int, misses: int, few: bool) -> str:
    """holds / fails / undecided for one predicted difference (last knob value minus first) and its CI; sign +1
    rises, -1 falls, 0 holds or rises (holds where the CI stays above -HOLD_TOLERANCE, fails where it lies below 0)."""
    lo, hi = d["difference_ci"]
    if misses or few:
        return "undecided"
    if sign == 0:
        return "holds" if lo > -HOLD_TOLERANCE else "fails" if hi < 0 else "undecided"
    if not (lo > 0 or hi < 0):
        return "undecided"
    return "holds" if (d["difference"] > 0) == (sign > 0) else "fails"


def undecided_reason(d: dict, sign: int, misses: int, few: bool) -> str:
    """Why a prediction is undecided, in words (never only that both sides are 0)."""
    lo, hi = d["difference_ci"]
    if misses:
        return "undecided because a model the argument needs at the bar is below it"
    if few:
        return "undecided because too few models were compared"
    if lo == hi == 0:
        return "undecided because both sides are 0: the experiment does not reach this measure (mis-aimed)"
    if sign == 0:
        return f"undecided because the CI reaches below -{HOLD_TOLERANCE} and above 0"
    return "undecided because the CI spans 0" + (" (both sides at the measure's ceiling)"
                                                 if min(d["mean_a"], d["mean_b"]) > 0.98 else "")


def experiment_groups(spec, rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows by the values of the knobs other than the first (a rule), in the spec's order: one table each."""
    others = list(spec.vary)[1:]
    combos = [()]
    for k in others:
        combos = [c + ((k, v),) for c in combos for v in spec.vary[k]]
    return {c: [r for r in rows if all(r.get(k) == v for k, v in c)] for c in combos}


def experiment_table(exp, spec, task, knob: str, rows: list[dict], labels: dict) -> list[str]:
    """One table over the swept knob's values and the sentence per prediction."""
    from mesaprobe.reports.compare import compare

    values = list(spec.vary[knob])
    groups = {v: [r for r in rows if r[knob] == v] for v in values}  # 64.0 == 64: numbers are read as floats
    measures = [m for m, _ in exp.predicts]
    shown = ["behavior", "search_index", "goal_index"] + [m for m in measures if m not in
                                                          ("behavior", "search_index", "goal_index")]
    shown = [k for k in shown if any(r.get(k) is not None for r in rows)]
    body = []
    for v, group in groups.items():
        low = sum(below_bar(task, r["behavior_metric"], bar_value(r)) for r in group)
        verdicts = sorted({r["verdict"] for r in group})
        body.append([str(v), str(len(group)), *[mean_ci(group, key) for key in shown],
                     ", ".join(f"{x} x{[r['verdict'] for r in group].count(x)}" for x in verdicts), str(low)])
    out = table([knob, "models", *[labels.get(k, k) for k in shown], "verdicts", "below bar"], body) + [""]
    first, last = groups[values[0]], groups[values[-1]]
    misses = sum(below_bar(task, r["behavior_metric"], bar_value(r)) for r in first + last
                 if r[knob] not in exp.may_miss)
    for measure, sign in exp.predicts:
        name = labels.get(measure, measure)
        d = compare(last, first, ((measure, name),))
        if not d:
            out += [f"Prediction ({name}): not measured in these results.", ""]
            continue
        d = d[0]
        few = min(d["n_a"], d["n_b"]) < MIN_MODELS
        way = {1: "rises", -1: "falls", 0: "holds or rises"}[sign]
        state = prediction_state(d, sign, misses, few)
        out += [f"**Prediction: {name} {way} from {knob}={values[0]} to {knob}={values[-1]}: "
                f"{state} at this size** (difference "
                f"{ci_text(d['difference'], d['difference_ci'])}, {d['n_b']} vs {d['n_a']} models"
                f"{f'; {misses} below the bar' if misses else ''}"
                f"{f'; fewer than {MIN_MODELS} training seeds' if few else ''}"
                f"{'; ' + undecided_reason(d, sign, misses, few) if state == 'undecided' else ''}).", ""]
    return out


def experiments_section() -> list[str]:
    from mesaprobe.reports.compare import MEASURES
    from mesaprobe.sweeps.named import EXPERIMENTS
    from mesaprobe.tasks import get_task

    labels = dict(MEASURES) | {"held_out_rule_behavior": "accuracy on the rule left out of training",
                               "search_breadth": "search breadth (share of candidates ordered correctly)"}
    out = ["## Named experiments", "",
           "Each row: one value of the swept knob, mean [95% bootstrap CI] over its training seeds (each model's data "
           "seeds averaged); one table per value of the other knobs (the rule: 0 largest, 3 closest to a target). "
           "Each sentence compares the knob's first and last values on a measure the argument predicts to move: "
           "*rises* or *falls* hold or fail where the CI of the difference excludes 0; *holds or rises* holds where "
           f"the CI stays above -{HOLD_TOLERANCE} and fails where it lies below 0; *undecided* otherwise, and "
           "whenever a compared model misses its behaviour bar (except at the knob values the argument predicts "
           f"to miss it) or a value has fewer than {MIN_MODELS} training seeds.", ""]
    for name, exp in EXPERIMENTS.items():
        found = experiment_rows(name)
        out += [f"### {name}", "", exp.claim, ""]
        if not found:
            out += ["No results committed yet.", ""]
            continue
        size, rows, note = found
        spec = exp.spec(size)
        knob = next(iter(spec.vary))
        out += [f"Size `--{size}`." + (f" These results were {note}." if note else ""), ""]
        for combo, group in experiment_groups(spec, rows).items():
            if not group:
                continue
            task = get_task(group[0]["task"], **{k: int(v) for k, v in spec.fixed.items()}, **{
                k: int(v) for k, v in combo})
            title = ", ".join(f"{k}={v}" for k, v in combo)
            out += ([f"#### {title}", ""] if title else []) + [
                f"Bar: {task.behavior_bar[0]} >= {task.behavior_bar[1]}"
                + (f"; the argument expects {knob}={', '.join(map(str, exp.may_miss))} to miss it" if exp.may_miss
                   else "") + ".", ""]
            out += experiment_table(exp, spec, task, knob, group, labels)
        if (PAGE.parent / "figures" / f"{name}.svg").exists():  # drawn by experiments/figures.py from these files
            out += [f"![{name}: the index and its parts against {knob}](figures/{name}.svg)", ""]
    return out


def render() -> str:
    lines = ["# Findings", "",
             "Generated by `python experiments/findings.py` from the files under `experiments/results/`; do not edit "
             "by hand. Measured on a 2-core CPU machine at the sizes stated.", ""]
    lines += (gallery_section() + grid_section() + latent_goals_section() + experiments_section() + pretrained_section()
              + lm_pair_section() + three_seed_section() + retarget_section() + das_section())
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = PAGE.exists() and PAGE.read_text() == text
        print("docs/findings.md is up to date" if same else "docs/findings.md differs: run python experiments/findings.py")
        return 0 if same else 1
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
