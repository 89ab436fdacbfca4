# amaranth: UnusedElaboratable=no
"""Build seconds and vectors/s of every verification engine on a digits-sized network.

    python bench/verify_bench.py [--vectors N] [--hidden H] [--cache-dir DIR] [--engines ...]

The network is random but digits-shaped (64 inputs x 8 bits, H hidden neurons, 10 classes);
pass --model FILE to measure a trained model instead. Builds go to a fresh cache directory
unless --cache-dir is given (a second run with the same directory shows cached builds).
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def digits_like(hidden, features=64, seed=0):
    from conftest import random_network
    return random_network(np.random.default_rng(seed), d=features, hidden=(hidden,), n_out=10,
                          input_bits=8, wmax=7, vmax=20, sparsity=0.5)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: random digits-shaped network)")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--vectors", type=int, default=200_000)
    p.add_argument("--pysim-vectors", type=int, default=300)
    p.add_argument("--engines", default="pysim,verilator,cxxrtl,netlist-ice40,netlist-ecp5,"
                                        "formal-small")
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args()
    from thresh2hw.emit import convert_verilog
    from thresh2hw.hdl import ThresholdNetworkCircuit
    from thresh2hw.model import IntegerNetwork
    from thresh2hw.sim import random_vectors
    from thresh2hw.sim.exhaustive import check_engine
    net = IntegerNetwork.load(args.model) if args.model else digits_like(args.hidden,
                                                                          args.features)
    cache = args.cache_dir or tempfile.mkdtemp(prefix="thresh2hw-bench-")
    rng = np.random.default_rng(1)
    Q = random_vectors(net, args.vectors, rng)
    print(f"network: {net.n_features} inputs x {net.input_bits} bit, hidden "
          f"{[l.n_out for l in net.hidden]}, {net.n_scores} scores; cache {cache}")
    t0 = time.perf_counter()
    circuit = ThresholdNetworkCircuit(net)
    verilog = convert_verilog(circuit, "thresh2hw_top")
    print(f"verilog emission: {time.perf_counter() - t0:.1f} s, {len(verilog) / 1e6:.2f} MB")
    t0 = time.perf_counter()
    net.forward(Q)
    ref = time.perf_counter() - t0
    print(f"{'numpy reference':>16}: {len(Q) / ref:>12,.0f} vectors/s")
    for engine in args.engines.split(","):
        if engine == "formal-small":
            bench_formal()
            continue
        vec = Q[:args.pysim_vectors] if engine == "pysim" else Q
        kw = {} if engine == "pysim" else {"cache_dir": cache}
        t0 = time.perf_counter()
        r = check_engine(engine, net, vec, verilog=verilog, circuit=circuit, **kw)
        wall = time.perf_counter() - t0
        print(f"{engine:>16}: {r.vectors_per_s:>12,.0f} vectors/s ({r.vectors} vectors, "
              f"{r.mismatches} mismatches), build {r.build_seconds:.1f} s"
              f"{' (cached)' if r.cached else ''}, wall {wall:.1f} s")
        if engine == "verilator":        # same design again: must come from the cache
            r2 = check_engine(engine, net, vec, verilog=verilog, stalls=0.3, bubbles=0.3,
                              seed=1, **kw)
            print(f"{'  (cached, bp)':>16}: {r2.vectors_per_s:>12,.0f} vectors/s with 30 % "
                  f"bubbles + back-pressure, build {r2.build_seconds:.1f} s, "
                  f"{r2.mismatches} mismatches")


def bench_formal():
    from conftest import random_network
    from thresh2hw.emit import convert_verilog
    from thresh2hw.hdl import ThresholdNetworkCircuit
    from thresh2hw.sim.formal import prove_equivalent
    for d, h, bits in ((3, 4, 3), (4, 6, 4), (8, 8, 4)):
        net = random_network(np.random.default_rng(2), d=d, hidden=(h,), n_out=3,
                             input_bits=bits)
        v = convert_verilog(ThresholdNetworkCircuit(net), "thresh2hw_top")
        for kw in ({"engine": "pdr"}, {"engine": "kind"}, {"mode": "bmc"}):
            r = prove_equivalent(net, v, "thresh2hw_top", latency=1, **kw)
            what = r.extra.get("proof_engine", "?")
            depth = "unbounded" if r.depth is None else f"depth {r.depth}"
            print(f"{'formal ' + what:>16}: {d} x {bits} bit inputs, {h} neurons, {depth}: "
                  f"{r.status} in {r.seconds:.1f} s")


if __name__ == "__main__":
    main()
