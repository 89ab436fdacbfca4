# amaranth: UnusedElaboratable=no
"""Every circuit architecture (combinational, pipelined, folded) against the reference model,
through the stream handshake: back to back, with input bubbles and with random back-pressure."""
import json

import numpy as np
import pytest
from amaranth.back import rtlil

from thresh2hw.hdl import ARCHITECTURES, ThresholdNetworkCircuit, build_circuit
from thresh2hw.model import IntegerNetwork, OutputLayer, ThresholdLayer
from thresh2hw.sim import (adversarial_vectors, check_circuit, random_vectors, run_stream)

from conftest import random_network, threshold_mutant, tie_network

pytestmark = pytest.mark.sim

#: (architecture, params) pairs covering every architecture and the parameter corners.
CONFIGS = [
    ("combinational", {}),
    ("pipelined", {"pipeline_stages": 1}),
    ("pipelined", {"pipeline_stages": 3}),
    ("pipelined", {"pipeline_stages": "max"}),
    ("pipelined", {"pipeline_stages": 1, "flow_control": "credit"}),
    ("pipelined", {"pipeline_stages": "max", "flow_control": "credit"}),
    ("folded", {"fold": 1}),
    ("folded", {"fold": 3}),            # does not divide n_features: a ragged last cycle
    ("folded", {"fold": 64}),           # everything in one cycle
    ("folded", {"fold": 3, "pipeline_stages": 1}),          # the tail registered once
    ("folded", {"fold": 2, "pipeline_stages": "max"}),      # ... after every level
]
IDS = [f"{a}-{'-'.join(f'{k}{v}' for k, v in p.items())}" for a, p in CONFIGS]


def _vectors(net, rng, n=50):
    return np.vstack([random_vectors(net, n, rng), adversarial_vectors(net, rng)])


def _check_all_ways(net, Q, arch, params, seed=0):
    """Back to back, then with bubbles and back-pressure; return the circuit used first."""
    circuit = build_circuit(net, architecture=arch, **params)
    res = check_circuit(net, Q, circuit=circuit)
    assert res.mismatches == 0, res.first_mismatch
    assert res.latency == res.latency_max == circuit.latency        # nothing stalls it
    res = check_circuit(net, Q, architecture=arch, bubbles=0.3, backpressure=0.4, seed=seed,
                        **params)
    assert res.mismatches == 0, res.first_mismatch
    assert res.latency == circuit.latency and res.latency_max >= res.latency
    return circuit


@pytest.mark.parametrize("arch,params", CONFIGS, ids=IDS)
@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_architectures_match_reference(arch, params, task):
    rng = np.random.default_rng(["multiclass", "binary", "regression"].index(task))
    net = random_network(rng, d=7, hidden=(9,), task=task, input_bits=4)
    assert (net.hidden[0].thresholds < 0).any()                     # negative thresholds occur
    _check_all_ways(net, _vectors(net, rng), arch, params, seed=1)


@pytest.mark.parametrize("arch,params", CONFIGS, ids=IDS)
def test_deep_networks_match_reference(arch, params):
    rng = np.random.default_rng(7)
    for task, hidden in [("multiclass", (7, 5)), ("binary", (6, 4))]:
        net = random_network(rng, d=5, hidden=hidden, task=task, input_bits=3)
        _check_all_ways(net, _vectors(net, rng, 40), arch, params, seed=2)


@pytest.mark.parametrize("arch,params", CONFIGS, ids=IDS)
def test_argmax_ties_go_to_lowest_index(arch, params):
    rng = np.random.default_rng(3)
    net = tie_network(rng)
    Q = random_vectors(net, 60, rng)
    s = net.scores(Q)
    assert ((s[:, 0] == s[:, 1]) & (s[:, 0] >= s[:, 3])).sum() > 10   # real ties exercised
    _check_all_ways(net, Q, arch, params)


def test_constant_neurons_in_every_architecture():
    W = np.array([[1, 1], [1, 1], [2, -1]])
    T = np.array([0, 100, -1])          # always on, always off, switching
    net = IntegerNetwork(task="binary", input_bits=3, hidden=(ThresholdLayer(W, T),),
                         output=OutputLayer(np.array([[-5, 7, 3]]), np.array([1])))
    Q = np.array([[a, b] for a in range(8) for b in range(8)])      # exhaustive
    for arch, params in CONFIGS:
        if params.get("pipeline_stages") == 3:          # this network is only 2 levels deep
            params = {"pipeline_stages": 1}
        if arch == "folded" and "pipeline_stages" in params:    # a 1-level tail: no cut
            params = {**params, "pipeline_stages": "max"}
        assert check_circuit(net, Q, architecture=arch, **params).mismatches == 0, arch


@pytest.mark.parametrize("arch,params", CONFIGS[:4], ids=IDS[:4])
def test_one_vector_per_cycle_with_ready_consumer(arch, params):
    rng = np.random.default_rng(5)
    net = random_network(rng, d=6, hidden=(8,), input_bits=4)
    Q = random_vectors(net, 50, rng)
    c = build_circuit(net, architecture=arch, **params)
    run = run_stream(c, Q)
    assert c.initiation_interval == 1
    assert (np.diff(run.in_edges) == 1).all()               # accepted on every edge
    assert run.cycles == len(Q) + c.latency                 # last output after n + latency
    assert (run.latencies == c.latency).all()
    assert run.outputs.tolist() == net.forward(Q).tolist()


@pytest.mark.parametrize("fold", [1, 2, 4, 6, 50])
def test_folded_initiation_interval_and_latency(fold):
    rng = np.random.default_rng(fold)
    net = random_network(rng, d=6, hidden=(5,), input_bits=3)
    c = build_circuit(net, architecture="folded", fold=fold)
    n_cyc = -(-6 // fold)
    assert (c.initiation_interval, c.latency, c.fold_cycles) == (n_cyc, n_cyc + 1, n_cyc)
    Q = random_vectors(net, 20, rng)
    run = run_stream(c, Q)
    assert (np.diff(run.in_edges) == n_cyc).all()
    assert (run.latencies == n_cyc + 1).all()
    assert run.cycles == (len(Q) - 1) * n_cyc + 1 + c.latency
    assert run.outputs.tolist() == net.forward(Q).tolist()


def test_folded_tail_stages_add_latency_not_interval():
    rng = np.random.default_rng(12)
    net = random_network(rng, d=6, hidden=(5, 4), input_bits=3)
    top = build_circuit(net, architecture="folded", fold=2, pipeline_stages="max")
    assert top.pipeline_stages == top.max_pipeline_stages == top.logic_levels - 1 >= 2
    for n in range(top.logic_levels):
        c = build_circuit(net, architecture="folded", fold=2, pipeline_stages=n)
        assert (c.latency, c.initiation_interval) == (3 + 1 + n, 3)
        Q = random_vectors(net, 12, rng)
        run = run_stream(c, Q)
        assert (np.diff(run.in_edges) == 3).all() and (run.latencies == c.latency).all()
        assert run.cycles == (len(Q) - 1) * 3 + 1 + c.latency
        assert run.outputs.tolist() == net.forward(Q).tolist()


def test_pipeline_latency_and_cuts():
    rng = np.random.default_rng(11)
    net = random_network(rng, d=8, hidden=(6, 5), input_bits=4)
    top = build_circuit(net, architecture="pipelined", pipeline_stages="max")
    L = top.logic_levels
    assert top.pipeline_stages == top.max_pipeline_stages == L - 1
    assert top.cut_levels == list(range(1, L))             # a register after every level
    for n in range(L):
        c = build_circuit(net, architecture="pipelined", pipeline_stages=n)
        assert c.latency == n + 1 and c.initiation_interval == 1
        assert len(set(c.cut_levels)) == n and all(1 <= k < L for k in c.cut_levels)
        # credit back-pressure adds the result register in front of its output queue (and
        # needs a stage: zero stages is the combinational circuit, which has no queue)
        if n == 0:
            with pytest.raises(ValueError, match="needs at least one pipeline stage"):
                build_circuit(net, architecture="pipelined", pipeline_stages=0,
                              flow_control="credit")
        else:
            q = build_circuit(net, architecture="pipelined", pipeline_stages=n,
                              flow_control="credit")
            assert q.latency == n + 2 and q.initiation_interval == 1
    # zero stages is the combinational circuit, register for register
    zero = build_circuit(net, architecture="pipelined", pipeline_stages=0)
    assert rtlil.convert(zero, emit_src=False) == \
        rtlil.convert(ThresholdNetworkCircuit(net), emit_src=False)


@pytest.mark.parametrize("arch,params", CONFIGS, ids=IDS)
def test_threshold_off_by_one_is_caught(arch, params):
    rng = np.random.default_rng(13)
    net = random_network(rng, d=6, hidden=(8,), input_bits=4)
    Q = _vectors(net, rng)
    bad = threshold_mutant(net, Q)
    res = check_circuit(net, Q, circuit=build_circuit(bad, architecture=arch, **params))
    assert res.mismatches > 0
    assert res.first_mismatch.expected == net.forward(Q)[res.first_mismatch.index]


@pytest.mark.parametrize("kwargs,message", [
    ({"architecture": "systolic"},
     "architecture must be one of combinational, pipelined, folded, not 'systolic'"),
    ({"architecture": "pipelined", "pipeline_stages": -1},
     "pipeline_stages must be a non-negative integer, not -1"),
    ({"architecture": "pipelined", "pipeline_stages": 1.5},
     "pipeline_stages must be a non-negative integer, not 1.5"),
    ({"architecture": "pipelined", "pipeline_stages": True},
     "pipeline_stages must be a non-negative integer, not True"),
    ({"architecture": "pipelined", "pipeline_stages": 10 ** 6},
     r"pipeline_stages must be at most (\d+) for this network \(\d+ logic levels; 'max' "
     r"gives \1\), not 1000000"),
    ({"architecture": "folded", "fold": 0}, "fold must be a positive integer, not 0"),
    ({"architecture": "folded", "fold": "2"}, "fold must be a positive integer, not '2'"),
    ({"fold": 2}, "fold applies only to architecture='folded', not 'combinational'"),
    ({"architecture": "combinational", "pipeline_stages": 2},
     "pipeline_stages applies only to architecture='pipelined' or architecture='folded', "
     "not 'combinational'"),
    ({"architecture": "pipelined", "stages": 2},
     r"unknown circuit parameter 'stages' \(known: pipeline_stages, fold, flow_control, "
     r"share_terms\)"),
    ({"architecture": "pipelined", "flow_control": "skid"},
     "flow_control must be one of stall, credit, not 'skid'"),
    ({"architecture": "folded", "flow_control": "credit"},
     "flow_control applies only to architecture='pipelined', not 'folded'"),
])
def test_invalid_parameters_are_rejected(kwargs, message):
    net = random_network(np.random.default_rng(0), d=4, hidden=(3,))
    with pytest.raises(ValueError, match=f"^{message}$"):
        build_circuit(net, **kwargs)


def test_public_attributes_and_interface_json(tmp_path):
    from thresh2hw.cli import main
    from thresh2hw.emit import emit
    net = random_network(np.random.default_rng(1), d=5, hidden=(4,))
    assert ARCHITECTURES == ("combinational", "pipelined", "folded")
    for arch, params in CONFIGS:
        c = build_circuit(net, architecture=arch, **params)
        assert c.network is net and c.architecture == arch and c.plan is not None
        assert c.latency >= 1 and c.initiation_interval >= 1
    paths = emit(net, tmp_path, "top", rtlil_too=False, architecture="folded", fold=2)
    with open(paths["interface"]) as f:
        desc = json.load(f)
    assert (desc["architecture"], desc["latency_cycles"], desc["initiation_interval"]) == \
        ("folded", 4, 3)
    net.save(tmp_path / "m.json")
    assert main(["-q", "compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw"),
                 "--pipeline-stages", "2"]) == 0
    desc = json.loads((tmp_path / "hw" / "thresh2hw_top.interface.json").read_text())
    assert (desc["architecture"], desc["latency_cycles"], desc["initiation_interval"]) == \
        ("pipelined", 3, 1)
    assert main(["-q", "simulate", str(tmp_path / "m.json"), "--random", "30", "--arch",
                 "folded", "--fold", "3", "--json", str(tmp_path / "r.json")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert (res["mismatches"], res["architecture"], res["latency_cycles"]) == (0, "folded", 3)
    assert main(["-q", "compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw"),
                 "--arch", "combinational", "--fold", "2"]) == 2


def test_one_sided_neurons_against_constants_exhaustively():
    """Neurons whose terms all have one sign compare one tree with a constant (LUT logic in
    the pipelined and folded circuits, shifted inputs against rounded constants): every input
    of a 2-feature, 5-bit network, thresholds on both sides of zero and at the range ends."""
    W = np.array([[4, 0], [0, -2], [3, 0], [0, -1], [-6, 0], [1, 2], [-1, -3], [2, 0],
                  [0, 1], [-4, 0]])
    T = np.array([37, -9, 50, -31, -100, 17, -60, 1, 31, 0])
    V = np.arange(1, 31).reshape(3, 10) % 7 - 3
    net = IntegerNetwork(task="multiclass", input_bits=5, hidden=(ThresholdLayer(W, T),),
                         output=OutputLayer(V, np.array([0, 1, -1])))
    Q = np.array([[a, b] for a in range(32) for b in range(32)])
    for arch, params in [("pipelined", {"pipeline_stages": 1}),
                         ("pipelined", {"pipeline_stages": "max"}), ("folded", {"fold": 2})]:
        assert check_circuit(net, Q, architecture=arch, **params).mismatches == 0, arch


#: A 2-feature first layer with mixed-sign and shifted (CSD) terms, thresholds at and around
#: the range ends of 5-bit inputs; every neuron fires and rests on some input.
_MIXED_W = np.array([[3, -5], [-7, 2], [6, -6], [-1, 1], [12, -3], [-2, -9], [5, 7], [-4, 4],
                     [1, -2], [-3, 3]])
_MIXED_T = np.array([0, -40, 1, 0, 100, -150, 200, -1, -61, 31])


def test_mixed_sign_neurons_and_wide_argmax_exhaustively():
    """The scheduled neuron adds the complements of its negative inputs (and compares with a
    constant), the all-pairs argmax compares bare carry chains on registered complements, and
    with cuts half of the scores read complemented copies of the hidden bits: every input of
    a 2-feature, 5-bit network with mixed-sign and shifted (CSD) terms, thresholds at and
    around the range ends, and six classes, in every scheduled form."""
    W, T = _MIXED_W, _MIXED_T
    V = (np.arange(60).reshape(6, 10) * 7) % 11 - 5
    net = IntegerNetwork(task="multiclass", input_bits=5, hidden=(ThresholdLayer(W, T),),
                         output=OutputLayer(V, np.array([0, 2, -3, 1, 0, -1])))
    Q = np.array([[a, b] for a in range(32) for b in range(32)])
    ref = net.forward(Q)
    assert len(set(ref.tolist())) >= 4                  # the argmax really decides
    h = (Q @ W.T >= T)
    assert (h.any(axis=0) & ~h.all(axis=0)).all()       # every neuron fires and rests
    for arch, params in [("pipelined", {"pipeline_stages": 1}),
                         ("pipelined", {"pipeline_stages": 4}),
                         ("pipelined", {"pipeline_stages": "max"}),
                         ("pipelined", {"pipeline_stages": "max", "flow_control": "credit"}),
                         ("folded", {"fold": 1, "pipeline_stages": "max"})]:
        res = check_circuit(net, Q, architecture=arch, **params)
        assert res.mismatches == 0, (arch, params, res.first_mismatch)
    # a threshold one off (the first one that changes a prediction) is caught
    for j in range(len(T)):
        bad = IntegerNetwork(task="multiclass", input_bits=5,
                             hidden=(ThresholdLayer(W, T + np.eye(len(T), dtype=int)[j]),),
                             output=net.output)
        if (bad.forward(Q) != ref).any():
            break
    else:
        pytest.fail("no threshold mutant changes a prediction")
    res = check_circuit(net, Q, circuit=build_circuit(bad, architecture="pipelined",
                                                      pipeline_stages="max"))
    assert res.mismatches > 0


def test_equal_table_bits_are_one_signal():
    # the low bit of both leaf tables is h4 xor h5 (index bits in a different order): built
    # once, or synthesis merges the two LUTs into one driving two registers
    from amaranth.hdl import Module, Signal
    from thresh2hw.hdl.network import _Node, _Schedule
    h = [_Node(Signal(name=f"h{j}"), 0, 1, 1) for j in range(8)]
    sched = _Schedule(Module())

    def table(index, weights):
        t = [sum(w for i, w in enumerate(weights) if k >> i & 1) for k in range(16)]
        return sched.table([h[i] for i in index], t, min(t), max(t)).value
    a = table((4, 5, 6, 7), (1, 1, 2, 2))
    b = table((5, 4, 0, 1), (1, 1, 2, -2))
    first = repr(a).split(")")[0]                     # "(cat (sig tK"
    assert first.startswith("(cat (sig t") and repr(b).startswith("(s " + first + ")")
    assert repr(a).count("(sig t") == 3 and repr(b).count(first[5:]) == 1


def test_eight_bit_argmax_with_top_bits_split_off_exhaustively():
    """Biased scores eight bits wide: the chains compare seven bits and a LUT puts the top
    bits in front. Scores whose top bit varies, is always 0 (s3) or always 1 (s2) (so one
    pair's order is a constant), with ties, on every input, in every scheduled form."""
    W, T = _MIXED_W, _MIXED_T
    V = np.array([[30, 30, 30, 30, 30, 0, 0, 0, 0, 0],
                  [-30, -30, -30, 10, 10, 10, 10, 10, 10, 10],
                  [1, -1, 2, -2, 0, 0, 1, 0, 0, -1],
                  [5, 5, 5, 5, 5, 5, 5, 5, 5, 5],
                  [0, 0, 0, 0, 0, 30, 30, 30, 30, 30],
                  [-10, 20, -10, 20, -10, 20, -10, 20, -10, 20]])
    c = np.array([-8, 75, 117, 27, 21, 67])
    net = IntegerNetwork(task="multiclass", input_bits=5, hidden=(ThresholdLayer(W, T),),
                         output=OutputLayer(V, c))
    plan = build_circuit(net, architecture="pipelined", pipeline_stages="max").plan
    bias = -min(p.lo for p in plan.scores)
    ranges = [(p.lo + bias, p.hi + bias) for p in plan.scores]
    assert 128 <= max(hi for _, hi in ranges) < 256                 # w = 8
    assert ranges[2][0] >= 128 and ranges[3][1] < 128
    assert sum(lo < 128 <= hi for lo, hi in ranges) == 4
    Q = np.array([[a, b] for a in range(32) for b in range(32)])
    S = (Q @ W.T >= T).astype(int) @ V.T + c
    assert ((S == S.max(axis=1, keepdims=True)).sum(axis=1) > 1).sum() >= 10   # ties
    for arch, params in [("pipelined", {"pipeline_stages": 2}),
                         ("pipelined", {"pipeline_stages": "max"}),
                         ("pipelined", {"pipeline_stages": "max", "flow_control": "credit"}),
                         ("folded", {"fold": 1, "pipeline_stages": "max"})]:
        res = check_circuit(net, Q, architecture=arch, **params)
        assert res.mismatches == 0, (arch, params, res.first_mismatch)
    # the circuit of a network with score 2 one higher disagrees with this reference
    bad = IntegerNetwork(task="multiclass", input_bits=5, hidden=net.hidden,
                         output=OutputLayer(V, c + np.eye(6, dtype=int)[2]))
    res = check_circuit(net, Q, circuit=build_circuit(bad, architecture="pipelined",
                                                     pipeline_stages="max"))
    assert res.mismatches > 0
