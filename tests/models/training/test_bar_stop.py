"""`--until-bar`: the check stops at the second validation value in a row at the bar plus its margin, only at its
checks, each on fresh data, and a run it stops reports the steps it took, its validation curve and a final held-out
score."""
import pytest
import torch
from mesaprobe.models.training.bar_stop import CHECKS, MARGIN, BarStop
from mesaprobe.tasks import get_task


def test_the_check_stops_at_two_values_in_a_row_over_the_bar_plus_margin_and_only_at_its_checks():
    # at the bar is not enough; one lucky check over bar + margin is not either; two in a row are
    values = iter([0.2, 0.95, 0.97, 0.955, 0.95 + MARGIN, 0.99, 0.5])
    seen = []
    model = torch.nn.Linear(1, 1)
    stop = BarStop(lambda m, check: seen.append(check) or ((m.training is False) and next(values)), bar=0.95, every=10)
    done = next(step for step in range(1, 100) if stop.reached(model, step))
    assert done == 60 and stop.stopped_at == 60 and stop.steps_taken(4500) == 60
    assert stop.checks == [[10, 0.2], [20, 0.95], [30, 0.97], [40, 0.955], [50, round(0.95 + MARGIN, 4)],
                           [60, 0.99]]  # measured in eval mode
    assert seen == [0, 1, 2, 3, 4, 5]  # each check is told its number, to draw its own validation data
    assert model.training  # left as training found it
    assert BarStop.for_steps(lambda m, c: 0.0, 0.95, 4500).every == 4500 // CHECKS
    never = BarStop(lambda m, c: 0.5, bar=0.95, every=1)
    assert not any(never.reached(model, s) for s in range(1, 5)) and never.stopped_at is None
    assert never.steps_taken(4) == 4  # it trained every step it was given


@pytest.mark.trains
def test_until_bar_ends_a_search_run_early_at_the_bar_and_a_model_that_cannot_learn_trains_every_step():
    from mesaprobe.models.training.search import train_search_sl

    task = get_task("argmax")
    _, _, summary = train_search_sl(task, seed=0, steps=600, progress=False, until_bar=True)
    record = summary["until_bar"]
    assert record["stopped_at"] == summary["steps"] < 600
    values = [v for _, v in record["validation_by_step"]]
    assert min(values[-2:]) >= 0.95 + MARGIN  # the stop: two checks in a row at bar + margin
    assert not any(min(pair) >= 0.95 + MARGIN for pair in zip(values[:-2], values[1:-1]))  # and no earlier pair
    assert summary["behavior"]["accuracy"] >= 0.95  # the final score, on other instances
    # the learning rate too small to learn in its steps: it trains them all and says it never reached the bar
    _, _, slow = train_search_sl(task, seed=0, steps=60, lr=1e-6, progress=False, until_bar=True)
    assert slow["until_bar"]["stopped_at"] is None and slow["steps"] == 60


@pytest.mark.trains
def test_until_bar_ends_ppo_at_the_bar_and_counts_only_the_episodes_it_used():
    from mesaprobe.models.training.goal import train_goal

    task = get_task("gridworld", N=4)
    _, _, summary = train_goal(task, "rl", seed=0, progress=False, until_bar=True)
    record, n_envs = summary["until_bar"], summary["ppo"]["n_envs"]
    assert record["stopped_at"] == summary["steps"] < summary["ppo"]["iterations"]
    assert summary["episode_budget"] == summary["steps"] * n_envs
    assert len(summary["train_success_by_iteration"]) == summary["steps"]
    assert summary["behavior"]["success_rate"] >= 0.95  # the final evaluation, on other layouts
