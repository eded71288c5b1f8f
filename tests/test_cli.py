"""The command line: listing, and bad input giving one clear line, a non-zero exit and nothing in --out."""
import pytest
from typer.testing import CliRunner

from mesaprobe.cli import app

runner = CliRunner()


def test_tasks_lists_both_families():
    result = runner.invoke(app, ["tasks"])
    assert result.exit_code == 0
    from mesaprobe.tasks import REGISTRY

    for name in REGISTRY:
        assert name in result.output
    assert "goal" in result.output and "search" in result.output


def test_help_teaches_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("tasks", "train", "probe", "demo"):
        assert command in result.output


@pytest.mark.parametrize("args,message", [
    (["train", "nope", "--out", "{out}"], "unknown task"),
    (["train", "argmax", "--out", "{out}", "-p", "K=99"], "out of range"),
    (["train", "argmax", "--out", "{out}", "-p", "K"], "bad --param"),
    (["train", "gridworld", "--out", "{out}", "--method", "dpo"], "unknown method"),
    (["train", "gridworld", "--out", "{out}", "-p", "walls=12"], "do not fit"),
    (["train", "gridworld", "--out", "{out}", "-p", "budget=4"], "below the longest shortest path"),
    (["train", "gridworld", "--out", "{out}", "--lr", "1e-4"], "--lr is for fine-tuning a --base model"),
    (["probe", "{tmp}/nowhere", "argmax", "--out", "{out}"], "no such model directory"),
    (["probe", "{tmp}", "argmax", "--out", "{out}"], "not a model directory"),
    (["probe", "someone/some-model", "argmax", "--out", "{out}"], "local directory"),
    (["probe", "{tmp}", "argmax", "--out", "{out}", "--n", "5"], "too small"),
])
def test_bad_input_is_one_line_and_leaves_nothing_behind(tmp_path, args, message):
    out = tmp_path / "out"
    args = [a.format(out=out, tmp=tmp_path) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()


def test_probing_a_goal_task_with_a_model_that_lacks_its_tokens(argmax_dir, tmp_path):
    result = runner.invoke(app, ["probe", str(argmax_dir[0]), "gridworld", "--out", str(tmp_path / "o"), "--n", "60"])
    assert result.exit_code == 2 and "lacks the task's" in result.output
    assert not (tmp_path / "o").exists()
