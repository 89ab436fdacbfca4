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


def _repair(w, q, r, top, rng, nz):
    """Change one or two coordinates of ``q`` by a total of ``r`` in ``w . q``, if possible."""
    for i in nz:
        if r % w[i] == 0 and 0 <= q[i] + r // w[i] <= top:
            q[i] += r // w[i]
            return True
    pick = rng.permutation(nz)[:12]
    for i in pick:
        for j in pick:
            if i == j:
                continue
            for a in range(-min(top, 31), min(top, 31) + 1):
                rest = r - a * int(w[i])
                if 0 <= q[i] + a <= top and rest % w[j] == 0 and \
                        0 <= q[j] + rest // w[j] <= top:
                    q[i] += a
                    q[j] += rest // w[j]
                    return True
    return False


def _hit(w, target, top, rng, tries=4):
    """Inputs q in [0, top]^d with ``w . q == target``, found by randomized greedy descent and a
    one- or two-coordinate repair; None if that search fails (e.g. the target is unreachable)."""
    nz = np.flatnonzero(w)
    for _ in range(tries):
        q = np.zeros(len(w), dtype=np.int64)
        q[nz] = rng.integers(0, top + 1, size=len(nz))
        for _pass in range(2):
            for i in rng.permutation(nz):
                r = target - int(w @ q) + int(w[i]) * int(q[i])   # what q_i alone must supply
                q[i] = min(top, max(0, int(np.floor(r / w[i] + 0.5))))
        r = target - int(w @ q)
        if r == 0 or _repair(w, q, r, top, rng, nz):
            return q
    return None


def _nearest(w, targets, top, rng):
    for t in targets:
        q = _hit(w, t, top, rng)
        if q is not None:
            return q
    return None


def adversarial_vectors(net, rng, per_neuron=1):
    """All-zero and all-max inputs, and for every first-layer neuron the vectors closest to its
    threshold ``T``: a sum exactly at ``T`` (or the nearest reachable above), one at ``T - 1``
    (or the nearest reachable below) and one at ``T + 1``."""
    d, top = net.n_features, net.max_input
    out = [np.zeros(d, dtype=np.int64), np.full(d, top, dtype=np.int64)]
    layer = net.hidden[0]
    for w, t in zip(layer.weights, layer.thresholds):
        if not w.any():
            continue
        t, g = int(t), int(np.abs(w).max())
        for _ in range(per_neuron):
            for targets in (range(t, t + g + 1), range(t - 1, t - g - 2, -1), (t + 1,)):
                q = _nearest(w, targets, top, rng)
                if q is not None:
                    out.append(q)
    return np.stack(out)


def threshold_coverage(net, Q):
    """How a check set exercises the first layer: per neuron, whether its threshold is negative,
    whether its weight row mixes signs, and how many rows of ``Q`` put its sum exactly at the
    threshold (fires) and exactly one below (does not fire). A dict of numpy arrays."""
    layer = net.hidden[0]
    W, T = layer.weights, layer.thresholds
    S = np.asarray(Q, dtype=np.int64) @ W.T
    return {"negative_threshold": T < 0,
            "mixed_sign": (W > 0).any(axis=1) & (W < 0).any(axis=1),
            "at_threshold": (S == T).sum(axis=0),
            "just_below": (S == T - 1).sum(axis=0)}
