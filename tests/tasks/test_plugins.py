"""A task from one file the package does not know: listed, trained and probed from the command line, and found
through a `mesaprobe.tasks` entry point."""
import pytest
import json
import shutil
import sys
from pathlib import Path

from typer.testing import CliRunner

from mesaprobe.cli import app
from mesaprobe.tasks import all_tasks, get_task

runner = CliRunner()
FIXTURE = Path(__file__).parent.parent / "plugin_fixtures" / "first_item.py"


@pytest.mark.trains
def test_a_task_file_is_listed_trained_and_probed(tmp_path):
    task_file = tmp_path / "my_task.py"
    shutil.copy(FIXTURE, task_file)
    spec = f"{task_file}:FirstItemTask"
    listed = runner.invoke(app, ["tasks", spec])
    assert listed.exit_code == 0 and "first-item" in listed.output and "K=3" in listed.output
    trained = runner.invoke(app, ["train", spec, "--out", str(tmp_path / "m")])
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "m" / "training.json").read_text())["behavior"]["accuracy"] > 0.9
    probed = runner.invoke(app, ["probe", str(tmp_path / "m"), spec, "--out", str(tmp_path / "r"), "--n", "150",
                                 "--seeds", "1", "--folds", "3"])
    assert probed.exit_code == 0, probed.output
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["task"]["spec"] == spec and results["behavior"]["accuracy"] > 0.9
    answer = next(r for r in results["probes"] if r["target"] == "answer" and r["layer"] == 1)
    assert answer["score"] > 0.9 and answer["score"] - answer["random_init"] > 0.2
    assert {r["method"] for r in results["causal"]} == {"leace", "interchange", "patch"}


def test_bad_task_files_are_one_line(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "plain.py").write_text("class NotATask: pass\n")
    (tmp_path / "exits.py").write_text("raise SystemExit(0)\n")  # once exited 0 having done nothing
    for spec, message in ((f"{tmp_path}/missing.py:X", "no such file"), (f"{tmp_path}/broken.py:X", "boom"),
                          (f"{tmp_path}/exits.py:X", "importing exits.py failed (SystemExit: 0)"),
                          (f"{tmp_path}/plain.py:Nope", "defines no 'Nope'"),
                          (f"{tmp_path}/plain.py:NotATask", "is not a mesaprobe task"),
                          (f"{tmp_path}/plain.py", "name the class too")):
        result = runner.invoke(app, ["tasks", spec])
        assert result.exit_code == 2 and result.output.startswith("error: ") and message in result.output, spec


def test_an_entry_point_task_is_found(tmp_path, monkeypatch):
    """A package that declares `[project.entry-points."mesaprobe.tasks"] first-item = "first_item:FirstItemTask"`."""
    shutil.copy(FIXTURE, tmp_path / "first_item.py")
    dist = tmp_path / "first_item_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: first-item-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mesaprobe.tasks]\nfirst-item = first_item:FirstItemTask\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert all_tasks()["first-item"].__name__ == "FirstItemTask"
    assert get_task("first-item", K=4).params["K"] == 4
    assert "first-item" in runner.invoke(app, ["tasks"]).output
    sys.modules.pop("first_item", None)
