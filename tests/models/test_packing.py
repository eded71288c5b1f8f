"""Packing (models/packing.py): each packed sequence gets the outputs it would have alone, on GPT-2 blocks and on the
windowed Mistral blocks, and its rows hold every sequence once within the width."""
import random

import pytest
import torch

from mesaprobe.models.packing import pack_batch, pack_rows
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.tasks import get_task


def test_pack_rows_places_every_sequence_once_within_the_width():
    rng = random.Random(0)
    lengths = [rng.randint(1, 46) for _ in range(300)]
    rows = pack_rows(lengths, 46)
    assert sorted(i for r in rows for i in r) == list(range(300))
    assert all(sum(lengths[i] for i in r) <= 46 for r in rows)
    assert len(rows) < 0.8 * len(lengths)  # short sequences share rows


@pytest.mark.parametrize("window", [0, 3])
def test_packed_outputs_equal_each_sequence_alone(window):
    task = get_task("rock-field")
    tok = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tok, TinySize(n_layer=2, n_embd=32, n_head=2, n_positions=64, window=window), 0).eval()
    rng = random.Random(1)
    seqs = [[rng.randrange(2, len(tok)) for _ in range(rng.randint(3, 30))] for _ in range(17)]
    ids, positions, starts, labels = pack_batch(seqs, tok.pad_token_id, fill=seqs)
    assert ids.shape[0] < len(seqs)
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions, use_cache=False).logits
        ids_padded, mask = pad_batch(seqs, tok.pad_token_id)
        padded = model(input_ids=ids_padded, attention_mask=mask).logits
    for i, s in enumerate(seqs):
        r, c = starts[i]
        assert ids[r, c:c + len(s)].tolist() == s == labels[r, c:c + len(s)].tolist()
        torch.testing.assert_close(packed[r, c:c + len(s)], padded[i, :len(s)], atol=1e-5, rtol=1e-4)
    # without the restarted positions the sequences would see each other: the check above can fail
    with torch.no_grad():
        leaky = model(input_ids=ids, use_cache=False).logits
    r, c = next(st for st in starts if st[1] > 0)
    assert not torch.allclose(leaky[r, c], packed[r, c], atol=1e-3)
