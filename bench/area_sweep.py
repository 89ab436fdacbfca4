"""Accuracy versus area: sweep beta, the direction sampler (gaussian / integer lattice) and cost
weighting of the Lasso penalty, and measure what each network costs in hardware.

    python bench/area_sweep.py [--datasets breast_cancer,digits] [--betas 0.3,0.1,0.05,0.02]
                               [--configs gaussian,gaussian+cost,lattice,lattice+cost]
                               [--yosys N] [--yosys-max-luts L] [--json FILE] [--png FILE]

A script, not a test. For every (dataset, config, beta) it reports hidden neurons, CSD adder
terms (``plan_network(net).adder_terms``), the plan-based LUT estimate
(:func:`thresh2hw.hdl.estimate.estimate_plan`), hidden bits changed by quantization on the
training data, and float / integer test accuracy; with ``--yosys N`` also real Yosys
``synth_ice40`` LUT counts for the N smallest networks of each dataset (out of context, through
:func:`thresh2hw.fpga.build_ooc`, which runs YoWASP Yosys in a scratch directory with relative
file names). Prints the table, writes JSON, and a PNG when matplotlib is importable.

Configs: ``gaussian`` (the default sampler), ``lattice`` (ternary generators on the input codes;
``lattice3`` for 3-bit), and ``+cost`` for the cost-weighted penalty (``+costV``: per-neuron
overhead ``V`` adder terms instead of 1, e.g. ``lattice+cost8`` to charge each neuron for its
share of multi-class output adders).
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
from thresh2hw.hdl.estimate import estimate_plan
from thresh2hw.hdl.plan import plan_network
from thresh2hw.pipeline import accuracy, split
from thresh2hw.quant import quantize_network
from thresh2hw.train import encode_classes, fit_convex_path

N_DIRECTIONS = {"breast_cancer": 2000, "digits": 1000}


def parse_config(name):
    base, _, extra = name.partition("+")
    if extra and not extra.startswith("cost"):
        raise SystemExit(f"unknown config {name!r}")
    try:
        overhead = float(extra[len("cost"):] or 1.0) if extra else 1.0
    except ValueError:
        raise SystemExit(f"unknown config {name!r}") from None
    if base == "gaussian":
        sampler, bits = "gaussian", 2
    elif base.startswith("lattice"):
        sampler, bits = "lattice", int(base[len("lattice"):] or 2)
    else:
        raise SystemExit(f"unknown config {name!r}")
    return dict(sampler=sampler, lattice_bits=bits, cost_weighted=bool(extra),
                cost_overhead=overhead)


def sweep(dataset, configs, betas, *, seed=0, input_bits=8, weight_bits=6, n_directions=None,
          log=print):
    X, y = load_builtin(dataset)
    Xtr, Xte, ytr, yte = split(X, y, 0.25, seed)
    classes, Y, kind = encode_classes(ytr)
    rows = []
    for cname in configs:
        opts = parse_config(cname)
        t0 = time.perf_counter()
        fits = fit_convex_path(Xtr, Y, kind, betas, n_directions=n_directions
                               or N_DIRECTIONS.get(dataset, 1000), scan_bias=True,
                               column_rounds=1, random_state=seed, input_bits=input_bits,
                               weight_bits=weight_bits, **opts)
        seconds = time.perf_counter() - t0
        for b, fit in zip(betas, fits):
            net, rep = quantize_network(fit.network, Xtr, input_bits=input_bits,
                                        weight_bits=weight_bits, classes=list(classes))
            plan = plan_network(net)
            est = estimate_plan(net, plan)
            Q = net.input_quantizer.transform(Xte)
            row = dict(dataset=dataset, config=cname, beta_relative=b,
                       hidden_neurons=int(fit.network.n_hidden),
                       live_neurons=int(sum(p.constant is None for p in plan.layers[0])),
                       adder_terms=int(plan.adder_terms), est_luts=int(est.luts),
                       first_layer_est_luts=int(est.layers[0].luts),
                       changed_hidden_bits=int(sum(rep.changed_bits)),
                       float_test_accuracy=accuracy(classes[fit.network.predict_index(Xte)],
                                                    yte, "c"),
                       int_test_accuracy=accuracy(classes[net.forward(Q)], yte, "c"),
                       duality_gap=fit.duality_gap, path_seconds=round(seconds, 2))
            row["_net"] = net
            rows.append(row)
            log(f"  {dataset:13s} {cname:14s} beta {b:<6g} {row['hidden_neurons']:4d} neurons "
                f"{row['adder_terms']:6d} terms {row['est_luts']:6d} LUTs  "
                f"float {row['float_test_accuracy']:.4f} int {row['int_test_accuracy']:.4f}",
                flush=True)
    return rows


def yosys_luts(net, work):
    from thresh2hw import fpga
    from thresh2hw.hdl import ThresholdNetworkCircuit
    rec = fpga.build_ooc(ThresholdNetworkCircuit(net), "hx8k", work, timeout=900)
    return int(rec["luts"]), rec["build_seconds"]


def print_table(rows):
    cols = [("dataset", "13s"), ("config", "14s"), ("beta_relative", "<6g"),
            ("hidden_neurons", "5d"), ("adder_terms", "6d"), ("est_luts", "6d"),
            ("yosys_luts", "6"), ("changed_hidden_bits", "6d"), ("float_test_accuracy", ".4f"),
            ("int_test_accuracy", ".4f")]
    heads = ["dataset", "config", "beta", "hid", "terms", "estLUT", "yosys", "flips",
             "float", "int"]
    widths = [13, 14, 6, 5, 6, 6, 6, 6, 6, 6]
    print("  ".join(h.ljust(w) if i < 2 else h.rjust(w)
                    for i, (h, w) in enumerate(zip(heads, widths))))
    for r in rows:
        cells = []
        for (k, f), w in zip(cols, widths):
            v = r.get(k)
            s = "-" if v is None else format(v, f) if k != "yosys_luts" else str(v)
            cells.append(s.ljust(w) if k in ("dataset", "config") else s.rjust(w))
        print("  ".join(cells))


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not importable: no PNG written")
        return False
    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4.5), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for cfg in dict.fromkeys(r["config"] for r in rows if r["dataset"] == ds):
            pts = sorted((r["est_luts"], r["int_test_accuracy"]) for r in rows
                         if r["dataset"] == ds and r["config"] == cfg)
            ax.plot(*zip(*pts), marker="o", label=cfg)
        ax.set_xscale("log")
        ax.set_xlabel("estimated LUTs (plan)")
        ax.set_ylabel("integer test accuracy")
        ax.set_title(ds)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="breast_cancer,digits")
    p.add_argument("--configs", default="gaussian,gaussian+cost,lattice,lattice+cost")
    p.add_argument("--betas", default="0.3,0.1,0.05,0.02")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-directions", type=int, default=None)
    p.add_argument("--input-bits", type=int, default=8)
    p.add_argument("--weight-bits", type=int, default=6)
    p.add_argument("--yosys", type=int, default=0, metavar="N",
                   help="real synth_ice40 LUTs for the N networks with the fewest adder terms "
                        "per dataset")
    p.add_argument("--yosys-max-luts", type=int, default=3000, metavar="L",
                   help="skip Yosys for networks estimated above L LUTs (WASM Yosys is slow)")
    p.add_argument("--json", default="area_sweep.json")
    p.add_argument("--png", default="area_sweep.png")
    args = p.parse_args(argv)
    betas = [float(b) for b in args.betas.split(",")]
    configs = args.configs.split(",")
    for c in configs:
        parse_config(c)
    rows = []
    t0 = time.perf_counter()

    def save():
        out = {"python": platform.python_version(), "seconds": round(time.perf_counter() - t0, 1),
               "input_bits": args.input_bits, "weight_bits": args.weight_bits,
               "rows": [{k: v for k, v in r.items() if k != "_net"} for r in rows]}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)

    for ds in args.datasets.split(","):
        rows += sweep(ds, configs, betas, seed=args.seed, input_bits=args.input_bits,
                      weight_bits=args.weight_bits, n_directions=args.n_directions)
        save()
    if args.yosys:
        with tempfile.TemporaryDirectory(prefix="area-sweep-") as work:
            for ds in dict.fromkeys(r["dataset"] for r in rows):
                pick = sorted((r for r in rows if r["dataset"] == ds
                               and r["est_luts"] <= args.yosys_max_luts),
                              key=lambda r: r["adder_terms"])[: args.yosys]
                for k, r in enumerate(pick):
                    try:
                        r["yosys_luts"], r["yosys_seconds"] = yosys_luts(
                            r["_net"], os.path.join(work, f"{ds}-{k}"))
                    except Exception as exc:        # a missing tool or a failed build
                        print(f"yosys failed for {ds} {r['config']} {r['beta_relative']}: "
                              f"{exc}", file=sys.stderr)
                    print(f"  yosys {ds} {r['config']} beta {r['beta_relative']:g}: "
                          f"{r.get('yosys_luts')} LUTs (estimate {r['est_luts']})", flush=True)
                    save()
    save()
    print()
    print_table(rows)
    print(f"\nwrote {args.json}")
    if args.png and plot(rows, args.png):
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
