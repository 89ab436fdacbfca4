import numpy as np
import pytest

from thresh2hw.model import IntegerNetwork, OutputLayer, ThresholdLayer


def random_network(rng, *, d=6, hidden=(8,), n_out=4, task="multiclass", input_bits=4,
                   wmax=7, vmax=5, sparsity=0.3):
    """A random integer network with negative thresholds and mixed-sign output weights."""
    layers = []
    n_in, xmax = d, (1 << input_bits) - 1
    for m in hidden:
        W = rng.integers(-wmax, wmax + 1, size=(m, n_in))
        W[rng.random((m, n_in)) < sparsity] = 0
        # thresholds spread over the reachable sum range so most neurons really switch
        lo = np.where(W < 0, W, 0).sum(axis=1) * xmax
        hi = np.where(W > 0, W, 0).sum(axis=1) * xmax
        T = np.array([rng.integers(l, h + 1) if h > l else 0 for l, h in zip(lo, hi)])
        layers.append(ThresholdLayer(W, T))
        n_in, xmax = m, 1
    if task != "multiclass":
        n_out = 1
    V = rng.integers(-vmax, vmax + 1, size=(n_out, n_in))
    c = rng.integers(-vmax, vmax + 1, size=n_out)
    return IntegerNetwork(task=task, input_bits=input_bits, hidden=tuple(layers),
                          output=OutputLayer(V, c))


def tie_network(rng):
    """Output rows 0-2 identical and {0,1}-valued: argmax ties between classes 0..2 on most
    inputs, so the lowest-index tie-break is exercised."""
    W = rng.integers(-3, 4, size=(6, 4))
    return IntegerNetwork(task="multiclass", input_bits=3,
                          hidden=(ThresholdLayer(W, rng.integers(-5, 6, size=6)),),
                          output=OutputLayer(np.array([[1, 0, 1, 0, 0, 1]] * 3 +
                                                      [[0, 1, 0, 1, 1, 0]]),
                                             np.zeros(4, dtype=np.int64)))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def threshold_mutant(net, Q):
    """``net`` with one first-layer threshold raised by 1 such that the reference outputs on
    ``Q`` change (so any correct checker must report a mismatch)."""
    from dataclasses import replace
    ref = net.forward(Q)
    for j in range(net.hidden[0].thresholds.size):
        T2 = net.hidden[0].thresholds.copy()
        T2[j] += 1
        bad = replace(net, hidden=(ThresholdLayer(net.hidden[0].weights, T2),) + net.hidden[1:])
        if (bad.forward(Q) != ref).any():
            return bad
    pytest.fail("no detectable threshold mutation")
