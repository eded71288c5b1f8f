"""A goal task written outside the package from docs/adding-a-task.md alone, on the shared grid: walk to the goal,
which is always one of the four corners."""
from mesaprobe.tasks.base import Param
from mesaprobe.tasks.grid import GridTask


class CornerWalkTask(GridTask):
    name = "corner-walk"
    summary = "walk to a goal that is always a corner of the grid"
    recipe = GridTask.recipe.but(steps=300, episode_budget=1024)
    PARAMS = {"N": Param(4, 3, 9, "grid side"), "budget": Param(0, 0, 100, "step budget (0: 2*N)")}

    def goal_allowed(self, cell: tuple[int, int], split: str) -> bool:
        last = self.params["N"] - 1
        return cell[0] in (0, last) and cell[1] in (0, last)
