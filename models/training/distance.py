"""How far a fine-tuned model moved from its base: KL(base || model) of the answer distributions on held-out
prompts (it predicts forgetting, Shenfeld et al. 2025) and the share of weights that changed by more than a small
threshold (RL moves 5-30% of them in Mukherjee et al. 2025; a merged LoRA adapter moves every entry of the matrices it
wraps, so for PEFT its rank is the figure to read)."""
from __future__ import annotations

import torch

from mesaprobe.models.forward import last_token_logits_kwargs, token_batches
from mesaprobe.models.rollouts.tiny import pad_batch

UPDATE_THRESHOLD = 1e-5  # |change| above this counts a weight as moved (float32 round-off is ~1e-7 at these scales)


def base_weights(model) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights to compare the fine-tuned model against, each stored tensor once (a tied LM head
    is the embedding matrix again under another name)."""
    seen, out = set(), {}
    for k, v in model.state_dict().items():
        if v.data_ptr() not in seen:
            seen.add(v.data_ptr())
            out[k] = v.detach().float().cpu().clone()
    return out


@torch.no_grad()
def update_share(base: dict[str, torch.Tensor], model, threshold: float = UPDATE_THRESHOLD) -> dict:
    """The share of weight entries whose change from `base` exceeds `threshold`, overall and per tensor that moved
    (a LoRA model is compared after merging its adapters)."""
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    moved, total, tensors = 0, 0, {}
    for name, before in base.items():
        if name not in state:
            raise ValueError(f"the fine-tuned model has no weight {name!r}: compare merged weights with the base's")
        changed = int(((state[name] - before).abs() > threshold).sum())
        moved, total = moved + changed, total + before.numel()
        if changed:
            tensors[name] = round(changed / before.numel(), 6)
    return {"share": moved / total if total else 0.0, "moved": moved, "weights": total, "threshold": threshold,
            "tensors_moved": len(tensors), "tensors": len(base)}


@torch.no_grad()
def answer_logprobs(model, prompts: list[list[int]], pad_id: int = 0) -> torch.Tensor:
    """Log-probabilities of the next token at each prompt's last token (where the answer starts) [n, V], on CPU:
    read from the base before fine-tuning, so no second copy of the model is kept."""
    lengths, out = [len(p) for p in prompts], []
    device = next(model.parameters()).device
    for rows in token_batches(lengths):
        ids, mask = pad_batch(prompts[rows], pad_id)
        lens = torch.tensor(lengths[rows])
        kwargs, index = last_token_logits_kwargs(model, lens)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False, **kwargs).logits
        out.append(logits[torch.arange(len(lens), device=device), index.to(device)].float().cpu().log_softmax(-1))
    return torch.cat(out)


def kl_from_base(base_logp: torch.Tensor, logp: torch.Tensor) -> dict:
    """Mean and largest KL(base || model) over the prompts, in nats."""
    kl = (base_logp.exp() * (base_logp - logp)).sum(-1).clamp(min=0)  # round-off can dip a hair below 0
    return {"mean_nats": float(kl.mean()), "max_nats": float(kl.max()), "prompts": len(kl)}
