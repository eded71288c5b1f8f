"""Every named experiment is a valid grid at both sizes, and `mesaprobe experiment --help` names each one."""
import pytest
from typer.testing import CliRunner

from mesaprobe.cli import app
from mesaprobe.sweeps.named import EXPERIMENTS


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_experiment_grids_expand_at_both_sizes(name):
    experiment = EXPERIMENTS[name]
    quick, full = experiment.spec(quick=True).cells(), experiment.spec(quick=False).cells()
    assert 1 < len(quick) <= len(full)
    assert experiment.claim.endswith("?")  # each states the question it answers


def test_experiment_help_names_every_experiment():
    text = CliRunner().invoke(app, ["experiment", "--help"], terminal_width=200).output
    assert all(name in text for name in EXPERIMENTS)
