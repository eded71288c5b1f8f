"""Scoring natural-language search prompts: batched, cached scoring equals reading each prompt alone, and the probe's
extraction pass scores behaviour exactly as a separate scoring pass does."""
import pytest
import torch

from mesaprobe.models.forward import token_batches
from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.text_eval import TextScorer, text_examples
from mesaprobe.tasks import get_task


@pytest.mark.parametrize("task", ["argmax", "kv-recall"])
def test_batched_cached_scoring_equals_each_prompt_read_alone(tiny_llama, task, reference_scores, sharp_attention):
    m = load_model(str(tiny_llama))
    sharp_attention(m.hf_model)
    examples = text_examples(get_task(task), m.tokenizer, 12, 0, shots=2)
    widths = [len(m.tokenizer(" " + c, add_special_tokens=False)["input_ids"])
              for ex in examples for c in ex.candidates]
    assert max(widths) > 1  # candidates of several tokens: their later tokens come from the cached forward
    lengths = [len(ex.ids) for ex in examples]
    budget = 4 * max(lengths)
    assert any(len(set(lengths[b])) > 1 for b in token_batches(lengths, budget))  # rows of unequal length share a batch
    scorer = TextScorer(m.hf_model, m.tokenizer, examples)
    result = scorer.run(tokens_per_batch=budget, progress=False)
    for i, ex in enumerate(examples):
        want, reply = reference_scores(m.hf_model, m.tokenizer, ex)
        torch.testing.assert_close(scorer.candidate_logprobs[i], want, atol=1e-4, rtol=1e-4)
        assert scorer.generated[i] == reply
    hits = sum(ex.candidates[int(s.argmax())] == ex.answer for ex, s in zip(examples, scorer.candidate_logprobs))
    assert result["rank_accuracy"] == hits / len(examples)


def test_the_extraction_pass_scores_behaviour_as_a_separate_pass_does(tiny_llama, tmp_path, reference_scores):
    from mesaprobe.models.rollouts.tiny import pad_batch
    from mesaprobe.probes.extract import extract_activations

    m = load_model(str(tiny_llama))
    examples = text_examples(get_task("argmax"), m.tokenizer, 16, 1, shots=2)
    ids, _ = pad_batch([ex.ids for ex in examples], m.tokenizer.pad_token_id)
    lengths = torch.tensor([len(ex.ids) for ex in examples])
    positions = {"answer": torch.tensor([ex.positions["answer"] for ex in examples])}
    joint = TextScorer(m.hf_model, m.tokenizer, examples)
    store = extract_activations(m.bridge, ids, positions, tmp_path / "a", [-1, 0, 1], lengths,
                                tokens_per_batch=3 * int(lengths.max()), scorer=joint, progress=False)
    alone = TextScorer(m.hf_model, m.tokenizer, examples)
    assert joint.result() == alone.run(progress=False)
    for a, b in zip(joint.candidate_logprobs, alone.candidate_logprobs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for ex, got in list(zip(examples, joint.candidate_logprobs))[:4]:  # and both equal full forwards without cache
        torch.testing.assert_close(got, reference_scores(m.hf_model, m.tokenizer, ex, steps=0)[0], atol=1e-4, rtol=1e-4)
    # activations of a row read in a padded batch equal those of the row read alone
    budget = 3 * int(lengths.max())
    padded = next(i for b in token_batches(lengths.tolist(), budget) for i in range(b.start, b.stop)
                  if lengths[i] < lengths[b].max())
    single = extract_activations(m.bridge, ids[padded : padded + 1, : lengths[padded]],
                                 {"answer": positions["answer"][padded : padded + 1]}, tmp_path / "b", [-1, 0, 1],
                                 progress=False)
    for layer in (-1, 0, 1):
        torch.testing.assert_close(torch.tensor(store.load(layer)[padded : padded + 1]),
                                   torch.tensor(single.load(layer)), atol=1e-5, rtol=1e-5)
