"""Benchmark: the fast 0/1 (group) Lasso solver against cvxpy + CLARABEL.

Usage::

    python bench/solver_bench.py [--with-cvxpy-large] [--huge] [--skip-cvxpy] [--json FILE]

Prints one row per (instance, solver): n, P, C, beta, seconds, objective, support size,
certified duality gap; for fast rows that have a cvxpy counterpart also the speed-up and the
relative objective difference. cvxpy on the large Lasso (n=1000, P=10000) takes ~70 s and only
runs with ``--with-cvxpy-large``. ``--huge`` adds n = P = 20000 (fast only; prints the peak
resident memory of the process after it).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from thresh2hw.train._fast import solve_fast  # noqa: E402
from thresh2hw.train._lasso import beta_max, solve_cvxpy  # noqa: E402


def patterns(X, P, rng):
    """Distinct 0/1 patterns 1[X u >= 0] for Gaussian directions u, constant columns dropped."""
    U = rng.standard_normal((X.shape[1], P))
    H = X @ U >= 0
    H = np.unique(H, axis=1)
    keep = H.any(axis=0) & ~H.all(axis=0)
    return np.ascontiguousarray(H[:, keep])


def huge_patterns(X, P, rng, step=2000):
    """Like :func:`patterns` for dictionaries too large for a float64 ``X U`` (no dedup: at
    n = 20000 Gaussian directions give distinct patterns)."""
    U = rng.standard_normal((X.shape[1], P))
    H = np.empty((X.shape[0], P), dtype=bool)
    for a in range(0, P, step):
        H[:, a:a + step] = X @ U[:, a:a + step] >= 0
    return H


def lasso_instance(n, P, d=20, seed=0, frac=0.05):
    """Plain Lasso on hyperplane patterns; y = sign of a random two-layer ReLU teacher."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    H = patterns(X, P, rng) if n * P <= 10 ** 8 else huge_patterns(X, P, rng)
    A = rng.standard_normal((d + 1, 8))
    y = np.sign(np.maximum(X @ A, 0) @ rng.standard_normal(8) - 0.3)
    y[y == 0] = 1.0
    return H, y, frac * beta_max(H, y)


def digits_instance(P, seed=0, frac=3e-3):
    """Group Lasso on sklearn digits (train split), standardized pixels + ones, one-hot Y."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    Xd, yd = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(Xd, yd, test_size=0.2, random_state=0)
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    sd[sd == 0] = 1.0
    X = np.hstack([(Xtr - mu) / sd, np.ones((Xtr.shape[0], 1))])
    rng = np.random.default_rng(seed)
    H = patterns(X, P, rng)
    Y = np.eye(10)[ytr]
    return H, Y, frac * beta_max(H, Y)


def random_instance(n, P, C, seed, frac):
    rng = np.random.default_rng(seed)
    H = rng.random((n, P)) < 0.4
    Y = rng.standard_normal((n, C)) if C > 1 else rng.standard_normal(n)
    return H, Y, frac * beta_max(H, Y)


def run(name, H, Y, beta, with_cvxpy, rows, tol=1e-9):
    n, P = H.shape
    C = 1 if Y.ndim == 1 else Y.shape[1]
    fast = solve_fast(H, Y, beta, tol=tol)
    ref = solve_cvxpy(H, Y, beta) if with_cvxpy else None
    for res in ([fast] + ([ref] if ref else [])):
        supp = int(np.count_nonzero(np.abs(res.coef.reshape(P, -1)).max(axis=1) > 1e-8))
        row = dict(instance=name, n=n, P=P, C=C, beta=beta, solver=res.solver,
                   seconds=res.seconds, objective=res.objective, support=supp,
                   gap=res.duality_gap, rel_gap=res.duality_gap / max(res.objective, 1e-300),
                   n_iter=res.n_iter, converged=res.converged)
        if ref is not None and res is fast:
            row["speedup"] = ref.seconds / fast.seconds
            row["rel_obj_diff"] = (fast.objective - ref.objective) / max(abs(ref.objective), 1e-300)
        rows.append(row)
        print(f"{name:<22}{n:>6}{P:>7}{C:>4}  {res.solver:<16}{res.seconds:>9.3f}"
              f"{res.objective:>18.10g}{supp:>6}{row['rel_gap']:>10.1e}"
              + (f"{row['speedup']:>9.1f}x{row['rel_obj_diff']:>10.1e}" if "speedup" in row
                 else ""), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--with-cvxpy-large", action="store_true",
                    help="also run cvxpy on the n=1000, P=10000 Lasso (~70 s)")
    ap.add_argument("--skip-cvxpy", action="store_true", help="never run cvxpy")
    ap.add_argument("--huge", action="store_true", help="also n = P = 20000 (fast only)")
    ap.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    args = ap.parse_args(argv)
    cv = not args.skip_cvxpy
    print(f"{'instance':<22}{'n':>6}{'P':>7}{'C':>4}  {'solver':<16}{'seconds':>9}"
          f"{'objective':>18}{'supp':>6}{'rel_gap':>10}{'speedup':>10}{'rel_dobj':>10}")
    rows = []
    run("random-lasso", *random_instance(200, 800, 1, 1, 0.05), cv, rows)
    run("random-group", *random_instance(200, 800, 5, 2, 0.05), cv, rows)
    run("lasso-small", *lasso_instance(300, 1500, seed=3), cv, rows)
    # Figure-2 regime: n = 100, tiny beta, the solution nearly interpolates
    run("lasso-interp-100", *lasso_instance(100, 2000, seed=4, frac=1e-3), cv, rows)
    run("lasso-1000x10000-b02", *lasso_instance(1000, 10000, seed=0, frac=0.02),
        cv and args.with_cvxpy_large, rows)
    run("lasso-1000x10000", *lasso_instance(1000, 12000, seed=0), cv and args.with_cvxpy_large,
        rows)
    run("digits-group-1000", *digits_instance(1000, seed=0), cv, rows)
    run("digits-group-3000", *digits_instance(3000, seed=0), False, rows)
    run("digits-group-6000", *digits_instance(6000, seed=1, frac=1e-2), False, rows)
    if args.huge:
        import resource
        run("lasso-20000x20000", *lasso_instance(20000, 20000, seed=5, frac=0.02), False, rows)
        rows[-1]["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
        print(f"peak resident memory of this process: {rows[-1]['peak_rss_gib']:.2f} GiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
