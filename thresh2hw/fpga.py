"""FPGA builds with the open toolchain from PyPI (YoWASP Yosys + nextpnr), resource estimates,
and the build record that ``thresh2hw report`` renders.

Two flows:

* **board** (``build_board``): the network behind the UART link of
  :mod:`thresh2hw.hdl.board_top`, through amaranth-boards' platform build script (Yosys,
  nextpnr with ``--report``, icepack/ecppack) to a bitstream.
* **out of context** (``build_ooc``): the bare network circuit through Yosys ``synth_ice40`` /
  ``synth_ecp5`` only, for resource numbers on a device without a board (no place and route,
  hence no Fmax).

Every build runs in a fresh hidden directory next to the output directory; only a finished
build is moved into place, so a failed build leaves no partial bitstream behind.
"""
import contextlib
import importlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from . import toolchain
from .ranges import bits_for_range

__all__ = ["BOARDS", "DEVICES", "BuildError", "DesignTooLarge", "Device", "make_circuit",
           "estimate", "check_fit", "build_board", "build_ooc", "parse_stat", "parse_report"]


class BuildError(RuntimeError):
    """A tool failed; ``log_tail`` holds its relevant log lines."""

    def __init__(self, message, log_tail=()):
        super().__init__(message)
        self.log_tail = list(log_tail)


class DesignTooLarge(ValueError):
    """The resource estimate exceeds the device."""


@dataclass(frozen=True)
class Device:
    name: str
    family: str                 # "ice40" or "ecp5"
    luts: int                   # 4-input LUTs (iCE40 logic cells)
    ffs: int
    bram: int
    dsp: int
    nextpnr_args: tuple

    @property
    def synth(self):
        return f"synth_{self.family}"

    @property
    def synth_opts(self):
        """Options of the synthesis command: on iCE40, abc9 maps with the delay model of this
        chip's family (Yosys assumes an HX part otherwise; UltraPlus logic is slower)."""
        if self.family == "ice40":
            return "-device u" if self.name.startswith("up") else "-device hx"
        return ""


def synth_prelude(circuit):
    """Yosys commands run before the synthesis command: for a pipelined circuit, the LUT
    mapping script :data:`ABC9_SCRIPT`; for the others Yosys's default (empty)."""
    if getattr(circuit, "architecture", None) == "pipelined":
        return f"scratchpad -set abc9.script {ABC9_SCRIPT}"
    return ""


#: The LUT mapping script abc9 runs on pipelined circuits: Yosys's default without area
#: recovery (``&if -F 0 -A 0``, no ``&mfs``). The default's area passes rebuild a one-LUT
#: function of a register stage from another LUT of the same stage (two comparisons of one
#: input byte share a sub-function), so a stage meant to be one LUT deep becomes two, and
#: the first LUT can no longer share a logic cell with its flip-flop. On the digits network
#: they save one LUT and put ~60 datapath flip-flops behind two LUT levels. Deep
#: combinational logic is another matter (the combinational digits circuit needs 19 % more
#: LUTs without them, the folded one 11 %), so the other architectures keep the default.
#: (Inline ABC script: commas are blanks; Yosys substitutes {W} and {D}.)
ABC9_SCRIPT = "+&scorr;&sweep;&dc2;&dch,-f,-r;&ps;&if,{W},{D},-v,-F,0,-A,0"


DEVICES = {
    "hx1k": Device("hx1k", "ice40", 1280, 1280, 16, 0, ("--hx1k", "--package", "tq144")),
    "hx8k": Device("hx8k", "ice40", 7680, 7680, 32, 0, ("--hx8k", "--package", "ct256")),
    "up5k": Device("up5k", "ice40", 5280, 5280, 30, 8, ("--up5k", "--package", "sg48")),
    "lfe5u-12f": Device("lfe5u-12f", "ecp5", 12288, 12288, 32, 28, ("--12k",)),
    "lfe5u-25f": Device("lfe5u-25f", "ecp5", 24288, 24288, 56, 28, ("--25k",)),
    "lfe5u-45f": Device("lfe5u-45f", "ecp5", 43848, 43848, 108, 72, ("--45k",)),
    "lfe5u-85f": Device("lfe5u-85f", "ecp5", 83640, 83640, 208, 156, ("--85k",)),
}

#: board name -> (amaranth_boards module, platform class, device)
BOARDS = {
    "icebreaker": ("amaranth_boards.icebreaker", "ICEBreakerPlatform", "up5k"),
    "icestick": ("amaranth_boards.icestick", "ICEStickPlatform", "hx1k"),
    "ulx3s-12f": ("amaranth_boards.ulx3s", "ULX3S_12F_Platform", "lfe5u-12f"),
    "ulx3s-25f": ("amaranth_boards.ulx3s", "ULX3S_25F_Platform", "lfe5u-25f"),
    "ulx3s-45f": ("amaranth_boards.ulx3s", "ULX3S_45F_Platform", "lfe5u-45f"),
    "ulx3s-85f": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", "lfe5u-85f"),
}

_FAMILY_TOOLS = {"ice40": ("yosys", "nextpnr-ice40", "icepack"),
                 "ecp5": ("yosys", "nextpnr-ecp5", "ecppack")}
_BITSTREAM = {"ice40": "top.bin", "ecp5": "top.bit"}


# -- circuit construction ------------------------------------------------------------------
def available_architectures():
    from . import hdl
    return tuple(getattr(hdl, "ARCHITECTURES", ("combinational",)))


def make_circuit(net, architecture=None, **params):
    """The circuit for ``net`` through ``thresh2hw.hdl.build_circuit`` when it exists, else the
    combinational ``ThresholdNetworkCircuit``. Raises ValueError for invalid parameters."""
    from . import hdl
    params = {k: v for k, v in params.items() if v is not None}
    build = getattr(hdl, "build_circuit", None)
    if build is None:
        if architecture not in (None, "combinational") or params:
            raise ValueError(f"architecture {architecture or 'combinational'!r} with "
                             f"{params or 'no parameters'} is not available in this version "
                             f"(only the combinational circuit)")
        return hdl.ThresholdNetworkCircuit(net)
    kw = {"architecture": architecture} if architecture else {}
    try:
        return build(net, **kw, **params)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def initiation_interval(circuit):
    return int(getattr(circuit, "initiation_interval", 1))


def architecture_name(circuit):
    return getattr(circuit, "architecture", None) or "combinational"


# -- estimate and fit check ------------------------------------------------------------------
def estimate(circuit, *, link=None):
    """:class:`~thresh2hw.hdl.estimate.ResourceEstimate` of ``circuit`` (plus the UART link
    when ``link = (request_bytes, reply_bytes, divisor)``)."""
    from .hdl.estimate import estimate_plan, uart_overhead
    arch = architecture_name(circuit)
    scheduled = arch == "folded" or (arch == "pipelined"
                                     and bool(getattr(circuit, "pipeline_stages", 0)))
    est = estimate_plan(circuit.network, circuit.plan, scheduled=scheduled)
    net = circuit.network
    fold = getattr(circuit, "fold", None)
    stages = int(getattr(circuit, "pipeline_stages", 0) or 0)
    if fold and architecture_name(circuit) == "folded":
        # first layer: K of the n features per cycle into one accumulator per neuron. Per
        # neuron, its terms grouped by (feature slot, shift, sign) are cycle-gated adder
        # inputs (the gate merges into the adder's LUT), plus the accumulator add and the
        # compare (calibrated on digits: 69 dense neurons, K=1, 16.4k LUT4 measured; 84
        # one-term neurons, K=1..8, 3.22k measured, 3.7-3.8k estimated; 128 one-term neurons,
        # K=1, 4.15k measured, 5.1k estimated)
        l0 = est.layers[0]
        cycles = -(-net.n_features // fold)
        select = 0
        for p in circuit.plan.layers[0]:
            if p.constant is not None:
                continue
            w = bits_for_range(p.sum_lo - p.threshold, p.sum_hi - p.threshold)
            groups = len({(i % fold, k, sign) for sign, terms in ((0, p.pos_terms),
                                                                (1, p.neg_terms))
                          for i, k in terms})
            select += (groups + 1) * w          # fires on the sign bit: no comparator
        mux = fold * net.input_bits * max(1, (cycles + 2) // 3)        # shared feature select
        new0 = select + mux + 2 * cycles                               # + cycle decoders
        est.luts += new0 - l0.luts
        l0.luts = new0
        acc = sum(bits_for_range(p.sum_lo - p.threshold, p.sum_hi - p.threshold)
                  for p in circuit.plan.layers[0] if p.constant is None)
        est.ffs += acc + net.n_features * net.input_bits + cycles.bit_length() + 1
        est.notes.append(f"folded: {fold} feature(s) per cycle over {cycles} cycles, "
                         f"first-layer accumulators and input multiplexers")
    if stages > 0:
        n = sum(l.neurons - l.constant_neurons for l in est.layers[:-1])
        w = max(l.max_width for l in est.layers)
        est.ffs += stages * n * max(1, w // 2)
        est.notes.append(f"{stages} pipeline cut(s)")
        if getattr(circuit, "flow_control", None) == "credit":
            # output queue of latency + 1 entries: a 3-way select per bit, and the counter
            depth = int(circuit.latency) + 1
            est.luts += depth * (est.layers[-1].max_width + 2) + 8
            est.notes.append(f"credit flow control: {depth}-entry output queue")
    hint = getattr(circuit, "resource_hint", None)
    if callable(hint):                      # what the architecture knows exactly
        h = hint()
        if "luts" in h:
            est.luts = int(h["luts"])
        if "ffs" in h:
            est.ffs = int(h["ffs"])
            est.notes.append("flip-flops counted from the architecture (synthesis may "
                             "remove constant ones)")
    if link is not None:
        lu, ff = uart_overhead(*link)
        est.luts += lu
        est.ffs += ff
        est.notes.append(f"includes the UART link (~{lu} LUTs, ~{ff} FFs)")
    return est


def check_fit(est, device, *, margin=1.0):
    """Raise :class:`DesignTooLarge` when the estimate cannot fit ``device``."""
    limit = int(device.luts * margin)
    if est.luts <= limit and est.ffs <= device.ffs:
        return
    worst = max(est.layers, key=lambda l: l.luts)
    bigger = ([d.name for d in DEVICES.values()
               if d.family == device.family and d.luts > est.luts]
              or [f"{d.name} ({d.family.upper()})" for d in DEVICES.values()
                  if d.luts > est.luts])
    raise DesignTooLarge(
        f"the design needs about {est.luts} LUTs and {est.ffs} FFs (plan estimate; largest "
        f"part {worst.name}: {worst.luts} LUTs for {worst.neurons} neurons) but {device.name} "
        f"has {device.luts}; fold the first layer (--fold K: K features per cycle), train "
        f"fewer neurons (a larger --beta), use fewer input/weight bits"
        + (f", or a larger device ({', '.join(bigger)})" if bigger else "")
        + "; --pipeline-stages raises Fmax, not capacity (--force builds anyway)")


# -- tool output parsing ----------------------------------------------------------------------
def parse_stat(stat, family):
    """Cell counts from Yosys ``stat -json``."""
    cells = dict(stat.get("design", {}).get("num_cells_by_type", {}))
    if family == "ice40":
        luts = cells.get("SB_LUT4", 0)
        carry = cells.get("SB_CARRY", 0)
        ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        bram = sum(v for k, v in cells.items() if k.startswith("SB_RAM40"))
        dsp = cells.get("SB_MAC16", 0)
    else:
        carry = cells.get("CCU2C", 0)
        luts = cells.get("LUT4", 0) + 2 * carry            # a CCU2C holds two LUT4s
        ffs = cells.get("TRELLIS_FF", 0)
        bram = cells.get("DP16KD", 0) + cells.get("PDPW16KD", 0)
        dsp = sum(v for k, v in cells.items() if k.startswith("MULT18X18"))
    return {"luts": luts, "ffs": ffs, "carry": carry, "bram": bram, "dsp": dsp,
            "cells_by_type": cells}


def parse_report(rep):
    """Fmax and utilisation from a nextpnr ``--report`` JSON."""
    fmax = {clk: {"achieved_mhz": v.get("achieved"), "constraint_mhz": v.get("constraint")}
            for clk, v in rep.get("fmax", {}).items()}
    util = {bel: {"used": v.get("used"), "available": v.get("available")}
            for bel, v in rep.get("utilization", {}).items()}
    path = []
    crit = rep.get("critical_paths") or []
    if crit:
        worst = crit[0]
        for step in worst.get("path", []):
            for src in step.get("sources") or ():
                if ".py:" in src:                   # design lines, not Yosys techmap files
                    i = src.rfind("thresh2hw/")
                    path.append(src[i:] if i >= 0 else os.path.basename(src))
    return {"fmax": fmax, "utilization": util,
            "critical_path_sources": sorted(set(path))[:12]}


def _log_tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    errs = [i for i, l in enumerate(lines) if re.search(r"\bERROR\b|error:|Error:", l)]
    if errs:
        i = errs[0]
        return lines[max(0, i - 5):i + 10]
    return lines[-n:]


def _env(family):
    env = dict(os.environ)
    env.update(toolchain.amaranth_env(_FAMILY_TOOLS[family]))
    env["AMARANTH_USE_YOSYS"] = "system"
    return env


def _scratch_dir(out_dir):
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=".thresh2hw-build-", dir=parent)


def _publish(tmp, out_dir, keep):
    """Move the finished build from ``tmp`` into ``out_dir`` (products only unless ``keep``);
    products of an earlier build that this one did not make are removed, so the directory
    never mixes two builds (e.g. an old bitstream next to an out-of-context record)."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    made = set(os.listdir(tmp))
    for name in sorted(_PRODUCTS - made):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out_dir, name))
    for name in sorted(made):
        src = os.path.join(tmp, name)
        if keep or name in _PRODUCTS:
            dst = os.path.join(out_dir, name)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            os.replace(src, dst)
    shutil.rmtree(tmp, ignore_errors=True)


_PRODUCTS = {"top.bin", "top.bit", "top.svf", "top.report.json", "top.stat.json", "top.rpt",
             "top.tim", "top.il", "top.pcf", "top.lpf"}


# -- flows --------------------------------------------------------------------------------
def _run(cmd, cwd, env, timeout, logs, what):
    """Run a tool (in its own process group, so that an interrupted build leaves no tool
    running); raise :class:`BuildError` with the relevant log lines on failure."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise BuildError(f"{what} did not finish within {timeout} s",
                         _tail_of(cwd, logs)) from None
    except BaseException:
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        tail = _tail_of(cwd, logs) or out.splitlines()[-15:]
        raise BuildError(f"{what} failed (exit code {proc.returncode})", tail)
    return out


def _kill_group(proc):
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail_of(cwd, logs):
    # the last log that exists is the tool that failed (yosys log first, nextpnr log second)
    for name in reversed(logs):
        p = os.path.join(cwd, name)
        if os.path.exists(p):
            return [f"{name}: {l}" for l in _log_tail(p)]
    return []


def _retarget_clock(tmp, family, mhz):
    """Constrain the board clock to ``mhz`` in the extracted constraint file, so that nextpnr
    places and routes for that frequency (the bitstream still runs at the board clock)."""
    if family == "ice40":
        name, pat, rep = "top.pcf", r"^(set_frequency\s+\S+\s+)[\d.]+", rf"\g<1>{mhz}"
    else:
        name, pat, rep = ("top.lpf", r'^(\s*FREQUENCY\s+(?:PORT|NET)\s+"[^"]+"\s+)'
                          r'[\d.eE+]+\s*[KM]?HZ', rf"\g<1>{mhz * 1e6:.1f} HZ")
    path = os.path.join(tmp, name)
    with open(path) as f:
        text = f.read()
    new, n = re.subn(pat, rep, text, flags=re.M | re.I)
    if n == 0:
        raise BuildError(f"no clock constraint found in {name} to retarget")
    with open(path, "w") as f:
        f.write(new)


def build_board(circuit, board, out_dir, *, baud=115200, timeout=3600, keep=False, log=None,
                target_mhz=None, seed=None):
    """Bitstream for ``board``; returns the build record (dict).

    ``seed``: nextpnr's placement seed (default: nextpnr's own); Fmax varies by a few per
    cent between seeds, so report a spread, not a chosen one.

    ``target_mhz``: place and route for this clock frequency instead of the board clock's
    (nextpnr then works to reach it; ``--timing-allow-fail`` keeps a miss from failing the
    build, the record says what was reached). The UART divisor still follows the board clock.
    """
    from .hdl.board_top import BoardTop
    modname, clsname, devname = BOARDS[board]
    device = DEVICES[devname]
    env = _env(device.family)
    platform = getattr(importlib.import_module(modname), clsname)()
    top = BoardTop(circuit, baud=baud)
    opts = ("--report top.report.json" + (" --timing-allow-fail" if target_mhz else "")
            + (f" --seed {int(seed)}" if seed is not None else ""))
    plan = platform.build(top, name="top", do_build=False, nextpnr_opts=opts,
                          synth_opts=device.synth_opts,
                          script_after_read=synth_prelude(circuit),
                          script_after_synth="tee -q -o top.stat.json stat -json")
    tmp = _scratch_dir(out_dir)
    try:
        plan.extract(tmp)
        if target_mhz:
            _retarget_clock(tmp, device.family, float(target_mhz))
        t0 = time.perf_counter()
        try:
            _run(["sh", "build_top.sh"], tmp, env, timeout, ["top.rpt", "top.tim"],
                 f"the {board} build")
        except BuildError as exc:
            _explain_timing_failure(tmp, exc)
            raise
        seconds = time.perf_counter() - t0
        with open(os.path.join(tmp, "top.stat.json")) as f:
            res = parse_stat(json.load(f), device.family)
        with open(os.path.join(tmp, "top.report.json")) as f:
            pnr = parse_report(json.load(f))
        if not os.path.exists(os.path.join(tmp, _BITSTREAM[device.family])):
            raise BuildError("the build script finished without a bitstream",
                             _tail_of(tmp, ["top.rpt", "top.tim"]))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, out_dir, keep)
    rec = {"flow": "board", "board": board, "device": device.name, "family": device.family,
           "board_clock_mhz": platform.default_clk_frequency / 1e6, "baud": baud,
           "bitstream": os.path.join(out_dir, _BITSTREAM[device.family]),
           "build_seconds": round(seconds, 2), **res, **pnr}
    if target_mhz:
        rec["timing_target_mhz"] = float(target_mhz)
    if seed is not None:
        rec["nextpnr_seed"] = int(seed)
    lc = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}[device.family]
    if lc in pnr["utilization"]:
        rec["logic_cells"] = pnr["utilization"][lc]["used"]
        rec["logic_cells_available"] = pnr["utilization"][lc]["available"]
    achieved = [v["achieved_mhz"] for v in pnr["fmax"].values() if v["achieved_mhz"]]
    rec["fmax_mhz"] = round(min(achieved), 2) if achieved else None
    return rec


def _explain_timing_failure(tmp, exc):
    """nextpnr fails a design that misses the board clock: say so, with the numbers."""
    try:
        with open(os.path.join(tmp, "top.tim"), errors="replace") as f:
            text = f.read()
    except OSError:
        return
    m = re.search(r"Max frequency for clock '([^']+)': ([\d.]+) MHz \(FAIL at ([\d.]+) MHz\)",
                  text)
    if m:
        exc.args = (f"timing not met: Fmax {m.group(2)} MHz on {m.group(1)} is below the "
                    f"board clock of {m.group(3)} MHz; add register cuts (--arch pipelined "
                    f"--pipeline-stages N) or shorten the datapath",)
        exc.log_tail = [f"top.tim: {m.group(0)}"]


def build_ooc(circuit, device_name, out_dir, *, timeout=3600, keep=False):
    """Synthesis only (no board, no place and route); returns the build record (dict)."""
    from amaranth.back import rtlil
    device = DEVICES[device_name]
    env = _env(device.family)
    yosys = toolchain.find_tool("yosys")
    tmp = _scratch_dir(out_dir)
    try:
        text = rtlil.convert(circuit, name="top", emit_src=False)
        with open(os.path.join(tmp, "top.il"), "w") as f:
            f.write(text)
        prelude = synth_prelude(circuit)
        script = (f"read_rtlil top.il; {prelude + '; ' if prelude else ''}"
                  f"{device.synth} {device.synth_opts} -top top; "
                  f"tee -q -o top.stat.json stat -json")
        t0 = time.perf_counter()
        _run([yosys.path, "-q", "-l", "top.rpt", "-p", script], tmp, env, timeout, ["top.rpt"],
             f"yosys {device.synth}")
        seconds = time.perf_counter() - t0
        with open(os.path.join(tmp, "top.stat.json")) as f:
            res = parse_stat(json.load(f), device.family)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish(tmp, out_dir, keep)
    return {"flow": "out-of-context", "board": None, "device": device.name,
            "family": device.family, "build_seconds": round(seconds, 2), **res,
            "fmax_mhz": None, "fmax": {}, "utilization": {
                "LUT4": {"used": res["luts"], "available": device.luts}},
            "notes": ["synthesis only: no place and route, so no Fmax"]}
