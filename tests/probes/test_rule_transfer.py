"""Rule transfer on planted activations: a stream that holds the running best under the row's own rule in one
direction shares it (sharing ~1); one that holds every rule's running best in its own direction does not (~0);
a stream of noise reads nothing. The labels are those of real argmax instances."""
from dataclasses import dataclass

import numpy as np
import pytest

from mesaprobe.models.subjects.subject import ProbeInputs
from mesaprobe.probes.linear_suite import ProbeData
from mesaprobe.probes.rule_transfer import merge_transfers, rule_transfer
from mesaprobe.schema import label_key
from mesaprobe.tasks import get_task

TASK = get_task("argmax", K=4, rules=3)  # largest, smallest, second largest


@dataclass
class PlantedStore:
    """An ActivationStore stand-in: layer -> position -> [n, d]."""

    acts: dict

    @property
    def layers(self):
        return sorted(self.acts)

    def load(self, layer, position):
        return self.acts[layer][position]


def labels_of(n: int, seed: int = 0) -> dict:
    rows = [inst.labels for inst in TASK.instances(n, seed=seed)]
    return {label_key(t, p): np.array([r[t][p] for r in rows], dtype=float) for t in rows[0] for p in rows[0][t]}


def planted(labels: dict, layout: str, seed: int = 0) -> PlantedStore:
    rng = np.random.default_rng(seed)
    acts = {}
    for p in TASK.items():
        noise = rng.normal(size=(len(labels[label_key("rule", "rule")]), 16))
        rule = labels[label_key("rule", "rule")]
        if layout == "shared":  # the running best under the row's own rule, one direction, each rule at its own scale
            noise[:, 0] += labels[label_key("running_best", p)] * (1 + rule) + 30 * rule
        elif layout == "per-rule":  # every rule's running best, each in its own direction, whatever the row's rule
            for r in range(3):
                noise[:, r] += labels[label_key(f"running_best_under{r}", p)]
        acts[p] = noise
    return PlantedStore({0: acts})


def data_with(layout: str, n: int = 900) -> ProbeData:
    labels = labels_of(n)
    return ProbeData(np.zeros((n, 7), dtype=int), rows_with(labels), planted(labels, layout),
                     planted(labels, "noise", 1), vocab_size=70, seed=0)


def rows_with(labels: dict) -> ProbeInputs:
    """A subject's rows that carry only labels."""
    return ProbeInputs(dataset=None, sequences=[], positions={}, labels=labels, behavior=None)


def test_one_shared_direction_transfers_across_rules():
    out = rule_transfer(data_with("shared"), TASK)
    assert out["positions"] == ["item1", "item2", "item3"]  # at item0 every rule's pick is the same number
    assert out["within"][0] > 0.95 and out["across"][0] > 0.95
    assert out["separate"][0] < 0.6  # the rules' answers differ enough for the test to mean something
    assert out["sharing"] > 0.9
    assert out["random_init_within"][0] < 0.05


def test_one_direction_per_rule_does_not_transfer():
    out = rule_transfer(data_with("per-rule"), TASK)
    assert out["within"][0] > 0.95
    assert abs(out["across"][0] - out["separate"][0]) < 0.1
    assert out["sharing"] < 0.15


def test_noise_reads_nothing_and_sharing_is_undefined():
    out = rule_transfer(data_with("noise"), TASK)
    assert out["within"][0] < 0.05
    assert out["sharing"] is None


def test_no_transfer_without_several_rules_and_seeds_merge():
    single = get_task("argmax", K=4)
    labels = {label_key("running_best", "item1"): np.zeros(50)}
    assert rule_transfer(ProbeData(np.zeros((50, 6), dtype=int), rows_with(labels), None, None, 70, 0), single) is None
    a, b = rule_transfer(data_with("shared"), TASK), rule_transfer(data_with("per-rule"), TASK)
    merged = merge_transfers([a, None, b])
    assert merged["within"][0] == pytest.approx((a["within"][0] + b["within"][0]) / 2)
    assert merged["sharing_by_seed"] == [a["sharing"], b["sharing"]]


def test_a_held_out_rule_keeps_the_vocabulary_and_names_the_left_out_rule():
    for rules in (1, 2, 3):  # smallest, then second largest, then closest: largest left out of each
        task = get_task("argmax", rule=1, rules=rules)
        held = get_task("argmax", **task.held_out())
        assert held.params["rule"] == 0 and held.ruled and held.vocabulary() == task.vocabulary()
    assert {inst.meta["rule"] for inst in held.instances(50, seed=0)} == {0}
    assert get_task("argmax", rules=4).held_out() is None and get_task("argmax").held_out() is None
