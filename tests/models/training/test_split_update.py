"""`train --processes N` splits every minibatch among the processes: the update two processes make together is the
update one process makes from the mean of the two shares' losses (gradients equal to float precision), with the
advantages normalized by the moments of the whole iteration."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mesaprobe.launch import LAUNCHER, free_port

SCRIPT = Path(__file__).with_name("split_update.py")


@pytest.mark.trains  # two accelerate processes: ~15 s
def test_two_processes_make_the_one_process_update(tmp_path):
    grads = {}
    for processes in (1, 2):
        out = tmp_path / f"grads{processes}.pt"
        launcher = [*LAUNCHER, "--num_processes", "2", "--main_process_port", str(free_port())] * (processes == 2)
        command = [sys.executable, *launcher, str(SCRIPT), str(out)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env=os.environ | {"OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stderr[-2000:]
        grads[processes] = torch.load(out)
    assert len(grads[1]) == len(grads[2]) > 0
    assert max(g.abs().max().item() for g in grads[1]) > 1e-3  # a real gradient, not zeros
    for one, two in zip(grads[1], grads[2]):
        torch.testing.assert_close(two, one, atol=1e-6, rtol=1e-5)


def test_the_iterations_advantages_are_normalized_by_the_moments_of_all_shares():
    """One process: numpy's own moments (runs stay as they were); several: the moments of every share together."""
    import numpy as np

    from mesaprobe.models.training.ppo import iteration_moments

    class Shares:  # stands in for accelerate's gather over two processes holding `parts`
        def __init__(self, parts):
            self.num_processes, self.device, self.parts = len(parts), "cpu", parts

        def gather(self, local):
            return torch.cat([torch.tensor([[p.sum(), (p ** 2).sum(), p.size]], dtype=torch.float64)
                              for p in self.parts])

    rng = np.random.default_rng(0)
    whole = rng.normal(0.3, 2.0, 1000)
    parts = [whole[:600], whole[600:]]
    np.testing.assert_allclose(iteration_moments(Shares(parts), parts[0]), (whole.mean(), whole.std()), rtol=1e-10)
    assert iteration_moments(Shares([whole]), whole) == (whole.mean(), whole.std())
