import itertools

import pytest

from mesaprobe.errors import UserError
from mesaprobe.tasks import REGISTRY, get_task
from mesaprobe.tasks.bank import ACTIONS as BANK_ACTIONS
from mesaprobe.tasks.grid import bfs_distances


def run(task, layout, actions):
    env = task.make_env(layout)
    env.reset()
    total, done = 0.0, False
    for a in actions:
        if done:
            break
        _, r, term, trunc, _ = env.step(a)
        total, done = total + r, term or trunc
    return env, total


def test_gridworld_oracle_walks_a_shortest_path_and_walls_block():
    task = get_task("gridworld", walls=4)
    for layout in task.layouts(40, 0):
        tokens = task.oracle_episode(layout)
        steps = sum(t in task.ACTIONS for t in tokens)
        dist = bfs_distances(5, frozenset(map(tuple, layout["walls"])), tuple(layout["goal"]))
        assert steps == dist[tuple(layout["start"])]
        assert tokens[-2:] == task.cell_tokens(layout["goal"])
    env = task.make_env({"start": [0, 0], "goal": [4, 4], "walls": [[0, 1]]})
    env.reset()
    env.step(task.ACTIONS.index("R"))  # into the wall
    env.step(task.ACTIONS.index("U"))  # off the grid
    assert env.pos == (0, 0)


def test_gridworld_budget_truncates_and_reward_is_only_at_the_goal():
    task = get_task("gridworld")
    layout = {"start": [0, 0], "goal": [0, 1], "walls": []}
    env, total = run(task, layout, [task.ACTIONS.index("U")] * 20)
    assert total == 0 and env.t == task.params["budget"]
    env, total = run(task, layout, [task.ACTIONS.index("R")])
    assert total == 1 and env.reached


def test_heldout_and_proxy_splits_separate_goal_cells():
    held = get_task("gridworld", heldout=1)
    train = {tuple(l["goal"]) for l in held.layouts(300, 0, "train")}
    test = {tuple(l["goal"]) for l in held.layouts(300, 0, "test")}
    assert train and test and not train & test
    proxy = get_task("gridworld", proxy=1)
    assert all(proxy.in_proxy_region(l["goal"]) for l in proxy.layouts(100, 0, "train"))
    assert not any(proxy.in_proxy_region(l["goal"]) for l in proxy.layouts(100, 0, "test"))


def test_bank_dynamic_programming_matches_brute_force():
    task = get_task("bank", T=6)
    for layout in task.layouts(15, 0):
        best = max(run(task, layout, seq)[1] for seq in itertools.product(range(3), repeat=layout["horizon"]))
        assert task.optimal_return(layout) == pytest.approx(best)
        oracle = task.oracle_episode(layout)
        env, total = run(task, layout, [BANK_ACTIONS.index(t) for t in oracle if t in BANK_ACTIONS])
        assert total == pytest.approx(best)


def test_button_rewards_only_a_press_on_the_button():
    task = get_task("button")
    layout = {"start": [0, 0], "goal": [0, 1], "walls": []}
    press, right = task.ACTIONS.index("P"), task.ACTIONS.index("R")
    assert run(task, layout, [press])[1] == 0
    env, total = run(task, layout, [right, press])
    assert total == 1 and env.reached
    assert task.oracle_episode(layout)[-3] == "P"


@pytest.mark.parametrize("params,message", [
    ({"walls": 10}, "do not fit"),
    ({"budget": 3}, "below the longest shortest path"),
    ({"N": 2}, "out of range"),
])
def test_bad_gridworld_parameters(params, message):
    with pytest.raises(UserError, match=message):
        get_task("gridworld", **params)


@pytest.mark.parametrize("name", sorted(n for n, t in REGISTRY.items() if t.family == "goal"))
def test_goal_tasks_render_in_natural_language_and_list_their_targets(name):
    task = get_task(name)
    layout = task.layouts(1, 0)[0]
    prompt, answer = task.render_text(layout)
    assert prompt and answer
    names = {t.name for t in task.targets()}
    assert {"answer", "goal", "position", "position+1", "distance"} <= names
