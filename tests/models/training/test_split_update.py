"""`train --processes N` splits every minibatch among the processes: the update two processes make together is the
update one process makes from the mean of the two shares' losses (gradients equal to float precision)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("split_update.py")
LAUNCHER = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no"]


@pytest.mark.trains  # two accelerate processes: ~15 s
def test_two_processes_make_the_one_process_update(tmp_path):
    grads = {}
    for processes in (1, 2):
        out = tmp_path / f"grads{processes}.pt"
        command = [sys.executable, *(LAUNCHER if processes == 2 else []), str(SCRIPT), str(out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env=os.environ | {"OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-2000:]
        grads[processes] = torch.load(out)
    assert len(grads[1]) == len(grads[2]) > 0
    assert max(g.abs().max().item() for g in grads[1]) > 1e-3  # a real gradient, not zeros
    for one, two in zip(grads[1], grads[2]):
        torch.testing.assert_close(two, one, atol=1e-6, rtol=1e-5)
