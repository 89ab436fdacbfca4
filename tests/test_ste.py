"""Straight-through-estimator baselines (numpy)."""
import numpy as np
import pytest

from thresh2hw.train._ste import SURROGATES, _forward, to_float_network, train_ste


def _toy(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = np.where(np.tanh(X @ rng.uniform(-1, 1, 3)) + 0.3 * X[:, 0] ** 2 >= 0.2, 1.0, -1.0)
    return X, y


@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
def test_ste_decreases_loss(surrogate):
    X, y = _toy()
    res = train_ste(X, y, "binary", hidden=(32, 8), surrogate=surrogate, beta=0.05, lr=0.05,
                    epochs=150, log_every=50)
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < 0.9 * losses[0]
    net = to_float_network(res)
    # the FloatThresholdNetwork (>= thresholds, rebalanced) computes the same function
    Z = np.hstack([res.std.transform(X), np.ones((len(X), 1))])
    F = _forward(res.Ws, Z)[2]
    np.testing.assert_allclose(net.decision(X), F, rtol=1e-9, atol=1e-9)
    obj = net.weight_decay_objective(X, y, 0.05)
    assert np.isfinite(obj) and obj <= 0.5 * ((F[:, 0] - y) ** 2).sum() + 0.05 * (
        np.sqrt((res.Ws[-1] ** 2).sum(axis=1)).sum()) + 1e-9


def test_ste_multiclass_and_errors():
    X, _ = _toy(40, 1)
    y = np.eye(3)[np.argmax(X, axis=1)]
    res = train_ste(X, y, "multiclass", hidden=(16,), epochs=50, lr=0.05, log_every=25,
                    callback=lambda Ws, std: {"probe": 1.0})
    assert res.history[-1]["probe"] == 1.0 and res.history[-1]["loss"] < res.history[0]["loss"]
    assert to_float_network(res).decision(X).shape == (40, 3)
    with pytest.raises(ValueError, match="surrogate"):
        train_ste(X, y, "multiclass", surrogate="tanh")


def test_training_never_imports_amaranth():
    import subprocess
    import sys
    code = ("import sys, thresh2hw.train, thresh2hw.train._deep, thresh2hw.train._ste, "
            "thresh2hw.train._shattered; "
            "sys.exit(any(m.startswith('amaranth') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
