"""The probe command end to end on the trained argmax model: results.json contract and the issue's numbers."""
import json

import pytest

from mesaprobe.errors import UserError
from mesaprobe.probes.run import run_probe
from mesaprobe.schema import SCHEMA
from mesaprobe.tasks import get_task

PROBE_KEYS = {"target", "hook", "layer", "position", "metric", "score", "control", "selectivity", "random_init",
              "obs_baseline", "n_train", "n_test"}


def test_results_follow_the_contract(argmax_run):
    out, results = argmax_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert results["schema"] == SCHEMA
    assert results["model"]["training"] == "sl" and results["model"]["n_layers"] == 2
    assert results["task"]["family"] == "search" and results["task"]["n_examples"] == 600
    assert all(PROBE_KEYS <= set(r) for r in results["probes"])
    assert {r["layer"] for r in results["probes"]} == {-1, 0, 1}
    assert set(results["indices"]) == {"search", "goal"}
    assert results["verdict"] in {"search-in-map", "goal-across-time", "both", "neither", "inconclusive"}
    assert (out / "config.json").is_file() and (out / "data" / "seed0").is_dir()


def test_answer_probe_tracks_behaviour_with_high_selectivity(argmax_run):
    _, results = argmax_run
    accuracy = results["behavior"]["accuracy"]
    last = next(r for r in results["probes"] if r["target"] == "answer" and r["layer"] == 1)
    assert abs(last["score"] - accuracy) <= 0.02
    assert last["selectivity"] >= 0.5
    assert last["score"] - last["random_init"] > 0.2


def test_same_seed_gives_the_same_numbers(argmax_dir, tmp_path):
    model = str(argmax_dir[0])
    a = run_probe(model, get_task("argmax"), tmp_path / "a", n=120, seeds=1, folds=3, progress=False)
    b = run_probe(model, get_task("argmax"), tmp_path / "b", n=120, seeds=1, folds=3, progress=False)
    strip = lambda r: {k: v for k, v in r.items() if k != "environment"}
    assert strip(a) == strip(b)


def test_a_failed_probe_leaves_nothing_in_out(tmp_path):
    with pytest.raises(UserError):
        run_probe(str(tmp_path / "missing"), get_task("argmax"), tmp_path / "run", n=100, progress=False)
    assert not (tmp_path / "run").exists()
    assert list(tmp_path.iterdir()) == []


def test_known_visible_goal_gridworld_is_neither_with_its_note(gridworld_sl_dir, tmp_path):
    """The visible-goal trap: gridworld's goal sits in the prompt tokens, so the run says `neither` and notes why;
    its decision probes, steering curves and horizon are all there."""
    results = run_probe(str(gridworld_sl_dir), get_task("gridworld"), tmp_path / "g", n=300, seeds=1, folds=3,
                        progress=False)
    assert results["task"]["family"] == "goal" and results["behavior"]["success_rate"] >= 0.95
    assert {r["target"] for r in results["probes"]} >= {"goal", "position+1", "position+3", "distance"}
    goal = next(r for r in results["probes"] if r["target"] == "goal" and r["layer"] == -1)
    # the goal is not in the current token (layer -1 at the decision) but sits in the observed tokens
    assert goal["obs_baseline"] > goal["score"] + 0.3
    steer = [r for r in results["causal"] if r["method"] == "steer"]
    assert len(steer) == results["model"]["n_layers"]
    assert len(steer[0]["reach_by_k"]) == get_task("gridworld").params["budget"]
    assert all(0 <= v <= 1 for v in steer[0]["reach_by_k"])
    assert results["indices"]["goal"]["horizon"][0] >= 0
    assert results["verdict"] == "neither" and any("sits in the tokens" in n for n in results["notes"])


def test_causal_layers_default_to_every_block_or_to_a_few_evenly_spaced_ones_ending_at_the_last():
    from mesaprobe.probes.run import check_causal_layers

    assert check_causal_layers(None, 5) == [0, 1, 2, 3, 4, 5]
    assert check_causal_layers(None, 29, 4) == [6, 14, 22, 29]  # a pretrained LM's default on a GPU
    assert check_causal_layers(None, 29, 2) == [14, 29]  # and on a CPU
    assert check_causal_layers(None, 1, 4) == [0, 1]
    assert check_causal_layers((3, 1, 3), 5) == [1, 3]
    with pytest.raises(UserError, match="within the probed 0..5"):
        check_causal_layers((6,), 5)


def test_a_probe_refuses_rollouts_too_few_to_cross_validate_before_extracting(tmp_path):
    """Goal rows are cross-validated grouped by episode: rollouts that reach a decision in fewer episodes than
    folds (a base LM whose replies end its episodes) stop with one clear error before any activation is read."""
    from types import SimpleNamespace

    import numpy as np

    from mesaprobe.probes.replicate import replicate

    class TwoEpisodes:
        def probe_inputs(self, n, seed, progress):
            return SimpleNamespace(groups=np.repeat([0, 1], 30), sequences=[[1, 2]] * 60)

    with pytest.raises(UserError, match="only 2 episode"):
        replicate(TwoEpisodes(), None, 60, 0, tmp_path, False, 0, folds=5)
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_task_parameter_other_than_the_models_own_is_said_and_kept_in_the_notes(argmax_dir, tmp_path, capsys):
    from mesaprobe.api import probe

    results = probe(str(argmax_dir[0]), "argmax", tmp_path / "r", params={"K": 6}, n=120, seeds=2, folds=2,
                    causal=False, progress=False)
    note = "probed with K=6 (trained with 5): not the task this model learned"
    assert any(n.startswith(note) for n in results["notes"]) and note in capsys.readouterr().out
    same = probe(str(argmax_dir[0]), "argmax", tmp_path / "s", n=120, seeds=2, folds=2, causal=False, progress=False)
    assert not any("not the task this model learned" in n for n in same["notes"])
