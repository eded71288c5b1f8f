"""Model cards: parse with huggingface_hub, carry the findings, and push only when asked (never leaking the token)."""
import shutil

import pytest
from huggingface_hub import ModelCard
from typer.testing import CliRunner

from mesaprobe.cli import app

runner = CliRunner()


@pytest.fixture
def model_copy(argmax_dir, tmp_path):
    return shutil.copytree(argmax_dir[0], tmp_path / "argmax-sl")


def test_train_writes_a_card_that_parses(argmax_dir):
    card = ModelCard.load(argmax_dir[0] / "README.md")
    assert "mesaprobe" in card.data.tags and card.data.library_name == "transformers"
    assert "## Training" in card.text and "mesaprobe train argmax --method sl" in card.text
    assert card.data.model_name == "argmax-sl" and "# argmax-sl" in card.text  # not the temporary directory's name
    assert "--layers 2 --width 64 --steps 1500 --out argmax-sl`" in card.text  # the size it was trained at
    assert "## How to use" in card.text and 'AutoModelForCausalLM.from_pretrained("argmax-sl")' in card.text
    assert card.data.license is None and card.data.pipeline_tag == "text-generation"  # no license assumed


def test_card_reproduce_line_passes_only_parameters_train_accepts(tmp_path):
    """goal-sum resolves walls/heldout/proxy internally; `train -p walls=0` would be refused."""
    import json

    from mesaprobe.reports.card import build_card
    from mesaprobe.tasks import get_task

    (tmp_path / "training.json").write_text(json.dumps({"method": "sl", "task": get_task("goal-sum").describe(),
                                                        "seed": 0, "steps": 10, "size": {"n_layer": 5, "n_embd": 64}}))
    line = next(l for l in str(build_card(tmp_path, [], name="m")).splitlines() if "reproduce" in l)
    assert "-p ties=2" in line and "walls" not in line and "--layers 5 --width 64" in line


def test_card_with_results_has_a_model_index_and_the_verdict(model_copy, argmax_run):
    result = runner.invoke(app, ["card", str(model_copy), "--results", str(argmax_run[0])])
    assert result.exit_code == 0, result.output
    card = ModelCard.load(model_copy / "README.md")
    metrics = card.data.to_dict()["model-index"][0]["results"][0]["metrics"]
    types = {m["type"] for m in metrics}
    assert "behavior/accuracy" in types and "index/search" in types
    assert any(t.startswith("leace/") for t in types)
    assert f"verdict: **{argmax_run[1]['verdict']}**" in card.text and "Caveats" in card.text
    assert "mesaprobe probe" in card.text and "-p K=5" in card.text  # the exact command, parameters too


def test_card_keeps_a_card_the_user_edited_until_asked_and_writes_breadth(model_copy, argmax_run):
    readme = model_copy / "README.md"
    readme.write_text(readme.read_text() + "\n## notes\n")  # the generator tag stays; the content is the user's
    result = runner.invoke(app, ["card", str(model_copy), "--results", str(argmax_run[0])])
    assert result.exit_code == 2 and "edited since mesaprobe wrote it" in result.output
    assert readme.read_text().endswith("## notes\n")
    result = runner.invoke(app, ["card", str(model_copy), "--results", str(argmax_run[0]), "--replace-readme"])
    assert result.exit_code == 0, result.output
    metrics = ModelCard.load(readme).data.to_dict()["model-index"][0]["results"][0]["metrics"]
    assert "search/breadth" in {m["type"] for m in metrics}
    again = runner.invoke(app, ["card", str(model_copy), "--results", str(argmax_run[0])])
    assert again.exit_code == 0, again.output  # the card it wrote itself may be replaced


def test_text_from_a_results_file_lands_in_the_card_as_text_not_markup(model_copy, argmax_run, tmp_path):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(argmax_run[0], run)
    results = json.loads((run / "results.json").read_text())
    results["model"]["source"] = "<script>alert(1)</script>"  # lands in the card's reproduce line
    (run / "results.json").write_text(json.dumps(results))
    result = runner.invoke(app, ["card", str(model_copy), "--results", str(run)])
    assert result.exit_code == 0, result.output
    text = (model_copy / "README.md").read_text()
    assert "<script>" not in text


class RecordingApi:
    calls: list = []

    def __init__(self, *a, **k):
        pass

    def create_repo(self, *a, **k):
        RecordingApi.calls.append(("create_repo", a, k))

    def create_commit(self, *a, **k):
        RecordingApi.calls.append(("create_commit", a, k))


def test_nothing_is_pushed_without_push_and_push_uploads_the_folder(model_copy, monkeypatch):
    import huggingface_hub

    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    assert runner.invoke(app, ["card", str(model_copy)]).exit_code == 0
    assert RecordingApi.calls == []
    result = runner.invoke(app, ["card", str(model_copy), "--push", "me/argmax-sl"])
    assert result.exit_code == 0, result.output
    assert [c[0] for c in RecordingApi.calls] == ["create_repo", "create_commit"]
    repo_id, operations = RecordingApi.calls[1][1]
    assert repo_id == "me/argmax-sl"
    pushed = {op.path_in_repo for op in operations}
    assert {"model.safetensors", "config.json", "README.md"} <= pushed and ".mesaprobe" not in pushed
    assert "hf_secret_token_value" not in result.output
    assert not any("hf_secret_token_value" in p.read_text(errors="ignore") for p in model_copy.iterdir() if p.is_file())


def test_a_failed_push_is_one_line_without_the_token(model_copy, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, ["card", str(model_copy), "--push", "me/argmax-sl"])
    assert result.exit_code == 2 and result.output.startswith("error: could not push")
    assert "hf_secret_token_value" not in result.output


def test_a_push_to_an_endpoint_that_never_answers_times_out(model_copy, monkeypatch):
    """`card --push` once hung for as long as the endpoint held the connection: it now gives up after the timeout."""
    import time

    import huggingface_hub

    class SilentApi(RecordingApi):
        def create_repo(self, *a, **k):
            time.sleep(30)

    monkeypatch.setattr(huggingface_hub, "HfApi", SilentApi)
    readme = (model_copy / "README.md").read_text()
    start = time.perf_counter()
    result = runner.invoke(app, ["card", str(model_copy), "--push", "me/argmax-sl", "--push-timeout", "0.5"])
    assert result.exit_code == 2 and "no answer from the Hub within 0.5 s" in result.output
    assert time.perf_counter() - start < 10 and (model_copy / "README.md").read_text() == readme


@pytest.mark.trains
def test_the_cards_own_train_command_remakes_the_model(tmp_path, monkeypatch):
    """Trained with a task parameter, a pool, a window and a size: the card's reproduce line, run as it stands,
    gives the same weights."""
    import shlex

    from safetensors.torch import load_file

    first = ["train", "argmax", "-p", "rule=3", "-p", "K=4", "--pool", "50", "--window", "2", "--layers", "1",
             "--width", "32", "--steps", "40", "--seed", "3", "--out", str(tmp_path / "m")]
    assert runner.invoke(app, first).exit_code == 0
    card = ModelCard.load(tmp_path / "m" / "README.md")
    line = next(l for l in card.text.splitlines() if l.startswith("- reproduce: `mesaprobe train"))
    command = shlex.split(line.split("`")[1])[1:]
    assert {"-p", "rule=3", "--pool", "50", "--window", "2", "--seed", "3"} <= set(command)
    monkeypatch.chdir(tmp_path)  # its --out is the model's name
    (tmp_path / "again").mkdir()
    monkeypatch.chdir(tmp_path / "again")
    assert runner.invoke(app, command).exit_code == 0
    a, b = load_file(tmp_path / "m" / "model.safetensors"), load_file(tmp_path / "again" / "m" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_each_metric_once_and_a_license_only_when_given(model_copy, argmax_run):
    result = runner.invoke(app, ["card", str(model_copy), "--results", str(argmax_run[0]), "--results",
                                 str(argmax_run[0]), "--license", "mit"])
    assert result.exit_code == 0, result.output
    card = ModelCard.load(model_copy / "README.md")
    metrics = card.data.to_dict()["model-index"][0]["results"][0]["metrics"]
    assert len({m["type"] for m in metrics}) == len(metrics)  # two runs of one task: each metric once
    assert card.data.license == "mit"
    assert "mesaprobe/argmax" not in str(card)  # no made-up Hub dataset id
