"""Area side by side through one Yosys flow: thresh2hw versus da4ml and versus an int8 MAC network.
Not a test; prints measured numbers and writes JSON.

    python bench/compare_bench.py                                 # the hardware digits network
    python bench/compare_bench.py --model M.json                  # both comparisons, iCE40 + ECP5
    python bench/compare_bench.py --model M.json --parts layer --families ice40
    python bench/compare_bench.py --model M.json --parts mac --mac-hidden 8

(a) ``layer``: the first hidden layer of ``--model`` (its integer weight matrix ``W``, live
    neurons only) built twice, both purely combinational with the same ports (the input vector in,
    one bit per neuron out):

    * thresh2hw: the CSD shift-and-add trees and comparators of :mod:`thresh2hw.hdl.network`
      (``fire_j = pos_j >= neg_j + T_j``);
    * da4ml: ``da4ml``'s constant-matrix-vector multiplier for ``y = W x`` (its adder graph with
      common-subexpression sharing across neurons, Verilog from ``da4ml.codegen.VerilogModel``)
      plus one comparator per neuron written here, ``fire_j = y_j >= T_j``.

    With ``--sums`` the comparators are dropped on both sides (thresh2hw outputs
    ``pos_j - neg_j``, da4ml outputs ``y_j``). Both Verilog netlists are checked against numpy
    on random vectors with Yosys ``eval`` before synthesis.
(b) ``mac``: the whole thresh2hw network (combinational, one inference per cycle) versus an int8
    multiply-accumulate ReLU MLP trained here on the same data set and split (scikit-learn,
    ``--mac-hidden`` neurons), quantized to int8 weights with power-of-two requantization, and
    built in Amaranth as a plain MAC design: one multiplier and accumulator per neuron, weights in
    LUT ROMs indexed by a cycle counter, ``n_features + hidden`` cycles per inference. Its
    integer model is checked against the Amaranth simulation.

Flow for every design: ``read_rtlil``/``read_verilog``; ``synth_ice40 -top top`` (multipliers in
LUTs) and/or ``synth_ecp5 -top top`` (multipliers in MULT18X18D DSPs); ``stat -json``; counted by
:func:`thresh2hw.fpga.parse_stat` (ECP5 LUTs include two per CCU2C carry cell).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from amaranth import *                                   # noqa: E402,F401
from amaranth.back import rtlil                          # noqa: E402
from amaranth.lib import wiring                          # noqa: E402
from amaranth.lib.wiring import In, Out                  # noqa: E402

from thresh2hw import fpga, toolchain                    # noqa: E402
from thresh2hw.hdl import ThresholdNetworkCircuit        # noqa: E402
from thresh2hw.hdl.arith import Term, adder_tree, shape_for   # noqa: E402
from thresh2hw.hdl.network import _neuron                # noqa: E402
from thresh2hw.hdl.plan import plan_network              # noqa: E402
from thresh2hw.model import IntegerNetwork               # noqa: E402

SYNTH = {"ice40": "synth_ice40", "ecp5": "synth_ecp5"}


# -- one Yosys flow for everything ----------------------------------------------------------
def yosys(script, files, family, timeout=3600, quiet=True):
    """Run ``script`` in a scratch directory holding ``files`` {name: text}; returns stdout and
    the scratch directory's ``stat.json`` (parsed) if the script wrote one."""
    exe = toolchain.find_tool("yosys").path
    env = dict(os.environ)
    env.update(toolchain.amaranth_env(("yosys",)))
    tmp = tempfile.mkdtemp(prefix="compare-")
    try:
        for name, text in files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        proc = subprocess.run([exe, *(["-q"] if quiet else []), "-p", script], cwd=tmp,
                              env=env, timeout=timeout, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
            raise SystemExit(f"yosys failed: {' | '.join(tail)}")
        stat = None
        if os.path.exists(os.path.join(tmp, "stat.json")):
            with open(os.path.join(tmp, "stat.json")) as f:
                stat = fpga.parse_stat(json.load(f), family)
        return proc.stdout, stat
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def synth(files, reader, family):
    names = " ".join(sorted(files))
    t0 = time.perf_counter()
    _, stat = yosys(f"{reader} {names}; {SYNTH[family]} -top top; "
                    f"tee -q -o stat.json stat -json", files, family)
    stat.pop("cells_by_type", None)
    stat["seconds"] = round(time.perf_counter() - t0, 1)
    return stat


def eval_check(files, reader, in_port, in_width, out_port, expected_fn, vectors):
    """Yosys ``eval`` of the flattened design on ``vectors`` (ints); compares ``out_port`` with
    ``expected_fn(vector) -> int``. Returns the number of mismatches."""
    names = " ".join(sorted(files))
    cmds = [f"{reader} {names}", "hierarchy -top top", "proc", "flatten", "opt_clean"]
    cmds += [f"eval -set {in_port} {in_width}'d{v} -show {out_port}" for v in vectors]
    out, _ = yosys("; ".join(cmds), files, "ice40", quiet=False)
    got = []
    for line in out.splitlines():
        if "Eval result:" in line and out_port in line:
            bits = line.split("=")[1].strip().rstrip(".").split("'")[1]
            got.append(int(bits.replace("x", "0"), 2))
    if len(got) != len(vectors):
        raise SystemExit(f"yosys eval returned {len(got)} results for {len(vectors)} vectors")
    return sum(g != expected_fn(v) for g, v in zip(got, vectors))


# -- (a) first layer: thresh2hw versus da4ml --------------------------------------------------
class FirstLayer(wiring.Component):
    """thresh2hw's first hidden layer alone: live neurons' fire bits (or their sums)."""

    def __init__(self, net, live, sums=False):
        self._net, self._live, self._sums = net, live, sums
        plan = plan_network(net)
        self._plans = [plan.layers[0][j] for j in live]
        out_w = (sum(shape_for(p.sum_lo, p.sum_hi).width for p in self._plans) if sums
                 else len(live))
        super().__init__({"x": In(net.n_features * net.input_bits), "y": Out(out_w)})

    def elaborate(self, platform):
        m = Module()
        b, top = self._net.input_bits, self._net.max_input
        terms = [Term(self.x[k * b:(k + 1) * b], 0, top) for k in range(self._net.n_features)]
        outs = []
        for j, p in zip(self._live, self._plans):
            if not self._sums:
                outs.append(_neuron(m, f"h{j}", p, terms).value)
                continue
            pos = adder_tree(Term(terms[i].value << k, 0, top << k) for i, k in p.pos_terms)
            neg = adder_tree(Term(terms[i].value << k, 0, top << k) for i, k in p.neg_terms)
            s = Signal(shape_for(p.sum_lo, p.sum_hi), name=f"s{j}")
            m.d.comb += s.eq(pos.value - neg.value)
            outs.append(s)
        m.d.comb += self.y.eq(Cat(*outs))
        return m


def da4ml_layer(W, T, input_bits, sums=False):
    """Verilog files {name: text} of da4ml's CMVM for ``y = W x`` wrapped as module ``top``."""
    from da4ml.codegen import VerilogModel
    from da4ml.trace import FixedVariableArrayInput, comb_trace
    from da4ml.trace.ops import quantize
    from da4ml.types import minimal_kif
    n, d = W.shape
    inp = FixedVariableArrayInput(d)
    x = quantize(inp, 0, input_bits, 0)                  # unsigned input_bits-bit integers
    comb = comb_trace(inp, x @ W.T.astype(np.float32))
    widths, signs = [], []
    for q in comb.out_qint:
        k, i, f = minimal_kif(q)
        assert f <= 0 and q.step == 1, f"da4ml output is not an integer: {q}"
        widths.append(int(k + i + f))
        signs.append(bool(k))
    tmp = tempfile.mkdtemp(prefix="da4ml-")
    try:
        VerilogModel(comb, "da_cmvm", tmp).write()
        files = {}
        for root, _, names in os.walk(os.path.join(tmp, "src")):
            for name in names:
                skip = ("da_cmvm_wrapper.v", "lookup_table.v")      # no tables here
                if name.endswith(".v") and name not in skip:
                    with open(os.path.join(root, name)) as f:
                        files[name] = f.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # da4ml gives unused inputs zero width: pack the used ones as its module expects
    in_w = [int(sum(minimal_kif(q))) for q in comb.inp_qint]
    pieces = [f"x[{k * input_bits + w - 1}:{k * input_bits}]" for k, w in enumerate(in_w) if w]
    total = sum(widths)
    lines = ["module top(input [%d:0] x, output [%d:0] y);" % (d * input_bits - 1,
             (total if sums else n) - 1), f"  wire [{max(total, 1) - 1}:0] v;",
             f"  da_cmvm core(.model_inp({{{', '.join(reversed(pieces))}}}), .model_out(v));"]
    off = 0
    outs = []
    for j, (w, s) in enumerate(zip(widths, signs)):
        if sums:
            outs.append((off, w))
        else:
            v = "0" if w == 0 else (f"$signed(v[{off + w - 1}:{off}])" if s
                                     else f"$signed({{1'b0, v[{off + w - 1}:{off}]}})")
            lines.append(f"  assign y[{j}] = {v} >= $signed({int(T[j])});")
        off += w
    if sums:
        # zero-width outputs are identically 0 (rows of zeros are not live, so none occur)
        lines.append("  assign y = v;")
    lines.append("endmodule")
    files["top.v"] = "\n".join(lines) + "\n"
    return files, comb.cost, widths


def compare_layer(net, families, sums, n_check, log):
    plan = plan_network(net)
    live = [j for j, p in enumerate(plan.layers[0]) if p.constant is None]
    W = net.hidden[0].weights[live].astype(np.int64)
    T = net.hidden[0].thresholds[live].astype(np.int64)
    b, d = net.input_bits, net.n_features
    terms = sum(len(plan.layers[0][j].pos_terms) + len(plan.layers[0][j].neg_terms) for j in live)
    log(f"(a) first layer: {len(live)} live neurons x {d} inputs ({b}-bit), "
        f"{int(np.count_nonzero(W))} non-zero weights, {terms} CSD terms; output "
        + ("sums" if sums else "fire bits (comparators included on both sides)"))
    t0 = time.perf_counter()
    ours = FirstLayer(net, live, sums)
    t2h = {"top.il": rtlil.convert(ours, name="top", emit_src=False)}
    da, cost, widths = da4ml_layer(W, T, b, sums)
    log(f"    generated: thresh2hw RTLIL, da4ml CMVM (da4ml cost estimate {cost:.0f}) in "
        f"{time.perf_counter() - t0:.1f} s")
    rng = np.random.default_rng(1)
    X = rng.integers(0, net.max_input + 1, size=(n_check, d))
    X[0], X[1] = 0, net.max_input                        # the corners
    vecs = [int(sum(int(v) << (k * b) for k, v in enumerate(row))) for row in X]

    def unpack(v):
        return np.array([(v >> (k * b)) & net.max_input for k in range(d)], dtype=np.int64)

    def exp_bits(v):
        fire = (W @ unpack(v)) >= T
        return int(sum(int(f) << j for j, f in enumerate(fire)))

    def exp_sums(v, ws):
        out, off = 0, 0
        for y, w in zip(W @ unpack(v), ws):
            out |= (int(y) & ((1 << w) - 1)) << off
            off += w
        return out
    t2h_w = [shape_for(plan.layers[0][j].sum_lo, plan.layers[0][j].sum_hi).width for j in live]
    res = {"neurons": len(live), "inputs": d, "input_bits": b, "csd_terms": terms,
           "nonzero_weights": int(np.count_nonzero(W)), "outputs": "sums" if sums else "bits",
           "da4ml_cost": cost}
    for name, files, reader, ws in [("thresh2hw", t2h, "read_rtlil", t2h_w),
                                     ("da4ml", da, "read_verilog", widths)]:
        fn = (lambda v, ws=ws: exp_sums(v, ws)) if sums else exp_bits
        bad = eval_check(files, reader, "x", d * b, "y", fn, vecs)
        log(f"    {name}: yosys eval on {len(vecs)} vectors vs numpy: {bad} mismatches")
        res[f"{name}_check_mismatches"] = bad
    for fam in families:
        for name, files, reader in [("thresh2hw", t2h, "read_rtlil"),
                                    ("da4ml", da, "read_verilog")]:
            st = synth(files, reader, fam)
            res[f"{name}_{fam}"] = st
            log(f"    {fam:5s} {name:9s}: {st['luts']} LUT4, {st['carry']} carry, "
                f"{st['dsp']} DSP ({st['seconds']} s)")
        a, b_ = res[f"thresh2hw_{fam}"]["luts"], res[f"da4ml_{fam}"]["luts"]
        res[f"ratio_{fam}"] = round(b_ / a, 3) if a else None
        log(f"    {fam:5s} ratio da4ml / thresh2hw LUTs: {b_ / a:.2f}" if a else "")
    return res


# -- (b) network: thresh2hw versus an int8 MAC ReLU MLP --------------------------------------
class Int8Mlp:
    """Integer reference of the MAC network: ``h = clamp(relu(W1 x + b1) >> s1, 0, 255)``,
    ``scores = W2 h + b2``, prediction = argmax (lowest index on ties)."""

    def __init__(self, W1, b1, s1, W2, b2):
        self.W1, self.b1, self.s1, self.W2, self.b2 = W1, b1, s1, W2, b2

    def hidden(self, X):
        z = X.astype(np.int64) @ self.W1.T + self.b1
        return np.clip(np.maximum(z, 0) >> self.s1, 0, 255)

    def forward(self, X):
        return np.argmax(self.hidden(X) @ self.W2.T + self.b2, axis=1)


def train_int8_mlp(Q, y, hidden, seed=0):
    """scikit-learn MLP on the input codes scaled to [0, 1], quantized to int8 weights."""
    from sklearn.neural_network import MLPClassifier
    top = float(Q.max())
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", max_iter=2000,
                        alpha=1e-3, random_state=seed).fit(Q / top, y)
    A1, c1 = clf.coefs_[0].T, clf.intercepts_[0]         # (H, d), on x / top
    A2, c2 = clf.coefs_[1].T, clf.intercepts_[1]         # (C, H)
    s_w1 = np.abs(A1).max() / 127
    W1 = np.round(A1 / s_w1).astype(np.int64)
    b1 = np.round(c1 * top / s_w1).astype(np.int64)      # z_int = (A1 x/top + c1) * top / s_w1
    z = np.maximum(Q.astype(np.int64) @ W1.T + b1, 0)
    s1 = max(0, int(np.ceil(np.log2(max(np.percentile(z, 99.9), 1) / 255))))
    h_scale = (2 ** s1) * s_w1 / top                     # real activation per h unit
    s_w2 = np.abs(A2).max() / 127
    W2 = np.round(A2 / s_w2).astype(np.int64)
    b2 = np.round(c2 / (s_w2 * h_scale)).astype(np.int64)
    return clf, Int8Mlp(W1, b1, s1, W2 * 1, b2)


class MacMlp(wiring.Component):
    """The int8 MLP as a plain MAC design: phase 1 (``d`` cycles) one ``x_t * W1[j, t]``
    multiply-accumulate per hidden neuron, phase 2 (``H`` cycles) one ``h_u * W2[k, u]`` per
    class; weights in ROMs indexed by the cycle counter; argmax combinational on the
    accumulators. ``start`` latches ``x``; ``done`` pulses with ``pred`` valid."""

    def __init__(self, mlp, d, input_bits):
        self.mlp, self.d, self.ib = mlp, d, input_bits
        self.H, self.C = mlp.W1.shape[0], mlp.W2.shape[0]
        super().__init__({"x": In(d * input_bits), "start": In(1),
                          "pred": Out(range(self.C)), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        mlp, d, H, C, ib = self.mlp, self.d, self.H, self.C, self.ib
        xr = Signal(d * ib)
        t = Signal(range(max(d, H) + 1))
        phase = Signal(2)                                # 0 idle, 1 layer 1, 2 layer 2
        xt = Signal(ib)
        m.d.comb += xt.eq(Array([xr[k * ib:(k + 1) * ib] for k in range(d)])[t[:bits(d)]])
        top = (1 << ib) - 1                               # accumulators sized to their range
        acc1 = [Signal(_acc_shape(mlp.W1[j], top, mlp.b1[j]), name=f"acc1_{j}")
                for j in range(H)]
        h8 = [Signal(8, name=f"h{j}") for j in range(H)]
        for j in range(H):
            z = acc1[j]
            r = Signal(len(z), name=f"relu{j}")
            m.d.comb += r.eq(Mux(z < 0, 0, z >> mlp.s1))
            m.d.comb += h8[j].eq(Mux(r > 255, 255, r[:8]))
        hu = Signal(8)
        m.d.comb += hu.eq(Array(h8)[t[:bits(H)]])
        acc2 = [Signal(_acc_shape(mlp.W2[k], 255, mlp.b2[k]), name=f"acc2_{k}")
                for k in range(C)]
        with m.If(self.start & (phase == 0)):
            m.d.sync += [xr.eq(self.x), t.eq(0), phase.eq(1)]
            m.d.sync += [a.eq(int(b)) for a, b in zip(acc1, mlp.b1)]
            m.d.sync += [a.eq(int(b)) for a, b in zip(acc2, mlp.b2)]
        with m.If(phase == 1):
            for j in range(H):
                w = Signal(signed(8), name=f"w1_{j}")
                m.d.comb += w.eq(Array([C_(int(v)) for v in mlp.W1[j]])[t[:bits(d)]])
                m.d.sync += acc1[j].eq(acc1[j] + xt * w)
            m.d.sync += t.eq(t + 1)
            with m.If(t == d - 1):
                m.d.sync += [t.eq(0), phase.eq(2)]
        with m.If(phase == 2):
            for k in range(C):
                w = Signal(signed(8), name=f"w2_{k}")
                m.d.comb += w.eq(Array([C_(int(v)) for v in mlp.W2[k]])[t[:bits(H)]])
                m.d.sync += acc2[k].eq(acc2[k] + hu * w)
            m.d.sync += t.eq(t + 1)
            with m.If(t == H - 1):
                m.d.sync += [t.eq(0), phase.eq(0)]
        m.d.sync += self.done.eq((phase == 2) & (t == H - 1))
        # argmax over the finished accumulators (valid while done is high)
        best, bidx = acc2[0], C_(0, range(C))
        for k in range(1, C):
            take = Signal(name=f"am{k}")
            nb = Signal(signed(max(len(a) for a in acc2)), name=f"amv{k}")
            ni = Signal(range(C), name=f"ami{k}")
            m.d.comb += [take.eq(acc2[k] > best), nb.eq(Mux(take, acc2[k], best)),
                         ni.eq(Mux(take, k, bidx))]
            best, bidx = nb, ni
        m.d.comb += self.pred.eq(bidx)
        return m


class ParallelMlp(wiring.Component):
    """The int8 MLP fully parallel, one inference per cycle like thresh2hw's combinational
    circuit: every ``x_k * W1[j, k]`` a product by a constant (Yosys decides how to build it),
    balanced sums, ReLU and shift, then the class scores and an argmax into a registered
    output."""

    def __init__(self, mlp, d, input_bits):
        self.mlp, self.d, self.ib = mlp, d, input_bits
        super().__init__({"x": In(d * input_bits), "pred": Out(range(mlp.W2.shape[0]))})

    def elaborate(self, platform):
        m = Module()
        mlp, d, ib = self.mlp, self.d, self.ib
        top = (1 << ib) - 1
        xs = [self.x[k * ib:(k + 1) * ib] for k in range(d)]
        h8 = []
        for j in range(mlp.W1.shape[0]):
            z = Signal(_acc_shape(mlp.W1[j], top, mlp.b1[j]), name=f"z{j}")
            m.d.comb += z.eq(_tree([x * int(w) for x, w in zip(xs, mlp.W1[j]) if w]
                                   + [int(mlp.b1[j])]))
            r = Signal(len(z), name=f"r{j}")
            h = Signal(8, name=f"h{j}")
            m.d.comb += [r.eq(Mux(z < 0, 0, z >> mlp.s1)), h.eq(Mux(r > 255, 255, r[:8]))]
            h8.append(h)
        scores = []
        for k in range(mlp.W2.shape[0]):
            s = Signal(_acc_shape(mlp.W2[k], 255, mlp.b2[k]), name=f"s{k}")
            m.d.comb += s.eq(_tree([h * int(w) for h, w in zip(h8, mlp.W2[k]) if w]
                                   + [int(mlp.b2[k])]))
            scores.append(s)
        best, bidx = scores[0], C_(0, range(len(scores)))
        for k in range(1, len(scores)):
            take = Signal(name=f"am{k}")
            nb = Signal(signed(max(len(a) for a in scores)), name=f"amv{k}")
            ni = Signal(range(len(scores)), name=f"ami{k}")
            m.d.comb += [take.eq(scores[k] > best), nb.eq(Mux(take, scores[k], best)),
                         ni.eq(Mux(take, k, bidx))]
            best, bidx = nb, ni
        m.d.sync += self.pred.eq(bidx)
        return m


def _tree(vals):
    vals = list(vals)
    while len(vals) > 1:
        vals = [a + b for a, b in zip(vals[0::2], vals[1::2])] + (vals[-1:] if len(vals) % 2
                                                                    else [])
    return vals[0]


def _acc_shape(w, top, b):
    w = [int(v) for v in w]
    lo = int(b) + top * sum(v for v in w if v < 0)
    hi = int(b) + top * sum(v for v in w if v > 0)
    return shape_for(min(lo, int(b), 0), max(hi, int(b), 0))


def bits(n):
    return max(1, (n - 1).bit_length())


def C_(v, shape=None):
    return Const(v, shape if shape is not None else signed(8))


def simulate_mac(circ, mlp, X, ib):
    from amaranth.sim import Simulator
    got = []

    async def bench(ctx):
        for row in X:
            ctx.set(circ.x, int(sum(int(v) << (k * ib) for k, v in enumerate(row))))
            ctx.set(circ.start, 1)
            await ctx.tick()
            ctx.set(circ.start, 0)
            while not ctx.get(circ.done):
                await ctx.tick()
            got.append(ctx.get(circ.pred))
            await ctx.tick()
    sim = Simulator(circ)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return int(np.sum(np.array(got) != mlp.forward(X)))


def compare_mac(net, families, hidden, n_check, log, parallel=False):
    from thresh2hw.data import load_builtin
    from thresh2hw.pipeline import split
    dataset = net.meta.get("dataset", "digits") if isinstance(net.meta, dict) else "digits"
    X, y = load_builtin(dataset)
    Xtr, Xte, ytr, yte = split(X, y, 0.2, 0)             # the split thresh2hw trains on
    Qtr, Qte = net.input_quantizer.transform(Xtr), net.input_quantizer.transform(Xte)
    classes = np.asarray(net.classes)
    t2h_acc = float(np.mean(classes[net.forward(Qte)] == yte))
    clf, mlp = train_int8_mlp(Qtr, ytr, hidden)
    float_acc = float(clf.score(Qte / float(Qtr.max()), yte))
    int8_acc = float(np.mean(clf.classes_[mlp.forward(Qte)] == yte))
    log(f"(b) network on {dataset}: thresh2hw {[l.n_out for l in net.hidden]} hidden, "
        f"test accuracy {t2h_acc:.4f}; int8 MLP {net.n_features}-{hidden}-{len(clf.classes_)} "
        f"ReLU: float {float_acc:.4f}, int8 {int8_acc:.4f} (requant shift {mlp.s1})")
    mac = MacMlp(mlp, net.n_features, net.input_bits)
    bad = simulate_mac(mac, mlp, Qte[:n_check], net.input_bits)
    log(f"    MAC circuit vs int8 reference, {min(n_check, len(Qte))} test vectors in "
        f"Amaranth simulation: {bad} mismatches")
    ours = ThresholdNetworkCircuit(net)
    files_t = {"top.il": rtlil.convert(ours, name="top", emit_src=False)}
    mac = MacMlp(mlp, net.n_features, net.input_bits)
    files_m = {"top.il": rtlil.convert(mac, name="top", emit_src=False)}
    designs = [("thresh2hw", files_t), ("int8_mac", files_m)]
    if parallel:
        par = ParallelMlp(mlp, net.n_features, net.input_bits)
        designs.append(("int8_parallel", {"top.il": rtlil.convert(par, name="top",
                                                                  emit_src=False)}))
    res = {"dataset": dataset, "thresh2hw_accuracy": t2h_acc, "int8_float_accuracy": float_acc,
           "int8_accuracy": int8_acc, "int8_hidden": hidden, "mac_check_mismatches": bad,
           "thresh2hw_cycles_per_inference": 1,
           "mac_cycles_per_inference": net.n_features + hidden + 1}
    for fam in families:
        for name, files in designs:
            st = synth(files, "read_rtlil", fam)
            res[f"{name}_{fam}"] = st
            log(f"    {fam:5s} {name:9s}: {st['luts']} LUT4, {st['ffs']} FF, {st['carry']} "
                f"carry, {st['dsp']} DSP ({st['seconds']} s)")
        a, b = res[f"thresh2hw_{fam}"]["luts"], res[f"int8_mac_{fam}"]["luts"]
        res[f"ratio_{fam}"] = round(b / a, 3) if a else None
        log(f"    {fam:5s} ratio int8 MAC / thresh2hw LUTs: {b / a:.2f}; DSPs "
            f"{res[f'int8_mac_{fam}']['dsp']} vs {res[f'thresh2hw_{fam}']['dsp']}")
        if parallel:
            c = res[f"int8_parallel_{fam}"]["luts"]
            res[f"ratio_parallel_{fam}"] = round(c / a, 3) if a else None
            log(f"    {fam:5s} ratio int8 parallel / thresh2hw LUTs: {c / a:.2f}")
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="thresh2hw model JSON (classification); default: the "
                                   "hardware-sized digits network of bench/hw_bench.py, trained "
                                   "deterministically and cached in --cache")
    p.add_argument("--cache", default="thresh2hw-bench", help="where that model is cached")
    p.add_argument("--parts", default="layer,mac", help="layer, mac or both (default)")
    p.add_argument("--families", default="ice40,ecp5")
    p.add_argument("--sums", action="store_true", help="(a) without comparators")
    p.add_argument("--mac-hidden", type=int, default=8, help="(b) int8 MLP hidden neurons")
    p.add_argument("--parallel", action="store_true",
                   help="(b) also the fully parallel int8 network (one inference per cycle)")
    p.add_argument("--check", type=int, default=16, help="vectors for the equivalence checks")
    p.add_argument("--json", default="thresh2hw-bench/compare_bench.json")
    args = p.parse_args()
    fams = [f for f in args.families.split(",") if f]
    for f in fams:
        if f not in SYNTH:
            raise SystemExit(f"unknown family {f!r} (ice40, ecp5)")
    if not args.model:
        sys.path.insert(0, HERE)
        from hw_bench import hardware_digits_model
        args.model = hardware_digits_model(args.cache)
    net = IntegerNetwork.load(args.model)
    out = {"model": args.model, "yosys": toolchain.find_tool("yosys").version}
    log = lambda s: print(s, flush=True)                # noqa: E731
    parts = args.parts.split(",")
    if "layer" in parts:
        out["layer"] = compare_layer(net, fams, args.sums, args.check, log)
    if "mac" in parts:
        out["mac"] = compare_mac(net, fams, args.mac_hidden, args.check, log, args.parallel)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1, default=str)
    os.replace(tmp, args.json)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
