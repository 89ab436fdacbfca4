"""The integer threshold network as one Amaranth component with stream ports."""
from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..model import IntegerNetwork
from .arith import Term, adder_tree, const_term, shape_for
from .plan import plan_network

__all__ = ["ThresholdNetworkCircuit", "output_shape", "LATENCY"]

#: Cycles from an accepted input transfer to the output payload becoming valid.
LATENCY = 1


def output_shape(net, plan=None):
    """Shape of the output payload: class index, positive-class bit, or integer score."""
    if net.task == "multiclass":
        return unsigned(bits_for(net.n_classes - 1))
    if net.task == "binary":
        return unsigned(1)
    s = (plan or plan_network(net)).scores[0]
    return shape_for(s.lo, s.hi)


def _neuron(m, name, p, inputs):
    """``1[pos - neg >= T]`` as two unsigned shift-and-add trees and one comparator: tested as
    ``pos >= neg + T`` (or ``pos + (-T) >= neg``) so no signed adder is needed."""
    if p.constant is not None:
        return const_term(p.constant)
    pos = adder_tree(Term(inputs[i].value << k, inputs[i].lo << k, inputs[i].hi << k)
                     for i, k in p.pos_terms)
    neg = adder_tree(Term(inputs[i].value << k, inputs[i].lo << k, inputs[i].hi << k)
                     for i, k in p.neg_terms)
    if p.threshold >= 0:
        lhs, rhs = pos, adder_tree([neg, const_term(p.threshold)])
    else:
        lhs, rhs = adder_tree([pos, const_term(-p.threshold)]), neg
    fire = Signal(name=name)
    m.d.comb += fire.eq(lhs.value >= rhs.value)
    return Term(fire, 0, 1)


def _score(m, name, p, bits):
    """Adds the constants selected by the hidden bits (AND gates, no multipliers)."""
    def select(j, mag):
        return Term(Mux(bits[j].value, C(mag, shape_for(0, mag)), 0), 0, mag)
    pos = adder_tree(select(j, mag) for j, mag in p.pos_terms)
    neg = adder_tree(select(j, mag) for j, mag in p.neg_terms)
    s = Signal(shape_for(p.lo, p.hi), name=name)
    m.d.comb += s.eq(pos.value - neg.value + p.offset)      # exact: s holds [lo, hi]
    return Term(s, p.lo, p.hi)


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
        self._plan = plan_network(network)
        self._in_layout = data.ArrayLayout(unsigned(network.input_bits), network.n_features)
        super().__init__({
            "i": In(stream.Signature(self._in_layout)),
            "o": Out(stream.Signature(output_shape(network, self._plan))),
        })

    @property
    def network(self):
        return self._net

    @property
    def plan(self):
        return self._plan

    @property
    def latency(self):
        return LATENCY

    def datapath(self, m, x):
        """Build the combinational network on the input view ``x``; return the result value."""
        net, plan = self._net, self._plan
        terms = [Term(x[k], 0, net.max_input) for k in range(net.n_features)]
        for l, layer in enumerate(plan.layers):
            terms = [_neuron(m, f"h{l}_{j}", p, terms) for j, p in enumerate(layer)]
        scores = [_score(m, f"score{k}", p, terms) for k, p in enumerate(plan.scores)]
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
