"""Batched linear probes: every (design matrix, label vector) problem of a target over every CV fold, fitted at once
as tensor operations on the accelerator (CPU when there is none). They answer what probes/linear.py's scikit-learn
probes answer, closer to the converged optimum (tests/probes/test_batched.py compares them). On 2 CPU cores it
measured faster than the scikit-learn loop on the argmax demo model and slower on gridworld's 25-class probes
(benchmarks/probe_speed.json), so `probe` uses it only with --linear-backend batched:

- numbers: StandardScaler + Ridge(alpha=1) in closed form, one Cholesky factor per (design, fold) reused for every
  label vector. himalaya solves many targets per design but loops over designs; ours are layers x folds, so the
  batch dimension is the design, which is a few lines of torch.linalg.
- classes: StandardScaler + multinomial LogisticRegression(C=10) with L2 on the weights (not the intercept), the
  same objective scikit-learn minimises (binomial for two classes: the multinomial with twice the penalty has the
  same minimiser), by a batched L-BFGS with a line search per problem (`batched_lbfgs`), in coordinates whitened
  per (design, fold), dropping problems from the batch as they converge. Classes absent from a fold's training
  rows are masked out, as scikit-learn fits only the classes it sees.

Folds are weights on the rows, never copies of them; the standardisation of each fold is folded into the weights
(`(x - mu) / s @ W = x @ (W / s) - mu / s @ W`), so activations are held once per design."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

C_LOGISTIC, ALPHA_RIDGE = 10.0, 1.0  # probes/linear.py's make_probe: the same regularisation meaning
# max |gradient| of each problem's objective (mean loss + penalty) at convergence: against scikit-learn converged to
# a far tighter tolerance, the loosest that kept every score within tests/probes/test_batched.py's bound
TOLERANCE = 1e-4
MAX_ITER = 1000
# ridge of the whitening, as a share of the mean eigenvalue (about 1 for standardised activations): the value
# hardly matters over a decade; 0 (the penalty alone) converged slower than no whitening on many-class probes
WHITEN_RIDGE = 0.01
DTYPE = torch.float64  # float32 stalls the line search short of TOLERANCE (measured on argmax activations)
PROBLEM_ELEMENTS = 2**26  # float elements of one chunk of problems' activations (memory bound per fit)


@dataclass
class Problems:
    """`designs` [D, n, d] activations; `labels` [M, n]; problem i fits `labels[pairs[i][1]]` on
    `designs[pairs[i][0]]`."""

    designs: torch.Tensor
    labels: np.ndarray
    pairs: list[tuple[int, int]]


def fold_masks(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> torch.Tensor:
    """[F, n] bool: True where a row is in fold f's training part."""
    train = torch.zeros(len(folds), n, dtype=torch.bool)
    for f, (tr, _) in enumerate(folds):
        train[f, torch.as_tensor(tr)] = True
    return train


def standardize_stats(X: torch.Tensor, train: torch.Tensor, standardize: bool):
    """Per (design, fold): mean and scale [D, F, d] of the training rows (StandardScaler: ddof 0, scale 1 where the
    variance is 0); scale 1 when not standardising (the one-hot observation features, centred only, as an
    intercept does)."""
    w = train.to(X.dtype) / train.sum(1, keepdim=True)  # [F, n]
    mu = torch.einsum("fn,dnk->dfk", w, X)
    if not standardize:
        return mu, torch.ones_like(mu)
    var = torch.einsum("fn,dnk->dfk", w, X * X) - mu * mu
    scale = var.clamp_min(0).sqrt()
    scale = torch.where(scale < 1e-8 * (1 + mu.abs()), torch.ones_like(scale), scale)
    return mu, scale


def cv_scores(problems: Problems, kind: str, folds: list[tuple[np.ndarray, np.ndarray]], standardize: bool = True,
              device: str | torch.device = "cpu", per_fold: bool = False) -> np.ndarray:
    """Mean held-out score over folds per problem (accuracy for classes, R^2 for numbers), in `pairs` order
    ([P]; [P, F] with `per_fold`).
    Problems are fitted in groups of like size (class count rounded up to a power of two: a 2-class probe does not
    pay for a 40-class one's logits) and chunks of designs that bound memory."""
    X, labels = problems.designs, problems.labels
    n, d = X.shape[1:]
    fit = _ridge_scores if kind == "number" else _logistic_scores
    size = [1] * len(labels) if kind == "number" else [1 << (len(np.unique(row)) - 1).bit_length() for row in labels]
    per_chunk = max(1, PROBLEM_ELEMENTS // max(1, n * d * len(folds)))
    out = np.zeros((len(problems.pairs), len(folds)))
    for group in sorted(set(size)):
        chosen = [i for i, (_, m) in enumerate(problems.pairs) if size[m] == group]
        used = sorted({problems.pairs[i][0] for i in chosen})
        for start in range(0, len(used), per_chunk):
            block = used[start : start + per_chunk]
            here = [i for i in chosen if problems.pairs[i][0] in set(block)]
            rows = sorted({problems.pairs[i][1] for i in here})
            pairs = [(block.index(problems.pairs[i][0]), rows.index(problems.pairs[i][1])) for i in here]
            sub = Problems(X[block], labels[rows], pairs)
            out[here] = fit(sub, folds, standardize, torch.device(device))
    return out if per_fold else out.mean(1)


def _ridge_scores(p: Problems, folds, standardize: bool, device) -> np.ndarray:
    X = p.designs.to(device, torch.float64)
    n, d = X.shape[1:]
    train = fold_masks(folds, n).to(device)
    mu, scale = standardize_stats(X, train, standardize)
    Y = torch.as_tensor(p.labels, dtype=torch.float64, device=device)
    design = torch.tensor([dz for dz, _ in p.pairs], device=device)
    label = torch.tensor([m for _, m in p.pairs], device=device)
    scores = torch.zeros(len(p.pairs), len(folds), dtype=torch.float64)
    eye = torch.eye(d, dtype=torch.float64, device=device)
    for f, (tr, te) in enumerate(folds):
        tr, te = torch.as_tensor(tr, device=device), torch.as_tensor(te, device=device)
        Z = (X[:, tr] - mu[:, f, None]) / scale[:, f, None]  # [D, n_train, d], centred by construction
        chol = torch.linalg.cholesky(Z.transpose(1, 2) @ Z + ALPHA_RIDGE * eye)  # one factor per design
        y_train = Y[label][:, tr]
        y_mean = y_train.mean(1, keepdim=True)
        rhs = (Z[design].transpose(1, 2) @ (y_train - y_mean)[..., None])
        w = torch.cholesky_solve(rhs, chol[design])  # [P, d, 1]
        pred = ((X[design][:, te] - mu[design, f, None]) / scale[design, f, None] @ w)[..., 0] + y_mean
        y_test = Y[label][:, te]
        ss_res = ((y_test - pred) ** 2).sum(1)
        ss_tot = ((y_test - y_test.mean(1, keepdim=True)) ** 2).sum(1)
        constant = ss_tot <= 1e-12 * (1 + (y_test**2).sum(1))
        exact = torch.isclose(pred, y_test, rtol=1e-5, atol=1e-8).all(1).to(torch.float64)
        scores[:, f] = torch.where(constant, exact, 1 - ss_res / ss_tot.clamp_min(1e-300)).cpu()
    return scores.numpy()


def inverse_sqrt_cov(X: torch.Tensor, train: torch.Tensor, mu, scale, ridge: float, lam: torch.Tensor) -> torch.Tensor:
    """(cov + (ridge * mean eigenvalue + lam) I)^(-1/2) [D, F, d, d] of each (design, fold)'s standardised training
    rows (`lam` [F]: the penalty, which bounds the scale where the rows do not vary)."""
    w = train.to(X.dtype) / train.sum(1, keepdim=True)  # [F, n]
    second = torch.einsum("fn,dni,dnj->dfij", w, X, X)
    cov = (second - mu[..., :, None] * mu[..., None, :]) / (scale[..., :, None] * scale[..., None, :])
    eig, Q = torch.linalg.eigh(cov)
    eig = eig.clamp_min(0) + ridge * eig.clamp_min(0).mean(-1, keepdim=True) + lam[:, None]
    return (Q * eig.rsqrt()[..., None, :]) @ Q.transpose(-1, -2)


def _logistic_scores(p: Problems, folds, standardize: bool, device) -> np.ndarray:
    dtype = DTYPE
    X = p.designs.to(device, dtype)
    n, d = X.shape[1:]
    F, P = len(folds), len(p.pairs)
    train = fold_masks(folds, n).to(device)
    mu, scale = standardize_stats(X, train, standardize)
    codes = np.stack([np.unique(row, return_inverse=True)[1].ravel() for row in p.labels])  # each vector's own
    codes = torch.as_tensor(codes, device=device)  # [M, n] class indices
    C = int(codes.max()) + 1
    design = torch.tensor([dz for dz, _ in p.pairs], device=device)
    y = codes[torch.tensor([m for _, m in p.pairs], device=device)]  # [P, n]
    onehot = torch.nn.functional.one_hot(y, C).to(dtype)  # [P, n, C]
    present = torch.einsum("fn,pnc->pfc", train.to(dtype), onehot) > 0  # classes seen in each fold's training rows
    mask = torch.where(present, 0.0, -1e9).to(dtype)  # [P, F, C]; finite, so absent labels of test rows stay finite
    n_train = train.sum(1).to(dtype)  # [F]
    # scikit-learn: C * sum(loss) + 0.5 |w|^2, i.e. mean loss + |w|^2 / (2 C n); binomial for two classes
    lam = (1.0 / (C_LOGISTIC * n_train))[None, :] * torch.where(present.sum(-1) == 2, 2.0, 1.0)  # [P, F]
    weight = (train.to(dtype) / n_train[:, None]).T  # [n, F]
    # L-BFGS runs in whitened coordinates W = R V, R = (cov + ridge I)^(-1/2) of each (design, fold)'s standardised
    # training rows: the data term's Hessian at 0 becomes ~I, so the short memory is not spent learning the
    # activations' correlations (argmax demo model: 4x fewer iterations). The stopping test stays on the gradient in W.
    root = inverse_sqrt_cov(X, train, mu, scale, WHITEN_RIDGE, 1.0 / (C_LOGISTIC * n_train))
    ones = torch.ones(*X.shape[:2], 1, dtype=dtype, device=device)  # a column of ones carries the intercepts
    per_problem = {"X1": torch.cat([X, ones], -1), "inv": 1 / scale, "mu": mu, "root": root}  # indexed by design
    by_problem = {"label": y[:, :, None, None], "mask": mask, "lam": lam}

    def logits(t, W, b):  # W [k, F, d, C] in standardised units -> [k, n, F, C]
        A = (W * t["inv"][..., None]).permute(0, 2, 1, 3).reshape(len(W), d, F * C)
        shift = b - torch.einsum("pfd,pfdc->pfc", t["mu"] * t["inv"], W) + t["mask"]
        return (t["X1"] @ torch.cat([A, shift.reshape(len(W), 1, F * C)], 1)).view(len(W), n, F, C)

    def tensors(rows: torch.Tensor) -> dict:
        return {k: v[design[rows]] for k, v in per_problem.items()} | {k: v[rows] for k, v in by_problem.items()}

    def objective(rows: torch.Tensor):
        """value_and_grad of the problems `rows`, in whitened coordinates."""
        t, k = tensors(rows), len(rows)

        def value_and_grad(theta):
            V, b = theta[..., : d * C].view(k, F, d, C), theta[..., d * C :]
            W = t["root"] @ V
            logp = torch.log_softmax(logits(t, W, b), -1)
            label = t["label"].expand(k, n, F, 1)
            value = -logp.gather(-1, label)[..., 0].mul(weight).sum(1) + 0.5 * t["lam"] * (W * W).sum((2, 3))  # [k, F]
            r = logp.exp_().scatter_add_(-1, label, torch.full_like(label, -1, dtype=dtype))  # softmax - one-hot
            r *= weight[..., None]  # d(mean loss)/d(logits) [k, n, F, C]
            xr = (t["X1"].transpose(1, 2) @ r.reshape(k, n, F * C)).view(k, d + 1, F, C).permute(0, 2, 1, 3)
            xr, g_b = xr[:, :, :d], xr[:, :, d]  # [k, F, d, C], [k, F, C]: the ones column sums r over the rows
            g_W = (xr - t["mu"][..., None] * g_b[:, :, None, :]) * t["inv"][..., None] + t["lam"][..., None, None] * W
            kkt = torch.maximum(g_W.abs().amax((2, 3)), g_b.abs().amax(-1))
            return value, torch.cat([(t["root"] @ g_W).reshape(k, F, d * C), g_b], -1), kkt

        return value_and_grad

    theta = batched_lbfgs(objective, torch.zeros(P, F, (d + 1) * C, dtype=dtype, device=device))
    everything = tensors(torch.arange(P, device=device))
    W = everything["root"] @ theta[..., : d * C].view(P, F, d, C)
    pred = logits(everything, W, theta[..., d * C :]).argmax(-1)  # [P, n, F]
    test = (~train).T.to(dtype)  # [n, F]
    acc = ((pred == y[:, :, None]).to(dtype) * test).sum(1) / test.sum(0)  # [P, F]
    return acc.cpu().numpy()


@torch.no_grad()
def batched_lbfgs(objective, theta: torch.Tensor, tol: float | None = None, max_iter: int = MAX_ITER,
                  history: int = 10) -> torch.Tensor:
    """Minimise independent smooth convex problems at once. `objective(rows)` -> the function of the problems
    `rows` (indices into theta's first axis): `theta [k, ..., m]` -> (values [k, ...], gradients [k, ..., m],
    stationarity [k, ...]). L-BFGS (two-loop recursion) with a backtracking Armijo line search, both per problem; a
    problem stops once its stationarity <= tol, and problems whose entries have all stopped leave the batch, so the
    slowest few do not carry the rest. torch.optim.LBFGS would take one step length for all problems (their summed
    objective), converging at the pace of the worst-conditioned one; no kept library batches L-BFGS over independent
    problems, hence these lines."""
    tol = TOLERANCE if tol is None else tol
    dot = torch.linalg.vecdot
    out, rows = theta.clone(), torch.arange(len(theta), device=theta.device)
    value_and_grad = objective(rows)
    f, g, kkt = value_and_grad(theta)
    S, Y, rho = [], [], []
    active = kkt > tol
    gamma = 1 / g.abs().sum(-1).clamp_min(1.0)  # initial Hessian scale: the first step is at most 1 in L1
    for _ in range(max_iter):
        finished = ~active.reshape(len(active), -1).any(1)
        if finished.any():  # write the finished problems out and carry on with the rest
            out[rows[finished]] = theta[finished]
            keep = ~finished
            if not keep.any():
                return out
            rows, theta, f, g, kkt, active, gamma = (t[keep] for t in (rows, theta, f, g, kkt, active, gamma))
            S, Y, rho = [s[keep] for s in S], [y_[keep] for y_ in Y], [r[keep] for r in rho]
            value_and_grad = objective(rows)
        q = g.clone()  # two-loop recursion: direction = -H g
        alphas = []
        for s, y_, r in zip(reversed(S), reversed(Y), reversed(rho)):
            a = r * dot(s, q)
            q -= a[..., None] * y_
            alphas.append(a)
        q *= gamma[..., None]
        for s, y_, r, a in zip(S, Y, rho, reversed(alphas)):
            q += s * (a - r * dot(y_, q))[..., None]
        direction = -q * active[..., None]
        slope = dot(g, direction)
        step = torch.ones_like(f)
        for _ in range(30):  # Armijo backtracking, per problem
            f_new, g_new, kkt_new = value_and_grad(theta + step[..., None] * direction)
            bad = active & (f_new > f + 1e-4 * step * slope)
            if not bad.any():
                break
            step = torch.where(bad, step / 2, step)
        stalled = bad  # no decrease even at a tiny step: as converged as this precision allows; stays put
        active = active & ~stalled
        s_k = step[..., None] * direction * active[..., None]
        y_k = g_new - g
        curv = dot(s_k, y_k)
        good = active & (curv > 1e-10 * dot(y_k, y_k))  # skip pairs without positive curvature
        S.append(s_k * good[..., None])
        Y.append(torch.where(good[..., None], y_k, torch.zeros_like(y_k)))
        rho.append(torch.where(good, 1 / curv.clamp_min(1e-300), torch.zeros_like(curv)))
        gamma = torch.where(good, curv / dot(y_k, y_k).clamp_min(1e-300), gamma)
        if len(S) > history:
            S.pop(0), Y.pop(0), rho.pop(0)
        theta = theta + s_k
        f = torch.where(active, f_new, f)
        g = torch.where(active[..., None], g_new, g)
        kkt = torch.where(active, kkt_new, kkt)
        active = active & (kkt > tol)
    out[rows] = theta
    return out
