"""experiments/rock_field_failures.py sorts an episode's end on planted layouts: a walk toward the biggest rock that
steps onto another is a collision, a walk away from it to a smaller rock a wrong target (with the size gap)."""
import importlib.util
from pathlib import Path

from mesaprobe.tasks import get_task

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "rock_field_failures.py"
U, D, L, R = range(4)


def test_planted_episodes_are_sorted_by_how_they_ended():
    spec = importlib.util.spec_from_file_location("rock_field_failures", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    task = get_task("rock-field")
    assert task.ACTIONS == ["U", "D", "L", "R"]
    layout = {"start": [0, 0], "rocks": [[0, 4, 9], [0, 2, 3], [4, 0, 1]]}
    assert script.classify(task, layout, [R, R]) == ("collision", None)  # toward the biggest, onto size 3
    assert script.classify(task, layout, [D, D, D, D]) == ("wrong target", 8)  # away from it, onto size 1
    assert script.classify(task, layout, [D, R, R, R, R, U]) == ("success", None)  # around the size-3 rock
    assert script.classify(task, layout, [L] * 10) == ("out of steps", None)  # against the edge
