"""Fast (group) Lasso solver specialised for 0/1 dictionaries.

Problem (``H`` an ``(n, P)`` 0/1 matrix, ``Y`` of shape ``(n,)`` or ``(n, C)``)::

    min_W  F(W) = 1/2 ||H W - Y||_F^2 + beta * sum_j ||W_j||_2

Algorithm
---------
*Working sets.*  The solution is sparse (and the non-zero columns are cheap to find), so the
solver alternates

1. a full pass ``G = H^T R`` over all columns (``R = Y - H W`` the float64 residual), which
   gives the certified duality gap (below) and, for every column, its dual violation
   ``d_j = (beta - ||G_j||) / ||h_j||`` (``||h_j||^2`` is the column count of a 0/1 column);
2. a solve of the problem restricted to a working set: the current support plus the most
   violating columns (at least twice the support size, doubled when the previous set was too
   small), to an inner gap of a fraction of the current outer gap.

The full pass is the only ``O(n P)`` step. ``H`` stays in its 0/1 form (uint8); the product is
taken in float64 on column chunks (or on a cached float64 copy when that is small, see
``_CACHE_BYTES``), so no full float64 copy of a large ``H`` is ever made.

*Inner solver.*  On the working set ``S`` everything is in Gram form: ``K = H_S^T H_S``
(computed in float32, exact for 0/1 data while ``n < 2**24``), ``b = H_S^T Y``. It alternates

- a cyclic block-coordinate-descent epoch (gradient ``g = K W - b`` kept by rank-one updates;
  block ``j`` gets its exact minimiser ``prox_{beta/L_j ||.||}(W_j - g_j / L_j)``, ``L_j = K_jj``
  = column count): this is what switches blocks on and off;
- a second-order phase on the current support ``A``: for plain Lasso an active-set
  (feature-sign) method, i.e. solve ``K_AA w = b_A - beta sign(w_A)`` exactly, walk towards it
  and drop the first coordinate that changes sign (``K_AA^{-1}`` downdated in O(|A|^2)); for
  group Lasso Newton-CG on the smooth restriction, preconditioned by
  ``(K_AA + diag(beta/||W_j||))^{-1}``, with an Armijo line search and blocks that would pass
  through zero set to zero;
- an Anderson extrapolation of the last CD iterates every few epochs.

Every candidate is kept only if it does not increase the restricted objective, so the inner
solver is monotone. BLAS is limited to one thread during a solve (see ``BLAS_THREADS``).

Certificate (why the answer is correct)
---------------------------------------
The dual is ``max_theta D(theta) = 1/2||Y||^2 - 1/2||Y - theta||^2`` subject to
``||H_j^T theta||_2 <= beta`` for every column ``j``; weak duality gives
``F(W) - F* <= F(W) - D(theta)`` for any feasible ``theta``. At each full pass the solver builds
``theta = s R`` from the explicit float64 residual, with ``s`` the maximiser of ``D(s R)``
clipped to ``[0, beta / max_j ||H_j^T R||]`` so that ``theta`` is feasible for *all* columns
(the max is taken over the full float64 product, not over the working set). The reported
``duality_gap`` is ``F(coef) - max D(theta)`` over the dual points built so far; it bounds the
suboptimality of ``coef`` and the solver stops when it is ``<= tol * F(coef)``. Working sets,
extrapolation and the second-order phases only affect speed; they never enter the certificate.

Penalty weights (cost-weighted Lasso)
-------------------------------------
With positive ``penalty_weights`` ``c`` the penalty is ``beta * sum_j c_j ||W_j||_2`` and the dual
constraint ``||H_j^T theta|| <= beta c_j``. The full pass, the primal value, the dual scaling
``s <= beta / max_j (||H_j^T R|| / c_j)`` and the working-set scores use ``c`` directly (so the
certificate is the weighted one, over all columns). The inner solver is unchanged: on a working
set it solves the equivalent unweighted problem in the variables ``V_j = c_j W_j`` with columns
``h_j / c_j``, i.e. the Gram data ``K_ij / (c_i c_j)``, ``b_j / c_j``; the 0/1 Gram is still
computed exactly and scaled in float64 afterwards.
"""
import contextlib
import math
import time

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.linalg.blas import dger as _dger

from ._lasso import LassoResult, check_penalty_weights

__all__ = ["solve_fast"]

_CACHE_BYTES = 2 ** 28          # keep a float64 copy of H when it needs at most this many bytes
_CHUNK_BYTES = 2 ** 25          # otherwise convert H to float64 in column chunks of this size
_TINY = np.finfo(np.float64).tiny
_P0 = 100                       # first working-set size
_ANDERSON_K = 5
_CG_MAXITER = 25
_NEWTON_DEC = 1e-1
# BLAS threads during a solve. The solver issues many small/medium dense operations, for which
# multi-threaded OpenBLAS is slower (much slower on a loaded machine); None leaves BLAS alone.
BLAS_THREADS = 1


# ------------------------------------------------------------------------------------------
# the dictionary: 0/1 storage, float64 products
# ------------------------------------------------------------------------------------------

class _Dictionary:
    """Read-only access to a 0/1 matrix stored as uint8, with float64 products."""

    def __init__(self, H):
        self.H = H
        self.n, self.P = H.shape
        self.counts = H.sum(axis=0, dtype=np.int64).astype(np.float64)
        self.Hf = H.astype(np.float64) if self.n * self.P * 8 <= _CACHE_BYTES else None
        self.chunk = max(1, _CHUNK_BYTES // (8 * max(self.n, 1)))

    def rmatvec(self, R):
        """``H^T R`` in float64, shape ``(P, C)``."""
        if self.Hf is not None:
            return self.Hf.T @ R
        out = np.empty((self.P, R.shape[1]))
        for a in range(0, self.P, self.chunk):
            b = min(a + self.chunk, self.P)
            out[a:b] = self.H[:, a:b].astype(np.float64).T @ R
        return out

    def columns(self, idx, dtype=np.float64):
        if self.Hf is not None and dtype == np.float64:
            return self.Hf[:, idx]
        return self.H[:, idx].astype(dtype)      # gather 1-byte entries, then widen


def _as_binary(H):
    H = np.asarray(H)
    if H.ndim != 2:
        raise ValueError(f"H must be a 2-D 0/1 matrix, got shape {H.shape}")
    if H.dtype == np.bool_:
        return H.view(np.uint8)
    if H.dtype == np.uint8 and H.size and H.max() <= 1:
        return H
    if not np.all((H == 0) | (H == 1)):
        raise ValueError("H must contain only 0 and 1")
    return H.astype(np.uint8)


# ------------------------------------------------------------------------------------------
# inner solver on a working set (Gram form)
# ------------------------------------------------------------------------------------------

def _gram_objective(K, b, W, beta, yy):
    """Restricted primal objective and the (sum of) block norms."""
    KW = K @ W
    rr = yy - 2.0 * float(np.vdot(b, W)) + float(np.vdot(W, KW))
    if W.ndim == 1:
        pen = float(np.abs(W).sum())
    else:
        pen = float(np.sqrt((W * W).sum(axis=1)).sum())
    return 0.5 * max(rr, 0.0) + beta * pen, KW


def _gram_gap(K, b, W, beta, yy):
    """Primal, dual value (dual restricted to the working-set columns), gradient ``K W - b``."""
    primal, KW = _gram_objective(K, b, W, beta, yy)
    grad = KW - b
    bw = float(np.vdot(b, W))
    rr = max(yy - 2.0 * bw + float(np.vdot(W, KW)), 0.0)
    yr = yy - bw                                   # <Y, R>
    gn = np.abs(grad) if grad.ndim == 1 else np.sqrt((grad * grad).sum(axis=1))
    gmax = float(gn.max()) if gn.size else 0.0
    s_feas = beta / gmax if gmax > 0 else math.inf
    s = min(s_feas, max(yr / rr, 0.0)) if rr > 0 else min(s_feas, 1.0)
    dual = s * yr - 0.5 * s * s * rr
    return primal, dual, grad


def _epoch_1d(K, w, grad, L, beta, order):
    for j in order:
        Lj = L[j]
        wj = w[j]
        z = wj - grad[j] / Lj
        t = beta / Lj
        if z > t:
            new = z - t
        elif z < -t:
            new = z + t
        else:
            new = 0.0
        if new != wj:
            grad += (new - wj) * K[j]
            w[j] = new


def _epoch_2d(K, W, grad, L, beta, order):
    sqrt = math.sqrt
    for j in order:
        Lj = L[j]
        wj = W[j]
        z = wj - grad[j] / Lj
        nz = sqrt(float(z @ z))
        t = beta / Lj
        if nz <= t:
            if not wj.any():
                continue
            d = -wj                      # a copy: wj is a view of W[j]
            W[j] = 0.0
        else:
            z *= 1.0 - t / nz
            d = z - wj
            W[j] = z
        grad += np.multiply.outer(K[j], d)


def _anderson(hist):
    """Extrapolate from the iterates in ``hist`` (list of arrays); ``None`` if ill-posed."""
    X = np.stack([h.ravel() for h in hist])
    U = np.diff(X, axis=0)
    M = U @ U.T
    scale = np.trace(M)
    if not np.isfinite(scale) or scale <= 0:
        return None
    try:
        z = np.linalg.solve(M + 1e-10 * scale * np.eye(M.shape[0]), np.ones(M.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(z).all() or abs(z.sum()) < 1e-300:
        return None
    c = z / z.sum()
    return (c @ X[1:]).reshape(hist[0].shape)


def _objective_on(KA, bA, WA, beta, yy):
    """Restricted objective when only the rows ``A`` of W are non-zero."""
    rr = yy - 2.0 * float(np.vdot(bA, WA)) + float(np.vdot(WA, KA @ WA))
    pen = float(np.abs(WA).sum()) if WA.ndim == 1 else float(np.sqrt((WA * WA).sum(axis=1)).sum())
    return 0.5 * max(rr, 0.0) + beta * pen


def _chol(M):
    try:
        return cho_factor(M, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        return None


def _newton_1d(K, b, w, beta, yy, eps=0.0, max_steps=None):
    """Active-set (feature-sign) steps for the plain Lasso on the non-zeros of ``w``.

    With the signs ``s`` of the active set ``A`` fixed, the objective equals the quadratic
    ``q(x) = 1/2 x^T K_AA x - b_A^T x + beta s^T x`` on the orthant; we move from ``w_A`` towards
    the minimiser of ``q`` and stop at the first sign change, where that coordinate is dropped.
    The arrays keep their first size: a dropped coordinate gets a zero row and column in
    ``K_AA^{-1}`` (an in-place rank-one downdate, O(|A|^2), no copies), and ``K_AA w`` is carried
    along the step in O(|A|), since ``K_AA target = b_A - beta s`` on the active coordinates.
    The objective decreases at every accepted step; stops at the restricted optimum (no sign
    change) or when a step does not decrease."""
    A = np.flatnonzero(w)
    if A.size == 0:
        return w
    KA = K[np.ix_(A, A)]
    c = _chol(KA)
    if c is None:
        # K_AA singular (e.g. more active columns than samples): a purification (moving along
        # the null space until the support is independent) picks the columns to drop; the
        # active-set walk then restarts from the current values on the kept, independent
        # columns. Starting it from the purified point itself was measured to converge worse
        # (ill-conditioned restarts); either start is safe, since only steps that lower the
        # objective are kept, here and in the caller.
        keep = _purify(KA, w[A].copy())
        if keep is None:
            return w
        w[A[~keep]] = 0.0
        A = A[keep]
        KA = KA[np.ix_(keep, keep)]
        c = _chol(KA)
        if c is None:
            return w
    Kinv = np.asfortranarray(cho_solve(c, np.eye(A.size), check_finite=False))
    bA = b[A]
    wa = w[A].copy()
    sgn = np.sign(wa)
    Kw = KA @ wa

    def objective(x, Kx):
        return 0.5 * max(yy - 2.0 * float(bA @ x) + float(x @ Kx), 0.0) + beta * float(np.abs(x).sum())

    f = objective(wa, Kw)
    max_steps = A.size if max_steps is None else max_steps
    rhs = bA - beta * sgn
    target = Kinv @ rhs
    for _ in range(max_steps):
        if not np.isfinite(target).all():
            break
        cross = (np.sign(target) != sgn) & (sgn != 0)
        if cross.any():
            ci = np.flatnonzero(cross)
            tc = wa[ci] / (wa[ci] - target[ci])
            k = int(np.argmin(tc))
            t = float(tc[k])
            new = wa + t * (target - wa)
            new[ci[k]] = 0.0
            new[np.sign(new) != sgn] = 0.0
        else:
            t = 1.0
            new = target
        # K_AA target = rhs on the active coordinates, so K_AA x is carried along the step in
        # O(|A|); its entries on dropped coordinates are never read (x is zero there). A
        # coordinate zeroed at the crossing is taken out by its column of K_AA.
        Kn = (1.0 - t) * Kw + t * rhs
        for d in np.flatnonzero((new == 0.0) & (sgn != 0)):
            on_path = (1.0 - t) * wa[d] + t * target[d]
            if on_path != 0.0:
                Kn -= KA[:, d] * on_path
        f_new = objective(new, Kn)
        if not f_new <= f:
            break
        wa, f, Kw = new, f_new, Kn
        if not cross.any():
            break
        for d in np.flatnonzero((wa == 0.0) & (sgn != 0)):
            col = Kinv[:, d].copy()
            piv = col[d]
            if not piv > 0:
                return w
            _dger(-1.0 / piv, col, col, a=Kinv, overwrite_a=True)
            Kinv[:, d] = 0.0
            Kinv[d, :] = 0.0
            sgn[d] = 0.0
        if not sgn.any():
            break
        rhs = np.where(sgn != 0, bA - beta * sgn, 0.0)
        target = Kinv @ rhs
    w[A] = wa
    return w


def _purify(KA, wa, rtol=1e-10):
    """Zero coordinates of ``wa`` (in place) along null directions of ``K_AA`` until the
    remaining columns are independent; returns the mask of the kept coordinates (or ``None``
    when no null space was found). Along a null vector ``v`` the fit ``H_A w`` is unchanged and
    ``||w||_1`` is linear with slope ``sign(w) . v`` until a coordinate reaches zero; walking in
    the direction where that slope is <= 0 never increases the objective. The null basis is
    computed once (``eigh``) and reduced by one dimension per dropped coordinate."""
    lam, V = np.linalg.eigh(KA)
    N = V[:, lam <= rtol * max(float(lam[-1]), _TINY)]
    keep = np.ones(wa.size, dtype=bool)
    if N.shape[1] == 0:
        return None
    while N.shape[1]:
        v = N[:, 0].copy()
        v[~keep] = 0.0
        if float(np.sign(wa) @ v) > 0:
            v = -v
        hit = keep & (wa * v < 0)
        if not hit.any():
            v = -v                                  # slope is zero: either direction will do
            hit = keep & (wa * v < 0)
            if not hit.any():
                break
        ti = np.where(hit, -wa / np.where(hit, v, 1.0), np.inf)
        d = int(np.argmin(ti))
        wa += float(ti[d]) * v
        wa[d] = 0.0
        keep[d] = False
        wa[~keep] = 0.0
        # null basis of the reduced matrix: a Householder reflection of the (orthonormal) basis
        # puts all of row d into its first column, which is dropped; O(|A| k), stays orthonormal
        r = N[d]
        nr = float(np.linalg.norm(r))
        if nr > 1e-12:                              # else every null vector has v_d = 0
            u = r.copy()
            u[0] += math.copysign(nr, r[0])
            N = N - np.outer(N @ u, u * (2.0 / float(u @ u)))
            N = N[:, 1:]
    return keep


def _pcg(apply_A, apply_M, rhs, rtol, maxiter):
    x = np.zeros_like(rhs)
    r = rhs.copy()
    z = apply_M(r)
    p = z.copy()
    rz = float(np.vdot(r, z))
    stop = rtol * math.sqrt(float(np.vdot(rhs, rhs)))
    for _ in range(maxiter):
        Ap = apply_A(p)
        pAp = float(np.vdot(p, Ap))
        if pAp <= 0:
            break
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        if math.sqrt(float(np.vdot(r, r))) <= stop:
            break
        z = apply_M(r)
        rz_new = float(np.vdot(r, z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x


def _newton_2d(K, b, W, beta, yy, eps=0.0, max_steps=12):
    """Newton-CG steps for the group Lasso on the non-zero blocks of ``W`` (where the objective
    is smooth), preconditioned by ``(K_AA + diag(beta/||W_j||))^{-1}`` per output column, with
    an Armijo backtracking line search on the exact objective (so the objective decreases)."""
    f = None
    for _ in range(max_steps):
        A = np.flatnonzero(np.any(W != 0.0, axis=1))
        if A.size == 0:
            break
        WA = W[A]
        nrm = np.sqrt((WA * WA).sum(axis=1))
        U = WA / nrm[:, None]
        KA = K[np.ix_(A, A)]
        bA = b[A]
        cj = beta / nrm
        g = KA @ WA - bA + beta * U
        gg = float(np.vdot(g, g))
        if f is None:
            f = _objective_on(KA, bA, WA, beta, yy)
        # the residual-based dual point loses about max_j ||g_j|| * sum_j ||W_j|| of gap
        gmax = float(np.sqrt((g * g).sum(axis=1)).max())
        if gmax * float(nrm.sum()) <= 0.1 * eps or gg <= (1e-15 * max(f, _TINY)) ** 2:
            break
        Mc = _chol(KA + np.diag(cj))
        if Mc is None:
            break

        def apply_H(V):
            return KA @ V + cj[:, None] * (V - U * (U * V).sum(axis=1, keepdims=True))

        def apply_M(V):
            return cho_solve(Mc, V, check_finite=False)

        Dir = _pcg(apply_H, apply_M, -g,
                   rtol=min(0.1, max(1e-5, math.sqrt(math.sqrt(gg) / max(f, _TINY)))),
                   maxiter=_CG_MAXITER)
        slope = float(np.vdot(g, Dir))
        if not slope < 0:
            break
        # blocks whose radial component would pass through zero along the step are set to 0
        # (Newton cannot follow the kink of ||W_j|| at 0 and would crawl towards it)
        radial = (U * Dir).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_cross = np.where(radial < 0, nrm / -radial, np.inf)
        t = 1.0
        accepted = False
        best = None
        if (t_cross < 1.0).any():
            # like the plain-Lasso active set: stop where the first block reaches zero
            k = int(np.argmin(t_cross))
            tk = float(t_cross[k])
            WK = WA + tk * Dir
            WK[k] = 0.0
            fk = _objective_on(KA, bA, WK, beta, yy)
            if fk < f:
                best = (fk, tk, WK)
        for _ in range(30):
            WN = WA + t * Dir
            WN[t_cross <= t] = 0.0
            fn = _objective_on(KA, bA, WN, beta, yy)
            if fn <= f + 1e-4 * t * slope or (best is not None and fn <= best[0]):
                accepted = True
                break
            if best is not None and t <= best[1]:
                break
            t *= 0.5
        if best is not None and (not accepted or best[0] < fn):
            fn, t, WN = best
            accepted = True
            t = max(t, 1e-3)               # a kink step is progress, not a stall
        if not accepted or t < 1e-3:       # blocked by a kink: leave it to the CD epochs
            if accepted and fn < f:
                W[A] = WN
            break
        dec = f - fn
        W[A] = WN
        f = fn
        if (dec <= 1e-15 * max(f, _TINY) and t < 1.0) or (dec <= _NEWTON_DEC * eps and t == 1.0):
            break
    return W


def _solve_restricted(K, b, W, L, beta, yy, eps, max_epochs):
    """Minimise ``1/2 W^T K W - b^T W + beta sum ||W_j||`` (the problem restricted to a working
    set, up to the constant ``1/2||Y||^2``) until its gap is ``<= eps`` or ``max_epochs`` CD
    epochs are spent. Alternates CD epochs (which change the support), Anderson extrapolation
    and Newton phases on the support; every step is accepted only if it does not increase the
    objective. Returns (W, epochs)."""
    one_d = W.ndim == 1
    epoch = _epoch_1d if one_d else _epoch_2d
    newton = _newton_1d if one_d else _newton_2d
    order = np.arange(K.shape[0]).tolist()
    hist = [W.copy()]
    epochs = 0
    prev_nz = None
    while epochs < max_epochs:
        if epochs == 0:
            grad = K @ W - b
        epoch(K, W, grad, L, beta, order)
        epochs += 1
        primal, dual, grad = _gram_gap(K, b, W, beta, yy)
        if primal - dual <= eps:
            break
        # a second-order phase only pays once CD has (nearly) settled the support; on a
        # support still moving it would walk through hundreds of one-at-a-time drops
        nz = W != 0.0 if one_d else np.any(W != 0.0, axis=1)
        n_changed = int(np.count_nonzero(nz != prev_nz)) if prev_nz is not None else nz.size
        prev_nz = nz
        if n_changed > max(2, nz.sum() // 50):
            W_n = None
        else:
            W_n = newton(K, b, W.copy(), beta, yy, eps)
        p_n, d_n, g_n = _gram_gap(K, b, W_n, beta, yy) if W_n is not None else (math.inf,) * 3
        if p_n <= primal:
            W, primal, dual, grad = W_n, p_n, d_n, g_n
            hist = [W.copy()]
            if primal - dual <= eps:
                break
        hist.append(W.copy())
        if len(hist) == _ANDERSON_K + 1:
            W_ex = _anderson(hist)
            if W_ex is not None:
                p_ex, d_ex, g_ex = _gram_gap(K, b, W_ex, beta, yy)
                if p_ex < primal:
                    W, primal, dual, grad = W_ex, p_ex, d_ex, g_ex
                    if primal - dual <= eps:
                        break
            hist = [W.copy()]
    return W, epochs


# ------------------------------------------------------------------------------------------
# outer loop
# ------------------------------------------------------------------------------------------

def _row_norms(A):
    return np.sqrt((A * A).sum(axis=1))


def _blas_limit():
    """Context limiting BLAS to ``BLAS_THREADS`` threads (no-op without threadpoolctl)."""
    if BLAS_THREADS is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                      # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=BLAS_THREADS, user_api="blas")


def solve_fast(H, Y, beta, *, tol=1e-9, max_iter=10000, coef0=None,
               penalty_weights=None) -> LassoResult:
    """Solve ``min_W 1/2||H W - Y||_F^2 + beta sum_j c_j ||W_j||_2`` for a 0/1 matrix ``H``.

    Parameters
    ----------
    H : array (n, P) of 0/1 (bool or uint8 preferred; other dtypes are checked and converted)
    Y : array (n,) (Lasso) or (n, C) (group Lasso)
    beta : float > 0
    tol : float
        Target relative duality gap: stop when ``gap <= tol * max(objective, tiny)``.
    max_iter : int
        Budget of coordinate-descent epochs (passes over a working set), summed over all
        working sets. When exhausted, the result has ``converged=False``.
    coef0 : array, shape of ``coef``, optional
        Warm start.
    penalty_weights : array (P,) of positive floats, optional
        Per-column weights ``c_j`` of the penalty (default: all ones).

    Returns
    -------
    LassoResult with ``solver="fast"``; ``coef`` has shape (P,) or (P, C) with exact zeros off
    the support, ``duality_gap`` the certified gap at ``coef``, ``n_iter`` the CD epochs used.
    """
    with _blas_limit():
        return _solve(H, Y, beta, tol, max_iter, coef0, penalty_weights)


def _solve(H, Y, beta, tol, max_iter, coef0, penalty_weights=None):
    t0 = time.perf_counter()
    Hu = _as_binary(H)
    n, P = Hu.shape
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim not in (1, 2) or Y.shape[0] != n:
        raise ValueError(f"Y must have shape ({n},) or ({n}, C), got {Y.shape}")
    one_d = Y.ndim == 1
    Y2 = Y.reshape(n, -1)
    C = Y2.shape[1]
    beta = float(beta)
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, not {beta!r}")
    if not np.isfinite(Y2).all():
        raise ValueError("Y must be finite")
    tol = float(tol)
    max_iter = int(max_iter)

    D = _Dictionary(Hu)
    cw = check_penalty_weights(penalty_weights, P)
    weighted = cw is not None
    if not weighted:
        cw = np.ones(P)
    usable = D.counts > 0                      # an all-zero column always gets weight 0
    sqrt_counts = np.sqrt(D.counts)
    yy = float((Y2 * Y2).sum())

    W = np.zeros((P, C))
    if coef0 is not None:
        c0 = np.asarray(coef0, dtype=np.float64)
        if c0.size != P * C:
            raise ValueError(f"coef0 must have {P * C} entries, got shape {c0.shape}")
        W[:] = c0.reshape(P, C)
        W[~usable] = 0.0
        if not np.isfinite(W).all():
            raise ValueError("coef0 must be finite")

    HtY = D.rmatvec(Y2)                        # working-set right-hand sides, by indexing
    best_dual = -math.inf
    n_iter = 0
    ws = np.zeros(0, dtype=np.intp)
    ws_size = _P0
    K_cache = None                             # (ws indices, Gram) of the previous working set
    converged = False
    primal = gap = math.inf

    while True:
        # ---- full pass: explicit residual, H^T R over all columns, certified gap -------------
        supp = np.flatnonzero(np.any(W != 0.0, axis=1))
        R = Y2 - D.columns(supp) @ W[supp] if supp.size else Y2.copy()
        G = D.rmatvec(R)
        gn = _row_norms(G)
        rr = float((R * R).sum())
        primal = 0.5 * rr + beta * float((cw[supp] * _row_norms(W[supp])).sum())
        if weighted:
            gn = gn / cw                           # dual constraint ||H_j^T theta|| <= beta c_j
        gmax = float(gn.max()) if P else 0.0
        s_feas = beta / gmax if gmax > 0 else math.inf
        yr = float((Y2 * R).sum())
        s = min(s_feas, max(yr / rr, 0.0)) if rr > 0 else min(s_feas, 1.0)
        theta_res = Y2 - s * R
        dual = 0.5 * yy - 0.5 * float((theta_res * theta_res).sum())
        best_dual = max(best_dual, dual)
        gap = max(primal - best_dual, 0.0)
        if gap <= tol * max(primal, _TINY):
            converged = True
            break
        if n_iter >= max_iter:
            break

        # ---- working set: support + most violating columns -------------------------------
        # (beta c_j - ||G_j||) / ||h_j||: the violation of column h_j / c_j of the scaled problem
        score = np.where(usable, cw * (beta - gn) / np.where(usable, sqrt_counts, 1.0), np.inf)
        score[supp] = -np.inf
        n_usable = int(usable.sum())
        ws_size = min(n_usable, max(ws_size, 2 * supp.size, _P0))
        if ws_size < n_usable:
            new_ws = np.argpartition(score, ws_size - 1)[:ws_size]
        else:
            new_ws = np.flatnonzero(usable)
        new_ws = np.sort(new_ws)
        same = np.array_equal(new_ws, np.sort(ws))
        if same:
            ws_size = min(n_usable, 2 * ws_size)   # no new column would enter: enlarge
        ws = new_ws
        # the restricted problem is (nearly) the full one: solve it to the final accuracy
        final = same or ws.size == n_usable

        # ---- Gram of the working set (float32 products of 0/1 are exact for n < 2**24) ------
        K_cache = _gram(D, ws, K_cache, n)     # ws reordered: columns of the last Gram first
        ws, K = K_cache[0], K_cache[1]
        b = HtY[ws]
        Ws = W[ws].copy()
        if weighted:                               # variables V_j = c_j W_j, columns h_j / c_j
            cs = cw[ws]
            K = K / np.outer(cs, cs)
            b = b / cs[:, None]
            Ws *= cs[:, None]
        L = np.diag(K).copy()
        eps = 0.3 * tol * max(primal, _TINY) if final else max(0.3 * gap, 0.3 * tol * max(primal, _TINY))
        if one_d:
            Wn, used = _solve_restricted(K, b[:, 0], Ws[:, 0].copy(), L, beta, yy, eps,
                                         max(1, max_iter - n_iter))
            Wn = Wn[:, None]
        else:
            Wn, used = _solve_restricted(K, b, Ws, L, beta, yy, eps, max(1, max_iter - n_iter))
        n_iter += max(used, 1)
        if weighted:
            Wn = Wn / cs[:, None]
        W[:] = 0.0
        W[ws] = Wn

    coef = W[:, 0].copy() if one_d else W
    coef = coef + 0.0
    return LassoResult(coef=coef, objective=float(primal), duality_gap=float(gap),
                       solver="fast", n_iter=int(n_iter), converged=bool(converged),
                       seconds=time.perf_counter() - t0)


def _gram(D, ws, cache, n):
    """``(order, K, H32)``: the columns ``ws`` reordered so that those of the previous working set
    come first, their Gram ``K = H_order^T H_order`` and ``H32 = H_order`` in float32. The known
    block is two ``take`` calls on the previous Gram (2-D fancy indexing is slower than
    recomputing at these sizes); only products with the new columns are computed, in float32,
    which is exact for 0/1 data while ``n < 2**24``."""
    dt = np.float32 if n < 2 ** 24 else np.float64
    if cache is not None and cache[0].size:
        old_ws, old_K, old_H = cache
        kept = np.isin(old_ws, ws)               # old columns still in, in their old order
        if kept.sum() > ws.size // 4:
            pk = np.flatnonzero(kept)
            new = np.setdiff1d(ws, old_ws)
            same = np.array_equal(pk, np.arange(old_ws.size))
            if new.size == 0 and same:
                return cache
            order = np.concatenate([old_ws[pk], new])
            m, k = order.size, pk.size
            K = np.empty((m, m))
            K[:k, :k] = old_K if same else old_K.take(pk, axis=0).take(pk, axis=1)
            Hk = old_H if same else old_H.take(pk, axis=1)
            if new.size:
                Hn = D.columns(new, dt)
                K[:k, k:] = Hk.T @ Hn
                K[k:, :k] = K[:k, k:].T
                K[k:, k:] = Hn.T @ Hn
                H32 = np.concatenate([Hk, Hn], axis=1)
            else:
                H32 = Hk
            return order, K, H32
    H32 = D.columns(ws, dt)
    return ws, (H32.T @ H32).astype(np.float64), H32
