"""The batched probes (probes/batched.py) answer what converged scikit-learn probes answer: on planted data and on a
real run's activations, every score within 0.01."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mesaprobe.probes.linear as linear
from mesaprobe.probes.batched import Problems, cv_scores
from mesaprobe.probes.controls import chance_score
from mesaprobe.probes.linear import cv_score, fold_indices
from mesaprobe.probes.linear_suite import Spec, probe_target, probe_targets


@pytest.fixture
def converged_sklearn(monkeypatch):
    """probes/linear.py's probes, solved to a tight tolerance: the reference."""

    def make_probe(kind, sparse=False):
        model = LogisticRegression(C=10.0, max_iter=20000, tol=1e-8) if kind == "class" else Ridge(alpha=1.0)
        return model if sparse else make_pipeline(StandardScaler(), model)

    monkeypatch.setattr(linear, "make_probe", make_probe)


def batched(X, labels, kind, standardize=True):
    folds = fold_indices(len(labels[0]), 5, 0)
    problems = Problems(torch.tensor(np.asarray(X))[None], np.stack(labels), [(0, m) for m in range(len(labels))])
    return cv_scores(problems, kind, folds, standardize=standardize)


def test_planted_targets_are_found_shuffled_ones_are_not_and_sklearn_agrees(converged_sklearn):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 20)) * rng.uniform(0.1, 10, size=20) + rng.normal(size=20) * 5  # unscaled features
    separable = (X[:, 3] / X[:, 3].std() > 0.2).astype(int)
    three = np.digitize(X[:, 4] / X[:, 4].std() + 0.3 * rng.normal(size=400), [-0.5, 0.5])
    shuffled = rng.permutation(three)
    scores = batched(X, [separable, three, shuffled], "class")
    assert scores[0] > 0.95 and scores[1] > 0.8
    assert scores[2] < chance_score(three, "class") + 0.08
    for score, y in zip(scores, (separable, three, shuffled)):
        assert abs(score - cv_score(X, y, "class")) <= 0.01
    z = 2 * X[:, 5] - X[:, 7] + rng.normal(size=400) * X[:, 5].std()
    numbers = batched(X, [z, rng.permutation(z)], "number")
    assert numbers[0] > 0.5 and numbers[1] < 0.05
    assert abs(numbers[0] - cv_score(X, z, "number")) < 1e-6  # closed form: the same numbers


def test_a_label_missing_from_a_training_fold_and_a_constant_label_behave_as_in_sklearn(converged_sklearn):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 5))
    rare = np.where(X[:, 0] > 0, 1, 0)
    rare[7] = 2  # one example of class 2: absent from the training part of one fold
    constant = np.zeros(100, dtype=int)
    scores = batched(X, [rare, constant], "class")
    assert abs(scores[0] - cv_score(X, rare, "class")) <= 0.01
    assert scores[1] == 1.0


def test_one_hot_observation_features_match_sklearn_on_the_sparse_matrix(converged_sklearn):
    from mesaprobe.probes.controls import observation_features

    rng = np.random.default_rng(2)
    ids = rng.integers(0, 8, size=(300, 6))
    y = ids[:, 2] % 3
    X = observation_features(ids, np.full(300, 5), 8)
    ours = batched(X.toarray(), [y, rng.permutation(y)], "class", standardize=False)
    assert ours[0] > 0.95
    assert abs(ours[0] - cv_score(X, y, "class")) <= 0.01


def test_a_real_runs_probes_match_converged_sklearn_row_by_row(probe_data, converged_sklearn):
    specs = [Spec("argmax", "answer", "class"), Spec("is_new_best", "item2", "class"),
             Spec("running_max", "item4", "number")]
    rows = probe_targets(probe_data, specs, folds=5)
    reference = [r for s in specs for r in probe_target(probe_data, s.target, s.position, s.kind, s.token_bound, 5)]
    assert [(r["target"], r["layer"]) for r in rows] == [(r["target"], r["layer"]) for r in reference]
    for ours, ref in zip(rows, reference):
        for field in ("score", "control", "random_init", "obs_baseline"):
            assert abs(ours[field] - ref[field]) <= 0.01, (ours["target"], ours["layer"], field, ours[field], ref[field])


@pytest.mark.parametrize("option", [{"linear_backend": "fastest"}, {"device": "cuda:7"}, {"device": "tpu"}])
def test_a_bad_backend_or_absent_device_is_one_clear_error_before_any_work(argmax_dir, tmp_path, option):
    from mesaprobe.api import probe
    from mesaprobe.errors import UserError

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    with pytest.raises(UserError, match="--linear-backend|--device"):
        probe(argmax_dir[0], "argmax", tmp_path / "run", n=100, seeds=1, **option)
    assert not (tmp_path / "run").exists()


def test_batched_lbfgs_solves_each_problem_on_its_own_however_long_each_takes():
    """Quadratics of very different conditioning, two of each (they finish together): each converges to its own
    minimiser, including the slow ones that are left alone in the batch once the fast ones have finished and left."""
    from mesaprobe.probes.batched import batched_lbfgs

    gen = torch.Generator().manual_seed(0)
    k, m = 6, 12
    Q = torch.linalg.qr(torch.randn(k, m, m, generator=gen, dtype=torch.float64))[0][[0, 0, 2, 2, 4, 4]]
    spectrum = torch.stack([torch.logspace(0, c, m, dtype=torch.float64) for c in (0, 0, 2, 2, 4, 4)])
    H = Q @ torch.diag_embed(spectrum) @ Q.transpose(1, 2)
    target = torch.randn(k, m, generator=gen, dtype=torch.float64)

    def objective(rows):
        def value_and_grad(theta):
            diff = theta - target[rows]
            grad = (H[rows] @ diff[..., None])[..., 0]
            return 0.5 * (diff * grad).sum(-1), grad, grad.abs().amax(-1)
        return value_and_grad

    theta = batched_lbfgs(objective, torch.zeros(k, m, dtype=torch.float64), tol=1e-10)
    assert torch.allclose(theta, target, atol=1e-6)
