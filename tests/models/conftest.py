"""A tiny Llama with a byte-level BPE tokenizer trained on the tasks' words, saved as an HF directory."""
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
