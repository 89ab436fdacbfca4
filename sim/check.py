"""Drive vectors through Amaranth's simulator by the stream handshake (one per clock when the
circuit allows it, optionally with input bubbles and output back-pressure) and compare with the
reference model."""
import time
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from thresh2hw.hdl import ThresholdNetworkCircuit, build_circuit

from .vectors import pack_inputs

__all__ = ["Mismatch", "CheckResult", "StreamRun", "run_stream", "simulate_circuit",
           "check_circuit", "CLOCK_PERIOD"]

#: Simulated clock period in seconds (kept in one place for the move to amaranth.sim.Period).
CLOCK_PERIOD = 1e-8


@dataclass(frozen=True)
class Mismatch:
    index: int
    inputs: list
    expected: int
    got: int


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a cycle-accurate check. ``ok`` is True only if every vector matched."""
    vectors: int
    mismatches: int
    first_mismatch: Mismatch | None
    seconds: float
    engine: str = "pysim"
    outputs: np.ndarray = field(default=None, repr=False)
    architecture: str | None = None
    latency: int | None = None          # measured: fewest edges from input to valid output
    latency_max: int | None = None      # measured: most (stalls make it longer)
    cycles: int | None = None           # clock edges simulated

    @property
    def ok(self):
        return self.mismatches == 0 and self.vectors > 0

    @property
    def vectors_per_s(self):
        return self.vectors / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self):
        fm = self.first_mismatch
        return {"engine": self.engine, "vectors": self.vectors, "mismatches": self.mismatches,
                "seconds": round(self.seconds, 3), "vectors_per_s": round(self.vectors_per_s, 1),
                "architecture": self.architecture, "latency_cycles": self.latency,
                "latency_cycles_max": self.latency_max, "cycles": self.cycles,
                "first_mismatch": None if fm is None else
                {"index": fm.index, "inputs": fm.inputs, "expected": fm.expected,
                 "got": fm.got}}


@dataclass(frozen=True)
class StreamRun:
    """What one handshake-driven simulation observed.

    ``outputs[k]`` is the payload of the k-th output transfer; ``latencies[k]`` the clock
    edges from input k's transfer to the first edge at which its output was seen valid (the
    circuit's ``.latency`` when nothing stalls it); ``cycles`` the clock edges simulated.
    """
    outputs: np.ndarray
    latencies: np.ndarray
    in_edges: np.ndarray
    out_edges: np.ndarray
    cycles: int

    @property
    def latency(self):
        return int(self.latencies.min()) if len(self.latencies) else None

    @property
    def latency_max(self):
        return int(self.latencies.max()) if len(self.latencies) else None

    @property
    def initiation_interval(self):
        """Mean edges between accepted inputs (1.0 at full throughput)."""
        e = self.in_edges
        return float((e[-1] - e[0]) / (len(e) - 1)) if len(e) > 1 else None


def _pattern(rng, n, p):
    """Boolean array: True with probability ``p`` (all False for p == 0, no rng draw)."""
    if not p:
        return None
    return rng.random(n) < p


def run_stream(circuit, Q, *, bubbles=0.0, backpressure=0.0, seed=0, vcd=None, progress=None,
               max_idle=None):
    """Drive the rows of ``Q`` through ``circuit`` by the stream handshake and collect every
    output transfer.

    Each cycle the producer offers the next vector (``i.valid``) unless a bubble is drawn
    (probability ``bubbles``), and the consumer raises ``o.ready`` unless back-pressure is
    drawn (probability ``backpressure``); both from ``numpy.random.default_rng(seed)``. An input
    transfers on an edge where ``i.valid & i.ready`` and an output where ``o.valid & o.ready``
    (both sampled at the edge). Works for any latency and initiation interval. Raises
    AssertionError if the circuit yields no output for ``max_idle`` consecutive cycles with
    ``o.ready`` high while a vector is offered or in flight (default: generous, from
    ``circuit.latency`` and ``circuit.initiation_interval``), or if an output changes or loses
    ``o.valid`` before it transfers.
    """
    for name, p in (("bubbles", bubbles), ("backpressure", backpressure)):
        if not 0 <= p < 1:
            raise ValueError(f"{name} must be a probability in [0, 1), not {p!r}")
    Q = np.asarray(Q, dtype=np.int64)
    packed = pack_inputs(Q, circuit.network.input_bits)
    n = len(packed)
    lat = getattr(circuit, "latency", 1)
    ii = getattr(circuit, "initiation_interval", 1)
    if max_idle is None:
        max_idle = 8 * (lat + ii) + 64
    rng = np.random.default_rng(seed)
    chunk = 4096
    got, first_valid, in_edge, out_edge, edges = [], [], [], [], [0]
    sim = Simulator(circuit)
    sim.add_clock(CLOCK_PERIOD)
    step = max(1, n // 20)

    async def bench(ctx):
        i, o = circuit.i, circuit.o
        payload = i.payload.as_value()
        edge = 0              # edges awaited so far
        k = 0                 # next input to offer
        seen = False          # the current output (index len(got)) was already seen valid
        held = None           # ... with this payload, which must hold until it transfers
        idle = 0
        cur_valid = cur_ready = None
        offered = None
        bub = bp = None
        while len(got) < n:
            r = edge % chunk
            if r == 0:
                bub = _pattern(rng, chunk, bubbles)
                bp = _pattern(rng, chunk, backpressure)
            want_valid = k < n and (bub is None or not bub[r])
            if want_valid and offered != k:
                ctx.set(payload, packed[k])
                offered = k
            if want_valid != cur_valid:
                ctx.set(i.valid, want_valid)
                cur_valid = want_valid
            want_ready = bp is None or not bp[r]
            if want_ready != cur_ready:
                ctx.set(o.ready, want_ready)
                cur_ready = want_ready
            _, _, i_ready, o_valid, o_payload = await ctx.tick().sample(i.ready, o.valid,
                                                                         o.payload)
            edge += 1
            if want_valid and i_ready:
                in_edge.append(edge)
                k += 1
                if progress and k % step == 0:
                    progress(k, n)
            if seen and not (o_valid and o_payload == held):
                raise AssertionError(f"output {len(got)} changed or lost o.valid while "
                                     f"o.ready was low (stream rule broken)")
            if o_valid:
                if not seen:
                    first_valid.append(edge)
                    seen = True
                    held = o_payload
                if want_ready:
                    got.append(o_payload)
                    out_edge.append(edge)
                    seen = False
            if want_ready and not o_valid and (want_valid or len(in_edge) > len(got)):
                idle += 1                   # a vector is waiting or in flight, none comes out
                if idle > max_idle:
                    raise AssertionError(f"no output for {max_idle} cycles with o.ready high "
                                         f"after {len(got)} of {n} vectors")
            else:
                idle = 0
            if len(got) > len(in_edge):
                raise AssertionError(f"output {len(got) - 1} appeared before its input was "
                                     f"accepted")
        edges[0] = edge

    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd, traces=[circuit.i, circuit.o]):
            sim.run()
    else:
        sim.run()
    in_edges = np.asarray(in_edge, dtype=np.int64)
    return StreamRun(outputs=np.asarray([int(v) for v in got], dtype=np.int64),
                     latencies=np.asarray(first_valid[:n], dtype=np.int64) - in_edges[:n],
                     in_edges=in_edges, out_edges=np.asarray(out_edge, dtype=np.int64),
                     cycles=edges[0])


def simulate_circuit(circuit, Q, *, vcd=None, progress=None, bubbles=0.0, backpressure=0.0,
                     seed=0):
    """Stream the rows of ``Q`` into ``circuit`` through the handshake (back to back unless
    ``bubbles``/``backpressure`` are set, see :func:`run_stream`); return the output payloads
    in order."""
    return run_stream(circuit, Q, vcd=vcd, progress=progress, bubbles=bubbles,
                      backpressure=backpressure, seed=seed).outputs


def check_circuit(network, Q, *, circuit=None, vcd=None, progress=None, architecture=None,
                  bubbles=0.0, backpressure=0.0, seed=0, **params):
    """Compare the circuit (built from ``network`` by ``build_circuit(network, architecture=,
    **params)`` unless given) with ``network.forward``, through the stream handshake."""
    Q = network.check_inputs(Q)
    expected = network.forward(Q)
    t0 = time.perf_counter()
    if circuit is None:
        if architecture in (None, "combinational") and not params:
            circuit = ThresholdNetworkCircuit(network)
        else:
            circuit = build_circuit(network, architecture=architecture or "combinational",
                                    **params)
    elif architecture is not None or params:
        raise ValueError("give either a circuit or architecture parameters, not both")
    run = run_stream(circuit, Q, vcd=vcd, progress=progress, bubbles=bubbles,
                     backpressure=backpressure, seed=seed)
    got = run.outputs
    seconds = time.perf_counter() - t0
    bad = np.flatnonzero(got != expected)
    first = None
    if bad.size:
        k = int(bad[0])
        first = Mismatch(index=k, inputs=Q[k].tolist(), expected=int(expected[k]),
                         got=int(got[k]))
    return CheckResult(vectors=len(Q), mismatches=int(bad.size), first_mismatch=first,
                       seconds=seconds, outputs=got,
                       architecture=getattr(circuit, "architecture", None),
                       latency=run.latency, latency_max=run.latency_max, cycles=run.cycles)
