# amaranth: UnusedElaboratable=no
"""The full `thresh2hw demo`: digits, convex training, integer model, Verilog, cycle-accurate
check of the whole test set plus adversarial vectors."""
import json

import numpy as np
import pytest

from thresh2hw.cli import main
from thresh2hw.data import load_builtin
from thresh2hw.model import IntegerNetwork
from thresh2hw.pipeline import split

pytestmark = pytest.mark.slow

KEYS = ["dataset", "n_train", "n_test", "hidden_neurons", "float_test_accuracy",
        "int_test_accuracy", "lasso_objective", "reconstructed_objective", "sim_vectors",
        "sim_mismatches", "verilog_path", "seconds"]


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["demo", "--out", str(out), "--json", str(tmp_path / "summary.json")])
    err = capsys.readouterr().err
    assert rc == 0, err
    s = json.loads((tmp_path / "summary.json").read_text())
    assert all(k in s for k in KEYS), set(KEYS) - set(s)
    assert (s["dataset"], s["n_train"], s["n_test"]) == ("digits", 1437, 360)
    assert s["sim_mismatches"] == 0
    assert s["sim_vectors"] >= 360 + 2 * s["hidden_neurons"]      # test set + adversarial
    assert s["float_test_accuracy"] >= 0.93 and s["int_test_accuracy"] >= 0.93
    rel = abs(s["reconstructed_objective"] - s["lasso_objective"]) / s["lasso_objective"]
    assert rel <= 1e-6
    assert set(s["seconds"]) >= {"train", "quantize", "compile", "simulate"}
    # the written model is the one that was simulated, and it reproduces the reported accuracy
    net = IntegerNetwork.load(out / "model.json")
    X, y = load_builtin("digits")
    _, Xte, _, yte = split(X, y, 0.2, 0)
    acc = np.mean(np.asarray(net.classes)[net.forward(net.input_quantizer.transform(Xte))] == yte)
    assert acc == pytest.approx(s["int_test_accuracy"])
    assert "module thresh2hw_top" in (out / "thresh2hw_top.v").read_text()
    iface = json.loads((out / "thresh2hw_top.interface.json").read_text())
    assert iface["input"]["width"] == 64 * 8 and iface["output"]["classes"] == list(range(10))
    assert "0 mismatches" in err
