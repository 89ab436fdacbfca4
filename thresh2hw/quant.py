"""Quantization of a real threshold network into the integer reference model.

First layer: the real neuron fires iff ``g . q + c >= 0`` on the integer input codes ``q``
(``g``, ``c`` fold the input quantizer and the standardization into the weights). Any positive
rescaling ``alpha`` leaves it unchanged, so we pick ``alpha`` (from a grid, by fewest hidden-bit
changes on the training data), round ``W = round(alpha g)`` to signed ``weight_bits`` integers and
set ``T = ceil(-alpha c)``. ``T`` is computed in exact rational arithmetic: because ``W . q`` is an
integer, ``W . q >= -alpha c`` holds exactly when ``W . q >= ceil(-alpha c)``, and float rounding
right at a level boundary would move the threshold by one.

Networks trained on the integer codes themselves (``fnet.input_quantizer`` set, e.g. by the
lattice sampler) keep their quantizer, and a first-layer neuron whose weights are exact rationals
with a small integer representation is taken as it is: ``alpha`` is the smallest factor making
``alpha g`` integer (see :func:`exact_integer_scale`), so ``W`` is the generator itself and the
integer neuron equals the real one on *every* input, not just on the training data.
"""
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .model import InputQuantizer, IntegerNetwork, OutputLayer, ThresholdLayer

__all__ = ["QuantReport", "quantize_network", "quantize_neuron", "round_half_away",
           "ceil_fraction"]


@dataclass(frozen=True)
class QuantReport:
    """How far the integer network is from the real one on the training data.

    ``changed_points``: training points for which any hidden bit differs (any layer);
    ``changed_bits``: per hidden layer, total flipped bits; ``prediction_agreement``: fraction of
    training points with the same prediction.
    """
    changed_points: int
    changed_bits: list
    n_points: int
    prediction_agreement: float


def round_half_away(x: Fraction) -> int:
    """Round a rational to the nearest integer, halves away from zero (exact)."""
    n = abs(x)
    r = int(n)                       # floor for non-negative
    if n - r >= Fraction(1, 2):
        r += 1
    return r if x >= 0 else -r


def ceil_fraction(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def quantize_neuron(g, c, alpha):
    """Exact integer neuron for ``g . q + c >= 0`` scaled by ``alpha`` (all Fractions)."""
    W = [round_half_away(alpha * gi) for gi in g]
    return W, ceil_fraction(-alpha * c)


def exact_integer_scale(g, wmax):
    """Smallest ``alpha > 0`` making every ``alpha * g_i`` an integer (Fractions), or ``None``
    when no weight is nonzero or the resulting integers exceed ``wmax`` in magnitude."""
    nz = [x for x in g if x != 0]
    if not nz:
        return None
    den = 1
    for x in nz:
        den = den * x.denominator // math.gcd(den, x.denominator)
    nums = [abs(x.numerator * (den // x.denominator)) for x in nz]
    if max(nums) > wmax * math.gcd(*nums):      # cheap bound before building the scale
        return None
    return Fraction(den, math.gcd(*nums))


def _candidate_scales(gmax_abs, wmax, n_grid):
    # Scales putting the largest |weight| at each integer 1..wmax (so a neuron whose weights
    # are already integer multiples is reproduced exactly) and on a grid between wmax/2 and
    # wmax. Floats only pick candidates; each becomes an exact Fraction.
    grid = [Fraction(a) for a in range(wmax, 0, -1)]
    grid += [Fraction(float(a)) for a in np.linspace(wmax + 0.499, wmax / 2, n_grid)]
    return [a / gmax_abs for a in grid]


def _quantize_layer(G, C, Q, H_ref, weight_bits, n_grid, exact=False):
    """G: per-neuron lists of Fraction weights; C: Fraction biases; Q: integer inputs.

    Candidate scales are scored in float64 (vectorised over candidates); only the chosen one
    is recomputed exactly, so the stored ``W`` and ``T`` are exact for that scale. ``exact``:
    first try :func:`exact_integer_scale` and keep it when it changes no training bit.
    """
    wmax = (1 << (weight_bits - 1)) - 1
    Ws, Ts = [], []
    Qf = Q.astype(np.float64)
    for j, (g, c) in enumerate(zip(G, C)):
        gmax = max(abs(x) for x in g)
        if gmax == 0:                                   # constant neuron: fires iff c >= 0
            Ws.append([0] * len(g))
            Ts.append(0 if c >= 0 else 1)
            continue
        if exact:
            alpha = exact_integer_scale(g, wmax)
            if alpha is not None:
                W, T = quantize_neuron(g, c, alpha)
                h = Q @ np.asarray(W, dtype=np.int64) >= T
                if np.array_equal(h, H_ref[:, j]):
                    Ws.append(W)
                    Ts.append(T)
                    continue
        alphas = _candidate_scales(gmax, wmax, n_grid)
        a = np.array([float(x) for x in alphas])
        gf = np.array([float(x) for x in g])
        Wc = np.rint(a[:, None] * gf[None, :])          # (k, d) candidate weights
        Tc = np.ceil(-a * float(c))
        ok = np.abs(Wc).max(axis=1) <= wmax
        flips = ((Qf @ Wc.T >= Tc) != H_ref[:, j:j + 1]).sum(axis=0)
        flips = np.where(ok, flips, np.iinfo(np.int64).max)
        best = int(np.argmin(flips))                    # first minimum: larger scales first
        W, T = quantize_neuron(g, c, alphas[best])
        if max(abs(w) for w in W) > wmax:               # float/exact rounding disagreed
            W, T = quantize_neuron(g, c, alphas[best] * Fraction(wmax) / max(abs(w) for w in W))
        Ws.append(W)
        Ts.append(T)
    return ThresholdLayer(np.asarray(Ws, dtype=np.int64).reshape(len(G), -1),
                          np.asarray(Ts, dtype=np.int64))


def quantize_network(fnet, X_train, *, input_bits=8, weight_bits=4, output_bits=8,
                     classes=(), scale_grid=24, meta=None):
    """Quantize a :class:`~thresh2hw.floatnet.FloatThresholdNetwork` into an IntegerNetwork.

    Returns ``(IntegerNetwork, QuantReport)``. ``X_train`` fits the input quantizer (real
    features) and scores candidate scales.
    """
    for name, v, lo in (("input_bits", input_bits, 1), ("weight_bits", weight_bits, 2),
                        ("output_bits", output_bits, 2)):
        if not isinstance(v, (int, np.integer)) or not lo <= v <= 24:
            raise ValueError(f"{name} must be an integer in {lo}..24, not {v!r}")
    X_train = np.asarray(X_train, dtype=np.float64)
    codes_in = getattr(fnet, "input_quantizer", None) is not None
    if codes_in:                                # trained on the integer codes: keep them
        iq = fnet.input_quantizer
        if iq.bits != int(input_bits):
            raise ValueError(f"the network was trained on {iq.bits}-bit input codes; quantize "
                             f"it with input_bits={iq.bits}, not {input_bits}")
    else:
        iq = InputQuantizer.fit(X_train, bits=int(input_bits))
    Q = iq.transform(X_train)
    H_float = fnet.hidden_bits(X_train)
    layers = []
    x_int = Q
    for l, U in enumerate(fnet.layers):
        Uf = [[Fraction(float(v)) for v in col] for col in U.T]
        if l == 0 and codes_in:
            # a(q) = sum_i u_i (q_i - mean_i) / scale_i + u_bias, exactly
            means = [Fraction(float(v)) for v in fnet.mean]
            scales = [Fraction(float(v)) for v in fnet.scale]
            G = [[u[i] / scales[i] for i in range(len(scales))] for u in Uf]
            C = [u[-1] - sum(u[i] * means[i] / scales[i] for i in range(len(scales)))
                 for u in Uf]
        elif l == 0:
            # a(q) = sum_i u_i (low_i + step_i q_i - mean_i) / scale_i + u_bias
            lows = [Fraction(float(v)) for v in iq.low]
            steps = [Fraction(float(v)) for v in iq.step]
            means = [Fraction(float(v)) for v in fnet.mean]
            scales = [Fraction(float(v)) for v in fnet.scale]
            # A feature constant on the training data carries no information (its code is
            # always 0 there): its weight goes to zero instead of eating the weight range.
            live = (np.ptp(X_train, axis=0) > 0).tolist()
            G = [[u[i] * steps[i] / scales[i] if live[i] else Fraction(0)
                  for i in range(len(steps))] for u in Uf]
            C = [u[-1] + sum(u[i] * (lows[i] - means[i]) / scales[i]
                             for i in range(len(steps))) for u in Uf]
        else:                                           # inputs are the previous bits
            G = [u[:-1] for u in Uf]
            C = [u[-1] for u in Uf]
        layer = _quantize_layer(G, C, x_int, H_float[l], int(weight_bits), scale_grid,
                                exact=codes_in and l == 0)
        layers.append(layer)
        x_int = layer.forward(x_int)

    # Output layer: scores = h @ (s * w2), scaled to signed output_bits integers.
    Cout = fnet.amplitudes[:, None] * fnet.out_weights
    omax = (1 << (int(output_bits) - 1)) - 1
    cmax = float(np.abs(Cout).max())
    gamma = omax / cmax if cmax > 0 else 1.0
    V = np.rint(Cout.T * gamma).astype(np.int64)
    net = IntegerNetwork(task=fnet.task, input_bits=int(input_bits), hidden=tuple(layers),
                         output=OutputLayer(V, np.zeros(V.shape[0], dtype=np.int64)),
                         classes=list(classes), input_quantizer=iq, score_scale=1.0 / gamma,
                         meta=dict(meta or {}))

    H_int = net.hidden_bits(Q)
    changed = np.zeros(len(Q), dtype=bool)
    bits = []
    for hf, hi in zip(H_float, H_int):
        diff = hf != hi.astype(bool)
        changed |= diff.any(axis=1)
        bits.append(int(diff.sum()))
    if fnet.task == "regression":
        agree = float(np.mean(np.isclose(net.forward(Q) * net.score_scale,
                                         fnet.predict_index(X_train), rtol=0.05, atol=0.05)))
    else:
        agree = float(np.mean(net.forward(Q) == fnet.predict_index(X_train)))
    return net, QuantReport(changed_points=int(changed.sum()), changed_bits=bits,
                            n_points=len(Q), prediction_agreement=agree)
