# amaranth: UnusedElaboratable=no
"""Shared networks, wrappers and skips for the tests/test_verify_*.py files."""
import numpy as np
import pytest
from amaranth import *
from amaranth.lib import wiring

from conftest import random_network
from thresh2hw.emit import convert_verilog
from thresh2hw.hdl import ThresholdNetworkCircuit

TOP = "thresh2hw_top"


def net_small():
    """4 features x 4 bits (65536 inputs), 6 neurons with negative thresholds and mixed-sign
    sums, 3 classes, every class reached."""
    net = random_network(np.random.default_rng(2), d=4, hidden=(6,), n_out=3)
    assert (net.hidden[0].thresholds < 0).any() and (net.hidden[0].weights < 0).any()
    return net


def net_tiny():
    """3 features x 3 bits (512 inputs): small enough for quick proofs and pysim. Every class
    is reached, some neuron has a negative threshold and a mixed-sign weighted sum, and the
    comparator mutation (``>=`` -> ``>``) is observable."""
    from thresh2hw.sim.mutate import observable_ge_to_gt
    for seed in range(100):
        net = random_network(np.random.default_rng(seed), d=3, hidden=(4,), n_out=3,
                             input_bits=3, wmax=5, vmax=4)
        Q = (np.arange(512)[:, None] >> (3 * np.arange(3))) & 7
        W, T = net.hidden[0].weights, net.hidden[0].thresholds
        tricky = (T < 0) & (W > 0).any(axis=1) & (W < 0).any(axis=1)
        if len(set(net.forward(Q).tolist())) == 3 and tricky.any():
            try:
                observable_ge_to_gt(net, verilog_of(build(net)), Q)
            except ValueError:
                continue
            return net
    raise AssertionError("no tiny network reaches every class")


# The first 8 first-layer neurons of the digits demo model (``thresh2hw demo`` defaults: 64
# features x 8 bits, 981 hidden neurons, 10 classes) and its output weights on them, as sparse
# (feature, weight) rows. Negative thresholds (-64, -175, -112, -15) and mixed-sign rows.
DEMO_SUB_W = [[(43, -1)], [(3, -1)], [(18, -1), (25, 1)], [(9, -1), (45, -1), (52, 1)],
              [(15, 1)], [(4, -1), (18, 1), (27, 1), (35, 1), (60, 1)], [(28, 1)], [(5, 1)]]
DEMO_SUB_T = [-64, -175, -112, -15, 21, 430, 80, 64]
DEMO_SUB_V = [[4, 0, 0, 0, 0, 0, -8, -1], [4, 0, 1, 0, -1, 0, 2, 1],
              [-2, -1, -4, 2, -2, 0, 2, 0], [3, 0, 5, 0, 3, -1, -1, 0],
              [-5, 0, 5, 1, 2, 1, 1, -1], [-2, 0, 4, -1, -3, 0, 6, 1],
              [-1, 1, -3, -1, 0, 0, -2, 0], [1, 0, -4, 0, 8, -2, 2, 0],
              [-2, 0, -1, -1, -3, 0, 2, 1], [2, 0, -2, -1, -3, 2, -1, -1]]


def demo_subnet():
    """A digits-sized sub-model of the demo network (see DEMO_SUB_W)."""
    from thresh2hw.model import IntegerNetwork, OutputLayer, ThresholdLayer
    W = np.zeros((len(DEMO_SUB_W), 64), dtype=np.int64)
    for j, row in enumerate(DEMO_SUB_W):
        for k, w in row:
            W[j, k] = w
    return IntegerNetwork(task="multiclass", input_bits=8,
                          hidden=(ThresholdLayer(W, np.array(DEMO_SUB_T)),),
                          output=OutputLayer(np.array(DEMO_SUB_V), np.zeros(10, np.int64)),
                          classes=list(range(10)))


def build(net, **arch):
    if not arch:
        return ThresholdNetworkCircuit(net)
    from thresh2hw.hdl import build_circuit
    return build_circuit(net, **arch)


def verilog_of(circuit):
    return convert_verilog(circuit, TOP)


def has_architectures():
    import thresh2hw.hdl as hdl
    return hasattr(hdl, "build_circuit")


class OutputSlice(wiring.Component):
    """Test-only: a circuit followed by one more output register stage. ``misaligned=True``
    breaks the register alignment: the valid bit skips the stage while the payload goes through
    it, so every output carries the previous vector's result."""

    def __init__(self, inner, *, misaligned=False):
        self.inner = inner
        self.misaligned = misaligned
        self.network = inner.network
        self.latency = inner.latency + (0 if misaligned else 1)
        super().__init__({"i": inner.signature.members["i"],
                          "o": inner.signature.members["o"]})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        wiring.connect(m, wiring.flipped(self.i), inner.i)
        pay = Signal.like(inner.o.payload)
        val = Signal()
        if self.misaligned:
            m.d.comb += [inner.o.ready.eq(self.o.ready), self.o.valid.eq(inner.o.valid),
                         self.o.payload.eq(pay)]
            with m.If(inner.o.valid & inner.o.ready):
                m.d.sync += pay.eq(inner.o.payload)
        else:
            m.d.comb += [inner.o.ready.eq(~val | self.o.ready), self.o.valid.eq(val),
                         self.o.payload.eq(pay)]
            with m.If(inner.o.valid & inner.o.ready):
                m.d.sync += [pay.eq(inner.o.payload), val.eq(1)]
            with m.Elif(self.o.ready):
                m.d.sync += val.eq(0)
        return m


def need(engine):
    """Skip with the reason when an engine's tools are missing."""
    from thresh2hw.sim.engines import EngineUnavailable
    try:
        if engine in ("verilator", "netlist"):
            from thresh2hw.sim.verilator import _tool
            _tool()
        if engine == "netlist":
            from thresh2hw.sim.netlist import _yosys, yosys_share_dir
            _yosys()
            yosys_share_dir()
        if engine == "formal":
            from thresh2hw.sim.formal import _tools
            _tools()
    except EngineUnavailable as exc:
        pytest.skip(f"{engine} unavailable: {exc}")


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory):
    # one directory for every test module (each module imports this fixture separately)
    path = tmp_path_factory.getbasetemp() / "verify-build-cache"
    path.mkdir(exist_ok=True)
    return str(path)
