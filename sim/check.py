"""Drive vectors through Amaranth's simulator, one per clock, and compare with the reference."""
import time
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from thresh2hw.hdl import ThresholdNetworkCircuit

from .vectors import pack_inputs

__all__ = ["Mismatch", "CheckResult", "simulate_circuit", "check_circuit", "CLOCK_PERIOD"]

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
                "first_mismatch": None if fm is None else
                {"index": fm.index, "inputs": fm.inputs, "expected": fm.expected,
                 "got": fm.got}}


def simulate_circuit(circuit, Q, *, vcd=None, progress=None):
    """Stream the rows of ``Q`` into ``circuit`` back to back, one per clock, with the output
    always ready; return the output payload observed ``latency`` cycles after each input."""
    Q = np.asarray(Q, dtype=np.int64)
    packed = pack_inputs(Q, circuit.network.input_bits)
    got = [0] * len(packed)
    lat = circuit.latency
    sim = Simulator(circuit)
    sim.add_clock(CLOCK_PERIOD)
    step = max(1, len(packed) // 20)

    async def bench(ctx):
        payload = circuit.i.payload.as_value()
        ctx.set(circuit.o.ready, 1)
        for k in range(len(packed) + lat - 1):   # vector k comes out after edge k+lat-1
            if k < len(packed):
                ctx.set(payload, packed[k])
                ctx.set(circuit.i.valid, 1)
            else:
                ctx.set(circuit.i.valid, 0)
            await ctx.tick()
            j = k + 1 - lat
            if j >= 0:
                if not ctx.get(circuit.o.valid):
                    raise AssertionError(f"output not valid {lat} cycle(s) after vector {j}")
                got[j] = ctx.get(circuit.o.payload)
            if progress and k % step == 0:
                progress(k, len(packed))

    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd, traces=[circuit.i, circuit.o]):
            sim.run()
    else:
        sim.run()
    return np.asarray(got, dtype=np.int64)


def check_circuit(network, Q, *, circuit=None, vcd=None, progress=None):
    """Compare the circuit (built from ``network`` unless given) with ``network.forward``."""
    Q = network.check_inputs(Q)
    expected = network.forward(Q)
    t0 = time.perf_counter()
    if circuit is None:
        circuit = ThresholdNetworkCircuit(network)
    got = simulate_circuit(circuit, Q, vcd=vcd, progress=progress)
    seconds = time.perf_counter() - t0
    bad = np.flatnonzero(got != expected)
    first = None
    if bad.size:
        k = int(bad[0])
        first = Mismatch(index=k, inputs=Q[k].tolist(), expected=int(expected[k]),
                         got=int(got[k]))
    return CheckResult(vectors=len(Q), mismatches=int(bad.size), first_mismatch=first,
                       seconds=seconds, outputs=got)
