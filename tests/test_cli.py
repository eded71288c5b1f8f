"""The command line: listing, and bad input giving one clear line, a non-zero exit and nothing in --out."""
from pathlib import Path

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
    (["train", "argmax", "--out", "{out}", "--seed", "18446744073709551616"], "give a seed in"),
    (["--threads", "100000", "train", "argmax", "--out", "{out}"], "--threads 100000"),
    (["train", "argmax", "--out", "{tmp}/" + "x" * 240], "too long a name"),
])
def test_bad_input_is_one_line_and_leaves_nothing_behind(tmp_path, args, message, one_error_line):
    out = tmp_path / "out"
    one_error_line(runner.invoke(app, [a.format(out=out, tmp=tmp_path) for a in args]), message)
    assert not out.exists()


def test_an_out_through_a_new_directory_and_back_creates_nothing(tmp_path, one_error_line):
    (tmp_path / "mine.txt").write_text("kept")
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(tmp_path / "newx" / "..")]),
                   "already exists and is not empty")
    assert not (tmp_path / "newx").exists() and (tmp_path / "mine.txt").read_text() == "kept"


def test_probing_a_goal_task_with_a_model_that_lacks_its_tokens(argmax_dir, tmp_path):
    result = runner.invoke(app, ["probe", str(argmax_dir[0]), "gridworld", "--out", str(tmp_path / "o"), "--n", "60"])
    assert result.exit_code == 2 and "lacks the task's" in result.output
    assert not (tmp_path / "o").exists()


def test_a_truncated_safetensors_file_is_one_line(model_copy, tmp_path, one_error_line):
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    one_error_line(runner.invoke(app, ["probe", str(model_copy), "argmax", "--out", str(tmp_path / "r")]),
                   "cannot load")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("content,message", [
    ('{"schema": "mesaprobe.res', "not valid JSON"),
    ("[]", "not a mesaprobe results file"),
    ('{"verdict": "both"}', "not a mesaprobe results file"),
    ('{"schema": "mesaprobe.results/1", "model": {}}', "incomplete"),
])
def test_a_broken_results_file_is_one_line_for_report_and_card(argmax_dir, tmp_path, content, message, one_error_line):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(content)
    one_error_line(runner.invoke(app, ["report", str(tmp_path / "run"), "--out", str(tmp_path / "r.html")]), message)
    card = runner.invoke(app, ["card", str(argmax_dir[0]), "--results", str(tmp_path / "run")])
    one_error_line(card, message)
    assert not (tmp_path / "r.html").exists()


def test_train_refuses_an_unwritable_out_before_training(tmp_path, monkeypatch, one_error_line):
    import mesaprobe.models.training.train as train_module

    def must_not_train(*a, **k):
        raise AssertionError("training started before --out was checked")

    monkeypatch.setattr(train_module, "train_into", must_not_train)
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", "/proc/mesaprobe-model"]), "cannot write in")
    (tmp_path / "existing").write_text("a file")
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(tmp_path / "existing")]), "is a file")
    assert (tmp_path / "existing").read_text() == "a file"


def test_report_out_naming_a_directory_is_one_line(argmax_run, tmp_path, one_error_line):
    one_error_line(runner.invoke(app, ["report", str(argmax_run[0]), "--out", str(tmp_path)]), "is a directory")


@pytest.mark.parametrize("args,message", [
    (["--folds", "1"], "at least 2 folds"), (["--folds", "0"], "at least 2 folds"),
    (["--seeds", "0"], "at least 1 seed"), (["--seeds", "-1"], "at least 1 seed"),
    (["-p", "K=²"], "bad --param"), (["-p", "K=٣"], "bad --param"),
    (["--max-layer", "-5"], "--max-layer -5 is out of range"), (["--max-layer", "99"], "--max-layer 99 is out of range"),
    (["--alphas", "0"], "must be positive"), (["--alphas", "2,-1"], "must be positive"),
    (["--alphas", "two"], "bad --alphas"), (["--steer", "sometimes"], "--steer 'sometimes'"),
    (["--causal-layers", "1,x"], "bad --causal-layers"), (["--causal-layers", "99"], "within the probed 0.."),
    (["--max-layer", "0", "--causal-layers", "1"], "within the probed 0..0"),
    (["--seed", "-5"], "give a seed in"),
])
def test_bad_probe_options_are_one_line_and_leave_nothing(argmax_dir, tmp_path, args, message, one_error_line):
    out = tmp_path / "r"
    one_error_line(runner.invoke(app, ["probe", str(argmax_dir[0]), "argmax", "--out", str(out), *args]), message)
    assert not out.exists() and not list(tmp_path.glob(".r.*"))


@pytest.mark.parametrize("args,message", [
    (["--width", "30"], "a multiple of the heads"), (["--layers", "0"], "all must be positive"),
    (["--pool", "0"], "--pool must be at least 1"), (["--base", "smollm2", "--pool", "8"], "for tiny models"),
    (["--base", "smollm2", "--until-bar"], "--until-bar are for tiny models"),
])
def test_bad_train_sizes_are_one_line_and_leave_nothing(tmp_path, args, message, one_error_line):
    out = tmp_path / "m"
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(out), *args]), message)
    assert not out.exists() and not list(tmp_path.glob(".m.*"))


@pytest.mark.parametrize("args,message", [
    (["--vary", "colour=1,2"], "cannot vary 'colour'"), (["--vary", "K=1,3"], "K=1 is out of range"),
    (["--vary", "K=three"], "takes integers"), (["--methods", "dpo"], "--methods 'dpo'"),
    (["--training-seeds", "0"], "--training-seeds >= 1"), (["--workers", "-1"], "--workers must be >= 0"),
])
def test_bad_sweeps_are_one_line_and_leave_nothing(tmp_path, args, message, one_error_line):
    out = tmp_path / "s"
    one_error_line(runner.invoke(app, ["sweep", "argmax", "--out", str(out), *args]), message)
    assert not out.exists()


def test_an_unknown_experiment_is_one_line(tmp_path, one_error_line):
    one_error_line(runner.invoke(app, ["experiment", "vibes", "--out", str(tmp_path / "e")]), "unknown experiment")


@pytest.mark.parametrize("content, message", [("[1, 2]", "is a JSON list"), ('{"a":', "is not valid JSON")])
def test_a_damaged_training_json_is_one_line_for_probe_and_card(model_copy, tmp_path, content, message,
                                                                 one_error_line):
    (model_copy / "training.json").write_text(content)
    one_error_line(runner.invoke(app, ["card", str(model_copy)]), message)
    out = tmp_path / "r"
    one_error_line(runner.invoke(app, ["probe", str(model_copy), "argmax", "--out", str(out), "--n", "50"]), message)
    assert not out.exists()


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["probes"][0].update(score="abc"), "score is 'abc', not a float"),
    (lambda r: r["probes"][0].update(layer="x"), "layer is 'x', not an int"),
    (lambda r: r["task"].update(params=[]), "`task.params` is not an object"),
])
def test_a_hand_edited_results_file_is_one_line_for_report(argmax_run, tmp_path, edit, message, one_error_line):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(argmax_run[0], run)
    results = json.loads((run / "results.json").read_text())
    edit(results)
    (run / "results.json").write_text(json.dumps(results))
    one_error_line(runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")]), message)
    (run / "results.json").write_text(json.dumps(json.loads((Path(argmax_run[0]) / "results.json").read_text())))
    (run / "config.json").write_text('{"model":')
    one_error_line(runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")]), "is not valid JSON")


def test_version_and_shell_completion_are_offered():
    from mesaprobe import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"mesaprobe {__version__}"
    assert "--install-completion" in runner.invoke(app, ["--help"]).output


def test_every_command_calls_the_api_function_of_its_name():
    """cli.py only parses: each command's body imports its work from mesaprobe.api, the facade the Python API is."""
    import inspect

    import typer

    import mesaprobe.api as api

    for command in typer.main.get_command(app).commands.values():
        source = inspect.getsource(command.callback)
        assert f"from mesaprobe.api import {command.name}" in source, command.name
        assert callable(getattr(api, command.name)), command.name


def test_a_probe_ends_with_its_evidence_table_the_verdict_index_ci_and_the_report_command(argmax_dir, tmp_path):
    out = tmp_path / "r"
    result = runner.invoke(app, ["probe", str(argmax_dir[0]), "argmax", "--out", str(out), "--n", "150",
                                 "--data-seeds", "2", "--folds", "2"])
    assert result.exit_code == 0, result.output
    import json
    import re

    results = json.loads((out / "results.json").read_text())
    assert f"verdict: {results['verdict']}" in result.output and "index [95% CI]" in result.output
    last = result.output.strip().splitlines()[-1]
    assert re.search(r"search index \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", last), last
    assert last.endswith(f"mesaprobe report {out} --out report.html") and "{" not in last  # no raw dict
