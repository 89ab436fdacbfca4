"""Test vectors: packing, random vectors and adversarial (threshold-boundary) vectors."""
import numpy as np

__all__ = ["pack_inputs", "random_vectors", "adversarial_vectors"]


def pack_inputs(Q, bits):
    """Pack each row of unsigned codes into one integer, feature 0 in the least significant bits
    (the layout of the circuit's input payload)."""
    Q = np.asarray(Q, dtype=np.int64)
    shifts = np.arange(bits, dtype=np.int64)
    b = ((Q[:, :, None] >> shifts) & 1).astype(np.uint8).reshape(len(Q), -1)
    packed = np.packbits(b, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def random_vectors(net, n, rng):
    """Uniform random codes plus sparse and saturated ones (both ends of every input)."""
    d, top = net.n_features, net.max_input
    n = int(n)
    a = rng.integers(0, top + 1, size=(n - 2 * (n // 3), d))
    mask = rng.random((n // 3, d)) < 0.2
    b = np.where(mask, rng.integers(0, top + 1, size=(n // 3, d)), 0)
    c = rng.choice([0, top], size=(n // 3, d))
    return np.vstack([a, b, c]).astype(np.int64)


def _hit(w, target, top, rng, tries=8):
    """Inputs q in [0, top]^d with ``w . q == target`` if a few randomized greedy passes find
    one, else None."""
    nz = np.flatnonzero(w)
    for _ in range(tries):
        q = np.zeros(len(w), dtype=np.int64)
        q[nz] = rng.integers(0, top + 1, size=len(nz))
        for _pass in range(3):
            for i in rng.permutation(nz):
                r = target - int(w @ q) + int(w[i]) * int(q[i])   # what q_i alone must supply
                q[i] = min(top, max(0, int(np.floor(r / w[i] + 0.5))))
            if int(w @ q) == target:
                return q
    return None


def adversarial_vectors(net, rng, per_neuron=1):
    """All-zero and all-max inputs, and for every first-layer neuron, vectors whose weighted sum
    lies exactly at its threshold, one below and one above (where such inputs exist)."""
    d, top = net.n_features, net.max_input
    out = [np.zeros(d, dtype=np.int64), np.full(d, top, dtype=np.int64)]
    layer = net.hidden[0]
    for w, t in zip(layer.weights, layer.thresholds):
        if not w.any():
            continue
        for _ in range(per_neuron):
            for target in (int(t) - 1, int(t), int(t) + 1):
                q = _hit(w, target, top, rng)
                if q is not None:
                    out.append(q)
    return np.stack(out)
