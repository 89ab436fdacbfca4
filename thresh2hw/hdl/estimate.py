"""Resource estimate from the circuit plan, before any synthesis (pure Python, no Amaranth).

Model (for 4-input-LUT fabrics with carry chains: iCE40 and ECP5): an adder or comparator costs
one LUT (with its carry cell) per result bit that both operands can reach — low bits where one
operand is a shifted input with zeros are wires, not logic; a 2:1 multiplexer costs one LUT per
bit. Flip-flops: the registered output and every register the architecture adds (the
circuit's own ``resource_hint()`` when it has one). Measured against yosys ``synth_ice40`` on
small networks (tests/test_build.py) the LUT estimate lies within a factor 2 of the real count;
constant-side comparators and the first level of the score trees are charged by the
calibration noted where they are computed.
"""
from dataclasses import dataclass, field

from ..ranges import bits_for_range
from .plan import ALL_PAIRS_MAX, score_groups

__all__ = ["LayerEstimate", "ResourceEstimate", "estimate_plan", "uart_overhead"]


@dataclass
class LayerEstimate:
    name: str
    neurons: int
    constant_neurons: int
    adder_terms: int
    luts: int
    max_width: int
    shared_nodes: int = 0

    def to_dict(self):
        return dict(self.__dict__)


@dataclass
class ResourceEstimate:
    luts: int
    ffs: int
    carry: int
    layers: list = field(default_factory=list)
    method: str = "plan"
    notes: list = field(default_factory=list)

    def to_dict(self):
        return {"luts": self.luts, "ffs": self.ffs, "carry": self.carry, "method": self.method,
                "notes": list(self.notes), "layers": [l.to_dict() for l in self.layers]}


class _Node:
    __slots__ = ("lo", "hi", "shift")

    def __init__(self, lo, hi, shift):
        self.lo, self.hi, self.shift = lo, hi, shift


def _width(lo, hi):
    return bits_for_range(lo, hi)


def _tree(nodes, select_leaves=False):
    """Cost (LUT bits) of the balanced adder tree of :func:`thresh2hw.hdl.arith.adder_tree`.

    ``select_leaves``: the leaves are constants selected by one bit each (output scores); a
    first-level sum of two of them depends on two bits only and is mostly absorbed into the
    LUTs of the next level, so it is charged half its width."""
    nodes = list(nodes)
    cost = 0
    if not nodes:
        return _Node(0, 0, 0), 0
    first = True
    while len(nodes) > 1:
        nxt = []
        for a, b in zip(nodes[0::2], nodes[1::2]):
            lo, hi = a.lo + b.lo, a.hi + b.hi
            c = max(0, _width(lo, hi) - max(a.shift, b.shift))
            cost += (c + 1) // 2 if select_leaves and first else c
            nxt.append(_Node(lo, hi, min(a.shift, b.shift)))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes = nxt
        first = False
    return nodes[0], cost


def _shared_cost(shared, in_ranges):
    """``(LUT bits, ranges extended by the nodes)`` of a layer's shared sum nodes: one adder
    each, ``x_a + (x_b << d)`` (its low ``d`` bits are wires)."""
    ranges = list(in_ranges)
    cost = 0
    for sn in shared:
        (alo, ahi), (blo, bhi) = ranges[sn.a], ranges[sn.b]
        _, c = _tree([_Node(alo, ahi, 0), _Node(blo << sn.shift, bhi << sn.shift, sn.shift)])
        cost += c
        ranges.append((sn.lo, sn.hi))
    return cost, ranges


def _neuron_cost(p, in_ranges):
    def leaf(i, k):
        lo, hi = in_ranges[i]
        return _Node(lo << k, hi << k, k)
    pos, c1 = _tree(leaf(i, k) for i, k in p.pos_terms)
    neg, c2 = _tree(leaf(i, k) for i, k in p.neg_terms)
    t = abs(p.threshold)
    w = max(_width(pos.lo, pos.hi + (t if p.threshold < 0 else 0)),
            _width(neg.lo, neg.hi + (t if p.threshold >= 0 else 0)))
    # the threshold is added to the neg tree (T >= 0) or the pos tree (T < 0): free when that
    # tree is empty (a constant), and so is half of a comparator against a constant
    # (calibrated on synth_ice40 / synth_ecp5 of digits first layers: 2.2 / 4.5 LUT4 per
    # one-term neuron)
    side = p.neg_terms if p.threshold >= 0 else p.pos_terms
    const_add = w if t and side else 0
    constant_side = not p.pos_terms or not (p.neg_terms or t)
    compare = (w + 1) // 2 if constant_side else w
    return c1 + c2 + const_add + compare, w


def _scheduled_neuron_cost(p, in_ranges):
    """``(LUTs, width, complemented inputs)`` of the scheduled neuron: one tree over the
    positive terms and the complements of the negative ones, then a comparator against a
    constant (LUT chunks: charged half its width, as above). A neuron without positive terms
    compares its negative tree directly."""
    def leaf(i, k, comp):
        lo, hi = in_ranges[i]
        if comp:
            full = (1 << _width(lo, hi)) - 1
            lo, hi = full - hi, full - lo
        return _Node(lo << k, hi << k, k)
    if not p.pos_terms:
        top, c = _tree(leaf(i, k, False) for i, k in p.neg_terms)
        return c, _width(top.lo, top.hi), set()
    leaves = ([leaf(i, k, False) for i, k in p.pos_terms]
              + [leaf(i, k, True) for i, k in p.neg_terms])
    top, c = _tree(leaves)
    w = _width(top.lo, top.hi)
    return c + (w + 1) // 2, w, {i for i, _ in p.neg_terms}


def estimate_plan(net, plan, *, scheduled=False):
    """:class:`ResourceEstimate` of the one-vector-per-cycle circuit.

    ``scheduled``: the forms of the pipelined and folded circuits (score leaf tables of four
    hidden bits; an argmax comparing all pairs, up to ``ALL_PAIRS_MAX`` scores) rather than
    the combinational circuit's AND-select score trees and argmax tournament."""
    ranges = [(0, net.max_input)] * net.n_features
    layers = []
    total = 0
    n_shared = plan.shared_nodes
    for l, layer in enumerate(plan.layers):
        shared = plan.layer_shared(l)
        luts, ranges = _shared_cost(shared, ranges)
        width, terms = 0, 2 * len(shared)
        complemented = set()
        for p in layer:
            if p.constant is not None:
                continue
            if scheduled:
                c, w, comp = _scheduled_neuron_cost(p, ranges)
                complemented |= comp
            else:
                c, w = _neuron_cost(p, ranges)
            luts += c
            width = max(width, w)
            terms += len(p.pos_terms) + len(p.neg_terms)
        # one inverter LUT per bit of every input some neuron subtracts, shared by all
        luts += sum(_width(*ranges[i]) for i in complemented)
        layers.append(LayerEstimate(f"hidden{l}", len(layer),
                                    sum(p.constant is not None for p in layer), terms, luts,
                                    width, len(shared)))
        total += luts
        ranges = [(0, 1) if p.constant is None else (p.constant, p.constant) for p in layer]
    luts, width, terms = 0, 0, 0
    for s in plan.scores:
        w = _width(s.lo, s.hi)
        if scheduled:
            # leaf tables of up to four hidden bits (one LUT per result bit), one signed tree
            leaves, tables = [], 0
            for bits, _, lo, hi in score_groups(s):
                tables += _width(lo, hi) if len(bits) > 1 else 0
                leaves.append(_Node(lo, hi, 0))
            _, c = _tree(leaves)
            luts += tables + c
        else:
            pos, c1 = _tree((_Node(0, m, 0) for _, m in s.pos_terms), select_leaves=True)
            neg, c2 = _tree((_Node(0, m, 0) for _, m in s.neg_terms), select_leaves=True)
            luts += c1 + c2 + 2 * w
        width = max(width, w)
        terms += len(s.pos_terms) + len(s.neg_terms)
    layers.append(LayerEstimate("scores", len(plan.scores), 0, terms, luts, width))
    total += luts
    out_w = 1
    if net.task == "multiclass":
        k = len(plan.scores)
        idx_w = max(1, (k - 1).bit_length())
        if scheduled and k <= ALL_PAIRS_MAX:    # all pairs compared (on k registered
            # complements), wins ANDed, index ORed
            am = ((k * (k - 1) // 2 + k) * width + k * (1 + (k - 2) // 3)
                  + idx_w * (1 + k // 8))
        else:                       # tournament: compare + value mux + index mux
            am = (k - 1) * (width + width + idx_w)
        layers.append(LayerEstimate("argmax", k - 1, 0, 0, am, width))
        total += am
        out_w = idx_w
    elif net.task == "regression":
        out_w = width
    notes = [f"{n_shared} shared sum node(s) of common term pairs"] if n_shared else []
    return ResourceEstimate(luts=total, ffs=out_w + 1, carry=total, layers=layers, notes=notes)


def uart_overhead(request_bytes, reply_bytes, divisor):
    """``(luts, ffs)`` of the UART link of :mod:`.board_top` (calibrated on out-of-context
    Yosys runs for iCE40 and ECP5, 20 ms timeout at the board clock).

    The link has no carry chains: its bit timers are LFSR counters of ``timer`` bits with
    about ``2 * timer`` flip-flops and LUTs each; every request byte costs two 8-bit registers
    with flip-flop clock enables (no LUTs), every reply byte a capture and a shift register
    with one LUT per bit."""
    # the two-tap LFSR widths of uart._LFSR_TAPS (not imported: this module has no Amaranth)
    widths = (2, 3, 4, 5, 6, 7, 9, 10, 11, 15, 17, 18, 20, 21, 22, 23)
    timer = min((n for n in widths if 2 ** n - 1 >= divisor), default=widths[-1])
    ffs = 16 * (request_bytes - 1) + 17 * (reply_bytes - 1) + 4 * timer + 112
    luts = (request_bytes - 1) + 15 * (reply_bytes - 1) + 4 * timer + 100
    return luts, ffs
