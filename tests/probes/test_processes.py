"""Several processes (`accelerate launch`): the rows split into consecutive shares, each process extracts its own
shards, the main process merges them and writes the run, equal to a one-process run within float tolerance."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mesaprobe.launch import LAUNCHER, free_port
from mesaprobe.probes.replicate import share_of_rows


@pytest.mark.parametrize("n,processes", [(10, 3), (7, 7), (120, 2), (5, 8)])
def test_shares_of_rows_cover_every_row_once_in_order(n, processes):
    rows = [i for rank in range(processes) for i in range(n)[share_of_rows(n, rank, processes)]]
    assert rows == list(range(n))
    sizes = [len(range(n)[share_of_rows(n, rank, processes)]) for rank in range(processes)]
    assert max(sizes) - min(sizes) <= 1


def launch(processes: int, args: list[str]) -> subprocess.CompletedProcess:
    """`mesaprobe` as one plain process, or as `processes` under `accelerate launch`.
    --multi_gpu is accelerate's torchrun launcher; without a GPU the processes talk over gloo (--cpu alone
    starts one process unless MPI is installed)."""
    launcher = [*LAUNCHER, "--num_processes", str(processes), "--main_process_port", str(free_port())]
    command = [sys.executable, *(launcher if processes > 1 else []), "-m", "mesaprobe.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env=os.environ | {"OMP_NUM_THREADS": "1", "MESAPROBE_JOBS": "1"})


@pytest.mark.slow  # two accelerate processes: ~50 s
def test_two_processes_write_the_run_one_process_writes(argmax_dir, tmp_path):
    # two seeds: the processes meet at the end of every seed's extraction; causal probes run in the main process
    args = ["probe", str(argmax_dir[0]), "argmax", "--n", "60", "--seeds", "2", "--folds", "3", "--no-causal"]
    one, two = tmp_path / "one", tmp_path / "two"
    for processes, out in ((1, one), (2, two)):
        done = launch(processes, [*args, "--out", str(out)])
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.count("wrote ") == 1  # only the main process reports
    a, b = (json.loads((out / "results.json").read_text()) for out in (one, two))
    assert (a["environment"]["processes"], b["environment"]["processes"]) == (1, 2)
    shards = sorted(p.parent.name for p in (two / "activations" / "subject" / "seed0").rglob("*.safetensors"))
    assert set(shards) == {"process0", "process1"}  # each process wrote its own share
    assert a["behavior"] == b["behavior"] and a["verdict"] == b["verdict"]
    key = lambda r: (r["target"], r["position"], r["layer"])
    assert [key(r) for r in a["probes"]] == [key(r) for r in b["probes"]]
    for ra, rb in zip(a["probes"], b["probes"]):
        for field in ("score", "control", "random_init"):
            if ra[field] is not None:
                np.testing.assert_allclose(ra[field], rb[field], atol=1e-4, err_msg=str(ra))


@pytest.mark.trains
def test_ppo_as_two_processes_splits_each_iteration_averages_gradients_and_saves_once(tmp_path):
    """`train --processes 2` starts the two processes itself; each rolls out its own half of every iteration's
    episodes; the weights stay identical in every process only if the gradients were averaged (each stepping on its
    own episodes would drift apart); one process saves, and the run reports once."""
    out = tmp_path / "rl"
    done = launch(1, ["train", "gridworld", "--method", "rl", "--steps", "3", "--processes", "2", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("saved ") == 1
    summary = json.loads((out / "training.json").read_text())
    assert summary["processes"] == 2 and summary["weights_in_sync"] is True
    assert summary["episode_budget"] == 3 * 128  # the iterations' episodes, split: the same run as one process
    assert summary["first_episodes_by_process"] == [64, 64]
    first, second = summary["first_layouts_digest_by_process"]
    assert first != second  # the processes' own layout streams


def test_a_process_own_layout_stream_differs_and_stream_zero_is_the_one_process_stream():
    from mesaprobe.models.training.pool import LayoutPool
    from mesaprobe.tasks import get_task

    task = get_task("gridworld")
    assert LayoutPool(task, 0, None).draw(8, 3) == task.layouts(8, "train:0:3")
    assert LayoutPool(task, 0, None, stream=1).draw(8, 3) != LayoutPool(task, 0, None).draw(8, 3)
    pooled = [LayoutPool(task, 0, 4, stream=s) for s in (0, 1)]
    assert all(layout in pooled[0].items for layout in pooled[1].draw(16, 0))  # one shared pool
