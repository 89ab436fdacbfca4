"""Figure 2 of Ergen et al. (ICLR 2023), reproduced side by side: convex deep threshold networks
against the four straight-through-estimator baselines, on the paper's synthetic setup and on
breast_cancer and digits.

Usage::

    python bench/fig2_bench.py [--json FILE] [--png FILE] [--datasets fig2,breast_cancer,digits]
                               [--epochs 2000] [--real-epochs 2000]

Synthetic setup (paper-notes section 4): n = 100 train, 2000 test, d = 20, X ~ N(0, 1), labels
``sign(tanh(tanh(X W1) W2) W3)`` with U(-1, 1) teacher weights (widths 20, 20), seed 42,
``beta = 1e-3 n``. Real data: 80/20 stratified split (seed 0), the same ``beta = 1e-3 n_train``.

Methods: Convex-PI / Convex-Ridge / Convex-SVM (3 layers: 1000-neuron sampled first layer,
max(1000, 2 n) on real data; shattered closed form; last-layer neurons by pseudo-inverse, ridge,
linear SVM), Convex-2L (the two-layer Lasso, for reference), and Nonconvex-STE / -ReLU / -LReLU
/ -CReLU (widths 1000, 100; full-batch SGD lr 0.01, reduce-on-plateau x0.5). Every method is
scored on ONE objective: ``FloatThresholdNetwork.weight_decay_objective(X_train, Y, beta)`` of
its final network (the baselines' networks converted by ``_ste.to_float_network``). The JSON
holds the final row per (dataset, method) and each baseline's curve over wall-clock time; the
PNG (needs matplotlib) plots test accuracy, training accuracy and objective against time.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from thresh2hw.train import encode_classes, fit_convex  # noqa: E402
from thresh2hw.train._deep import fit_deep  # noqa: E402
from thresh2hw.train._ste import to_float_network, train_ste  # noqa: E402

BASELINES = {"identity": "Nonconvex-STE", "relu": "Nonconvex-ReLU", "lrelu": "Nonconvex-LReLU",
             "crelu": "Nonconvex-CReLU"}


def fig2_data(n=100, n_test=2000, d=20, seed=42):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_test, d))
    W1, W2, W3 = (rng.uniform(-1, 1, s) for s in ((d, 20), (20, 20), (20,)))
    y = (np.tanh(np.tanh(X @ W1) @ W2) @ W3 >= 0).astype(int)
    return X[:n], y[:n], X[n:], y[n:]


def real_data(name):
    from sklearn.model_selection import train_test_split

    from thresh2hw.data import load_builtin
    X, y = load_builtin(name)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    return Xtr, ytr, Xte, yte


def _acc(net, X, y, classes):
    return float(np.mean(classes[net.predict_index(X)] == y))


def run_dataset(name, Xtr, ytr, Xte, yte, epochs, log_every, seed=0):
    n = len(Xtr)
    beta = 1e-3 * n
    classes, Y, task = encode_classes(ytr)
    rows, curves = [], {}

    def row(method, net, seconds, **extra):
        r = dict(dataset=name, method=method, n_train=n, n_test=len(Xte), beta=beta,
                 seconds=seconds, objective=net.weight_decay_objective(Xtr, Y, beta),
                 train_accuracy=_acc(net, Xtr, ytr, classes),
                 test_accuracy=_acc(net, Xte, yte, classes),
                 hidden=[int(U.shape[1]) for U in net.layers], **extra)
        rows.append(r)
        print(f"{name:<14}{method:<18}{seconds:>9.2f} s  objective {r['objective']:>12.6g}  "
              f"train {r['train_accuracy']:.4f}  test {r['test_accuracy']:.4f}  "
              f"hidden {r['hidden']}", flush=True)

    width = 1000 if name == "fig2" else max(1000, 2 * n)
    for sep, label in (("pinv", "Convex-PI"), ("ridge", "Convex-Ridge"), ("svm", "Convex-SVM")):
        t0 = time.perf_counter()
        fit = fit_deep(Xtr, Y, task, beta=beta, beta_scale="absolute", n_layers=3, width=width,
                       separator=sep, scan_bias=False, random_state=seed)
        row(label, fit.network, time.perf_counter() - t0, mode=fit.mode,
            convex_objective=fit.lasso_objective, rank=fit.width_condition["ranks"])
    t0 = time.perf_counter()
    fit = fit_convex(Xtr, Y, task, beta=beta, beta_scale="absolute", n_directions=2000,
                     scan_bias=True, column_rounds=2, random_state=seed, solver="auto")
    row("Convex-2L", fit.network, time.perf_counter() - t0, convex_objective=fit.lasso_objective)

    for sur, label in BASELINES.items():
        def probe(Ws, std, _sur=sur):
            from thresh2hw.train._ste import STEResult
            net = to_float_network(STEResult(Ws=Ws, std=std, task=task, surrogate=_sur))
            return {"objective": net.weight_decay_objective(Xtr, Y, beta),
                    "train_accuracy": _acc(net, Xtr, ytr, classes),
                    "test_accuracy": _acc(net, Xte, yte, classes)}
        res = train_ste(Xtr, Y, task, hidden=(1000, 100), surrogate=sur, beta=beta, lr=0.01,
                        epochs=epochs, log_every=log_every, callback=probe, random_state=seed)
        curves[label] = res.history
        row(label, to_float_network(res), res.seconds, epochs=epochs)
    return rows, curves


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: skipping {path} (pip install matplotlib, or "
              f"the 'bench' extra)")
        return
    names = list(results)
    fig, axes = plt.subplots(len(names), 3, figsize=(15, 4 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        rows, curves = results[name]["rows"], results[name]["curves"]
        for k, (key, lab) in enumerate((("test_accuracy", "test accuracy"),
                                        ("train_accuracy", "training accuracy"),
                                        ("objective", "objective"))):
            ax = axes[i, k]
            for method, hist in curves.items():
                ax.plot([max(h["seconds"], 1e-3) for h in hist], [h[key] for h in hist],
                        label=method)
            for r in rows:
                if r["method"].startswith("Convex"):
                    ax.plot([r["seconds"]], [r[key]], marker="*", markersize=12, ls="none",
                            label=r["method"])
            ax.set_xscale("log")
            if key == "objective":
                ax.set_yscale("log")
            ax.set_xlabel("wall-clock seconds")
            ax.set_title(f"{name}: {lab}")
            if i == 0 and k == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default="fig2_bench.json")
    ap.add_argument("--png", default="fig2_bench.png")
    ap.add_argument("--datasets", default="fig2,breast_cancer,digits")
    ap.add_argument("--epochs", type=int, default=2000, help="baseline epochs on fig2")
    ap.add_argument("--real-epochs", type=int, default=2000,
                    help="baseline epochs on breast_cancer and digits (the paper's 2000; "
                         "lower it for a quick look)")
    args = ap.parse_args(argv)
    results = {}
    for name in args.datasets.split(","):
        data = fig2_data() if name == "fig2" else real_data(name)
        ep = args.epochs if name == "fig2" else args.real_epochs
        rows, curves = run_dataset(name, *data, epochs=ep, log_every=max(1, ep // 40))
        results[name] = {"rows": rows, "curves": curves}
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(f"wrote {args.json}")
    plot(results, args.png)


if __name__ == "__main__":
    main()
