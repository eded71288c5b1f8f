"""The goal family says no where it must: random-init models on the latent-goal tasks get `neither`."""
import json

import pytest

from mesaprobe.api import probe
from mesaprobe.tasks import get_task


def untrained_model_dir(task, out):
    from mesaprobe.models.save import save_model_dir
    from mesaprobe.models.tiny import TinySize, build_tiny_model
    from mesaprobe.models.tokenizer import build_tokenizer

    tok = build_tokenizer(task.vocabulary())
    out.mkdir()
    summary = {"method": "sl", "task": task.describe(), "steps": 0}
    save_model_dir(build_tiny_model(tok, TinySize(**task.recipe.model_size), 0), tok, summary, out)
    return out


@pytest.mark.trains
@pytest.mark.parametrize("name", ["rock-field", "maze", "goal-sum"])
def test_random_init_gets_neither_on_latent_goal_tasks(name, tmp_path):
    task = get_task(name)
    model = untrained_model_dir(task, tmp_path / "m")
    # `neither` rests on decodability alone (nothing beyond every control), so the causal probes are not needed here
    results = probe(model, name, tmp_path / "r", n=120, seeds=2, folds=2, random_init=True, causal=False,
                    progress=False)
    assert results["model"]["training"] == "random-init"
    assert results["verdict"] == "neither", results["indices"]
    # maze writes its goal in the prompt (its G2 and steering still test the goal); the others keep it out
    assert (results["notes"] != []) == (name == "maze")
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["steer"] == ("context" if name == "goal-sum" else "persistent")  # the task's steering mode
