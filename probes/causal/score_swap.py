"""Does the answer follow the candidate scores in attention? At block L, in every head, at the answer query, swap
the pre-softmax scores of the winning candidate and another one j (a transformer-lens hook on
`blocks.L.attn.hook_attn_scores`). The task's causal model says the answer becomes j's: `effect` = P(answer is j's).
Control (`control_effect`): the same j given the score of a third, losing candidate instead (P(answer is j's), what a
swap that does not make j best gives; with K = 2, j's share of the unswapped answers). A swap moves attention, not
the tokens, so the counterfactual check beside it changes one candidate's token at its place (its score, by the
task's own perturbation) and reads whether the block's most-attended candidate moves to the new winner
(`follows_counterfactual`). Rows use position-free instances (models/subjects/candidates.py); a j whose answer token
equals the winner's tells nothing and is not drawn."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from mesaprobe.probes.attention_ranking import attention_over_candidates
from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
from mesaprobe.runtime import bar_options
from mesaprobe.tasks.base import ANSWER_POSITION

TARGET = "candidate_scoring"  # the search variable this method tests (probes/indices.py: the attention route)


class ScoreSwap(CausalMethod):
    name = "score-swap"
    description = ("swap the winning candidate's pre-softmax attention score with another's in every head of a "
                   "block; P(the answer becomes the other candidate's)")
    families = ("search",)
    evidence = True
    needs = frozenset({"answer_logits", "candidates"})
    plot = Plot("bars", "Candidate scores in attention swapped: P(answer follows)",
                (("stays", "answer unchanged"), ("follows_counterfactual", "attention follows a changed token")))

    def run(self, ctx: CausalContext) -> list[dict]:
        inputs = ctx.subject.candidate_inputs(len(ctx.data.ids), ctx.data.seed)
        pairs = draw_pairs(inputs.classes, inputs.best, ctx.data.seed)
        _, cf_patterns, _ = attention_over_candidates(ctx.subject.bridge, inputs, inputs.cf_ids)
        layers = tqdm(ctx.layers, desc=f"score swap seed {ctx.data.seed}", **bar_options(ctx.progress))
        return [swap_row(ctx.subject.bridge, inputs, pairs, layer, cf_patterns[layer]) for layer in layers]


def draw_pairs(classes: np.ndarray, best: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per row: `other` (j), a losing candidate whose answer differs from the winner's, and `third`, a losing
    candidate other than j (the winner itself where K = 2); `ok` marks the rows where such a j exists (elsewhere
    both are the winner: a swap that changes nothing)."""
    rng = np.random.default_rng(seed)
    n, k = classes.shape
    other, third, ok = best.copy(), best.copy(), np.zeros(n, bool)
    for i in range(n):
        js = [c for c in range(k) if c != best[i] and classes[i, c] != classes[i, best[i]]]
        if not js:
            continue
        ok[i], other[i] = True, rng.choice(js)
        thirds = [c for c in range(k) if c not in (best[i], other[i])]
        third[i] = rng.choice(thirds) if thirds else best[i]
    return {"other": other, "third": third, "ok": ok}


def swap_hook(layer: int, inputs, a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor):
    """Swap candidates a[r]'s and b[r]'s pre-softmax scores at row r's answer query, every head of `layer`."""

    def fn(x, hook):
        x = x.clone()
        r = torch.arange(x.shape[0], device=x.device)
        at = inputs.answer_position[rows].to(x.device)
        sites = inputs.sites[rows].to(x.device)
        pa, pb = sites[r, a[rows].to(x.device)], sites[r, b[rows].to(x.device)]
        va, vb = x[r, :, at, pa].clone(), x[r, :, at, pb].clone()
        x[r, :, at, pa], x[r, :, at, pb] = vb, va
        return x

    return f"blocks.{layer}.attn.hook_attn_scores", fn


@torch.no_grad()
def predict(bridge, inputs, hook_args=None, batch_size: int = 256) -> np.ndarray:
    """The answer class each row gives, under a swap (layer, a, b) or none."""
    device = next(bridge.parameters()).device
    out = []
    for start in range(0, len(inputs.ids), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(inputs.ids)))
        hooks = [swap_hook(hook_args[0], inputs, hook_args[1], hook_args[2], rows)] if hook_args else []
        logits = bridge.run_with_hooks(inputs.ids[rows].to(device), fwd_hooks=hooks)
        r = torch.arange(len(rows), device=device)
        at = inputs.answer_position[rows].to(device)
        out.append(logits[r, at][:, inputs.class_ids.to(device)].argmax(-1).cpu().numpy())
    return np.concatenate(out)


def swap_row(bridge, inputs, pairs: dict, layer: int, cf_pattern: np.ndarray) -> dict:
    ok, j, third = pairs["ok"], pairs["other"], pairs["third"]
    rows = np.arange(len(ok))
    best, other = torch.tensor(inputs.best), torch.tensor(j)
    swapped = predict(bridge, inputs, (layer, best, other))
    if inputs.k >= 3:
        control = predict(bridge, inputs, (layer, torch.tensor(third), other))
    else:  # K = 2: no third candidate; the unswapped answers
        control = predict(bridge, inputs)
    j_class, best_class = inputs.classes[rows, j], inputs.classes[rows, inputs.best]
    moved = inputs.cf_best != inputs.best  # counterfactuals whose winner sits elsewhere
    follows = cf_pattern.mean(1).argmax(1) == inputs.cf_best
    return {"method": "score-swap", "target": TARGET, "layer": layer, "position": ANSWER_POSITION,
            "effect": float((swapped == j_class)[ok].mean()), "control_effect": float((control == j_class)[ok].mean()),
            "stays": float((swapped == best_class)[ok].mean()),
            "follows_counterfactual": float(follows[moved].mean()) if moved.any() else None,
            "n": int(ok.sum()), "n_uninformative": int((~ok).sum())}
