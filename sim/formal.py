# amaranth: UnusedElaboratable=no
"""Formal stream equivalence with SymbiYosys (yowasp-sby) and yices.

The design under test is any Verilog module with the thresh2hw stream ports (the emitted RTL,
a mutant of it, a pipelined or folded architecture). It is instantiated in an Amaranth bench
whose inputs are free (``AnySeq``) in every cycle: payload, ``i__valid`` and ``o__ready``. A
scoreboard pushes ``reference(payload)`` on every input transfer and, on every output transfer,
asserts that the output payload equals the oldest outstanding reference value. So the proof is
latency-aligned for any latency and throughput. It also asserts that no output appears with
no input outstanding, that a stalled output holds its payload, and that the oldest outstanding
vector comes out within ``latency`` cycles in which ``o__ready`` is high.

The reference is either ``"spec"``, written here directly from the integer model
(``sum(w*x) >= T`` with multipliers, a sequential argmax scan), or ``"circuit"``, the
combinational :class:`ThresholdNetworkCircuit` datapath (to prove a pipelined/folded
architecture equal to the combinational one). The proof is a bounded model check from reset of
``depth`` cycles over all inputs in every cycle.
"""
import os
import shutil
import subprocess
import tempfile
import time

from amaranth import *
from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume
from amaranth.lib import data

from .engines import EngineUnavailable, ProofResult, render_template

__all__ = ["spec_value", "StreamEquivalenceBench", "prove_equivalent", "formal_available"]


def spec_value(m, net, x):
    """Independent specification of ``net.forward`` on the list of unsigned input values
    ``x``: plain weighted sums with multipliers, comparisons and a sequential argmax."""
    vals = list(x)
    for l, layer in enumerate(net.hidden):
        bits = []
        for j, (row, t) in enumerate(zip(layer.weights.tolist(), layer.thresholds.tolist())):
            acc = C(0, signed(2))
            for w, v in zip(row, vals):
                if w:
                    acc = acc + C(w, signed(abs(w).bit_length() + 1)) * v
            h = Signal(name=f"spec_h{l}_{j}")
            m.d.comb += h.eq(acc >= t)
            bits.append(h)
        vals = bits
    scores = []
    for k, (row, c) in enumerate(zip(net.output.weights.tolist(), net.output.bias.tolist())):
        acc = C(c, signed(abs(c).bit_length() + 1))
        for v, h in zip(row, vals):
            if v:
                acc = acc + C(v, signed(abs(v).bit_length() + 1)) * h
        s = Signal(acc.shape(), name=f"spec_score{k}")
        m.d.comb += s.eq(acc)
        scores.append(s)
    if net.task == "binary":
        return scores[0] >= 0
    if net.task == "regression":
        return scores[0]
    best, idx = scores[0], C(0, range(net.n_classes))
    for k in range(1, len(scores)):
        take = scores[k] > best                   # strict: the lowest index wins a tie
        nb = Signal(signed(max(best.shape().width, scores[k].shape().width) + 1),
                    name=f"spec_best{k}")
        ni = Signal(range(net.n_classes), name=f"spec_idx{k}")
        m.d.comb += [nb.eq(Mux(take, scores[k], best)), ni.eq(Mux(take, k, idx))]
        best, idx = nb, ni
    return idx


class StreamEquivalenceBench(Elaboratable):
    """Formal bench around an ``Instance`` of the DUT module ``dut_top`` (see module doc)."""

    def __init__(self, net, dut_top, *, latency, reference="spec", max_outstanding=None):
        from thresh2hw.hdl import output_shape
        self.net = net
        self.dut_top = dut_top
        self.latency = int(latency)
        if self.latency < 1:
            raise ValueError(f"latency must be at least 1, not {latency!r}")
        if reference not in ("spec", "circuit"):
            raise ValueError(f"reference must be 'spec' or 'circuit', not {reference!r}")
        self.reference = reference
        self.depth_fifo = int(max_outstanding or self.latency + 1)
        self.out_shape = output_shape(net)

    def _reference(self, m, payload):
        net = self.net
        b = net.input_bits
        if self.reference == "spec":
            return spec_value(m, net, [payload[k * b:(k + 1) * b] for k in range(net.n_features)])
        from thresh2hw.hdl import ThresholdNetworkCircuit
        view = data.View(data.ArrayLayout(unsigned(b), net.n_features), payload)
        return ThresholdNetworkCircuit(net).datapath(m, view)

    def elaborate(self, platform):
        m = Module()
        net, shape = self.net, self.out_shape
        width = net.n_features * net.input_bits
        rst = ResetSignal()
        i_payload, i_valid, i_ready = Signal(width), Signal(), Signal()
        o_payload, o_valid, o_ready = Signal(shape), Signal(), Signal()
        m.submodules.dut = Instance(
            self.dut_top, i_clk=ClockSignal(), i_rst=rst, i_i__payload=i_payload,
            i_i__valid=i_valid, o_i__ready=i_ready, o_o__payload=o_payload,
            o_o__valid=o_valid, i_o__ready=o_ready)
        m.d.comb += [i_payload.eq(AnySeq(width)), i_valid.eq(AnySeq(1)), o_ready.eq(AnySeq(1)),
                     Assume(rst == Initial())]
        ref = Signal(shape)
        m.d.comb += ref.eq(self._reference(m, i_payload))

        n = self.depth_fifo
        q = [Signal(shape, name=f"sb_q{k}") for k in range(n)]
        count = Signal(range(n + 2))
        age = Signal(range(self.latency + 2))
        stalled = Signal()
        stalled_payload = Signal(shape)
        push = Signal()
        pop = Signal()
        m.d.comb += [push.eq(i_valid & i_ready), pop.eq(o_valid & o_ready)]
        wpos = Signal(range(n + 2))
        m.d.comb += wpos.eq(Mux(pop & (count > 0), count - 1, count))
        with m.If(~rst):
            # checks on the values present at this clock edge
            m.d.sync += [
                Assert(~o_valid | (count > 0), "output valid with no input outstanding"),
                Assert(~pop | (o_payload == q[0]), "output differs from the reference"),
                Assert(~push | (wpos < n), "more vectors in flight than max_outstanding"),
                Assert(~stalled | (o_valid & (o_payload == stalled_payload)),
                       "a stalled output changed or dropped its payload"),
                Assert(~((count > 0) & o_ready & (age >= self.latency - 1)) | o_valid,
                       "the oldest vector is later than the latency"),
            ]
            for k in range(n):
                shifted = q[k + 1] if k + 1 < n else C(0, shape)
                nxt = Mux(pop & (count > 0), shifted, q[k])
                m.d.sync += q[k].eq(Mux(push & (wpos == k), ref, nxt))
            m.d.sync += count.eq(wpos + push)
            with m.If(pop | (count == 0)):
                m.d.sync += age.eq(0)
            with m.Elif(o_ready & (age <= self.latency)):
                m.d.sync += age.eq(age + 1)
            m.d.sync += [stalled.eq(o_valid & ~o_ready), stalled_payload.eq(o_payload)]
        with m.Else():
            m.d.sync += [count.eq(0), age.eq(0), stalled.eq(0)]
        return m


def _tools():
    from thresh2hw.toolchain import ToolMissing, find_tool
    try:
        return (find_tool("sby"), find_tool("yices-smt2"), find_tool("yosys"),
                find_tool("yosys-smtbmc"))
    except ToolMissing as exc:
        raise EngineUnavailable(str(exc)) from None


def formal_available():
    try:
        _tools()
        return True, ""
    except EngineUnavailable as exc:
        return False, str(exc)


def prove_equivalent(net, dut_verilog, dut_top, *, latency, reference="spec", depth=None,
                     max_outstanding=None, timeout=900, keep_dir=None):
    """Prove the Verilog ``dut_verilog`` (module ``dut_top``) equal to the reference for every
    input sequence of ``depth`` cycles from reset (default ``latency + 4``). Returns a
    :class:`ProofResult`; status ``SKIP`` (with the reason) when sby or yices is missing."""
    from amaranth.back import rtlil
    depth = int(depth or latency + 4)
    try:
        sby, yices, yosys, smtbmc = _tools()
    except EngineUnavailable as exc:
        return ProofResult("formal", "SKIP", 0.0, depth, reason=str(exc))
    bench = StreamEquivalenceBench(net, dut_top, latency=latency, reference=reference,
                                   max_outstanding=max_outstanding)
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    il = rtlil.convert(bench, name="equiv_bench", ports=[], platform="formal",
                       emit_src=False)
    job = render_template("equiv.sby.j2", generator="thresh2hw.sim.formal", depth=depth,
                          solver="yices", dut_files=["dut.v"], bench_top="equiv_bench",
                          dut_top=dut_top)
    work = keep_dir or tempfile.mkdtemp(prefix="thresh2hw-formal-")
    os.makedirs(work, exist_ok=True)
    try:
        for name, text in (("dut.v", dut_verilog), ("bench.il", il), ("equiv.sby", job)):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([os.path.dirname(yices.path), os.path.dirname(sby.path),
                                       env.get("PATH", "")])
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sby.path, "--yosys", yosys.path, "--smtbmc", smtbmc.path,
                                   "-f", "equiv.sby"], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return ProofResult("formal", "ERROR", time.perf_counter() - t0, depth,
                               reason=f"proof did not finish within {timeout} s")
        secs = time.perf_counter() - t0
        log = proc.stdout + proc.stderr
        tail = "\n".join(log.strip().splitlines()[-12:])
        if "DONE (PASS" in log and proc.returncode == 0:
            status, reason = "PASS", ""
        elif "DONE (FAIL" in log:
            status = "FAIL"
            failed = [l.split("Assert failed in", 1)[-1].strip() for l in log.splitlines()
                      if "Assert failed" in l]
            reason = "assertion failed: " + (failed[0] if failed else "see log")
            for l in log.splitlines():
                for msg in ("output differs", "no input outstanding", "in flight",
                            "stalled output", "later than the latency"):
                    if msg in l:
                        reason = f"{reason} ({msg})"
                        break
        else:
            last = [l for l in log.strip().splitlines() if "ERROR" in l or "rror" in l]
            status, reason = "ERROR", f"sby exited with {proc.returncode}" + (
                f": {last[0].strip()[-200:]}" if last else "")
        return ProofResult("formal", status, secs, depth, reason=reason, log_tail=tail,
                           extra={"reference": reference, "latency": latency})
    finally:
        if keep_dir is None:
            shutil.rmtree(work, ignore_errors=True)
