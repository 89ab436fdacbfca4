"""Sampling hyperplane-arrangement patterns ``1[Z u >= 0]`` with their generators."""
from dataclasses import dataclass

import numpy as np

from ..floatnet import patterns

__all__ = ["Arrangement", "sample_arrangements", "enumerate_arrangements", "SAMPLERS"]

SAMPLERS = ("gaussian", "data")


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


def _directions(Z_aug, n, sampler, rng):
    d1 = Z_aug.shape[1]
    G = rng.standard_normal((d1, n))
    if sampler == "data":
        # Hyperplanes through random training points: the bias puts point k exactly on the
        # boundary, so every pattern splits the data somewhere inside its range.
        k = rng.integers(0, Z_aug.shape[0], size=n)
        G[-1] = 0.0
        G[-1] = -np.einsum("ij,ji->i", Z_aug[k], G)
    return G


def sample_arrangements(Z_aug, n_directions, *, sampler="gaussian", random_state=0):
    """Draw ``n_directions`` directions, deduplicate their patterns, keep each first generator.

    The bias-only direction ``e_{d+1}`` is always drawn first, so the all-ones pattern (the
    output bias) is in the dictionary. The all-zero pattern is dropped: it contributes nothing.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    if int(n_directions) < 1:
        raise ValueError(f"n_directions must be a positive integer, not {n_directions!r}")
    Z_aug = np.asarray(Z_aug, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    bias = np.zeros((Z_aug.shape[1], 1))
    bias[-1] = 1.0
    U = np.hstack([bias, _directions(Z_aug, int(n_directions), sampler, rng)])
    keep_U, keep_H = [], []
    seen = set()
    for start in range(0, U.shape[1], 4096):        # chunks bound the float64 product's memory
        Uc = U[:, start:start + 4096]
        Hc = patterns(Z_aug, Uc)
        keys = np.packbits(Hc, axis=0).T
        for j in range(Hc.shape[1]):
            key = keys[j].tobytes()
            if key in seen or not Hc[:, j].any():
                continue
            seen.add(key)
            keep_U.append(Uc[:, j])
            keep_H.append(Hc[:, j])
    return Arrangement(U=np.stack(keep_U, axis=1), H=np.stack(keep_H, axis=1),
                       n_sampled=U.shape[1])


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
