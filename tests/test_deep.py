"""Deep threshold networks: the shattered closed form, exact reconstruction of the chosen
dichotomies, the Lasso mode, the circuit of the quantized deep network, beta by CV, limits."""
import dataclasses

import numpy as np
import pytest

from thresh2hw.pipeline import TrainConfig, select_beta_cv, train_integer_model
from thresh2hw.quant import quantize_network
from thresh2hw.train._deep import fit_deep, fit_deep_path
from thresh2hw.train._limits import DictionaryTooLarge, check_dictionary_memory
from thresh2hw.train._shattered import (clip_level, fit_separator, is_shattered,
                                        shattered_delta, shattered_objective, staircase)


def _cvxpy_shattered(Y, beta):
    import cvxpy as cp
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    D = cp.Variable(Y2.shape)
    pen = sum(cp.max(cp.pos(D[:, c])) + cp.max(cp.pos(-D[:, c])) for c in range(Y2.shape[1]))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(D - Y2) + beta * pen))
    prob.solve(solver="CLARABEL")
    return prob.value


@pytest.mark.parametrize("kind", ["pm1", "real", "onehot"])
@pytest.mark.parametrize("beta", [0.05, 0.7, 3.0, 50.0])
def test_shattered_closed_form_matches_cvxpy(kind, beta):
    rng = np.random.default_rng(int(beta * 100) + len(kind))
    n = 15
    if kind == "pm1":
        Y = np.where(rng.random(n) < 0.4, 1.0, -1.0)
    elif kind == "real":
        Y = rng.standard_normal(n) * 2
    else:
        Y = np.eye(3)[rng.integers(0, 3, n)]
    D = shattered_delta(Y, beta)
    ours = shattered_objective(D, Y, beta)
    assert abs(ours - _cvxpy_shattered(Y, beta)) <= 1e-6 * max(1.0, abs(ours))
    if kind == "pm1":                                  # delta = +-(1 - beta / n_+-)_+
        npos, nneg = (Y > 0).sum(), (Y < 0).sum()
        expect = np.where(Y > 0, max(1 - beta / npos, 0), -max(1 - beta / nneg, 0))
        np.testing.assert_allclose(D, expect, atol=1e-12)


def test_clip_level_and_staircase():
    a = np.array([3.0, 1.0, 0.0, 2.0])
    tau = clip_level(a, 1.5)
    assert np.isclose(np.maximum(a - tau, 0).sum(), 1.5)
    assert clip_level(a, 100.0) == 0.0
    c, P = staircase(np.array([0.5, 0.0, 2.0, 0.5]))
    np.testing.assert_allclose(P.astype(float) @ c, [0.5, 0.0, 2.0, 0.5])
    assert np.isclose(c.sum(), 2.0)


def _data(n, d, seed, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if classes == 2:
        y = np.where(X[:, 0] * X[:, 1] + 0.2 * X[:, 2] >= 0, 1.0, -1.0)
        return X, y, "binary"
    y = np.argmax(X[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return X, np.eye(classes)[y], "multiclass"


@pytest.mark.parametrize("separator", ["pinv", "ridge", "svm"])
def test_shattered_reconstruction_reproduces_dichotomies(separator):
    X, Y, task = _data(30, 5, 0)
    fit = fit_deep(X, Y, task, beta=0.5, beta_scale="absolute", width=60, separator=separator)
    assert fit.mode == "shattered" and fit.width_condition["shattered"]
    assert fit.width_condition["ranks"] == [30]
    net = fit.network
    assert len(net.layers) == 2
    np.testing.assert_array_equal(net.hidden_bits(X)[-1], fit.patterns)
    assert np.isclose(fit.reconstructed_objective, fit.lasso_objective, rtol=1e-9)
    assert np.all(net.predict_index(X) == (Y > 0))             # small beta: training data fit


def test_shattered_multiclass_and_four_layers():
    X, Y, task = _data(24, 4, 1, classes=3)
    fit = fit_deep(X, Y, task, beta=0.3, beta_scale="absolute", width=100, n_layers=4,
                   separator="ridge")
    assert fit.mode == "shattered" and len(fit.network.layers) == 3
    np.testing.assert_array_equal(fit.network.hidden_bits(X)[-1], fit.patterns)
    # merged one-vs-rest staircases: never worse than the per-class closed form
    assert fit.reconstructed_objective <= fit.lasso_objective * (1 + 1e-9)
    assert np.all(fit.network.predict_index(X) == Y.argmax(axis=1))


def test_lasso_mode_when_not_shattered():
    X, Y, task = _data(60, 4, 2)
    X = np.vstack([X, X[:5]])                              # duplicate rows, flipped labels
    Y = np.concatenate([Y, -Y[:5]])
    assert not is_shattered(np.hstack([X, X]) > 0)
    with pytest.raises(ValueError, match="not shattered"):
        fit_deep(X, Y, task, beta=0.1, width=200, mode="shattered")
    fits = fit_deep_path(X, Y, task, [0.2, 0.05], width=16, n_layers=3, n_directions=300,
                         column_rounds=1)
    for fit in fits:
        assert fit.mode == "lasso" and not fit.width_condition["shattered"]
        np.testing.assert_array_equal(fit.network.hidden_bits(X)[-1], fit.patterns)
        assert np.isclose(fit.reconstructed_objective, fit.lasso_objective, rtol=1e-7)
        assert fit.width_condition["m_star"] == fit.network.n_hidden
    assert fits[1].lasso_objective < fits[0].lasso_objective


def test_separator_rejects_unrealisable_pattern():
    H = np.array([[0, 1], [0, 1], [1, 0]], dtype=bool)     # rows 0 and 1 are identical
    with pytest.raises(ValueError, match="not realisable"):
        fit_separator(H, np.array([True, False, True]))


@pytest.mark.sim
@pytest.mark.parametrize("n_layers, mode", [(3, "shattered"), (4, "lasso")])
def test_deep_circuit_matches_reference(n_layers, mode):
    from thresh2hw.sim import check_circuit
    X, Y, task = _data(20, 3, 3)
    fit = fit_deep(X, Y, task, beta=0.2, width=60 if mode == "shattered" else 6,
                   n_layers=n_layers, mode=mode, n_directions=60)
    net, _ = quantize_network(fit.network, X, input_bits=4, weight_bits=5, output_bits=6,
                              classes=[-1, 1])
    assert len(net.hidden) == n_layers - 1
    rng = np.random.default_rng(0)
    Q = np.vstack([net.input_quantizer.transform(X),
                   rng.integers(0, 16, size=(30, X.shape[1]))])
    res = check_circuit(net, Q)
    assert res.ok, res.first_mismatch


def test_pipeline_deep_and_beta_cv():
    X, Y, _ = _data(60, 4, 4)
    y = (Y > 0).astype(int)
    cfg = TrainConfig(beta=None, beta_grid=(0.3, 0.1), beta_cv=3, n_arrangements=100,
                      n_layers=3, layer_width=12, column_rounds=0)
    logs = []
    beta, table = select_beta_cv(X, y, "classification", cfg, logs.append)
    assert beta in (0.3, 0.1) and len(table) == 2 and all(0 <= r[2] <= 1 for r in table)
    out = train_integer_model(X, y, "classification", cfg, log=logs.append)
    assert out.beta == beta and len(out.network.hidden) == 2
    assert out.network.meta["training"]["n_layers"] == 3
    assert any("3-fold" in s for s in logs)
    cfg2 = dataclasses.replace(cfg, n_layers=2, beta_cv=2)
    assert train_integer_model(X, y, "classification", cfg2).beta in (0.3, 0.1)


def test_cli_train_deep_with_cv(tmp_path, capsys):
    from thresh2hw.cli import main
    X, Y, _ = _data(50, 3, 5)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=(Y > 0).astype(int))
    rc = main(["train", str(path), "-o", str(tmp_path / "m.json"), "--layers", "3",
               "--layer-width", "10", "--n-arrangements", "80", "--beta-cv", "2",
               "--beta-grid", "0.3,0.1", "--column-rounds", "0"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "2-fold CV" in err and "[deep]" in err


def test_cli_prints_nonconvergence_as_one_line(tmp_path, capsys, monkeypatch):
    import thresh2hw.pipeline as pl
    from thresh2hw.cli import main
    real = pl._fit_path

    def unconverged(*a, **k):
        return [dataclasses.replace(f, converged=False, duality_gap=0.25) for f in real(*a, **k)]
    monkeypatch.setattr(pl, "_fit_path", unconverged)
    X, Y, _ = _data(40, 3, 6)
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=(Y > 0).astype(int))
    rc = main(["train", str(path), "-o", str(tmp_path / "m.json"), "--beta", "0.1",
               "--n-arrangements", "50", "--column-rounds", "0"])
    err = capsys.readouterr().err
    assert rc == 0
    lines = [s for s in err.splitlines() if "warning" in s]
    assert len(lines) == 1 and lines[0].startswith("thresh2hw: warning: Lasso solver stopped")
    assert "0.25" in lines[0]


def test_memory_limit_refused_up_front(monkeypatch):
    with pytest.raises(DictionaryTooLarge, match=r"1000 x 10000 pattern dictionary needs"):
        check_dictionary_memory(1000, 10000, available=10 ** 6)
    assert check_dictionary_memory(10, 10, available=10 ** 9) > 100
    import thresh2hw.train._limits as lim
    from thresh2hw.train import fit_convex
    monkeypatch.setattr(lim, "available_memory", lambda: 10 ** 5)
    X, Y, task = _data(200, 3, 7)
    with pytest.raises(ValueError, match="GiB are available"):
        fit_convex(X, Y, task, n_directions=5000)


def test_degenerate_data():
    X, Y, task = _data(40, 3, 8)
    Xc = np.hstack([X, np.full((40, 1), 3.0)])               # a constant feature: ignored
    fit = fit_deep(Xc, Y, task, beta=0.1, width=80)
    np.testing.assert_array_equal(fit.network.hidden_bits(Xc)[-1], fit.patterns)
    y = (Y > 0).astype(int)
    y[0] = 2                                                 # a class with one sample
    cfg = TrainConfig(beta=None, n_arrangements=50, column_rounds=0)
    with pytest.raises(ValueError, match="only 1 training sample"):
        train_integer_model(X, y, "classification", cfg)
    cfg.beta_cv = 3
    with pytest.raises(ValueError, match="only 1 training sample"):
        train_integer_model(X, y, "classification", cfg)


def test_sampled_layers_reach_the_requested_width():
    # duplicates of the first `width` directions are replaced by further draws
    X = np.random.default_rng(0).standard_normal((60, 2))  # width 100 gave 63 neurons before
    Y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    fit = fit_deep(X, Y, "binary", beta=0.1, width=100, n_layers=4, n_directions=200)
    assert fit.layer_widths[:2] == (100, 100)
    assert fit.width_condition["requested_width"] == 100


def test_cli_reports_a_layer_narrower_than_requested(tmp_path, capsys):
    from thresh2hw.cli import main
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 1))                 # one feature: few distinct patterns exist
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(int))
    rc = main(["train", str(tmp_path / "d.npz"), "-o", str(tmp_path / "m.json"), "--layers",
               "3", "--layer-width", "50", "--n-arrangements", "50", "--beta", "0.1"])
    err = capsys.readouterr().err
    assert rc == 0, err
    line = [s for s in err.splitlines() if "requested 50" in s]
    assert len(line) == 1 and "(--layer-width), got " in line[0], err


def test_beta_and_beta_cv_are_exclusive():
    with pytest.raises(ValueError, match="mutually exclusive"):
        TrainConfig(beta=0.1, beta_cv=3).check()
