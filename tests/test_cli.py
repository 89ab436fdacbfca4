# amaranth: UnusedElaboratable=no
"""The command line: subcommands on user data, and bad input -> one-line error, no partial
output."""
import json
import subprocess
import sys

import numpy as np
import pytest

from thresh2hw.cli import main
from thresh2hw.model import IntegerNetwork

from conftest import random_network

FAST = ["--n-arrangements", "150", "--beta", "0.02", "-q"]


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_one_line_error(rc, err, *needles):
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("thresh2hw: error: ")
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture
def blobs_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(m, 0.6, size=(40, 3)) for m in (0, 2, 4)])
    y = np.repeat(["a", "b", "c"], 40)
    path = tmp_path / "blobs.csv"
    with open(path, "w") as f:
        f.write("f1,f2,f3,kind\n")
        for row, lab in zip(X, y):
            f.write(",".join(f"{v:.5f}" for v in row) + f",{lab}\n")
    return path


@pytest.fixture
def model_file(tmp_path, rng):
    path = tmp_path / "model.json"
    random_network(rng, d=3, hidden=(5,), input_bits=4).save(path)
    return path


def test_train_compile_simulate_predict(capsys, tmp_path, blobs_csv):
    model = tmp_path / "m.json"
    rc, _, err = _run(capsys, "train", blobs_csv, "-o", model, "--label", "kind", *FAST,
                      "--json", tmp_path / "t.json")
    assert rc == 0, err
    net = IntegerNetwork.load(model)
    assert net.classes == ["a", "b", "c"] and net.n_features == 3
    summary = json.loads((tmp_path / "t.json").read_text())
    assert summary["int_test_score"] >= 0.9
    rc, _, err = _run(capsys, "compile", model, "-o", tmp_path / "hw", "--name", "blobnet")
    assert rc == 0, err
    iface = json.loads((tmp_path / "hw" / "blobnet.interface.json").read_text())
    assert iface["input"]["width"] == 3 * 8 and iface["latency_cycles"] == 1
    assert "module blobnet" in (tmp_path / "hw" / "blobnet.v").read_text()
    rc, _, err = _run(capsys, "simulate", model, blobs_csv, "--label", "kind", "--random", 50,
                      "--json", tmp_path / "s.json")
    assert rc == 0, err
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["mismatches"] == 0 and res["vectors"] > 120 + 50
    rc, out, err = _run(capsys, "predict", model, blobs_csv, "--label", "kind")
    assert rc == 0 and len(out.split()) == 120 and set(out.split()) <= {"a", "b", "c"}


def test_same_seed_gives_byte_identical_model_and_verilog(capsys, tmp_path, blobs_csv):
    outs = []
    for k in range(2):
        model = tmp_path / f"m{k}.json"
        assert _run(capsys, "train", blobs_csv, "-o", model, *FAST)[0] == 0
        assert _run(capsys, "compile", model, "-o", tmp_path / f"hw{k}", "-q")[0] == 0
        outs.append((model.read_bytes(),
                     (tmp_path / f"hw{k}" / "thresh2hw_top.v").read_bytes()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("content, needle", [
    ("", "is empty"),
    ("a,b,label\n1,2\n", "line 2 has 2 fields"),
    ("a,b,label\n1,x,0\n2,3,1\n", "'x' is not a number"),
    ("a,b,label\n1,nan,0\n2,3,1\n", "NaN"),
    ("a,b,label\n1,inf,0\n2,3,1\n", "infinite"),
    ("a,b,label\n1,2,0\n2,3,0\n4,4,0\n", "single class"),
])
def test_bad_csv(capsys, tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "m.json"
    rc, _, err = _run(capsys, "train", path, "-o", out, *FAST)
    _assert_one_line_error(rc, err, needle)
    assert not out.exists()


def test_binary_file_as_csv(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe\x00\x01garbage")
    rc, _, err = _run(capsys, "train", path, "-o", tmp_path / "m.json", *FAST)
    _assert_one_line_error(rc, err, "bad.csv")


def test_missing_data_file(capsys, tmp_path):
    rc, _, err = _run(capsys, "train", tmp_path / "nope.csv", "-o", tmp_path / "m.json")
    _assert_one_line_error(rc, err, "does not exist")


def test_npz_input(capsys, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 2))
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(int))
    rc, _, err = _run(capsys, "train", tmp_path / "d.npz", "-o", tmp_path / "m.json", *FAST)
    assert rc == 0, err
    np.savez(tmp_path / "noy.npz", X=X)
    rc, _, err = _run(capsys, "train", tmp_path / "noy.npz", "-o", tmp_path / "m2.json")
    _assert_one_line_error(rc, err, "no array named 'y'")


def test_wrong_feature_count_at_simulate_and_predict(capsys, tmp_path, model_file):
    path = tmp_path / "x.csv"
    path.write_text("1,2,3,4,0\n5,6,7,8,1\n")
    for cmd in ("simulate", "predict"):
        rc, _, err = _run(capsys, cmd, model_file, path)
        _assert_one_line_error(rc, err, "4 features", "expects 3")


def test_codes_out_of_range(capsys, tmp_path, model_file):
    path = tmp_path / "codes.csv"
    path.write_text("1,2,99\n")
    rc, _, err = _run(capsys, "simulate", model_file, path, "--codes", "--no-label")
    _assert_one_line_error(rc, err, "0..15")


def test_unknown_option(capsys):
    rc, _, err = _run(capsys, "demo", "--frobnicate")
    _assert_one_line_error(rc, err, "--frobnicate")


def test_bad_option_value(capsys, tmp_path, blobs_csv):
    rc, _, err = _run(capsys, "train", blobs_csv, "-o", tmp_path / "m.json", "--beta", "-1")
    _assert_one_line_error(rc, err, "--beta")


def test_output_directory_that_cannot_be_created(capsys, tmp_path, model_file):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = _run(capsys, "compile", model_file, "-o", blocker / "sub")
    _assert_one_line_error(rc, err, "cannot create output directory")
    rc, _, err = _run(capsys, "compile", model_file, "-o", "/proc/thresh2hw-out")
    _assert_one_line_error(rc, err, "output directory")
    rc, _, err = _run(capsys, "demo", "--out", blocker / "sub")
    _assert_one_line_error(rc, err, "cannot create output directory")


def test_corrupted_and_future_models(capsys, tmp_path, model_file):
    text = model_file.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(text[: len(text) // 2])
    rc, _, err = _run(capsys, "compile", bad, "-o", tmp_path / "hw")
    _assert_one_line_error(rc, err, "not valid JSON")
    assert not (tmp_path / "hw" / "thresh2hw_top.v").exists()
    d = json.loads(text)
    d["version"] = 99
    bad.write_text(json.dumps(d))
    rc, _, err = _run(capsys, "simulate", bad)
    _assert_one_line_error(rc, err, "version 99 is newer")
    d["version"] = 1
    d["hidden_layers"][0]["weights"][0][0] = "seven"
    bad.write_text(json.dumps(d))
    rc, _, err = _run(capsys, "predict", bad, model_file)
    _assert_one_line_error(rc, err, "must hold integers")


def test_entry_point_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{}")
    p = subprocess.run([sys.executable, "-m", "thresh2hw", "simulate", str(bad)],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"thresh2hw: error: {bad}: not a thresh2hw model (missing format: 'thresh2hw-network')"]


def test_simulate_reports_mismatch_with_nonzero_exit(capsys, tmp_path, model_file, rng,
                                                     monkeypatch):
    # A circuit built from a corrupted copy of the model must make `simulate` fail.
    from dataclasses import replace

    import thresh2hw.sim.check as check
    from thresh2hw.hdl import ThresholdNetworkCircuit
    from thresh2hw.model import OutputLayer
    net = IntegerNetwork.load(model_file)
    bad = replace(net, output=OutputLayer(net.output.weights[::-1].copy(), net.output.bias))
    Q = rng.integers(0, 16, size=(100, 3))
    assert (bad.forward(Q) != net.forward(Q)).any()         # the corruption is observable
    monkeypatch.setattr(check, "ThresholdNetworkCircuit",
                        lambda n: ThresholdNetworkCircuit(bad))
    rc, _, err = _run(capsys, "simulate", model_file, "--random", 100, "--json",
                      tmp_path / "r.json")
    assert rc == 1
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["mismatches"] > 0 and res["first_mismatch"]["index"] >= 0


@pytest.mark.parametrize("name", ["bad name", "", "../evil", "a/b", "module", "9x"])
def test_module_name_must_be_a_plain_identifier(capsys, tmp_path, model_file, name):
    rc, _, err = _run(capsys, "compile", model_file, "-o", tmp_path / "hw", "--name", name)
    _assert_one_line_error(rc, err, "not a plain Verilog identifier")
    assert not list(tmp_path.glob("**/*.v")) and not (tmp_path / "evil.v").exists()


# -- new-user trial fixes ------------------------------------------------------------------------
@pytest.mark.parametrize("extra, flag", [(["--beta-cv", "3"], "--beta-cv"),
                                         (["--beta-grid", "0.1,0.2"], "--beta-grid")])
def test_explicit_beta_excludes_the_choice_of_beta(capsys, tmp_path, blobs_csv, extra, flag):
    rc, _, err = _run(capsys, "train", blobs_csv, "-o", tmp_path / "m.json", *FAST, *extra)
    _assert_one_line_error(rc, err, f"{flag} and --beta are mutually exclusive")
    assert rc == 2 and not (tmp_path / "m.json").exists()
    rc, _, err = _run(capsys, "demo", "-o", tmp_path / "out", *FAST, *extra)
    _assert_one_line_error(rc, err, f"{flag} and --beta are mutually exclusive")
    assert not (tmp_path / "out").exists()


def test_fold_beyond_the_feature_count(capsys, tmp_path, model_file):
    for argv in (["compile", model_file, "-o", tmp_path / "hw"],
                 ["simulate", model_file, "--json", tmp_path / "hw.json"]):
        rc, _, err = _run(capsys, *argv, "--fold", 4)
        _assert_one_line_error(rc, err, "--fold 4 is outside 1..3", "3 input features")
        assert rc == 2 and not list(tmp_path.glob("hw*"))
        rc, _, err = _run(capsys, *argv, "--fold", 0)
        _assert_one_line_error(rc, err, "--fold: 0 is outside 1..n_features")
        assert rc == 2 and not list(tmp_path.glob("hw*"))
    assert _run(capsys, "compile", model_file, "-o", tmp_path / "hw", "--fold", 3, "-q")[0] == 0


def test_classification_on_continuous_labels(capsys, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 2))
    path = tmp_path / "reg.csv"
    np.savetxt(path, np.column_stack([X, X[:, 0] * 1.5 + 0.25]), delimiter=",",
               header="a,b,y", comments="")
    out = tmp_path / "m.json"
    rc, _, err = _run(capsys, "train", path, "-o", out, "--task", "classification", *FAST)
    _assert_one_line_error(rc, err, "labels look continuous (40 distinct values",
                           "use --task regression")
    assert rc == 2 and not out.exists()
    rc, _, err = _run(capsys, "train", path, "-o", out, "--task", "regression", *FAST)
    assert rc == 0, err


@pytest.mark.parametrize("delim", [",", ";", "\t"])
def test_csv_delimiter_is_detected(capsys, tmp_path, blobs_csv, delim):
    # quoted fields holding the other delimiters must not confuse the detection
    rows = [r.split(",") for r in blobs_csv.read_text().splitlines()]
    rows[0] = ['"width, cm"', '"len; mm"', '"x\ty"', "kind"]
    rows[1][3] = '"a"'
    path = tmp_path / "blobs.txt"
    path.write_text("\n".join(delim.join(r) for r in rows) + "\n")
    model = tmp_path / "m.json"
    rc, _, err = _run(capsys, "train", path, "-o", model, "--label", "kind", *FAST)
    assert rc == 0, err
    net = IntegerNetwork.load(model)
    assert net.classes == ["a", "b", "c"] and net.n_features == 3


@pytest.mark.parametrize("content, shape", [("x\n1.5\n2\n", (2, 1)),
                                            ('"a;b,c"\n1\n2\n3\n', (3, 1)),
                                            ("1;2\n3;4\n", (2, 2)),
                                            ("1\t2\n3\t4\n", (2, 2))])
def test_csv_delimiter_detection_edge_cases(tmp_path, content, shape):
    from thresh2hw.data import load_dataset
    path = tmp_path / "x.csv"
    path.write_text(content)
    X, _ = load_dataset(str(path), has_label=False)
    assert X.shape == shape


def test_semicolon_csv_with_a_short_row(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a;b;label\n1;2;0\n3;4\n")
    rc, _, err = _run(capsys, "train", path, "-o", tmp_path / "m.json", *FAST)
    _assert_one_line_error(rc, err, "line 3 has 2 fields, expected 3")


def test_demo_and_train_write_the_same_meta_keys_and_accept_o_and_out(capsys, tmp_path,
                                                                      blobs_csv):
    keys = {"test_metric", "float_test_score", "int_test_score"}
    rc, _, err = _run(capsys, "train", blobs_csv, "--out", tmp_path / "t.json", *FAST)
    assert rc == 0, err
    train_meta = IntegerNetwork.load(tmp_path / "t.json").meta
    rc, _, err = _run(capsys, "demo", "--dataset", "breast_cancer", "-o", tmp_path / "d",
                      "--n-arrangements", 60, "--beta", 0.05, "--column-rounds", 0, "-q")
    assert rc == 0, err
    demo_meta = IntegerNetwork.load(tmp_path / "d" / "model.json").meta
    for meta in (train_meta, demo_meta):
        assert keys <= set(meta) and meta["test_metric"] == "accuracy"
        assert not {"float_test_accuracy", "int_test_accuracy"} & set(meta)
    rc, _, err = _run(capsys, "predict", tmp_path / "t.json", blobs_csv, "--out",
                      tmp_path / "p.txt")
    assert rc == 0 and len((tmp_path / "p.txt").read_text().split()) == 120


def test_boolean_weight_in_model_file(capsys, tmp_path, model_file):
    d = json.loads(model_file.read_text())
    d["hidden_layers"][0]["thresholds"][0] = True
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    rc, _, err = _run(capsys, "compile", bad, "-o", tmp_path / "hw")
    _assert_one_line_error(rc, err, "hidden layer 0 thresholds must hold numbers, not true/false")
    assert rc == 2 and not (tmp_path / "hw").exists()


@pytest.mark.parametrize("header", [True, False])
def test_text_labels_with_and_without_header_keep_every_row(tmp_path, header):
    # a headerless file whose only text column is the label must not lose its first row
    from thresh2hw.data import load_dataset
    rows = [f"{i / 10:.1f},{(7 * i % 5) / 4:.2f},{'blue' if i % 2 else 'red'}" for i in range(9)]
    path = tmp_path / "t.csv"
    path.write_text(("x,y,colour\n" if header else "") + "\n".join(rows) + "\n")
    X, y = load_dataset(str(path))
    assert X.shape == (9, 2) and list(y[:2]) == ["red", "blue"]
    assert X[0].tolist() == [0.0, 0.0]


def test_failed_compile_leaves_no_output_directory(capsys, tmp_path):
    net = random_network(np.random.default_rng(0), d=3, hidden=(4,), n_out=2)
    model = tmp_path / "m.json"
    net.save(model)
    out = tmp_path / "hw"
    rc, _, err = _run(capsys, "compile", model, "-o", out, "--pipeline-stages", 999)
    _assert_one_line_error(rc, err, "--pipeline-stages must be at most")
    assert not out.exists()


# -- new-user trial fixes, round 2 ---------------------------------------------------------------
def _closed_pipe_run(argv, closed):
    """Run the CLI with the read end of its ``closed`` stream ("stdout" or "stderr") closed
    before the child can write (like ``| head`` exiting): (exit status, the other stream)."""
    with subprocess.Popen([sys.executable, "-m", "thresh2hw", *map(str, argv)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        getattr(p, closed).close()
        other = (p.stderr if closed == "stdout" else p.stdout).read()
    return p.returncode, other


def test_closed_log_pipe_exits_quietly_with_sigpipe_status(tmp_path, blobs_csv):
    # `thresh2hw train ... 2>&1 | head -1`: the log stream (stderr) breaks
    model = tmp_path / "m.json"
    rc, out = _closed_pipe_run(["train", blobs_csv, "-o", model, "--n-arrangements", 150,
                                "--beta", 0.02], "stderr")
    assert (rc, out) == (141, b"") and not model.exists()
    # `thresh2hw predict ... | head -1`: stdout breaks; nothing at all on stderr
    net = random_network(np.random.default_rng(0), d=3, hidden=(4,), input_bits=4)
    net.save(tmp_path / "n.json")
    codes = tmp_path / "codes.csv"
    codes.write_text("1,2,3\n" * 50)
    rc, err = _closed_pipe_run(["predict", tmp_path / "n.json", codes, "--codes", "--no-label"],
                               "stdout")
    assert (rc, err) == (141, b"")


@pytest.mark.parametrize("row, needle", [
    ("5,nan,1", "line 4, column 2: features contain NaN"),
    ("5,inf,1", "line 4, column 2: features contain infinite"),
    ("5,x,1", "line 4, column 2: 'x' is not a number"),
    ("5,1", "line 4 has 2 fields, expected 3"),
    ("5,6,nan", "line 4, column 3: labels contain NaN"),
])
def test_every_csv_error_names_the_file_line(capsys, tmp_path, row, needle):
    # the same file for every kind of error: header on line 1, a blank line 2, bad row on 4
    path = tmp_path / "bad.csv"
    path.write_text(f"a,b,label\n\n1,2,0\n{row}\n6,7,0\n")
    rc, _, err = _run(capsys, "train", path, "-o", tmp_path / "m.json", *FAST)
    _assert_one_line_error(rc, err, f"bad.csv: {needle}")
    assert rc == 2 and not (tmp_path / "m.json").exists()


def test_csv_line_numbers_count_quoted_line_breaks(tmp_path):
    from thresh2hw.data import DataError, load_dataset
    path = tmp_path / "q.csv"
    path.write_text('"a\nwide",b,label\n1,2,0\n3,nan,1\n')       # header spans lines 1-2
    with pytest.raises(DataError, match="line 4, column 2"):
        load_dataset(str(path))


@pytest.mark.parametrize("argv, needles", [
    (["--pipeline-stages", 999], ["--pipeline-stages must be at most"]),
    (["--arch", "combinational", "--pipeline-stages", 1],
     ["--pipeline-stages applies only to --arch pipelined or --arch folded"]),
    (["--arch", "pipelined", "--fold", 2], ["--fold applies only to --arch folded"]),
])
def test_architecture_errors_name_cli_options(capsys, tmp_path, model_file, argv, needles):
    for cmd in (["compile", model_file, "-o", tmp_path / "hw"], ["simulate", model_file]):
        rc, _, err = _run(capsys, *cmd, *argv)
        _assert_one_line_error(rc, err, *needles)
        assert rc == 2 and "pipeline_stages" not in err and "architecture=" not in err
        assert not (tmp_path / "hw").exists()


def test_cli_terms_leave_other_words_alone():
    from thresh2hw.cli import _cli_terms
    assert _cli_terms("quantize it with input_bits=6, not 8") == \
        "quantize it with --input-bits 6, not 8"
    assert _cli_terms("3-fold cross-validation needs folded data") == \
        "3-fold cross-validation needs folded data"


@pytest.mark.parametrize("value", ["1.5", "1", "-0.1", "nan", "half"])
def test_test_size_is_checked_by_the_cli(capsys, tmp_path, blobs_csv, value):
    rc, _, err = _run(capsys, "train", blobs_csv, "-o", tmp_path / "m.json", *FAST,
                      "--test-size", value)
    _assert_one_line_error(rc, err, "--test-size")
    assert rc == 2 and "test_size" not in err and not (tmp_path / "m.json").exists()
    if value == "1.5":
        assert "not a fraction in [0, 1)" in err


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d.pop("output_layer"), "missing field 'output_layer'"),
    (lambda d: d["output_layer"].pop("bias"), "missing field 'output_layer.bias'"),
    (lambda d: d["hidden_layers"][0].pop("thresholds"),
     "missing field 'hidden_layers[0].thresholds'"),
    (lambda d: d.pop("task"), "missing field 'task'"),
    (lambda d: d["input_quantizer"].pop("step"), "missing field 'input_quantizer.step'"),
    (lambda d: d.update(output_layer=[1, 2]), "output_layer must be a JSON object"),
    (lambda d: d["hidden_layers"][0]["weights"][0].__setitem__(0, 10 ** 30),
     "hidden layer 0 weights holds 1000000000000000000000000000000, outside the int64 range"),
])
def test_malformed_model_file_names_the_field(capsys, tmp_path, edit, needle):
    from dataclasses import replace

    from thresh2hw.model import InputQuantizer
    net = random_network(np.random.default_rng(0), d=3, hidden=(4,), input_bits=4)
    net = replace(net, input_quantizer=InputQuantizer.fit(np.eye(3), bits=4))
    d = json.loads(net.to_json())
    edit(d)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d))
    rc, _, err = _run(capsys, "compile", bad, "-o", tmp_path / "hw")
    _assert_one_line_error(rc, err, f"{bad}: ", needle)
    assert "KeyError" not in err and not (tmp_path / "hw").exists()


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_formal_timeout_must_be_positive(capsys, model_file, value):
    rc, _, err = _run(capsys, "verify", model_file, "--engine", "formal", "--formal-timeout",
                      value)
    _assert_one_line_error(rc, err, "--formal-timeout", "not a positive number")
    assert rc == 2


@pytest.mark.parametrize("argv, needle", [
    (["verify", "M", "--engine", "pysim", "--family", "ice40"],
     "--family applies only to --engine netlist or all, not pysim"),
    (["verify", "M", "--proof", "kind"], "--proof applies only to --engine formal or all"),
    (["verify", "M", "--engine", "cxxrtl", "--reference", "circuit"],
     "--reference applies only to --engine formal"),
    (["verify", "M", "--engine", "pysim", "--depth", 3], "--depth applies only to --engine formal"),
    (["verify", "M", "--engine", "netlist", "--formal-timeout", 5],
     "--formal-timeout applies only to --engine formal"),
    (["verify", "M", "--engine", "formal", "--backpressure", 0.1],
     "--backpressure applies only to the simulation engines"),
    (["verify", "M", "--engine", "formal", "--vcd", "w.vcd"],
     "--vcd applies only to the simulation engines"),
    (["train", "D", "-o", "m.json", "--lattice-bits", 3], "--lattice-bits applies only to "
                                                            "--sampler lattice"),
    (["demo", "--sampler", "gaussian", "--lattice-bits", 3], "--lattice-bits applies only to"),
    (["train", "D", "-o", "m.json", "--layer-width", 10],
     "--layer-width applies only to deep networks (--layers 3 or more)"),
    (["train", "D", "-o", "m.json", "--separator", "svm"], "--separator applies only to deep"),
    (["predict", "M", "D", "--baud", 9600], "--baud applies only to predictions on a board"),
    (["build", "M", "--board", "none", "--device", "up5k", "--baud", 9600],
     "--baud applies only to board builds"),
    (["build", "M", "--board", "none", "--device", "up5k", "--seed", 3],
     "--seed applies only to board builds"),
])
def test_options_that_would_be_ignored_are_refused(capsys, tmp_path, model_file, blobs_csv,
                                                   argv, needle):
    files = {"M": model_file, "D": blobs_csv, "m.json": tmp_path / "m.json",
             "w.vcd": tmp_path / "w.vcd"}
    rc, _, err = _run(capsys, *[files.get(a, a) for a in argv])
    _assert_one_line_error(rc, err, needle)
    assert rc == 2 and not (tmp_path / "m.json").exists() and not (tmp_path / "w.vcd").exists()


def test_defaults_are_not_taken_for_given_options(capsys, tmp_path):
    from thresh2hw.cli import build_parser
    from thresh2hw.cli_verify import ENGINE_CHOICES, _reject_inapplicable
    for engine in ENGINE_CHOICES:                      # nothing given: nothing refused
        args = build_parser().parse_args(["verify", "m.json", "--engine", engine])
        _reject_inapplicable(args)
        assert (args.family, args.proof, args.formal_timeout, args.backpressure) == \
            ("both", "pdr", 900.0, 0.0)
    # the demo's default sampler is lattice: --lattice-bits applies (it fails later, at --json)
    rc, _, err = _run(capsys, "demo", "--lattice-bits", 3, "--json", tmp_path / "no" / "s.json")
    _assert_one_line_error(rc, err, "cannot write")


def test_input_bits_limit_is_the_model_files_limit(capsys, tmp_path, blobs_csv):
    from thresh2hw.model import MAX_INPUT_BITS
    assert MAX_INPUT_BITS == 24
    model = tmp_path / "m.json"
    rc, _, err = _run(capsys, "train", blobs_csv, "-o", model, *FAST, "--input-bits", 24)
    assert rc == 0, err
    net = IntegerNetwork.load(model)
    assert net.input_bits == 24 and net.input_quantizer.bits == 24
    rc, out, err = _run(capsys, "predict", model, blobs_csv)
    assert rc == 0 and set(out.split()) <= {"a", "b", "c"}, err
    rc, _, err = _run(capsys, "train", blobs_csv, "-o", model, *FAST, "--input-bits", 25)
    _assert_one_line_error(rc, err, "--input-bits", "outside 1..24")


def _options(parser, name="thresh2hw"):
    import argparse
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub_name, sub in a.choices.items():
                yield from _options(sub, sub_name)
        elif a.option_strings:
            yield name, parser, a


def test_every_option_help_shows_its_default():
    import argparse
    from thresh2hw.cli import build_parser
    flags = (argparse._HelpAction, argparse._VersionAction, argparse._StoreTrueAction)
    missing = [(cmd, a.option_strings[-1]) for cmd, parser, a in _options(build_parser())
               if not isinstance(a, flags) and not a.required
               and "default" not in parser._get_formatter()._expand_help(a)]
    assert not missing
    helps = {(cmd, a.option_strings[-1]): parser._get_formatter()._expand_help(a)
             for cmd, parser, a in _options(build_parser())}
    assert "(default: 0.2,0.1,0.05)" in helps["train", "--beta-grid"]
    assert helps["verify", "--exhaustive"].endswith("(default: auto)")
    assert helps["train", "--input-bits"].endswith("1..24 (default: 8)")


def test_new_user_trial_build_and_label_checks(tmp_path, capsys):
    """From a new-user trial: build checks --fold against the model and its output path before
    any tool runs; --label with --no-label is refused; credit flow control needs a stage."""
    import os
    import numpy as np
    from thresh2hw.cli import main
    from thresh2hw.model import IntegerNetwork, OutputLayer, ThresholdLayer
    net = IntegerNetwork(task="multiclass", input_bits=3,
                         hidden=(ThresholdLayer(np.array([[1, -1, 2], [2, 1, -1]]),
                                                np.array([1, 0])),),
                         output=OutputLayer(np.array([[1, -1], [0, 2]]), np.array([0, 0])))
    model = str(tmp_path / "m.json")
    net.save(model)
    (tmp_path / "afile").write_text("x")
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,c,y\n1,2,3,0\n")
    cases = [
        (["build", model, "--board", "none", "--device", "up5k", "-o", str(tmp_path / "o"),
          "--fold", "9"], "--fold 9 is outside 1..3"),
        (["build", model, "--board", "none", "--device", "up5k", "-o", str(tmp_path / "afile")],
         "a file of that name exists"),
        (["predict", model, str(csv), "--label", "y", "--no-label"], "give one of them"),
        (["compile", model, "-o", str(tmp_path / "c"), "--pipeline-stages", "0",
          "--flow-control", "credit"], "needs at least one pipeline stage"),
    ]
    for argv, needle in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (argv, err)
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".thresh2hw-build-")]


def test_stage_and_model_path_messages(tmp_path, capsys, model_file):
    """--pipeline-stages errors mention 'max'; a missing model file is named once."""
    model_file = str(model_file)
    cases = [(["compile", model_file, "-o", str(tmp_path / "a"), "--pipeline-stages", "-1"],
              "or 'max'"),
             (["compile", model_file, "-o", str(tmp_path / "b"), "--pipeline-stages", "999"],
              "'max' gives"),
             (["compile", str(tmp_path / "nope.json"), "-o", str(tmp_path / "c")], None)]
    for argv, needle in cases:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        if needle:
            assert needle in err, err
        else:
            assert err.count("nope.json") == 1, err


def test_unknown_option_points_to_the_subcommand_help(capsys, model_file, tmp_path):
    rc, _, err = _run(capsys, "compile", model_file, "-o", tmp_path / "hw", "--bogus", 1)
    _assert_one_line_error(rc, err, "unrecognized arguments: --bogus 1",
                           "see 'thresh2hw compile --help'")
    assert rc == 2 and not list(tmp_path.glob("hw*"))


@pytest.mark.parametrize("cmd", ["simulate", "verify", "train"])
def test_seed_outside_what_numpy_and_scikit_learn_take(capsys, tmp_path, model_file, blobs_csv,
                                                       cmd):
    first = {"simulate": [model_file, blobs_csv], "verify": [model_file],
             "train": [blobs_csv, "-o", tmp_path / "m.json"]}[cmd]
    for seed in (-1, 2 ** 32):
        rc, _, err = _run(capsys, cmd, *first, "--seed", seed)
        _assert_one_line_error(rc, err, f"--seed: {seed} is outside 0..4294967295")
        assert rc == 2 and not (tmp_path / "m.json").exists()
    if cmd == "train":                  # nextpnr's seed: a signed 32-bit integer
        for seed in (-1, 2 ** 31):
            rc, _, err = _run(capsys, "build", model_file, "--board", "icebreaker", "-o",
                              tmp_path / "b", "--seed", seed)
            _assert_one_line_error(rc, err, f"--seed: {seed} is outside 0..2147483647")
            assert rc == 2 and not (tmp_path / "b").exists()
