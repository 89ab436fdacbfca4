"""The integer threshold network as one Amaranth component with stream ports.

One generator, three architectures (``architecture=``), all behind the same ``i``/``o``
valid/ready stream interface and all bit-exact to :meth:`IntegerNetwork.forward`:

``"combinational"`` (default)
    The whole network is one combinational datapath feeding the registered output.
    ``latency = 1``, ``initiation_interval = 1``.
``"pipelined"``, ``pipeline_stages=N`` (0 ≤ N ≤ ``max_pipeline_stages``; or ``"max"``)
    The datapath is scheduled as-soon-as-possible into *logic levels*, each at most one LUT4
    or one carry chain deep, so that ``"max"`` leaves one of them between registers (a
    value's level is one more than its deepest operand's; shifts, AND-selects, wiring and
    the binary sign test are free):

    - a neuron is one unsigned adder tree over its positive terms and the *complements*
      (``~x``, one inverter level shared by every neuron that subtracts ``x``) of its
      negative ones, compared with a constant (``T`` plus the complements' offsets): no
      carry chain needs an inverted operand, which on iCE40/ECP5 costs a LUT and a routing
      hop in front of the chain;
    - every adder-tree node is a level; a comparator against a constant is a level of
      4-bit chunk lookups (greater-than, equal) and levels combining neighbouring chunks in
      pairs (LUTs only);
    - every score leaf table (the sum of up to four bit-selected output weights, one LUT
      per result bit) is a level; half of the scores read complemented copies of the
      hidden bits (halving their fanout);
    - the argmax (up to ``ALL_PAIRS_MAX`` biased, non-negative scores) registers each
      score's complement (a level), compares all pairs at once as bare carry chains
      (``s_k <= s_j`` is a sum bit of ``2**w + s_k + ~s_j`` or of ``2**w + s_j + ~s_k + 1``,
      whichever evens out the fanout; for 8-bit scores 7-bit chains, one iCE40 tile, and
      a LUT level for the top bits), ANDs each score's wins in four-input levels and ORs
      the index bits in four-input levels.

    ``N`` register cuts are placed after the
    levels ``round(i·L/(N+1))``, ``i = 1..N``, ``L`` being the deepest level, so the cuts are
    spread evenly through the adder trees and across layer boundaries; a value consumed past
    a cut is registered there (values skipping several cuts get delay registers, shared by
    all their consumers). ``initiation_interval = 1``. The data registers have no reset (only
    the valid bits do), and bits that are constant over a value's range are not
    registered. ``N = 0`` is the combinational circuit (latency 1). Back-pressure:

    ``flow_control="stall"`` (default)
        A global stall: every stage register and valid bit holds while ``o.valid & ~o.ready``;
        ``i.ready = ~o.valid | o.ready``; ``latency = N + 1``. The smallest circuit, but the
        stall enable fans out to every register, which caps Fmax on large datapaths.
    ``flow_control="credit"``
        The stages run freely (no clock enable) into a result register and an output queue
        of ``N + 3`` entries whose head is the output register: ``latency = N + 2``. A vector
        is accepted (``i.ready``) while fewer than ``N + 3`` are in the pipeline or the
        queue, so none is ever dropped; ``i.ready`` is a flip-flop (the top bit of the
        credit count, kept as an ``N + 3``-bit thermometer code), not a function of
        ``o.ready``. Costs one cycle of latency, ``(N + 2) * (output bits + 1)`` queue
        flip-flops and the ``N + 3`` count bits. (k-induction with a fixed-latency
        scoreboard cannot prove a queue, whose backlog a steady stream never drains; PDR
        proves it.)
``"folded"``, ``fold=K`` (K ≥ 1, default 1), ``pipeline_stages=N`` (default 0, or ``"max"``)
    The input vector is latched on transfer, then the first layer is computed over
    ``C = ceil(n_features / K)`` cycles, ``K`` features per cycle: for every first-layer
    neuron one signed accumulator, started at ``-T`` and sized from the exact range, adds per
    cycle the shift-and-add terms of that cycle's features (the CSD digits of each feature
    slot, selected by the cycle counter: AND gates, no multipliers); the neuron fires on the
    sign of the final sum (no comparator). In the last cycle the first layer's bits enter
    the *tail* (later layers, scores, argmax), scheduled into levels like the pipelined
    datapath (the accumulator step is level 1) with ``N`` register cuts under a global stall
    (``N = 0``: combinational into the output register); a new vector is accepted in that
    same cycle. ``i.ready`` is low while busy. ``initiation_interval = C``,
    ``latency = C + 1 + N``.

Latency counts clock edges: an input transferred on edge ``e`` makes its output valid right
after edge ``e + latency - 1`` (so the combinational circuit has latency 1).
"""
import heapq
from bisect import bisect_left
from dataclasses import dataclass, replace
from numbers import Integral

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..model import IntegerNetwork
from .arith import Term, adder_tree, const_term, fit_range, shape_for
from .plan import ALL_PAIRS_MAX, plan_network, score_groups

__all__ = ["ThresholdNetworkCircuit", "build_circuit", "output_shape", "LATENCY",
           "ARCHITECTURES", "FLOW_CONTROL"]

#: Latency of the combinational architecture (cycles from input transfer to valid output).
LATENCY = 1

#: Names accepted by ``architecture=``.
ARCHITECTURES = ("combinational", "pipelined", "folded")

#: flow control (back-pressure) schemes of the pipelined architecture (see the module docstring)
FLOW_CONTROL = ("stall", "credit")


def output_shape(net, plan=None):
    """Shape of the output payload: class index, positive-class bit, or integer score."""
    if net.task == "multiclass":
        return unsigned(bits_for(net.n_classes - 1))
    if net.task == "binary":
        return unsigned(1)
    s = (plan or plan_network(net)).scores[0]
    return shape_for(s.lo, s.hi)


def _level_tree(leaves, add):
    """Sum ``leaves``, ``[(level, node)]``, always adding the two shallowest first (ties: the
    earliest), so that deeper leaves (shared nodes) enter the tree late and its depth is the
    least possible for them. ``add(a, b)`` returns ``(level, node)``. Returns a node, or None
    for no leaves."""
    heap = [(lvl, n, node) for n, (lvl, node) in enumerate(leaves)]
    if not heap:
        return None
    heapq.heapify(heap)
    n = len(heap)
    while len(heap) > 1:
        _, _, a = heapq.heappop(heap)
        _, _, b = heapq.heappop(heap)
        lvl, node = add(a, b)
        heapq.heappush(heap, (lvl, n, node))
        n += 1
    return heap[0][2]


def _neuron(m, name, p, inputs, levels=None):
    """``1[pos - neg >= T]`` as two unsigned shift-and-add trees and one comparator: tested as
    ``pos >= neg + T`` (or ``pos + (-T) >= neg``) so no signed adder is needed.

    ``levels``: the adder depth of each input (with shared nodes): the trees then add the
    shallowest operands first (:func:`_level_tree`) instead of in a fixed balanced order."""
    if p.constant is not None:
        return const_term(p.constant)

    def tree(terms):
        leaves = [Term(inputs[i].value << k, inputs[i].lo << k, inputs[i].hi << k)
                  for i, k in terms]
        if levels is None:
            return adder_tree(leaves)

        def add(a, b):
            t = adder_tree([a[1], b[1]])
            return max(a[0], b[0]) + 1, (max(a[0], b[0]) + 1, t)
        top = _level_tree([(levels[i], (levels[i], t)) for (i, _), t in zip(terms, leaves)],
                          add)
        return const_term(0) if top is None else top[1]
    pos, neg = tree(p.pos_terms), tree(p.neg_terms)
    if p.threshold >= 0:
        lhs, rhs = pos, adder_tree([neg, const_term(p.threshold)])
    else:
        lhs, rhs = adder_tree([pos, const_term(-p.threshold)]), neg
    fire = Signal(name=name)
    m.d.comb += fire.eq(lhs.value >= rhs.value)
    return Term(fire, 0, 1)


def _shared(m, l, nodes, terms):
    """``(terms, levels)``: ``terms`` followed by layer ``l``'s shared sum nodes
    (:class:`.plan.SharedNode`), each built once as a signal of its exact width, and the adder
    depth of each (None without shared nodes)."""
    if not nodes:
        return terms, None
    terms = list(terms)
    levels = [0] * len(terms)
    for idx, sn in enumerate(nodes):
        s = Signal(shape_for(sn.lo, sn.hi), name=f"h{l}_share{idx}")
        m.d.comb += s.eq(terms[sn.a].value + (terms[sn.b].value << sn.shift))  # exact: [lo, hi]
        terms.append(Term(s, sn.lo, sn.hi))
        levels.append(max(levels[sn.a], levels[sn.b]) + 1)
    return terms, levels


def _lookup(x, ones):
    """The bit ``x in ones`` for a small unsigned value ``x`` (at most four bits: one LUT4),
    written as equality tests, not as a constant indexed by ``x``: Yosys maps an indexed
    constant to multiplexers with constant inputs and then folds those into the
    flip-flop's synchronous set/reset, whose logic sits in front of the shared set/reset
    pin of an iCE40 logic block (a slower path than the LUT into the flip-flop)."""
    ones = sorted(set(ones))
    n = 1 << len(x)
    if not ones or len(ones) == n:
        return C(int(bool(ones)), 1)
    if 2 * len(ones) > n:
        zeros = [m for m in range(n) if m not in ones]
        return ~Cat(*[x == m for m in zeros]).any()
    return Cat(*[x == m for m in ones]).any()


def _score(m, name, p, bits):
    """Adds the constants selected by the hidden bits (AND gates, no multipliers). The
    combinational circuit keeps plain AND-select trees: compiled simulators evaluate them
    several times faster than the leaf tables the pipelined schedule uses (those pay off only
    where every level is registered)."""
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


# -- scheduled datapath (pipelined and folded architectures) -----------------------------------
def _all(*bits):
    return Cat(*bits).all()


def _any(*bits):
    return Cat(*bits).any()


def _groups(items, size=4):
    """``items`` in consecutive groups of at most ``size``, as even as possible (nine
    become 3 + 3 + 3, not 4 + 4 + 1)."""
    n = -(-len(items) // size)
    q, r = divmod(len(items), n)
    out, k = [], 0
    for g in range(n):
        out.append(items[k:k + q + (g < r)])
        k += q + (g < r)
    return out


@dataclass(frozen=True, eq=False)
class _Node:
    """A value with its exact range ``[lo, hi]``, the logic level that produces it (None for a
    constant) and the pipeline stage it lives in. A shifted leaf keeps its unshifted ``base`` so
    that delaying it delays (and shares) the narrow input instead of the shifted copy."""
    value: object
    lo: int
    hi: int
    level: int | None
    stage: int = 0
    base: object = None
    shift: int = 0


def _const_node(v):
    t = const_term(v)
    return _Node(t.value, t.lo, t.hi, None)


class _Schedule:
    """Builds (or, with ``m=None``, only schedules) the datapath level by level.

    ``cuts`` are the levels after which a register stage sits; every assignment into a stage
    register is collected in :attr:`regs` for the caller to put under its stall enable.
    """

    def __init__(self, m, cuts=()):
        self.m = m
        self.cuts = sorted(cuts)
        self.regs = []
        self.n_reg_bits = 0
        self._delayed = {}                  # id(node) -> (node, {stage: node})
        self._complements = {}              # (id(node), width) -> (node, complement)
        self._defs = {}                     # id(bit) -> (bit, operands, fn) of 1-bit ops
        self._memo = {}                     # (key, operand ids) -> (operands, node)
        self._named = {}                    # id(node) -> (node, node in a signal)
        self._inverted = {}                 # id(bit) -> (bit, its complement's copy)
        self._order = {}                    # id(node) -> (node, first-seen rank)
        self._n = 0

    def stage_of(self, level):
        return 0 if level is None else bisect_left(self.cuts, level)

    def _name(self, prefix):
        self._n += 1
        return f"{prefix}{self._n}"

    def align(self, node, stage):
        """``node`` as seen in pipeline stage ``stage`` (registered at every cut it crosses)."""
        if node.level is None or node.stage == stage:
            return node
        assert node.stage < stage, "a value cannot travel backwards through the pipeline"
        if node.base is not None:
            b = self.align(node.base, stage)
            return self.shifted(b, node.shift)
        _, chain = self._delayed.setdefault(id(node), (node, {}))
        if stage not in chain:
            prev = self.align(node, stage - 1)
            shape = shape_for(node.lo, node.hi)
            # The top bits that every value in [lo, hi] shares are constants, not flip-flops:
            # a flip-flop of a constant 1 is not removed (its initial value is 0), and
            # Yosys merges all of them into one net that fans out across the device.
            mask = (1 << shape.width) - 1
            k = ((node.lo & mask) ^ (node.hi & mask)).bit_length()
            if self.m is None:
                value = None
            else:
                # data registers need no reset: only the valid bits say what they hold
                reg = Signal(k, name=f"s{stage}_{self._name('r')}", reset_less=True)
                self.regs.append(reg.eq(prev.value[:k]))
                value = Cat(reg, C((node.lo & mask) >> k, shape.width - k))
                value = value.as_signed() if shape.signed else value
            self.n_reg_bits += k
            chain[stage] = _Node(value, node.lo, node.hi, node.level, stage)
        return chain[stage]

    def shifted(self, node, k):
        if k == 0:
            return node
        return _Node(None if node.value is None else node.value << k, node.lo << k,
                     node.hi << k, node.level, node.stage, base=node, shift=k)

    def op(self, operands, lo, hi, fn, name=None):
        """One logic level: ``fn(*values)`` over the operands aligned to this level's stage.
        With ``name``, the result is a named signal (for values read several times, so that
        neither the simulator nor synthesis sees the expression duplicated)."""
        levels = [o.level for o in operands if o.level is not None]
        level = max(levels) + 1 if levels else None
        stage = self.stage_of(level)
        ops = [self.align(o, stage) for o in operands]
        value = None if self.m is None else fn(*[o.value for o in ops])
        if name is not None and value is not None:
            value = self.signal(value, lo, hi, name)
        node = _Node(value, lo, hi, level, stage)
        if (lo, hi) == (0, 1):
            self._defs[id(node)] = (node, operands, fn)
        return node

    def memo(self, key, operands, lo, hi, fn, name=None):
        """:meth:`op`, built once per ``key`` (which must identify ``fn``) and operands."""
        k = (key,) + tuple(id(o) for o in operands)
        if k not in self._memo:
            self._memo[k] = (operands, self.op(operands, lo, hi, fn, name=name))
        return self._memo[k][1]

    def inverted(self, bit):
        """A second copy of the 1-bit op result ``bit``, computing its complement from the
        same operands (so synthesis cannot merge the two back into one net), or None for a
        bit that is not an op result. Halves the fanout of a bit read by many LUTs."""
        if id(bit) not in self._defs:
            return None
        if id(bit) not in self._inverted:
            _, operands, fn = self._defs[id(bit)]
            self._inverted[id(bit)] = (bit, self.op(operands, 0, 1, lambda *v: ~fn(*v),
                                                    name=self._name("hinv")))
        return self._inverted[id(bit)][1]

    def join(self, operands, lo, hi, fn):
        """``fn(*values)`` over the operands aligned to the deepest one's stage, with no logic
        level of its own (wiring: concatenations)."""
        levels = [o.level for o in operands if o.level is not None]
        level = max(levels) if levels else None
        stage = self.stage_of(level)
        ops = [self.align(o, stage) for o in operands]
        value = None if self.m is None else fn(*[o.value for o in ops])
        return _Node(value, lo, hi, level, stage)

    def complement(self, node, width=None):
        """``2**width - 1 - node`` (the bitwise NOT of a non-negative value, ``width`` its own
        by default): one LUT level, built once per node and width. A carry chain on iCE40 or
        ECP5 cannot invert an operand itself, so subtracting (or comparing with) a value
        costs an inverter LUT and a routing hop in front of the chain; adding a registered
        complement and a constant instead leaves the chain bare."""
        if node.base is not None and width is None:
            return self.shifted(self.complement(node.base), node.shift)
        assert node.lo >= 0, "only non-negative values are complemented"
        w = shape_for(node.lo, node.hi).width if width is None else width
        full = (1 << w) - 1
        if node.level is None:
            return _const_node(full - node.lo)
        key = (id(node), w)
        if key not in self._complements:
            comp = self.op([node], full - node.hi, full - node.lo, lambda v: C(full, w) ^ v)
            self._complements[key] = (node, comp)
        return self._complements[key][1]

    def reduce(self, bits, fn, name=None):
        """``fn`` (an associative AND or OR) over 1-bit nodes as a tree of four-input ops:
        one LUT4 and one logic level each, the shallowest operands combined first."""
        bits = sorted(bits, key=lambda b: -1 if b.level is None else b.level)
        while len(bits) > 4:
            bits = [self.op(g, 0, 1, fn) if len(g) > 1 else g[0] for g in _groups(bits)]
        if len(bits) == 1:
            return bits[0]
        return self.op(bits, 0, 1, fn, name=name)

    def named(self, node):
        """``node`` with its value in a signal of its own (no logic level), for a value that
        several expressions read: inlined, it would be copied into each of them (and
        evaluated once per copy by the Python simulator)."""
        if self.m is None or node.level is None or isinstance(node.value, Signal):
            return node
        if node.base is not None:
            return self.shifted(self.named(node.base), node.shift)
        if id(node) not in self._named:
            sig = self.signal(node.value, node.lo, node.hi, self._name("v"))
            self._named[id(node)] = (node, replace(node, value=sig))
        return self._named[id(node)][1]

    def signal(self, value, lo, hi, name):
        sig = Signal(shape_for(lo, hi), name=name)
        self.m.d.comb += sig.eq(value)
        return sig

    def add(self, a, b):
        lo, hi = a.lo + b.lo, a.hi + b.hi
        return self.op([a, b], lo, hi, lambda x, y: fit_range(x + y, lo, hi))

    def tree(self, nodes):
        nodes = list(nodes)
        if not nodes:
            return _const_node(0)
        while len(nodes) > 1:
            nxt = [self.add(a, b) for a, b in zip(nodes[0::2], nodes[1::2])]
            if len(nodes) % 2:
                nxt.append(nodes[-1])
            nodes = nxt
        return nodes[0]

    def shared(self, l, shared, inputs):
        """``inputs`` followed by layer ``l``'s shared sum nodes: each one adder (one logic
        level past its operands), a named signal read by every tree that uses it."""
        nodes = list(inputs)
        for idx, sn in enumerate(shared):
            a, b = nodes[sn.a], self.shifted(nodes[sn.b], sn.shift)
            nodes.append(self.op([a, b], sn.lo, sn.hi,
                                 lambda x, y, lo=sn.lo, hi=sn.hi: fit_range(x + y, lo, hi),
                                 name=f"h{l}_share{idx}"))
        return nodes

    def level_tree(self, nodes):
        """The sum of ``nodes`` adding the shallowest two first (:func:`_level_tree`)."""
        def key(node):
            return -1 if node.level is None else node.level

        def add(a, b):
            s = self.add(a, b)
            return key(s), s
        top = _level_tree([(key(n), n) for n in nodes], add)
        return _const_node(0) if top is None else top

    def neuron(self, p, inputs, name=None):
        """``1[pos - neg >= T]`` as one unsigned adder tree and a comparator against a
        constant: ``pos + sum(~x for x in neg) >= T + D``, each negative term's input replaced
        by its complement (:meth:`complement`, shared by every neuron that subtracts it) and
        ``D`` the sum of the complements' offsets. No carry chain needs an inverted operand,
        and the comparator is LUT logic. The tree adds the shallowest operands first (inputs,
        then complements and shared nodes)."""
        if p.constant is not None:
            return _const_node(p.constant)
        terms = [self.shifted(inputs[i], k) for i, k in p.pos_terms]
        if not p.pos_terms:                             # 0 >= neg + T: neg <= -T
            neg = self.level_tree(self.shifted(inputs[i], k) for i, k in p.neg_terms)
            return self.compare_const(neg, -p.threshold, False, name)
        offset = 0
        for i, k in p.neg_terms:
            x = inputs[i]
            terms.append(self.shifted(self.complement(x), k))
            offset += ((1 << shape_for(x.lo, x.hi).width) - 1) << k
        return self.compare_const(self.level_tree(terms), p.threshold + offset, True, name)

    def compare_const(self, node, c, ge, name=None):
        """``node >= c`` (``ge``) or ``node <= c`` for a non-negative ``node``, as LUT logic
        on 4-bit chunks (no carry chain): a level of chunk lookups (greater-than and equal,
        one LUT4 each), then levels combining neighbouring chunks in pairs
        (``gt = gt_hi | eq_hi & gt_lo``: one LUT4). A shifted input is compared unshifted
        against the rounded constant (``x << k >= c`` is ``x >= ceil(c / 2**k)``)."""
        if node.base is not None:
            k, node = node.shift, node.base
            c = -((-c) >> k) if ge else c >> k
        if not ge:                                      # x <= c is ~(x >= c + 1)
            c += 1
        width = shape_for(node.lo, node.hi).width
        if c <= 0 or c >= 1 << width:
            return _const_node(int((c <= 0) == ge))
        low = (c & -c).bit_length() - 1     # x >= c compares only the bits above c's zeros
        node = self.named(node)             # read by every chunk: one signal, not copies

        def lookup(x, pred, n):
            return _lookup(x, [m for m in range(1 << n) if pred(m)])

        # Segments from the MSB down: (gt, eq) packed in two bits, except the lowest one,
        # which holds only ">=" and so does every combination that contains it: its top
        # is node >= c. Only the last op inverts (for <=), so no bit is left unused.
        segs = []
        for a in range(low, width, 4):
            b = min(a + 4, width)
            ca, n = (c >> a) & ((1 << (b - a)) - 1), b - a

            def chunk(v, a=a, b=b, ca=ca, n=n):
                x = v[a:b]
                if a == low:
                    ge_c = lookup(x, lambda m: m >= ca, n)
                    return ge_c if ge or width - low > 4 else ~ge_c
                return Cat(lookup(x, lambda m: m > ca, n), x == ca)
            # neurons comparing the same input share chunk lookups and combinations (memo):
            # otherwise synthesis merges the equal LUTs into one driving several registers
            key = ("chunk", a, b, ca, a == low, a == low and not (ge or width - low > 4))
            segs.insert(0, self.memo(key, [node], 0, 1 if a == low else 3, chunk,
                                     name=(name if width - low <= 4 else
                                           self._name(f"{name or 'cmp'}_c"))))
        while len(segs) > 1:
            nxt = []
            for k in range(0, len(segs) - 1, 2):
                has_lsb = k + 2 == len(segs)            # this pair contains the LSB chunk
                last = has_lsb and len(segs) == 2

                def combine(h, l, has_lsb=has_lsb, last=last):
                    if not has_lsb:
                        return Cat(h[0] | h[1] & l[0], h[1] & l[1])
                    g = h[0] | h[1] & l
                    return g if ge or not last else ~g
                key = ("combine", has_lsb, last and not ge)
                nxt.append(self.memo(key, segs[k:k + 2], 0, 1 if has_lsb else 3, combine,
                                     name=name if last else
                                     self._name(f"{name or 'cmp'}_p")))
            if len(segs) % 2:
                nxt.append(segs[-1])
            segs = nxt
        return segs[0]

    def table(self, nodes, table, lo, hi):
        """A leaf table indexed by the 1-bit ``nodes``: one LUT per result bit (one logic
        level), or none for a single bit (an AND-select) or a constant.

        Each result bit is one :meth:`bit_function`, built once for all tables: the tables
        of two scores over the same hidden bits often have a bit in common (the XOR of two
        of them, say); left to synthesis, the two LUTs become one driving both registers,
        and the second register then needs a logic cell and a routing hop of its own."""
        nodes = [self.named(b) for b in nodes]      # each index bit is read per table bit
        if len(nodes) <= 1:
            if not nodes:
                return _const_node(table[0])
            b, shape = nodes[0], shape_for(lo, hi)
            value = None if b.value is None else Mux(b.value, C(table[1], shape),
                                                     C(table[0], shape))
            return _Node(value, lo, hi, b.level, b.stage)
        shape = shape_for(lo, hi)
        mask = (1 << shape.width) - 1
        bits = [self.bit_function(nodes, [m for m, t in enumerate(table) if (t & mask) >> b & 1])
                for b in range(shape.width)]
        if shape.signed:
            return self.join(bits, lo, hi, lambda *v: Cat(*v).as_signed())
        return self.join(bits, lo, hi, lambda *v: Cat(*v))

    def bit_function(self, nodes, ones):
        """The bit ``index in ones`` of the index ``Cat(nodes)`` (1-bit nodes), reduced to
        the index bits it depends on: a constant, one of the nodes itself, or one LUT built
        once per function (the support in a fixed order, so equal functions meet)."""
        n, ones = len(nodes), set(ones)
        support = [i for i in range(n)
                   if any((m in ones) != (m ^ 1 << i in ones) for m in range(1 << n))]
        if not support:
            return _const_node(int(0 in ones))
        support.sort(key=lambda i: self._order.setdefault(id(nodes[i]), (nodes[i],
                                                                        len(self._order)))[1])
        sub = [nodes[i] for i in support]
        # the function over the support: entry k sets support[j] to bit j of k (the others
        # are irrelevant, so they are left at 0)
        sub_ones = tuple(k for k in range(1 << len(sub))
                         if sum(1 << support[j] for j in range(len(sub)) if k >> j & 1) in ones)
        if len(sub) == 1 and sub_ones == (1,):
            return sub[0]
        return self.memo(("bit", sub_ones), sub, 0, 1,
                         lambda *v: _lookup(Cat(*v), sub_ones), name=self._name("t"))

    def score(self, p, bits, name=None, invert=False):
        """Leaf tables of up to four hidden bits (grouped by the level that produces them),
        then one balanced signed adder tree; the offset sits in the first table.

        Every later table whose values are all non-negative is centred on zero and the first
        table takes the constants back (the sum is unchanged): then no adder sums two
        unsigned values into a wider one, whose top bit would be a bare carry-out (on iCE40
        a feed-through cell and a hop to its flip-flop)."""
        def key(j):
            return -1 if bits[j].level is None else bits[j].level
        groups = score_groups(p, key)
        moved = 0
        for g, (js, table, lo, hi) in enumerate(groups[1:], 1):
            if 0 <= lo < hi:
                c = (lo + hi + 1) // 2
                groups[g] = (js, tuple(v - c for v in table), lo - c, hi - c)
                moved += c
        if moved:
            js, table, lo, hi = groups[0]
            groups[0] = (js, tuple(v + moved for v in table), lo + moved, hi + moved)
        leaves = []
        for js, table, lo, hi in groups:
            sel = [bits[j] for j in js]
            if invert:                  # read the complemented copies of the hidden bits
                flip = 0
                for i, b in enumerate(sel):
                    nb = self.inverted(b)
                    if nb is not None:
                        sel[i], flip = nb, flip | 1 << i
                table = tuple(table[m ^ flip] for m in range(len(table)))
            leaves.append(self.table(sel, table, lo, hi))
        s = self.tree(leaves)
        if name is None or s.value is None or s.level is None:
            return s
        return _Node(self.signal(s.value, p.lo, p.hi, name), p.lo, p.hi, s.level, s.stage)

    def argmax(self, scores):
        """Index of the largest score, the lowest index on ties. Up to :data:`ALL_PAIRS_MAX`
        scores: a level of registered complements, then every pair compared at once (one
        carry-chain level; for 8-bit scores a 7-bit chain and a LUT for the top bits), each
        score's win as the AND of its comparisons and the index
        bits as ORs of the wins (four-input levels), so no comparator feeds a multiplexer
        feeding another comparator. More scores: a tournament of compare-and-select levels
        (fewer comparators)."""
        n = len(scores)
        if n > ALL_PAIRS_MAX:
            return self.tournament(scores)
        if n == 1:
            return _const_node(0)
        # s_k <= s_j is bit w of 2**w + s_k + ~s_j (~s_j over the common width w): the carry
        # out of a bare chain (no inverter in front: the complement is registered), taken
        # as a sum bit so that it is a LUT in the chain's last cell, packed with its
        # flip-flop (a raw carry-out needs a feed-through cell and a hop to the flip-flop).
        # Or, reading s_j itself and the complement of s_k, s_k > s_j is bit w of
        # 2**w + s_j + ~s_k + 1 (the 1 is the chain's carry-in). Each pair takes the
        # orientation that evens out how many chains read each score and each complement:
        # a score read by all n - 1 chains is a net spread over the whole device.
        assert all(sc.lo >= 0 for sc in scores), "the all-pairs argmax compares biased scores"
        w = max(shape_for(sc.lo, sc.hi).width for sc in scores)
        # An iCE40 logic tile holds eight cells: an 8-bit chain and its result cell would
        # cross into the next tile (a 1.2 ns hop on a UP5K). Then the chains compare the low
        # seven bits and a LUT after them puts the top bits in front:
        # s_k <= s_j iff t_k < t_j, or t_k == t_j and the low bits compare so.
        split = w == 8
        cw = w - 1 if split else w                     # bits compared by the chains

        def low(v):
            v = v[:cw]
            return Cat(v, C(0, cw - len(v)))

        def not_beats(na, b):
            return (Cat(low(b), C(1, 1)) + low(na))[cw]

        def beats(a, nb):
            return (Cat(low(a), C(1, 1)) + low(nb) + 1)[cw]

        def top(node):
            """Bit w - 1 of ``node``: (its node or None, its value when constant)."""
            if node.hi < 1 << (w - 1) or node.lo >= 1 << (w - 1):
                return None, int(node.lo >= 1 << (w - 1))
            return self.join([node], 0, 1, lambda v: v[w - 1]), None
        raw, comp = [0] * n, [0] * n         # chains reading each score / its complement
        kept_by = {}                        # (j, k), j < k: (bit, bit is s_k > s_j)
        for j in range(n - 1):
            for k in range(j + 1, n):
                flip = max(raw[j], comp[k]) < max(raw[k], comp[j])
                if flip:
                    raw[j], comp[k] = raw[j] + 1, comp[k] + 1
                    sj, sk = scores[j], self.complement(scores[k], w)
                    bit = self.op([sj, sk], 0, 1, beats, name=f"amax_gt_{k}_{j}")
                else:
                    raw[k], comp[j] = raw[k] + 1, comp[j] + 1
                    sj, sk = self.complement(scores[j], w), scores[k]
                    bit = self.op([sj, sk], 0, 1, not_beats, name=f"amax_le_{k}_{j}")
                kept_by[j, k] = (bit, flip)
                if not split:
                    continue
                # the top bits from the operands this pair reads (a complement's is ~t)
                (tj, cj), (tk, ck) = top(sj), top(sk)
                inv_j, inv_k = not flip, flip
                if tj is None and tk is None:           # both constant
                    t_j, t_k = cj ^ inv_j, ck ^ inv_k
                    if t_j != t_k:
                        kept_by[j, k] = (_const_node(int(t_j > t_k)), False)
                    continue

                def kept(a, b, c, inv_j=inv_j, inv_k=inv_k, flip=flip):
                    a, b = (~a if inv_j else a), (~b if inv_k else b)
                    return a & ~b | ~(a ^ b) & (~c if flip else c)
                ops = [tj or _const_node(cj), tk or _const_node(ck), bit]
                kept_by[j, k] = (self.op(ops, 0, 1, kept, name=f"amax_kept_{k}_{j}"), False)
        wins = []
        for k in range(n):
            # k wins when no j < k keeps it off (ties go to j) and k keeps off every j > k:
            # the AND of these bits, each complemented where it says the opposite
            held_off = [(b, not f) for b, f in (kept_by[j, k] for j in range(k))]
            holds_off = [(b, f) for b, f in (kept_by[k, j] for j in range(k + 1, n))]
            wins.append(self._win(holds_off + held_off, f"amax_win{k}"))
        width = (n - 1).bit_length()
        index = [self.reduce([wins[k] for k in range(n) if k >> b & 1], _any)
                 for b in range(width)]
        return self.join(index, 0, n - 1, lambda *v: Cat(*v))

    def _win(self, bits, name):
        """AND of the ``(bit, inverted)`` pairs' bits, each complemented where ``inverted``:
        the first level takes up to four of them per LUT (inverting inside it), later levels
        AND."""
        ops = sorted(bits, key=lambda t: -1 if t[0].level is None else t[0].level)
        groups = _groups(ops)
        first = [self.op([b for b, _ in g], 0, 1, lambda *v, inv=tuple(i for _, i in g):
                         Cat(*[~x if i else x for x, i in zip(v, inv)]).all(),
                         name=name if len(groups) == 1 else None)
                 for g in groups]
        return first[0] if len(first) == 1 else self.reduce(first, _all, name=name)

    def tournament(self, scores):
        """Tournament; the left operand wins ties, so the lowest index wins."""
        cands = [(_const_node(k), s) for k, s in enumerate(scores)]
        level = 0
        while len(cands) > 1:
            nxt = []
            for k in range(0, len(cands) - 1, 2):
                (ia, sa), (ib, sb) = cands[k], cands[k + 1]
                tag = f"amax_l{level}_{k // 2}"
                take_b = self.op([sa, sb], 0, 1, lambda a, b: b > a, name=f"{tag}_b")
                lo, hi = min(sa.lo, sb.lo), max(sa.hi, sb.hi)
                st = take_b.stage
                a, b = self.align(sa, st), self.align(sb, st)
                ja, jb = self.align(ia, st), self.align(ib, st)
                if self.m is None:
                    idx = val = None
                else:
                    idx = self.signal(Mux(take_b.value, jb.value, ja.value), ia.lo, ib.hi,
                                      f"{tag}_idx")
                    val = self.signal(Mux(take_b.value, b.value, a.value), lo, hi, f"{tag}_val")
                nxt.append((_Node(idx, ia.lo, ib.hi, take_b.level, st),
                            _Node(val, lo, hi, take_b.level, st)))
            if len(cands) % 2:
                nxt.append(cands[-1])
            cands = nxt
            level += 1
        return cands[0][0]

    def network(self, net, plan, inputs, first_layer=0):
        """Layers ``first_layer..`` on ``inputs``, then the scores and the decision."""
        nodes = inputs
        for l, layer in enumerate(plan.layers[first_layer:], first_layer):
            shared = plan.layer_shared(l)
            nodes = self.shared(l, shared, nodes)
            nodes = [self.neuron(p, nodes, f"h{l}_{j}")
                     for j, p in enumerate(layer)]
        score_plans = plan.scores
        if net.task == "multiclass" and len(score_plans) <= ALL_PAIRS_MAX:
            # one common bias (folded into each score's first leaf table, free) makes every
            # score non-negative, so the argmax comparators are unsigned: a carry chain
            # without the sign fix-up logic of a signed comparison
            bias = max(0, -min(p.lo for p in score_plans))
            score_plans = [replace(p, offset=p.offset + bias, lo=p.lo + bias, hi=p.hi + bias)
                           for p in score_plans]
        # With register cuts, half of the scores read complemented copies of the hidden
        # bits: a hidden bit feeds a LUT per table bit of every score (~40 on digits), a
        # net spread over the whole device; two copies halve that
        split = len(score_plans) // 2 if self.cuts and len(score_plans) >= 4 else None
        scores = [self.score(p, nodes, f"score{k}", invert=split is not None and k >= split)
                  for k, p in enumerate(score_plans)]
        if net.task == "multiclass":
            return self.argmax(scores)
        s = scores[0]
        if net.task == "binary":
            return _Node(None if s.value is None else s.value >= 0, 0, 1, s.level, s.stage)
        return s


def _datapath_levels(net, plan):
    """Deepest logic level of the scheduled datapath (0 if everything is constant)."""
    sched = _Schedule(None)
    inputs = [_Node(None, 0, net.max_input, 0) for _ in range(net.n_features)]
    return sched.network(net, plan, inputs).level or 0


def _folded_bits(plan):
    """Placeholders for the folded circuit's first-layer bits, to schedule its tail: the
    accumulator step that produces them is level 1."""
    return [_const_node(p.constant) if p.constant is not None else _Node(None, 0, 1, 1)
            for p in plan.layers[0]]


def _folded_levels(net, plan):
    """Deepest logic level of the folded circuit's scheduled tail (later layers, scores and
    argmax after the level-1 accumulator step)."""
    sched = _Schedule(None)
    return sched.network(net, plan, _folded_bits(plan), first_layer=1).level or 1


def _cuts(levels, stages):
    """``stages`` cut levels spread evenly over ``1..levels-1``: ``round(i·L/(N+1))``."""
    return [(2 * i * levels + stages + 1) // (2 * (stages + 1)) for i in range(1, stages + 1)]


def _resolve(network, architecture, pipeline_stages, fold, flow_control=None,
             share_terms=None):
    """Validate the parameters: ``(plan, logic levels, pipeline stages, fold, flow_control,
    share_terms)``."""
    if not isinstance(network, IntegerNetwork):
        raise TypeError(f"network must be an IntegerNetwork, not {network!r}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, "
                         f"not {architecture!r}")
    if pipeline_stages is not None and architecture not in ("pipelined", "folded"):
        raise ValueError(f"pipeline_stages applies only to architecture='pipelined' or "
                         f"architecture='folded', not {architecture!r}")
    if fold is not None and architecture != "folded":
        raise ValueError(f"fold applies only to architecture='folded', not {architecture!r}")
    if flow_control is not None and architecture != "pipelined":
        raise ValueError(f"flow_control applies only to architecture='pipelined', not "
                         f"{architecture!r}")
    if flow_control not in (None,) + FLOW_CONTROL:
        raise ValueError(f"flow_control must be one of {', '.join(FLOW_CONTROL)}, not "
                         f"{flow_control!r}")
    if share_terms not in (None, False, True):
        raise ValueError(f"share_terms must be True or False, not {share_terms!r}")
    if share_terms and architecture == "folded":
        raise ValueError("share_terms applies only to the combinational and pipelined "
                         "architectures, not 'folded' (the folded first layer adds its "
                         "features in different cycles: there are no sums of features to "
                         "share)")
    share_terms = bool(share_terms)
    plan = plan_network(network, share_terms=share_terms)
    levels = (_folded_levels(network, plan) if architecture == "folded" else
              _datapath_levels(network, plan))
    stages, n_max = 0, max(levels - 1, 0)
    if architecture in ("pipelined", "folded"):
        default = min(1, n_max) if architecture == "pipelined" else 0
        stages = default if pipeline_stages is None else pipeline_stages
        if stages == "max":
            stages = n_max
        stages = _check_int("pipeline_stages", stages, 0)
        if stages > n_max:
            raise ValueError(f"pipeline_stages must be at most {n_max} for this network "
                             f"({levels} logic levels; 'max' gives {n_max}), not {stages}")
    if architecture == "folded":
        fold = _check_int("fold", 1 if fold is None else fold, 1)
    if architecture == "pipelined":
        flow_control = flow_control or "stall"
        if flow_control == "credit" and stages == 0:
            raise ValueError("flow_control='credit' needs at least one pipeline stage "
                             "(pipeline_stages=0 is the combinational circuit, which has no "
                             "queue)")
    return plan, levels, stages, fold, flow_control, share_terms


def _check_int(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < lo:
        kind = "a non-negative" if lo == 0 else "a positive"
        raise ValueError(f"{name} must be {kind} integer, not {value!r}")
    return int(value)                                   # numpy integers become Python ints


def _payload_register(m, o):
    """The flip-flops behind ``o.payload``, without a reset (``o.valid`` says when they
    hold a result): on iCE40 a reset would take a LUT in front of their clock enable."""
    reg = Signal.like(o.payload, name="o_payload", reset_less=True)
    m.d.comb += o.payload.eq(reg)
    return reg


def _output_queue(m, depth, w_data, w_en, o):
    """A ``depth``-entry queue in front of ``o`` built for short paths and self-cleaning
    state: a shift register whose head is the output register (``o.payload``, ``o.valid`` are
    flip-flops) and whose valid bits are a thermometer code. The whole queue moves one place
    towards the head whenever the head is empty or read (``shift``), and ``w_data`` is
    written into *every* slot that is free afterwards; only the first of them becomes valid,
    the others hold a don't-care copy. So an entry's next value is a choice between two
    values of its own (moved up or held) that depend on flip-flops only, then a choice by
    ``shift``: two LUT levels from any flip-flop, one from ``o.ready``. Any state drains
    within ``depth`` cycles of a ready consumer, which keeps the queue k-inductive.
    ``w_data``/``w_en`` should be registers; the caller guarantees it never overflows."""
    ents = [_payload_register(m, o)] + [Signal.like(o.payload, name=f"oq{k}",
                                                    reset_less=True)
                                        for k in range(1, depth)]
    vals = [o.valid] + [Signal(name=f"oq{k}_valid") for k in range(1, depth)]
    shift = Signal()
    m.d.comb += shift.eq(~o.valid | o.ready)
    for k in range(depth):
        # Behind the head, o.ready alone selects: with the head empty every entry is (the
        # valid bits are a thermometer code), and then moving and holding give the same
        # values. So these entries need no shared shift LUT between o.ready and them, whose
        # output would fan out to every entry (a routing hop in the queue's write path).
        sel = shift if k == 0 else o.ready
        above_v = vals[k + 1] if k + 1 < depth else C(0, 1)
        above = ents[k + 1] if k + 1 < depth else w_data
        below_v = vals[k - 1] if k else C(1, 1)
        # moved: the entry above, else the new one; held: this entry, else the new one (the
        # head is valid whenever it does not move, so it simply holds: its clock enable is
        # shift alone)
        moved = Mux(above_v, above, w_data)
        held = Mux(vals[k], ents[k], w_data) if k else ents[0]
        moved_v = above_v | w_en & (vals[k] if k else C(1, 1))
        held_v = vals[k] | w_en & below_v
        m.d.sync += ents[k].eq(Mux(sel, moved, held))
        # Valid bits have a reset, and an iCE40 flip-flop's synchronous reset acts only
        # with its clock enable, so an inferred enable would cost a LUT in front of it:
        # these are written without a hold term (the head: ~shift implies o.valid).
        m.d.sync += vals[k].eq(Mux(sel, moved_v, held_v) if k else ~shift | moved_v)


class ThresholdNetworkCircuit(wiring.Component):
    """Comparator-and-adder circuit computing :meth:`IntegerNetwork.forward`, bit for bit.

    Parameters
    ----------
    network : IntegerNetwork
    architecture : {"combinational", "pipelined", "folded"}
        See the module docstring. Default ``"combinational"``.
    pipeline_stages : int or "max"
        ``"pipelined"`` only: register cuts inside the datapath (default 1, or 0 for a
        datapath without logic; at most :attr:`max_pipeline_stages`).
    fold : int
        ``"folded"`` only: input features processed per cycle (default 1).
    flow_control : {"stall", "credit"}
        ``"pipelined"`` only: a global stall (default) or free-running stages with a
        credit-counted output queue (no enable fanout; one more cycle of latency).
    share_terms : bool
        Combinational and pipelined: build the pairs of shifted terms that recur across a
        layer's adder trees once, as shared sum nodes (greedy common-subexpression
        elimination, :func:`.plan.share_layer`). Default False. Bit-exact either way.

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(input_bits), n_features)))
        Input vector. Feature ``k`` occupies payload bits ``[k*b, (k+1)*b)`` (feature 0 in the
        LSBs), unsigned. A transfer happens on a clock edge with ``valid & ready``.
    o : Out(stream.Signature(output_shape(network)))
        Prediction, :attr:`latency` cycle(s) after the input transfer: class index
        (multiclass, lowest index on ties), 1 for the positive class (binary, score >= 0), or
        the signed integer score (regression). Honours back-pressure: the payload holds while
        ``o.valid & ~o.ready``. Combinational and pipelined: ``i.ready = ~o.valid | o.ready``,
        one vector per cycle while ``o.ready`` is high. Folded: one vector every
        :attr:`initiation_interval` cycles.

    Raises
    ------
    ValueError
        An unknown architecture, or a parameter that is invalid or does not belong to it.
    """

    def __new__(cls, network, *, architecture="combinational", pipeline_stages=None,
                fold=None, flow_control=None, share_terms=None, src_loc_at=0):
        # Validate before the object exists, so a rejected parameter leaves no unused
        # elaboratable behind (Amaranth would warn about it).
        resolved = _resolve(network, architecture, pipeline_stages, fold, flow_control,
                            share_terms)
        self = super().__new__(cls, src_loc_at=src_loc_at + 1)
        self._resolved = resolved
        return self

    def __init__(self, network, *, architecture="combinational", pipeline_stages=None,
                 fold=None, flow_control=None, share_terms=None, src_loc_at=0):
        self._net = network
        self._arch = architecture
        (self._plan, self._levels, self._stages, self._fold, self._bp,
         self._share) = self._resolved
        self._in_layout = data.ArrayLayout(unsigned(network.input_bits), network.n_features)
        super().__init__({
            "i": In(stream.Signature(self._in_layout)),
            "o": Out(stream.Signature(output_shape(network, self._plan))),
        }, src_loc_at=src_loc_at)

    @property
    def network(self):
        return self._net

    @property
    def plan(self):
        return self._plan

    @property
    def architecture(self):
        return self._arch

    @property
    def params(self):
        """The architecture parameters, as accepted by :func:`build_circuit`
        (``share_terms`` only when on)."""
        share = {"share_terms": True} if self._share else {}
        if self._arch == "pipelined":
            return {"pipeline_stages": self._stages, "flow_control": self._bp, **share}
        if self._arch == "folded":
            tail = {"pipeline_stages": self._stages} if self._stages else {}
            return {"fold": self._fold, **tail}
        return share

    @property
    def share_terms(self):
        """Whether the adder trees share common pairs of terms (:attr:`plan` ``.shared``)."""
        return self._share

    @property
    def logic_levels(self):
        """Depth of the scheduled datapath in logic levels (see the module docstring)."""
        return self._levels

    @property
    def max_pipeline_stages(self):
        return max(self._levels - 1, 0)

    @property
    def pipeline_stages(self):
        return self._stages

    @property
    def flow_control(self):
        """``"stall"`` or ``"credit"`` (pipelined; ``None`` otherwise)."""
        return self._bp

    @property
    def cut_levels(self):
        """Levels after which the pipelined architecture registers (empty otherwise)."""
        return _cuts(self._levels, self._stages) if self._stages else []

    @property
    def fold(self):
        return self._fold

    @property
    def latches_input(self):
        """True when the circuit copies its input vector on transfer and reads the copy over
        several cycles (folded), so a producer need not hold a copy of its own."""
        return self._arch == "folded"

    @property
    def fold_cycles(self):
        """Folded: cycles spent on the first layer, ``ceil(n_features / fold)``."""
        return None if self._fold is None else -(-self._net.n_features // self._fold)

    @property
    def latency(self):
        """Clock edges from the input transfer to the output becoming valid (an input
        transferred on edge ``e`` is valid right after edge ``e + latency - 1``)."""
        if self._arch == "folded":
            return self.fold_cycles + 1 + self._stages
        if self._stages and self._bp == "credit":   # + the result register before the queue
            return LATENCY + self._stages + 1
        return LATENCY + self._stages

    @property
    def initiation_interval(self):
        """Cycles between accepted vectors when the consumer is always ready."""
        return self.fold_cycles if self._arch == "folded" else 1

    @property
    def register_bits(self):
        """Flip-flops the architecture uses (output register and valid included), counted
        from the same schedule and ranges the hardware is built from."""
        net, plan = self._net, self._plan
        out = Shape.cast(output_shape(net, plan)).width + 1
        if self._arch == "folded":
            acc = sum(shape_for(p.sum_lo - p.threshold, p.sum_hi - p.threshold).width
                      for p in plan.layers[0]
                      if p.constant is None)
            tail = 0
            if self._stages:
                sched = _Schedule(None, self.cut_levels)
                sched.align(sched.network(net, plan, _folded_bits(plan), first_layer=1),
                            self._stages)
                tail = sched.n_reg_bits + self._stages
            return (out + net.n_features * net.input_bits + acc + 1
                    + shape_for(0, self.fold_cycles - 1).width + tail)
        if not self._stages:
            return out
        sched = _Schedule(None, self.cut_levels)
        inputs = [_Node(None, 0, net.max_input, 0) for _ in range(net.n_features)]
        sched.align(sched.network(net, plan, inputs), self._stages)
        total = out + sched.n_reg_bits + self._stages
        if self._bp == "credit":            # result register, the queue's entries and valid
            depth = self.latency + 1        # bits past the head, the credit counter
            total += out + (depth - 1) * out + depth
        return total

    def resource_hint(self):
        """What the architecture knows exactly about its cost: ``{"ffs": register_bits}``."""
        return {"ffs": self.register_bits}

    def datapath(self, m, x):
        """Build the combinational network on the input view ``x``; return the result value."""
        net, plan = self._net, self._plan
        terms = [Term(x[k], 0, net.max_input) for k in range(net.n_features)]
        for l, layer in enumerate(plan.layers):
            terms, levels = _shared(m, l, plan.layer_shared(l), terms)
            terms = [_neuron(m, f"h{l}_{j}", p, terms, levels) for j, p in enumerate(layer)]
        scores = [_score(m, f"score{k}", p, terms) for k, p in enumerate(plan.scores)]
        if net.task == "multiclass":
            return _argmax(m, scores).value
        if net.task == "binary":
            return scores[0].value >= 0
        return scores[0].value

    def elaborate(self, platform):
        if self._arch == "folded":
            return self._elaborate_folded()
        if self._stages:
            return self._elaborate_pipelined()
        m = Module()
        result = self.datapath(m, self.i.payload)
        out = _payload_register(m, self.o)
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [out.eq(result), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m

    def _elaborate_pipelined(self):
        m = Module()
        net = self._net
        sched = _Schedule(m, self.cut_levels)
        x = self.i.payload
        inputs = [_Node(x[k], 0, net.max_input, 0) for k in range(net.n_features)]
        result = sched.align(sched.network(net, self._plan, inputs), self._stages)
        assert (result.level or 0) <= self._levels
        if self._bp == "stall":
            out = _payload_register(m, self.o)
            en = Signal()                                 # global stall: all stages advance
            m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
            valid = [self.i.valid] + [Signal(name=f"s{k}_valid")
                                      for k in range(1, self._stages + 1)]
            with m.If(en):
                m.d.sync += sched.regs
                m.d.sync += [v.eq(u) for u, v in zip(valid, valid[1:])]
                m.d.sync += [out.eq(result.value), self.o.valid.eq(valid[-1])]
            return m
        # Free-running stages (no clock enable to fan out to every register) into an output
        # queue with a slot reserved for every vector in flight: a vector is accepted only
        # while fewer than ``depth`` are in the pipeline or the queue, so the queue never
        # overflows, and ``i.ready`` comes from a register, not from ``o.ready``.
        depth = self.latency + 1                 # enough credit for one vector per cycle
        # the credit count as a thermometer code (inside[k]: more than k vectors inside), so
        # that i.ready is a flip-flop and every count bit is a function of its neighbours
        # and the two handshakes (no adder, no comparison with depth)
        inside = Signal(depth, name="inside")
        take = Signal()
        give = Signal()
        m.d.comb += [self.i.ready.eq(~inside[-1]),
                     take.eq(self.i.valid & self.i.ready),
                     give.eq(self.o.valid & self.o.ready)]
        # Bit k moves up on take alone, down on give alone, else holds. First the choice by
        # take (i.valid and inside[-1], with two count bits: one LUT4), then by give
        # (o.valid, o.ready and the two choices: one LUT4), so no path is more than two
        # LUTs deep; as AND/OR terms, not a hold multiplexer, so no clock enable is
        # inferred (see _output_queue).
        t, g = take.replicate(depth), give.replicate(depth)
        shifted_in, shifted_out = Cat(C(1, 1), inside[:-1]), Cat(inside[1:], C(0, 1))
        kept_if_given = Signal(depth)                  # next count if a vector leaves
        kept_if_not = Signal(depth)                    # ... if none does
        m.d.comb += [kept_if_given.eq(t & inside | ~t & shifted_out),
                     kept_if_not.eq(t & shifted_in | ~t & inside)]
        m.d.sync += inside.eq(g & kept_if_given | ~g & kept_if_not)
        valid = [take] + [Signal(name=f"s{k}_valid") for k in range(1, self._stages + 1)]
        m.d.sync += sched.regs
        m.d.sync += [v.eq(u) for u, v in zip(valid, valid[1:])]
        # the result register: the queue's write data and strobe come straight from flip-flops
        res = Signal.like(self.o.payload, name="result", reset_less=True)
        res_valid = Signal(name="result_valid")
        m.d.sync += [res.eq(result.value), res_valid.eq(valid[-1])]
        _output_queue(m, depth, res, res_valid, self.o)
        return m

    def _elaborate_folded(self):
        m = Module()
        net, plan, K, n_cyc = self._net, self._plan, self._fold, self.fold_cycles
        d, b = net.n_features, net.input_bits
        xr = Signal(self._in_layout)                      # the latched input vector
        t = Signal(shape_for(0, n_cyc - 1))               # which K features this cycle reads
        busy = Signal()
        last = Signal()
        out_free = Signal()
        m.d.comb += [last.eq(busy & (t == n_cyc - 1)),
                     out_free.eq(~self.o.valid | self.o.ready),
                     self.i.ready.eq(~busy | (last & out_free))]
        # slot s reads feature c*K + s in cycle c
        slots = []
        for s in range(min(K, d)):
            feats = [xr[c * K + s] if c * K + s < d else C(0, b) for c in range(n_cyc)]
            if n_cyc == 1:
                slots.append(feats[0])
            else:                                         # one multiplexer per slot, shared
                x_s = Signal(b, name=f"fold_x{s}")
                m.d.comb += x_s.eq(Array(feats)[t])
                slots.append(x_s)
        onehot = []
        for c in range(n_cyc):
            sig = Signal(name=f"fold_t{c}")
            m.d.comb += sig.eq(t == c)
            onehot.append(sig)
        gates = {}

        def gate(chunks):
            if len(chunks) == n_cyc:
                return None
            if chunks not in gates:
                g = Signal(name=f"fold_gate{len(gates)}")
                m.d.comb += g.eq(Cat(*[onehot[c] for c in sorted(chunks)]).any())
                gates[chunks] = g
            return gates[chunks]

        def chunk_tree(terms):
            by_slot = {}
            for i, k in terms:
                by_slot.setdefault((i % K, k), set()).add(i // K)
            out = []
            for (s, k), chunks in sorted(by_slot.items()):
                g, top = gate(frozenset(chunks)), net.max_input << k
                v = slots[s] << k
                out.append(Term(v if g is None else Mux(g, v, 0), 0, top))
            return adder_tree(out)

        step, bits = [], []
        for j, p in enumerate(plan.layers[0]):
            if p.constant is not None:
                bits.append(_const_node(p.constant))
                continue
            # the accumulator starts at -T, so the neuron fires iff the final sum is
            # non-negative: its sign bit, no comparator
            lo, hi = p.sum_lo - p.threshold, p.sum_hi - p.threshold
            acc = Signal(shape_for(lo, hi), name=f"acc0_{j}", init=-p.threshold)
            pos, neg = chunk_tree(p.pos_terms), chunk_tree(p.neg_terms)
            nxt = fit_range(acc + pos.value - neg.value, lo, hi)
            fire = Signal(name=f"h0_{j}")
            m.d.comb += fire.eq(nxt >= 0)
            step.append((acc, nxt, -p.threshold))
            bits.append(_Node(fire, 0, 1, 1))           # level 1: the accumulator step
        sched = _Schedule(m, self.cut_levels)
        result = sched.align(sched.network(net, plan, bits, first_layer=1), self._stages)
        out = _payload_register(m, self.o)

        with m.If(busy & ~last):
            m.d.sync += [acc.eq(nxt) for acc, nxt, _ in step]
            m.d.sync += t.eq(t + 1)
        # the tail (later layers, scores, argmax) is a stall pipeline of pipeline_stages cuts
        # that the last cycle of a vector enters; out_free is its enable
        valid = [last] + [Signal(name=f"s{k}_valid") for k in range(1, self._stages + 1)]
        with m.If(out_free):
            m.d.sync += sched.regs
            m.d.sync += [v.eq(u) for u, v in zip(valid, valid[1:])]
            m.d.sync += [out.eq(result.value), self.o.valid.eq(valid[-1])]
        with m.If(last & out_free):
            m.d.sync += busy.eq(0)
        with m.If(self.i.valid & self.i.ready):           # after the above: accept wins
            m.d.sync += [xr.eq(self.i.payload), busy.eq(1), t.eq(0)]
            m.d.sync += [acc.eq(start) for acc, _, start in step]
        return m


def build_circuit(network, *, architecture="combinational", **params):
    """The circuit for ``network`` in the given architecture (see the module docstring).

    ``params``: ``pipeline_stages`` and ``flow_control`` (pipelined) or ``fold`` (folded);
    ``share_terms`` (combinational and pipelined).
    The result has
    ``.network``, ``.plan``, ``.latency``, ``.initiation_interval`` and ``.architecture``.
    Raises ValueError with a one-line message for an unknown architecture or parameter.
    """
    unknown = sorted(set(params) - {"pipeline_stages", "fold", "flow_control", "share_terms"})
    if unknown:
        raise ValueError(f"unknown circuit parameter {unknown[0]!r} (known: pipeline_stages, "
                         f"fold, flow_control, share_terms)")
    return ThresholdNetworkCircuit(network, architecture=architecture, src_loc_at=1, **params)
