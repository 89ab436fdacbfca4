# amaranth: UnusedElaboratable=no
"""CXXRTL engine (Yosys write_cxxrtl + g++): passes, and fails on a mutant / bad expectations."""
import pytest

from thresh2hw.sim.engines import EngineUnavailable
from thresh2hw.sim.exhaustive import all_inputs, check_engine
from thresh2hw.sim.mutate import observable_ge_to_gt

from verify_helpers import TOP, build, build_cache, net_tiny, verilog_of

pytestmark = pytest.mark.verilator          # compiled C++ simulation, like Verilator


@pytest.fixture(autouse=True)
def _tools():
    from thresh2hw.sim.cxxrtl import _tools
    try:
        _tools()
    except EngineUnavailable as exc:
        pytest.skip(f"cxxrtl unavailable: {exc}")


def test_cxxrtl_exhaustive_mutant_and_corrupted_expected(build_cache):
    net = net_tiny()
    Q = all_inputs(net)
    v = verilog_of(build(net))
    r = check_engine("cxxrtl", net, Q, verilog=v, top=TOP, cache_dir=build_cache,
                     stalls=0.3, bubbles=0.2, seed=9)
    assert r.ok and r.engine == "cxxrtl", r.to_dict()
    exp = net.forward(Q)
    exp[100] = (exp[100] + 1) % 3
    r = check_engine("cxxrtl", net, Q, verilog=v, top=TOP, cache_dir=build_cache, expected=exp)
    assert r.cached and r.mismatches == 1 and r.first_mismatch.index == 100
    mv, mutant, _ = observable_ge_to_gt(net, v, Q)
    r = check_engine("cxxrtl", net, Q, verilog=mv, top=TOP, cache_dir=build_cache)
    assert r.mismatches == int((mutant.forward(Q) != net.forward(Q)).sum()) > 0
