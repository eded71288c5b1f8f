"""`--log-with`: training curves and probe results reach a tracker through accelerate's tracking API; tested offline
with tensorboard, whose event files are read back."""
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mesaprobe.cli import app

runner = CliRunner()


def scalars(logs: Path) -> dict[str, list[float]]:
    """Every scalar tag of the tensorboard event files under `logs`, with its values in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for events in {p.parent for p in logs.rglob("events.out.tfevents.*")}:
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend(e.value for e in acc.Scalars(tag))
    return out


@pytest.mark.trains
def test_training_curves_and_probe_indices_are_logged_to_tensorboard(tmp_path, argmax_dir):
    trained = runner.invoke(app, ["train", "argmax", "--steps", "60", "--log-with", "tensorboard", "--out",
                                  str(tmp_path / "m")])
    assert trained.exit_code == 0, trained.output
    curves = scalars(tmp_path / "m" / "logs")
    assert len(curves["train/loss"]) == 6 and curves["train/loss"][-1] < curves["train/loss"][0]  # every 10 steps
    assert len(curves["train/lr"]) == 6
    probed = runner.invoke(app, ["probe", str(argmax_dir[0]), "argmax", "--n", "200", "--seeds", "2", "--folds", "2",
                                 "--no-causal", "--log-with", "tensorboard", "--out", str(tmp_path / "r")])
    assert probed.exit_code == 0, probed.output
    logged = scalars(tmp_path / "r" / "logs")
    assert logged["behavior/accuracy"] == [pytest.approx(1.0, abs=0.01)]
    assert "search/decodable" in logged


def test_an_unknown_or_missing_tracker_is_one_line(one_error_line, tmp_path):
    one_error_line(runner.invoke(app, ["train", "argmax", "--log-with", "tensorbored", "--out", str(tmp_path / "m")]),
                   "accelerate's trackers are")
    assert not (tmp_path / "m").exists()
