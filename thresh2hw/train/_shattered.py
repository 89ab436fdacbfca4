"""The shattered case of deep threshold networks (Ergen et al., ICLR 2023, section 3).

If the 0/1 representation ``A = [h, 1]`` of the training points at some layer has full row rank
``n``, the next threshold layer can realise *every* dichotomy of the training points. The output
of the following (last hidden) layer is then any ``delta = sum_j c_j p_j`` with ``p_j`` arbitrary
0/1 patterns, and the cheapest such representation of ``delta`` costs (weight decay after the
AM-GM rebalancing of amplitudes and output weights) ``||delta_+||_inf + ||delta_-||_inf``: a
non-negative vector is a *staircase* ``sum_i (v_i - v_{i-1}) 1[a >= v_i]`` over its sorted
distinct values, whose coefficients sum to its maximum, and no decomposition is cheaper. So

    min_delta  1/2 ||delta - y||^2 + beta (||delta_+||_inf + ||delta_-||_inf),

solved in closed form: ``delta_i = clip(y_i, -tau_-, tau_+)`` with ``sum_i (y_i - tau_+)_+ =
beta`` over the positive entries (``tau_+ = 0`` when ``sum y_+ <= beta``) and the same for the
negative part; one sort each, ``O(n log n)``. For +-1 labels ``delta = +-(1 - beta / n_+-)_+``.

Several outputs (one-hot multi-class) are solved per column (one-vs-rest staircases: each
neuron feeds one class, so its group norm is the absolute value of its one coefficient).

Reconstruction of a neuron ``1[A v >= 0] = p`` on the training points (``A`` full row rank):

* ``"pinv"`` (the paper's "Convex-PI"): ``v = A^+ p`` (so ``A v = p`` exactly up to rounding),
  then the threshold 0.5: ``1[A v - 0.5 >= 0]``. Margin 0.5 on the training points.
* ``"ridge"``: ridge regression of the +-1 targets ``2p - 1`` with threshold 0, the penalty
  shrunk until the training dichotomy is exact (``lambda -> 0`` is the minimum-norm
  interpolant, which separates with margin 1).
* ``"svm"``: a large-C linear SVM (scikit-learn ``LinearSVC``), maximum-margin separator of
  the two sides; falls back to ``"pinv"`` if it leaves a training point on the wrong side.

Every reconstruction is checked on the training points and uses ``>=`` like the rest of
thresh2hw.
"""
import warnings

import numpy as np

__all__ = ["shattered_rank", "is_shattered", "clip_level", "shattered_delta",
           "shattered_objective", "staircase", "fit_separator", "fit_separators", "SEPARATORS"]

SEPARATORS = ("pinv", "ridge", "svm")


def shattered_rank(H):
    """Rank of ``[H, 1]`` (float64 SVD rank, numpy's default tolerance)."""
    H = np.asarray(H, dtype=np.float64)
    A = np.hstack([H, np.ones((H.shape[0], 1))])
    return int(np.linalg.matrix_rank(A))


def is_shattered(H):
    """True when ``[H, 1]`` has full row rank, i.e. every dichotomy of the rows is realisable
    by one threshold neuron on these bits."""
    return shattered_rank(H) == np.asarray(H).shape[0]


def clip_level(a, beta):
    """The level ``tau >= 0`` with ``sum_i (a_i - tau)_+ = beta`` for ``a >= 0`` (0 when
    ``sum a <= beta``). One sort: O(n log n)."""
    a = np.sort(np.asarray(a, dtype=np.float64))[::-1]
    a = a[a > 0]
    if a.size == 0 or a.sum() <= beta:
        return 0.0
    cs = np.cumsum(a)
    k = np.arange(1, a.size + 1)
    # with the top k entries above tau: tau = (cs_k - beta) / k, valid when a_{k+1} <= tau <= a_k
    taus = (cs - beta) / k
    nxt = np.append(a[1:], 0.0)
    ok = (taus <= a) & (taus >= nxt)
    return float(max(taus[np.flatnonzero(ok)[0]], 0.0))


def shattered_delta(Y, beta):
    """Closed-form optimum ``delta`` (same shape as ``Y``), column by column."""
    Y = np.asarray(Y, dtype=np.float64)
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    D = np.empty_like(Y2)
    for c in range(Y2.shape[1]):
        y = Y2[:, c]
        tp = clip_level(np.maximum(y, 0), beta)
        tm = clip_level(np.maximum(-y, 0), beta)
        D[:, c] = np.clip(y, -tm, tp)
    return D[:, 0] if Y.ndim == 1 else D


def shattered_objective(delta, Y, beta):
    """``1/2 ||delta - Y||^2 + beta * sum_columns (||delta_+||_inf + ||delta_-||_inf)``."""
    D = np.asarray(delta, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    D2 = D[:, None] if D.ndim == 1 else D
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    pen = np.maximum(D2, 0).max(axis=0) + np.maximum(-D2, 0).max(axis=0)
    return float(0.5 * ((D2 - Y2) ** 2).sum() + beta * pen.sum())


def shattered_beta_max(Y):
    """Smallest beta for which ``delta = 0`` is optimal."""
    Y = np.asarray(Y, dtype=np.float64)
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    return float(max(np.maximum(Y2, 0).sum(axis=0).max(), np.maximum(-Y2, 0).sum(axis=0).max()))


def staircase(a):
    """Decompose ``a >= 0`` as ``sum_i c_i p_i`` with nested 0/1 patterns ``p_i = 1[a >= v_i]``
    and ``c_i = v_i - v_{i-1} > 0`` (``sum c_i = max a``). Returns ``(coefs, patterns)`` with
    patterns of shape ``(n, k)``."""
    a = np.asarray(a, dtype=np.float64)
    v = np.unique(a[a > 0])
    if v.size == 0:
        return np.zeros(0), np.zeros((a.size, 0), dtype=bool)
    c = np.diff(np.concatenate([[0.0], v]))
    return c, a[:, None] >= v[None, :]


def _check(A, v, p):
    return np.array_equal((A @ v) >= 0, p)


def fit_separator(H, p, method="pinv", *, C=1e4):
    """Weights ``v`` of shape ``(m + 1,)`` on ``[h, 1]`` with ``1[[H, 1] v >= 0] == p`` on
    every row (see the module docstring). Raises ValueError if no method reproduces ``p``
    (``[H, 1]`` not of full row rank and ``p`` not linearly separable by pinv)."""
    if method not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, not {method!r}")
    H = np.asarray(H, dtype=np.float64)
    p = np.asarray(p, dtype=bool)
    A = np.hstack([H, np.ones((H.shape[0], 1))])
    if p.all() or not p.any():                       # constant pattern: a bias-only neuron
        v = np.zeros(A.shape[1])
        v[-1] = 1.0 if p.all() else -1.0
        return v
    if method == "ridge":
        s = np.where(p, 1.0, -1.0)
        U, sv, Vt = np.linalg.svd(A, full_matrices=False)
        for lam in (1e0, 1e-1, 1e-2, 1e-3, 0.0):
            f = sv / (sv * sv + lam) if lam else np.where(sv > sv[0] * 1e-10, 1 / sv, 0.0)
            v = Vt.T @ (f * (U.T @ s))
            if _check(A, v, p):
                return v
        method = "pinv"
    elif method == "svm":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.svm import LinearSVC
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LinearSVC(C=C, loss="hinge", dual=True, max_iter=20000, tol=1e-6,
                            random_state=0).fit(H, p)
        v = np.concatenate([clf.coef_[0], clf.intercept_])
        if _check(A, v, p):
            return v
        method = "pinv"
    v = np.linalg.lstsq(A, p.astype(np.float64), rcond=None)[0]
    v[-1] -= 0.5
    if not _check(A, v, p):
        raise ValueError("the pattern is not realisable on this representation "
                         "([h, 1] is not of full row rank)")
    return v


def fit_separators(H, P, method="pinv"):
    """:func:`fit_separator` for every column of ``P`` (n, k); returns ``V`` of shape
    ``(m + 1, k)``. pinv and ridge factor ``[H, 1]`` once for all columns."""
    if method not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, not {method!r}")
    H = np.asarray(H, dtype=np.float64)
    P = np.asarray(P, dtype=bool)
    A = np.hstack([H, np.ones((H.shape[0], 1))])
    V = np.empty((A.shape[1], P.shape[1]))
    todo = list(range(P.shape[1]))
    if method in ("pinv", "ridge") and todo:
        U, sv, Vt = np.linalg.svd(A, full_matrices=False)
        inv = np.where(sv > sv[0] * max(A.shape) * np.finfo(float).eps, 1 / sv, 0.0)
        if method == "ridge":
            S = np.where(P, 1.0, -1.0)
            UtS = U.T @ S
            for lam in (1e0, 1e-1, 1e-2, 1e-3, 0.0):
                f = sv / (sv * sv + lam) if lam else inv
                Vc = Vt.T @ (f[:, None] * UtS[:, todo])
                ok = ((A @ Vc) >= 0) == P[:, todo]
                good = ok.all(axis=0)
                for i, j in enumerate(todo):
                    if good[i]:
                        V[:, j] = Vc[:, i]
                todo = [j for i, j in enumerate(todo) if not good[i]]
                if not todo:
                    break
        if todo:
            Vc = Vt.T @ (inv[:, None] * (U.T @ P[:, todo].astype(np.float64)))
            Vc[-1] -= 0.5
            good = (((A @ Vc) >= 0) == P[:, todo]).all(axis=0)
            for i, j in enumerate(todo):
                if good[i]:
                    V[:, j] = Vc[:, i]
            todo = [j for i, j in enumerate(todo) if not good[i]]
    for j in todo:                  # svm, constant patterns, and anything not yet exact
        V[:, j] = fit_separator(H, P[:, j], method)
    return V
