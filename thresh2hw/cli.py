"""Command line: ``thresh2hw demo | train | compile | simulate | predict``.

Every user-facing failure ends in one line ``thresh2hw: error: ...`` and a non-zero exit
(2 for bad usage or input, 1 for a failed check); outputs are written atomically.
"""
import argparse
import contextlib
import json
import os
import re
import signal
import sys
import time
import warnings

import numpy as np

from . import __version__
from .model import MAX_INPUT_BITS

__all__ = ["main"]


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help shows its default: ``(default: X)`` is appended unless the text
    already says it (options whose default is None or off describe it in words)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.required
                or any(action.default is d for d in (None, False, argparse.SUPPRESS))):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)    # subparsers too
        super().__init__(*args, **kwargs)

    def error(self, message):                  # one line, not usage + message
        raise UserError(f"{message} (see '{self.prog} --help')")


#: Library parameter names in ValueError texts -> the CLI options that set them. The library
#: messages stay Python-facing; the CLI rephrases them (``_cli_terms``).
_CLI_TERMS = ((re.compile(r"\barchitecture='(\w+)'"), r"--arch \1"),
              (re.compile(r"(?<![-\w])(pipeline_stages|fold|beta_cv|n_arrangements|input_bits|"
                          r"weight_bits|output_bits|lattice_bits|layer_width|flow_control|"
                          r"share_terms)\b(=?)"),
               lambda m: "--" + m[1].replace("_", "-") + (" " if m[2] else "")))


def _cli_terms(message):
    """``message`` with Python parameter names replaced by the CLI options that set them."""
    for pattern, repl in _CLI_TERMS:
        message = pattern.sub(repl, message)
    return message


def _reject_unused(args, options, applies_to, fix):
    """Options that would be silently ignored are a user mistake: say where they apply.
    ``options``: CLI names whose argparse default is None (so only given ones are seen)."""
    for opt in options:
        if getattr(args, opt.lstrip("-").replace("-", "_")) is not None:
            raise UserError(f"{opt} applies only to {applies_to}; {fix}")


class _Log:
    def __init__(self, quiet):
        self.quiet = quiet

    def __call__(self, msg):
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)

    def progress(self, label):
        if self.quiet or not sys.stderr.isatty():
            return None

        def show(k, n):
            print(f"\r  {label}: {k}/{n}", end="", file=sys.stderr, flush=True)
        return show

    def end_progress(self):
        if not self.quiet and sys.stderr.isatty():
            print("\r\033[K", end="", file=sys.stderr, flush=True)


# -- argument helpers ---------------------------------------------------------------------------
def _positive_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not (np.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"{s!r} is not a positive number")
    return v


_VERILOG_KEYWORDS = frozenset("""always and assign automatic begin buf case casex casez cell
config deassign default defparam design disable edge else end endcase endconfig endfunction
endgenerate endmodule endprimitive endspecify endtable endtask event for force forever fork
function generate genvar if ifnone initial inout input instance integer join large liblist
library localparam macromodule medium module nand negedge nmos nor not or output parameter pmos
posedge primitive pull0 pull1 pulldown pullup rcmos real realtime reg release repeat rnmos rpmos
rtran rtranif0 rtranif1 scalared signed small specify specparam strong0 strong1 supply0 supply1
table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use vectored
wait wand weak0 weak1 while wire wor xnor xor logic bit byte int""".split())


def _module_name(s):
    # Also a file name stem: a plain Verilog identifier can never escape the output directory.
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", s) or s in _VERILOG_KEYWORDS:
        raise argparse.ArgumentTypeError(f"{s!r} is not a plain Verilog identifier "
                                         f"(letters, digits, _; not a keyword)")
    return s


def _float_list(s):
    return tuple(_positive_float(t) for t in s.split(",") if t.strip())


def _bits(lo, hi, range_text=None):
    """An integer in ``lo..hi``; ``range_text`` says the range where ``hi`` is only a
    sanity bound (the real one depends on the model)."""
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is outside {range_text or f'{lo}..{hi}'}")
        return v
    return parse


#: A random seed: what numpy and scikit-learn both accept.
_random_seed = _bits(0, 2 ** 32 - 1)


def _test_fraction(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not 0 <= v < 1:                          # also rejects NaN
        raise argparse.ArgumentTypeError(f"{s} is not a fraction in [0, 1) (e.g. 0.2 holds "
                                         f"out 20% of the samples; 0 for no test set)")
    return v


def _stages(s):
    if s == "max":
        return s
    try:
        return _bits(0, 10 ** 6)(s)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number of stages (0 or more) or "
                                         f"'max'") from None


def _add_arch_options(p):
    g = p.add_argument_group("circuit architecture")
    g.add_argument("--arch", choices=["combinational", "pipelined", "folded"], default=None,
                   help="combinational (default; latency 1), pipelined (register cuts in the "
                        "datapath, one vector per cycle) or folded (K input features per cycle)")
    g.add_argument("--pipeline-stages", type=_stages, default=None, metavar="N",
                   help="pipelined: register cuts spread through the datapath, or 'max' "
                        "(default 1; latency N+1); with --fold: cuts in the folded circuit's "
                        "tail after the first layer (default 0; latency C+1+N); otherwise "
                        "implies --arch pipelined")
    g.add_argument("--fold", type=_bits(1, 10 ** 6, "1..n_features"), default=None, metavar="K",
                   help="folded: input features per cycle, 1..n_features (default 1; a "
                        "vector takes ceil(features/K) cycles); implies --arch folded")
    g.add_argument("--flow-control", choices=["stall", "credit"], default=None,
                   help="pipelined: back-pressure by a global stall (default; latency N+1) or "
                        "by credit, free-running stages into an output queue (higher Fmax on "
                        "large datapaths; latency N+2); implies --arch pipelined")
    g.add_argument("--share-terms", action="store_true", default=None,
                   help="combinational and pipelined: build the sums of input pairs that "
                        "recur across a layer's neurons once and share them (fewer adders; "
                        "not with --arch folded)")


def _arch_params(args, net=None):
    """``build_circuit`` keyword arguments from the architecture options (checked against
    ``net`` when given)."""
    params = {k: v for k, v in (("pipeline_stages", args.pipeline_stages),
                                ("fold", args.fold),
                                ("flow_control", getattr(args, "flow_control", None)),
                                ("share_terms", getattr(args, "share_terms", None)))
              if v is not None}
    if net is not None and params.get("fold", 1) > net.n_features:
        # a larger K would only add idle input lanes: reject it rather than build them
        raise UserError(f"--fold {params['fold']} is outside 1..{net.n_features} (the model "
                        f"has {net.n_features} input features)")
    arch = args.arch
    if arch is None:
        arch = ("folded" if "fold" in params else
                "pipelined" if {"pipeline_stages", "flow_control"} & set(params)
                else "combinational")
    return {"architecture": arch, **params}


def _default_config():
    from .pipeline import TrainConfig
    return TrainConfig()


def _add_training_options(p):
    g = p.add_argument_group("training and quantization")
    g.add_argument("--beta", type=_positive_float, default=None,
                   help="weight decay as a fraction of beta_max (default: chosen from "
                        "--beta-grid on a validation split)")
    g.add_argument("--beta-absolute", action="store_true",
                   help="read --beta/--beta-grid as absolute values, not fractions of beta_max")
    g.add_argument("--beta-grid", type=_float_list, default=None, metavar="B1,B2,...",
                   help="candidates for the validation choice of beta (default: "
                        + ",".join(f"{b:g}" for b in _default_config().beta_grid) + ")")
    g.add_argument("--n-arrangements", type=_bits(1, 10 ** 7), default=None, metavar="P",
                   help="directions sampled for the pattern dictionary (default 4000)")
    g.add_argument("--sampler", choices=["gaussian", "data", "pairs", "lattice"], default=None,
                   help="direction sampler (default gaussian; demo: lattice with --cost-weighted); "
                        "lattice: integer weights on the "
                        "input codes, which are the hardware weights (no quantization error)")
    g.add_argument("--lattice-bits", type=_bits(2, 16), default=None, metavar="K",
                   help="signed bits of lattice generators (default 2: ternary -1/0/1)")
    g.add_argument("--cost-weighted", action="store_true",
                   help="scale each neuron's penalty by its estimated adder cost")
    g.add_argument("--column-rounds", type=_bits(0, 1000), default=None, metavar="R",
                   help="column-generation rounds adding patterns that violate the dual "
                        "constraint (default 2)")
    g.add_argument("--beta-cv", type=_bits(2, 100), default=None, metavar="K",
                   help="choose beta from --beta-grid by K-fold cross-validation instead of a "
                        "validation split (default: a validation split)")
    g.add_argument("--layers", type=_bits(2, 16), default=2, metavar="N",
                   help="weight layers (default 2); N >= 3: deep network, earlier layers from "
                        "sampled arrangements, the last one by the shattered closed form or "
                        "the Lasso over patterns of the previous layer's bits")
    g.add_argument("--layer-width", type=_bits(1, 10 ** 5), default=None, metavar="M",
                   help="deep networks: neurons per sampled hidden layer (default 256)")
    g.add_argument("--separator", choices=["pinv", "ridge", "svm"], default=None,
                   help="deep networks, shattered case: neuron reconstruction (pinv = the "
                        "paper's Convex-PI, default; ridge or svm: larger margins)")
    g.add_argument("--deep-mode", choices=["auto", "shattered", "lasso"], default=None,
                   help="deep networks: last layer by the shattered closed form (needs full "
                        "rank), the Lasso, or auto (default; shattered iff the rank condition "
                        "holds)")
    g.add_argument("--no-scan-bias", action="store_true",
                   help="keep sampled biases instead of the best bias per direction")
    g.add_argument("--solver", choices=["auto", "fast", "cvxpy"], default="auto",
                   help="Lasso solver: cvxpy+CLARABEL is the reference, fast the default")
    g.add_argument("--seed", type=_random_seed, default=0,
                   help="random seed, 0..4294967295 (default 0)")
    g.add_argument("--input-bits", type=_bits(1, MAX_INPUT_BITS), default=8,
                   help=f"unsigned bits per input code, 1..{MAX_INPUT_BITS}")
    g.add_argument("--weight-bits", type=_bits(2, 16), default=6,
                   help="signed bits per first-layer weight")
    g.add_argument("--output-bits", type=_bits(2, 16), default=8,
                   help="signed bits per output weight")


def _config(args, default_sampler="gaussian", **defaults):
    from .pipeline import TrainConfig
    if (args.sampler or default_sampler) != "lattice":
        _reject_unused(args, ["--lattice-bits"], "--sampler lattice",
                       "add --sampler lattice or drop --lattice-bits")
    if args.layers < 3:
        _reject_unused(args, ["--layer-width", "--separator", "--deep-mode"],
                       "deep networks (--layers 3 or more)", "add --layers 3 or drop it")
    if args.beta is not None:                  # an explicit beta skips the choice of beta
        for flag, val in (("--beta-cv", args.beta_cv), ("--beta-grid", args.beta_grid)):
            if val:
                raise UserError(f"{flag} and --beta are mutually exclusive ({flag} chooses "
                                f"beta, --beta fixes it)")
    cfg = TrainConfig(**defaults)
    cfg.beta = args.beta
    if args.beta_grid:
        cfg.beta_grid = args.beta_grid
    cfg.beta_scale = "absolute" if args.beta_absolute else "max"
    if args.n_arrangements:
        cfg.n_arrangements = args.n_arrangements
    if args.sampler:
        cfg.sampler = args.sampler
    if args.column_rounds is not None:
        cfg.column_rounds = args.column_rounds
    if args.lattice_bits is not None:
        cfg.lattice_bits = args.lattice_bits
    cfg.cost_weighted = args.cost_weighted
    cfg.scan_bias = not args.no_scan_bias
    cfg.beta_cv, cfg.n_layers = args.beta_cv or 0, args.layers
    for name in ("layer_width", "separator", "deep_mode"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    cfg.solver, cfg.seed = args.solver, args.seed
    cfg.input_bits, cfg.weight_bits, cfg.output_bits = \
        args.input_bits, args.weight_bits, args.output_bits
    return _check_config(cfg)


def _check_config(cfg):
    try:                                       # before any output exists
        cfg.check()
    except ValueError as exc:
        raise UserError(_cli_terms(str(exc))) from None
    return cfg


def _ensure_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"output directory {path} is not writable")


@contextlib.contextmanager
def _output_dir(path):
    """``_ensure_dir(path)``; if the command then fails, a directory it created is removed again
    while still empty (no half-made output left behind)."""
    created = not os.path.exists(path)
    _ensure_dir(path)
    try:
        yield path
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(path)                 # only succeeds while empty
        raise


def _check_writable_file(path):
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UserError(f"cannot write {path}: directory {d} does not exist")
    if not os.access(d, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: directory {d} is not writable")
    if os.path.isdir(path):
        raise UserError(f"cannot write {path}: it is a directory")


def _write_json(path, obj):
    from ._io import write_text_atomic
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True, default=_json_default)
                      + "\n")


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _load_model(path):
    from .model import IntegerNetwork, ModelFormatError
    try:
        return IntegerNetwork.load(path)
    except ModelFormatError as exc:
        msg = str(exc)                     # some messages name the file already
        raise UserError(msg if str(path) in msg else f"{path}: {msg}") from None


def _load_data(path, label, has_label=True):
    from .data import DataError, load_dataset
    try:
        return load_dataset(path, label=label, has_label=has_label)
    except DataError as exc:
        raise UserError(str(exc)) from None


def _quantize_for(net, X, what):
    if X.shape[1] != net.n_features:
        raise UserError(f"{what} has {X.shape[1]} features but the model expects "
                        f"{net.n_features}")
    if net.input_quantizer is None:
        raise UserError("the model has no input quantizer; pass integer codes with --codes")
    return net.input_quantizer.transform(X)


def _codes_for(net, X, what):
    if X.shape[1] != net.n_features:
        raise UserError(f"{what} has {X.shape[1]} features but the model expects "
                        f"{net.n_features}")
    try:
        return net.check_inputs(X)
    except ValueError as exc:
        raise UserError(f"{what}: {exc}") from None


# -- stages shared by demo and the subcommands -------------------------------------------------
def _train_stage(X, y, task, cfg, log, meta):
    from .pipeline import train_integer_model
    try:
        out = train_integer_model(X, y, task, cfg, log=log, meta=meta)
    except ValueError as exc:
        raise UserError(_cli_terms(str(exc))) from None
    fit, q = out.fit, out.quant
    gap = "n/a" if fit.duality_gap is None else f"{fit.duality_gap:.2e}"
    log(f"[train]    {fit.n_sampled} directions -> {fit.n_distinct} distinct patterns; "
        f"beta = {fit.beta / fit.beta_max:.3g} x beta_max; {fit.network.n_hidden} hidden "
        f"neurons; Lasso objective {fit.lasso_objective:.6f}, reconstructed network "
        f"{fit.reconstructed_objective:.6f} (gap {gap}, {fit.solver}); "
        f"{out.seconds['train']:.1f} s")
    wc = getattr(fit, "width_condition", None)
    if wc:
        how = (f"the shattered closed form ({fit.separator} separators)"
               if fit.mode == "shattered" else "the Lasso")
        log(f"[deep]     layer widths {list(fit.layer_widths)}; rank of [h, 1] per sampled "
            f"layer {wc['ranks']} (n = {wc['n']}): "
            f"{'shattered' if wc['shattered'] else 'not shattered'}; last layer by {how}"
            f"; width condition m >= m* = {wc['m_star']}: "
            f"{'met' if wc['satisfied'] else 'NOT met'}")
        for l, w in enumerate(fit.layer_widths[:-1]):
            if w < cfg.layer_width:             # the data admits fewer distinct patterns
                log(f"[deep]     hidden layer {l + 1}: requested {cfg.layer_width} neurons "
                    f"(--layer-width), got {w} distinct non-constant patterns")
    log(f"[quantize] {cfg.input_bits}-bit inputs, {cfg.weight_bits}-bit weights, "
        f"{cfg.output_bits}-bit output weights; hidden bits changed on {q.changed_points}/"
        f"{q.n_points} training points; {out.seconds['quantize']:.1f} s")
    return out


def _compile_stage(net, out_dir, name, log, arch=None):
    from .emit import emit
    t0 = time.perf_counter()
    try:
        paths = emit(net, out_dir, name, **(arch or {}))
    except ValueError as exc:                   # invalid architecture parameters
        raise UserError(_cli_terms(str(exc))) from None
    secs = time.perf_counter() - t0
    size = os.path.getsize(paths["verilog"])
    log(f"[compile]  {paths['verilog']} ({size / 1e6:.2f} MB), {os.path.basename(paths['rtlil'])}"
        f", {os.path.basename(paths['interface'])}; {secs:.1f} s")
    return paths, secs


def _simulate(net, Q, log, *, adversarial=True, random=0, seed=0, vcd=None, label="data",
              arch=None):
    from .sim import adversarial_vectors, check_circuit, random_vectors
    rng = np.random.default_rng(seed)
    parts, names = [Q], [f"{len(Q)} {label}"] if len(Q) else []
    if adversarial:
        A = adversarial_vectors(net, rng)
        parts.append(A)
        names.append(f"{len(A)} adversarial")
    if random:
        R = random_vectors(net, random, rng)
        parts.append(R)
        names.append(f"{len(R)} random")
    allQ = np.vstack([p for p in parts if len(p)]) if any(len(p) for p in parts) else Q
    if not len(allQ):
        raise UserError("no vectors to simulate")
    try:
        res = check_circuit(net, allQ, vcd=vcd, progress=log.progress("simulating"),
                            **(arch or {}))
    except ValueError as exc:                   # invalid architecture parameters
        raise UserError(_cli_terms(str(exc))) from None
    log.end_progress()
    verdict = "0 mismatches" if res.ok else f"{res.mismatches} MISMATCHES"
    how = ("one per clock" if res.architecture in (None, "combinational") else
           f"{res.architecture} circuit, measured latency {res.latency} "
           f"cycle{'s' if res.latency != 1 else ''}")
    log(f"[simulate] {' + '.join(names)} vectors through Amaranth's simulator, {how}: "
        f"{verdict} ({res.vectors_per_s:.0f} vectors/s, {res.seconds:.1f} s)")
    if res.first_mismatch is not None:
        fm = res.first_mismatch
        log(f"           first mismatch: vector {fm.index}, expected {fm.expected}, got "
            f"{fm.got}, inputs {fm.inputs}")
    return res


# -- subcommands -------------------------------------------------------------------------------
def cmd_demo(args, log):
    from .data import load_builtin
    from .pipeline import accuracy, split
    out_dir = args.out
    cfg = _config(args, default_sampler="lattice" if args.layers == 2 else "gaussian")
    if args.sampler is None and args.layers == 2:
        # The demo's default: integer (ternary) generators on the input codes with cost-weighted
        # penalties -- exact hidden bits after quantization and a far smaller, faster circuit
        # than Gaussian directions (digits: 97.8% vs 95.8% float test accuracy, 0 vs all
        # training points with changed hidden bits). `--sampler gaussian` gives the plain method.
        cfg.sampler, cfg.cost_weighted = "lattice", True
        _check_config(cfg)
    if args.json:
        _check_writable_file(args.json)
    _ensure_dir(out_dir)
    seconds = {}
    t0 = time.perf_counter()
    X, y = load_builtin(args.dataset)
    Xtr, Xte, ytr, yte = split(X, y, 0.2, 0)
    seconds["load"] = time.perf_counter() - t0
    n_classes = len(np.unique(y))
    log(f"[data]     {args.dataset}: {len(X)} samples, {X.shape[1]} features, {n_classes} "
        f"classes; fixed split {len(Xtr)} train / {len(Xte)} test (seed 0)")
    out = _train_stage(Xtr, ytr, "classification", cfg, log, {"dataset": args.dataset})
    seconds.update(out.seconds)
    net, fit = out.network, out.fit
    float_acc = accuracy(_float_predict(fit.network, net.classes, Xte), yte, "classification")
    Qte = net.input_quantizer.transform(Xte)
    int_acc = accuracy(np.asarray(net.classes)[net.forward(Qte)], yte, "classification")
    log(f"           test accuracy: float {float_acc:.4f}, integer {int_acc:.4f}")
    net = _with_meta(net, _test_meta("classification", float_acc, int_acc))
    model_path = os.path.join(out_dir, "model.json")
    net.save(model_path)
    paths, seconds["compile"] = _compile_stage(net, out_dir, args.name, log)
    res = _simulate(net, Qte, log, label="test")
    seconds["simulate"] = res.seconds
    summary = {
        "dataset": args.dataset, "n_train": len(Xtr), "n_test": len(Xte),
        "n_features": X.shape[1], "n_classes": n_classes,
        "hidden_neurons": fit.network.n_hidden, "constant_neurons": None,
        "n_sampled": fit.n_sampled, "n_distinct": fit.n_distinct,
        "beta": fit.beta, "beta_relative": fit.beta / fit.beta_max,
        "beta_selection": [{"beta": b, "neurons": k, "validation_accuracy": s}
                           for b, k, s in out.selection],
        "float_test_accuracy": float_acc, "int_test_accuracy": int_acc,
        "lasso_objective": fit.lasso_objective,
        "reconstructed_objective": fit.reconstructed_objective,
        "duality_gap": fit.duality_gap, "solver": fit.solver,
        "hidden_bits_changed_train_points": out.quant.changed_points,
        "sim_vectors": res.vectors, "sim_mismatches": res.mismatches,
        "sim_first_mismatch": res.to_dict()["first_mismatch"],
        "model_path": model_path, "verilog_path": paths["verilog"],
        "rtlil_path": paths["rtlil"], "interface_path": paths["interface"],
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    with open(paths["interface"]) as f:
        summary["constant_neurons"] = json.load(f)["constant_neurons"]
    if args.json:
        _write_json(args.json, summary)
    log(f"[done]     outputs in {out_dir}/; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return 0 if res.ok else 1


def _float_predict(fnet, classes, X):
    idx = fnet.predict_index(X)
    return np.asarray(classes)[idx] if classes else idx


def _test_meta(task, float_score, int_score):
    """Test scores in model.json meta, the same keys for demo and train (models written before
    carry ``float_test_accuracy``/``int_test_accuracy`` (demo) instead; meta is free-form)."""
    return {"test_metric": "r2" if task == "regression" else "accuracy",
            "float_test_score": float_score, "int_test_score": int_score}


def _with_meta(net, extra):
    from dataclasses import replace
    return replace(net, meta={**net.meta, **extra})


def cmd_train(args, log):
    from .pipeline import accuracy, detect_task, split
    _check_writable_file(args.output)
    if args.json:
        _check_writable_file(args.json)
    cfg = _config(args)
    X, y = _load_data(args.data, args.label)
    task = detect_task(y) if args.task == "auto" else args.task
    if task == "classification":
        classes, counts = np.unique(y, return_counts=True)
        if detect_task(y) == "regression":      # non-integer numbers: one class per value
            raise UserError(f"{args.data}: labels look continuous ({len(classes)} distinct "
                            f"values, e.g. {y[y != np.round(y)][0]:g}); use --task regression")
        if len(classes) < 2:
            raise UserError(f"{args.data}: the labels hold a single class ({classes[0]}); "
                            f"classification needs at least two")
    if task == "regression" and y.dtype.kind not in "iuf":
        raise UserError(f"{args.data}: regression needs numeric labels")
    if args.test_size > 0:
        try:
            Xtr, Xte, ytr, yte = split(X, y, args.test_size, args.seed,
                                       stratify=task == "classification")
        except ValueError as exc:
            raise UserError(f"cannot split off a test set: {exc}") from None
    else:
        Xtr, ytr, Xte, yte = X, y, X[:0], y[:0]
    log(f"[data]     {args.data}: {len(X)} samples, {X.shape[1]} features, task {task}; "
        f"{len(Xtr)} train / {len(Xte)} test")
    out = _train_stage(Xtr, ytr, task, cfg, log, {"dataset": os.path.basename(args.data)})
    net, fit = out.network, out.fit
    extra = {}
    if len(Xte):
        fp = _float_predict(fit.network, net.classes, Xte) if task != "regression" else \
            fit.network.predict_index(Xte)
        ip = net.predict_labels(Xte)
        extra = _test_meta(task, accuracy(fp, yte, task), accuracy(ip, yte, task))
        kind = "R^2" if task == "regression" else "accuracy"
        log(f"           test {kind}: float {extra['float_test_score']:.4f}, integer "
            f"{extra['int_test_score']:.4f}")
    net = _with_meta(net, extra)
    net.save(args.output)
    log(f"[saved]    {args.output}")
    if args.json:
        _write_json(args.json, {"model_path": args.output, "hidden_neurons": fit.network.n_hidden,
                                **net.meta["training"], **extra,
                                "seconds": out.seconds})
    return 0


def cmd_compile(args, log):
    net = _load_model(args.model)
    arch = _arch_params(args, net)
    with _output_dir(args.out):
        _compile_stage(net, args.out, args.name, log, arch=arch)
    return 0


def _input_codes(args, net):
    if args.data is None:
        return np.zeros((0, net.n_features), dtype=np.int64), "no data"
    if args.label is not None and args.no_label:
        raise UserError("--label names a label column and --no-label says there is none: "
                        "give one of them")
    X, _ = _load_data(args.data, args.label, has_label=not args.no_label)
    if args.codes:
        return _codes_for(net, X, args.data), "input"
    return _quantize_for(net, X, args.data), "data"


def cmd_simulate(args, log):
    net = _load_model(args.model)
    arch = _arch_params(args, net)
    if args.json:
        _check_writable_file(args.json)
    if args.vcd:
        _check_writable_file(args.vcd)
    Q, label = _input_codes(args, net)
    res = _simulate(net, Q, log, adversarial=not args.no_adversarial, random=args.random,
                    seed=args.seed, vcd=args.vcd, label=label, arch=arch)
    if args.json:
        _write_json(args.json, res.to_dict())
    return 0 if res.ok else 1


def cmd_predict(args, log):
    from ._io import write_text_atomic
    if args.serial is None:
        _reject_unused(args, ["--baud"], "predictions on a board (--serial PORT)",
                       "add --serial PORT or drop --baud")
    net = _load_model(args.model)
    if args.output:
        _check_writable_file(args.output)
    Q, _ = _input_codes(args, net)
    if args.serial:
        from .cli_build import predict_on_board
        pred = predict_on_board(net, Q, args.serial, args.baud or 115200)
    else:
        pred = net.forward(Q)
    if net.task == "regression":
        lines = [repr(float(v) * net.score_scale) for v in pred]
    else:
        labels = net.classes or list(range(net.n_classes))
        lines = [str(labels[int(k)]) for k in pred]
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


#: Modules adding further subcommands: each defines ``register(sub, common)`` which adds its
#: parsers (with ``parents=[common]``) and sets ``func(args, log) -> exit code``. They raise
#: ``UserError`` for problems the user can fix.
EXTRA_COMMAND_MODULES = ["thresh2hw.cli_build", "thresh2hw.cli_verify"]


def build_parser():
    p = _Parser(prog="thresh2hw", description="Convex-trained threshold networks compiled to "
                "exact comparator-and-adder circuits (Amaranth -> Verilog), checked cycle by "
                "cycle against the integer reference model.")
    p.add_argument("--version", action="version", version=f"thresh2hw {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="print only errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", parents=[common], help="digits end to end: train, quantize, compile, simulate")
    d.add_argument("-o", "--out", default="thresh2hw-out", help="output directory")
    d.add_argument("--json", metavar="FILE",
                   help="write a JSON summary of every stage (default: none)")
    d.add_argument("--dataset", choices=["digits", "breast_cancer"], default="digits",
                   help="built-in dataset")
    d.add_argument("--name", type=_module_name, default="thresh2hw_top",
                   help="Verilog top module name")
    _add_training_options(d)
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", parents=[common], help="train and quantize on a CSV or .npz dataset")
    t.add_argument("data", help="CSV (label column by --label, default last) or .npz (X, y)")
    t.add_argument("-o", "--out", "--output", dest="output", required=True,
                   help="model file to write (JSON)")
    t.add_argument("--label", help="label column name or index in a CSV (default: last)")
    t.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="auto: regression for non-integer numeric labels, else classification")
    t.add_argument("--test-size", type=_test_fraction, default=0.2, metavar="F",
                   help="fraction held out to report test scores, in [0, 1) (0 for none; "
                        "default 0.2)")
    t.add_argument("--json", metavar="FILE",
                   help="write a JSON training summary (default: none)")
    _add_training_options(t)
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("compile", parents=[common], help="model file -> Verilog, RTLIL and interface JSON")
    c.add_argument("model")
    c.add_argument("-o", "--out", default="thresh2hw-out", help="output directory")
    c.add_argument("--name", type=_module_name, default="thresh2hw_top",
                   help="Verilog top module name")
    _add_arch_options(c)
    c.set_defaults(func=cmd_compile)

    for name, func, hlp in (("simulate", cmd_simulate,
                             "check the circuit against the reference model, cycle by cycle"),
                            ("predict", cmd_predict, "predict with the integer reference model")):
        s = sub.add_parser(name, parents=[common], help=hlp)
        s.add_argument("model")
        s.add_argument("data", nargs=None if name == "predict" else "?",
                       help="CSV or .npz of real-valued features (quantized by the model)")
        s.add_argument("--label", help="label column of a CSV to skip (default: last)")
        s.add_argument("--no-label", action="store_true", help="the data has no label column")
        s.add_argument("--codes", action="store_true",
                       help="the data holds integer input codes, not real features")
        if name == "simulate":
            s.add_argument("--random", type=_bits(0, 10 ** 7), default=0, metavar="N",
                           help="also check N random vectors")
            s.add_argument("--no-adversarial", action="store_true",
                           help="skip all-zero/all-max and threshold-boundary vectors")
            s.add_argument("--seed", type=_random_seed, default=0,
                           help="seed of the random and adversarial vectors, 0..4294967295")
            s.add_argument("--vcd", metavar="FILE",
                           help="write a waveform of the run (default: none)")
            s.add_argument("--json", metavar="FILE",
                           help="write the check result as JSON (default: none)")
            _add_arch_options(s)
        else:
            s.add_argument("-o", "--out", "--output", dest="output",
                           help="write predictions here (default: stdout)")
            s.add_argument("--serial", metavar="PORT",
                           help="predict on a board built by 'thresh2hw build' over this port "
                                "(default: with the reference model on this machine)")
            s.add_argument("--baud", type=_bits(1, 10 ** 8), default=None,
                           help="--serial: UART baud (default 115200)")
        s.set_defaults(func=func)
    import importlib
    for name in EXTRA_COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"thresh2hw: warning: {message}", file=sys.stderr, flush=True)


def main(argv=None):
    try:
        try:
            return _main(argv)
        finally:                               # --help included: a closed stdout fails here,
            sys.stdout.flush()                 # not in the interpreter's exit
    except BrokenPipeError:
        # The reader of stdout or stderr went away (`thresh2hw ... | head`): stop quietly like
        # a tool killed by SIGPIPE. Point both streams at devnull (the recipe of Python's
        # signal docs) so the interpreter's final flush cannot raise and print again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):  # not a real file
                os.dup2(devnull, stream.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE


def _main(argv):
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:                           # name the subcommand's help, not the top level
            sub = f"{parser.prog} {args.command}" if args.command else parser.prog
            raise UserError(f"unrecognized arguments: {' '.join(extra)} (see '{sub} --help')")
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        with warnings.catch_warnings():         # warnings (e.g. non-convergence): one line
            warnings.showwarning = _one_line_warning
            warnings.filterwarnings("default", message="Lasso solver stopped",
                                    category=RuntimeWarning)
            return args.func(args, _Log(args.quiet))
    except UserError as exc:
        print(f"thresh2hw: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("thresh2hw: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                    # not "cannot access": handled by main()
        raise
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"thresh2hw: error: cannot access{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
