"""Candidate scoring in attention: at the position that reads the answer, does a head's attention over the K candidates
rank them by the task's score (`SearchTask.candidates`)? A transformer's own way to evaluate candidates and return
the best is a query-key score per candidate and a softmax that picks, which leaves no running best in the residual
stream for a linear probe to read.

Read on position-free instances (`SearchTask.position_free`: argmax without its shortcut), where a candidate's place
says nothing of its score. Per block and head: the per-instance Spearman correlation of the pre-softmax scores with
the task's scores (`rho`; the softmax is monotonic, so the pattern ranks the same) and the share of instances whose
top-weighted candidate is the answer (`top1`), beside three controls: the random-init twin's heads (the best of them
in any block, as the model's best is taken over all its heads), a position-only baseline (the head's mean score per
candidate slot, fitted on the other half of the rows) and shuffled scores (the head against the scores permuted
within each instance); `beyond`, rho less the largest control, is the verdict's reading of them
(indices.ranked_beyond_controls). Per block, the heads' mean pattern gives the search's breadth: the share of the K
candidates placed correctly against the answer (the answer on top, each other below it)."""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata

from mesaprobe.models.subjects.candidates import CandidateInputs


@torch.no_grad()
def attention_over_candidates(bridge, inputs: CandidateInputs, ids: torch.Tensor | None = None,
                              batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every block's pre-softmax scores and pattern at each row's answer query over its candidates, [L, n, H, K]
    each, and the answer classes' logits [n, C], from one forward over `ids` (default: the inputs' own)."""
    ids = inputs.ids if ids is None else ids
    n_layers, device = bridge.cfg.n_layers, next(bridge.parameters()).device
    scores, patterns, logits = [], [], []
    for start in range(0, len(ids), batch_size):
        rows = slice(start, start + batch_size)
        batch, at, sites = ids[rows].to(device), inputs.answer_position[rows].to(device), inputs.sites[rows].to(device)
        r = torch.arange(len(batch), device=device)
        kept: dict[str, torch.Tensor] = {}

        def keep(x, hook):
            q = x[r, :, at, :]  # [b, H, T]: the answer query's row
            kept[hook.name] = q.gather(2, sites[:, None, :].expand(-1, q.shape[1], -1)).float().cpu()
            return x

        hooks = [(f"blocks.{layer}.attn.{kind}", keep) for layer in range(n_layers)
                 for kind in ("hook_attn_scores", "hook_pattern")]
        out = bridge.run_with_hooks(batch, fwd_hooks=hooks)
        logits.append(out[r, at][:, inputs.class_ids.to(device)].float().cpu())
        scores.append(torch.stack([kept[f"blocks.{layer}.attn.hook_attn_scores"] for layer in range(n_layers)]))
        patterns.append(torch.stack([kept[f"blocks.{layer}.attn.hook_pattern"] for layer in range(n_layers)]))
    return torch.cat(scores, 1).numpy(), torch.cat(patterns, 1).numpy(), torch.cat(logits).numpy()


def row_spearman(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of `a` with the same row of `s` (average ranks for ties; 0 where a row is
    constant), over the last axis."""
    ra, rs = rankdata(a, axis=-1), rankdata(np.broadcast_to(s, a.shape), axis=-1)
    ra, rs = ra - ra.mean(-1, keepdims=True), rs - rs.mean(-1, keepdims=True)
    den = np.sqrt((ra**2).sum(-1) * (rs**2).sum(-1))
    return np.where(den > 0, (ra * rs).sum(-1) / np.where(den > 0, den, 1), 0.0)


def position_only(a: np.ndarray, scores: np.ndarray, best: np.ndarray) -> tuple[float, float]:
    """(rho, top1) of a head that scored every instance by its mean score per candidate slot, fitted on one half of
    the rows and read on the other (both ways): what candidate position alone explains."""
    n = len(a)
    halves = (slice(0, n // 2), slice(n // 2, n))
    rho, top = [], []
    for fit, read in (halves, halves[::-1]):
        profile = a[fit].mean(0)
        rho.append(row_spearman(np.broadcast_to(profile, a[read].shape), scores[read]))
        top.append(np.full(len(scores[read]), profile.argmax()) == best[read])
    return float(np.concatenate(rho).mean()), float(np.concatenate(top).mean())


def breadth(pattern: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Per row, the share of the K candidates the block's mean attention places correctly against the answer:
    the answer itself when it gets the most weight, each other candidate when it gets less than the answer."""
    mean = pattern.mean(1)  # [n, K], over heads
    rows = np.arange(len(best))
    top = mean[rows, best]
    below = (mean < top[:, None]).sum(1)  # the other candidates below the answer
    return (below + (mean.argmax(1) == best)) / mean.shape[1]


def candidate_ranking(bridge, twin_bridge, inputs: CandidateInputs, seed: int) -> dict:
    """One seed's attention evidence: per (block, head) ranking rows beside their controls, per block the breadth
    beside the twin's, the model's accuracy on these position-free rows, and one instance for the report."""
    scores, patterns, logits = attention_over_candidates(bridge, inputs)
    twin_scores, twin_patterns, _ = attention_over_candidates(twin_bridge, inputs)
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(inputs.scores, axis=1)
    rows = np.arange(len(inputs.best))
    accuracy = float((logits.argmax(1) == inputs.classes[rows, inputs.best]).mean())
    heads, blocks = [], []
    layers, n_heads = range(scores.shape[0]), range(twin_scores.shape[2])
    # the twin's best head over every block: the model's best is taken over as many heads (indices.py)
    twin_rho = max(float(row_spearman(twin_scores[layer][:, h], inputs.scores).mean()) for layer in layers
                   for h in n_heads)
    twin_top = max(float((twin_scores[layer][:, h].argmax(1) == inputs.best).mean()) for layer in layers
                   for h in n_heads)
    for layer in layers:
        for h in range(scores.shape[2]):
            a = scores[layer][:, h]
            rho = float(row_spearman(a, inputs.scores).mean())
            pos_rho, pos_top = position_only(a, inputs.scores, inputs.best)
            shuf = float(row_spearman(a, shuffled).mean())
            heads.append({"block": layer, "head": h, "rho": rho, "top1": float((a.argmax(1) == inputs.best).mean()),
                          "random_init": twin_rho, "random_init_top1": twin_top,
                          "position_only": pos_rho, "position_only_top1": pos_top, "shuffled": shuf,
                          "chance_top1": 1 / inputs.k})
        blocks.append({"block": layer, "breadth": float(breadth(patterns[layer], inputs.best).mean()),
                       "breadth_random_init": float(breadth(twin_patterns[layer], inputs.best).mean())})
    example = {"scores": inputs.scores[0].tolist(), "best": int(inputs.best[0]),
               "pattern": [patterns[layer][0].mean(0).tolist() for layer in range(patterns.shape[0])]}
    return {"heads": heads, "blocks": blocks, "position_free_accuracy": accuracy, "k": inputs.k,
            "n": len(inputs.best), "example": example}


def merge_attention(records: list[dict]) -> dict | None:
    """results.json `attention`: per (block, head) and per block the mean over seeds (with each seed's value of the
    ranking and breadth), the seeds' own records (what the indices are recomputed from), and seed 0's example."""
    if not records or any(r is None for r in records):
        return None

    def mean_rows(key: str, by_seed: tuple[str, ...]) -> list[dict]:
        out = []
        for i, first in enumerate(records[0][key]):
            rows = [r[key][i] for r in records]
            out.append({k: (float(np.mean([x[k] for x in rows])) if isinstance(v, float) else v)
                        for k, v in first.items()} | {f"{k}_by_seed": [x[k] for x in rows] for k in by_seed})
        return out

    return {"heads": mean_rows("heads", ("rho", "beyond")), "blocks": mean_rows("blocks", ("breadth",)),
            "position_free_accuracy": float(np.mean([r["position_free_accuracy"] for r in records])),
            "k": records[0]["k"], "example": records[0]["example"],
            "by_seed": [{k: v for k, v in r.items() if k != "example"} for r in records]}
