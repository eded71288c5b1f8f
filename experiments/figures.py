"""One figure per named experiment, from the committed results alone: the family's index and its decodable and causal
parts (and the measure the argument predicts to move) against the knob, mean with a 95% bootstrap CI over training
seeds (each model's data seeds averaged). Writes docs/figures/NAME.svg, which docs/findings.md shows.

    python experiments/figures.py

Needs `pip install .[figures]` (kaleido) and a Chromium. Plotly's SVG ids differ run to run, so the figures are
committed as drawn and the findings page, which must regenerate byte for byte, only links them.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from findings import RESULTS, ROOT, experiment_groups, experiment_rows  # noqa: E402

FIGURES = ROOT / "docs" / "figures"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")  # one per measure; the rule changes the dash


def parts(name: str, size: str, row: dict, family: str) -> dict:
    """A cell's index parts from its committed results.json (the sweep CSV keeps only the index itself)."""
    path = RESULTS / f"{name}-{size}" / str(row["key"]) / "results.json"
    if not path.exists():
        return {}
    index = json.loads(path.read_text())["indices"][family]
    return {"decodable": (index.get("decodability") or {}).get("value"),
            "causal": (index.get("causal") or {}).get("value")}


def figure(name: str):
    import plotly.graph_objects as go

    from mesaprobe.probes.indices import bootstrap_ci
    from mesaprobe.sweeps.named import EXPERIMENTS
    from mesaprobe.tasks import get_task

    found = experiment_rows(name)
    if not found:
        return None
    size, rows, _ = found
    csv_path = RESULTS / f"{name}-{size}.csv"  # absent where the rows are the latent-goal models (findings.py)
    if csv_path.exists():
        with csv_path.open() as f:  # the keys as written (a hex key can read as a float)
            for r, raw in zip(rows, csv.DictReader(f)):
                r["key"] = raw["key"]
    exp = EXPERIMENTS[name]
    spec = exp.spec(size)
    knob = next(iter(spec.vary))
    family = get_task(rows[0]["task"]).family
    index = f"{family}_index"
    for r in rows:  # rows that carry their parts (latent-goal models, re-summarised) keep them
        r |= {f"{family} {k}": v for k, v in parts(name, size, r, family).items() if f"{family} {k}" not in r}
    series = [index, f"{family} decodable", f"{family} causal"]
    series += [m for m, _ in exp.predicts if m not in series and m != "behavior"]
    values = list(spec.vary[knob])
    fig = go.Figure()
    groups = experiment_groups(spec, rows)  # one set of lines per value of the other knobs (the rule)
    dashes = ("solid", "dash", "dot", "dashdot")
    for g, (combo, group) in enumerate(groups.items()):
        for c, key in enumerate(series):
            means, lo, hi = [], [], []
            for v in values:
                xs = [r[key] for r in group if r[knob] == v and r.get(key) is not None]
                mean = sum(xs) / len(xs) if xs else None
                ci = bootstrap_ci(xs) if xs else [None, None]
                means.append(mean)
                lo.append(None if mean is None else mean - ci[0])
                hi.append(None if mean is None else ci[1] - mean)
            label = {"held_out_rule_behavior": "accuracy on the rule left out"}.get(key, key.replace("_", " "))
            label += "".join(f" ({k}={v})" for k, v in combo)
            fig.add_trace(go.Scatter(x=[str(v) for v in values], y=means, name=label, mode="lines+markers",
                                     line=dict(dash=dashes[g % len(dashes)], color=COLORS[c % len(COLORS)]),
                                     error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo)))
    fig.update_layout(title=f"{name} (--{size}): {family} index and its parts against {knob}", xaxis_title=knob,
                      yaxis_title="mean, 95% CI over training seeds", width=720, height=420,
                      template="plotly_white")
    return fig


LATENT_MEASURES = ["goal_index", "goal_decodability", "goal_causal", "steer_reach", "steer_random", "search_index"]


def latent_goals_figure():
    """The headline: per latent-goal task, SL beside RL on the goal index, its parts and steering (and the search
    index), mean with a 95% bootstrap CI over training seeds; models below their bar are drawn as they are."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from findings import latent_goal_models
    from mesaprobe.reports.compare import compare

    models = [m for m in latent_goal_models() if not m["random_init"]]
    tasks = sorted({m["task"].name for m in models})
    if not tasks:
        return None
    groups = {task: {meth: [m["measures"] for m in models if m["task"].name == task and m["method"] == meth]
                     for meth in ("sl", "rl")} for task in tasks}
    titles = [f"{t} ({len(groups[t]['sl'])} SL, {len(groups[t]['rl'])} RL models)" for t in tasks]
    fig = make_subplots(rows=1, cols=len(tasks), subplot_titles=titles, shared_yaxes=True)
    for col, task in enumerate(tasks, 1):
        by_method = groups[task]
        if not by_method["sl"] or not by_method["rl"]:
            continue
        rows = {d["key"]: d for d in compare(by_method["sl"], by_method["rl"]) if d["key"] in LATENT_MEASURES}
        keys = [k for k in LATENT_MEASURES if k in rows]
        labels = [rows[k]["measure"].replace(" beyond controls", "").replace(", best block", "") for k in keys]
        for side, color in (("a", "#1f77b4"), ("b", "#d62728")):
            meth = "sl" if side == "a" else "rl"
            mean = [rows[k][f"mean_{side}"] for k in keys]
            fig.add_trace(go.Bar(x=labels, y=mean, name=meth.upper(),
                                 marker_color=color, showlegend=col == 1,
                                 error_y=dict(type="data", symmetric=False,
                                              array=[rows[k][f"ci_{side}"][1] - m for k, m in zip(keys, mean)],
                                              arrayminus=[m - rows[k][f"ci_{side}"][0] for k, m in zip(keys, mean)])),
                          row=1, col=col)
    fig.update_layout(title="Latent goals: behaviour cloning (SL) vs PPO (RL), same architecture and episodes",
                      yaxis_title="mean, 95% CI over training seeds", barmode="group", width=960, height=440,
                      template="plotly_white")
    return fig


def save_svg(fig, name: str) -> None:
    """Write docs/figures/NAME.svg byte-identically run to run: plotly names its clip paths with a random 6-hex id
    (`defs-1a2b3c`), replaced here by one derived from the name, and each trace by a random uid, set here to its
    index, so regenerating changes no unchanged figure."""
    import hashlib
    import re

    for i, trace in enumerate(fig.data):
        trace.uid = f"{i:06d}"
    svg = fig.to_image(format="svg").decode()
    random_id = re.search(r'id="defs-([0-9a-f]{6})"', svg)
    if random_id:
        svg = svg.replace(random_id[1], hashlib.sha256(name.encode()).hexdigest()[:6])
    (FIGURES / f"{name}.svg").write_text(svg)
    print(f"wrote docs/figures/{name}.svg")


def main() -> int:
    from mesaprobe.sweeps.named import EXPERIMENTS

    FIGURES.mkdir(parents=True, exist_ok=True)
    fig = latent_goals_figure()
    if fig is not None:
        save_svg(fig, "latent-goals")
    for name in EXPERIMENTS:
        fig = figure(name)
        if fig is not None:
            save_svg(fig, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
