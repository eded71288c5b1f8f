"""The training pool: `pool` distinct instances or layouts, cycled; without it, fresh ones throughout."""
from mesaprobe.models.training.pool import LayoutPool, from_pool
from mesaprobe.tasks import get_task


def test_a_pool_cycles_its_first_instances():
    task = get_task("argmax")
    draw = lambda n, seed: task.instances(n, seed=seed)
    items = from_pool(draw, 100, "train:0", 7)
    assert len(items) == 100 and len({tuple(i.tokens) for i in items}) <= 7
    assert [i.tokens for i in items[:7]] == [i.tokens for i in draw(7, "train:0")]
    assert len({tuple(i.tokens) for i in from_pool(draw, 100, "train:0", None)}) > 50


def test_rl_iterations_draw_only_from_the_pool():
    task = get_task("gridworld")
    pooled, fresh = LayoutPool(task, 0, 5), LayoutPool(task, 0, None)
    key = lambda l: repr(sorted(l.items()))
    pool = {key(l) for l in task.layouts(5, "train:0")}
    assert {key(l) for it in range(10) for l in pooled.draw(16, it)} <= pool
    assert len({key(l) for it in range(10) for l in fresh.draw(16, it)}) > 5


def test_train_takes_a_model_size_and_a_pool(tmp_path):
    import json

    from mesaprobe.api import train

    train("argmax", tmp_path / "m", steps=5, layers=1, width=32, pool=50, progress=False)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    training = json.loads((tmp_path / "m" / "training.json").read_text())
    assert (config["n_layer"], config["n_embd"]) == (1, 32) and training["pool"] == 50
