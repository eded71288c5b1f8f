"""Index arithmetic on known rows: a margin over controls never credits a control's over-fitting."""
import pytest

from mesaprobe.probes.indices import beyond_controls


def row(score, control, random_init, obs, chance):
    return {"score": score, "control": control, "selectivity": score - control, "random_init": random_init,
            "obs_baseline": obs, "chance": chance}


def test_the_margin_is_over_the_strongest_control():
    assert beyond_controls(row(0.9, 0.3, 0.5, 0.6, 0.2)) == pytest.approx(0.3)
    assert beyond_controls(row(0.4, 0.3, 0.5, 0.1, 0.2)) == 0.0  # the random-init twin does better: no margin


def test_negative_r2_controls_count_as_chance_so_the_margin_stays_within_one():
    assert beyond_controls(row(1.0, -0.31, -0.84, -0.57, 0.0)) == pytest.approx(1.0)
    assert beyond_controls(row(0.6, -2.0, -1.0, -1.5, 0.0)) == pytest.approx(0.6)
