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
    ("a,b,label\n1,2\n", "row 2 has 2 fields"),
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
    _assert_one_line_error(rc, err, "row 3 has 2 fields, expected 3")


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
    _assert_one_line_error(rc, err, "pipeline_stages must be at most")
    assert not out.exists()
