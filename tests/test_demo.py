"""The demo's plan shows the tool saying yes and no where the answer is known: a search known positive, its
random-init twin, the goal known positive and the visible-goal trap; every step is runnable as planned."""
import pytest

from mesaprobe.demo import plan
from mesaprobe.tasks import get_task


@pytest.mark.parametrize("quick", [False, True])
def test_the_demo_plans_every_verdict_and_each_step_can_run(quick):
    steps = plan(quick)
    assert {s.expected for s in steps} >= {"search-in-map", "goal-across-time", "neither"}
    names = []
    for step in steps:
        assert sum(x is not None for x in (step.method, step.twin_of, step.model)) == 1, step
        assert step.twin_of is None or step.twin_of in names  # a twin of a model trained before it
        assert step.model is None or (step.model / "model.safetensors").is_file()  # the committed known positive
        get_task(step.task, **step.params)  # parameters the task accepts
        names.append(step.name)
    assert {"gridworld-sl", "gridworld-rl"} <= set(names)  # the SL-vs-RL comparison report needs both
