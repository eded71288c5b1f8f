"""Index arithmetic on known rows: a margin over controls never credits a control's over-fitting."""
import pytest

from mesaprobe.probes.indices import beyond_controls, depth_signature
from mesaprobe.tasks import get_task


def row(score, control, random_init, obs, chance):
    return {"score": score, "control": control, "selectivity": score - control, "random_init": random_init,
            "obs_baseline": obs, "chance": chance}


def test_the_margin_is_over_the_strongest_control():
    assert beyond_controls(row(0.9, 0.3, 0.5, 0.6, 0.2)) == pytest.approx(0.3)
    assert beyond_controls(row(0.4, 0.3, 0.5, 0.1, 0.2)) == 0.0  # the random-init twin does better: no margin


def test_negative_r2_controls_count_as_chance_so_the_margin_stays_within_one():
    assert beyond_controls(row(1.0, -0.31, -0.84, -0.57, 0.0)) == pytest.approx(1.0)
    assert beyond_controls(row(0.6, -2.0, -1.0, -1.5, 0.0)) == pytest.approx(0.6)


def depth_rows(best_layer_by_pair: dict[int, int | None], layers: int = 4) -> list[dict]:
    """`hypotheses` rows that peak (0.8 over controls at 0) at the given layer per pair; None: nothing decodable."""
    rows = []
    for k, peak in best_layer_by_pair.items():
        for layer in range(layers):
            score = 0.8 if layer == peak else 0.3 if peak is not None else 0.0
            rows.append(dict(row(score, 0.0, 0.0, 0.0, 0.0), target="hypotheses", position=f"pair{k}", layer=layer))
    return rows


def test_depth_signature_reads_the_layer_that_decodes_each_example_best():
    task = get_task("icl-linear", n=5)
    rising = depth_signature(task, depth_rows({0: None, 1: 0, 2: 1, 3: 2, 4: 3}))
    assert rising == {"best_layer_by_example": {1: 0, 2: 1, 3: 2, 4: 3}, "rho": pytest.approx(1.0)}
    assert depth_signature(task, depth_rows({0: None, 1: 3, 2: 2, 3: 1, 4: 0}))["rho"] == pytest.approx(-1.0)
    assert depth_signature(task, depth_rows({0: None, 1: 2, 2: 2, 3: 2, 4: 2}))["rho"] is None  # one layer for all
    assert depth_signature(task, depth_rows({0: None, 1: 0, 2: 1, 3: None, 4: None}))["rho"] is None  # two points


def test_the_readout_check_says_yes_no_or_that_its_control_cannot_tell():
    from mesaprobe.probes.indices import readout, readout_word

    row = lambda effect, control, layer=1: {"method": "leace", "target": "answer", "layer": layer, "position": "answer",
                                            "effect": effect, "control_effect": control}
    assert readout_word(readout([row(0.9, 0.05), row(0.1, 0.0, 0)], ("leace",))) == "yes"
    assert readout_word(readout([row(0.02, 0.01)], ("leace",))) == "no"
    # 63 of 64 dimensions erased: the random subspace of that rank changes the answer as much as the probe's
    check = readout([row(0.96, 0.965), row(0.01, 0.015, 0)], ("leace",))
    assert check["carried"] is None and readout_word(check) == "undetermined"
    assert readout([row(0.9, 0.05)], ("interchange",)) is None  # no evidence method tested the answer


def attention_record(beyond_by_block: dict[int, float], accuracy=1.0, position_free=1.0, k=5) -> dict:
    heads = [{"block": b, "head": h, "rho": v if h == 0 else 0.0, "random_init": 0.0, "position_only": 0.0,
              "shuffled": 0.0} for b, v in beyond_by_block.items() for h in range(2)]
    blocks = [{"block": b, "breadth": 0.9, "breadth_random_init": 0.5} for b in beyond_by_block]
    return {"heads": heads, "blocks": blocks, "position_free_accuracy": position_free, "accuracy": accuracy, "k": k}


def swap(block: int, effect: float, control: float = 0.0) -> dict:
    return {"method": "score-swap", "target": "candidate_scoring", "layer": block, "position": "answer",
            "effect": effect, "control_effect": control, "n": 100}


def test_the_attention_route_pairs_ranking_and_its_swap_at_one_block():
    from mesaprobe.probes.indices import attention_route

    # block 0 ranks but its swap does nothing; block 1 ranks less, and its swap moves the answer: block 1 counts
    route = attention_route(attention_record({0: 0.9, 1: 0.5}), [swap(0, 0.02), swap(1, 0.8, 0.1)])
    assert route == {"decodability": 0.5, "causal": pytest.approx(0.7), "block": 1}
    assert attention_route(attention_record({0: 0.9}), None) == {"decodability": 0.9, "causal": None, "block": 0}


def test_attention_read_on_instances_a_shortcut_model_cannot_answer_counts_for_nothing():
    from mesaprobe.probes.indices import attention_route

    route = attention_route(attention_record({0: 0.4}, accuracy=1.0, position_free=0.33), [swap(0, 0.3, 0.1)])
    assert route["decodability"] == route["causal"] == 0.0 and "0.330 against 1.000" in route["void"]
    kept = attention_route(attention_record({0: 0.4}, accuracy=0.97, position_free=0.95), [swap(0, 0.3, 0.1)])
    assert "void" not in kept and kept["causal"] == pytest.approx(0.2)


def test_search_is_supported_by_either_route_and_reports_its_breadth():
    from mesaprobe.probes.indices import summarize

    task = get_task("argmax")
    probes = [[dict(row(0.5, 0.0, 0.0, 0.0, 0.0), target="running_max", position="item3", layer=0)]] * 3
    unused = [[{"method": "interchange", "target": "running_max", "layer": 0, "position": "item3", "effect": 0.05,
                "control_effect": 0.0, "n": 100}, swap(0, 0.9)]] * 3
    indices, verdict = summarize(task, probes, unused)
    assert verdict == "inconclusive" and "route" not in indices["search"]  # no attention records: residual only
    indices, verdict = summarize(task, probes, unused, [attention_record({0: 0.8})] * 3)
    search = indices["search"]
    assert verdict == "search-in-map" and search["route"] == "attention" and search["value"] == pytest.approx(0.8)
    assert search["routes"]["residual"]["value"] == pytest.approx(0.05)
    assert search["breadth"]["value"] == pytest.approx(0.9) and search["breadth"]["candidates"]["value"] == 4.0
    shortcut = [attention_record({0: 0.8}, position_free=0.3)] * 3
    assert summarize(task, probes, unused, shortcut)[1] == "inconclusive"


def test_a_random_models_best_head_is_held_to_the_twins_best_head_in_any_block():
    from mesaprobe.probes.indices import attention_route

    record = attention_record({0: 0.05, 1: 0.13})
    for h in record["heads"]:  # the twin's best head, in block 0, ranks at 0.07; in block 1 at 0.01
        h["random_init"] = 0.07 if h["block"] == 0 else 0.01
    assert attention_route(record, None)["decodability"] == pytest.approx(0.06)  # 0.13 - 0.07, not 0.13 - 0.01
