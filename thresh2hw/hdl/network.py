"""The integer threshold network as one Amaranth component with stream ports."""
from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..model import IntegerNetwork
from ..ranges import csd_digits
from .arith import Term, adder_tree, const_term, shape_for

__all__ = ["ThresholdNetworkCircuit", "output_shape", "LATENCY"]

#: Cycles from an accepted input transfer to the output payload becoming valid.
LATENCY = 1


def output_shape(net):
    """Shape of the output payload: class index, positive-class bit, or integer score."""
    if net.task == "multiclass":
        return unsigned(bits_for(net.n_classes - 1))
    if net.task == "binary":
        return unsigned(1)
    lo, hi = score_ranges(net)[0]
    return shape_for(lo, hi)


def score_ranges(net):
    """Exact range of each output score over all 0/1 hidden vectors."""
    V, c = net.output.weights, net.output.bias
    return [(int(c[k] + V[k][V[k] < 0].sum()), int(c[k] + V[k][V[k] > 0].sum()))
            for k in range(V.shape[0])]


def _neuron(m, name, weights, threshold, inputs):
    """``1[sum w_i x_i >= T]`` as two unsigned shift-and-add trees and one comparator.

    Each weight is split into canonical signed digits; ``+x << k`` terms go to the positive tree
    and ``x << k`` of negative digits to the negative tree, so ``pos - neg = w . x`` and the test
    becomes ``pos >= neg + T`` (or ``pos + (-T) >= neg``) without any signed adder. Returns a
    Term that is a constant when the neuron cannot change over the input ranges.
    """
    pos, neg = [], []
    for w, x in zip(weights, inputs):
        if w == 0 or x.hi == 0:
            continue
        for shift, sign in csd_digits(w):
            t = Term(x.value << shift if shift else x.value, x.lo << shift, x.hi << shift)
            (pos if sign > 0 else neg).append(t)
    lo = sum(t.lo for t in pos) - sum(t.hi for t in neg)
    hi = sum(t.hi for t in pos) - sum(t.lo for t in neg)
    if lo >= threshold:
        return const_term(1)                                   # always fires
    if hi < threshold:
        return const_term(0)                                   # never fires
    p = adder_tree(m, pos, f"{name}_pos")
    n = adder_tree(m, neg, f"{name}_neg")
    if threshold >= 0:
        rhs = adder_tree(m, [n, const_term(threshold)], f"{name}_rhs") if threshold else n
        lhs = p
    else:
        lhs = adder_tree(m, [p, const_term(-threshold)], f"{name}_lhs")
        rhs = n
    fire = Signal(name=name)
    m.d.comb += fire.eq(lhs.value >= rhs.value)
    return Term(fire, 0, 1)


def _score(m, name, weights, bias, bits):
    """``sum_j V_j h_j + c``: adds the constants selected by the hidden bits."""
    pos, neg = [], []
    const = int(bias)
    for v, h in zip(weights, bits):
        if v == 0 or h.hi == 0:
            continue
        if h.lo == 1:                                          # constant-on neuron folds in
            const += v
            continue
        mag = abs(v)
        t = Term(Mux(h.value, C(mag, shape_for(0, mag)), 0), 0, mag)
        (pos if v > 0 else neg).append(t)
    p = adder_tree(m, pos, f"{name}_pos")
    n = adder_tree(m, neg, f"{name}_neg")
    lo, hi = p.lo - n.hi + const, p.hi - n.lo + const
    s = Signal(shape_for(lo, hi), name=name)
    m.d.comb += s.eq(p.value - n.value + const)                # exact: s holds [lo, hi]
    return Term(s, lo, hi)


def _argmax(m, scores):
    """Index of the largest score; a tie goes to the lowest index (left operand wins ties)."""
    cands = [(const_term(k), s) for k, s in enumerate(scores)]
    level = 0
    while len(cands) > 1:
        nxt = []
        for k in range(0, len(cands) - 1, 2):
            (ia, sa), (ib, sb) = cands[k], cands[k + 1]
            take_b = Signal(name=f"amax_l{level}_{k // 2}_b")
            m.d.comb += take_b.eq(sb.value > sa.value)
            idx = Signal(shape_for(ia.lo, ib.hi), name=f"amax_l{level}_{k // 2}_idx")
            lo, hi = min(sa.lo, sb.lo), max(sa.hi, sb.hi)
            val = Signal(shape_for(lo, hi), name=f"amax_l{level}_{k // 2}_val")
            m.d.comb += [idx.eq(Mux(take_b, ib.value, ia.value)),
                         val.eq(Mux(take_b, sb.value, sa.value))]
            nxt.append((Term(idx, ia.lo, ib.hi), Term(val, lo, hi)))
        if len(cands) % 2:
            nxt.append(cands[-1])
        cands = nxt
        level += 1
    return cands[0][0]


class ThresholdNetworkCircuit(wiring.Component):
    """Comparator-and-adder circuit computing :meth:`IntegerNetwork.forward`, bit for bit.

    Parameters
    ----------
    network : IntegerNetwork

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(input_bits), n_features)))
        Input vector. Feature ``k`` occupies payload bits ``[k*b, (k+1)*b)`` (feature 0 in the
        LSBs), unsigned. A transfer happens on a clock edge with ``valid & ready``.
    o : Out(stream.Signature(output_shape(network)))
        Prediction, ``LATENCY`` cycle(s) after the input transfer: class index (multiclass,
        lowest index on ties), 1 for the positive class (binary, score >= 0), or the signed
        integer score (regression). Honours back-pressure: ``i.ready = ~o.valid | o.ready``,
        so one vector per cycle flows while ``o.ready`` is high.
    """

    def __init__(self, network):
        if not isinstance(network, IntegerNetwork):
            raise TypeError(f"network must be an IntegerNetwork, not {network!r}")
        self._net = network
        self._in_layout = data.ArrayLayout(unsigned(network.input_bits), network.n_features)
        super().__init__({
            "i": In(stream.Signature(self._in_layout)),
            "o": Out(stream.Signature(output_shape(network))),
        })

    @property
    def network(self):
        return self._net

    @property
    def latency(self):
        return LATENCY

    def datapath(self, m, x):
        """Build the combinational network on the input view ``x``; return the result value."""
        net = self._net
        xmax = net.max_input
        terms = [Term(x[k], 0, xmax) for k in range(net.n_features)]
        for l, layer in enumerate(net.hidden):
            W, T = layer.weights.tolist(), layer.thresholds.tolist()
            terms = [_neuron(m, f"h{l}_{j}", W[j], T[j], terms) for j in range(layer.n_out)]
        V, c = net.output.weights.tolist(), net.output.bias.tolist()
        scores = [_score(m, f"score{k}", V[k], c[k], terms) for k in range(len(V))]
        if net.task == "multiclass":
            return _argmax(m, scores).value
        if net.task == "binary":
            return scores[0].value >= 0
        return scores[0].value

    def elaborate(self, platform):
        m = Module()
        result = self.datapath(m, self.i.payload)
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.payload.eq(result), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
