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


def test_one_size_at_a_time_and_the_standard_size_raises_what_quick_left_below_its_bar():
    from mesaprobe.errors import UserError
    from mesaprobe.sweeps.named import size_of

    assert (size_of(False, False), size_of(True, False), size_of(False, True)) == ("full", "quick", "standard")
    assert size_of(False, False, "standard") == "standard" and size_of(True, False, "quick") == "quick"
    with pytest.raises(UserError, match="give one size, not quick and standard"):
        size_of(True, True)
    with pytest.raises(UserError, match="give one size, not quick and standard"):
        size_of(True, False, "standard")
    with pytest.raises(UserError, match="--size 'huge'"):
        size_of(False, False, "huge")
    with pytest.raises(UserError, match="unknown size"):
        EXPERIMENTS["candidates"].spec("huge")
    rulesets = EXPERIMENTS["rulesets"]
    assert rulesets.spec("standard").steps > rulesets.spec("quick").steps
    meta = EXPERIMENTS["meta-learning"].spec("standard")
    assert meta.fixed["n"] >= 6 and meta.steps == 0  # the task's own steps; 6 examples for the depth signature
    assert EXPERIMENTS["rl-vs-sl"].spec("standard").task == "rock-field"  # a goal the prompt does not show
