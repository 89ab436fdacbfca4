"""Subcommands ``build`` (bitstream or out-of-context synthesis) and ``report``, plus the host
side of ``predict --serial``."""
import argparse
import hashlib
import json
import os
import sys
import time

from .cli import (UserError, _add_arch_options, _arch_params, _bits, _check_writable_file,
                  _cli_terms, _load_model, _reject_unused, _write_json)

__all__ = ["register", "cmd_build", "cmd_report", "predict_on_board"]


def _positive_int(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} is not a positive integer")
    return v


def _positive_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{s} is not a positive frequency")
    return v


def _count(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is negative")
    return v


#: nextpnr's placement seed
_seed = _bits(0, 2 ** 31 - 1)


def register(sub, common):
    b = sub.add_parser("build", parents=[common],
                       help="FPGA bitstream (board + UART link) or out-of-context synthesis")
    b.add_argument("model")
    b.add_argument("--board", required=True, metavar="NAME",
                   help="icebreaker, icestick, ulx3s-12f/25f/45f/85f, or 'none' with --device "
                        "for out-of-context synthesis")
    b.add_argument("--device", metavar="DEV", help="device for --board none: up5k, hx1k, hx8k, "
                   "lfe5u-12f, lfe5u-25f, lfe5u-45f, lfe5u-85f (default: the board's device)")
    b.add_argument("-o", "--out", default="thresh2hw-build", help="output directory")
    b.add_argument("--json", metavar="FILE",
                   help="also write the build record here (default: only OUT/build.json)")
    b.add_argument("--baud", type=_positive_int, default=None,
                   help="board builds: UART baud (default 115200)")
    b.add_argument("--check", type=_count, default=200, metavar="N",
                   help="simulate N random + the adversarial vectors against the reference "
                        "before building (default 200; 0 skips)")
    b.add_argument("--force", action="store_true",
                   help="place and route even if the estimate says the design cannot fit")
    b.add_argument("--keep-build-dir", action="store_true",
                   help="keep every intermediate file in the output directory")
    b.add_argument("--seed", type=_seed, default=None, metavar="N",
                   help="board builds: nextpnr placement seed, 0..2147483647 (default: "
                        "nextpnr's own); Fmax varies by a few per cent between seeds")
    b.add_argument("--target-mhz", type=_positive_float, default=None, metavar="F",
                   help="board builds: place and route for an F MHz clock instead of the board "
                        "clock (reports the Fmax reached; the bitstream still runs at the board "
                        "clock; default: the board clock)")
    b.add_argument("--timeout", type=_positive_int, default=3600, metavar="S",
                   help="give up on a tool after S seconds")
    _add_arch_options(b)
    b.set_defaults(func=cmd_build)

    r = sub.add_parser("report", parents=[common],
                       help="render a build record (build.json or its directory)")
    r.add_argument("build", metavar="BUILD_JSON_OR_DIR")
    r.add_argument("-f", "--format", choices=["md", "json"], default="md",
                   help="Markdown or JSON")
    r.add_argument("-o", "--output", help="write here (default: stdout)")
    r.set_defaults(func=cmd_report)


def _board_and_device(args):
    from . import fpga
    board = args.board.lower()
    if board == "none":
        if not args.device:
            raise UserError("--board none needs --device (one of "
                            f"{', '.join(fpga.DEVICES)})")
        dev = args.device.lower()
        if dev not in fpga.DEVICES:
            raise UserError(f"unknown device {args.device!r}; known devices: "
                            f"{', '.join(fpga.DEVICES)}")
        return None, fpga.DEVICES[dev]
    if board not in fpga.BOARDS:
        raise UserError(f"unknown board {args.board!r}; known boards: "
                        f"{', '.join(fpga.BOARDS)}, none (with --device)")
    if args.device and args.device.lower() != fpga.BOARDS[board][2]:
        raise UserError(f"board {board} carries a {fpga.BOARDS[board][2]}, not {args.device}")
    return board, fpga.DEVICES[fpga.BOARDS[board][2]]


def _model_summary(net, path):
    from .hdl.plan import plan_network
    return {"name": os.path.splitext(os.path.basename(path))[0], "path": path,
            "sha256": hashlib.sha256(net.to_json().encode()).hexdigest(), "task": net.task,
            "n_features": net.n_features, "input_bits": net.input_bits,
            "hidden_neurons": [l.n_out for l in net.hidden], "n_scores": net.n_scores,
            "constant_neurons": plan_network(net).constant_neurons}


def _reference_check(net, circuit, n, log):
    import numpy as np

    from .sim import adversarial_vectors, check_circuit, random_vectors
    rng = np.random.default_rng(0)
    Q = np.vstack([adversarial_vectors(net, rng), random_vectors(net, n, rng)])
    res = check_circuit(net, Q, circuit=circuit)
    log(f"[check]    {res.vectors} vectors in simulation: "
        f"{'0 mismatches' if res.ok else f'{res.mismatches} MISMATCHES'} ({res.seconds:.1f} s)")
    return {"vectors": res.vectors, "mismatches": res.mismatches, "engine": res.engine,
            "seconds": round(res.seconds, 2)}


def cmd_build(args, log):
    from . import fpga, toolchain
    from .hdl.uart import uart_divisor
    from .report import FORMAT_NAME, derive_timing
    board, device = _board_and_device(args)
    if args.target_mhz and board is None:
        raise UserError("--target-mhz needs a board build (out-of-context synthesis has no "
                        "place and route)")
    if board is None:                           # no UART link out of context
        _reject_unused(args, ["--baud"], "board builds (the UART link), not --board none",
                       "drop it or name a board")
        _reject_unused(args, ["--seed"], "board builds (nextpnr's placement), not --board "
                       "none", "drop it or name a board")
    args.baud = args.baud or 115200
    if args.json:
        _check_writable_file(args.json)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"cannot create output directory {args.out}: a file of that name "
                        f"exists")
    net = _load_model(args.model)
    try:
        for n in fpga._FAMILY_TOOLS[device.family][:1 if board is None else None]:
            toolchain.find_tool(n)
    except toolchain.ToolMissing as exc:
        raise UserError(str(exc)) from None
    params = _arch_params(args, net)
    arch = params.pop("architecture")
    try:
        circuit = fpga.make_circuit(net, arch, **params)
    except ValueError as exc:
        raise UserError(f"invalid architecture parameters: {_cli_terms(str(exc))}") from None
    circuit._MustUse__silence = True            # not elaborated when the build is refused
    link = None
    if board is not None:
        from .hdl.board_top import frame_sizes
        import importlib
        modname, clsname, _ = fpga.BOARDS[board]
        plat = getattr(importlib.import_module(modname), clsname)()
        try:
            div = uart_divisor(plat.default_clk_frequency, args.baud)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        req, rep = frame_sizes(circuit)
        link = (req, rep, div)
    est = fpga.estimate(circuit, link=link)
    log(f"[estimate] ~{est.luts} LUTs, ~{est.ffs} FFs on {device.name} "
        f"({100 * est.luts / device.luts:.0f} % of {device.luts} LUTs)")
    if not args.force:
        try:
            fpga.check_fit(est, device)
        except fpga.DesignTooLarge as exc:
            raise UserError(str(exc)) from None
    check = _reference_check(net, circuit, args.check, log) if args.check else None
    if check and check["mismatches"]:
        raise UserError(f"the circuit disagrees with the reference model on "
                        f"{check['mismatches']} of {check['vectors']} vectors; not building")
    what = f"{board} ({device.name})" if board else f"{device.name}, out of context"
    log(f"[build]    {what}: yosys{' + nextpnr + pack' if board else ' only'} ...")
    t0 = time.perf_counter()
    restore = _terminate_cleanly()
    try:
        if board:
            rec = fpga.build_board(circuit, board, args.out, baud=args.baud,
                                   timeout=args.timeout, keep=args.keep_build_dir,
                                   target_mhz=args.target_mhz, seed=args.seed)
        else:
            rec = fpga.build_ooc(circuit, device.name, args.out, timeout=args.timeout,
                                 keep=args.keep_build_dir)
    except fpga.BuildError as exc:
        for line in exc.log_tail:
            print(f"  {line}", file=sys.stderr)
        raise UserError(f"{exc}; no bitstream written (log lines above)") from None
    except toolchain.ToolMissing as exc:
        raise UserError(str(exc)) from None
    finally:
        restore()
    rec.update({
        "format": FORMAT_NAME, "version": 1, "model": _model_summary(net, args.model),
        "architecture": {"name": fpga.architecture_name(circuit),
                         "params": dict(getattr(circuit, "params", params))},
        "latency_cycles": int(circuit.latency),
        "initiation_interval": fpga.initiation_interval(circuit),
        "device_luts": device.luts, "device_ffs": device.ffs, "device_bram": device.bram,
        "device_dsp": device.dsp, "estimate": est.to_dict(), "reference_check": check,
        "toolchain": toolchain.versions(), "total_seconds": round(time.perf_counter() - t0, 2),
    })
    if link:
        req, rep, div = link
        rec["link"] = {"protocol": "0xA5 + packed inputs -> 0x5A + prediction (8N1)",
                       "baud": args.baud, "divisor": div, "request_bytes": req,
                       "reply_bytes": rep,
                       "throughput_per_s": round(args.baud / 10 / max(req, rep), 1)}
    derive_timing(rec)
    _write_json(os.path.join(args.out, "build.json"), rec)
    if args.json:
        _write_json(args.json, rec)
    fm = f", Fmax {rec['fmax_mhz']:.1f} MHz" if rec.get("fmax_mhz") else ""
    log(f"[done]     {rec['luts']} LUTs, {rec['ffs']} FFs, {rec['carry']} carry{fm}; "
        f"{rec['build_seconds']:.1f} s; {os.path.join(args.out, 'build.json')}"
        + (f", {rec['bitstream']}" if rec.get("bitstream") else ""))
    clk = rec.get("board_clock_mhz")
    if rec.get("fmax_mhz") and clk and rec["fmax_mhz"] < clk:
        # --target-mhz lets nextpnr miss its target; missing the board clock itself means
        # the bitstream will not run reliably, which must not pass silently
        log(f"[warning]  Fmax {rec['fmax_mhz']:.1f} MHz is below the board clock of {clk:g} MHz:"
            f" this bitstream will not run reliably; add register cuts (--arch pipelined "
            f"--pipeline-stages N)")
    return 0


def _terminate_cleanly():
    """SIGTERM unwinds like Ctrl-C, so the scratch directory and the tools are cleaned up."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, stop)
    return lambda: signal.signal(signal.SIGTERM, previous)


def cmd_report(args, log):
    from ._io import write_text_atomic
    from .report import ReportError, load_record, render_markdown
    if args.output:
        _check_writable_file(args.output)
    try:
        rec = load_record(args.build)
    except ReportError as exc:
        raise UserError(str(exc)) from None
    if args.format == "json":
        text = json.dumps(rec, indent=1, sort_keys=True) + "\n"
    else:
        text = render_markdown(rec)
    if args.output:
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def predict_on_board(net, Q, port, baud):
    """``thresh2hw predict --serial``: the board's predictions for the codes ``Q``."""
    from .link import LinkError, predict_serial
    try:
        import serial
    except ImportError:
        raise UserError("pyserial is not installed; install it with: pip install "
                        "'thresh2hw[serial]'") from None
    try:
        return predict_serial(net, Q, port, baud, serial_module=serial)
    except serial.SerialException as exc:
        raise UserError(f"cannot use serial port {port}: {exc}") from None
    except LinkError as exc:
        raise UserError(str(exc)) from None
