"""Retargeting the search (probes/causal/retarget.py), on a known case. tests/fixtures/argmax-rules2-L4-sl-0 is an
argmax model trained on two rules (largest, smallest; the rule as a token), 4 blocks, 100% on held-out instances
(`mesaprobe train argmax -p rules=2 --layers 4`). Adding the rule-B minus rule-A mean after block 0 at the items and
the answer position, after the rule token, turns the answer into the other rule's pick far more often than a random
direction of the same norm or no edit; at the rule token itself (already read by block 0) it does next to nothing;
its random-init twin, which searches nothing, is not retargeted."""
from pathlib import Path

import pytest

from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.subject import make_subject
from mesaprobe.probes.causal.retarget import AFTER, retarget_rows
from mesaprobe.probes.options import ProbeOptions
from mesaprobe.probes.replicate import replicate
from mesaprobe.tasks import get_task

FIXTURE = Path(__file__).parents[1] / "fixtures" / "argmax-rules2-L4-sl-0"


def rows_of(tmp_path, random_init: bool) -> dict[str, dict]:
    task = get_task("argmax", rules=2)
    loaded = load_model(str(FIXTURE), random_init=random_init, seed=3)
    subject = make_subject(loaded, task)
    data, _ = replicate(subject, load_model(str(FIXTURE), random_init=True, seed=5), 600, 0, tmp_path,
                        progress=False, last=0)
    return {r["position"]: r for r in retarget_rows(subject.bridge, task, data, 0, ProbeOptions.alphas)}


@pytest.mark.trains
def test_the_search_criterion_is_retargeted_after_the_rule_token_and_not_in_a_random_init_twin(tmp_path):
    rows = rows_of(tmp_path / "trained", random_init=False)
    after, at_token = rows[AFTER], rows["rule"]
    assert after["effect"] >= 0.3 and after["effect"] >= after["control_effect"] + 0.25, after
    assert after["unsteered_effect"] <= 0.05 and at_token["effect"] <= 0.1, (after, at_token)
    assert after["n"] >= 100 and len(after["reach_by_alpha"]) == len(ProbeOptions.alphas)
    twin = rows_of(tmp_path / "twin", random_init=True)
    assert twin[AFTER]["effect"] <= 0.1, twin[AFTER]
