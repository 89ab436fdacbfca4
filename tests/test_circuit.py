# amaranth: UnusedElaboratable=no
"""The Amaranth circuit against the integer reference model, cycle by cycle."""
from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from thresh2hw.hdl import ThresholdNetworkCircuit
from thresh2hw.hdl.plan import plan_network
from thresh2hw.model import IntegerNetwork, OutputLayer, ThresholdLayer
from thresh2hw.sim import (adversarial_vectors, check_circuit, pack_inputs, random_vectors,
                           simulate_circuit)

from conftest import random_network, threshold_mutant, tie_network

pytestmark = pytest.mark.sim


def _vectors(net, rng, n=150):
    return np.vstack([random_vectors(net, n, rng), adversarial_vectors(net, rng)])


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("seed", range(4))
def test_random_networks_match_reference(task, seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, d=5 + seed, hidden=(6 + 2 * seed,), task=task,
                         input_bits=3 + seed % 3)
    assert (net.hidden[0].thresholds < 0).any() or seed % 2     # negative thresholds occur
    res = check_circuit(net, _vectors(net, rng))
    assert res.vectors > 150 and res.mismatches == 0, res.first_mismatch


def test_deep_random_networks_match_reference(rng):
    for hidden in [(7, 5), (6, 6, 4)]:
        net = random_network(rng, d=6, hidden=hidden, input_bits=4)
        res = check_circuit(net, _vectors(net, rng))
        assert res.mismatches == 0, res.first_mismatch


def _reachable(w, top):
    sums = {0}
    for wi in w:
        sums = {s + wi * x for s in sums for x in range(top + 1)}
    return sums


def test_adversarial_vectors_straddle_every_threshold(rng):
    net = random_network(rng, d=6, hidden=(10,), input_bits=4)
    A = adversarial_vectors(net, rng)
    sums = A @ net.hidden[0].weights.T
    assert (A[0] == 0).all() and (A[1] == net.max_input).all()
    for j, (w, t) in enumerate(zip(net.hidden[0].weights, net.hidden[0].thresholds)):
        reach = _reachable(w.tolist(), 15)
        above = min((s for s in reach if s >= t), default=None)
        below = max((s for s in reach if s < t), default=None)
        g = int(np.abs(w).max())
        if above is not None and above <= t + g:
            assert above in sums[:, j], (j, above)        # exactly at (or nearest above) T
        if below is not None and below >= t - 1 - g:
            assert below in sums[:, j], (j, below)        # nearest sum that does not fire


def test_argmax_ties_resolved_to_lowest_index(rng):
    net = tie_network(rng)
    Q = random_vectors(net, 200, rng)
    s = net.scores(Q)
    assert ((s[:, 0] == s[:, 1]) & (s[:, 0] >= s[:, 3])).sum() > 20   # real ties exercised
    assert set(net.forward(Q).tolist()) <= {0, 3}
    res = check_circuit(net, Q)
    assert res.mismatches == 0, res.first_mismatch


def test_constant_neurons_are_folded(rng):
    W = np.array([[1, 1], [1, 1], [2, -1]])
    T = np.array([0, 100, -1])          # always on, always off, switching
    net = IntegerNetwork(task="binary", input_bits=3, hidden=(ThresholdLayer(W, T),),
                         output=OutputLayer(np.array([[-5, 7, 3]]), np.array([1])))
    plan = plan_network(net)
    assert [p.constant for p in plan.layers[0]] == [1, 0, None]
    assert plan.scores[0].offset == 1 - 5
    Q = np.array([[a, b] for a in range(8) for b in range(8)])      # exhaustive
    assert check_circuit(net, Q).mismatches == 0


def test_mutated_weight_is_caught(rng):
    net = random_network(rng, d=6, hidden=(8,), input_bits=4)
    Q = _vectors(net, rng)
    W = net.hidden[0].weights.copy()
    # The first weight whose change by one alters the reference output on these vectors.
    for j, i in zip(*np.nonzero(net.output.weights.any(axis=0)[:, None] & (W != 9))):
        W2 = W.copy()
        W2[j, i] += 1
        bad = replace(net, hidden=(ThresholdLayer(W2, net.hidden[0].thresholds),))
        if (bad.forward(Q) != net.forward(Q)).any():
            break
    else:
        pytest.fail("no detectable single-weight mutation")
    res = check_circuit(net, Q, circuit=ThresholdNetworkCircuit(bad))
    assert res.mismatches > 0
    assert res.first_mismatch.expected == net.forward(Q)[res.first_mismatch.index]


def test_mutated_threshold_off_by_one_is_caught(rng):
    net = random_network(rng, d=6, hidden=(8,), input_bits=4)
    Q = _vectors(net, rng)
    bad = threshold_mutant(net, Q)
    assert check_circuit(net, Q, circuit=ThresholdNetworkCircuit(bad)).mismatches > 0


def test_back_pressure_holds_output_and_stalls_input(rng):
    net = random_network(rng, d=4, hidden=(5,), input_bits=3)
    dut = ThresholdNetworkCircuit(net)
    Q = random_vectors(net, 40, rng)
    packed = pack_inputs(Q, net.input_bits)
    expected = net.forward(Q).tolist()
    got = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    ready_pattern = rng.random(400) < 0.5

    async def producer(ctx):
        for p in packed:
            ctx.set(dut.i.payload.as_value(), p)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        cycle = 0
        while len(got) < len(packed):
            ctx.set(dut.o.ready, int(ready_pattern[cycle % 400]))
            _, _, valid, ready, payload = await ctx.tick().sample(dut.o.valid, dut.o.ready,
                                                                   dut.o.payload)
            if valid and ready:
                got.append(int(payload))
            cycle += 1

    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert got == expected


def test_simulate_returns_latency_aligned_outputs(rng):
    net = random_network(rng, d=3, hidden=(4,), input_bits=2)
    Q = np.array([[a, b, c] for a in range(4) for b in range(4) for c in range(4)])
    out = simulate_circuit(ThresholdNetworkCircuit(net), Q)
    assert out.tolist() == net.forward(Q).tolist()
