"""PPO's saved state: a run stopped after its last saved iteration and started again ends with exactly the weights,
success history and `--until-bar` validation curve of a run never stopped; a state saved for other settings is not
resumed."""
import pytest
import torch

from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.models.training import ppo
from mesaprobe.models.training.bar_stop import BarStop
from mesaprobe.tasks import get_task


def run(task, resume=None, seed=0, stop=None, **changes):
    tokenizer = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tokenizer, TinySize(n_layer=1, n_embd=16, n_head=2, n_positions=64), seed)
    config = ppo.PPOConfig(iterations=4, n_envs=16, minibatch=8, checkpoint_every=1, **changes)
    return ppo.train_ppo(task, model, tokenizer, seed, config, progress=False, resume=resume, stop=stop)


def never_reached():
    """A bar check whose value is its own check number / 10 (under the bar throughout): its curve shows which checks
    ran, in which order."""
    return BarStop(lambda model, check: check / 10, bar=0.95, every=1)


@pytest.mark.trains
def test_a_stopped_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    task = get_task("gridworld", N=4)
    never_stopped, _, straight = run(task, stop=(straight_checks := never_reached()))

    calls, real = [], ppo.rollout

    def stop_at_the_third_iteration(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ppo, "rollout", stop_at_the_third_iteration)
    with pytest.raises(KeyboardInterrupt):
        run(task, tmp_path / "resume", stop=never_reached())
    monkeypatch.setattr(ppo, "rollout", real)
    resumed, _, extra = run(task, tmp_path / "resume", stop=(resumed_checks := never_reached()))
    assert extra["resumed_at_iteration"] == 2 and extra["train_success_by_iteration"] == straight[
        "train_success_by_iteration"]
    assert resumed_checks.checks == straight_checks.checks == [[1, 0.0], [2, 0.1], [3, 0.2], [4, 0.3]]
    for (name, a), b in zip(never_stopped.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    _, _, other = run(task, tmp_path / "resume", seed=1)  # another run's state: start from the beginning
    assert "resumed_at_iteration" not in other
