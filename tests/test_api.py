"""The Python API: `import mesaprobe` is light and exposes what the CLI calls."""
import subprocess
import sys
from pathlib import Path

import pytest

import mesaprobe


def test_the_api_reads_a_run_as_data_frames(argmax_run):
    out, results = argmax_run
    assert mesaprobe.load_results(out)["verdict"] == results["verdict"]
    probes, causal = mesaprobe.results_frame(out)
    assert len(probes) == len(results["probes"]) and len(causal) == len(results["causal"])
    assert {"target", "layer", "score", "control", "random_init", "obs_baseline"} <= set(probes.columns)
    best = probes.sort_values("selectivity").iloc[-1]
    assert best["selectivity"] == max(r["selectivity"] for r in results["probes"])
    assert set(causal["method"]) == {"leace", "interchange", "patch", "score-swap"}


def test_probe_through_the_api_equals_the_command_line(argmax_dir, tmp_path):
    from typer.testing import CliRunner

    from mesaprobe.cli import app

    api = mesaprobe.probe(argmax_dir[0], "argmax", tmp_path / "api", n=60, seeds=1, folds=3, causal=False,
                          progress=False)
    cli = CliRunner().invoke(app, ["probe", str(argmax_dir[0]), "argmax", "--out", str(tmp_path / "cli"), "--n", "60",
                                   "--seeds", "1", "--folds", "3", "--no-causal"])
    assert cli.exit_code == 0
    assert mesaprobe.load_results(tmp_path / "cli")["probes"] == api["probes"]
    assert {s["method"] for s in api["causal_skipped"]} == {"leace", "interchange", "patch", "das", "retarget",
                                                             "score-swap"}


def test_importing_mesaprobe_loads_no_heavy_library():
    code = "import sys, mesaprobe; print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_user_error_is_exported():
    with pytest.raises(mesaprobe.UserError):
        mesaprobe.probe("m", "argmax", "out", folds="3")


def test_a_model_probed_by_its_tasks_name_alone_is_probed_on_the_parameters_it_learned(capsys):
    from pathlib import Path

    from mesaprobe.api import _trained_params

    closest = Path(__file__).parent / "fixtures" / "argmax-closest-sl"
    assert _trained_params(closest, "argmax")["rule"] == 3 and "rule=3" in capsys.readouterr().err
    assert _trained_params(closest, "rocks") is None  # another task: its own defaults
    assert _trained_params(Path(__file__).parent / "fixtures" / "argmax-sl", "argmax")["rule"] == 0


def test_the_lazy_exports_are_listed_for_completion():
    assert {"train", "probe", "results_frame", "sweep"} <= set(dir(mesaprobe))


def test_runs_and_rows_of_several_runs_are_tables_with_a_run_column_and_export_to_parquet(tmp_path):
    import pandas as pd

    import mesaprobe

    gallery = Path(__file__).parents[1] / "experiments" / "results" / "gallery"
    runs = [gallery / "argmax-closest-K7-sl-0", gallery / "goal-sum-sl"]
    table = mesaprobe.runs_frame(*runs)
    assert list(table["verdict"]) == ["search-in-map", "goal-across-time"]  # the gallery's known answers
    assert table.loc[0, "search_route"] == "attention" and table.loc[1, "goal_index"] > 0.1
    probes, causal = mesaprobe.results_frame(*runs)
    assert set(probes["run"]) == {str(r) for r in runs} and set(causal["run"]) == {str(r) for r in runs}
    written = mesaprobe.export(runs, tmp_path / "t" / "runs.parquet")
    assert [p.name for p in written] == ["runs.parquet", "runs.probes.parquet", "runs.causal.parquet"]
    assert pd.read_parquet(written[0]).equals(table) and len(pd.read_parquet(written[1])) == len(probes)
    with pytest.raises(mesaprobe.UserError, match="exists; pass --overwrite"):
        mesaprobe.export(runs, tmp_path / "t" / "runs.parquet")
    assert not list((tmp_path / "t").glob(".*partial"))
    with pytest.raises(mesaprobe.UserError, match="a .parquet or a .csv"):
        mesaprobe.export(runs, tmp_path / "t" / "runs.xlsx")


def test_probe_and_train_show_their_options_as_typed_keywords():
    import dataclasses
    import inspect

    from mesaprobe.models.training.options import TrainOptions
    from mesaprobe.probes.options import ProbeOptions

    for fn, options in ((mesaprobe.probe, ProbeOptions), (mesaprobe.train, TrainOptions)):
        params = inspect.signature(fn).parameters
        for field in dataclasses.fields(options):
            assert params[field.name].kind is inspect.Parameter.KEYWORD_ONLY
            assert params[field.name].default == field.default
    assert inspect.signature(mesaprobe.probe).parameters["folds"].annotation is int


def test_an_export_refused_for_one_of_its_tables_writes_none(tmp_path):
    import shutil

    import mesaprobe

    run = shutil.copytree(Path(__file__).parents[1] / "experiments/results/gallery/goal-sum-sl", tmp_path / "run")
    with pytest.raises(mesaprobe.UserError, match="which this command reads"):
        mesaprobe.export([run], run / "runs.csv")  # inside the run it reads
    assert not list(run.glob("runs*")) and not list(run.glob(".runs*"))
