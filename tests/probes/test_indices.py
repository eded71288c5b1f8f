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
