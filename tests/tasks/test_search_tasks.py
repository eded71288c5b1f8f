import random

import pytest

from mesaprobe.errors import UserError
from mesaprobe.tasks import REGISTRY, get_task

SEARCH = [name for name, cls in REGISTRY.items() if cls.family == "search"]


def consistent(pairs: list[tuple[int, int]], p: int) -> list[tuple[int, int]]:
    """Every (a, b) that fits the pairs, by brute force (the reference for icl_linear's `n_consistent`)."""
    return [(a, b) for a in range(p) for b in range(p) if all((a * x + b) % p == y for x, y in pairs)]


def test_argmax_labels_on_a_known_instance():
    inst = get_task("argmax").build({"values": [3, 9, 1, 12, 7]})
    assert inst.tokens == ["<bos>", "3", "9", "1", "12", "7", ">"]
    assert inst.answer == "12"
    assert [inst.labels["running_max"][f"item{i}"] for i in range(5)] == [3, 9, 9, 12, 12]
    assert [inst.labels["running_argmax"][f"item{i}"] for i in range(5)] == [0, 1, 1, 3, 3]
    assert [inst.labels["is_new_best"][f"item{i}"] for i in range(5)] == [1, 1, 0, 1, 0]
    assert inst.labels["argmax"]["answer"] == 3 and inst.labels["second_largest"]["answer"] == 9
    assert inst.positions["answer"] == 6 and inst.tokens[inst.positions["item3"]] == "12"


def test_rocks_labels_on_a_known_instance():
    inst = get_task("rocks", K=3).build({"names": ["onyx", "chalk", "flint"], "sizes": [4, 30, 12]})
    assert inst.answer == "chalk"
    assert [inst.labels["running_biggest"][f"size{i}"] for i in range(3)] == [4, 30, 30]
    assert inst.labels["biggest_position"]["answer"] == 1
    assert inst.tokens[inst.positions["size1"]] == "30"


def test_icl_linear_hypothesis_counts_and_answer():
    task = get_task("icl-linear", p=5, n=3)
    meta = {"a": 2, "b": 1, "xs": [0, 0, 3], "ys": [1, 1, 2], "query": 4}
    inst = task.build(meta)
    assert inst.answer == str((2 * 4 + 1) % 5)
    # one pair leaves p hypotheses, the same x again leaves p, a new x pins (a, b) down
    assert [inst.labels["hypotheses"][f"pair{i}"] for i in range(3)] == [5, 5, 1]
    assert consistent([(0, 1), (3, 2)], 5) == [(2, 1)]


def test_closed_form_hypothesis_counts_match_brute_force():
    task = get_task("icl-linear", p=7, n=5)
    for inst in task.instances(200, 0):
        m = inst.meta
        for i in range(5):
            brute = consistent(list(zip(m["xs"][: i + 1], m["ys"][: i + 1])), 7)
            assert inst.labels["hypotheses"][f"pair{i}"] == len(brute)
        answers = {(a * m["query"] + b) % 7 for a, b in consistent(list(zip(m["xs"], m["ys"])), 7)}
        assert answers == {int(inst.answer)}  # every instance's answer is determined by its examples


def test_kv_recall_answer_is_the_queried_value():
    inst = get_task("kv-recall", K=3).build({"keys": ["x", "q", "m"], "values": [4, 7, 1], "query": 1})
    assert inst.tokens[-2:] == ["?", "q"] and inst.answer == "7"
    assert inst.labels["key_position"]["answer"] == 1


def test_argmax_rules_pick_their_value_and_track_it_as_the_running_best():
    values = [3, 9, 1, 12, 7]
    task = get_task("argmax", rules=4)
    picks = {rule: task.build({"values": values, "rule": rule, "target": 8}) for rule in range(4)}
    assert [picks[r].answer for r in range(4)] == ["12", "1", "9", "7"]  # closest to 8: 7 and 9 tie, the smaller
    assert picks[1].tokens[:3] == ["<bos>", "rule:smallest", "8"] and picks[1].tokens[picks[1].positions["item0"]] == "3"
    assert [picks[1].labels["running_best"][f"item{i}"] for i in range(5)] == [3, 3, 1, 1, 1]
    assert [picks[2].labels["running_best_index"][f"item{i}"] for i in range(5)] == [0, 0, 0, 1, 1]
    assert picks[3].labels["rule"]["rule"] == 3


def test_argmax_rules_mix_evenly_and_the_default_has_no_rule_token():
    rules = [inst.meta["rule"] for inst in get_task("argmax", rules=4, K=4).instances(2000, 0)]
    assert all(400 <= rules.count(r) <= 600 for r in range(4))
    assert {inst.meta["rule"] for inst in get_task("argmax", rule=2).instances(100, 0)} == {2}
    assert all(not t.startswith("rule:") for inst in get_task("argmax").instances(100, 0) for t in inst.tokens)
    shortcut = get_task("argmax", rule=1, shortcut=100).instances(100, 0)
    assert all(inst.tokens[-2] == inst.answer for inst in shortcut)  # the smallest sits last


def test_kv_recall_supervision_asks_the_same_memory_again():
    task = get_task("kv-recall", K=4)
    for inst in task.instances(50, 0):
        tokens, answers = task.supervision(inst, random.Random(0))
        assert tokens[: len(inst.tokens)] == inst.tokens and len(answers) == task.train_queries
        memory = dict(zip(inst.meta["keys"], map(str, inst.meta["values"])))
        assert all(tokens[pos] in memory and memory[tokens[pos]] == ans for pos, ans in answers.items())
        assert all(tokens[pos + 1] == ans for pos, ans in answers.items() if pos + 1 < len(tokens))


def test_icl_linear_supervision_asks_what_the_examples_fix_but_do_not_show():
    task = get_task("icl-linear")
    for inst in task.instances(200, 0):
        m = inst.meta
        tokens, answers = task.supervision(inst, random.Random(0))
        assert tokens[: len(inst.tokens)] == inst.tokens and len(answers) == task.train_queries
        for pos, ans in answers.items():
            x = int(tokens[pos].rstrip("?"))
            assert ans == str((m["a"] * x + m["b"]) % 7)
            if pos > len(inst.tokens) - 1:  # an added query: an unseen x once two distinct x fix the rule
                unseen = set(range(7)) - set(m["xs"])
                assert x in ((unseen or range(7)) if len(set(m["xs"])) >= 2 else m["xs"])


@pytest.mark.parametrize("name, params", [("kv-recall", {"K": 26}), ("icl-linear", {"n": 16})])
def test_supervision_of_the_longest_prompts_fits_the_model(name, params):
    task = get_task(name, **params)
    inst = task.instances(1, 0)[0]
    tokens, answers = task.supervision(inst, random.Random(0))
    assert len(tokens) <= task.recipe.model_size["n_positions"] and len(answers) >= 1


@pytest.mark.parametrize("name", SEARCH)
def test_seeded_instances_are_reproducible_and_seeds_differ(name):
    task = get_task(name)
    a, b, c = task.instances(20, 0), task.instances(20, 0), task.instances(20, 1)
    assert [i.tokens for i in a] == [i.tokens for i in b]
    assert [i.tokens for i in a] != [i.tokens for i in c]


@pytest.mark.parametrize("name", SEARCH)
def test_counterfactuals_change_the_answer_and_keep_the_shape(name):
    task = get_task(name)
    rng = random.Random(0)
    for inst in task.instances(50, 3):
        cf = task.counterfactual(inst, rng)
        assert cf.answer != inst.answer
        assert len(cf.tokens) == len(inst.tokens)
        changed = sum(x != y for x, y in zip(cf.tokens, inst.tokens))
        assert 1 <= changed <= (len(inst.tokens) if name == "icl-linear" else 1)


@pytest.mark.parametrize("name", SEARCH)
def test_every_instance_renders_in_both_vocabularies(name):
    task = get_task(name)
    vocab = set(task.vocabulary()) | {"<bos>"}
    for inst in task.instances(30, 0):
        assert set(inst.tokens) <= vocab and inst.answer in task.answer_classes()
        prompt, answer = task.render_text(inst.meta)
        assert answer == inst.answer and prompt and "<" not in prompt


@pytest.mark.parametrize("name", SEARCH)
def test_dataset_has_tokens_positions_labels_and_counterfactuals(name):
    task = get_task(name)
    ds = task.dataset(8, 0, counterfactuals=True)
    assert len(ds) == 8
    for t in task.targets():
        for p in t.positions:
            assert f"label.{t.name}@{p}" in ds.column_names and f"pos.{p}" in ds.column_names
    assert {"tokens", "answer", "cf_tokens", "cf_answer"} <= set(ds.column_names)
    assert all(a != b for a, b in zip(ds["answer"], ds["cf_answer"]))


@pytest.mark.parametrize("name,params,message", [
    ("nope", {}, "unknown task"),
    ("argmax", {"K": 1}, "out of range"),
    ("argmax", {"K": 9, "V": 5}, "must be >="),
    ("icl-linear", {"p": 8}, "must be prime"),
    ("icl-linear", {"n": 0}, "out of range"),
    ("argmax", {"Q": 3}, "no parameter"),
])
def test_bad_parameters_raise_one_clear_error(name, params, message):
    with pytest.raises(UserError, match=message):
        get_task(name, **params)


def test_argmax_shortcut_puts_the_largest_last_as_often_as_asked():
    last = lambda task: sum(i.meta["values"][-1] == max(i.meta["values"]) for i in task.instances(1000, seed=0))
    assert last(get_task("argmax", shortcut=100)) == 1000
    assert 150 <= last(get_task("argmax", K=5)) <= 250  # no shortcut: 1 in K
    assert 550 <= last(get_task("argmax", K=5, shortcut=50)) <= 650  # 0.5 + 0.5 / 5


def test_search_tasks_declare_scored_candidates_whose_best_is_the_answer():
    import random

    for task in (get_task("argmax"), get_task("argmax", rule=3), get_task("argmax", rule=1, rules=2),
                 get_task("rocks"), get_task("kv-recall")):
        for inst in task.instances(50, seed=0):
            cands = task.candidates(inst.meta)
            if inst.meta.get("rule") == 2:  # second largest: no per-candidate score
                assert cands is None
                continue
            assert cands.answers[cands.best] == inst.answer, (task.name, task.params, inst.meta)
            assert all(p in inst.positions for p in cands.positions)
    closest = get_task("argmax", K=4, rule=3)
    cands = closest.candidates({"values": [6, 10, 2, 7], "rule": 3, "target": 8})
    assert cands.scores == (-2.0, -2.5, -6.0, -1.0)  # 6 and 10 are both 2 away: the smaller wins the tie
    assert get_task("argmax", rule=2).candidates({"values": [1, 2], "rule": 2, "target": 0}) is None
    assert get_task("icl-linear").candidates(get_task("icl-linear").draw(random.Random(0))) is None


def test_position_free_instances_drop_the_shortcut_and_nothing_else():
    task = get_task("argmax", K=6, shortcut=100, rule=3)
    free = task.position_free()
    assert free.params == task.params | {"shortcut": 0}
    last = [i.meta["values"].index(int(i.answer)) == 5 for i in free.instances(300, seed=0)]
    assert 0.1 < sum(last) / len(last) < 0.25  # the answer last about 1 time in K, not always
    assert get_task("argmax").position_free().params == get_task("argmax").params
