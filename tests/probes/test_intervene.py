"""probes/intervene.logits_at against the plainest computation: each row alone, its whole sequence, the same edit."""
from pathlib import Path

import torch

from mesaprobe.models.loading import load_model
from mesaprobe.probes.hooks import hook_name
from mesaprobe.probes.intervene import logits_at

FIXTURE = Path(__file__).parents[1] / "fixtures" / "gridworld-sl"


def test_sorted_and_cut_batches_score_each_row_as_its_own_full_forward_does():
    bridge = load_model(str(FIXTURE)).bridge
    gen = torch.Generator().manual_seed(0)
    n, width, d = 37, 24, bridge.cfg.d_model
    ids = torch.randint(1, bridge.cfg.d_vocab, (n, width), generator=gen)
    answer_at = torch.randint(3, width, (n,), generator=gen)  # rows of every length, out of order
    edit_at = (answer_at - torch.randint(0, 3, (n,), generator=gen)).clamp(min=0)
    shift = torch.randn(n, d, generator=gen)
    classes = torch.arange(5)
    edit = lambda x, rows: x + shift[rows.cpu()].to(x.device)  # a different edit per row: rows must be the right ones
    got = logits_at(bridge, ids, answer_at, classes, [(1, edit_at, edit)], batch_size=4)
    for i in range(n):
        def one(x, hook, i=i):
            x = x.clone()
            x[0, edit_at[i]] += shift[i]
            return x
        logits = bridge.run_with_hooks(ids[i : i + 1], fwd_hooks=[(hook_name(1), one)])
        assert torch.allclose(got[i], logits[0, answer_at[i], classes].float(), atol=1e-4), i
    unedited = logits_at(bridge, ids, answer_at, classes)
    assert not torch.allclose(unedited, got, atol=1e-3)  # the edit mattered, so the check above could fail
