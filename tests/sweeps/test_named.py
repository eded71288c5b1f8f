"""Every named experiment is a valid grid at both sizes, and `mesaprobe experiment --help` names each one."""
import pytest
from typer.testing import CliRunner

from mesaprobe.cli import app
from mesaprobe.sweeps.named import EXPERIMENTS


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_grids_expand_at_every_size(name):
    experiment = EXPERIMENTS[name]
    quick, standard, full = (experiment.spec(size).cells() for size in ("quick", "standard", "full"))
    assert 1 < len(quick) < len(standard) <= len(full)
    assert {c.seed for c in standard} == {0, 1, 2}  # findings compare across 3 training seeds
    assert experiment.claim.endswith("?")  # each states the question it answers


def test_experiment_help_names_every_experiment():
    text = CliRunner().invoke(app, ["experiment", "--help"], terminal_width=200).output
    assert all(name in text for name in EXPERIMENTS)
