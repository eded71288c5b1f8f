"""`mesaprobe report`: one HTML page per run, or several runs side by side. Works offline: plotly's JavaScript is
written once beside the page (`plotly.min.js`, shared by every report in the folder), nothing is fetched. The page
opens on the verdicts and the figure they rest on, then a table of contents; details fold away. Every string that
reaches the page is escaped."""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from mesaprobe.errors import UserError
from mesaprobe.fsutil import REPORT_TAG, atomic_write_text, check_output_file
from mesaprobe.fsutil.atomic import read_json_object
from mesaprobe.models.training.distance import UPDATE_THRESHOLD
from mesaprobe.probes.causal import evidence_methods
from mesaprobe.probes.indices import beyond_controls
from mesaprobe.probes.resummarize import under_current_rule
from mesaprobe.reports.compare import bootstrap_difference
from mesaprobe.reports import attention, figures
from mesaprobe.reports.page import MISSING_JS, TOC_MARK, details, plotly_script, slug, toc
from mesaprobe.schema import index_words, load_results

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.verdict{font-size:1.25em;padding:.8em 1em;background:#f4f6fa;border-left:5px solid #1f77b4;margin:.6em 0}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left}
th{background:#f4f4f4}.note{color:#8a4b00;font-size:.85em;margin:.4em 0 0}.muted{color:#666;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}
.toc{background:#fafafa;border:1px solid #eee;padding:.4em 1em;margin:1em 0}.toc ul{margin:.3em 0;columns:2}
details{margin:.5em 0}summary{cursor:pointer;color:#1f77b4}"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def evidence_sentence(res: dict) -> str:
    """The verdict and what it rests on, in words a researcher reads in ten seconds: per family the run measured."""
    shown = [f for f, entry in res["indices"].items() if entry.get("value") is not None] or [res["task"]["family"]]
    parts = []
    for family in shown:
        entry = res["indices"][family]
        dec, causal = entry.get("decodability"), entry.get("causal")
        seeds = len(entry.get("by_seed", []))
        parts.append(f"{family} index {index_words(entry)}"
                     + (f" (95% bootstrap CI over {seeds} data seeds)" if seeds > 1 else ""))
        if dec and entry.get("route") == "attention":
            parts.append(f"candidates ranked by attention beyond the random-init twin, a position-only baseline "
                         f"and shuffled scores {index_words(dec)}")
        elif dec:
            parts.append(f"decodability beyond the control task, random-init twin and token-only baseline "
                         f"{index_words(dec)}")
        # the answer is the readout check, never a family's evidence (probes/indices.py: family_targets)
        rows = [r for r in res.get("causal", []) if r["method"] in evidence_methods(family) and r["target"] != "answer"]
        if causal and rows:
            top = max(rows, key=lambda r: r["effect"] - r["control_effect"])
            parts.append(f"strongest causal effect on its own variables: {top['method']} on {top['target']} "
                         f"({top['position']}) at layer {top['layer']}: {top['effect']:.2f} vs "
                         f"{top['control_effect']:.2f} for the random control")
        elif not causal:
            parts.append("causal probes were not run, so the verdict cannot be stronger than inconclusive")
        if "route" in entry:
            route = "candidate scoring in attention" if entry["route"] == "attention" else "residual-stream"
            parts.append(f"search counted on its {route} route; breadth {entry['breadth']['value']:.2f} of {entry['breadth']['k']} candidates "
                         f"ordered correctly (random-init twin {entry['breadth']['random_init']:.2f})")
        if "horizon" in entry:
            parts.append(f"future-state horizon H = {entry['horizon']}")
        if "depth_signature" in entry:
            depth = entry["depth_signature"]
            layers = "; ".join(", ".join(f"example {k}: layer {v}" for k, v in seed.items()) or "none decodable"
                               for seed in depth["by_seed_layers"])
            rho = "undefined" if depth["value"] is None else index_words(depth)
            parts.append(f"depth signature (S3): the hypotheses left after each example are best decoded at "
                         f"{layers} (per data seed); Spearman rho of layer against example {rho}")
    return "; ".join(parts) + "."


def readout_sentence(res: dict) -> str:
    """The readout check in words: it feeds no index (any model that answers well passes it)."""
    check = res.get("readout")
    if not check:
        return ""
    from mesaprobe.probes.indices import readout_word

    why = (" (the answer's subspace is nearly the whole residual stream: a random subspace of its rank changes the "
           "answer as much)" if check["carried"] is None else "")
    return (f"Readout check: the answer is carried in a linear subspace the model uses: "
            f"{readout_word(check)}{why} ({check['method']} on the answer at layer {check['layer']}: "
            f"{check['effect_beyond_control']:.2f} beyond its random control). This is not evidence for either "
            "family: the verdict rests on the family's own variables.")


def used_section(runs: list[tuple[str, dict]]) -> str:
    """Each causally tested (target, layer, position): decodable beyond every control beside used (causal effect
    beyond its control), with the rows that are decodable but unused marked."""
    from mesaprobe.probes.indices import CAUSAL, DECODABLE

    rows = [{"run": label, "target": r["target"], "position": r["position"], "layer": r["layer"],
             "decodable beyond controls": r["decodable"], "used (effect beyond control)": r["used"],
             "reading": ("decodable but unused" if r["decodable"] > DECODABLE and r["used"] <= CAUSAL else
                         "decodable and used" if r["decodable"] > DECODABLE else
                         "used, not decodable beyond controls" if r["used"] > CAUSAL else "neither")}
            for label, res in runs for r in res["probes"] if r.get("used") is not None]
    if not rows:
        return ""
    return ("<h3>Decodable vs used</h3><p class='muted'>Every probe row with a causal test at its own target, layer "
            f"and position. Decodable counts above {DECODABLE}, used above {CAUSAL}.</p>" + table(rows, list(rows[0])))


def table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return "" if v is None else str(v)


def figure_div(fig, n: int) -> str:
    # JSON inside <script>: escape <, > and & so token strings cannot close the tag
    payload = fig.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (f'<div id="fig{n}" class="fig"></div><script>(function(){{var f={payload};'
            f'Plotly.newPlot("fig{n}",f.data,f.layout,{{responsive:true,displaylogo:false}});}})();</script>')


def differences(runs: list[tuple[str, dict]]) -> str:
    """Index and behaviour differences of every run against the first, with bootstrap CIs over seeds where the
    per-seed values were recorded."""
    (base_label, base), rows = runs[0], []
    for label, res in runs[1:]:
        name = f"{label} - {base_label}"
        for family in ("search", "goal"):
            a, b = base["indices"][family].get("by_seed"), res["indices"][family].get("by_seed")
            if a and b:
                rows.append({"comparison": name, "quantity": f"{family} index",
                             "difference": float(np.mean(b) - np.mean(a)), "95% CI": bootstrap_difference(b, a)})
        for key, value in res["behavior"].items():
            if isinstance(value, float) and isinstance(base["behavior"].get(key), float):
                a, b = base["behavior"].get(f"{key}_by_seed"), res["behavior"].get(f"{key}_by_seed")
                rows.append({"comparison": name, "quantity": key, "difference": value - base["behavior"][key],
                             "95% CI": bootstrap_difference(b, a) if a and b else None})
    if not rows:
        return "<p class='muted'>These runs share no index or behaviour metric to compare.</p>"
    return (f"<p class='note'>Each run here is one model, so this comparison rests on one model a side; its CIs are "
            "over data seeds, how precisely each model was measured, not how models of one training recipe differ. "
            "A difference here is no finding about the methods: compare several training seeds a side (a sweep, "
            "or the findings page's pairs).</p>" + table(rows, ["comparison", "quantity", "difference", "95% CI"]))


def across_seeds_section(runs: list[tuple[str, dict]]) -> str:
    """Where the runs are models of two training methods, two or more each: the methods compared across training
    seeds (reports/compare.py), the variance that matters when comparing how models were trained."""
    from mesaprobe.reports.compare import below_bar, comparison_rows, model_measures

    groups: dict[str, list[dict]] = {}
    for _, res in runs:
        groups.setdefault(res["model"].get("training") or "unknown", []).append(res)
    if len(groups) != 2 or min(map(len, groups.values())) < 2:
        return ""
    (a_name, a), (b_name, b) = sorted(groups.items(), reverse=True)  # sl before rl
    low = tuple(sum(below_bar(r["task"]["name"], r["behavior"]) for r in g) for g in (a, b))
    rows = comparison_rows(a_name, [model_measures(r) for r in a], b_name, [model_measures(r) for r in b], low)
    return ("<h2 id='across-seeds'>Across training seeds</h2><p class='muted'>Each model's data seeds averaged first; means with 95% "
            "bootstrap CIs over the models of each method; a model below its task's behaviour bar is counted.</p>"
            + table(rows, list(rows[0]) if rows else []))


def fine_tuning_section(runs: list[tuple[str, dict]]) -> str:
    """Models fine-tuned from a pretrained base: how far each moved from it (KL on held-out prompts, share of weights
    changed or the adapter's rank) beside its held-out behaviour and cost."""
    rows = []
    for label, res in runs:
        ft = res["model"].get("fine_tuned")
        if not ft:
            continue
        distance, behavior = ft.get("distance_from_base") or {}, ft.get("behavior") or {}
        kl, update = distance.get("kl") or {}, distance.get("update") or {}
        rows.append({"run": label, "base": ft.get("base"), "method": ft.get("method"), "steps": ft.get("steps"),
                     "wall s": ft.get("wall_time_s"),
                     "held-out behaviour": behavior.get("accuracy", behavior.get("success_rate")),
                     "KL(base||model) mean nats": kl.get("mean_nats"), "KL max nats": kl.get("max_nats"),
                     "weights moved (share)": None if ft.get("lora_rank") else update.get("share"),
                     "LoRA rank": ft.get("lora_rank")})
    if not rows:
        return ""
    return ("<h2 id='distance-from-base'>Distance from the base</h2><p class='muted'>KL(base || model) of the answer distributions on the "
            "held-out prompts each model is evaluated on, and the share of weights that changed by more than "
            f"{UPDATE_THRESHOLD:g} (a merged LoRA adapter moves every entry it wraps: read its rank)."
            "</p>" + table(rows, list(rows[0])))


def skipped_section(runs: list[tuple[str, dict]]) -> str:
    """The causal methods that did not run, and why: never silently absent."""
    rows = [{"run": label, "method": s["method"], "why it did not run": s["reason"]}
            for label, res in runs for s in res.get("causal_skipped", [])]
    if not rows:
        return ""
    return "<h3>Causal methods not run</h3>" + table(rows, ["run", "method", "why it did not run"])


def rule_transfer_section(runs: list[tuple[str, dict]]) -> str:
    """probes/rule_transfer.py's curves as a table, and what they say in words."""
    rows, words = [], []
    for label, res in runs:
        t = res.get("rule_transfer")
        if not t:
            continue
        for i, layer in enumerate(t["layers"]):
            rows.append({"run": label, "layer": layer, "within rule": t["within"][i], "across rules": t["across"][i],
                         "per-rule expectation": t["separate"][i], "random-init within": t["random_init_within"][i]})
        at = t["layers"].index(t["best_layer"])
        share = "undefined (no rule read better than its per-rule expectation)" if t["sharing"] is None \
            else f"{t['sharing']:.2f}"
        words.append(f"{label}: at layer {t['best_layer']} a ridge probe of {t['target']} fitted on one rule's rows "
                     "reads the other rules' (through an affine map per rule) at "
                     f"R^2 {t['across'][at]:.2f}, against {t['within'][at]:.2f} within a rule and "
                     f"{t['separate'][at]:.2f} for a per-rule quantity read perfectly; sharing {share} "
                     "(1: one readout serves every rule; 0: no better than per-rule).")
    if not rows:
        return ""
    return ("<h2 id='rule-transfer'>One readout for every rule?</h2>" + "".join(f"<p>{esc(w)}</p>" for w in words)
            + table(rows, list(rows[0])))


def build_page(runs: list[tuple[str, dict, dict]], script: str) -> str:
    """The page of `runs` (label, results, config); `script`: the tag that loads plotly.js (plotly_script)."""
    pairs = [(label, res) for label, res, _ in runs]
    figs, sections = [], []
    title = " vs ".join(label for label, _ in pairs)
    top = "".join(f'<div class="verdict"><b>{esc(label)}</b>: verdict <b>{esc(res["verdict"])}</b>. '
                  f"{esc(evidence_sentence(res))}"
                  + (f"<p class='muted'>{esc(sentence)}</p>" if (sentence := readout_sentence(res)) else "")
                  + "".join(f"<p class='note'>{esc(note)}</p>" for note in res.get("notes", [])) + "</div>"
                  for label, res in pairs)
    sections.append(f"<h1>mesaprobe report: {esc(title)}</h1>{top}")
    if summary := figures.summary_figure(pairs):
        sections.append(figure_div(summary, 0))
        figs.append(summary)
    sections.append(TOC_MARK)
    if len(pairs) > 1:
        sections.append("<h2 id='differences'>Differences</h2>" + differences(pairs) + across_seeds_section(pairs))
    behavior_rows = [{"run": label, **{k: v for k, v in res["behavior"].items() if not k.endswith("_by_seed")}}
                     for label, res in pairs]
    columns = list(dict.fromkeys(k for row in behavior_rows for k in row))
    sections.append("<h2 id='behaviour'>Behaviour</h2>" + table(behavior_rows, columns))
    sections.append(fine_tuning_section(pairs))
    targets = list(dict.fromkeys(r["target"] for _, res in pairs for r in res["probes"]))
    probe_figs = [figures.probe_curve(pairs, t) for t in targets]
    probe_figs += [f for label, res in pairs for t in targets if (f := figures.probe_heatmap(label, res, t))]
    for heading, group in (("Linear probes", probe_figs), ("Causal evidence", figures.causal_figures(pairs))):
        group = [f for f in group if f is not None]
        sections.append(f"<h2 id='{slug(heading)}'>{heading}</h2>" + details(
            f"{len(group)} figures", "".join(figure_div(f, len(figs) + i) for i, f in enumerate(group))))
        figs += group
        if heading == "Causal evidence":
            sections.append(used_section(pairs) + skipped_section(pairs))
    sections.append(rule_transfer_section(pairs))
    if group := attention.attention_figures(pairs):
        words = "".join(f"<p>{esc(w)}</p>" for label, res in pairs if (w := attention.attention_words(label, res)))
        sections.append("<h2 id='attention'>Candidate scoring in attention</h2>" + words
                        + "".join(figure_div(f, len(figs) + i) for i, f in enumerate(group)))
        figs += group
    best = [{"run": label, **{k: r[k] for k in ("target", "position", "layer", "metric", "score", "control",
                                                "selectivity", "random_init", "obs_baseline")}}
            for label, res in pairs for r in sorted(res["probes"], key=lambda r: -beyond_controls(r))[:8]]
    sections.append("<h3>Probes furthest above all their controls</h3>" + table(best, list(best[0]) if best else []))
    meta = "".join(f"<h3>{esc(label)}</h3><pre>{esc(json.dumps({'model': res['model'], 'task': res['task'], 'config': cfg, 'environment': res.get('environment', {})}, indent=2))}</pre>"
                   for label, res, cfg in runs)
    sections.append("<h2 id='configuration'>Configuration, versions, seeds and wall times</h2>" + details("show", meta))
    text = "".join(sections)
    text = text.replace(TOC_MARK, toc(text))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{REPORT_TAG}<title>{esc(title)}</title>"
            f"<style>{CSS}</style>{script}</head><body>" + text + MISSING_JS + "</body></html>")


def write_report(run_dirs: list[str | Path], out: str | Path) -> Path:
    if not run_dirs:
        raise UserError("name at least one run directory")
    out = check_output_file(out, inputs=tuple(Path(r) for r in run_dirs))
    runs = []
    for run in run_dirs:
        res = under_current_rule(load_results(run))  # a run saved by an earlier version, read by this one's rule
        cfg_path = Path(run) / "config.json"
        runs.append((Path(run).name, res, read_json_object(cfg_path)))
    return atomic_write_text(out, build_page(runs, plotly_script(out)))
