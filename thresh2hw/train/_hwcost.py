"""Hardware cost of first-layer neurons, for cost-weighted training (pure numpy, no Amaranth).

A neuron ``1[W . q >= T]`` on integer input codes is built from canonical-signed-digit shift-and-
add terms (``thresh2hw.hdl.plan``): its adder terms are the nonzero CSD digits of its integer
weights. :func:`neuron_costs` estimates the integer weights of each generator and returns
``overhead + adder terms`` (``overhead``, default 1, stands for the comparator and the
output-score contribution of a neuron, in units of adder terms), the ``c_j`` of the
cost-weighted Lasso ``beta * sum_j c_j ||W_j||``. A neuron's share of the output adder trees
grows with the number of outputs (about ``n_outputs * output_bits`` LUTs against about
``input_bits + 2`` per first-layer term), so multi-class problems call for a larger overhead.
"""
import numpy as np

from ..ranges import csd_digits

__all__ = ["csd_count", "code_weights", "integer_weights", "neuron_costs"]


def csd_count(w):
    """Number of nonzero canonical-signed-digit digits of the integer ``w``."""
    return len(csd_digits(int(w)))


def code_weights(U, mean, scale, step=None):
    """First-layer weights of each generator column of ``U`` (``(d + 1, P)``, acting on
    ``[(x - mean) / scale, 1]``) as weights on the integer input codes.

    ``step``: per-feature code step of the input quantizer (``x ~ low + step q``); ``None`` when
    the network already acts on codes (``x = q``).
    """
    U = np.asarray(U, dtype=np.float64)
    f = 1.0 / np.asarray(scale, dtype=np.float64)
    if step is not None:
        f = f * np.asarray(step, dtype=np.float64)
    return U[:-1] * f[:, None]


def integer_weights(G, weight_bits):
    """Estimated signed ``weight_bits`` integer weights of the code-space columns ``G``: the
    column itself when it is already integer and in range (lattice generators), else the column
    scaled so its largest magnitude is ``2^(weight_bits-1) - 1`` and rounded."""
    G = np.asarray(G, dtype=np.float64)
    wmax = (1 << (int(weight_bits) - 1)) - 1
    W = np.zeros(G.shape, dtype=np.int64)
    for j in range(G.shape[1]):
        g = G[:, j]
        top = np.abs(g).max() if g.size else 0.0
        if top == 0:
            continue
        if np.array_equal(g, np.round(g)) and top <= wmax:
            W[:, j] = g.astype(np.int64)
        else:
            W[:, j] = np.rint(g * (wmax / top)).astype(np.int64)
    return W


def neuron_costs(U, mean, scale, step=None, *, weight_bits=6, overhead=1.0):
    """``overhead + number of CSD adder terms`` of each generator column's estimated integer
    weights."""
    W = np.abs(integer_weights(code_weights(U, mean, scale, step), weight_bits))
    top = int(W.max()) if W.size else 0
    table = np.array([csd_count(v) for v in range(top + 1)], dtype=np.int64)
    return float(overhead) + table[W].sum(axis=0).astype(np.float64)
