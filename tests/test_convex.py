"""The paper's equivalence: Lasso optimum == weight-decay objective of the rebuilt network, and
the Lasso over all patterns of tiny data against brute force."""
import itertools

import numpy as np
import pytest

from thresh2hw.floatnet import augment
from thresh2hw.train import (enumerate_arrangements, fit_convex, sample_arrangements,
                             ThresholdNetworkClassifier)
from thresh2hw.train._convex import Standardizer, reconstruct
from thresh2hw.train._lasso import lasso_objective, solve_cvxpy


def brute_force_lasso(H, y, beta):
    """min 1/2||Hw - y||^2 + beta||w||_1 by enumerating every support and sign vector: at the
    optimum, w_S = (H_S' H_S)^-1 (H_S' y - beta sign) with consistent signs."""
    H = H.astype(np.float64)
    best = 0.5 * float(y @ y)
    P = H.shape[1]
    for k in range(1, P + 1):
        for S in itertools.combinations(range(P), k):
            HS = H[:, S]
            G = HS.T @ HS
            if np.linalg.matrix_rank(G) < k:
                continue
            Ginv, b = np.linalg.inv(G), HS.T @ y
            for sg in itertools.product((-1.0, 1.0), repeat=k):
                w = Ginv @ (b - beta * np.asarray(sg))
                if np.all(np.sign(w) == sg):
                    r = HS @ w - y
                    best = min(best, 0.5 * float(r @ r) + beta * float(np.abs(w).sum()))
    return best


@pytest.mark.parametrize("n, d, seed", [(5, 1, 0), (6, 1, 1), (3, 2, 2)])
def test_enumerated_lasso_matches_brute_force(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    std = Standardizer.fit(X)
    Z = augment(std.transform(X))
    arr = enumerate_arrangements(Z)
    expected = {1: 2 * n - 1, 2: 2 ** n - 1}[d]          # all dichotomies minus the empty one
    assert arr.n_distinct == expected
    beta = 0.1
    res = solve_cvxpy(arr.H, y, beta)
    brute = brute_force_lasso(arr.H, y, beta)
    assert abs(res.objective - brute) <= 1e-6 * brute
    # the rebuilt threshold network reaches the same objective (the paper's equivalence)
    coef = res.coef[:, None]
    support = np.flatnonzero(np.abs(res.coef) > 1e-7 * np.abs(res.coef).max())
    net = reconstruct(arr.U, coef, support, std, "binary")
    rec = net.weight_decay_objective(X, y, beta)
    assert abs(rec - res.objective) <= 1e-6 * res.objective


def test_sampled_patterns_are_a_subset_of_the_enumeration():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 2))
    Z = augment(Standardizer.fit(X).transform(X))
    full = {h.tobytes() for h in enumerate_arrangements(Z).H.T}
    sampled = sample_arrangements(Z, 3000, random_state=0)
    got = {h.tobytes() for h in sampled.H.T}
    assert got <= full and len(got) >= 0.8 * len(full)
    assert np.ones(8, dtype=bool).tobytes() in got                 # the bias pattern
    assert sampled.n_sampled == 3001


def test_sampling_is_deterministic_and_deduplicated():
    rng = np.random.default_rng(4)
    Z = augment(rng.standard_normal((40, 3)))
    a = sample_arrangements(Z, 500, random_state=7)
    b = sample_arrangements(Z, 500, random_state=7)
    assert np.array_equal(a.U, b.U) and np.array_equal(a.H, b.H)
    assert len({h.tobytes() for h in a.H.T}) == a.n_distinct
    assert not (~a.H).all(axis=0).any()                            # no all-zero pattern
    assert np.array_equal(a.H, Z @ a.U >= 0)                       # generators reproduce them


@pytest.mark.parametrize("multiclass", [False, True])
def test_reconstructed_objective_equals_lasso_optimum(multiclass):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 4))
    if multiclass:
        y = np.argmax(X[:, :3], axis=1)
        Y = np.eye(3)[y]
        task = "multiclass"
    else:
        Y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
        task = "binary"
    fit = fit_convex(X, Y, task, beta=0.05, n_directions=300, solver="cvxpy")
    assert fit.network.n_hidden >= 2
    assert abs(fit.reconstructed_objective - fit.lasso_objective) <= 1e-6 * fit.lasso_objective
    # dropping any neuron makes the network worse: each one carries weight
    assert fit.lasso_objective < 0.5 * float((Y ** 2).sum())


def test_beta_at_beta_max_gives_zero_network():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((30, 2))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    fit = fit_convex(X, y, "binary", beta=1.0, n_directions=100, solver="cvxpy")
    assert np.allclose(fit.network.decision(X), 0, atol=1e-3)     # interior-point accuracy
    assert abs(fit.lasso_objective - 0.5 * len(y)) <= 1e-6 * len(y)


def test_classifier_predictions_follow_the_network():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((80, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "yes", "no")
    clf = ThresholdNetworkClassifier(n_arrangements=200, beta=0.01, solver="cvxpy").fit(X, y)
    assert clf.score(X, y) >= 0.95
    f = clf.decision_function(X)
    assert np.array_equal(clf.predict(X), np.where(f >= 0, "yes", "no"))
