"""Candidate scoring in attention on known answers: a planted ranking head is found and a head that attends by place
is not (the position-only control takes it), shuffled scores rank nothing, the committed largest-number model's
block-0 heads rank the candidates and swapping two candidates' scores there moves its answer, while its random-init
twin and a task whose declared scores are shuffled show neither."""
import random

import numpy as np
import pytest

from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.subject import make_subject
from mesaprobe.probes.attention_ranking import breadth, candidate_ranking, position_only, row_spearman
from mesaprobe.probes.causal.score_swap import draw_pairs, swap_row
from mesaprobe.probes.indices import ranked_beyond_controls
from mesaprobe.probes.attention_ranking import attention_over_candidates
from mesaprobe.tasks.argmax import ArgmaxTask
from mesaprobe.tasks.base import Candidates


def test_row_spearman_reads_a_planted_ranking_and_not_a_shuffled_one():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(500, 6))
    planted = scores + 0.1 * rng.normal(size=scores.shape)
    assert row_spearman(planted, scores).mean() > 0.95
    assert abs(row_spearman(planted, rng.permuted(scores, axis=1)).mean()) < 0.1
    assert row_spearman(np.ones((3, 6)), scores[:3]).tolist() == [0.0, 0.0, 0.0]  # a constant row ranks nothing


def test_a_head_that_attends_by_place_is_explained_by_the_position_only_baseline():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(400, 5))
    order = np.argsort(scores, axis=1)
    placed = np.take_along_axis(scores, order, axis=1)  # every row sorted: the best always last (a shortcut)
    by_place = np.broadcast_to(np.arange(5.0), placed.shape) + 0.01 * rng.normal(size=placed.shape)
    best = placed.argmax(1)
    assert row_spearman(by_place, placed).mean() > 0.95  # it "ranks" on this data...
    rho, top = position_only(by_place, placed, best)
    assert rho > 0.95 and top == 1.0  # ...and so does place alone: beyond it, nothing


def test_breadth_counts_the_candidates_placed_against_the_answer():
    pattern = np.array([[[0.1, 0.6, 0.2, 0.1]], [[0.4, 0.1, 0.2, 0.3]]])  # [n, heads, K]
    best = np.array([1, 3])
    assert breadth(pattern, best).tolist() == [1.0, 0.5]  # all four right; the answer below one, so 2 of 4


class ShuffledArgmax(ArgmaxTask):
    """argmax whose declared candidate scores are shuffled within each instance: no model ranks by them."""

    def candidates(self, meta):
        real = super().candidates(meta)
        scores = list(real.scores)
        random.Random(str(meta["values"])).shuffle(scores)
        return Candidates(real.positions, tuple(scores), real.answers)


@pytest.fixture(scope="module")
def argmax_models(argmax_dir):
    return load_model(str(argmax_dir[0])), load_model(str(argmax_dir[0]), random_init=True, seed=3)


def ranking(model, twin, task):
    subject = make_subject(model, task)
    record = candidate_ranking(model.bridge, twin.bridge, subject.candidate_inputs(300, 0), seed=0)
    return subject, record | {"heads": ranked_beyond_controls(record["heads"])}  # as the verdict reads them


def test_the_largest_number_models_block0_heads_rank_its_candidates(argmax_models):
    model, twin = argmax_models
    _, record = ranking(model, twin, ArgmaxTask())
    block0 = [h for h in record["heads"] if h["block"] == 0]
    assert all(h["rho"] > 0.9 and h["beyond"] > 0.8 and h["top1"] > 0.85 for h in block0), block0
    assert all(h["random_init"] < 0.3 and abs(h["position_only"]) < 0.1 for h in record["heads"])
    assert max(h["beyond"] for h in record["heads"] if h["block"] == 1) < 0.3
    assert record["position_free_accuracy"] > 0.95
    blocks = {b["block"]: b for b in record["blocks"]}
    assert blocks[0]["breadth"] > 0.95 and blocks[0]["breadth_random_init"] < 0.7


def test_shuffled_scores_and_a_random_init_model_rank_nothing(argmax_models):
    model, twin = argmax_models
    _, shuffled = ranking(model, twin, ShuffledArgmax())
    assert max(h["beyond"] for h in shuffled["heads"]) < 0.1
    _, untrained = ranking(twin, load_model(str(model.path), random_init=True, seed=9), ArgmaxTask())
    assert max(h["beyond"] for h in untrained["heads"]) < 0.1


def test_swapping_two_candidates_scores_in_the_ranking_block_moves_the_answer(argmax_models):
    model, _ = argmax_models
    subject = make_subject(model, ArgmaxTask())
    inputs = subject.candidate_inputs(300, 0)
    pairs = draw_pairs(inputs.classes, inputs.best, 0)
    _, cf_patterns, _ = attention_over_candidates(model.bridge, inputs, inputs.cf_ids)
    ranking_block, other = (swap_row(model.bridge, inputs, pairs, b, cf_patterns[b]) for b in (0, 1))
    assert ranking_block["effect"] > 0.5 and ranking_block["control_effect"] < 0.05 and ranking_block["stays"] < 0.1
    assert ranking_block["follows_counterfactual"] > 0.9  # a changed token moves the attention to the new winner
    assert other["effect"] < 0.05 and other["stays"] > 0.9  # the block that does not rank
