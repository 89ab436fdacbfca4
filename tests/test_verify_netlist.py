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
