"""Word-level tokenizers for the synthetic vocabularies of tasks (one whitespace-separated word = one token)."""
from __future__ import annotations

from mesaprobe.tasks.base import BOS, PAD, SPECIAL_TOKENS, UNK


def build_tokenizer(vocabulary: list[str]):
    """A `PreTrainedTokenizerFast` over SPECIAL_TOKENS + vocabulary (order kept, duplicates dropped)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = list(dict.fromkeys(SPECIAL_TOKENS + list(vocabulary)))
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, bos_token=BOS, unk_token=UNK)


def token_ids(tokenizer, sequences: list[list[str]]) -> list[list[int]]:
    """Token strings -> ids; a token the model's vocabulary lacks is an error, never a silent <unk>."""
    vocab = tokenizer.get_vocab()
    missing = {t for seq in sequences for t in seq if t not in vocab}
    if missing:
        from mesaprobe.errors import UserError

        raise UserError(f"the model's vocabulary lacks the task's tokens {sorted(missing)[:5]}")
    return [[vocab[t] for t in seq] for seq in sequences]


def encode_tokens(tokenizer, sequences: list[list[str]]):
    """Token strings -> a LongTensor [n, T] of ids (sequences of one task have equal length)."""
    import torch

    return torch.tensor(token_ids(tokenizer, sequences), dtype=torch.long)
