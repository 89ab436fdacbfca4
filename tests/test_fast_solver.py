"""The fast 0/1 (group) Lasso solver against the cvxpy + CLARABEL reference."""
import numpy as np
import pytest

from thresh2hw.train._fast import solve_fast
from thresh2hw.train._lasso import beta_max, dual_gap, lasso_objective, solve_cvxpy


def _instance(seed, n, P, C, density=0.4):
    rng = np.random.default_rng(seed)
    H = rng.random((n, P)) < density
    H[:, 0] = True                                   # a constant column, as with a bias
    Y = rng.standard_normal(n) if C == 0 else rng.standard_normal((n, C))
    return H, Y


def _rows(coef):
    c = coef.reshape(coef.shape[0], -1)
    return np.sqrt((c * c).sum(axis=1))


CASES = [(seed, n, P, C, frac)
         for seed, (n, P, C) in enumerate([(40, 120, 0), (60, 200, 0), (30, 80, 3), (50, 150, 4)])
         for frac in (0.5, 0.1, 0.02)]


@pytest.mark.parametrize("seed,n,P,C,frac", CASES)
def test_matches_cvxpy(seed, n, P, C, frac):
    H, Y = _instance(seed, n, P, C)
    beta = frac * beta_max(H, Y)
    fast = solve_fast(H, Y, beta, tol=1e-10)
    ref = solve_cvxpy(H, Y, beta)
    assert fast.solver == "fast" and fast.converged
    assert fast.coef.shape == ref.coef.shape == ((P,) if C == 0 else (P, C))
    # objective: fast is at least as good as CLARABEL up to 1e-6 relative
    assert fast.objective <= ref.objective * (1 + 1e-6)
    assert abs(fast.objective - ref.objective) <= 1e-6 * ref.objective
    assert fast.objective == pytest.approx(lasso_objective(H, Y, fast.coef, beta), rel=1e-12)
    # certified gap: non-negative, below the target, consistent with the reference formula
    assert 0.0 <= fast.duality_gap <= 1e-10 * fast.objective
    assert dual_gap(H, Y, fast.coef, beta) <= 1e-8 * fast.objective
    # same support up to tiny coefficients (CLARABEL is an interior-point method)
    rf, rr = _rows(fast.coef), _rows(ref.coef)
    big = 1e-4 * max(rr.max(), 1e-12)
    assert np.all(rf[rr > big] > 0)
    assert np.all(rr[rf > big] > 1e-6 * big)
    np.testing.assert_allclose(rf, rr, atol=1e-3 * max(rr.max(), 1e-12))


@pytest.mark.parametrize("C", [0, 3])
def test_beta_above_beta_max_gives_zero(C):
    H, Y = _instance(7, 40, 100, C)
    bmax = beta_max(H, Y)
    for beta in (bmax, 1.5 * bmax):
        res = solve_fast(H, Y, beta)
        assert res.converged and not np.any(res.coef)
        assert res.objective == pytest.approx(0.5 * float((Y * Y).sum()), rel=1e-14)
        assert res.duality_gap <= 1e-12 * res.objective
    # just below beta_max the solution is non-zero but tiny, and cvxpy agrees on the objective
    res = solve_fast(H, Y, 0.99 * bmax, tol=1e-10)
    ref = solve_cvxpy(H, Y, 0.99 * bmax)
    assert np.count_nonzero(_rows(res.coef)) >= 1
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective


@pytest.mark.parametrize("C", [0, 4])
def test_warm_start(C):
    H, Y = _instance(11, 60, 200, C)
    beta = 0.05 * beta_max(H, Y)
    cold = solve_fast(H, Y, beta, tol=1e-10)
    warm = solve_fast(H, Y, beta, tol=1e-10, coef0=cold.coef)
    assert warm.converged
    assert warm.n_iter <= 2
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-6 * np.abs(cold.coef).max())
    # a warm start from the solution at another beta also converges to the same point
    other = solve_fast(H, Y, 2 * beta)
    warm2 = solve_fast(H, Y, beta, tol=1e-10, coef0=other.coef)
    assert warm2.converged
    assert warm2.objective == pytest.approx(cold.objective, rel=1e-9)


@pytest.mark.parametrize("C", [0, 4])
def test_max_iter_reports_not_converged(C):
    H, Y = _instance(5, 60, 200, C)
    beta = 0.01 * beta_max(H, Y)
    res = solve_fast(H, Y, beta, max_iter=1)
    assert not res.converged
    assert res.n_iter == 1
    assert res.duality_gap > 1e-9 * res.objective
    # the reported gap is a true certificate: it bounds the distance to the optimum
    best = solve_fast(H, Y, beta, tol=1e-11)
    assert res.objective - best.objective <= res.duality_gap * (1 + 1e-9)
    assert res.objective >= best.objective - 1e-9 * best.objective


def test_input_forms_and_zero_columns():
    H, Y = _instance(3, 40, 90, 0)
    H[:, 5] = False                                  # an all-zero column gets weight 0
    beta = 0.05 * beta_max(H, Y)
    a = solve_fast(H, Y, beta, tol=1e-10)
    b = solve_fast(H.astype(np.uint8), Y, beta, tol=1e-10)
    c = solve_fast(H.astype(np.float64), Y, beta, tol=1e-10)
    assert a.coef[5] == 0.0
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-12)
    np.testing.assert_allclose(a.coef, c.coef, atol=1e-12)
    with pytest.raises(ValueError):
        solve_fast(H.astype(float) * 2, Y, beta)
    with pytest.raises(ValueError):
        solve_fast(H, Y, -1.0)


def test_chunked_products_match_cached(monkeypatch):
    """The no-float64-copy path (column chunks) gives the same answer as the cached one."""
    import thresh2hw.train._fast as fast_mod

    H, Y = _instance(13, 50, 170, 3)
    beta = 0.05 * beta_max(H, Y)
    cached = solve_fast(H, Y, beta, tol=1e-10)
    monkeypatch.setattr(fast_mod, "_CACHE_BYTES", 0)
    monkeypatch.setattr(fast_mod, "_CHUNK_BYTES", 8 * 50 * 16)      # 16 columns per chunk
    chunked = solve_fast(H, Y, beta, tol=1e-10)
    assert chunked.converged
    assert chunked.objective == pytest.approx(cached.objective, rel=1e-10)
    np.testing.assert_allclose(chunked.coef, cached.coef, atol=1e-7)


def _hyperplane_instance(seed, n, d, P):
    """Distinct arrangement patterns 1[X u >= 0] (bias column included) with more columns than
    samples: at tiny beta the solution nearly interpolates and K_AA of CD's support is singular."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    H = np.unique(X @ rng.standard_normal((d + 1, P)) >= 0, axis=1)
    return H[:, H.any(axis=0)], rng.standard_normal(n)


@pytest.mark.parametrize("seed,n,d,P", [(0, 60, 8, 80), (1, 60, 8, 80), (0, 50, 12, 300),
                                        (5, 50, 12, 300), (8, 50, 12, 300), (11, 50, 12, 300)])
def test_near_interpolation_converges(seed, n, d, P):
    # Before the null-space purification these stalled (gap ~1e-3 after 10000 epochs); the
    # last two also stall when K_AA^{-1} comes from LAPACK potri instead of a Cholesky solve.
    H, Y = _hyperplane_instance(seed, n, d, P)
    beta = 1e-3 * beta_max(H, Y)
    fast = solve_fast(H, Y, beta, tol=1e-9, max_iter=3000)
    ref = solve_cvxpy(H, Y, beta)
    assert fast.converged and fast.duality_gap <= 1e-9 * fast.objective
    assert fast.objective <= ref.objective * (1 + 1e-9)
    assert abs(fast.objective - ref.objective) <= 1e-6 * ref.objective
    # a purified (vertex) solution: its support columns are linearly independent
    supp = np.flatnonzero(fast.coef)
    assert np.linalg.matrix_rank(H[:, supp].astype(float)) == supp.size


def test_purify_keeps_fit_and_does_not_increase_l1():
    from thresh2hw.train._fast import _purify
    rng = np.random.default_rng(3)
    H = (rng.random((12, 30)) < 0.5).astype(float)
    w = rng.standard_normal(30)
    K = H.T @ H
    w0 = w.copy()
    keep = _purify(K, w)
    assert keep is not None and keep.sum() == np.linalg.matrix_rank(H)
    assert np.all(w[~keep] == 0.0)
    np.testing.assert_allclose(H @ w, H @ w0, atol=1e-9)
    assert np.abs(w).sum() <= np.abs(w0).sum() + 1e-12
    assert np.linalg.matrix_rank(H[:, keep]) == keep.sum()
