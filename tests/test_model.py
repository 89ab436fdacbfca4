"""The integer reference model: semantics, tie-breaks, JSON round trip and validation."""
import json

import numpy as np
import pytest

from thresh2hw.model import (FORMAT_VERSION, InputQuantizer, IntegerNetwork, ModelFormatError,
                             OutputLayer, ThresholdLayer)

from conftest import random_network


def _tiny(task="multiclass", V=((1, 0), (0, 1), (1, 1)), c=(0, 0, 0)):
    return IntegerNetwork(task=task, input_bits=2,
                          hidden=(ThresholdLayer(np.array([[1, -1], [0, 2]]),
                                                 np.array([0, 3])),),
                          output=OutputLayer(np.array(V), np.array(c)))


def test_threshold_fires_at_equality():
    net = _tiny()
    h = net.hidden_bits([[2, 2], [1, 2], [3, 1], [0, 1]])[0]
    # neuron 0: x0 - x1 >= 0 ; neuron 1: 2 x1 >= 3
    assert h.tolist() == [[1, 1], [0, 1], [1, 0], [0, 0]]


def test_argmax_ties_go_to_lowest_index():
    net = _tiny(V=((1, 0), (1, 0), (0, 0)))
    # h = (1, *): scores (1, 1, 0) -> class 0; h = (0, 0): all zero -> class 0
    assert net.forward([[2, 0], [0, 1]]).tolist() == [0, 0]
    net2 = _tiny(V=((0, 0), (1, 0), (1, 0)))
    assert net2.forward([[2, 0]]).tolist() == [1]


def test_binary_zero_score_is_positive_class():
    net = _tiny(task="binary", V=((1, -1),), c=(0,))
    # h = (1, 1) -> score 0 -> class 1; h = (0, 1) -> -1 -> class 0
    assert net.scores([[2, 2], [1, 2]])[:, 0].tolist() == [0, -1]
    assert net.forward([[2, 2], [1, 2]]).tolist() == [1, 0]


def test_json_round_trip_is_byte_identical(rng):
    net = random_network(rng, hidden=(7, 5))
    text = net.to_json()
    again = IntegerNetwork.from_json(text)
    assert again.to_json() == text
    Q = rng.integers(0, 16, size=(50, net.n_features))
    assert np.array_equal(again.forward(Q), net.forward(Q))


def test_quantizer_saturates_and_round_trips():
    iq = InputQuantizer.fit(np.array([[0.0, 5.0], [1.0, 5.0]]), bits=3)
    q = iq.transform(np.array([[-1.0, 7.0], [0.5, 5.0], [2.0, 0.0], [1 / 7, 5.0]]))
    # 0.5*7 = 3.5 rounds half up; the constant feature has step 1 and saturates above low + 7
    assert q.tolist() == [[0, 2], [4, 0], [7, 0], [1, 0]]


def _doc(rng):
    return json.loads(random_network(rng).to_json())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=FORMAT_VERSION + 1), "newer than this thresh2hw supports"),
    (lambda d: d.update(format="something"), "not a thresh2hw model"),
    (lambda d: d.pop("version"), "no integer 'version'"),
    (lambda d: d.update(task="clustering"), "task must be one of"),
    (lambda d: d["hidden_layers"][0].update(thresholds=[1, 2]), "thresholds must have one entry"),
    (lambda d: d["hidden_layers"][0]["weights"][0].append(1), "not a rectangular array"),
    (lambda d: d["output_layer"].update(weights=[[1.5] * 8] * 4), "must hold integers"),
    (lambda d: d.pop("output_layer"), "malformed model file"),
    (lambda d: d.update(input_bits=0), "input_bits must be"),
    (lambda d: d.update(n_features=99), "n_features says 99"),
    (lambda d: d.update(score_scale=float("nan")), "score_scale must be a positive finite"),
])
def test_malformed_models_are_rejected(rng, mutate, message):
    d = _doc(rng)
    mutate(d)
    with pytest.raises(ModelFormatError, match=message):
        IntegerNetwork.from_dict(d)


def _set_iq(d, **kw):
    d["input_quantizer"] = {"bits": d["input_bits"], "low": [0.0] * d["n_features"],
                            "step": [1.0] * d["n_features"], **kw}


@pytest.mark.parametrize("mutate, message", [
    # JSON true/false are Python bools, an int subclass: each must be refused, by field name
    (lambda d: d["hidden_layers"][0]["weights"][0].__setitem__(0, True),
     "hidden layer 0 weights must hold numbers, not true/false"),
    (lambda d: d["hidden_layers"][0].update(
        thresholds=[False] * len(d["hidden_layers"][0]["thresholds"])),
     "hidden layer 0 thresholds must hold numbers"),
    (lambda d: d["output_layer"]["weights"][1].__setitem__(0, False), "output weights must"),
    (lambda d: d["output_layer"]["bias"].__setitem__(0, True), "output bias must hold numbers"),
    (lambda d: d.update(input_bits=True), "'input_bits' must be an integer, not true"),
    (lambda d: d.update(n_features=True), "'n_features' must be an integer, not true"),
    (lambda d: d.update(version=True), "no integer 'version'"),
    (lambda d: d.update(score_scale=True), "score_scale must hold numbers"),
    (lambda d: _set_iq(d, bits=True), "input_quantizer bits must be an integer, not true"),
    (lambda d: _set_iq(d, step=[True] * d["n_features"]), "input_quantizer step must hold"),
])
def test_json_booleans_are_not_integers(rng, mutate, message):
    d = json.loads(random_network(rng, d=1, hidden=(1,)).to_json())
    mutate(d)
    with pytest.raises(ModelFormatError, match=message):
        IntegerNetwork.from_json(json.dumps(d))


def test_integer_fields_still_accept_plain_numbers(rng):
    d = _doc(rng)
    _set_iq(d)
    d["hidden_layers"][0]["weights"][0][0] = 2.0           # an integral float is fine
    d["meta"] = {"float_test_accuracy": 0.9, "flag": True}  # meta is free-form (older keys too)
    net = IntegerNetwork.from_dict(d)
    assert net.hidden[0].weights[0, 0] == 2 and net.meta["float_test_accuracy"] == 0.9


def test_invalid_json_rejected():
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        IntegerNetwork.from_json('{"format": ')


def test_inputs_checked(rng):
    net = random_network(rng, d=6, input_bits=4)
    with pytest.raises(ValueError, match="6 features"):
        net.forward(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match=r"0\.\.15"):
        net.forward(np.full((1, 6), 16))


def test_int64_overflow_is_refused():
    with pytest.raises(ModelFormatError, match="overflow"):
        IntegerNetwork(task="binary", input_bits=24,
                       hidden=(ThresholdLayer(np.full((1, 4000), 2 ** 39), np.array([0])),),
                       output=OutputLayer(np.array([[1]]), np.array([0])))
