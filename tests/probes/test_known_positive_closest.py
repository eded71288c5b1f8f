"""The search family says yes where it must, on a model whose search variable is in no single token.
tests/fixtures/argmax-closest-sl is argmax under "closest to a target" (`mesaprobe train argmax -p rule=3 --seed 0
--steps 4000`, 99.2% held-out accuracy): the prompt gives the target, then K=5 numbers; the answer is the number
nearest the target. A candidate's score, its distance to the target, needs two tokens, so a model that answers must
compute it somewhere. Interchange on one candidate's score (a learned DAS subspace at its position after block 0)
must make the model answer what the task's causal model says: the number whose patched score is best. Measured with
3000 rows (experiments/results/das-closeness.jsonl): IIA 0.914-0.974 at the five items (77-106 rows each where the
score differs), against 0.05-0.17 for a random subspace of the same rank; after block 1 (which no later position
reads) 0.00-0.01. The 1500-step model this fixture replaced (97.4%) reached 0.877 and 0.895 at items 0 and 3."""
from pathlib import Path

import pytest

from mesaprobe.models.loading import load_model, random_twin
from mesaprobe.models.subjects.subject import make_subject
from mesaprobe.probes.causal.das import das_row
from mesaprobe.probes.replicate import replicate
from mesaprobe.tasks import get_task

FIXTURE = Path(__file__).parents[1] / "fixtures" / "argmax-closest-sl"


@pytest.fixture(scope="module")
def closest_data(tmp_path_factory):
    loaded = load_model(str(FIXTURE))
    subject = make_subject(loaded, get_task("argmax", rule=3))
    data, behavior = replicate(subject, random_twin(loaded, seed=1000), 2000, 0, tmp_path_factory.mktemp("d"), False,
                               loaded.n_layers - 1)
    return subject, data, behavior


@pytest.mark.trains
def test_interchange_on_one_candidates_score_follows_the_best_patched_score(closest_data):
    subject, data, behavior = closest_data
    assert behavior["accuracy"] >= 0.95
    row = das_row(subject.bridge, data, "closeness", "item2", 0)
    assert row["n"] >= 40 and row["effect"] >= 0.9 and row["control_effect"] <= 0.2, row
    late = das_row(subject.bridge, data, "closeness", "item2", 1)  # after the last block: nothing reads it there
    assert late["effect"] <= 0.1, late
