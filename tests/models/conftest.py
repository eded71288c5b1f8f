"""A tiny Llama with a byte-level BPE tokenizer trained on the tasks' words, saved as an HF directory; helpers of the
natural-language tests as fixtures: `reference_scores` (read without batching or cache) and `sharp_attention`."""
import pytest
import torch

from mesaprobe.tasks import get_task


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    
    corpus = [get_task(t).render_text(i.meta)[0] + " " + i.answer for t in ("argmax", "rocks", "kv-recall")
              for i in get_task(t).instances(300, 0)]
    corpus += [p["prompt"] + p["completion"] for p in get_task("gridworld").sft_pairs(100, 99)]
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    out = tmp_path_factory.mktemp("llama") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


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
