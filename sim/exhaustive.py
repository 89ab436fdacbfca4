"""Exhaustive checks (every input when the input space is small) and the engine front end
shared by ``thresh2hw verify``, the tests and the benchmark."""
import time

import numpy as np

from .engines import EngineResult, first_mismatch

__all__ = ["EXHAUSTIVE_LIMIT", "input_space_size", "all_inputs", "check_pysim",
           "check_engine", "check_exhaustive", "fastest_engine", "ENGINES"]

#: Input spaces up to this many combinations are checked completely.
EXHAUSTIVE_LIMIT = 1 << 20

ENGINES = ("pysim", "verilator", "netlist-ice40", "netlist-ecp5", "cxxrtl")


def input_space_size(net):
    return 1 << (net.n_features * net.input_bits)


def all_inputs(net, limit=EXHAUSTIVE_LIMIT):
    """Every input vector, in counting order (feature 0 varies fastest)."""
    size = input_space_size(net)
    if size > limit:
        raise ValueError(f"the input space has 2^{net.n_features * net.input_bits} vectors, "
                         f"more than the exhaustive limit {limit}")
    codes = np.arange(size, dtype=np.int64)
    shifts = net.input_bits * np.arange(net.n_features, dtype=np.int64)
    return (codes[:, None] >> shifts) & net.max_input


def check_pysim(net, Q, *, circuit=None, expected=None, vcd=None, bubbles=0.0, stalls=0.0,
                seed=0):
    """Amaranth's Python simulator through the stream handshake (optional seeded input
    bubbles and output back-pressure, where :func:`simulate_circuit` supports them)."""
    from thresh2hw.hdl import ThresholdNetworkCircuit
    from .check import simulate_circuit
    Q = net.check_inputs(Q)
    if expected is None:
        expected = net.forward(Q)
    t0 = time.perf_counter()
    circuit = circuit if circuit is not None else ThresholdNetworkCircuit(net)
    kw = {"bubbles": bubbles, "backpressure": stalls, "seed": seed} if bubbles or stalls else {}
    got = simulate_circuit(circuit, Q, vcd=vcd, **kw)
    secs = time.perf_counter() - t0
    count, fm = first_mismatch(Q, expected, got)
    return EngineResult(engine="pysim", vectors=len(Q), mismatches=count, first_mismatch=fm,
                        seconds=secs, outputs=got)


def check_engine(engine, net, Q, *, verilog=None, top="thresh2hw_top", circuit=None,
                 expected=None, cache_dir=None, vcd=None, **run_kw):
    """Run one simulation engine. ``verilog`` (text of module ``top``) is the design for the
    compiled engines; by default it is emitted from ``circuit`` or from ``net``."""
    if engine == "pysim":
        return check_pysim(net, Q, circuit=circuit, expected=expected, vcd=vcd, **run_kw)
    if verilog is None:
        from thresh2hw.emit import convert_verilog
        from thresh2hw.hdl import ThresholdNetworkCircuit
        verilog = convert_verilog(circuit if circuit is not None
                                  else ThresholdNetworkCircuit(net), top)
    if engine == "verilator":
        from .verilator import check_verilog_verilator
        return check_verilog_verilator(verilog, top, net, Q, expected=expected,
                                       cache_dir=cache_dir, vcd=vcd, **run_kw)
    if engine.startswith("netlist-"):
        from .netlist import check_netlist
        return check_netlist(verilog, top, net, Q, engine.split("-", 1)[1],
                             expected=expected, cache_dir=cache_dir, vcd=vcd, **run_kw)
    if engine == "cxxrtl":
        from .cxxrtl import check_verilog_cxxrtl
        return check_verilog_cxxrtl(verilog, top, net, Q, expected=expected,
                                    cache_dir=cache_dir, vcd=vcd, **run_kw)
    raise ValueError(f"unknown engine {engine!r}; choose from {ENGINES}")


def fastest_engine():
    """'verilator' when it can build, else 'pysim'."""
    from .verilator import verilator_available
    return "verilator" if verilator_available() else "pysim"


def check_exhaustive(net, *, engine=None, **kw):
    """Check every input (the input space must be at most :data:`EXHAUSTIVE_LIMIT`)."""
    Q = all_inputs(net)
    return check_engine(engine or fastest_engine(), net, Q, **kw)
