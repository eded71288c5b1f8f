"""Supervised arrays: one answer per plain prompt; an in-context task's extra answers are the tokens that follow."""
import pytest
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.models.training.search import supervised_arrays
from mesaprobe.tasks import get_task


def test_a_plain_task_supervises_its_one_answer():
    task = get_task("argmax")
    pool = task.instances(20, 0)
    tok = build_tokenizer(task.vocabulary())
    ids, pos, answers, weight = supervised_arrays(task, tok, pool, seed=0)
    assert pos.shape == (20, 1) and weight.eq(1).all()
    assert pos[:, 0].tolist() == [inst.positions["answer"] for inst in pool]
    assert tok.convert_ids_to_tokens(answers[:, 0].tolist()) == [inst.answer for inst in pool]


def test_in_context_tasks_supervise_every_query_with_the_token_written_after_it():
    for name in ("kv-recall", "icl-linear"):
        task = get_task(name)
        pool = task.instances(30, 0)
        tok = build_tokenizer(task.vocabulary())
        ids, pos, answers, weight = supervised_arrays(task, tok, pool, seed=0)
        assert pos.shape == (30, task.train_queries) and weight.eq(1).all()
        assert pos[:, 0].tolist() == [inst.positions["answer"] for inst in pool]  # the prompt's own answer first
        assert (pos[:, -1] == ids.shape[1] - 1).all()
        inner = pos[:, :-1] + 1  # every answer but the last is written out right after its query
        assert (ids.gather(1, inner) == answers[:, :-1]).all()


@pytest.mark.trains
def test_a_model_trained_on_one_rule_is_scored_on_the_rule_left_out():
    from mesaprobe.models.training.search import train_search_sl

    task = get_task("argmax", K=3, V=8, rule=1)  # smallest, its rule token before the numbers; largest left out
    _, _, summary = train_search_sl(task, seed=0, steps=150, progress=False)
    assert summary["behavior"]["accuracy"] > 0.9
    # the largest-rule token was never a rule it trained on: no better than a guess among the 3 (it picks smallest)
    assert summary["behavior"]["held_out_accuracy"] < 0.4
    assert "held_out_accuracy" not in train_search_sl(get_task("argmax", K=3, V=8), steps=1, progress=False)[2][
        "behavior"]
