"""Quantization: exact rational thresholds, exact rounding, hidden-bit fidelity."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from thresh2hw.floatnet import FloatThresholdNetwork
from thresh2hw.quant import ceil_fraction, quantize_network, quantize_neuron, round_half_away


def test_exact_rounding_helpers():
    for num in range(-50, 51):
        for den in range(1, 9):
            x = Fraction(num, den)
            assert ceil_fraction(x) == math.ceil(x)
            r = round_half_away(x)
            assert abs(x - r) <= Fraction(1, 2)
            if abs(x - r) == Fraction(1, 2):
                assert abs(r) > abs(x)                     # halves away from zero


def _net(U, out=((1.0,),), task="binary"):
    U = np.asarray(U, dtype=np.float64)
    d = U.shape[0] - 1
    return FloatThresholdNetwork(mean=np.zeros(d), scale=np.ones(d), layers=(U,),
                                 amplitudes=np.ones(U.shape[1]),
                                 out_weights=np.asarray(out, dtype=np.float64), task=task)


def _grid_data(d, bits):
    top = (1 << bits) - 1
    return np.array(list(itertools.product(range(top + 1), repeat=d)), dtype=np.float64)


def _exact_fire(u, q):
    return sum(Fraction(float(ui)) * int(qi) for ui, qi in zip(u[:-1], q)) + \
        Fraction(float(u[-1])) >= 0


@pytest.mark.parametrize("u", [
    [3.0, -2.0, 5.0, -7.0],     # integer weights: sums land exactly on the threshold
    [0.5, -0.25, 1.25, 0.0],    # dyadic: exactly representable after scaling
    [3.0, -2.0, 5.0, -7.5],     # threshold between two integer levels
])
def test_representable_neurons_are_reproduced_exactly(u):
    X = _grid_data(3, 3)                                   # every input of 3 x 3 bits
    fnet = _net(np.array(u)[:, None])
    net, rep = quantize_network(fnet, X, input_bits=3, weight_bits=4)
    assert net.input_quantizer.step.tolist() == [1.0, 1.0, 1.0]
    Q = net.input_quantizer.transform(X)
    h = net.hidden_bits(Q)[0][:, 0]
    exact = np.array([_exact_fire(u, q) for q in Q])
    assert np.array_equal(h, exact)
    assert rep.changed_points == 0
    s = Q @ net.hidden[0].weights[0]
    T = net.hidden[0].thresholds[0]
    if u[-1] == -7.0:
        assert (s == T).any() and h[s == T].all()          # a sum exactly at T fires


def test_threshold_is_the_exact_ceiling_for_generic_neurons():
    rng = np.random.default_rng(0)
    Q = np.array(list(itertools.product(range(8), repeat=3)))
    for k in range(200):
        g = [Fraction(int(v), 7) for v in rng.integers(-30, 31, size=3)]
        alpha = Fraction(int(rng.integers(1, 50)), int(rng.integers(1, 50)))
        # biases that put -alpha*c exactly on an integer, half-way, and at random rationals
        c = [Fraction(-int(rng.integers(-40, 40))) / alpha,
             (Fraction(-int(rng.integers(-40, 40))) + Fraction(1, 2)) / alpha,
             Fraction(int(rng.integers(-999, 999)), int(rng.integers(1, 97)))][k % 3]
        W, T = quantize_neuron(g, c, alpha)
        assert W == [round_half_away(alpha * gi) for gi in g]
        for q in Q:
            s = sum(w * int(x) for w, x in zip(W, q))
            assert (s >= T) == (s >= -alpha * c)            # exact, including s == -alpha*c


def test_quantized_digits_network_keeps_most_hidden_bits():
    from sklearn.datasets import load_digits
    from thresh2hw.train import ThresholdNetworkClassifier
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    clf = ThresholdNetworkClassifier(n_arrangements=100, beta=0.05, solver="cvxpy").fit(X, y)
    net, rep = quantize_network(clf.network_, X, weight_bits=6, classes=clf.classes_)
    assert rep.n_points == 300
    assert rep.prediction_agreement >= 0.9
    assert np.mean(net.predict_labels(X) == y) >= 0.9


def test_bad_bit_widths_rejected():
    fnet = _net(np.array([[1.0], [0.0]]))
    with pytest.raises(ValueError, match="weight_bits must be an integer in 2..24"):
        quantize_network(fnet, np.zeros((3, 1)), weight_bits=1)
