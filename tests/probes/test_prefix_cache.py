"""Edited forwards that reuse each prompt's clean prefix (probes/prefix_cache.py) score every candidate as a full
forward under the same edits does: clean, edited at one token, at two layers and tokens, and at the last token; a
store past its memory limit still holds the prompts of the batch it is serving."""
import pytest
import torch

from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.text_pairs import text_pairs
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.probes.intervene import candidate_scores
from mesaprobe.probes.prefix_cache import active_store, reusing_prefixes
from mesaprobe.tasks import get_task


def replace_by(seed):
    """An edit that writes a fixed random vector, different per row, over the residual stream."""
    return lambda x, rows: 10 * torch.randn(x.shape[-1], generator=torch.Generator().manual_seed(seed)) * (
        1 + rows[:, None] % 3)


@pytest.mark.parametrize("task", ["argmax", "kv-recall"])
def test_scores_from_the_first_edited_token_equal_full_forwards(tiny_llama, task):
    m = load_model(str(tiny_llama))
    with torch.no_grad():  # peaked attention, so that positions matter (random init attends ~uniformly)
        for layer in m.hf_model.model.layers:
            layer.self_attn.q_proj.weight *= 8
            layer.self_attn.k_proj.weight *= 8
    pairs = text_pairs(get_task(task), m.tokenizer, 10, 0, shots=2)
    ids, _ = pad_batch([ex.ids for ex in pairs.base], m.tokenizer.pad_token_id)
    last = torch.tensor([len(ex.ids) - 1 for ex in pairs.base])
    cands = pairs.candidate_ids(m.tokenizer)
    early = last // 2 - torch.arange(len(last)) % 3  # well before the last token, a different place per row
    cases = {"clean": [], "one edit": [(0, early, replace_by(1))],
             "two edits": [(1, last - 2, replace_by(2)), (0, early + 1, replace_by(3))],
             "at the last token": [(1, last, replace_by(4))],
             "at the first token": [(0, torch.zeros_like(last), replace_by(5))]}  # nothing to reuse
    budget = 3 * int(last.max() + 1)  # several batches, rows of unequal length together
    for name, edits in cases.items():
        full = candidate_scores(m.bridge, ids, last, cands, edits, tokens_per_batch=budget)
        with reusing_prefixes(m.bridge):
            assert active_store(m.hf_model) is not None
            reused = candidate_scores(m.bridge, ids, last, cands, edits, tokens_per_batch=budget)
            again = candidate_scores(m.bridge, ids, last, cands, edits, tokens_per_batch=budget)  # from the store
        assert active_store(m.hf_model) is None
        finite = torch.isfinite(full)
        assert (finite == torch.isfinite(reused)).all()
        torch.testing.assert_close(reused[finite], full[finite], atol=1e-4, rtol=1e-4, msg=name)
        torch.testing.assert_close(again, reused)
        if name == "one edit":  # a store too small for even one prompt keeps just the batch at hand, and agrees
            with reusing_prefixes(m.bridge):
                active_store(m.hf_model).limit_bytes = 1
                tight = candidate_scores(m.bridge, ids, last, cands, edits, tokens_per_batch=budget)
            torch.testing.assert_close(tight, reused)
        if name == "at the last token":  # the edit changes the scores: the equality is not that of two clean passes
            clean = candidate_scores(m.bridge, ids, last, cands, tokens_per_batch=budget)
            assert (clean[finite] - full[finite]).abs().max() > 0.1
