"""PPO's resume folder is read, written and removed only when it is this run's own: a pickle planted there never
runs (unclaimed: left alone; claimed with a matching hash: refused by weights_only loading), and a folder a user keeps
under the resume name outlives a successful `train`."""
import json
import pickle

import pytest
import torch

import mesaprobe
from mesaprobe.errors import UserError
from mesaprobe.models.training.resume_state import CLAIM, ResumeDir, sha256


class Planted:
    """Unpickling it creates `marker`: the stand-in for `os.system` in a planted file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"iteration": 8, "model": Planted(marker)}))


IDENTITY = {"task": {"name": "gridworld"}, "seed": 0}


def test_a_state_saved_by_the_run_loads_back_and_the_previous_one_is_dropped(tmp_path):
    folder = ResumeDir(tmp_path / ".g.resume")
    assert folder.load(IDENTITY) is None
    folder.save({"iteration": 8, "model": {"w": torch.ones(2)}})
    folder.save({"iteration": 16, "model": {"w": torch.zeros(2)}})
    assert sorted(p.name for p in folder.path.iterdir()) == [CLAIM, "state-16.pt"]
    again = ResumeDir(folder.path).load(IDENTITY)
    assert again["iteration"] == 16 and torch.equal(again["model"]["w"], torch.zeros(2))
    folder.discard()
    assert not folder.path.exists()


def test_an_unclaimed_planted_pickle_is_never_read_nor_touched(tmp_path, capsys):
    marker = tmp_path / "ran"
    plant(tmp_path / ".g.resume" / "state.pt", marker)
    folder = ResumeDir(tmp_path / ".g.resume")
    assert folder.load(IDENTITY) is None and "left alone" in capsys.readouterr().err
    folder.save({"iteration": 8})  # not ours: nothing is written into it
    folder.discard()
    assert not marker.exists() and sorted(p.name for p in folder.path.iterdir()) == ["state.pt"]


def test_a_claimed_state_that_was_swapped_or_forged_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "ran"
    folder = ResumeDir(tmp_path / ".g.resume")
    folder.load(IDENTITY)
    folder.save({"iteration": 8})
    plant(folder.path / "state-8.pt", marker)  # swapped after the claim was written: its hash no longer matches
    with pytest.raises(UserError, match="changed since"):
        ResumeDir(folder.path).load(IDENTITY)
    claim = json.loads((folder.path / CLAIM).read_text())
    (folder.path / CLAIM).write_text(json.dumps(claim | {"sha256": sha256(folder.path / "state-8.pt")}))  # forged
    with pytest.raises(UserError, match="cannot be read as a PPO state"):
        ResumeDir(folder.path).load(IDENTITY)
    assert not marker.exists()


@pytest.mark.trains
def test_a_successful_train_leaves_a_resume_named_folder_it_did_not_write(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".s.resume").mkdir()
    (tmp_path / ".s.resume" / "k").write_text("d")
    mesaprobe.train("argmax", out="s", steps=30, progress=False)
    assert (tmp_path / ".s.resume" / "k").read_text() == "d" and (tmp_path / "s" / "model.safetensors").exists()
    assert "left alone" in capsys.readouterr().err
