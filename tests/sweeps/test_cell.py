"""A cell's sweep.csv row: knobs, behaviour, indices with CIs, the held-out rule and rule transfer where measured."""
from mesaprobe.sweeps.cell import row_of
from mesaprobe.sweeps.grid import Cell

RESULTS = {"behavior": {"accuracy": 0.9}, "verdict": "neither",
           "indices": {"search": {"value": 0.1, "ci": [0.05, 0.15]}}}


def test_a_row_carries_the_held_out_rule_and_rule_transfer_at_the_best_block():
    cell = Cell("argmax", {"K": 6, "rule": 1, "rules": 2}, "sl", 0)
    transfer = {"layers": [-1, 0, 1], "best_layer": 0, "within": [0.2, 0.9, 0.8], "across": [0.1, 0.7, 0.6],
                "separate": [0.0, 0.1, 0.1], "sharing": 0.75}
    row = row_of(cell, RESULTS | {"rule_transfer": transfer},
                 {"behavior": {"accuracy": 0.95, "held_out_accuracy": 0.2}}, 1.0, 2.0)
    assert row["rules"] == 2 and row["behavior"] == 0.9 and row["train_behavior"] == 0.95
    assert row["search_index_lo"] == 0.05 and row["held_out_rule_behavior"] == 0.2
    assert (row["rule_within"], row["rule_across"], row["rule_separate"], row["rule_sharing"]) == (0.9, 0.7, 0.1, 0.75)


def test_a_row_without_rules_has_no_rule_columns():
    row = row_of(Cell("argmax", {"K": 6}, "sl", 0), RESULTS, {"behavior": {"accuracy": 0.95}}, 1.0, 2.0)
    assert not [k for k in row if k.startswith(("rule_", "held_out"))]
