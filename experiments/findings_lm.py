"""The language-model sections of docs/findings.md (experiments/findings.py calls them): SmolLM2 probed in natural
language, and the fine-tuned pairs from it (experiments/lm_pair.sh), each from its committed files alone."""
from __future__ import annotations

import json

from findings_common import RESULTS, ci_text, fmt, table

PAIR_MODELS = ("base", "sft", "grpo", "sft-grpo")
PAIRS = {"lm-pair": "kv-recall", "lm-pair-gridworld": "gridworld"}  # results folder -> task


def pretrained_section() -> list[str]:
    """Pretrained LMs probed in natural language (runs under experiments/results/smollm2/), under the current rule."""
    from mesaprobe.probes.indices import readout_word
    from mesaprobe.probes.resummarize import resummarize, saved_task
    from mesaprobe.schema import load_results

    rows = []
    for path in sorted((RESULTS / "smollm2").glob("*/results.json")):
        saved = load_results(path.parent)
        now = resummarize(saved, saved_task(saved))
        config, b = json.loads((path.parent / "config.json").read_text()), saved["behavior"]
        search = now["indices"]["search"]
        readout = now["readout"]
        rows.append([path.parent.name, f"{fmt(b['accuracy'], 2)} (chance {fmt(b['chance'], 2)})", now["verdict"],
                     f"{fmt(search['value'])} (decodable {fmt(search['decodability']['value'])}, causal "
                     f"{fmt((search.get('causal') or {}).get('value'))})",
                     "-" if readout is None else f"{readout_word(readout)} ({readout['effect_beyond_control']:.2f})",
                     f"{config['n']} x {config['seeds']}",
                     ", ".join(map(str, sorted({c['layer'] for c in saved['causal'] if c['layer'] >= 0})))])
    if not rows:
        return []
    return ["## SmolLM2-135M in natural language", "",
            "`mesaprobe probe smollm2 TASK --out r` with every option at its default (3-shot chat prompts; behaviour "
            "is rank accuracy over the candidates), under the current rule; the verdicts before the rule changed are "
            "in `experiments/results/verdict-rule-change.md`; the time a first probe takes is in docs/benchmarks.md.",
            ""] + table(
        ["task", "accuracy", "verdict", "search index", "answer carried", "prompts x seeds", "causal blocks"],
        rows) + [""]


def index_text(index: dict) -> str:
    if index.get("value") is None:
        return "-"
    return (f"{fmt(index['value'])} (dec {fmt((index.get('decodability') or {}).get('value'))}, causal "
            f"{fmt((index.get('causal') or {}).get('value'))})")


def pair_row(folder, name: str, distances: dict) -> list[str] | None:
    """One model of a pair: held-out behaviour at training, behaviour on the probe's own prompts, cost, distance
    from SmolLM2 (distance.json, else what training.json measured from the model it was trained from), and its
    probe (or, with same-model.json, the probe of the model whose files it shares)."""
    from mesaprobe.probes.indices import readout_word
    from mesaprobe.probes.resummarize import resummarize, saved_task
    from mesaprobe.schema import load_results

    trained_path = folder / name / "training.json"
    if name == "base":
        base = folder / "base-behavior.json"
        if not base.exists():
            return None
        trained = {"behavior": json.loads(base.read_text())}
    elif trained_path.exists():
        trained = json.loads(trained_path.read_text())
    else:
        return None
    b = trained["behavior"]
    behavior = b.get("accuracy", b.get("success_rate"))
    distance = distances.get(name) or trained.get("distance_from_base") or {}
    kl, update = distance.get("kl") or {}, distance.get("update") or {}
    same = folder / name / "same-model.json"  # every file a probe reads is another model's: its probe is that one's
    same_as = json.loads(same.read_text())["same_as"] if same.exists() else None
    probe = folder / (same_as or name) / "results.json"
    verdict, search, goal, readout, probed = "not probed yet", "-", "-", "-", "-"
    if (refused := folder / name / "not-probed.json").exists():  # a probe that cannot run on this model
        verdict = "not probed: " + json.loads(refused.read_text())["reason"]
    if probe.exists():
        saved = load_results(probe.parent)
        now = resummarize(saved, saved_task(saved))
        verdict, search, goal = now["verdict"], index_text(now["indices"]["search"]), index_text(now["indices"]["goal"])
        verdict += f" ({same_as}'s probe: the same files)" if same_as else ""
        r = now["readout"]
        readout = "-" if r is None else f"{readout_word(r)} ({r['effect_beyond_control']:.2f})"
        pb = saved["behavior"]
        probed = fmt(pb.get("accuracy", pb.get("success_rate")))
    return [name, fmt(behavior), probed, str(trained.get("steps", "-")), fmt(trained.get("wall_time_s"), 0),
            fmt(kl.get("mean_nats"), 2) + (f" (max {fmt(kl.get('max_nats'), 1)})" if kl else ""),
            fmt(update.get("share")) if not trained.get("lora_rank") else f"LoRA rank {trained['lora_rank']}",
            verdict, search, goal, readout]


def lm_pair_section() -> list[str]:
    """The fine-tuned pairs from SmolLM2 (`bash experiments/lm_pair.sh OUT TASK STEPS`), whatever has finished."""
    out = []
    for folder_name, task in PAIRS.items():
        folder = RESULTS / folder_name
        distance_file = folder / "distance.json"
        distances = json.loads(distance_file.read_text())["models"] if distance_file.exists() else {}
        rows = [row for name in PAIR_MODELS if (row := pair_row(folder, name, distances))]
        if not rows:
            continue
        metric = "success rate (text episodes)" if task == "gridworld" else "accuracy (zero-shot)"
        out += [f"## Fine-tuned from SmolLM2-135M on {task}: SFT, GRPO, and GRPO after SFT", "",
                f"`bash experiments/lm_pair.sh OUT {task} STEPS` (the run: "
                f"`experiments/results/{folder_name}/README.md`). "
                f"Held-out {metric} on the same 100 held-out prompts for every model; KL(SmolLM2 || model) of the "
                "answer distributions there and the share of weights moved by more than 1e-5 "
                + ("(every model against SmolLM2, from the saved weights: `distance.json`, "
                   "`python experiments/lm_distance.py`)" if distances else
                   "(training.json: from the model each was trained from)")
                + "; each model probed with `mesaprobe probe` at its defaults, under the current rule (its behaviour "
                "on the probe's own prompts, in the probe's prompt format, beside it).", ""]
        kl_from = "SmolLM2" if distances else "what it was trained from"
        out += table(["model", "held-out behaviour", "on the probe's prompts", "steps", "wall s",
                      f"KL from {kl_from}, nats", "weights moved",
                      "verdict", "search index", "goal index", "answer carried"], rows) + [""]
    return out


SEEDED = ("base", "sft", "grpo")  # experiments/results/lm-pair/3-seeds/: the kv-recall pair probed with 3 data seeds
PARTS = (("index", ()), ("decodable", ("decodability",)), ("causal", ("causal",)))


def seeded_entry(index: dict, path: tuple[str, ...]) -> dict | None:
    for key in path:
        index = index.get(key) or {}
    return index if index.get("by_seed") else None


def three_seed_section() -> list[str]:
    """The kv-recall pair probed with `--seeds 3` (each model's search index and its parts with a bootstrap CI over
    data seeds, and each fine-tuned model's difference from the base with its CI), whatever has finished."""
    from mesaprobe.probes.resummarize import resummarize, saved_task
    from mesaprobe.reports.compare import bootstrap_difference
    from mesaprobe.schema import load_results

    folder = RESULTS / "lm-pair" / "3-seeds"
    runs, rows = {}, []
    for name in SEEDED:
        trained = folder / name / "training.json"
        probed = (folder / name / "results.json").exists()
        if not (probed or trained.exists()):
            continue
        training = json.loads(trained.read_text()) if trained.exists() else {}
        if name == "base" and (base := folder.parent / "base-behavior.json").exists():  # measured once for the pair
            training = {"behavior": json.loads(base.read_text())}
        distance = training.get("distance_from_base") or {}
        cells = ["-"] * len(PARTS)
        verdict, behaviour = "not probed yet", "-"
        if probed:
            saved = load_results(folder / name)
            runs[name] = (saved, resummarize(saved, saved_task(saved)))
            search = runs[name][1]["indices"]["search"]
            cells = [ci_text(e["value"], e["ci"]) if (e := seeded_entry(search, path)) else "-" for _, path in PARTS]
            verdict, behaviour = runs[name][1]["verdict"], fmt(saved["behavior"].get("accuracy"))
        kl, update = (distance.get("kl") or {}).get("mean_nats"), (distance.get("update") or {}).get("share")
        rows.append([name, fmt((training.get("behavior") or {}).get("accuracy")), fmt(training.get("wall_time_s"), 0),
                     fmt(kl, 2), fmt(update), behaviour, verdict, *cells])
    if not rows:
        return []
    out = ["## The kv-recall pair with 3 data seeds", "",
           "The SFT and GRPO models retrained as in `experiments/lm_pair.sh` (200 steps each from SmolLM2) and every "
           "model probed with `mesaprobe probe MODEL kv-recall --seeds 3` (100 prompts a seed, causal probes at the "
           "default blocks), one thread each (`experiments/results/lm-pair/3-seeds/README.md`). Search index and "
           "its parts with a 95% bootstrap CI over the data seeds; behaviour on the probe's own prompts; KL and "
           "weights moved from training.json (measured against SmolLM2, as in the table above).", ""]
    out += table(["model", "held-out accuracy at training", "wall s", "KL from SmolLM2, nats", "weights moved",
                  "behaviour (probe)", "verdict", "search index", "decodable beyond controls",
                  "causal beyond controls"], rows) + [""]
    if "base" in runs and len(runs) > 1:
        base = runs["base"][1]["indices"]["search"]
        diffs = []
        for name, (_, now) in runs.items():
            if name == "base":
                continue
            cells = []
            for _, path in PARTS:
                a, b = seeded_entry(now["indices"]["search"], path), seeded_entry(base, path)
                cells.append("-" if not (a and b) else ci_text(
                    a["value"] - b["value"], bootstrap_difference(a["by_seed"], b["by_seed"])))
            diffs.append([f"{name} - base", *cells])
        out += ["Differences from the base (each side's data seeds resampled on their own):", ""]
        out += table(["", "search index", "decodable", "causal"], diffs) + [""]
    return out
