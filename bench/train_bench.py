"""End-to-end convex training benchmark: one row per (dataset, n, P, solver).

Usage::

    python bench/train_bench.py [--json FILE] [--quick] [--skip-cvxpy-large] [--with-solver-bench]

Every row trains the two-layer network with ``fit_convex`` on the SAME sampled dictionary per
(dataset, n, P) (same seed, no bias scanning, no column generation, so every solver solves the
identical Lasso) and reports ``seconds`` (solver wall-clock), ``objective`` (Lasso optimum),
``duality_gap`` (certified, from the residual), ``nnz`` (neurons), ``train_accuracy``,
``test_accuracy``, plus ``n_distinct`` patterns and ``beta``. Solvers: ``fast`` and
``cvxpy-CLARABEL``, and ``celer`` (plain Lasso only) when it is importable. Instances include
n = 1000, P = 10000 (synthetic Figure-2 teacher, d = 20) for cvxpy and fast.

Pure solver comparisons (random and digits dictionaries, speed-ups) live in
``bench/solver_bench.py``; ``--with-solver-bench`` runs it too and stores its rows under
``"solver_bench"``.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from thresh2hw.train import encode_classes, fit_convex  # noqa: E402
from thresh2hw.train._lasso import LassoResult, dual_gap, lasso_objective  # noqa: E402

BETA_REL = 0.02


def teacher(n, n_test=2000, d=20, seed=42):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, d))
    W1, W2, W3 = (rng.uniform(-1, 1, s) for s in ((d, 20), (20, 20), (20,)))
    y = (np.tanh(np.tanh(X @ W1) @ W2) @ W3 >= 0).astype(int)
    return X[:n], y[:n], X[n:], y[n:]


def real(name):
    from sklearn.model_selection import train_test_split

    from thresh2hw.data import load_builtin
    X, y = load_builtin(name)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    return Xtr, ytr, Xte, yte


def _celer_available():
    try:
        import celer  # noqa: F401
        return True
    except ImportError:
        return False


def _patch_celer():
    """Route ``solve(..., solver="fast")`` to celer for one call (plain Lasso only)."""
    import celer

    import thresh2hw.train._convex as conv

    def solve(H, Y, beta, *, coef0=None, **kw):
        t0 = time.perf_counter()
        Hf = np.asarray(H, dtype=np.float64)
        n = Hf.shape[0]
        # celer stops at gap <= tol ||y||^2 in our scaling (its objective is ours / n); with
        # tol = 1e-8 that is stricter than the fast solver's gap <= 1e-7 F whenever
        # F >= ||y||^2 / 10 (the teacher rows have F ~ 0.15 ||y||^2)
        m = celer.Lasso(alpha=beta / n, fit_intercept=False, tol=1e-8, max_iter=100)
        m.fit(Hf, Y)
        coef = m.coef_.astype(np.float64)
        return LassoResult(coef=coef, objective=lasso_objective(H, Y, coef, beta),
                           duality_gap=dual_gap(H, Y, coef, beta), solver="celer", n_iter=0,
                           converged=True, seconds=time.perf_counter() - t0)
    old = conv.solve
    conv.solve = solve
    return lambda: setattr(conv, "solve", old)


def run(dataset, Xtr, ytr, Xte, yte, P, solvers, rows):
    classes, Y, task = encode_classes(ytr)
    for solver in solvers:
        if solver == "celer" and Y.ndim == 2:
            continue
        restore = _patch_celer() if solver == "celer" else None
        try:
            t0 = time.perf_counter()
            fit = fit_convex(Xtr, Y, task, beta=BETA_REL, n_directions=P, scan_bias=False,
                             column_rounds=0, solver="fast" if solver == "celer" else solver,
                             random_state=0)
            total = time.perf_counter() - t0
        finally:
            if restore:
                restore()
        net = fit.network
        row = dict(dataset=dataset, n=len(Xtr), P=P, n_distinct=fit.n_distinct,
                   solver=fit.solver, beta=fit.beta, seconds=fit.solver_seconds,
                   total_seconds=total, objective=fit.lasso_objective,
                   duality_gap=fit.duality_gap, converged=fit.converged, nnz=net.n_hidden,
                   train_accuracy=float(np.mean(classes[net.predict_index(Xtr)] == ytr)),
                   test_accuracy=float(np.mean(classes[net.predict_index(Xte)] == yte)))
        rows.append(row)
        print(f"{dataset:<14}{row['n']:>6}{P:>7}{row['n_distinct']:>7}  {row['solver']:<16}"
              f"{row['seconds']:>9.2f}{row['objective']:>16.8g}{row['duality_gap']:>10.1e}"
              f"{row['nnz']:>6}{row['train_accuracy']:>8.4f}{row['test_accuracy']:>8.4f}",
              flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    ap.add_argument("--quick", action="store_true", help="small instances only")
    ap.add_argument("--skip-cvxpy-large", action="store_true",
                    help="no cvxpy on P = 10000 (minutes on a loaded machine)")
    ap.add_argument("--with-solver-bench", action="store_true",
                    help="also run bench/solver_bench.py (without its large cvxpy instance)")
    args = ap.parse_args(argv)
    base = ["fast", "cvxpy"] + (["celer"] if _celer_available() else [])
    print(f"{'dataset':<14}{'n':>6}{'P':>7}{'dist':>7}  {'solver':<16}{'seconds':>9}"
          f"{'objective':>16}{'gap':>10}{'nnz':>6}{'train':>8}{'test':>8}")
    rows = []
    plan = [("teacher", 100, 1000), ("teacher", 1000, 1000), ("breast_cancer", None, 1000),
            ("digits", None, 1000)]
    if not args.quick:
        plan += [("teacher", 1000, 10000), ("breast_cancer", None, 10000)]
    for dataset, n, P in plan:
        data = teacher(n) if dataset == "teacher" else real(dataset)
        solvers = base if not (P >= 10000 and args.skip_cvxpy_large) else \
            [s for s in base if s != "cvxpy"]
        run(dataset, *data, P, solvers, rows)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rows": rows}, f, indent=1)
    out = {"rows": rows}
    if args.with_solver_bench:
        import tempfile

        import solver_bench
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "solver.json")
            solver_bench.main(["--json", path])           # prints its own table
            with open(path) as f:
                out["solver_bench"] = json.load(f)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
