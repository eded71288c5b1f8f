"""The report's candidate scoring in attention (probes/attention_ranking.py): for one instance, each block's attention
over the candidates beside their scores; per run, a block x head heatmap of the ranking beyond every control; and in
words the search route, its block and the search's breadth."""
from __future__ import annotations

import plotly.graph_objects as go

from mesaprobe.reports.figures import COLORS, HEAT, _layout


def example_figure(label: str, attention: dict) -> go.Figure:
    """One position-free instance: each block's attention (mean over heads) per candidate, beside the candidates'
    scores rescaled to [0, 1] (the answer is the best-scored)."""
    ex = attention["example"]
    names = [f"candidate {i}" + (" (answer)" if i == ex["best"] else "") for i in range(len(ex["scores"]))]
    lo, hi = min(ex["scores"]), max(ex["scores"])
    scaled = [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in ex["scores"]]
    fig = go.Figure(go.Bar(x=names, y=scaled, name="score (rescaled)", marker_color="#999999"))
    for block, weights in enumerate(ex["pattern"]):
        fig.add_trace(go.Bar(x=names, y=weights, name=f"block {block} attention", marker_color=COLORS[block % 6]))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, f"{label}: attention from the answer position over the candidates (one instance)",
                   "candidate (in input order)", "attention weight / score")


def ranking_heatmap(label: str, attention: dict) -> go.Figure:
    """Spearman rho of each head's scores with the candidates' beyond its strongest control, block x head."""
    heads = attention["heads"]
    blocks, cols = sorted({h["block"] for h in heads}), sorted({h["head"] for h in heads})
    z = [[next(h["beyond"] for h in heads if h["block"] == b and h["head"] == c) for c in cols] for b in blocks]
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=blocks, colorbar=dict(title="rho beyond<br>controls"), **HEAT,
                               text=[[f"{v:.2f}" for v in row] for row in z], texttemplate="%{text}"))
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(dtick=1)
    return _layout(fig, f"{label}: heads that rank the candidates by score, beyond every control", "head", "block")


def attention_figures(runs: list[tuple[str, dict]]) -> list[go.Figure]:
    return [f for label, res in runs if res.get("attention")
            for f in (example_figure(label, res["attention"]), ranking_heatmap(label, res["attention"]))]


def attention_words(label: str, res: dict) -> str | None:
    """The search route, the ranking block and the breadth, in one paragraph."""
    search, att = res["indices"].get("search") or {}, res.get("attention")
    if not att or "routes" not in search:
        return None
    route = search["routes"]["attention"]
    breadth = search["breadth"]
    blocks = sorted(set(route["block_by_seed"]))
    words = (f"{label}: candidate scoring in attention, read on position-free instances (answered at "
             f"{att['position_free_accuracy']:.3f}): best at block {', '.join(map(str, blocks))}, decodable "
             f"{route['decodability']['value']:.3f} and used {_value(route['causal'])} beyond controls (index "
             f"{route['value']:.3f}; the residual-stream route {search['routes']['residual']['value']:.3f}); the search "
             f"counts on the {search['route']} route. Breadth: the used block places {breadth['value']:.2f} of the "
             f"{breadth['k']} candidates correctly against the answer (random-init twin "
             f"{breadth['random_init']:.2f}), about {breadth['candidates']['value']:.1f} candidates evaluated beyond "
             "the twin.")
    return words + "".join(f" Not counted: {v}." for v in dict.fromkeys(route.get("void", [])))


def _value(entry: dict | None) -> str:
    return "(not run)" if not entry else f"{entry['value']:.3f}"
