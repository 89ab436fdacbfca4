"""Sampling hyperplane-arrangement patterns ``1[Z u >= 0]`` with their generators."""
from dataclasses import dataclass

import numpy as np

from ..floatnet import patterns

__all__ = ["Arrangement", "ArrangementSampler", "sample_arrangements", "enumerate_arrangements",
           "lattice_directions", "SAMPLERS"]

SAMPLERS = ("gaussian", "data", "pairs", "lattice")


@dataclass(frozen=True)
class Arrangement:
    """Distinct patterns and one generator each.

    Attributes
    ----------
    U : ndarray (d + 1, P)
        Generator of each pattern (acts on the ones-augmented standardized input).
    H : ndarray of bool (n, P)
        ``H[:, j] = 1[Z_aug U[:, j] >= 0]``; no two columns equal, no all-zero column.
    n_sampled : int
        Directions drawn (including the bias-only direction that gives the all-ones pattern).
    """
    U: np.ndarray
    H: np.ndarray
    n_sampled: int

    @property
    def n_distinct(self):
        return self.H.shape[1]


def lattice_directions(Q_aug, n, rng, lattice_bits=2, live=None):
    """``n`` integer generators on integer input codes (``Q_aug`` = codes plus a ones column).

    Each direction ``g`` has entries in ``[-m, m]``, ``m = 2^(lattice_bits-1) - 1`` (ternary for
    2 bits), on a log-uniform number of randomly chosen live features, divided by the gcd of its
    entries (the same patterns, smallest integers); the integer threshold ``T`` is ``g . q`` of a
    random training code, so ``T`` lies in the range of ``g . q`` over the training data. The
    column is ``[g, 1/2 - T]``: ``g . q - T + 1/2 >= 0`` iff ``g . q >= T``, evaluated exactly in
    float64 (integers plus a half, far from rounding), so these generators *are* integer
    hardware neurons ``1[g . q >= T]``.
    """
    if int(lattice_bits) < 2:
        raise ValueError(f"lattice_bits must be at least 2, not {lattice_bits!r}")
    m = (1 << (int(lattice_bits) - 1)) - 1
    Q = Q_aug[:, :-1]
    d = Q.shape[1]
    live = np.flatnonzero(np.ptp(Q, axis=0) > 0) if live is None else live
    G = np.zeros((d + 1, n))
    if live.size == 0 or n == 0:
        return G
    k = np.minimum(np.floor(np.exp(rng.uniform(0.0, np.log(live.size + 1), size=n))),
                   live.size).astype(np.int64)
    k = np.maximum(k, 1)
    for j in range(n):
        idx = rng.choice(live, size=k[j], replace=False)
        mag = rng.integers(1, m + 1, size=k[j])
        sgn = rng.choice(np.array([-1, 1]), size=k[j])
        g = mag * sgn
        g //= np.gcd.reduce(np.abs(g))
        G[idx, j] = g
    rows = rng.integers(0, Q.shape[0], size=n)
    T = np.einsum("ij,ji->i", Q[rows], G[:-1])
    G[-1] = 0.5 - T
    return G


def _directions(Z_aug, n, sampler, rng, lattice_bits=2):
    d1 = Z_aug.shape[1]
    if sampler == "lattice":
        return lattice_directions(Z_aug, n, rng, lattice_bits)
    G = rng.standard_normal((d1, n))
    if sampler == "data":
        # Hyperplanes through random training points: the bias puts point k exactly on the
        # boundary, so every pattern splits the data somewhere inside its range.
        k = rng.integers(0, Z_aug.shape[0], size=n)
        G[-1] = 0.0
        G[-1] = -np.einsum("ij,ji->i", Z_aug[k], G)
    elif sampler == "pairs":
        # Perpendicular bisectors of random pairs of training points: each hyperplane separates
        # two actual samples, which gives far more discriminative patterns than isotropic
        # directions on clustered data (digits: ~95% vs ~89% test accuracy at 100 neurons).
        a = rng.integers(0, Z_aug.shape[0], size=n)
        b = rng.integers(0, Z_aug.shape[0], size=n)
        D = Z_aug[a, :-1] - Z_aug[b, :-1]
        mid = 0.5 * (Z_aug[a, :-1] + Z_aug[b, :-1])
        G = np.vstack([D.T, -np.einsum("ij,ij->i", D, mid)[None, :]])
    return G


class ArrangementSampler:
    """Draws directions in rounds and keeps only patterns not seen before (with their first
    generator). Used once by :func:`sample_arrangements` and repeatedly by column generation."""

    def __init__(self, Z_aug, *, sampler="gaussian", random_state=0, lattice_bits=2):
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
        self.Z_aug = np.asarray(Z_aug, dtype=np.float64)
        if sampler == "lattice" and not np.array_equal(self.Z_aug, np.round(self.Z_aug)):
            raise ValueError("the lattice sampler needs integer input codes (plus a ones column)")
        self.sampler = sampler
        self.lattice_bits = int(lattice_bits)
        self.rng = np.random.default_rng(random_state)
        self.seen = set()
        self.n_sampled = 0

    def distinct(self, U):
        """Patterns of the columns of ``U`` that are new and non-zero: ``(U_new, H_new)``."""
        keep = []
        Hs = []
        for start in range(0, U.shape[1], 4096):    # chunks bound the float64 product's memory
            Hc = patterns(self.Z_aug, U[:, start:start + 4096])
            keys = np.packbits(Hc, axis=0).T
            for j in range(Hc.shape[1]):
                key = keys[j].tobytes()
                if key in self.seen or not Hc[:, j].any():
                    continue
                self.seen.add(key)
                keep.append(start + j)
            Hs.append(Hc)
        self.n_sampled += U.shape[1]
        H = np.concatenate(Hs, axis=1) if Hs else np.zeros((len(self.Z_aug), 0), dtype=bool)
        return U[:, keep], H[:, keep]

    def draw(self, n):
        return self.distinct(self._directions(n))

    def _directions(self, n):
        return _directions(self.Z_aug, int(n), self.sampler, self.rng, self.lattice_bits)

    def draw_scanned(self, n, R, chunk=128):
        """``n`` directions (from the sampler) each with the bias that maximises
        ``||h^T R||_2`` over all ``n + 1`` thresholds between sorted projections.

        Cumulative sums over the sorted projections score every threshold of a direction at
        once, so each candidate is the best pattern its direction can make for the residual.
        """
        Zf = self.Z_aug[:, :-1]
        R = R[:, None] if R.ndim == 1 else R
        G = self._directions(n)[:-1]
        out = np.empty((self.Z_aug.shape[1], G.shape[1]))
        for start in range(0, G.shape[1], chunk):
            W = G[:, start:start + chunk]
            proj = Zf @ W                                     # (n, k)
            order = np.argsort(-proj, axis=0, kind="stable")
            cs = np.cumsum(R[order], axis=0)                  # (n, k, C): top-k sums
            score = np.sqrt((cs * cs).sum(axis=2))
            ps = np.take_along_axis(proj, order, axis=0)
            # only cut between distinct projections (ties must stay on one side)
            valid = np.vstack([ps[:-1] > ps[1:], np.ones((1, ps.shape[1]), dtype=bool)])
            score = np.where(valid, score, -np.inf)
            k = np.argmax(score, axis=0)                      # pattern = top (k + 1) points
            cols = np.arange(W.shape[1])
            hi = ps[k, cols]
            lo = np.where(k + 1 < len(ps), ps[np.minimum(k + 1, len(ps) - 1), cols], hi - 1.0)
            out[:-1, start:start + chunk] = W
            if self.sampler == "lattice":              # integer projections: 1[g . q >= hi]
                out[-1, start:start + chunk] = 0.5 - hi
            else:
                out[-1, start:start + chunk] = -(hi + lo) / 2
        return self.distinct(out)

    def initial(self, n, Y=None):
        """The first dictionary: the bias-only direction, then ``n`` sampled directions (each
        with its best bias for the centred targets ``Y`` when given, see
        :meth:`draw_scanned`)."""
        bias = np.zeros((self.Z_aug.shape[1], 1))
        bias[-1] = 1.0
        U0, H0 = self.distinct(bias)
        if Y is None:
            U, H = self.distinct(self._directions(n))
        else:
            Y = np.asarray(Y, dtype=np.float64)
            # against centred targets: the mean is the bias pattern's job, and uncentred
            # one-hot targets would favour near-all-ones patterns
            U, H = self.draw_scanned(n, Y - Y.mean(axis=0))
        return Arrangement(U=np.hstack([U0, U]), H=np.hstack([H0, H]),
                           n_sampled=self.n_sampled)


def sample_arrangements(Z_aug, n_directions, *, sampler="gaussian", random_state=0):
    """Draw ``n_directions`` directions, deduplicate their patterns, keep each first generator.

    The bias-only direction ``e_{d+1}`` is always drawn first, so the all-ones pattern (the
    output bias) is in the dictionary. The all-zero pattern is dropped: it contributes nothing.
    """
    if int(n_directions) < 1:
        raise ValueError(f"n_directions must be a positive integer, not {n_directions!r}")
    return ArrangementSampler(Z_aug, sampler=sampler, random_state=random_state).initial(
        n_directions)


def enumerate_arrangements(Z_aug):
    """Every distinct non-zero pattern ``1[Z_aug u >= 0]``, exactly, for 1 or 2 features.

    The sorted order of the projections ``z . v`` changes only at directions ``v`` orthogonal to
    some ``z_i - z_j``, so one direction inside each arc between consecutive critical angles, with
    one threshold between each pair of consecutive distinct projections, realises every
    halfspace dichotomy (a tie at a critical angle is also realised next to it).
    """
    Z_aug = np.asarray(Z_aug, dtype=np.float64)
    Z = Z_aug[:, :-1]
    n, d = Z.shape
    if d == 1:
        Z = np.hstack([Z, np.zeros((n, 1))])
    elif d != 2:
        raise ValueError(f"exact enumeration supports 1 or 2 features, not {d}")
    diff = Z[:, None, :] - Z[None, :, :]
    iu = np.triu_indices(n, 1)
    dx, dy = diff[..., 0][iu], diff[..., 1][iu]
    keep = (dx != 0) | (dy != 0)
    crit = np.arctan2(dy[keep], dx[keep]) + np.pi / 2
    crit = np.sort(np.mod(np.concatenate([crit, crit + np.pi]), 2 * np.pi))
    crit = np.unique(crit)
    if crit.size == 0:
        mids = np.array([0.0, np.pi])
    else:
        nxt = np.append(crit[1:], crit[0] + 2 * np.pi)
        mids = (crit + nxt) / 2
    gens, pats, seen = [], [], set()
    for th in mids:
        v = np.array([np.cos(th), np.sin(th)])
        p = Z @ v
        levels = np.unique(p)
        cuts = np.concatenate([[levels[0] - 1.0], (levels[:-1] + levels[1:]) / 2])
        for t in cuts:
            u = np.concatenate([v[:d] if d == 2 else v[:1], [-t]])
            h = patterns(Z_aug, u[:, None])[:, 0]
            key = h.tobytes()
            if h.any() and key not in seen:
                seen.add(key)
                gens.append(u)
                pats.append(h)
    return Arrangement(U=np.stack(gens, axis=1), H=np.stack(pats, axis=1), n_sampled=len(gens))
