"""Plotly figures of one or several runs' results (overlaid when several: one colour per run)."""
from __future__ import annotations

import plotly.graph_objects as go

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
BASELINES = (("control", "dot", "control task"), ("random_init", "dash", "random-init"),
             ("obs_baseline", "dashdot", "observation-only"))


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", height=360,
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(font=dict(size=10)))
    return fig


def best_position(rows: list[dict]) -> str:
    """The position whose best layer is most selective: the one a curve over layers shows."""
    return max(rows, key=lambda r: r["selectivity"])["position"]


def probe_curve(runs: list[tuple[str, dict]], target: str) -> go.Figure:
    """Score over layers for `target` at its most selective position, with the three baselines."""
    fig = go.Figure()
    for i, (label, res) in enumerate(runs):
        rows = [r for r in res["probes"] if r["target"] == target]
        if not rows:
            continue
        pos = best_position(rows)
        rows = sorted((r for r in rows if r["position"] == pos), key=lambda r: r["layer"])
        layers, color = [r["layer"] for r in rows], COLORS[i % len(COLORS)]
        fig.add_trace(go.Scatter(x=layers, y=[r["score"] for r in rows], name=f"{label}: {target}@{pos}",
                                 line=dict(color=color, width=3), mode="lines+markers"))
        for key, dash, name in BASELINES:
            fig.add_trace(go.Scatter(x=layers, y=[r[key] for r in rows], name=f"{label}: {name}",
                                     line=dict(color=color, dash=dash, width=1.5)))
    metric = next((r["metric"] for _, res in runs for r in res["probes"] if r["target"] == target), "score")
    fig.update_xaxes(dtick=1)
    lowest = min((y for trace in fig.data for y in trace.y if y is not None), default=0.0)
    fig.update_yaxes(range=[min(0.0, lowest) - 0.02, 1.02])  # every probe curve on one scale: no zooming in
    return _layout(fig, f"{target}: probe score by layer (layer -1 = embeddings)", "layer", metric)


# every heatmap is of a 0..1 quantity beyond its controls: one colour scale and one range for all of them
HEAT = dict(zmin=0, zmax=1, colorscale="Blues")


def probe_heatmap(label: str, res: dict, target: str) -> go.Figure | None:
    """Decodable (the score beyond every control) over layer x position."""
    from mesaprobe.probes.indices import beyond_controls

    rows = [r for r in res["probes"] if r["target"] == target]
    positions = list(dict.fromkeys(r["position"] for r in rows))
    if len(positions) < 2:
        return None
    layers = sorted({r["layer"] for r in rows})
    z = [[next((beyond_controls(r) for r in rows if r["layer"] == l and r["position"] == p), None) for p in positions]
         for l in layers]
    fig = go.Figure(go.Heatmap(z=z, x=positions, y=layers, colorbar=dict(title="decodable"), **HEAT))
    fig.update_yaxes(dtick=1)
    return _layout(fig, f"{label}: {target} decodable beyond every control (layer x position)", "position", "layer")


def causal_figures(runs: list[tuple[str, dict]]) -> list[go.Figure]:
    """One figure per registered causal method (or per run, for maps), drawn as the method declares (Plot.kind)."""
    from mesaprobe.probes.causal import REGISTRY

    draw = {"bars": lambda m: [causal_bars(runs, m)], "curves": lambda m: [causal_curves(runs, m)],
            "map": lambda m: [causal_map(label, res, m) for label, res in runs]}
    return [f for method in REGISTRY.values() for f in draw[method.plot.kind](method) if f is not None]


def causal_bars(runs: list[tuple[str, dict]], method) -> go.Figure | None:
    """Effects per (target, layer) beside their random controls and the method's further series."""
    fig, any_rows = go.Figure(), False
    for i, (label, res) in enumerate(runs):
        rows = [r for r in res["causal"] if r["method"] == method.name]
        if not rows:
            continue
        any_rows = True
        names = [f"{r['target']}@{r['position']} L{r['layer']}" for r in rows]
        color = COLORS[i % len(COLORS)]
        fig.add_trace(go.Bar(x=names, y=[r["effect"] for r in rows], name=f"{label}: probed subspace",
                             marker_color=color))
        fig.add_trace(go.Bar(x=names, y=[r["control_effect"] for r in rows], name=f"{label}: random subspace",
                             marker_color=color, opacity=0.35))
        for field, legend in method.plot.series:
            fig.add_trace(go.Bar(x=names, y=[r.get(field) for r in rows], name=f"{label}: {legend}",
                                 marker_color=color, opacity=0.15))
    if not any_rows:
        return None
    fig.update_layout(barmode="group")
    return _layout(fig, method.plot.title, "target @ position, layer", "effect")


def causal_map(label: str, res: dict, method) -> go.Figure | None:
    rows = [r for r in res["causal"] if r["method"] == method.name]
    if not rows:
        return None
    positions = list(dict.fromkeys(r["position"] for r in rows))
    layers = sorted({r["layer"] for r in rows})
    z = [[next((r["effect"] for r in rows if r["layer"] == l and r["position"] == p), None) for p in positions]
         for l in layers]
    fig = go.Figure(go.Heatmap(z=z, x=positions, y=layers, colorbar=dict(title="effect"), **HEAT))
    fig.update_yaxes(dtick=1)
    return _layout(fig, f"{label}: {method.plot.title}", "token position", "layer")


def causal_curves(runs: list[tuple[str, dict]], method) -> go.Figure | None:
    """The series of each run's strongest row (effect beyond its control) over k."""
    fig, any_rows = go.Figure(), False
    dashes = ("solid", "dash", "dot", "dashdot")
    for i, (label, res) in enumerate(runs):
        rows = [r for r in res["causal"] if r["method"] == method.name]
        if not rows:
            continue
        any_rows = True
        best = max(rows, key=lambda r: r["effect"] - r["control_effect"])
        color = COLORS[i % len(COLORS)]
        for j, (field, legend) in enumerate(method.plot.series):
            ks = list(range(1, len(best[field]) + 1))
            fig.add_trace(go.Scatter(x=ks, y=best[field], name=f"{label}: {legend} (L{best['layer']})",
                                     line=dict(color=color, dash=dashes[j % len(dashes)], width=3 if j == 0 else 1.5)))
    if not any_rows:
        return None
    return _layout(fig, method.plot.title, "k", "rate")


PARTS = (("decodability", "decodable beyond every control", 0.35), ("causal", "used: effect beyond its control", 0.65),
         (None, "index (the smaller)", 1.0))


def evidence_entries(res: dict) -> list[tuple[str, dict]]:
    """(label, index entry) per family and, for search, per route: the variables each verdict rests on."""
    out = []
    for family in ("search", "goal"):
        entry = (res.get("indices") or {}).get(family) or {}
        if entry.get("value") is None:
            continue
        routes = entry.get("routes") or {}
        out += [(f"{family}: {route}", routes[route]) for route in routes] if routes else [(family, entry)]
    return out


def summary_figure(runs: list[tuple[str, dict]]) -> go.Figure | None:
    """What the verdicts rest on: per family (and search route), the decodable part (beyond the control task, the
    random-init twin and the observation-only probe), the causal part (beyond a random control) and the index (the
    smaller), with their CIs over data seeds; one colour per run, one shade per part, the same 0..1 axis always."""
    fig = go.Figure()
    for i, (label, res) in enumerate(runs):
        entries = evidence_entries(res)
        for key, name, opacity in PARTS:
            parts = [(where, (e if key is None else e.get(key)) or {}) for where, e in entries]
            values = [p.get("value") for _, p in parts]
            cis = [p.get("ci") or [v, v] for (_, p), v in zip(parts, values)]
            fig.add_trace(go.Bar(
                x=[w for w, _ in parts], y=values, name=f"{label}: {name}", opacity=opacity,
                marker_color=COLORS[i % len(COLORS)], offsetgroup=f"{i}-{name}",
                error_y=dict(type="data", symmetric=False,
                             array=[None if v is None else c[1] - v for v, c in zip(values, cis)],
                             arrayminus=[None if v is None else v - c[0] for v, c in zip(values, cis)])))
    if not fig.data or not any(t.x for t in fig.data):
        return None
    fig.update_yaxes(range=[0, 1])
    fig.update_layout(barmode="group")
    return _layout(fig, "What the verdict rests on: each family's own variables, beyond their controls (95% CI)",
                   "family: route", "beyond controls")
