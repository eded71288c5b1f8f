"""Every registered task, whoever wrote it, declares what the rest of the tool needs: these tests run over the
registry, so a new task file is checked here without editing them."""
import random

import pytest

from mesaprobe.errors import UserError
from mesaprobe.schema import label_column, position_column
from mesaprobe.tasks import REGISTRY, get_task
from mesaprobe.tasks.goal_base import GoalTask

TASKS = sorted(REGISTRY)


@pytest.mark.parametrize("name", TASKS)
def test_a_task_declares_its_policy(name):
    task = get_task(name)
    assert task.family in ("search", "goal") and task.summary and task.PARAMS
    assert set(task.recipe.model_size) == {"n_layer", "n_embd", "n_head", "n_positions"}
    assert task.recipe.model_size["n_embd"] % task.recipe.model_size["n_head"] == 0 and task.recipe.steps > 0
    assert set(task.recipe.methods) <= {"sl", "rl"} and "sl" in task.recipe.methods
    targets = {t.name: t for t in task.targets()}
    assert targets["answer"].positions == (task.answer_position,)  # DESIGN: every task has `answer`
    assert all(t.kind in ("class", "number") and t.positions for t in targets.values())
    assert all(t.index in (None, "S1", "G1", "G2") for t in targets.values())
    assert all((t.index == "G2") == (t.horizon is not None) for t in targets.values())
    own = {"S1"} if task.family == "search" else {"G1", "G2"}
    assert own <= {t.index for t in targets.values()}
    assert set(task.answer_classes()) <= set(task.vocabulary())


@pytest.mark.parametrize("name", TASKS)
def test_a_task_labels_every_target_and_renders_in_words(name):
    task = get_task(name)
    if isinstance(task, GoalTask):
        assert task.steer_horizon() > 0
        layout = task.layouts(1, 0)[0]
        prompt, answer = task.render_text(layout)
        assert answer in task.ACTION_WORDS and len(task.ACTION_WORDS) == len(task.ACTIONS)
        assert set(task.oracle_episode(layout)) <= set(task.vocabulary()) | {"<bos>"}
        pairs = task.sft_pairs(2, 0)
        assert pairs and all(p["completion"].strip(" .") in task.ACTION_WORDS for p in pairs)
        return
    ds = task.dataset(20, seed=0, counterfactuals=task.has_counterfactuals)
    for t in task.targets():
        for p in t.positions:
            assert label_column(t.name, p) in ds.column_names and position_column(p) in ds.column_names
    prompt, answer = task.render_text(task.draw(random.Random(0)))
    assert prompt and answer
    assert task.sft_pairs(3, 0)[0]["completion"].startswith(" ")


def test_a_reused_task_name_is_refused():
    """A task module that reuses a built-in task's name is a clear error; the built-in keeps its name."""
    import types

    from mesaprobe.errors import UserError
    from mesaprobe.tasks.argmax import ArgmaxTask

    module = types.ModuleType("mesaprobe.tasks.planted_duplicate")
    with pytest.raises(UserError, match="task name 'argmax' is taken by mesaprobe.tasks.argmax"):
        exec("from mesaprobe.tasks.base import SearchTask\nclass Other(SearchTask):\n    name = 'argmax'\n",
             module.__dict__)
    assert REGISTRY["argmax"] is ArgmaxTask


def test_a_parameter_must_be_an_integer():
    from mesaprobe.errors import UserError

    with pytest.raises(UserError, match="K=2.5 must be an integer"):
        get_task("argmax", K=2.5)


def test_a_task_declaring_training_policy_outside_its_recipe_is_refused_with_the_field_to_use():
    from mesaprobe.tasks.base import SearchTask

    with pytest.raises(UserError, match=r"train_steps is now a field of its TrainRecipe; declare `recipe = "
                                        r"TrainRecipe\(steps=\.\.\.\)`"):
        type("OldStyle", (SearchTask,), {"train_steps": 300})
