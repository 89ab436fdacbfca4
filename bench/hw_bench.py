"""Hardware benchmark: the digits network on iCE40 UP5K (iCEBreaker) and ECP5 (ULX3S), per
architecture, through the open toolchain (``thresh2hw build``). Not a test.

    python bench/hw_bench.py                          # boards: icebreaker, ulx3s-85f
    python bench/hw_bench.py --ooc                    # synthesis only (up5k, lfe5u-85f): faster
    python bench/hw_bench.py --model my.json --archs combinational,folded:1 --force

Model: ``--model``, else ``thresh2hw-out/model.json`` (from ``thresh2hw demo``) if present, else
a digits network trained with ``--beta`` (default 0.3 x beta_max, ~70 neurons) and cached in the
output directory. Board numbers include the UART link; out-of-context numbers are the bare
network. A configuration whose plan estimate exceeds the device is reported as "no fit" without
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
    if name == "pipelined":
        return ["--arch", "pipelined", "--pipeline-stages", value or "2"]
    if name == "folded":
        return ["--arch", "folded", "--fold", value or "1"]
    raise SystemExit(f"unknown architecture spec {spec!r}")


def get_model(args):
    if args.model:
        return args.model
    demo = os.path.join("thresh2hw-out", "model.json")
    if os.path.exists(demo):
        return demo
    path = os.path.join(args.out, f"digits_beta{args.beta}.json")
    if os.path.exists(path):
        return path
    from thresh2hw.data import load_builtin
    from thresh2hw.pipeline import TrainConfig, split, train_integer_model
    X, y = load_builtin("digits")
    Xtr, _, ytr, _ = split(X, y, 0.2, 0)
    cfg = TrainConfig()
    cfg.beta = args.beta
    t0 = time.perf_counter()
    out = train_integer_model(Xtr, ytr, "classification", cfg, meta={"dataset": "digits"})
    os.makedirs(args.out, exist_ok=True)
    out.network.save(path)
    print(f"trained digits (beta {args.beta}): {out.network.hidden[0].n_out} neurons, "
          f"{time.perf_counter() - t0:.0f} s -> {path}", file=sys.stderr)
    return path


def run_one(model, target, spec, args):
    tag = f"{target}-{spec.replace(':', '')}"
    out = os.path.join(args.out, tag)
    js = os.path.join(args.out, f"{tag}.json")
    if args.ooc:
        where = ["--board", "none", "--device", target]
    else:
        where = ["--board", target]
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
    rec.update(target=target, arch=spec, status="ok", seconds=secs)
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
    p.add_argument("--beta", type=float, default=0.3)
    p.add_argument("--out", default="thresh2hw-bench")
    p.add_argument("--ooc", action="store_true", help="synthesis only, no boards")
    p.add_argument("--targets", help="boards (or devices with --ooc); default icebreaker,"
                                     "ulx3s-85f (up5k,lfe5u-85f with --ooc)")
    p.add_argument("--archs", default="combinational,pipelined:2,folded:1,folded:8")
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
    rows = []
    for target in targets.split(","):
        for spec in args.archs.split(","):
            r = run_one(model, target, spec, args)
            rows.append(r)
            print(f"  {target:12s} {spec:15s} {r['status']:7s} {r['seconds']:6.1f} s "
                  + (f"{r['luts']} LUT4, {r['ffs']} FF, Fmax {fmt(r.get('fmax_mhz'), 1)}"
                     if r["status"] == "ok" else r.get("message", "")[:150]), flush=True)
    hdr = ("target", "arch", "est LUT", "LUT4", "LC/COMB", "FF", "carry", "Fmax MHz", "lat cyc",
           "II", "inf/s @Fmax", "build s")
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        if r["status"] != "ok":
            est = r["estimate"].split("~")[1].split(" ")[0] if "~" in r["estimate"] else "-"
            print(f"| {r['target']} | {r['arch']} | {est} | {r['status']} | | | | | | | | |")
            continue
        print("| " + " | ".join([
            r["target"], r["arch"], fmt(r["estimate"]["luts"]), fmt(r["luts"]),
            fmt(r.get("logic_cells")), fmt(r["ffs"]), fmt(r["carry"]),
            fmt(r.get("fmax_mhz"), 1), fmt(r["latency_cycles"]), fmt(r["initiation_interval"]),
            fmt(r.get("throughput_per_s")), fmt(r["build_seconds"], 1)]) + " |")
    with open(os.path.join(args.out, "hw_bench.json"), "w") as f:
        json.dump(rows, f, indent=1, default=str)


if __name__ == "__main__":
    main()
