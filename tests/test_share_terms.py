# amaranth: UnusedElaboratable=no
"""``share_terms``: common pairs of shifted terms across a layer's adder trees built once
(greedy pairwise common-subexpression elimination in the plan), in the combinational and
pipelined circuits; exhaustive checks against the model, the plan on a hand-made network,
mutations, determinism of the Verilog, and the options."""
import json
from dataclasses import replace

import numpy as np
import pytest

from thresh2hw import fpga
from thresh2hw.emit import convert_verilog
from thresh2hw.hdl import build_circuit
from thresh2hw.hdl.plan import SharedNode, plan_network, share_layer
from thresh2hw.model import IntegerNetwork, OutputLayer, ThresholdLayer
from thresh2hw.sim import check_circuit
from thresh2hw.sim.exhaustive import all_inputs

from conftest import random_network, threshold_mutant

pytestmark = pytest.mark.sim

CONFIGS = [
    ("combinational", {}),
    ("pipelined", {"pipeline_stages": 1}),
    ("pipelined", {"pipeline_stages": "max"}),
    ("pipelined", {"pipeline_stages": 1, "flow_control": "credit"}),
    ("pipelined", {"pipeline_stages": "max", "flow_control": "credit"}),
]
IDS = [f"{a}-{'-'.join(f'{k}{v}' for k, v in p.items())}" for a, p in CONFIGS]


def _shared_net(seed, task="multiclass", hidden=(12, 6)):
    """4 features x 3 bits (4096 inputs); enough neurons that pairs recur in both layers."""
    net = random_network(np.random.default_rng(seed), d=4, hidden=hidden, task=task,
                         input_bits=3, wmax=7, sparsity=0.2)
    plan = plan_network(net, share_terms=True)
    assert all(plan.shared), "the test network should share terms in every layer"
    return net


def hand_net():
    """Rows chosen so that ``x0 + x1`` recurs five times (pos and neg trees, and shifted by 1
    in ``2 x0 + 2 x1``) and ``x0 + (x2 << 1)`` twice."""
    W = np.array([[1, 1, 0, 0],
                  [1, 1, 1, 0],
                  [1, 1, 0, 1],
                  [2, 2, 0, 0],
                  [-1, -1, 1, 0],
                  [1, 0, 2, 0],
                  [1, 0, 2, 1]])
    T = np.array([3, 4, 4, 6, -2, 5, 6])
    V = np.array([[1, -2, 3, 0, 1, -1, 2], [0, 2, -1, 1, -3, 2, 0], [-1, 0, 1, 2, 2, 0, -2]])
    return IntegerNetwork(task="multiclass", input_bits=2, hidden=(ThresholdLayer(W, T),),
                          output=OutputLayer(V, np.zeros(3, dtype=np.int64)))


@pytest.mark.parametrize("arch,params", CONFIGS, ids=IDS)
def test_shared_circuits_match_reference_exhaustively(arch, params):
    for seed, task in [(0, "multiclass"), (1, "binary"), (2, "regression")]:
        net = _shared_net(seed, task)
        Q = all_inputs(net)
        circuit = build_circuit(net, architecture=arch, share_terms=True, **params)
        assert circuit.share_terms and circuit.plan.shared_nodes > 0
        res = check_circuit(net, Q, circuit=circuit)
        assert res.mismatches == 0, res.first_mismatch
        assert res.latency == circuit.latency


@pytest.mark.parametrize("arch,params", CONFIGS[1:], ids=IDS[1:])
def test_shared_pipelines_under_back_pressure(arch, params):
    net = _shared_net(3)
    Q = all_inputs(net)[::3]
    res = check_circuit(net, Q, architecture=arch, share_terms=True, bubbles=0.3,
                        backpressure=0.4, seed=5, **params)
    assert res.mismatches == 0, res.first_mismatch
    assert res.latency_max >= res.latency


def test_plan_of_hand_made_network():
    net = hand_net()
    plain, shared = plan_network(net), plan_network(net, share_terms=True)
    assert plain.shared == () and plain.shared_nodes == 0
    # x0 + x1 (range 0..6), then x0 + (x2 << 1) (0..9); indices 4 and 5 after the 4 inputs
    assert shared.shared == ((SharedNode(0, 1, 0, 0, 6), SharedNode(0, 2, 1, 0, 9)),)
    terms = [(p.pos_terms, p.neg_terms) for p in shared.layers[0]]
    assert terms == [(((4, 0),), ()),
                     (((4, 0), (2, 0)), ()),
                     (((4, 0), (3, 0)), ()),
                     (((4, 1),), ()),               # 2 x0 + 2 x1 = (x0 + x1) << 1
                     (((2, 0),), ((4, 0),)),         # neg tree shares too
                     (((5, 0),), ()),
                     (((5, 0), (3, 0)), ())]
    # the sums themselves are unchanged
    for a, b in zip(plain.layers[0], shared.layers[0]):
        assert (a.threshold, a.sum_lo, a.sum_hi, a.constant) == \
            (b.threshold, b.sum_lo, b.sum_hi, b.constant)
    assert (plain.adder_terms, shared.adder_terms) == (18, 15)     # operands, shared counted
    assert (plain.adders, shared.adders) == (10, 5)
    est0 = fpga.estimate(build_circuit(net))
    est1 = fpga.estimate(build_circuit(net, share_terms=True))
    assert est1.layers[0].shared_nodes == 2 and est1.layers[0].adder_terms == 15
    assert est1.luts < est0.luts
    res = check_circuit(net, all_inputs(net), circuit=build_circuit(net, share_terms=True))
    assert res.mismatches == 0, res.first_mismatch


def test_share_layer_counts_overlapping_chains_once():
    """``x0 + (x0 << 1)`` in ``x0 (1 + 2 + 4)`` (chain 0, 1, 2) is one occurrence, not two: a
    pair recurring only inside one such chain is not shared."""
    from thresh2hw.hdl.plan import NeuronPlan
    n = NeuronPlan(((0, 0), (0, 1), (0, 2)), (), 1, 0, 7, None)
    assert share_layer((n,), [(0, 1)]) == ((n,), ())
    # two chains of four: (x0 + (x0 << 1)) at shifts 0 and 2 in each, 4 occurrences
    m = NeuronPlan(((0, 0), (0, 1), (0, 2), (0, 3)), (), 1, 0, 15, None)
    out, shared = share_layer((m, m), [(0, 1)])
    assert shared == (SharedNode(0, 0, 1, 0, 3), SharedNode(1, 1, 2, 0, 15))
    assert [p.pos_terms for p in out] == [((2, 0),)] * 2


def test_mutations_still_caught():
    net = _shared_net(4)
    Q = all_inputs(net)
    bad = threshold_mutant(net, Q)
    res = check_circuit(net, Q, circuit=build_circuit(bad, share_terms=True))
    assert res.mismatches > 0
    # a first-layer weight changed by one: the mutant's own sharing, checked against the
    # original model, must disagree
    ref = net.forward(Q)
    W = net.hidden[0].weights
    for j, k in zip(*np.nonzero(W)):
        W2 = W.copy()
        W2[j, k] += 1
        wbad = replace(net, hidden=(ThresholdLayer(W2, net.hidden[0].thresholds),)
                       + net.hidden[1:])
        if (wbad.forward(Q) != ref).any():
            break
    else:
        pytest.fail("no detectable weight mutation")
    for arch, params in CONFIGS[:2]:
        c = build_circuit(wbad, architecture=arch, share_terms=True, **params)
        assert c.plan.shared_nodes > 0
        assert check_circuit(net, Q, circuit=c).mismatches > 0


@pytest.mark.parametrize("arch,params", CONFIGS[:3], ids=IDS[:3])
def test_verilog_is_deterministic(arch, params):
    net = _shared_net(5)
    v1 = convert_verilog(build_circuit(net, architecture=arch, share_terms=True, **params),
                         "top")
    v2 = convert_verilog(build_circuit(net, architecture=arch, share_terms=True, **params),
                         "top")
    assert v1 == v2 and "h0_share0" in v1 and "h1_share0" in v1
    assert "h0_share" not in convert_verilog(build_circuit(net, architecture=arch, **params),
                                             "top")


def test_register_bits_shrink_or_hold_when_shared():
    net = _shared_net(6)
    for arch, params in CONFIGS[1:]:
        a = build_circuit(net, architecture=arch, **params)
        b = build_circuit(net, architecture=arch, share_terms=True, **params)
        assert b.logic_levels <= a.logic_levels + 1
        assert b.register_bits > 0 and b.resource_hint()["ffs"] == b.register_bits


def test_folded_rejects_share_terms_and_bad_values():
    net = _shared_net(0)
    with pytest.raises(ValueError, match=r"^share_terms applies only to the combinational and "
                                         r"pipelined architectures, not 'folded' \("):
        build_circuit(net, architecture="folded", share_terms=True)
    with pytest.raises(ValueError, match=r"^share_terms must be True or False, not 'yes'$"):
        build_circuit(net, share_terms="yes")
    c = build_circuit(net, architecture="folded", share_terms=False)
    assert not c.share_terms and c.plan.shared == () and "share_terms" not in c.params


def test_cli_share_terms(tmp_path):
    from thresh2hw.cli import main
    net = _shared_net(0)
    net.save(tmp_path / "m.json")
    assert main(["-q", "compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw"),
                 "--share-terms"]) == 0
    desc = json.loads((tmp_path / "hw" / "thresh2hw_top.interface.json").read_text())
    assert desc["architecture"] == "combinational"
    assert desc["architecture_params"] == {"share_terms": True}
    assert main(["-q", "compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw2"),
                 "--share-terms", "--pipeline-stages", "2", "--flow-control", "credit"]) == 0
    desc = json.loads((tmp_path / "hw2" / "thresh2hw_top.interface.json").read_text())
    assert desc["architecture_params"] == {"pipeline_stages": 2, "flow_control": "credit",
                                           "share_terms": True}
    assert main(["-q", "compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw3")]) == 0
    desc = json.loads((tmp_path / "hw3" / "thresh2hw_top.interface.json").read_text())
    assert desc["architecture_params"] == {}
    assert main(["-q", "compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw4"),
                 "--share-terms", "--fold", "2"]) == 2
    assert not (tmp_path / "hw4").exists()


def test_cli_folded_message(tmp_path, capsys):
    from thresh2hw.cli import main
    net = _shared_net(0)
    net.save(tmp_path / "m.json")
    assert main(["compile", str(tmp_path / "m.json"), "-o", str(tmp_path / "hw"),
                 "--share-terms", "--arch", "folded"]) == 2
    err = capsys.readouterr().err
    assert "--share-terms applies only to the combinational and pipelined architectures" in err
