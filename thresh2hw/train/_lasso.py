"""Lasso / group-Lasso problems over 0/1 pattern dictionaries: cvxpy reference and dispatch.

The problem solved everywhere in thresh2hw::

    min_W  1/2 ||H W - Y||_F^2 + beta * sum_j ||W_j||_2

with ``H`` an ``(n, P)`` 0/1 dictionary and ``Y`` of shape ``(n,)`` (plain Lasso, the norm of a
scalar row is its absolute value) or ``(n, C)`` (group Lasso, one output vector per neuron).

Every function also takes optional ``penalty_weights`` ``c`` (positive, one per column): the
penalty becomes ``beta * sum_j c_j ||W_j||_2`` (cost-weighted Lasso, e.g. ``c_j`` the logic cost of
neuron ``j``) and the dual constraint ``||H_j^T theta|| <= beta c_j``. ``None`` means all ones.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["LassoResult", "beta_max", "lasso_objective", "dual_gap", "solve_cvxpy", "solve"]


@dataclass(frozen=True)
class LassoResult:
    """Solution of one (group) Lasso.

    Attributes
    ----------
    coef : ndarray, shape (P,) or (P, C)
        Optimal weights, one row per dictionary column.
    objective : float
        Primal objective at ``coef``.
    duality_gap : float or None
        Primal minus dual objective at a feasible dual point built from the residual; an upper
        bound on the suboptimality of ``coef``. ``None`` when not computed.
    solver : str
    n_iter : int
    converged : bool
    seconds : float
    """
    coef: np.ndarray
    objective: float
    duality_gap: float | None
    solver: str
    n_iter: int
    converged: bool
    seconds: float


def _as_2d(Y):
    Y = np.asarray(Y, dtype=np.float64)
    return Y[:, None] if Y.ndim == 1 else Y


_CHUNK_ENTRIES = 2 ** 22        # float64 entries of H converted at a time (32 MiB)


def _ht_dot(H, R):
    """``H^T R`` in float64 without a full float64 copy of a large 0/1 ``H``."""
    H = np.asarray(H)
    n, P = H.shape
    step = max(1, _CHUNK_ENTRIES // max(n, 1))
    if step >= P:
        return H.astype(np.float64).T @ R
    out = np.empty((P, R.shape[1]))
    for a in range(0, P, step):
        out[a:a + step] = H[:, a:a + step].astype(np.float64).T @ R
    return out


def _h_dot(H, W):
    """``H W`` in float64, touching only the columns of ``H`` where ``W`` has a non-zero row."""
    supp = np.flatnonzero(np.any(W != 0.0, axis=1))
    H = np.asarray(H)
    if supp.size == 0:
        return np.zeros((H.shape[0], W.shape[1]))
    return H[:, supp].astype(np.float64) @ W[supp]


def check_penalty_weights(penalty_weights, P):
    """``None`` or a float64 array of ``P`` positive finite weights (else ValueError)."""
    if penalty_weights is None:
        return None
    c = np.asarray(penalty_weights, dtype=np.float64)
    if c.shape != (P,):
        raise ValueError(f"penalty_weights must have shape ({P},), got {c.shape}")
    if not (np.all(np.isfinite(c)) and np.all(c > 0)):
        raise ValueError("penalty_weights must be positive and finite")
    return c


def beta_max(H, Y, penalty_weights=None):
    """Smallest beta for which W = 0 is optimal: max_j ||H_j^T Y||_2 / c_j."""
    G = _ht_dot(H, _as_2d(Y))
    norms = np.sqrt((G * G).sum(axis=1))
    c = check_penalty_weights(penalty_weights, G.shape[0])
    return float((norms if c is None else norms / c).max())


def lasso_objective(H, Y, coef, beta, penalty_weights=None):
    """1/2 ||H W - Y||^2 + beta * sum_j c_j ||W_j||_2, computed in float64."""
    Y2 = _as_2d(Y)
    W = _as_2d(coef)
    R = _h_dot(H, W) - Y2
    norms = np.sqrt((W * W).sum(axis=1))
    c = check_penalty_weights(penalty_weights, W.shape[0])
    pen = norms.sum() if c is None else (c * norms).sum()
    return float(0.5 * (R * R).sum() + beta * pen)


def dual_gap(H, Y, coef, beta, penalty_weights=None):
    """Duality gap at ``coef`` using the scaled residual as dual point.

    The dual is ``max_theta 1/2||Y||^2 - 1/2||Y - theta||^2`` s.t.
    ``||H_j^T theta|| <= beta c_j``; ``theta = s * (Y - H W)`` with the largest feasible
    ``s <= 1`` is feasible by construction.
    """
    Y2 = _as_2d(Y)
    R = Y2 - _h_dot(H, _as_2d(coef))
    G = _ht_dot(H, R)
    norms = np.sqrt((G * G).sum(axis=1))
    c = check_penalty_weights(penalty_weights, G.shape[0])
    norm_max = float((norms if c is None else norms / c).max())
    s = 1.0 if norm_max <= beta else beta / norm_max
    theta = s * R
    dual = 0.5 * (Y2 * Y2).sum() - 0.5 * ((Y2 - theta) ** 2).sum()
    return max(lasso_objective(H, Y, coef, beta, c) - float(dual), 0.0)


def solve_cvxpy(H, Y, beta, *, solver="CLARABEL", verbose=False, penalty_weights=None):
    """Reference solve with cvxpy (CLARABEL by default). Returns a :class:`LassoResult`."""
    import time

    import cvxpy as cp

    Y = np.asarray(Y, dtype=np.float64)
    Hf = np.asarray(H, dtype=np.float64)
    P = Hf.shape[1]
    c = check_penalty_weights(penalty_weights, P)
    t0 = time.perf_counter()
    if Y.ndim == 1:
        w = cp.Variable(P)
        penalty = cp.norm1(w) if c is None else cp.sum(cp.multiply(c, cp.abs(w)))
    else:
        w = cp.Variable((P, Y.shape[1]))
        norms = cp.norm(w, 2, axis=1)
        penalty = cp.sum(norms) if c is None else cp.sum(cp.multiply(c, norms))
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(Hf @ w - Y) + beta * penalty))
    try:
        problem.solve(solver=solver, verbose=verbose)
    except cp.error.SolverError as exc:
        raise RuntimeError(f"cvxpy solver {solver} failed: {exc}") from None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy solver {solver} ended with status {problem.status!r}")
    coef = np.asarray(w.value, dtype=np.float64) + 0.0   # + 0.0 turns -0. into 0.
    stats = problem.solver_stats
    return LassoResult(coef=coef, objective=lasso_objective(H, Y, coef, beta, c),
                       duality_gap=dual_gap(H, Y, coef, beta, c), solver=f"cvxpy-{solver}",
                       n_iter=int(getattr(stats, "num_iters", 0) or 0),
                       converged=problem.status == cp.OPTIMAL,
                       seconds=time.perf_counter() - t0)


#: ``solver="auto"`` re-solves with cvxpy when the fast solver has not converged and
#: ``n * P * C`` is at most this (a few seconds of CLARABEL).
AUTO_FALLBACK = 2_000_000


def solve(H, Y, beta, *, solver="auto", tol=1e-7, max_iter=10000, coef0=None,
          penalty_weights=None):
    """Solve the (group) Lasso with the named solver.

    ``solver`` is ``"cvxpy"`` (CLARABEL, the reference), ``"fast"`` (the specialised solver of
    :mod:`thresh2hw.train._fast`) or ``"auto"`` (fast, with a cvxpy re-solve for small
    problems it did not certify).
    ``penalty_weights``: optional positive per-column weights ``c_j`` of the penalty.
    """
    if solver not in ("auto", "cvxpy", "fast"):
        raise ValueError(f"solver must be 'auto', 'cvxpy' or 'fast', not {solver!r}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, not {beta!r}")
    if solver == "cvxpy":
        return solve_cvxpy(H, Y, beta, penalty_weights=penalty_weights)
    from ._fast import solve_fast
    res = solve_fast(H, Y, beta, tol=tol, max_iter=max_iter, coef0=coef0,
                     penalty_weights=penalty_weights)
    if solver == "auto" and not res.converged and np.size(H) * _as_2d(Y).shape[1] <= AUTO_FALLBACK:
        # Small problem the fast solver did not certify within max_iter: the interior-point
        # reference is cheap at this size and always reaches the optimum.
        ref = solve_cvxpy(H, Y, beta, penalty_weights=penalty_weights)
        if ref.duality_gap is None or res.duality_gap is None or ref.objective < res.objective:
            return ref
    return res
