"""Real-valued threshold networks as produced by convex training (numpy only).

A :class:`FloatThresholdNetwork` standardizes its inputs (``z = (x - mean) / scale``), appends a
ones column, and applies threshold layers ``1[[z, 1] U >= 0]`` followed by amplitudes ``s`` and
output weights ``w2``: ``f(x) = (s * h(x)) @ w2``. Deep networks stack further threshold layers
on the 0/1 bits (each with its own bias row).
"""
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FloatThresholdNetwork", "augment", "patterns"]


def augment(Z):
    """Append the ones column that carries each neuron's bias."""
    Z = np.asarray(Z, dtype=np.float64)
    return np.hstack([Z, np.ones((Z.shape[0], 1))])


def patterns(Z_aug, U):
    """0/1 activation patterns ``1[Z_aug U >= 0]`` as a bool array (n, m)."""
    return (Z_aug @ U) >= 0


@dataclass(frozen=True)
class FloatThresholdNetwork:
    """A trained threshold network in real arithmetic.

    Attributes
    ----------
    mean, scale : ndarray (d,)
        Input standardization.
    layers : tuple of ndarray
        ``layers[0]`` has shape (d + 1, m0) and acts on ``[z, 1]``; ``layers[l]`` for l >= 1 has
        shape (m_{l-1} + 1, m_l) and acts on ``[h_{l-1}, 1]``.
    amplitudes : ndarray (m_last,)
        ``s_j`` of the last hidden layer.
    out_weights : ndarray (m_last, n_out)
        ``w2_j`` (one row per last-layer neuron).
    task : {"multiclass", "binary", "regression"}
    input_quantizer : InputQuantizer or None
        When set (networks trained on integer input codes, e.g. by the lattice sampler), inputs
        are first mapped to their integer codes ``q = input_quantizer.transform(x)`` and
        ``mean``/``scale`` apply to ``q``: the first layer then computes ``[(q - mean)/scale, 1] U``.
    """
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple
    amplitudes: np.ndarray
    out_weights: np.ndarray
    task: str
    meta: dict = field(default_factory=dict)
    input_quantizer: object = None

    @property
    def n_hidden(self):
        return self.layers[-1].shape[1]

    def standardize(self, X):
        if self.input_quantizer is not None:
            X = self.input_quantizer.transform(X)
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale

    def hidden_bits(self, X):
        """List of bool arrays, one per hidden layer."""
        h = augment(self.standardize(X))
        out = []
        for U in self.layers:
            b = patterns(h, U)
            out.append(b)
            h = augment(b)
        return out

    def decision(self, X):
        """Real-valued outputs f(x), shape (n, n_out)."""
        h = self.hidden_bits(X)[-1]
        return (h * self.amplitudes) @ self.out_weights

    def predict_index(self, X):
        """Class index (argmax, lowest index on ties; binary: f >= 0 is class 1) or value."""
        f = self.decision(X)
        if self.task == "multiclass":
            return np.argmax(f, axis=1)
        if self.task == "binary":
            return (f[:, 0] >= 0).astype(np.int64)
        return f[:, 0]

    def weight_decay_objective(self, X, Y, beta):
        """1/2 ||f(X) - Y||^2 + beta/2 * (sum ||U||^2 + ||s||^2 + ||w2||^2): the non-convex loss."""
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        R = self.decision(X) - Y
        penalty = sum(float((U * U).sum()) for U in self.layers)
        penalty += float((self.amplitudes ** 2).sum()) + float((self.out_weights ** 2).sum())
        return float(0.5 * (R * R).sum() + 0.5 * beta * penalty)
