"""Hardware benchmark: the digits network on iCE40 UP5K (iCEBreaker) and ECP5 (ULX3S), per
architecture, through the open toolchain (``thresh2hw build``). Not a test.

    python bench/hw_bench.py                          # boards: icebreaker, ulx3s-85f
    python bench/hw_bench.py --ooc                    # synthesis only (up5k, lfe5u-85f): faster
    python bench/hw_bench.py --model my.json --archs combinational,folded:1 --force
    python bench/hw_bench.py --archs pipelined:max:credit --seeds 1,2,3   # spread over seeds

Model: ``--model``, else the hardware-sized digits network of :data:`HW_DIGITS` (integer lattice
sampler, cost-weighted Lasso, beta 0.8, 5-bit output weights: 84 neurons, 0.90 test accuracy),
trained deterministically on first use and cached in the output directory (the full demo
network, ~1000 neurons, does not fit a UP5K). Board builds are placed and routed for the
issue's clock targets (``--target-mhz``) and include the UART link; out-of-context numbers are
the bare network, synthesis only. A configuration whose plan estimate exceeds the device is reported as "no fit" without
running the tools (``--force`` builds it anyway).
"""
import argparse
import contextlib
import io
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from thresh2hw.cli import main as cli_main          # noqa: E402

ARCH_FLAGS = {"combinational": ["--arch", "combinational"]}


def arch_flags(spec):
    name, _, value = spec.partition(":")
    if name == "combinational":
        return ["--arch", "combinational"]
    if name == "pipelined":                     # pipelined:N or pipelined:N:credit
        stages, _, flow = value.partition(":")
        return (["--arch", "pipelined", "--pipeline-stages", stages or "2"]
                + (["--flow-control", flow] if flow else []))
    if name == "folded":                        # folded:K or folded:K:N (tail cuts)
        fold, _, stages = value.partition(":")
        return (["--arch", "folded", "--fold", fold or "1"]
                + (["--pipeline-stages", stages] if stages else []))
    raise SystemExit(f"unknown architecture spec {spec!r}")


#: The hardware-sized digits network the benches build (``--model`` overrides): the integer
#: lattice sampler (ternary directions on the 8-bit input codes) with the cost-weighted Lasso,
#: beta 0.8 x beta_max, 5-bit output weights. Deterministic: fixed split and seeds.
HW_DIGITS = dict(dataset="digits", test_fraction=0.25, seed=0, n_directions=1000, beta=0.8,
                 sampler="lattice", lattice_bits=2, cost_weighted=True, cost_overhead=1.0,
                 input_bits=8, weight_bits=6, output_bits=5)


def hardware_digits_model(cache_dir, log=None):
    """Path of the hardware-sized digits network (:data:`HW_DIGITS`), trained on first use and
    cached in ``cache_dir`` under a name that encodes its parameters."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    c = HW_DIGITS
    path = os.path.join(cache_dir, f"digits_hw_lattice_cost_b{c['beta']}_ob{c['output_bits']}"
                                   f"_s{c['seed']}.json")
    if os.path.exists(path):
        return path
    from thresh2hw.data import load_builtin
    from thresh2hw.pipeline import accuracy, split
    from thresh2hw.quant import quantize_network
    from thresh2hw.train import encode_classes, fit_convex_path
    X, y = load_builtin(c["dataset"])
    Xtr, Xte, ytr, yte = split(X, y, c["test_fraction"], c["seed"])
    classes, Y, kind = encode_classes(ytr)
    t0 = time.perf_counter()
    fit, = fit_convex_path(Xtr, Y, kind, [c["beta"]], n_directions=c["n_directions"],
                           scan_bias=True, column_rounds=1, random_state=c["seed"],
                           input_bits=c["input_bits"], weight_bits=c["weight_bits"],
                           sampler=c["sampler"], lattice_bits=c["lattice_bits"],
                           cost_weighted=c["cost_weighted"], cost_overhead=c["cost_overhead"])
    net, _ = quantize_network(fit.network, Xtr, input_bits=c["input_bits"],
                              weight_bits=c["weight_bits"], output_bits=c["output_bits"],
                              classes=list(classes))
    acc = accuracy(classes[net.forward(net.input_quantizer.transform(Xte))], yte, "c")
    os.makedirs(cache_dir, exist_ok=True)
    net.save(path)
    log(f"trained the hardware digits network: {net.hidden[0].n_out} neurons, integer test "
        f"accuracy {acc:.3f}, {time.perf_counter() - t0:.0f} s -> {path}")
    return path


def get_model(args):
    if args.model:
        return args.model
    return hardware_digits_model(args.out)


def run_one(model, target, spec, args, seed=None):
    tag = f"{target}-{spec.replace(':', '-')}" + (f"-seed{seed}" if seed is not None else "")
    out = os.path.join(args.out, tag)
    js = os.path.join(args.out, f"{tag}.json")
    if args.ooc:
        where = ["--board", "none", "--device", target]
    else:
        where = ["--board", target]
        mhz = args.target_mhz
        if mhz == "auto":
            mhz = "200" if target.startswith("ulx3s") else "100"
        if mhz != "board":
            where += ["--target-mhz", mhz]
        if seed is not None:
            where += ["--seed", str(seed)]
    argv = ["build", model, *where, "-o", out, "--json", js, "--check", str(args.check),
            *arch_flags(spec)] + (["--force"] if args.force else [])
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err):
        rc = cli_main(argv)
    secs = time.perf_counter() - t0
    text = err.getvalue()
    est = next((l for l in text.splitlines() if l.startswith("[estimate]")), "")
    if rc != 0:
        last = text.strip().splitlines()[-1] if text.strip() else "failed"
        status = "no fit" if "the design needs about" in last else "FAILED"
        return {"target": target, "arch": spec, "status": status, "estimate": est,
                "message": last, "seconds": secs}
    with open(js) as f:
        rec = json.load(f)
    rec.update(target=target, arch=spec, status="ok", seconds=secs, seed=seed)
    return rec


def fmt(v, nd=0):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model")
    p.add_argument("--out", default="thresh2hw-bench")
    p.add_argument("--ooc", action="store_true", help="synthesis only, no boards")
    p.add_argument("--targets", help="boards (or devices with --ooc); default icebreaker,"
                                     "ulx3s-85f (up5k,lfe5u-85f with --ooc)")
    p.add_argument("--archs", default="combinational,pipelined:max,pipelined:max:credit,"
                                      "folded:1,folded:1:max",
                   help="comma-separated: combinational, pipelined:N[:stall|credit], "
                        "folded:K[:N]")
    p.add_argument("--target-mhz", default="auto",
                   help="board builds: place and route for this clock (auto: the issue's "
                        "targets, 100 MHz on iCE40 boards, 200 MHz on ECP5 boards; 'board': the "
                        "board clock)")
    p.add_argument("--seeds", help="board builds: comma-separated nextpnr seeds, one build "
                                   "each, all reported (default: nextpnr's own seed)")
    p.add_argument("--check", type=int, default=50, help="reference-check vectors per build")
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    targets = (args.targets or ("up5k,lfe5u-85f" if args.ooc else "icebreaker,ulx3s-85f"))
    os.makedirs(args.out, exist_ok=True)
    model = get_model(args)
    from thresh2hw.model import IntegerNetwork
    net = IntegerNetwork.load(model)
    print(f"model {model}: {net.n_features} x {net.input_bits}-bit inputs, hidden "
          f"{[l.n_out for l in net.hidden]}, {net.n_scores} classes")
    seeds = ([int(x) for x in args.seeds.split(",")] if args.seeds and not args.ooc
             else [None])
    rows = []
    for target in targets.split(","):
        for spec in args.archs.split(","):
            for seed in seeds:
                r = run_one(model, target, spec, args, seed)
                rows.append(r)
                print(f"  {target:12s} {spec:15s} {fmt(seed):>4s} {r['status']:7s} "
                      f"{r['seconds']:6.1f} s "
                      + (f"{r['luts']} LUT4, {r['ffs']} FF, Fmax {fmt(r.get('fmax_mhz'), 1)}"
                         if r["status"] == "ok" else r.get("message", "")[:150]), flush=True)
    hdr = ("target", "arch", "seed", "est LUT", "LUT4", "LC/COMB", "FF", "carry", "Fmax MHz",
           "lat cyc", "II", "inf/s @Fmax", "build s")
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        if r["status"] != "ok":
            est = r["estimate"].split("~")[1].split(" ")[0] if "~" in r["estimate"] else "-"
            print(f"| {r['target']} | {r['arch']} | {fmt(r.get('seed'))} | {est} | "
                  f"{r['status']} | | | | | | | | |")
            continue
        print("| " + " | ".join([
            r["target"], r["arch"], fmt(r.get("seed")), fmt(r["estimate"]["luts"]),
            fmt(r["luts"]),
            fmt(r.get("logic_cells")), fmt(r["ffs"]), fmt(r["carry"]),
            fmt(r.get("fmax_mhz"), 1), fmt(r["latency_cycles"]), fmt(r["initiation_interval"]),
            fmt(r.get("throughput_per_s")), fmt(r["build_seconds"], 1)]) + " |")
    if len(seeds) > 1:                  # the spread over seeds, per configuration
        print()
        for target in targets.split(","):
            for spec in args.archs.split(","):
                f = sorted(r["fmax_mhz"] for r in rows if r["target"] == target
                           and r["arch"] == spec and r["status"] == "ok" and r.get("fmax_mhz"))
                if f:
                    print(f"  {target:12s} {spec:22s} Fmax over {len(f)} seeds: min "
                          f"{f[0]:.1f}, median {f[len(f) // 2]:.1f}, max {f[-1]:.1f} MHz")
    with open(os.path.join(args.out, "hw_bench.json"), "w") as f:
        json.dump(rows, f, indent=1, default=str)


if __name__ == "__main__":
    main()
