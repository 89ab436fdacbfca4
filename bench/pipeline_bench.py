"""End-to-end benchmark: per-stage seconds and float/integer accuracy on bundled datasets.

    python bench/pipeline_bench.py [--datasets breast_cancer,digits] [--json FILE]

A script, not a test: it prints measured numbers (and writes them as JSON on request).
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

from thresh2hw.data import load_builtin
from thresh2hw.emit import emit
from thresh2hw.pipeline import TrainConfig, accuracy, split, train_integer_model
from thresh2hw.sim import adversarial_vectors, check_circuit


def run(name, seed=0):
    row = {"dataset": name}
    t0 = time.perf_counter()
    X, y = load_builtin(name)
    Xtr, Xte, ytr, yte = split(X, y, 0.2, seed)
    row["seconds_load"] = time.perf_counter() - t0
    out = train_integer_model(Xtr, ytr, "classification", TrainConfig(seed=seed))
    net, fit = out.network, out.fit
    row.update(n_train=len(Xtr), n_test=len(Xte), hidden_neurons=fit.network.n_hidden,
               n_distinct=fit.n_distinct, beta_relative=fit.beta / fit.beta_max,
               seconds_train=out.seconds["train"], seconds_quantize=out.seconds["quantize"])
    classes = np.asarray(net.classes)
    row["float_test_accuracy"] = accuracy(classes[fit.network.predict_index(Xte)], yte, "c")
    Q = net.input_quantizer.transform(Xte)
    row["int_test_accuracy"] = accuracy(classes[net.forward(Q)], yte, "c")
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        paths = emit(net, d, "bench_top")
        row["seconds_compile"] = time.perf_counter() - t0
        row["verilog_bytes"] = os.path.getsize(paths["verilog"])
    A = adversarial_vectors(net, np.random.default_rng(seed))
    res = check_circuit(net, np.vstack([Q, A]))
    row.update(sim_vectors=res.vectors, sim_mismatches=res.mismatches,
               seconds_simulate=res.seconds, sim_vectors_per_s=res.vectors_per_s)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="breast_cancer,digits")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    rows = [run(n) for n in args.datasets.split(",")]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    cols = ["dataset", "hidden_neurons", "float_test_accuracy", "int_test_accuracy",
            "seconds_train", "seconds_quantize", "seconds_compile", "seconds_simulate",
            "sim_vectors", "sim_mismatches"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if all(r["sim_mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
