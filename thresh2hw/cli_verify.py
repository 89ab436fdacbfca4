"""``thresh2hw verify MODEL --engine {pysim,verilator,cxxrtl,netlist,formal,all}``.

Checks the circuit of a model file against the integer reference model with one or more
engines: Amaranth's simulator, Verilator (compiled C++ harness), the post-synthesis iCE40 and
ECP5 netlists with the vendor cell models, and a formal equivalence proof (SymbiYosys + yices).
Exit 0 when every engine agrees with the reference, 1 on a mismatch or failed proof, 3 when
nothing disagreed but a proof gave no verdict (timeout, an induction that did not close), 2 for
usage problems and missing tools.
"""
import os

import numpy as np

from . import cli as _cli
from .cli import UserError, _check_writable_file, _input_codes, _load_model, _write_json

__all__ = ["register", "cmd_verify"]

ENGINE_CHOICES = ("pysim", "verilator", "cxxrtl", "netlist", "formal", "all")
FIX = "pip install 'thresh2hw[verify]'"
TOP = "thresh2hw_top"


def register(sub, common):
    v = sub.add_parser("verify", parents=[common],
                       help="check the circuit with compiled, post-synthesis and formal engines")
    v.add_argument("model")
    v.add_argument("--engine", choices=ENGINE_CHOICES, default="verilator",
                   help="verilator (default), pysim, cxxrtl (Yosys CXXRTL + g++), netlist "
                        "(iCE40 + ECP5 post-synthesis), formal (SymbiYosys proof), or all")
    v.add_argument("--vectors", metavar="FILE",
                   help="CSV or .npz of real-valued features (quantized by the model; "
                        "default: none)")
    v.add_argument("--label", help="label column of a CSV to skip (default: last)")
    v.add_argument("--no-label", action="store_true", help="the data has no label column")
    v.add_argument("--codes", action="store_true",
                   help="the vectors file holds integer input codes, not real features")
    v.add_argument("--random", type=int, default=1000, metavar="N",
                   help="also check N random vectors (default 1000)")
    v.add_argument("--exhaustive", choices=["auto", "yes", "no"], default="auto",
                   help="check every input: auto = when the input space is at most 2^20 "
                        "(compiled engines; pysim up to 2^12, beyond that only with yes)")
    v.add_argument("--backpressure", type=float, default=None, metavar="P",
                   help="simulation engines: probability of o__ready low and of an input "
                        "bubble in each cycle (seeded; default 0)")
    v.add_argument("--seed", type=_cli._random_seed, default=0,
                   help="seed of the random vectors, 0..4294967295")
    v.add_argument("--subset", type=int, default=None, metavar="K",
                   help="check the sub-model of the first K first-layer neurons (the next "
                        "layer restricted to them) instead of the whole network: makes "
                        "post-synthesis checks of large networks affordable (default: the "
                        "whole network)")
    # engine-specific options default to None so that a given one the engine would ignore
    # is seen (and refused) by _reject_inapplicable
    v.add_argument("--family", choices=["ice40", "ecp5", "both"], default=None,
                   help="netlist engine: FPGA family (default both)")
    v.add_argument("--reference", choices=["spec", "circuit"], default=None,
                   help="formal: prove equal to the spec written from the integer model "
                        "(default) or to the combinational circuit")
    v.add_argument("--proof", choices=["pdr", "kind", "bmc"], default=None,
                   help="formal: pdr = unbounded proof with ABC PDR under free back-pressure "
                        "(default); kind = unbounded k-induction (smtbmc + yices) against a "
                        "fixed-latency scoreboard, consumer always ready; bmc = bounded check "
                        "from reset")
    v.add_argument("--depth", type=int, default=None,
                   help="formal: k-induction length (default 2*latency + 2) or BMC depth "
                        "(default latency + 4); not used by pdr")
    v.add_argument("--formal-timeout", type=_cli._positive_float, default=None, metavar="S",
                   help="formal: give up on the proof after S seconds (default 900)")
    v.add_argument("--cache-dir", help="build cache (default $THRESH2HW_CACHE or "
                                       "~/.cache/thresh2hw)")
    v.add_argument("--vcd", metavar="FILE",
                   help="simulation engines: write a waveform of the first mismatch (window "
                        "re-run with tracing; default: none)")
    v.add_argument("--json", metavar="FILE", help="write the results as JSON (default: none)")
    _cli._add_arch_options(v)                      # pipelined / folded architectures
    v.set_defaults(func=cmd_verify)


def _build(net, args):
    """The circuit in the requested architecture (parameters checked against ``net``)."""
    from . import hdl
    params = _cli._arch_params(args, net)
    try:
        return hdl.build_circuit(net, **params)
    except ValueError as exc:
        raise UserError(_cli._cli_terms(str(exc))) from None


SIM_ENGINES = "the simulation engines (pysim, verilator, cxxrtl, netlist)"
#: Defaults of the engine-specific options (None in the parser: see register).
ENGINE_DEFAULTS = {"family": "both", "reference": "spec", "proof": "pdr", "formal_timeout": 900.0,
                   "backpressure": 0.0}


def _reject_inapplicable(args):
    """An option the chosen engine would silently ignore is refused, naming its engine(s);
    then the defaults of the unset ones are filled in."""
    e = args.engine
    if e not in ("netlist", "all"):
        _cli._reject_unused(args, ["--family"], f"--engine netlist or all, not {e}",
                            "drop it or use --engine netlist")
    if e not in ("formal", "all"):
        _cli._reject_unused(args, ["--reference", "--proof", "--depth", "--formal-timeout"],
                            f"--engine formal or all, not {e}", "drop it or use --engine formal")
    if e == "formal":
        _cli._reject_unused(args, ["--backpressure", "--vcd"], f"{SIM_ENGINES}, not formal",
                            "drop it or choose one of those engines")
    for name, value in ENGINE_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def _engines(args):
    if args.engine == "all":
        names = ["pysim", "verilator", "cxxrtl", "netlist", "formal"]
    else:
        names = [args.engine]
    out = []
    for n in names:
        if n == "netlist":
            out += ["netlist-ice40", "netlist-ecp5"] if args.family == "both" \
                else [f"netlist-{args.family}"]
        else:
            out.append(n)
    return out


def _require(engine):
    """Raise UserError (one line, with the fix) when an engine's tools are missing."""
    from .sim.engines import EngineUnavailable
    try:
        if engine == "verilator" or engine.startswith("netlist-"):
            from .sim.verilator import _tool
            _tool()
        if engine.startswith("netlist-"):
            from .sim.netlist import _yosys, yosys_share_dir
            _yosys()
            yosys_share_dir()
        if engine == "formal":
            from .sim.formal import _tools
            _tools()
        if engine == "cxxrtl":
            from .sim.cxxrtl import _tools as cxxrtl_tools
            cxxrtl_tools()
    except EngineUnavailable as exc:
        msg = str(exc)
        if "pip install" not in msg:
            msg = f"{msg} (fix: {FIX})"
        raise UserError(f"engine {engine}: {msg}") from None


def _vectors(args, net, log):
    from .sim import adversarial_vectors, random_vectors
    from .sim.exhaustive import EXHAUSTIVE_LIMIT, all_inputs, input_space_size
    rng = np.random.default_rng(args.seed)
    data_Q, label = _input_codes(args, net)
    parts = [data_Q, adversarial_vectors(net, rng)]
    if args.random:
        parts.append(random_vectors(net, args.random, rng))
    Q = np.vstack([p for p in parts if len(p)])
    size = input_space_size(net)
    exhaustive = None
    if args.exhaustive == "yes" and size > EXHAUSTIVE_LIMIT:
        raise UserError(f"the input space has {size} vectors, more than the exhaustive limit "
                        f"{EXHAUSTIVE_LIMIT}")
    if args.exhaustive != "no" and size <= EXHAUSTIVE_LIMIT:
        exhaustive = np.vstack([data_Q, all_inputs(net)]) if len(data_Q) else all_inputs(net)
    return Q, exhaustive, label, len(data_Q)


def cmd_verify(args, log):
    from .emit import convert_verilog
    from .sim.exhaustive import check_engine
    _reject_inapplicable(args)                   # usage errors before any work
    net = _load_model(args.model)
    if args.subset is not None:
        from .sim.netlist import first_neurons
        n_first = net.hidden[0].n_out
        try:
            net = first_neurons(net, args.subset)
        except ValueError as exc:
            raise UserError(f"--subset: {exc}") from None
        log(f"[subset]   checking the first {args.subset} of {n_first} first-layer neurons")
    for f in (args.json, args.vcd):
        if f:
            _check_writable_file(f)
    if not 0 <= args.backpressure < 1:
        raise UserError(f"--backpressure must lie in [0, 1), not {args.backpressure}")
    if args.random < 0:
        raise UserError("--random must be non-negative")
    if args.depth is not None and args.depth < 1:
        raise UserError(f"--depth must be a positive number of cycles, not {args.depth}")
    if args.depth is not None and args.proof == "pdr" and args.engine in ("formal", "all"):
        raise UserError("--depth is not used by --proof pdr (an unbounded proof); use "
                        "--proof kind or --proof bmc")
    if (args.proof == "kind" and args.engine in ("formal", "all")
            and getattr(args, "flow_control", None) == "credit"):
        raise UserError("--proof kind cannot prove --flow-control credit (k-induction never "
                        "sees a steady stream drain the output queue); use --proof pdr")
    engines, skipped = _engines(args), []
    for e in list(engines):
        try:
            _require(e)
        except UserError as exc:
            if args.engine != "all":
                raise
            engines.remove(e)                     # 'all': run what is installed, say why not
            skipped.append({"engine": e, "ok": None, "status": "SKIP", "reason": str(exc),
                            "vectors": None, "mismatches": None, "vectors_per_s": None,
                            "build_seconds": 0.0, "first_mismatch": None})
            log(f"[{e}] skipped: {exc}")
    if not engines:
        raise UserError(f"no verification engine is installed (fix: {FIX})")
    if args.vectors is None and (args.codes or args.label or args.no_label):
        raise UserError("--codes/--label/--no-label need --vectors FILE")
    args.data = args.vectors
    Q, QX, label, n_data = _vectors(args, net, log)
    circuit = _build(net, args)
    latency = circuit.latency
    verilog = convert_verilog(circuit, TOP)
    results, failed, undecided, vcd_done = list(skipped), False, False, False
    for engine in engines:
        if engine == "formal":
            from .sim.formal import default_depth, prove_equivalent
            mode = "bmc" if args.proof == "bmc" else "prove"
            depth = args.depth or default_depth(latency, mode, args.proof)
            what = {"pdr": "unbounded proof, ABC PDR, free back-pressure",
                    "kind": f"unbounded proof, k-induction of length {depth}, consumer "
                            f"always ready",
                    "bmc": f"bounded, {depth} cycles from reset"}[args.proof]
            log(f"[formal]   proving {TOP} == {args.reference} for every input ({what})...")
            try:
                r = prove_equivalent(net, verilog, TOP, latency=latency, depth=depth,
                                     mode=mode, engine=args.proof if mode == "prove" else None,
                                     reference=args.reference, timeout=args.formal_timeout)
            except ValueError as exc:
                raise UserError(f"engine formal: {exc}") from None
            d = r.to_dict()
            results.append(d)
            log(f"[formal]   {r.status} in {r.seconds:.1f} s"
                + (f": {r.reason}" if r.reason else ""))
            if r.status in ("UNKNOWN", "TIMEOUT"):  # no verdict (no counterexample either)
                undecided = True
            else:
                failed |= not r.ok
            continue
        vecs = Q
        if QX is not None and (engine != "pysim" or args.exhaustive == "yes"
                               or len(QX) <= (1 << 12) + n_data):
            vecs = QX
        kind = "all inputs" if vecs is QX else "vectors"
        run_kw = dict(bubbles=args.backpressure, stalls=args.backpressure, seed=args.seed)
        if engine != "pysim":
            run_kw["cache_dir"] = args.cache_dir
            run_kw["interval"] = circuit.initiation_interval    # cycle budget per vector
        try:
            r = check_engine(engine, net, vecs, verilog=verilog, top=TOP, circuit=circuit
                             if engine == "pysim" else None, **run_kw)
        except RuntimeError as exc:
            raise UserError(f"engine {engine}: {str(exc).splitlines()[0]}") from None
        d = r.to_dict()
        d["exhaustive"] = vecs is QX
        results.append(d)
        build = (f", build {r.build_seconds:.1f} s" if r.build_seconds else
                 (", build cached" if engine != "pysim" else ""))
        verdict = ("0 mismatches" if r.ok else f"{r.mismatches} MISMATCHES" if r.mismatches
                   else "FAILED")
        cpu = r.extra.get("cpu_seconds")
        per_cpu = f", {r.vectors / cpu:,.0f} per CPU-second" if cpu else ""
        log(f"[{engine}] {r.vectors} {kind}: {verdict} ({r.vectors_per_s:,.0f} vectors/s"
            f"{per_cpu}{build})")
        for e in r.errors:
            log(f"           error: {e}")
        if r.first_mismatch is not None:
            fm = r.first_mismatch
            log(f"           first mismatch: vector {fm.index}, expected {fm.expected}, got "
                f"{fm.got}, inputs {fm.inputs}")
            if args.vcd and not vcd_done:
                _write_vcd(args.vcd, engine, net, vecs, fm.index, verilog, circuit, args, log)
                vcd_done = True
        failed |= not r.ok
    if args.vcd and not vcd_done:
        log(f"[vcd]      no mismatch: {args.vcd} not written")
    if args.json:
        summary = results[0] if len(results) == 1 else {
            "engine": args.engine, "ok": not (failed or undecided),
            "vectors": sum(r["vectors"] or 0 for r in results),
            "mismatches": sum(r["mismatches"] or 0 for r in results if r["mismatches"]),
            "vectors_per_s": None, "build_seconds": round(sum(r["build_seconds"] or 0
                                                              for r in results), 3),
            "first_mismatch": next((r["first_mismatch"] for r in results
                                    if r["first_mismatch"]), None)}
        _write_json(args.json, {**summary, "engines": results, "model": args.model,
                                "latency": latency, "subset": args.subset,
                                "architecture": getattr(circuit, "architecture",
                                                        "combinational")})
    return 1 if failed else 3 if undecided else 0


def _write_vcd(path, engine, net, Q, index, verilog, circuit, args, log):
    """Re-run a window of vectors around the first mismatch with tracing on."""
    from .sim.exhaustive import check_engine
    lo = max(0, index - 8)
    W = Q[lo:index + 4]
    if engine in ("pysim", "cxxrtl"):                  # cxxrtl: no tracing, use pysim
        check_engine("pysim", net, W, circuit=circuit, vcd=path)
    else:
        check_engine(engine, net, W, verilog=verilog, top=TOP, vcd=os.path.abspath(path),
                     cache_dir=args.cache_dir)
    log(f"[vcd]      {path}: vectors {lo}..{lo + len(W) - 1} (mismatch at {index} is window "
        f"position {index - lo})")
