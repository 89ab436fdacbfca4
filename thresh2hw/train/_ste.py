"""Non-convex baselines: threshold networks trained by gradient descent with straight-through
estimators (the four baselines of Ergen et al., ICLR 2023, Figure 2). numpy only.

Forward pass ``h = 1[a > 0]`` (as in the paper's reference baselines); the backward pass
replaces the zero derivative of the step by a surrogate:

=========  ===============================
identity   1                      ("Nonconvex-STE")
relu       1[a >= 0]              ("Nonconvex-ReLU")
lrelu      1 if a >= 0 else 0.01  ("Nonconvex-LReLU")
crelu      1[0 <= a <= 1]         ("Nonconvex-CReLU")
=========  ===============================

Training: full-batch gradient descent (SGD on the whole training set) on
``(1/n) [1/2 ||f(X) - Y||^2 + beta/2 sum ||W||^2]`` (the common weight-decay objective divided by
``n``; same minimisers), learning rate 0.01 halved when the loss has not improved by a relative
``1e-4`` for ``patience`` epochs (reduce-on-plateau x0.5). Layer ``l`` acts on ``[h_{l-1}, 1]``;
the output layer has a bias too.

:func:`to_float_network` turns the result into a :class:`~thresh2hw.floatnet.FloatThresholdNetwork`
(``>=`` thresholds, the output bias as an always-on neuron, amplitudes and output weights
rebalanced by AM-GM, threshold layers rescaled to a negligible norm: every one of these steps
leaves the computed function unchanged except on exact ties ``a == 0``, and gives the smallest
weight-decay penalty of that function's parameterisation). The common objective is
``FloatThresholdNetwork.weight_decay_objective`` on it, the same as for the convex methods.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from ..floatnet import FloatThresholdNetwork, augment
from ._convex import FIRST_LAYER_NORM_EXP, Standardizer

__all__ = ["SURROGATES", "STEResult", "train_ste", "to_float_network"]


def _d_identity(a):
    return np.ones_like(a)


def _d_relu(a):
    return (a >= 0).astype(a.dtype)


def _d_lrelu(a):
    return np.where(a >= 0, 1.0, 0.01)


def _d_crelu(a):
    return ((a >= 0) & (a <= 1)).astype(a.dtype)


SURROGATES = {"identity": _d_identity, "relu": _d_relu, "lrelu": _d_lrelu, "crelu": _d_crelu}


@dataclass
class STEResult:
    """Weights (``Ws[l]`` of shape ``(m_{l-1} + 1, m_l)``, last one the output layer), the
    standardizer, and the training history: one dict per logged epoch with ``epoch``,
    ``seconds``, ``loss`` (the training loss, per sample) and, with a callback, its values."""
    Ws: list
    std: Standardizer
    task: str
    surrogate: str
    history: list = field(default_factory=list)
    seconds: float = 0.0


def _forward(Ws, Z):
    """Pre-activations and bits of every hidden layer, and the outputs."""
    acts, bits = [], []
    h = Z
    for W in Ws[:-1]:
        a = h @ W
        b = (a > 0).astype(np.float64)
        acts.append(a)
        bits.append(b)
        h = augment(b)
    return acts, bits, h @ Ws[-1]


def train_ste(X, Y, task, *, hidden=(1000, 100), surrogate="identity", beta=0.0, lr=0.01,
              epochs=2000, patience=10, factor=0.5, min_lr=1e-6, random_state=0,
              log_every=10, callback=None, time_limit=None):
    """Train a threshold network with a straight-through surrogate (see the module docstring).

    ``Y``: +-1 (binary), one-hot (multiclass) or real targets, as for the convex solvers;
    ``beta``: the weight decay of the common objective (absolute). ``callback(Ws, std)`` may
    return a dict logged with the history every ``log_every`` epochs (evaluation time is
    excluded from ``seconds``). Returns an :class:`STEResult`.
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {tuple(SURROGATES)}, not {surrogate!r}")
    from ._fast import _blas_limit
    with _blas_limit():        # one BLAS thread: much faster for these mid-sized products
        return _train(X, Y, task, hidden, surrogate, beta, lr, epochs, patience, factor,
                      min_lr, random_state, log_every, callback, time_limit)


def _train(X, Y, task, hidden, surrogate, beta, lr, epochs, patience, factor, min_lr,
           random_state, log_every, callback, time_limit):
    dsig = SURROGATES[surrogate]
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    n = len(X)
    std = Standardizer.fit(X)
    Z = augment(std.transform(X))
    rng = np.random.default_rng(random_state)
    sizes = [Z.shape[1] - 1, *hidden, Y2.shape[1]]
    Ws = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):    # PyTorch-style uniform init
        lim = 1.0 / np.sqrt(fan_in)
        Ws.append(rng.uniform(-lim, lim, size=(fan_in + 1, fan_out)))
    res = STEResult(Ws=Ws, std=std, task=task, surrogate=surrogate)
    best, bad, elapsed = np.inf, 0, 0.0
    for ep in range(epochs + 1):
        t0 = time.perf_counter()
        acts, bits, F = _forward(Ws, Z)
        R = F - Y2
        loss = (0.5 * (R * R).sum() + 0.5 * beta * sum((W * W).sum() for W in Ws)) / n
        if ep % log_every == 0 or ep == epochs:
            elapsed += time.perf_counter() - t0
            row = {"epoch": ep, "seconds": elapsed, "loss": float(loss), "lr": lr}
            if callback is not None:
                row.update(callback(Ws, std) or {})
            res.history.append(row)
            t0 = time.perf_counter()
        if ep == epochs or (time_limit is not None and elapsed > time_limit):
            break
        # backward
        g = R / n
        grads = [None] * len(Ws)
        hin = augment(bits[-1]) if bits else Z
        grads[-1] = hin.T @ g
        gh = g @ Ws[-1][:-1].T
        for l in range(len(Ws) - 2, -1, -1):
            ga = gh * dsig(acts[l])
            hin = Z if l == 0 else augment(bits[l - 1])
            grads[l] = hin.T @ ga
            if l:
                gh = ga @ Ws[l][:-1].T
        for W, G in zip(Ws, grads):
            W -= lr * (G + (beta / n) * W)
        # reduce on plateau
        if loss < best * (1 - 1e-4):
            best, bad = loss, 0
        else:
            bad += 1
            if bad > patience:
                lr, bad = max(lr * factor, min_lr), 0
        elapsed += time.perf_counter() - t0
    res.seconds = elapsed
    return res


def to_float_network(res):
    """The trained network as a :class:`FloatThresholdNetwork` (see the module docstring)."""
    Ws = res.Ws
    layers = []
    for W in Ws[:-1]:
        U = W.copy()
        norms = np.sqrt((U * U).sum(axis=0))
        exps = np.frexp(np.where(norms > 0, norms, 1.0))[1]
        layers.append(np.ldexp(U, FIRST_LAYER_NORM_EXP - exps))
    out = Ws[-1]
    Cw, bias = out[:-1], out[-1]
    last = layers[-1]
    if np.any(bias != 0):                          # the output bias as an always-on neuron
        on = np.zeros((last.shape[0], 1))
        on[-1, 0] = 2.0 ** FIRST_LAYER_NORM_EXP
        layers[-1] = np.hstack([last, on])
        Cw = np.vstack([Cw, bias[None, :]])
    norms = np.sqrt((Cw * Cw).sum(axis=1))
    s = np.sqrt(norms)
    w2 = Cw / np.where(s > 0, s, 1.0)[:, None]
    return FloatThresholdNetwork(mean=res.std.mean, scale=res.std.scale, layers=tuple(layers),
                                 amplitudes=s, out_weights=w2, task=res.task,
                                 meta={"trainer": f"ste-{res.surrogate}"})
