"""Comparisons across training seeds: a planted difference between conditions is found, identical conditions give
none, and a model's measures come from its own results (data seeds already averaged)."""
import numpy as np

from mesaprobe.reports.compare import compare, excludes_zero, model_measures


def models(values):
    return [{"goal_index": v, "behavior": 0.99} for v in values]


def test_a_planted_difference_between_conditions_is_found():
    rng = np.random.default_rng(0)
    a, b = models(0.40 + 0.02 * rng.standard_normal(5)), models(0.10 + 0.02 * rng.standard_normal(5))
    row = next(r for r in compare(a, b) if r["key"] == "goal_index")
    assert 0.25 < row["difference"] < 0.35 and excludes_zero(row)
    assert row["ci_a"][0] <= row["mean_a"] <= row["ci_a"][1] and row["n_a"] == row["n_b"] == 5


def test_conditions_drawn_alike_give_a_ci_that_covers_zero():
    rng = np.random.default_rng(1)
    a, b = models(0.3 + 0.05 * rng.standard_normal(6)), models(0.3 + 0.05 * rng.standard_normal(6))
    row = next(r for r in compare(a, b) if r["key"] == "goal_index")
    assert not excludes_zero(row)
    same = next(r for r in compare(a, a) if r["key"] == "goal_index")
    assert same["difference"] == 0.0


def test_a_measure_one_condition_lacks_is_left_out():
    assert [r["key"] for r in compare(models([0.1, 0.2]), [{"behavior": 0.9}])] == ["behavior"]


def test_model_measures_take_the_best_steering_block_and_its_own_control():
    results = {"behavior": {"success_rate": 0.97, "optimal_rate": 0.9},
               "indices": {"search": {"value": None}, "goal": {"value": 0.3, "decodability": {"value": 0.35},
                                                               "causal": {"value": 0.3}, "horizon": [3, 2, 1]}},
               "causal": [{"method": "steer", "effect": 0.2, "control_effect": 0.01},
                          {"method": "steer", "effect": 0.6, "control_effect": 0.05},
                          {"method": "leace", "effect": 0.9, "control_effect": 0.0}]}
    m = model_measures(results)
    assert m["behavior"] == 0.97 and m["goal_index"] == 0.3 and m["horizon"] == 2.0
    assert (m["steer_reach"], m["steer_random"]) == (0.6, 0.05) and "search_index" not in m


def fake_results(method: str, goal: float, success: float = 0.99) -> dict:
    return {"model": {"training": method}, "task": {"name": "rock-field"}, "behavior": {"success_rate": success},
            "indices": {"goal": {"value": goal}, "search": {"value": None}}, "causal": []}


def test_the_report_compares_two_methods_across_training_seeds_and_counts_models_below_the_bar():
    from mesaprobe.reports.html import across_seeds_section

    runs = [(f"sl-{i}", fake_results("sl", 0.30 + 0.01 * i)) for i in range(3)]
    runs += [(f"rl-{i}", fake_results("rl", 0.10 + 0.01 * i, success=0.90 if i == 0 else 0.97)) for i in range(3)]
    page = across_seeds_section(runs)
    assert "Across training seeds" in page and "sl - rl" in page
    assert "sl (3 models, 0 below bar)" in page and "rl (3 models, 1 below bar)" in page
    assert "0.200 [" in page  # the planted goal-index difference
    assert across_seeds_section(runs[:4]) == ""  # one RL model: no comparison across seeds


def test_the_sweep_report_compares_a_knobs_last_value_with_its_first():
    from mesaprobe.reports.sweep import knob_differences

    rows = [{"task": "argmax", "method": "sl", "seed": s, "K": k, "behavior_metric": "accuracy", "behavior": 0.99,
             "search_index": (0.05 if k == 3 else 0.25) + 0.01 * s} for k in (3, 6, 10) for s in range(3)]
    page = knob_differences(rows, ["K"])
    assert "K: 10 vs 3 (sl)" in page and "K=10 - K=3" in page and "<td>0.200 [0.1" in page and "<td>True</td>" in page
    assert "K=3 (3 models, 0 below bar)" in page
