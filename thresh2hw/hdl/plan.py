"""Structural plan of a network circuit, in pure Python: which neurons are constant, which
shifted inputs feed each adder tree, and the exact range of every sum.

The Amaranth generator (:mod:`.network`) builds exactly this plan, and reports and resource
estimates read it without elaborating any hardware.
"""
from dataclasses import dataclass

from ..ranges import csd_digits

__all__ = ["NeuronPlan", "ScorePlan", "NetworkPlan", "plan_network", "SCORE_GROUP",
           "score_groups", "ALL_PAIRS_MAX"]

#: Hidden bits per score leaf table. The sum of up to four bit-selected constants depends on
#: four bits, so each of its result bits is one 4-input LUT: one logic level, no carry chain.
SCORE_GROUP = 4

#: Largest number of scores whose argmax compares all pairs at once (n(n-1)/2 comparators, in
#: the pipelined and folded circuits); more scores use a tournament of compare-and-select levels.
ALL_PAIRS_MAX = 16


@dataclass(frozen=True)
class NeuronPlan:
    """``fire = pos >= neg + T`` with ``pos = sum x_i << k`` over ``pos_terms`` ``(i, k)`` and
    ``neg`` likewise. ``constant`` is 0 or 1 when the neuron cannot change, else None."""
    pos_terms: tuple
    neg_terms: tuple
    threshold: int
    sum_lo: int
    sum_hi: int
    constant: int | None


@dataclass(frozen=True)
class ScorePlan:
    """``score = sum_{j in pos} V_j h_j - sum_{j in neg} |V_j| h_j + offset`` over non-constant
    hidden bits; constant-on neurons are folded into ``offset``."""
    pos_terms: tuple            # (hidden index, magnitude)
    neg_terms: tuple
    offset: int
    lo: int
    hi: int


@dataclass(frozen=True)
class NetworkPlan:
    layers: tuple               # tuple of tuple of NeuronPlan
    scores: tuple               # tuple of ScorePlan

    @property
    def constant_neurons(self):
        return sum(n.constant is not None for layer in self.layers for n in layer)

    @property
    def adder_terms(self):
        return sum(len(n.pos_terms) + len(n.neg_terms) for layer in self.layers for n in layer
                   if n.constant is None)


def _plan_neuron(weights, threshold, in_ranges):
    pos, neg = [], []
    const = 0                                   # contribution of constant-valued inputs
    for i, (w, (lo, hi)) in enumerate(zip(weights, in_ranges)):
        if w == 0 or hi == 0:
            continue
        if lo == hi:                            # a constant input (a constant neuron's bit)
            const += w * lo
            continue
        for shift, sign in csd_digits(w):
            (pos if sign > 0 else neg).append((i, shift))
    t = int(threshold) - const
    hi_pos = sum(in_ranges[i][1] << k for i, k in pos)
    lo_pos = sum(in_ranges[i][0] << k for i, k in pos)
    hi_neg = sum(in_ranges[i][1] << k for i, k in neg)
    lo_neg = sum(in_ranges[i][0] << k for i, k in neg)
    s_lo, s_hi = lo_pos - hi_neg, hi_pos - lo_neg
    constant = 1 if s_lo >= t else 0 if s_hi < t else None
    return NeuronPlan(tuple(pos), tuple(neg), t, s_lo, s_hi, constant)


def plan_network(net):
    """Plan every neuron and score of an :class:`~thresh2hw.model.IntegerNetwork`."""
    ranges = [(0, net.max_input)] * net.n_features
    layers = []
    for layer in net.hidden:
        W, T = layer.weights.tolist(), layer.thresholds.tolist()
        plans = tuple(_plan_neuron(W[j], T[j], ranges) for j in range(layer.n_out))
        layers.append(plans)
        ranges = [(0, 1) if p.constant is None else (p.constant, p.constant) for p in plans]
    scores = []
    V, c = net.output.weights.tolist(), net.output.bias.tolist()
    for k in range(len(V)):
        pos, neg, off = [], [], int(c[k])
        for j, v in enumerate(V[k]):
            lo, hi = ranges[j]
            if v == 0 or hi == 0:
                continue
            if lo == 1:
                off += v
            else:
                (pos if v > 0 else neg).append((j, abs(v)))
        lo = off - sum(m for _, m in neg)
        hi = off + sum(m for _, m in pos)
        scores.append(ScorePlan(tuple(pos), tuple(neg), off, lo, hi))
    return NetworkPlan(tuple(layers), tuple(scores))


def score_groups(p, key=None, group=SCORE_GROUP):
    """The terms of score plan ``p`` as leaf tables of at most ``group`` hidden bits.

    Returns ``[(bits, table, lo, hi)]``: ``bits`` the hidden indices (the table index has bit
    ``i`` set when ``bits[i]`` fires), ``table[m]`` the signed sum of the selected weights (the
    score offset is folded into the first table), ``[lo, hi]`` its range. The tables' sum is the
    score, exactly, with range ``[p.lo, p.hi]``. ``key`` orders the hidden indices before they
    are grouped (e.g. by the logic level that produces them); default by index.
    """
    terms = [(j, m) for j, m in p.pos_terms] + [(j, -m) for j, m in p.neg_terms]
    terms.sort(key=(lambda t: (key(t[0]), t[0])) if key else (lambda t: t[0]))
    out = []
    for g in range(0, len(terms), group) or [0]:
        chunk = terms[g:g + group]
        base = p.offset if g == 0 else 0
        table = [base + sum(v for i, (_, v) in enumerate(chunk) if m >> i & 1)
                 for m in range(1 << len(chunk))]
        out.append((tuple(j for j, _ in chunk), tuple(table), min(table), max(table)))
    return out
