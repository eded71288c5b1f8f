"""The search family's known answers under the rule that counts only the family's own variables. The largest-number
model answers without using a running maximum in its residual stream (decodable, unused: the trap the rule avoids),
however well it carries its answer; it searches in attention instead: its block-0 heads rank the candidates by value
and swapping two candidates' scores there moves the answer (probes/attention_ranking.py, probes/causal/score_swap.py), so it
is `search-in-map` by that route and `inconclusive` without it. Its random-init twin is `neither`. Planting the old
rule (erasing `answer` counted as search evidence) turns the residual route alone into `search-in-map`."""

from mesaprobe.probes import indices
from mesaprobe.probes.resummarize import resummarize
from mesaprobe.probes.run import run_probe
from mesaprobe.tasks import get_task

SEARCH_VARIABLES = ("running_max", "running_argmax")


def test_known_argmax_model_searches_in_attention_not_with_a_running_max(argmax_run, monkeypatch):
    _, results = argmax_run
    assert results["behavior"]["accuracy"] >= 0.95
    assert results["readout"]["carried"]  # the answer sits in a linear subspace the model uses
    tested = [r for r in results["probes"] if r["target"] in SEARCH_VARIABLES and r["used"] is not None]
    assert tested and all(r["used"] < indices.CAUSAL for r in tested)  # tested, and unused
    assert max(r["decodable"] for r in tested) > indices.DECODABLE  # yet decodable: the trap the rule avoids
    search = results["indices"]["search"]
    assert results["verdict"] == "search-in-map" and search["route"] == "attention", search
    assert search["routes"]["residual"]["causal"]["value"] < indices.CAUSAL
    assert search["block_by_seed"] == [0] * len(search["by_seed"])  # block 0's heads rank, as measured by hand
    assert search["breadth"]["value"] > 0.9 > 0.6 > search["breadth"]["random_init"]
    assert resummarize(results, get_task("argmax"))["verdict"] == results["verdict"]
    residual_only = results | {"attention": None}
    assert resummarize(residual_only, get_task("argmax"))["verdict"] == "inconclusive"
    # the old rule, planted: `answer` among the family's causal targets
    old = lambda view, family: view.feeding(indices.FAMILY_INDICES[family]) | {"answer"}
    monkeypatch.setattr(indices, "family_targets", old)
    assert resummarize(residual_only, get_task("argmax"))["verdict"] == "search-in-map"


def test_known_interchange_is_scored_against_the_causal_model(argmax_run):
    """Mid-list rows where the patched running maximum cannot change the answer are left out and counted."""
    _, results = argmax_run
    rows = {(r["target"], r["position"]): r for r in results["causal"] if r["method"] == "interchange"}
    mid = rows[("running_max", "item2")]
    assert mid["scored_against"] == "causal model" and mid["n_uninformative"] > 0 and mid["n"] > 0
    assert rows[("answer", "answer")]["scored_against"] == "counterfactual answer"
    assert ("running_max", "item0") not in rows  # one token's own value: no test of a search


def test_known_random_init_argmax_gets_neither(argmax_dir, tmp_path):
    results = run_probe(str(argmax_dir[0]), get_task("argmax"), tmp_path / "r", n=200, seeds=2, folds=4,
                        random_init=True, progress=False)
    assert results["model"]["training"] == "random-init"
    assert results["behavior"]["accuracy"] < 0.1
    assert results["verdict"] == "neither"


def test_argmax_intervened_answer_follows_the_search():
    task = get_task("argmax", K=4)
    meta = {"values": [5, 9, 2, 7]}
    assert task.intervened_answer(meta, "running_max", "item1", 3) == "7"  # a smaller best loses to a later item
    assert task.intervened_answer(meta, "running_max", "item2", 30) == "30"
    assert task.intervened_answer(meta, "running_argmax", "item2", 0) == "7"  # item 0 (5) against 7
    ruled = get_task("argmax", K=4, rule=1, rules=2)
    assert ruled.intervened_answer(meta | {"rule": 1, "target": 0}, "running_best", "item1", 1) == "1"
    assert ruled.intervened_answer(meta | {"rule": 2, "target": 0}, "running_best", "item1", 1) is None


def test_a_candidates_score_under_closest_to_is_its_distance_and_the_best_patched_score_wins():
    task = get_task("argmax", K=4, rule=3)
    meta = {"values": [5, 9, 2, 7], "rule": 3, "target": 8}
    inst = task.build(meta)
    assert inst.labels["closeness"] == {"item0": 3, "item1": 1, "item2": 6, "item3": 1} and inst.answer == "7"
    assert task.intervened_answer(meta, "closeness", "item2", 0) == "2"  # item 2 now scores best: its own value
    assert task.intervened_answer(meta, "closeness", "item3", 5) == "9"  # item 3 drops out; 9 (score 1) wins
    assert task.intervened_answer(meta | {"rule": 0}, "closeness", "item2", 0) is None  # no score under "largest"
    spec = next(t for t in task.targets() if t.name == "closeness")
    assert spec.index == "S1" and not spec.one_token  # a search variable in no single token
    assert "closeness" not in {t.name for t in get_task("argmax", rule=1, rules=2).targets()}
