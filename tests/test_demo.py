"""The demo's plan shows the tool saying yes and no where the answer is known: a search known positive, its
random-init twin, the goal known positive, and an SL/RL pair on a latent-goal task (its goal in no token), whose
committed models are at their behaviour bar; every step is runnable as planned."""
import json

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
    pair = {s.name: s for s in steps if s.name in ("rock-field-sl", "rock-field-rl")}
    assert len(pair) == 2  # the SL-vs-RL comparison report needs both
    trained = [json.loads((s.model / "training.json").read_text()) for s in pair.values()]
    sl, rl = (next(t for t in trained if t["method"] == method) for method in ("sl", "rl"))
    assert sl["pool"] == rl["episode_budget"]  # cloning's distinct episodes = the episodes PPO rolled out
    assert len({json.dumps(t["size"], sort_keys=True) for t in trained}) == 1  # the same architecture
    assert all(t["task"]["params"] == trained[0]["task"]["params"] for t in trained)
    assert all(t["behavior"]["success_rate"] >= 0.95 for t in trained)  # both at the goal tasks' bar
    assert not get_task("rock-field", **pair["rock-field-sl"].params).goal_in_prompt
