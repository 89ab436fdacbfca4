"""Mutants for checking the checkers: a circuit that is wrong in one small way must fail.

Network mutants (one weight flipped, one threshold moved by one) are built as new
:class:`IntegerNetwork` objects; the circuit is generated from the mutant while the expected
outputs come from the original. The comparison mutant rewrites one neuron's ``>=`` into ``>``
in the emitted Verilog text. Each helper picks a mutation that the reference model can observe
on the given inputs, so a checker that passes a mutant is broken.
"""
import re
from dataclasses import replace

import numpy as np

from thresh2hw.model import ThresholdLayer

__all__ = ["with_weight", "with_threshold", "observable_weight_flip",
           "observable_threshold_shift", "observable_ge_to_gt", "verilog_ge_to_gt",
           "verilog_misalign_valid"]


def with_weight(net, layer, j, k, value):
    W = net.hidden[layer].weights.copy()
    W[j, k] = value
    hidden = list(net.hidden)
    hidden[layer] = ThresholdLayer(W, net.hidden[layer].thresholds.copy())
    return replace(net, hidden=tuple(hidden))


def with_threshold(net, layer, j, value):
    T = net.hidden[layer].thresholds.copy()
    T[j] = value
    hidden = list(net.hidden)
    hidden[layer] = ThresholdLayer(net.hidden[layer].weights.copy(), T)
    return replace(net, hidden=tuple(hidden))


def _differs(net, mutant, Q):
    return bool(np.any(net.forward(Q) != mutant.forward(Q)))


def observable_weight_flip(net, Q):
    """(mutant, description): one first-layer weight negated (or 0 -> 1), visible on ``Q``."""
    W = net.hidden[0].weights
    for j in range(W.shape[0]):
        for k in range(W.shape[1]):
            w = int(W[j, k])
            m = with_weight(net, 0, j, k, -w if w else 1)
            if _differs(net, m, Q):
                return m, f"weight W0[{j},{k}] {w} -> {-w if w else 1}"
    raise ValueError("no observable weight flip on these inputs")


def observable_threshold_shift(net, Q):
    """(mutant, description): one first-layer threshold moved by +1 or -1, visible on ``Q``."""
    T = net.hidden[0].thresholds
    for j in range(len(T)):
        for d in (1, -1):
            m = with_threshold(net, 0, j, int(T[j]) + d)
            if _differs(net, m, Q):
                return m, f"threshold T0[{j}] {int(T[j])} -> {int(T[j]) + d}"
    raise ValueError("no observable threshold shift on these inputs")


def verilog_ge_to_gt(verilog, neuron):
    """Rewrite the comparator ``assign NEURON = a >= b;`` into ``a > b``."""
    pat = re.compile(r"(assign\s+\\?" + re.escape(neuron) + r"\s*=\s*[^;]*?)>=")
    new, n = pat.subn(r"\1>", verilog, count=1)
    if n != 1:
        raise ValueError(f"no '>=' comparator driving {neuron} in the Verilog")
    return new


def observable_ge_to_gt(net, verilog, Q):
    """(mutated Verilog, equivalent mutant network, description) for a first-layer neuron
    whose ``>=`` -> ``>`` change is visible on ``Q`` (``s > T`` is ``s >= T + 1``)."""
    T = net.hidden[0].thresholds
    for j in range(len(T)):
        m = with_threshold(net, 0, j, int(T[j]) + 1)
        if not _differs(net, m, Q):
            continue
        try:
            return verilog_ge_to_gt(verilog, f"h0_{j}"), m, f"h0_{j}: '>=' -> '>'"
        except ValueError:
            continue                      # constant neuron: folded away, no comparator
    raise ValueError("no observable comparator mutation on these inputs")


def verilog_misalign_valid(verilog):
    """Pipeline register alignment mutant of a pipelined circuit's Verilog: the valid bit that
    leaves the last stage (``o__valid`` with a global stall; ``result_valid``, the output
    queue's write strobe, with credit back-pressure) is fed from the stage before the last,
    so it runs one cycle ahead of its payload."""
    for reg, first in (("result_valid", "take"), ("o__valid", "i__valid")):
        m = re.search(reg + r"\s*<=\s*(\\\$\d+)\s*;", verilog)
        if m is not None:
            break
    else:
        raise ValueError("no registered o__valid or result_valid in the Verilog")
    temp = re.escape(m.group(1))
    pat = re.compile(r"(" + temp + r"\s*=\s*)s(\d+)_valid\s*;")
    found = pat.search(verilog)
    if found is None:
        raise ValueError(f"{reg} is not fed from a pipeline stage valid bit")
    k = int(found.group(2))
    src = first if k == 1 else f"s{k - 1}_valid"
    return verilog[:found.start()] + found.group(1) + src + ";" + verilog[found.end():]
