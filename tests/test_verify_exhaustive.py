# amaranth: UnusedElaboratable=no
"""Exhaustive inputs and the pysim engine front end, including mutants that must fail."""
import numpy as np
import pytest

from thresh2hw.hdl import ThresholdNetworkCircuit
from thresh2hw.sim.engines import pack_words
from thresh2hw.sim.exhaustive import (all_inputs, check_exhaustive, check_pysim,
                                      input_space_size)
from thresh2hw.sim.mutate import observable_threshold_shift, observable_weight_flip
from thresh2hw.sim.vectors import pack_inputs

from verify_helpers import build_cache, need, net_tiny


def test_all_inputs_is_every_vector_once():
    net = net_tiny()
    Q = all_inputs(net)
    assert len(Q) == input_space_size(net) == 512
    assert len({tuple(r) for r in Q.tolist()}) == 512
    assert Q.min() == 0 and Q.max() == net.max_input


def test_pack_words_matches_pack_inputs():
    rng = np.random.default_rng(0)
    for d, b in ((3, 3), (10, 8), (13, 5)):
        Q = rng.integers(0, 1 << b, size=(50, d))
        words = pack_words(Q, b)
        ints = [sum(int(w) << (32 * k) for k, w in enumerate(row)) for row in words]
        assert ints == pack_inputs(Q, b)


@pytest.mark.sim
def test_pysim_exhaustive_and_mutants():
    net = net_tiny()
    Q = all_inputs(net)
    assert check_exhaustive(net, engine="pysim").ok
    for mutate in (observable_weight_flip, observable_threshold_shift):
        mutant, _ = mutate(net, Q)
        r = check_pysim(net, Q, circuit=ThresholdNetworkCircuit(mutant))
        assert not r.ok and r.mismatches == int((mutant.forward(Q) != net.forward(Q)).sum())
    exp = net.forward(Q)
    exp[5] += 1
    r = check_pysim(net, Q, expected=exp)
    assert r.mismatches == 1 and r.first_mismatch.index == 5


@pytest.mark.verilator
def test_exhaustive_uses_fastest_engine(build_cache):
    need("verilator")
    r = check_exhaustive(net_tiny(), cache_dir=build_cache)
    assert r.engine == "verilator" and r.ok and r.vectors == 512
