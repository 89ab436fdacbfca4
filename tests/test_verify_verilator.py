# amaranth: UnusedElaboratable=no
"""Verilator engine: generic stream harness, wide ports, any latency, and mutants that must
fail (checkers that can fail)."""
from dataclasses import replace

import numpy as np
import pytest

from thresh2hw.model import OutputLayer

from thresh2hw.sim import adversarial_vectors, random_vectors
from thresh2hw.sim.exhaustive import all_inputs
from thresh2hw.sim.mutate import (observable_ge_to_gt, observable_threshold_shift,
                                  observable_weight_flip)
from thresh2hw.sim.verilator import build_verilator, check_verilog_verilator, run_verilator

from conftest import random_network
from verify_helpers import (TOP, OutputSlice, build, build_cache, has_architectures, need,
                            net_small, net_tiny, verilog_of)

pytestmark = pytest.mark.verilator


@pytest.fixture(autouse=True)
def _tools():
    need("verilator")


@pytest.fixture(scope="module")
def small():
    net = net_small()
    return net, verilog_of(build(net)), all_inputs(net)


def test_exhaustive_with_backpressure_and_cache(small, build_cache):
    net, v, Q = small
    r = check_verilog_verilator(v, TOP, net, Q, cache_dir=build_cache)
    assert r.ok, r.to_dict()
    assert r.vectors == 65536 and r.extra["measured_latency"] == 1
    assert r.extra["cycles"] == 65536 + 1                     # one vector per cycle
    r2 = check_verilog_verilator(v, TOP, net, Q, cache_dir=build_cache, bubbles=0.3,
                                 stalls=0.4, seed=7)
    assert r2.ok, r2.to_dict()
    assert r2.cached and r2.build_seconds == 0.0               # same design: no rebuild
    assert r2.extra["cycles"] > 1.5 * 65536
    np.testing.assert_array_equal(r2.outputs, net.forward(Q))


def test_corrupted_expected_file_fails(small, build_cache):
    net, v, Q = small
    exp = net.forward(Q)
    exp[1234] = (exp[1234] + 1) % 3
    r = check_verilog_verilator(v, TOP, net, Q, expected=exp, cache_dir=build_cache,
                                stalls=0.2, seed=1)
    assert not r.ok and r.mismatches == 1
    fm = r.first_mismatch
    assert fm.index == 1234 and fm.expected == exp[1234] and fm.got == net.forward(Q)[1234]
    assert fm.inputs == Q[1234].tolist()


@pytest.mark.parametrize("kind", ["weight", "threshold", "compare"])
def test_mutants_fail(small, build_cache, kind):
    net, v, Q = small
    if kind == "weight":
        mutant, _ = observable_weight_flip(net, Q)
        mv = verilog_of(build(mutant))
    elif kind == "threshold":
        mutant, _ = observable_threshold_shift(net, Q)
        mv = verilog_of(build(mutant))
    else:
        mv, mutant, _ = observable_ge_to_gt(net, v, Q)
    r = check_verilog_verilator(mv, TOP, net, Q, cache_dir=build_cache)
    assert not r.ok and r.mismatches > 0
    want = int(np.sum(mutant.forward(Q) != net.forward(Q)))
    assert r.mismatches == want                                # exactly the mutant's effect


@pytest.mark.parametrize("task,d,bits", [("regression", 10, 8)])
def test_wide_and_signed_ports(task, d, bits, build_cache):
    """80-bit inputs are VlWide words in Verilator; signed scores of both signs."""
    rng = np.random.default_rng(3)
    net = random_network(rng, d=d, hidden=(7, 5), task=task, input_bits=bits)
    Q = np.vstack([adversarial_vectors(net, rng), random_vectors(net, 3000, rng)])
    mid = int(np.median(net.scores(Q)[:, 0]))          # centre the scores: both signs occur
    net = replace(net, output=OutputLayer(net.output.weights, net.output.bias - mid))
    r = check_verilog_verilator(verilog_of(build(net)), TOP, net, Q, cache_dir=build_cache,
                                bubbles=0.1, stalls=0.1, seed=2)
    assert r.ok, r.to_dict()
    if task == "regression":
        assert (net.forward(Q) < 0).any() and (net.forward(Q) > 0).any()


def _arch_cases():
    if not has_architectures():
        return [pytest.param(None, marks=pytest.mark.skip(reason="no build_circuit yet"))]
    return [{"architecture": "pipelined", "pipeline_stages": 2},
            {"architecture": "folded", "fold": 2}]


@pytest.mark.parametrize("arch", _arch_cases())
def test_other_architectures_any_latency(small, build_cache, arch):
    net, _, Q = small
    c = build(net, **arch)
    r = check_verilog_verilator(verilog_of(c), TOP, net, Q[::4], cache_dir=build_cache,
                                stalls=0.3, bubbles=0.2, seed=4)
    assert r.ok, r.to_dict()
    r = check_verilog_verilator(verilog_of(build(net, **arch)), TOP, net, Q[::4],
                                cache_dir=build_cache)
    assert r.ok and r.extra["measured_latency"] == c.latency


@pytest.mark.skipif(not has_architectures(), reason="no pipelined architecture yet")
def test_pipelined_valid_misalignment_fails(small, build_cache):
    from thresh2hw.sim.mutate import verilog_misalign_valid
    net, _, Q = small
    v = verilog_misalign_valid(verilog_of(build(net, architecture="pipelined",
                                                 pipeline_stages=2)))
    r = check_verilog_verilator(v, TOP, net, Q[::4], cache_dir=build_cache)
    assert not r.ok


def test_output_register_misalignment_fails(small, build_cache):
    net, _, Q = small
    bad = OutputSlice(build(net), misaligned=True)
    r = check_verilog_verilator(verilog_of(bad), TOP, net, Q[::8], cache_dir=build_cache,
                                stalls=0.3, seed=5)
    assert not r.ok and r.mismatches > 0


def test_lost_outputs_are_errors(small, build_cache):
    """A harness run that cannot complete (cycle budget) reports it instead of passing."""
    net, v, Q = small
    from thresh2hw.hdl import output_shape
    sh = output_shape(net)
    model = build_verilator({f"{TOP}.v": v}, top=TOP, in_width=16, out_width=sh.width,
                            out_signed=sh.signed, cache_dir=build_cache)
    r = run_verilator(model, Q[:100], 4, net.forward(Q[:100]), max_cycles=50)
    assert not r.ok and r.errors and "only" in r.errors[0]


def test_registered_wrapper_matches_plain_harness(build_cache):
    """The registered-input wrapper (one design evaluation per cycle) drives exactly the same
    transfers as the plain harness: same outputs, cycles and latency under random bubbles
    and back-pressure, for a pipelined circuit."""
    from thresh2hw.hdl import output_shape
    from thresh2hw.sim.verilator import build_verilator, run_verilator
    net = net_tiny()
    c = build(net, architecture="pipelined", pipeline_stages=2) if has_architectures() \
        else build(net)
    v, Q = verilog_of(c), all_inputs(net)
    shape, runs = output_shape(net), []
    for registered in (False, True):
        m = build_verilator({f"{TOP}.v": v}, top=TOP, in_width=9, out_width=shape.width,
                            out_signed=shape.signed, cache_dir=build_cache,
                            registered=registered)
        runs.append(run_verilator(m, Q, net.input_bits, net.forward(Q), bubbles=0.3,
                                  stalls=0.3, seed=11))
    plain, reg = runs
    assert plain.ok and reg.ok, (plain.to_dict(), reg.to_dict())
    assert reg.extra["cycles"] == plain.extra["cycles"] > len(Q)
    assert reg.extra["measured_latency"] == plain.extra["measured_latency"] == c.latency
    np.testing.assert_array_equal(reg.outputs, plain.outputs)


def test_cycle_budget_follows_the_folded_interval(build_cache, capsys, tmp_path):
    """A folded circuit takes ``C`` cycles per vector: the default cycle budget must scale
    with it (it was ~8 cycles per vector, so long folded runs reported lost outputs)."""
    rng = np.random.default_rng(21)
    net = random_network(rng, d=40, hidden=(3,), input_bits=2)
    c = build(net, architecture="folded", fold=1)
    assert c.initiation_interval == 40
    Q = random_vectors(net, 600, rng)
    r = check_verilog_verilator(verilog_of(c), TOP, net, Q, cache_dir=build_cache,
                                interval=c.initiation_interval)
    assert r.ok and r.vectors == 600, r.to_dict()
    assert r.extra["cycles"] >= 600 * 40
    short = check_verilog_verilator(verilog_of(c), TOP, net, Q, cache_dir=build_cache)
    assert not short.ok and short.errors                 # interval 1: the budget runs out
    # the CLI passes the circuit's interval
    from thresh2hw.cli import main
    model = tmp_path / "m.json"
    net.save(str(model))
    rc = main(["verify", str(model), "--engine", "verilator", "--fold", "1", "--random",
               "600", "--cache-dir", str(build_cache)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "0 mismatches" in err and "FAILED" not in err
