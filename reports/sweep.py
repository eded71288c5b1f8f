"""The sweep report: each behaviour and index against each swept knob, one line per method (and per value of the
other knobs), the mean over training seeds with a 95% bootstrap CI over them (one seed: the index's own CI over
data seeds); the verdicts by cell; every row. Self-contained like the run reports."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from mesaprobe.fsutil import REPORT_TAG, atomic_write_text
from mesaprobe.probes.indices import bootstrap_ci
from mesaprobe.reports.figures import COLORS, _layout
from mesaprobe.reports.html import CSS, esc, figure_div, table
from mesaprobe.reports.page import MISSING_JS, plotly_script

MEASURES = (("behavior", "held-out behaviour (accuracy or success rate)"), ("search_index", "search index"),
            ("search_breadth", "search breadth (share of candidates ordered correctly)"),
            ("goal_index", "goal index"), ("goal_decodability", "goal decodability (G1/G2)"),
            ("goal_causal", "goal causal evidence"), ("depth_rho", "S3 depth signature (Spearman rho)"),
            ("held_out_rule_behavior", "accuracy on the rule left out of training"),
            ("rule_sharing", "rule transfer: sharing (1: one readout serves every rule)"))
TABLE_COLUMNS = ("method", "seed", "behavior", "search_index", "goal_index", "verdict", "train_s", "probe_s")


def summarize(rows: list[dict], measure: str) -> tuple[float, float, float] | None:
    """(mean, lo, hi) of `measure` over training seeds; one seed: its own CI; None where no row has it."""
    values = [r[measure] for r in rows if r.get(measure) is not None]
    if not values:
        return None
    if len(values) == 1:
        lo, hi = rows[0].get(f"{measure}_lo"), rows[0].get(f"{measure}_hi")
        return values[0], values[0] if lo is None else lo, values[0] if hi is None else hi
    lo, hi = bootstrap_ci(values)
    return float(np.mean(values)), lo, hi


def knob_figure(rows: list[dict], knobs: list[str], knob: str, measure: str, label: str) -> go.Figure | None:
    """`measure` against `knob`: one line per method and combination of the other knobs."""
    others = [k for k in knobs if k not in (knob, "method")]
    lines: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        name = " ".join(([] if knob == "method" else [r["method"]]) + [f"{k}={r[k]}" for k in others]) or "all"
        lines[name][r[knob]].append(r)
    fig, drawn = go.Figure(), False
    for i, (name, by_x) in enumerate(sorted(lines.items())):
        xs = sorted(by_x, key=lambda v: (isinstance(v, str), v))
        points = [(x, s) for x in xs if (s := summarize(by_x[x], measure)) is not None]
        if not points:
            continue
        drawn = True
        mean = [s[0] for _, s in points]
        fig.add_trace(go.Scatter(x=[x for x, _ in points], y=mean, name=name, mode="lines+markers",
                                 line=dict(color=COLORS[i % len(COLORS)], width=2.5),
                                 error_y=dict(type="data", symmetric=False,
                                              array=[s[2] - s[0] for _, s in points],
                                              arrayminus=[s[0] - s[1] for _, s in points])))
    return _layout(fig, f"{label} against {knob}", knob, label) if drawn else None


def verdict_table(rows: list[dict], knobs: list[str]) -> list[dict]:
    """Per method and knob values: how many training seeds got each verdict."""
    knobs = [k for k in knobs if k != "method"]
    groups: dict[tuple, list[str]] = defaultdict(list)
    for r in rows:
        groups[(r["method"], *(r[k] for k in knobs))].append(r["verdict"])
    return [{"method": key[0], **dict(zip(knobs, key[1:])),
             "verdicts": ", ".join(f"{v} x{n}" for v, n in sorted({v: vs.count(v) for v in vs}.items()))}
            for key, vs in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def knob_differences(rows: list[dict], knobs: list[str]) -> str:
    """Per swept knob: its last value against its first across training seeds, per method where the knob is not the
    method (reports/compare.py), models below their behaviour bar counted."""
    from mesaprobe.reports.compare import below_bar, comparison_rows

    parts = []
    for knob in knobs:
        values = list(dict.fromkeys(r[knob] for r in rows))
        if len(values) < 2:
            continue
        for method in ([None] if knob == "method" else sorted({r["method"] for r in rows})):
            mine = [r for r in rows if method is None or r["method"] == method]
            first, last = ([r for r in mine if r[knob] == v] for v in (values[0], values[-1]))
            if not first or not last:
                continue
            low = tuple(sum(below_bar(r.get("task"), r.get("behavior"), r.get("behavior_metric")) for r in g)
                        for g in (last, first))
            out = comparison_rows(f"{knob}={values[-1]}", last, f"{knob}={values[0]}", first, low)
            if out:
                parts.append(f"<h3>{esc(knob)}: {esc(values[-1])} vs {esc(values[0])}"
                             f"{'' if method is None else f' ({esc(method)})'}</h3>" + table(out, list(out[0])))
    return "<h2>Last vs first value, across training seeds</h2>" + "".join(parts) if parts else ""


def build_sweep_page(knobs: list[str], rows: list[dict], title: str, script: str) -> str:
    figs = [f for knob in knobs for measure, label in MEASURES if (f := knob_figure(rows, knobs, knob, measure, label))]
    seeds = len({r["seed"] for r in rows})
    body = [f"<h1>mesaprobe {esc(title)}</h1>",
            f"<p class='muted'>{len(rows)} finished cells; swept: {esc(', '.join(knobs) or 'nothing')}; error bars: "
            + ("95% bootstrap CI over training seeds" if seeds > 1 else "one training seed: the index's own 95% CI "
               "over data seeds") + ".</p>"]
    if not rows:
        body.append("<p>No cell has finished yet.</p>")
    body.append("<h2>Against the swept knobs</h2>" + "".join(figure_div(f, i) for i, f in enumerate(figs)))
    plain = [k for k in knobs if k != "method"]
    body.append(knob_differences(rows, knobs))
    body.append("<h2>Verdicts</h2>" + table(verdict_table(rows, knobs), ["method", *plain, "verdicts"]))
    body.append("<h2>Every cell</h2>" + table(rows, [*knobs, *(c for c in TABLE_COLUMNS if c not in knobs)]))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{REPORT_TAG}<title>{esc(title)}</title>"
            f"<style>{CSS}</style>{script}</head><body>" + "".join(body) + MISSING_JS + "</body></html>")


def write_sweep_report(knobs: list[str], rows: list[dict], out: str | Path, title: str = "sweep") -> Path:
    return atomic_write_text(out, build_sweep_page(knobs, rows, title, plotly_script(out)))
