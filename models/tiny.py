"""Tiny GPT-2-style models built from a config, sized by the task (`Task.model_size`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TinySize:
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 64


def tiny_config(vocab_size: int, size: TinySize, pad_token_id: int, bos_token_id: int):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=size.n_positions,
        n_embd=size.n_embd,
        n_layer=size.n_layer,
        n_head=size.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=pad_token_id,
        bos_token_id=bos_token_id,
        eos_token_id=pad_token_id,
    )


def build_tiny_model(tokenizer, size: TinySize, seed: int):
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    config = tiny_config(len(tokenizer), size, tokenizer.pad_token_id, tokenizer.bos_token_id)
    return GPT2LMHeadModel(config)
