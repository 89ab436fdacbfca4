# amaranth: UnusedElaboratable=no
"""Post-synthesis netlists (synth_ice40 / synth_ecp5 + vendor cell models) under Verilator."""
import os

import pytest

from thresh2hw.sim.exhaustive import all_inputs
from thresh2hw.sim.mutate import observable_ge_to_gt, observable_weight_flip
from thresh2hw.sim.netlist import FAMILIES, check_netlist, yosys_share_dir

from verify_helpers import TOP, build, build_cache, need, net_tiny, verilog_of

pytestmark = pytest.mark.netlist


@pytest.fixture(autouse=True)
def _tools():
    need("netlist")


@pytest.fixture(scope="module")
def small():
    net = net_tiny()                        # negative thresholds, mixed-sign sums
    return net, verilog_of(build(net)), all_inputs(net)


def test_cell_models_found():
    for _, cells, _ in FAMILIES.values():
        assert os.path.isfile(os.path.join(yosys_share_dir(), cells))


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
def test_netlist_exhaustive_and_corrupted_expected(small, build_cache, family):
    net, v, Q = small
    r = check_netlist(v, TOP, net, Q, family, cache_dir=build_cache, stalls=0.2, seed=3)
    assert r.ok, r.to_dict()
    assert r.vectors == len(Q) == 512
    exp = net.forward(Q)
    exp[77] = (exp[77] + 1) % 3
    r = check_netlist(v, TOP, net, Q, family, expected=exp, cache_dir=build_cache)
    assert r.cached and r.mismatches == 1 and r.first_mismatch.index == 77


@pytest.mark.parametrize("family,kind", [("ice40", "compare"), ("ecp5", "weight")])
def test_netlist_mutants_fail(small, build_cache, family, kind):
    net, v, Q = small
    if kind == "compare":
        mv, mutant, _ = observable_ge_to_gt(net, v, Q)
    else:
        mutant, _ = observable_weight_flip(net, Q)
        mv = verilog_of(build(mutant))
    r = check_netlist(mv, TOP, net, Q, family, cache_dir=build_cache)
    assert not r.ok
    assert r.mismatches == int((mutant.forward(Q) != net.forward(Q)).sum())


def test_standard_check_set_has_negative_thresholds_and_mixed_sums(small):
    """The netlist check sets contain neurons with negative thresholds and mixed-sign sums,
    and drive each of those neurons exactly to its threshold and one below (the case LUT
    mapping of signed comparisons against negative constants got wrong before)."""
    import numpy as np
    from thresh2hw.sim import adversarial_vectors, random_vectors
    from thresh2hw.sim.vectors import threshold_coverage
    from verify_helpers import demo_subnet
    net, _, Q = small
    demo = demo_subnet()
    Qd = np.vstack([adversarial_vectors(demo, np.random.default_rng(0)),
                    random_vectors(demo, 2000, np.random.default_rng(1))])
    for n, vecs in ((net, Q), (demo, Qd)):
        cov = threshold_coverage(n, vecs)
        tricky = cov["negative_threshold"] & cov["mixed_sign"]
        assert tricky.sum() >= 1
        assert (cov["at_threshold"][tricky] > 0).all() and (cov["just_below"][tricky] > 0).all()
        assert (n.hidden[0].thresholds[tricky] < 0).all()


@pytest.mark.parametrize("family,mutate", [("ice40", False), ("ecp5", True)])
def test_netlist_demo_subnet(build_cache, family, mutate):
    """A digits-sized sub-model of the demo (64 x 8-bit inputs, 10 classes) through synthesis
    (ECP5: a threshold moved by one on a negative-threshold neuron must be caught instead)."""
    import numpy as np
    from thresh2hw.sim import adversarial_vectors, random_vectors
    from thresh2hw.sim.mutate import with_threshold
    from verify_helpers import demo_subnet
    net = demo_subnet()
    Q = np.vstack([adversarial_vectors(net, np.random.default_rng(0)),
                   random_vectors(net, 3000, np.random.default_rng(1))])
    assert len(set(net.forward(Q).tolist())) >= 5
    if not mutate:
        r = check_netlist(verilog_of(build(net)), TOP, net, Q, family, cache_dir=build_cache)
        assert r.ok and r.vectors == len(Q), r.to_dict()
        return
    j = 3                                          # threshold -15, weights -1, -1, +1
    mutant = with_threshold(net, 0, j, int(net.hidden[0].thresholds[j]) + 1)
    want = int((mutant.forward(Q) != net.forward(Q)).sum())
    assert want > 0
    r = check_netlist(verilog_of(build(mutant)), TOP, net, Q, family, cache_dir=build_cache)
    assert r.mismatches == want
