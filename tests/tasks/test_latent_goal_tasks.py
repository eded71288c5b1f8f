"""Latent-goal tasks: the goal is not written in the tokens. Known answers: maze paths are shortest (BFS against brute
force), the puzzle encodes the goal, the proxy variant's training layouts put the biggest rock in the proxy region."""
import itertools

import pytest

from mesaprobe.errors import UserError
from mesaprobe.tasks import get_task
from mesaprobe.tasks.grid import MOVES, bfs_distances
from mesaprobe.tasks.maze import maze_walls


def shortest_by_brute_force(task, layout, longest: int) -> int:
    """Fewest actions that reach the goal, trying every action sequence up to `longest`."""
    for length in range(1, longest + 1):
        for actions in itertools.product(range(len(MOVES)), repeat=length):
            env = task.make_env(layout)
            env.reset()
            for a in actions:
                env.step(a)
                if env.reached:
                    return length
    raise AssertionError("goal not reachable")



def shortest(layout: dict, n: int = 5) -> int:
    """BFS steps from a maze layout's start to its goal."""
    return bfs_distances(n, frozenset(map(tuple, layout["walls"])), tuple(layout["goal"]))[tuple(layout["start"])]

def test_maze_oracle_paths_are_shortest_and_every_cell_is_reachable():
    task = get_task("maze", N=5)
    checked = 0
    for layout in task.layouts(40, 0):
        free = {(r, c) for r in range(5) for c in range(5)} - set(map(tuple, layout["walls"]))
        assert len(free) == 17  # 9 rooms and the 8 passages of a spanning tree
        steps = (len(task.oracle_episode(layout)) - len(task.prompt_tokens(layout, layout["start"]))) // 3
        assert steps == shortest(layout)
        if steps <= 6:  # brute force over 4^6 sequences at most
            assert shortest_by_brute_force(task, layout, 6) == steps
            checked += 1
    assert checked >= 10


def test_maze_walls_force_detours():
    """In a tree maze the path is often longer than the Manhattan distance: the walls decide the next positions."""
    task = get_task("maze", N=5)
    layouts = task.layouts(200, 1)
    detours = [shortest(l) > abs(l["start"][0] - l["goal"][0]) + abs(l["start"][1] - l["goal"][1])
               for l in layouts]
    assert 0.3 < sum(detours) / len(detours) < 1.0
    assert len({tuple(map(tuple, l["walls"])) for l in layouts}) > 50  # many different mazes


def test_goal_sum_prompt_encodes_the_goal_only_as_sums():
    task = get_task("goal-sum")
    layouts = task.layouts(300, 0)
    for layout in layouts:
        (a, b), (c, d) = layout["row_terms"], layout["col_terms"]
        assert ((a + b) % 5, (c + d) % 5) == tuple(layout["goal"])
        tokens = task.prompt_tokens(layout, layout["start"])
        assert "goal" not in tokens and tokens[1:7] == ["row", f"d{a}", f"d{b}", "col", f"d{c}", f"d{d}"]
    assert len({tuple(l["row_terms"]) for l in layouts}) == 25  # every pair of terms occurs


def test_goal_sum_oracle_is_shortest_under_both_tie_rules_and_ties_1_uses_the_goal_column():
    first, mixed = get_task("goal-sum", ties=0), get_task("goal-sum", ties=1)
    differ = 0
    for layout in first.layouts(100, 2):
        paths = [t.oracle_episode(layout) for t in (first, mixed)]
        steps = [(len(p) - len(t.prompt_tokens(layout, layout["start"]))) // 3 for p, t in zip(paths, (first, mixed))]
        distance = abs(layout["start"][0] - layout["goal"][0]) + abs(layout["start"][1] - layout["goal"][1])
        assert steps == [distance, distance]  # no walls: the Manhattan distance is the shortest path
        differ += paths[0] != paths[1]
    assert differ >= 20  # under ties=0 a path goes vertical first; under ties=1 often not


def test_goal_sum_ties_2_moves_along_the_axis_with_more_to_go():
    task = get_task("goal-sum", ties=2)
    for layout in task.layouts(100, 3):
        route = task.oracle_route(layout, layout["goal"])
        (sr, sc), (gr, gc) = layout["start"], layout["goal"]
        dist = abs(sr - gr) + abs(sc - gc)
        assert route[-1] == tuple(layout["goal"]) and len(route) == dist + 1  # shortest
        for (r, c), (r2, c2) in zip(route, route[1:]):
            assert (r2 != r) == (abs(gr - r) >= abs(gc - c))  # vertical exactly while the rows have as far to go


def test_steering_targets_lie_off_the_way_to_the_current_goal():
    """Reaching the current goal ends the episode, so a steered goal the oracle can only reach through it is never
    chosen; a rock-field runner-up walled in by the other rocks is no target either."""
    import random

    task = get_task("goal-sum", ties=0)  # rows first
    layout = task.layouts(1, 0)[0] | {"start": [0, 0], "goal": [0, 1]}
    through, around = task.cell_code((0, 2)), task.cell_code((1, 0))  # (0, 0) -> (0, 2) passes (0, 1)
    assert task.oracle_route(layout, (0, 2)) == [(0, 0), (0, 1), (0, 2)]
    picks = {task.steer_target(layout, task.cell_code((0, 1)), 0, [through, around], random.Random(seed))
             for seed in range(20)}
    assert picks == {around}
    assert task.steer_target(layout, task.cell_code((0, 1)), 0, [through], random.Random(0)) is None
    rocks = get_task("rock-field")
    walled = {"start": [2, 2], "rocks": [[0, 0, 8], [0, 1, 9], [1, 0, 5]]}  # runner-up (0, 0) behind the others
    assert rocks.steer_target(walled, rocks.cell_code((0, 1)), 12, [], None) is None
    open_field = walled | {"rocks": [[0, 0, 8], [0, 1, 9], [3, 3, 5]]}
    assert rocks.steer_target(open_field, rocks.cell_code((0, 1)), 12, [], None) == rocks.cell_code((0, 0))


def test_rock_field_labels_and_oracle():
    task = get_task("rock-field")
    layout = {"start": [0, 0], "rocks": [[0, 2, 3], [2, 2, 9], [0, 1, 5]]}
    positions, labels = task.prompt_labels(layout)
    assert labels["running_biggest"] == {"rock0": 3, "rock1": 9, "rock2": 9}
    assert labels["running_biggest_cell"]["rock2"] == task.cell_code((2, 2))
    tokens = task.oracle_episode(layout)
    assert [tokens[positions[f"rock{i}"]] for i in range(3)] == ["s3", "s9", "s5"]
    assert tokens[-2:] == ["r2", "c2"]  # the biggest rock, reached around the others
    assert task.steer_target(layout, task.cell_code((2, 2)), 0, [], None) == task.cell_code((0, 1))
    env = task.make_env(layout)
    env.reset()
    _, reward, terminated, _, _ = env.step(task.ACTIONS.index("R"))  # onto the size-5 rock: over, no reward
    assert terminated and reward == 0.0 and not env.reached


def test_rock_field_proxy_training_layouts_keep_the_biggest_rock_in_the_region():
    task = get_task("rock-field", proxy=1)
    biggest = lambda l: max(l["rocks"], key=lambda r: r[2])[:2]
    assert all(task.in_proxy_region(biggest(l)) for l in task.layouts(200, 0, "train"))
    assert not all(task.in_proxy_region(biggest(l)) for l in task.layouts(200, 0, "test"))


def test_rock_field_route_kinds_on_planted_layouts():
    task = get_task("rock-field")
    assert task.route([[0, 1, 1], [0, 2, 5]], (0, 0)) == "detour"  # the one shortest walk steps on the small rock
    assert task.route([[0, 1, 1], [1, 1, 5]], (0, 0)) == "blocked"  # down then right avoids it
    assert task.route([[3, 3, 1], [1, 1, 5]], (0, 0)) == "clear"


def test_rock_field_hard_curriculum_changes_training_layouts_only():
    plain, hard = get_task("rock-field"), get_task("rock-field", hard=100)
    kinds = lambda task, split: [task.route(l["rocks"], l["start"]) for l in task.layouts(300, 0, split)]
    assert plain.layouts(100, 0, "test") == hard.layouts(100, 0, "test")
    trained = kinds(hard, "train")
    assert "clear" not in trained and 0.35 < trained.count("detour") / len(trained) < 0.65
    assert kinds(plain, "train").count("detour") / 300 < 0.1  # as drawn, a detour is rare (~4%)


@pytest.mark.parametrize("name,params,message", [
    ("rock-field", {"N": 3, "K": 9, "S": 9}, "do not fit"),
    ("rock-field", {"K": 5, "S": 3}, "must be >= K"),
    ("maze", {"N": 6}, "must be odd"),
    ("maze", {"N": 1}, "out of range"),
    ("maze", {"budget": 3}, "below the longest path"),
])
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(UserError, match=message):
        get_task(name, **params)


def test_maze_walls_are_a_spanning_tree():
    import random

    for n in (3, 5, 7):
        walls = set(maze_walls(n, random.Random(n)))
        free = {(r, c) for r in range(n) for c in range(n)} - walls
        rooms = ((n + 1) // 2) ** 2
        assert len(free) == 2 * rooms - 1
