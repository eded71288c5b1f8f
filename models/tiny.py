"""Tiny models built from a config, sized by the task (`Task.recipe.model_size`): GPT-2 blocks, or with an attention window
(`window` > 0) Mistral blocks whose attention sees only the last `window` tokens. With a window, what an answer needs
from early tokens must be carried from token to token through the blocks (tests/probes/test_known_positive_search.py
probes an argmax model of window 2; the search known positive is tests/fixtures/argmax-closest-sl, see docs/design.md)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TinySize:
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 64
    window: int = 0  # attention sees the last `window` tokens, itself included (0: every earlier token)


def tiny_config(vocab_size: int, size: TinySize, pad_token_id: int, bos_token_id: int):
    from transformers import GPT2Config, MistralConfig

    tokens = dict(vocab_size=vocab_size, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                  eos_token_id=pad_token_id)
    if size.window:
        return MistralConfig(hidden_size=size.n_embd, intermediate_size=4 * size.n_embd,
                             num_hidden_layers=size.n_layer, num_attention_heads=size.n_head,
                             num_key_value_heads=size.n_head, max_position_embeddings=size.n_positions,
                             sliding_window=size.window, tie_word_embeddings=True, **tokens)
    # GPT-2's tanh-approximated GELU as one fused kernel: the same function as its default "gelu_new" (outputs equal
    # to ~3e-7), whose separate elementwise ops made a bare training step 1.3x slower here (benchmarks/train_speed.py)
    return GPT2Config(n_positions=size.n_positions, n_embd=size.n_embd, n_layer=size.n_layer, n_head=size.n_head,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu_pytorch_tanh",
                      **tokens)


def build_tiny_model(tokenizer, size: TinySize, seed: int):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(tiny_config(len(tokenizer), size, tokenizer.pad_token_id,
                                                        tokenizer.bos_token_id))
