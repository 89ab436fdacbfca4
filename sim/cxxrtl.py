"""Compiled simulation with Yosys CXXRTL (``write_cxxrtl``) and g++.

The same stream harness as the Verilator engine (``hdl_templates/verilator_harness.cpp.j2``,
``backend="cxxrtl"``: a shim gives the CXXRTL design the Verilator model's members), the same
binary vector files and the same in-C++ comparison; builds are cached by content hash.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

from .engines import EngineUnavailable, cache_root, content_hash, render_template
from .verilator import HARNESS_TEMPLATE, PORTS, VerilatorModel, run_verilator

__all__ = ["build_cxxrtl", "check_verilog_cxxrtl"]


def _cxxrtl_name(name):
    """CXXRTL's C++ identifier for a module or port: ``_`` doubled, ``p_`` prefix."""
    return "p_" + name.replace("_", "__")


def _tools():
    from thresh2hw.toolchain import ToolMissing, find_tool
    from .netlist import yosys_share_dir
    try:
        yosys = find_tool("yosys")
    except ToolMissing as exc:
        raise EngineUnavailable(str(exc)) from None
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise EngineUnavailable("cxxrtl needs a C++ compiler (g++) on PATH")
    runtime = os.path.join(yosys_share_dir(), "include", "backends", "cxxrtl", "runtime")
    if not os.path.isfile(os.path.join(runtime, "cxxrtl", "cxxrtl.h")):
        raise EngineUnavailable(f"the CXXRTL runtime headers are missing from {runtime}")
    return yosys, cxx, runtime


def build_cxxrtl(verilog, top, *, in_width, out_width, out_signed, cache_dir=None,
                 timeout=1800):
    if out_width > 64:
        raise ValueError("output payloads wider than 64 bits are not supported")
    yosys, cxx, runtime = _tools()
    harness = render_template(HARNESS_TEMPLATE, generator="thresh2hw.sim.cxxrtl",
                              in_width=in_width, in_words=max(1, (in_width + 31) // 32),
                              out_width=out_width, out_signed=bool(out_signed), trace=False,
                              ports={p: p.replace("__", "_") for p in PORTS},
                              cxx={p: _cxxrtl_name(p) for p in PORTS},
                              cxx_top=_cxxrtl_name(top), backend="cxxrtl", registered=False)
    script = f"read_verilog -sv design.v; hierarchy -top {top}; write_cxxrtl design.cc"
    flags = ["-std=c++14", "-O2"]
    key = content_hash("cxxrtl-harness-v1", yosys.version, cxx, script, harness, verilog,
                       *flags)
    root = cache_dir or cache_root("cxxrtl")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"cxxrtl-{key}")
    exe = os.path.join(final, "harness")
    if os.path.isfile(exe):
        return VerilatorModel(exe, in_width, out_width, out_signed, 0.0, True, False)
    work = tempfile.mkdtemp(prefix=f"cxxrtl-{key}.tmp", dir=root)
    try:
        with open(os.path.join(work, "design.v"), "w") as f:
            f.write(verilog)
        with open(os.path.join(work, "harness.cpp"), "w") as f:
            f.write(harness)
        from thresh2hw.toolchain import run
        t0 = time.perf_counter()
        proc = run(yosys, ["-q", "-p", script], cwd=work, timeout=timeout)
        if proc.returncode != 0 or not os.path.isfile(os.path.join(work, "design.cc")):
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-8:]
            raise RuntimeError("yosys write_cxxrtl failed:\n" + "\n".join(tail))
        proc = subprocess.run([cxx, *flags, f"-I{runtime}", "harness.cpp", "-o", "harness"],
                              cwd=work, capture_output=True, text=True, timeout=timeout)
        secs = time.perf_counter() - t0
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-12:]
            raise RuntimeError("g++ failed on the CXXRTL harness:\n" + "\n".join(tail))
        with open(os.path.join(work, "build.json"), "w") as f:
            json.dump({"seconds": secs}, f)
        try:
            os.replace(work, final)
        except OSError:
            shutil.rmtree(work, ignore_errors=True)
        return VerilatorModel(exe, in_width, out_width, out_signed, secs, False, False)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def check_verilog_cxxrtl(verilog, top, net, Q, *, expected=None, cache_dir=None, vcd=None,
                         **run_kw):
    """Build the Verilog with CXXRTL and check it against ``net.forward`` (or ``expected``).
    No waveform support: ``thresh2hw verify --vcd`` re-runs the window in pysim."""
    from thresh2hw.hdl import output_shape
    if vcd is not None:
        raise ValueError("the cxxrtl engine writes no VCD; use pysim or verilator for that")
    Q = net.check_inputs(Q)
    if expected is None:
        expected = net.forward(Q)
    shape = output_shape(net)
    model = build_cxxrtl(verilog, top, in_width=net.n_features * net.input_bits,
                         out_width=shape.width, out_signed=shape.signed, cache_dir=cache_dir)
    return run_verilator(model, Q, net.input_bits, expected, engine="cxxrtl", **run_kw)
