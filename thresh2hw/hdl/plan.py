"""Structural plan of a network circuit, in pure Python: which neurons are constant, which
shifted inputs feed each adder tree, and the exact range of every sum.

With ``share_terms``, every layer's adder trees are also rewritten by greedy pairwise
common-subexpression elimination (after Hartley, "Subexpression sharing in filters using
canonic signed digit multipliers", 1996): a pair of shifted terms that recurs in several trees
becomes one shared sum node, built once and read by every tree that had the pair.

The Amaranth generator (:mod:`.network`) builds exactly this plan, and reports and resource
estimates read it without elaborating any hardware.
"""
import heapq
from dataclasses import dataclass

from ..ranges import csd_digits

__all__ = ["NeuronPlan", "ScorePlan", "SharedNode", "NetworkPlan", "plan_network",
           "share_layer", "SCORE_GROUP", "score_groups", "ALL_PAIRS_MAX"]

#: Hidden bits per score leaf table. The sum of up to four bit-selected constants depends on
#: four bits, so each of its result bits is one 4-input LUT: one logic level, no carry chain.
SCORE_GROUP = 4

#: Largest number of scores whose argmax compares all pairs at once (n(n-1)/2 comparators, in
#: the pipelined and folded circuits); more scores use a tournament of compare-and-select levels.
ALL_PAIRS_MAX = 16


@dataclass(frozen=True)
class NeuronPlan:
    """``fire = pos >= neg + T`` with ``pos = sum x_i << k`` over ``pos_terms`` ``(i, k)`` and
    ``neg`` likewise. ``constant`` is 0 or 1 when the neuron cannot change, else None.

    ``x_i`` is the layer's input ``i`` for ``i < n_inputs`` and the layer's shared node
    ``i - n_inputs`` (:attr:`NetworkPlan.shared`) otherwise."""
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
class SharedNode:
    """A sum shared by several adder trees of one layer: ``x_a + (x_b << shift)``, with the
    operands indexed as in :class:`NeuronPlan` (an input, or an earlier shared node of the
    same layer). ``[lo, hi]`` is its exact range (both ends are reached)."""
    a: int
    b: int
    shift: int
    lo: int
    hi: int


@dataclass(frozen=True)
class NetworkPlan:
    layers: tuple               # tuple of tuple of NeuronPlan
    scores: tuple               # tuple of ScorePlan
    #: per layer, the tuple of its :class:`SharedNode` (``()``: no sharing anywhere)
    shared: tuple = ()

    def layer_shared(self, l):
        """The shared nodes of layer ``l`` (empty without sharing)."""
        return self.shared[l] if self.shared else ()

    @property
    def shared_nodes(self):
        return sum(len(s) for s in self.shared)

    @property
    def constant_neurons(self):
        return sum(n.constant is not None for layer in self.layers for n in layer)

    @property
    def adder_terms(self):
        """Adder operands: every tree term of a non-constant neuron, and two per shared
        node."""
        return (sum(len(n.pos_terms) + len(n.neg_terms) for layer in self.layers for n in layer
                    if n.constant is None) + 2 * self.shared_nodes)

    @property
    def adders(self):
        """Two-input adders in the neuron trees and shared nodes (threshold adds and
        comparators not counted)."""
        return (sum(max(len(n.pos_terms) - 1, 0) + max(len(n.neg_terms) - 1, 0)
                    for layer in self.layers for n in layer if n.constant is None)
                + self.shared_nodes)


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


def _pair_key(s, t):
    """The pair of terms ``s``, ``t`` with the lower shift factored out: ``(i, j, d)`` for
    ``(x_i + (x_j << d)) << k`` (``d >= 0``; ``i < j`` when ``d == 0``)."""
    (i, ki), (j, kj) = s, t
    if (kj, j) < (ki, i):
        (i, ki), (j, kj) = (j, kj), (i, ki)
    return i, j, kj - ki


def _matches(terms, key):
    """Non-overlapping occurrences of ``key`` in one tree's (distinct) terms, as the shifts
    of their low terms, taken from the lowest shift up."""
    i, j, d = key
    present = set(terms)
    used = set()
    out = []
    for k in sorted(k for a, k in terms if a == i):
        lo, hi = (i, k), (j, k + d)
        if hi in present and lo not in used and hi not in used:
            used.update((lo, hi))
            out.append(k)
    return out


def _tree_pairs(terms):
    """``{key: occurrences}`` over the pairs of one tree's terms."""
    counts, same = {}, set()
    for x in range(len(terms)):
        for y in range(x + 1, len(terms)):
            key = _pair_key(terms[x], terms[y])
            if key[0] == key[1]:        # x_i with x_i << d: chains overlap, count greedily
                same.add(key)
            else:                       # distinct terms: at most one partner each
                counts[key] = counts.get(key, 0) + 1
    for key in same:
        counts[key] = len(_matches(terms, key))
    return counts


def _replace(terms, key, shifts, s):
    """``terms`` with the occurrences of ``key`` at low shifts ``shifts`` replaced by
    ``(s, k)``, each in the place of its low term."""
    i, j, d = key
    lows = {(i, k): k for k in shifts}
    highs = {(j, k + d) for k in shifts}
    out = []
    for t in terms:
        if t in lows:
            out.append((s, lows[t]))
        elif t not in highs:
            out.append(t)
    return out


def share_layer(neurons, in_ranges):
    """Greedy pairwise common-subexpression elimination over the adder trees of one layer.

    Counts, over the pos trees and the neg trees of all non-constant neurons, every pair of
    terms of one tree with the lower shift factored out (:func:`_pair_key`); while the most
    frequent pair occurs at least twice (ties: the smallest key), makes it a shared node
    ``x_i + (x_j << d)`` (index ``len(in_ranges) + its position``), replaces every
    non-overlapping occurrence ``(x_i << k, x_j << (k + d))`` by ``(node, k)`` and recounts
    the changed trees (only those: the counts are kept incrementally). Shared nodes take part
    in later pairs like inputs.

    Returns ``(neurons, shared)``: the rewritten :class:`NeuronPlan` tuple (same thresholds,
    ranges and constants: each tree's sum is unchanged) and the tuple of :class:`SharedNode`.
    """
    ranges = list(in_ranges)
    n_in = len(ranges)
    trees, owner = [], []               # tree id -> terms; -> (neuron index, 0 pos / 1 neg)
    for j, p in enumerate(neurons):
        if p.constant is None:
            trees += [list(p.pos_terms), list(p.neg_terms)]
            owner += [(j, 0), (j, 1)]
    tree_counts = [_tree_pairs(t) for t in trees]
    counts, where = {}, {}
    for tid, tc in enumerate(tree_counts):
        for key, n in tc.items():
            counts[key] = counts.get(key, 0) + n
            where.setdefault(key, set()).add(tid)
    heap = [(-n, key) for key, n in counts.items() if n >= 2]
    heapq.heapify(heap)
    shared = []
    while heap:
        n, key = heapq.heappop(heap)
        if counts.get(key, 0) != -n:                # stale entry
            continue
        i, j, d = key
        lo, hi = ranges[i][0] + (ranges[j][0] << d), ranges[i][1] + (ranges[j][1] << d)
        s = n_in + len(shared)
        shared.append(SharedNode(i, j, d, lo, hi))
        ranges.append((lo, hi))
        changed = set()
        for tid in sorted(where[key]):
            shifts = _matches(trees[tid], key)
            if not shifts:
                continue
            for k2, c in tree_counts[tid].items():
                counts[k2] -= c
                where[k2].discard(tid)
                changed.add(k2)
            trees[tid] = _replace(trees[tid], key, shifts, s)
            tree_counts[tid] = tc = _tree_pairs(trees[tid])
            for k2, c in tc.items():
                counts[k2] = counts.get(k2, 0) + c
                where.setdefault(k2, set()).add(tid)
                changed.add(k2)
        for k2 in sorted(changed):
            c = counts[k2]
            if c >= 2:
                heapq.heappush(heap, (-c, k2))
            elif c == 0:
                del counts[k2], where[k2]
    out = list(neurons)
    for tid, (j, side) in enumerate(owner):
        p = out[j]
        out[j] = (NeuronPlan(tuple(trees[tid]), p.neg_terms, p.threshold, p.sum_lo, p.sum_hi,
                             p.constant) if side == 0 else
                  NeuronPlan(p.pos_terms, tuple(trees[tid]), p.threshold, p.sum_lo, p.sum_hi,
                             p.constant))
    return tuple(out), tuple(shared)


def plan_network(net, *, share_terms=False):
    """Plan every neuron and score of an :class:`~thresh2hw.model.IntegerNetwork`.

    ``share_terms``: rewrite every layer's adder trees with shared sum nodes
    (:func:`share_layer`); the plan then has :attr:`NetworkPlan.shared` (one tuple per
    layer)."""
    ranges = [(0, net.max_input)] * net.n_features
    layers, shared = [], []
    for layer in net.hidden:
        W, T = layer.weights.tolist(), layer.thresholds.tolist()
        plans = tuple(_plan_neuron(W[j], T[j], ranges) for j in range(layer.n_out))
        if share_terms:
            plans, nodes = share_layer(plans, ranges)
            shared.append(nodes)
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
    return NetworkPlan(tuple(layers), tuple(scores), tuple(shared))


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
