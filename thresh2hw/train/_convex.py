"""Convex training of two-layer threshold networks (Ergen et al., ICLR 2023, section 2).

Weight-decay training of ``f(x) = sum_j s_j w2_j 1[[z, 1] u_j >= 0]`` equals a (group) Lasso over
the arrangement patterns: the first-layer scale is free (``1[.]`` ignores positive scaling) and
AM-GM turns ``beta/2 (s^2 + ||w2||^2)`` into ``beta ||s w2||``. We solve the Lasso on sampled
patterns and rebuild the network from its support.
"""
import time
from dataclasses import dataclass

import numpy as np

from ..floatnet import FloatThresholdNetwork, augment
from ._arrangements import sample_arrangements
from ._lasso import beta_max as compute_beta_max
from ._lasso import lasso_objective, solve

__all__ = ["ConvexFit", "Standardizer", "fit_convex", "fit_convex_path", "reconstruct"]

# Norm given to reconstructed first-layer weights: 1[.] is scale-free, and a power of two keeps
# every pre-activation's sign bit-identical while making their weight-decay term negligible.
FIRST_LAYER_NORM_EXP = -30


@dataclass(frozen=True)
class Standardizer:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X):
        X = np.asarray(X, dtype=np.float64)
        sd = X.std(axis=0)
        return cls(mean=X.mean(axis=0), scale=np.where(sd > 0, sd, 1.0))

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale


@dataclass(frozen=True)
class ConvexFit:
    """Result of :func:`fit_convex`.

    ``lasso_objective`` is the solver's optimum over the sampled patterns;
    ``reconstructed_objective`` is the weight-decay objective of ``network`` on the same data.
    """
    network: FloatThresholdNetwork
    beta: float
    beta_max: float
    lasso_objective: float
    reconstructed_objective: float
    duality_gap: float | None
    n_sampled: int
    n_distinct: int
    solver: str
    solver_seconds: float
    converged: bool
    coef: np.ndarray
    support: np.ndarray


def reconstruct(U, coef, support, std, task):
    """Network with one neuron per support column: ``s_j = sqrt||W_j||``, ``w2_j = W_j / s_j``."""
    W = coef[support]
    norms = np.sqrt((W * W).sum(axis=1))
    s = np.sqrt(norms)
    w2 = W / np.where(s > 0, s, 1.0)[:, None]
    Us = U[:, support]
    exps = np.frexp(np.sqrt((Us * Us).sum(axis=0)))[1]
    Us = np.ldexp(Us, FIRST_LAYER_NORM_EXP - exps)        # exact power-of-two rescaling
    return FloatThresholdNetwork(mean=std.mean, scale=std.scale, layers=(Us,), amplitudes=s,
                                 out_weights=w2, task=task)


def _fit_from_result(arr, Y, X, std, task, b, bmax, res, seconds, prune_tol):
    coef = res.coef if res.coef.ndim == 2 else res.coef[:, None]
    norms = np.sqrt((coef * coef).sum(axis=1))
    top = norms.max() if norms.size else 0.0
    # beta >= beta_max gives the zero network; keep one silent neuron so it stays well-formed.
    support = np.flatnonzero(norms > prune_tol * top) if top > 0 else np.array([0])
    net = reconstruct(arr.U, coef, support, std, task)
    return ConvexFit(network=net, beta=b, beta_max=bmax,
                     lasso_objective=lasso_objective(arr.H, Y, res.coef, b),
                     reconstructed_objective=net.weight_decay_objective(X, Y, b),
                     duality_gap=res.duality_gap, n_sampled=arr.n_sampled,
                     n_distinct=arr.n_distinct, solver=res.solver, solver_seconds=seconds,
                     converged=res.converged, coef=res.coef, support=support)


def fit_convex_path(X, Y, task, betas, *, beta_scale="max", n_directions=2000,
                    sampler="gaussian", solver="auto", random_state=0, prune_tol=1e-6, tol=1e-9,
                    max_iter=10000, progress=None):
    """Sample patterns once and solve the Lasso for each beta (largest first, warm-started).

    Returns a list of :class:`ConvexFit` in the order of ``betas``.

    Parameters
    ----------
    X : ndarray (n, d)
    Y : ndarray (n,) or (n, C)
        Targets: +-1 (binary), one-hot (multiclass) or real (regression).
    betas : sequence of float
        Regularization; absolute, or fractions of ``beta_max`` if ``beta_scale == "max"``.
    prune_tol : float
        Support = rows with ``||W_j|| > prune_tol * max_j ||W_j||``.
    """
    if beta_scale not in ("max", "absolute"):
        raise ValueError(f"beta_scale must be 'max' or 'absolute', not {beta_scale!r}")
    betas = [float(b) for b in betas]
    if not betas or not all(np.isfinite(b) and b > 0 for b in betas):
        raise ValueError(f"betas must be positive numbers, not {betas!r}")
    std = Standardizer.fit(X)
    Z = augment(std.transform(X))
    Y = np.asarray(Y, dtype=np.float64)
    arr = sample_arrangements(Z, n_directions, sampler=sampler, random_state=random_state)
    if progress:
        progress(f"sampled {arr.n_sampled} directions -> {arr.n_distinct} distinct patterns")
    bmax = compute_beta_max(arr.H, Y)
    fits = [None] * len(betas)
    coef0 = None
    for k in sorted(range(len(betas)), key=lambda k: -betas[k]):
        b = betas[k] * bmax if beta_scale == "max" else betas[k]
        t0 = time.perf_counter()
        res = solve(arr.H, Y, b, solver=solver, tol=tol, max_iter=max_iter, coef0=coef0)
        seconds = time.perf_counter() - t0
        coef0 = res.coef
        fits[k] = _fit_from_result(arr, Y, X, std, task, b, bmax, res, seconds, prune_tol)
        if progress:
            progress(f"beta={b:.4g}: {fits[k].network.n_hidden} neurons, objective "
                     f"{fits[k].lasso_objective:.6g}, {seconds:.2f} s ({res.solver})")
    return fits


def fit_convex(X, Y, task, *, beta=1e-2, **kwargs):
    """Sample patterns, solve the Lasso for one beta, reconstruct the threshold network
    (keyword arguments as for :func:`fit_convex_path`)."""
    return fit_convex_path(X, Y, task, [beta], **kwargs)[0]
