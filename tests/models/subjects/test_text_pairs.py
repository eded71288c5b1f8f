"""Causal probes on natural-language prompts, on the tiny Llama: counterfactual prompts aligned token by token (pairs
that cannot align are refused), candidate scoring under an edit that carries through the KV cache, and the whole
probe with LEACE, interchange and patching at the aligned positions."""
import pytest
import torch

from mesaprobe.errors import UserError
from mesaprobe.models.loading import load_model
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.subjects.text_eval import shared_stem
from mesaprobe.models.subjects.text_pairs import text_pairs
from mesaprobe.probes.intervene import candidate_scores, resid_at
from mesaprobe.tasks import get_task
from mesaprobe.tasks.argmax import ArgmaxTask


@pytest.fixture
def llama(tiny_llama, sharp_attention):
    m = load_model(str(tiny_llama))
    sharp_attention(m.hf_model)
    return m


@pytest.mark.parametrize("task", ["argmax", "kv-recall"])
def test_counterfactual_prompts_align_token_by_token(llama, task):
    pairs = text_pairs(get_task(task), llama.tokenizer, 40, 0, shots=2)
    assert len(pairs.base) == len(pairs.cf) == 40
    for b, f, cands in zip(pairs.base, pairs.cf, pairs.candidates()):
        assert len(b.ids) == len(f.ids) and b.positions == f.positions
        assert b.answer != f.answer and b.answer in cands and f.answer in cands
        differ = [i for i, (x, y) in enumerate(zip(b.ids, f.ids)) if x != y]
        assert differ and max(differ) < len(b.ids) - 1  # the change lies inside the prompt, before the answer stem
        first = {tokens[0] for tokens in b.candidate_tokens(llama.tokenizer)}
        assert len(first) > 1  # the answer position is where the candidates part, not before a shared token
    base_idx, cf_idx = pairs.answer_indices()
    assert all(i != j for i, j in zip(base_idx, cf_idx))


@pytest.mark.parametrize("tokens,stem", [([[216, 39], [216, 40]], [216]), ([[216, 17], [216, 17, 18]], [216]),
                                         ([[5], [6]], []), ([[5, 7], [5, 7]], [5])])
def test_the_stem_is_what_every_candidate_starts_with_short_of_the_shortest(tokens, stem):
    assert shared_stem(tokens) == stem


class LongerList(ArgmaxTask):
    """Its 'counterfactual' appends a number, so no pair can align."""

    name = "argmax-longer-cf"

    def perturb(self, meta, rng):
        return meta | {"values": meta["values"] + [max(meta["values"]) + 1]}

    def counterfactual(self, instance, rng):
        return self.build(self.perturb(instance.meta, rng))


def test_pairs_that_cannot_align_are_refused_with_one_clear_line(llama):
    with pytest.raises(UserError, match=r"only 0 of 10 argmax-longer-cf prompts .* align"):
        text_pairs(LongerList(), llama.tokenizer, 10, 0, shots=1)


def candidates_and_ids(m, pairs):
    ids = pad_batch([ex.ids for ex in pairs.base], m.tokenizer.pad_token_id)[0]
    cf_ids = pad_batch([ex.ids for ex in pairs.cf], m.tokenizer.pad_token_id)[0]
    last = torch.tensor([ex.positions["answer"] for ex in pairs.base])
    return ids, cf_ids, last, pairs.candidate_ids(m.tokenizer)


def test_candidate_scores_equal_each_prompt_read_alone(llama, reference_scores):
    pairs = text_pairs(get_task("argmax"), llama.tokenizer, 10, 1, shots=2)
    ids, _, last, cands = candidates_and_ids(llama, pairs)
    assert cands.shape[2] > 1  # candidates of several tokens
    scores = candidate_scores(llama.bridge, ids, last, cands, tokens_per_batch=3 * ids.shape[1])
    for i, ex in enumerate(pairs.base):
        ex.candidates = pairs.candidates()[i]
        want, _ = reference_scores(llama.hf_model, llama.tokenizer, ex, steps=0)
        torch.testing.assert_close(scores[i, : len(want)], want, atol=1e-4, rtol=1e-4)
        assert torch.isinf(scores[i, len(want):]).all()  # padding candidates never win


def test_patching_the_only_changed_token_reproduces_the_counterfactual_run(llama):
    """Known answer: a pair differs in one token; writing the counterfactual's embedding there turns the original's
    forward into the counterfactual's, so every candidate's score (read through the edited KV cache) is the
    counterfactual's. Writing it at another token changes nothing like that."""
    pairs = text_pairs(get_task("kv-recall"), llama.tokenizer, 30, 2, shots=1)
    keep = [i for i, (b, f) in enumerate(zip(pairs.base, pairs.cf))
            if sum(x != y for x, y in zip(b.ids, f.ids)) == 1]
    assert len(keep) >= 10
    ids, cf_ids, last, cands = (t[keep] for t in candidates_and_ids(llama, pairs))
    where = (ids != cf_ids).float().argmax(1)
    source = resid_at(llama.bridge, cf_ids, -1, where)
    patched = candidate_scores(llama.bridge, ids, last, cands, [(-1, where, lambda x, rows: source[rows])])
    clean = candidate_scores(llama.bridge, ids, last, cands)
    cf_run = candidate_scores(llama.bridge, cf_ids, last, cands)
    finite = torch.isfinite(cf_run)
    torch.testing.assert_close(patched[finite], cf_run[finite], atol=1e-4, rtol=1e-4)
    assert (clean[finite] - cf_run[finite]).abs().max() > 1e-2  # the change matters, so the check can fail


@pytest.mark.trains  # no training, but a whole probe with causal methods: ~40 s
def test_probe_of_an_untrained_lm_runs_causal_probes_at_aligned_positions(tiny_llama, tmp_path):
    """Random init: behaviour at chance, every causal effect small and the verdict no stronger than the probes."""
    from mesaprobe.probes.run import run_probe

    res = run_probe(str(tiny_llama), get_task("kv-recall"), tmp_path / "run", n=90, seeds=1, folds=3,
                    progress=False, causal_layers=(1,))
    layers = lambda method: {r["layer"] for r in res["causal"] if r["method"] == method}
    assert layers("leace") == layers("interchange") == {1}  # --causal-layers: only the blocks asked for
    assert layers("patch") == {-1, 1}  # the patching map starts at the embeddings
    methods = {r["method"] for r in res["causal"]}
    assert methods == {"leace", "interchange", "patch"}
    skipped = dict((s["method"], s["reason"]) for s in res["causal_skipped"])
    assert skipped["das"] == "runs only when asked for (--also-methods das)" and set(skipped) == {"das", "score-swap"}
    assert "task-token subjects" in skipped["score-swap"]  # a candidate spans tokens in a natural-language prompt
    patch_positions = {r["position"] for r in res["causal"] if r["method"] == "patch"}
    assert patch_positions == {"answer", "query"}  # the named positions only, never t0..tT
    for r in res["causal"]:
        if r["method"] in ("leace", "interchange"):
            assert abs(r["effect"] - r["control_effect"]) <= 0.15
    assert res["behavior"]["refused_pairs"] >= 0 and res["verdict"] in {"neither", "inconclusive"}
