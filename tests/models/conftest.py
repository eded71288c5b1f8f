"""Helpers of the natural-language tests as fixtures (the tiny Llama itself is in tests/conftest.py):
`reference_scores` (read without batching or cache) and `sharp_attention`."""
import pytest
import torch


@torch.no_grad()
def read_alone(model, tokenizer, ex, steps=4):
    """Each candidate's log-probability and the greedy reply, from full forwards of one unpadded sequence, no cache."""
    scores = []
    for c in ex.candidates:
        cand = tokenizer(" " + c, add_special_tokens=False)["input_ids"][len(ex.stem):]  # the stem is in ex.ids
        logp = model(torch.tensor([ex.ids + cand])).logits[0].log_softmax(-1)
        scores.append(sum(logp[len(ex.ids) - 1 + k, t] for k, t in enumerate(cand)))
    ids = list(ex.ids)
    for _ in range(steps):
        ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return torch.stack(scores), tokenizer.decode(ids[len(ex.ids):])


def sharpen(model, scale=8.0):
    """Scale queries and keys so that attention is peaked and positions matter (random init attends ~uniformly)."""
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight *= scale
            layer.self_attn.k_proj.weight *= scale
    return model


@pytest.fixture
def reference_scores():
    return read_alone


@pytest.fixture
def sharp_attention():
    return sharpen
