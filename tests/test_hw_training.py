"""Hardware-aware training hooks: integer-lattice generators and the cost-weighted Lasso."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from thresh2hw.model import InputQuantizer
from thresh2hw.quant import exact_integer_scale, quantize_network
from thresh2hw.ranges import csd_digits
from thresh2hw.train import encode_classes, fit_convex
from thresh2hw.train._arrangements import ArrangementSampler, lattice_directions
from thresh2hw.train._fast import solve_fast
from thresh2hw.train._hwcost import neuron_costs
from thresh2hw.train._lasso import beta_max, dual_gap, lasso_objective, solve, solve_cvxpy


@pytest.fixture(scope="module")
def bc():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    return X[idx[:240]], y[idx[:240]], X[idx[240:400]], y[idx[240:400]]


def _power_of_two_ratio(u, w):
    """The power of two ``r`` with ``u == r * w`` on the nonzeros (asserting it exists)."""
    nz = w != 0
    assert np.array_equal(u != 0, nz)
    r = u[nz] / w[nz]
    assert np.all(r == r[0]) and r[0] > 0
    m, _ = np.frexp(r[0])
    assert m == 0.5                          # r is an exact power of two
    return r[0]


# ------------------------------------------------------------------------------------------
# lattice sampler
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [2, 3])
def test_lattice_directions_are_integer_with_thresholds_in_range(bits):
    rng = np.random.default_rng(1)
    Q = rng.integers(0, 16, size=(50, 6)).astype(float)
    Q[:, 2] = 5.0                                        # a constant feature is never used
    Qa = np.hstack([Q, np.ones((50, 1))])
    G = lattice_directions(Qa, 200, np.random.default_rng(2), lattice_bits=bits)
    m = (1 << (bits - 1)) - 1
    g = G[:-1]
    assert np.array_equal(g, np.round(g)) and np.abs(g).max() <= m
    assert np.all(g[2] == 0) and np.all(np.abs(g).sum(axis=0) > 0)
    assert np.all(np.gcd.reduce(np.abs(g).astype(np.int64), axis=0) == 1)
    T = 0.5 - G[-1]
    assert np.array_equal(T, np.round(T))
    proj = Q @ g
    assert np.all(T >= proj.min(axis=0)) and np.all(T <= proj.max(axis=0))
    # the float pattern of the column is exactly 1[g.q >= T]
    assert np.array_equal(Qa @ G >= 0, proj >= T)


def test_lattice_sampler_needs_integer_codes():
    with pytest.raises(ValueError, match="integer input codes"):
        ArrangementSampler(np.full((4, 3), 0.5), sampler="lattice")


@pytest.mark.parametrize("bits", [2, 3])
def test_lattice_network_quantizes_exactly(bc, bits):
    X, y, Xte, _ = bc
    classes, Y, kind = encode_classes(y)
    fit = fit_convex(X, Y, kind, beta=0.1, sampler="lattice", lattice_bits=bits,
                     n_directions=300, scan_bias=True, column_rounds=1, input_bits=6,
                     random_state=3)
    fnet = fit.network
    assert fnet.n_hidden > 3
    net, rep = quantize_network(fnet, X, input_bits=6, weight_bits=4, classes=list(classes))
    assert rep.changed_bits == [0] and rep.changed_points == 0
    # the integer weights are the generators (up to the exact power-of-two normalisation of
    # the reconstruction), thresholds included
    U = fnet.layers[0]
    W, T = net.hidden[0].weights, net.hidden[0].thresholds
    m = (1 << (bits - 1)) - 1
    for j in range(fnet.n_hidden):
        if not W[j].any():                               # the bias-only (constant) neuron
            assert not U[:-1, j].any()
            continue
        assert np.abs(W[j]).max() <= m
        r = _power_of_two_ratio(U[:-1, j], W[j].astype(float))
        assert U[-1, j] / r == 0.5 - T[j]
    # exact on every input, not only on the training data (predictions may still differ by
    # the rounding of the output weights, which is not this test's concern)
    for A in (X, Xte):
        Q = net.input_quantizer.transform(A)
        assert np.array_equal(net.hidden_bits(Q)[0].astype(bool), fnet.hidden_bits(A)[0])
    with pytest.raises(ValueError, match="input codes"):
        quantize_network(fnet, X, input_bits=8, weight_bits=4)


def test_exact_integer_scale():
    from fractions import Fraction as F
    assert exact_integer_scale([F(3, 8), F(-3, 8), F(0)], 3) == F(8, 3)
    assert exact_integer_scale([F(1, 4), F(3, 4)], 3) == 4
    assert exact_integer_scale([F(1, 4), F(3, 4)], 2) is None
    assert exact_integer_scale([F(0), F(0)], 3) is None


def test_lattice_fit_is_deterministic(bc):
    X, y, _, _ = bc
    classes, Y, kind = encode_classes(y)
    kw = dict(beta=0.1, sampler="lattice", n_directions=200, scan_bias=True, column_rounds=1,
              cost_weighted=True, random_state=5)
    a, b = fit_convex(X, Y, kind, **kw), fit_convex(X, Y, kind, **kw)
    assert np.array_equal(a.coef, b.coef) and np.array_equal(a.network.layers[0],
                                                            b.network.layers[0])
    na, _ = quantize_network(a.network, X, weight_bits=4)
    nb, _ = quantize_network(b.network, X, weight_bits=4)
    assert np.array_equal(na.hidden[0].weights, nb.hidden[0].weights)
    assert np.array_equal(na.output.weights, nb.output.weights)


# ------------------------------------------------------------------------------------------
# cost-weighted Lasso
# ------------------------------------------------------------------------------------------

def _problem(seed, C, n=80, P=150):
    rng = np.random.default_rng(seed)
    H = rng.random((n, P)) < 0.35
    Y = rng.standard_normal(n) if C is None else rng.standard_normal((n, C))
    c = rng.uniform(0.3, 4.0, P)
    return H, Y, c


@pytest.mark.parametrize("C", [None, 3])
@pytest.mark.parametrize("frac", [0.05, 0.3])
def test_weighted_fast_matches_cvxpy(C, frac):
    H, Y, c = _problem(11, C)
    b = frac * beta_max(H, Y, c)
    f = solve_fast(H, Y, b, penalty_weights=c, tol=1e-10)
    r = solve_cvxpy(H, Y, b, penalty_weights=c)
    assert f.converged
    assert abs(f.objective - r.objective) <= 1e-6 * r.objective
    assert f.objective == pytest.approx(lasso_objective(H, Y, f.coef, b, c), rel=1e-12)
    # the certificate is the weighted one: an independent weighted gap agrees it is tiny, and
    # it is a true upper bound on the distance to the reference optimum
    assert dual_gap(H, Y, f.coef, b, c) <= 1e-8 * f.objective
    assert f.objective - r.objective <= f.duality_gap + 1e-9 * r.objective
    # the unweighted certificate would not hold for this problem
    assert dual_gap(H, Y, f.coef, b) > 1e-6 * f.objective or np.allclose(c, 1)
    # dispatch through solve()
    assert solve(H, Y, b, penalty_weights=c, solver="fast").objective == pytest.approx(
        f.objective, rel=1e-7)


@pytest.mark.parametrize("C", [None, 2])
def test_unit_weights_reproduce_unweighted(C):
    H, Y, _ = _problem(12, C)
    b = 0.1 * beta_max(H, Y)
    ones = np.ones(H.shape[1])
    u, w = solve_fast(H, Y, b), solve_fast(H, Y, b, penalty_weights=ones)
    assert w.objective == pytest.approx(u.objective, rel=1e-12)
    assert np.allclose(w.coef, u.coef, atol=1e-9)
    ru, rw = solve_cvxpy(H, Y, b), solve_cvxpy(H, Y, b, penalty_weights=ones)
    assert rw.objective == pytest.approx(ru.objective, rel=1e-7)
    assert beta_max(H, Y, ones) == beta_max(H, Y)


def test_weighted_beta_max_gives_zero():
    H, Y, c = _problem(13, 2)
    b = beta_max(H, Y, c)
    assert not solve_fast(H, Y, b * (1 + 1e-9), penalty_weights=c).coef.any()
    assert solve_fast(H, Y, 0.99 * b, penalty_weights=c).coef.any()


def test_penalty_weights_validated():
    H, Y, _ = _problem(14, None, P=5)
    for bad in (np.ones(4), np.array([1, 1, 0, 1, 1.0]), np.array([1, 1, np.inf, 1, 1])):
        with pytest.raises(ValueError, match="penalty_weights"):
            solve_fast(H, Y, 1.0, penalty_weights=bad)


def test_weights_prefer_the_cheaper_of_equal_columns():
    """Two identical patterns, costs 1 and 3: all the weight goes to the cheap one."""
    H, Y, _ = _problem(15, 2, P=30)
    H = np.hstack([H, H[:, :1]])                      # column 30 duplicates column 0
    c = np.ones(31)
    c[0] = 3.0
    b = 0.05 * beta_max(H, Y)
    f = solve_fast(H, Y, b, penalty_weights=c)
    r = solve_cvxpy(H, Y, b, penalty_weights=c)
    assert np.abs(f.coef[0]).max() == 0 and np.abs(f.coef[30]).max() > 0
    assert abs(f.objective - r.objective) <= 1e-6 * r.objective


def test_neuron_costs_count_csd_terms():
    U = np.array([[1.0, 0.0, 3.0, 0.0],
                  [-1.0, 0.0, 7.0, 0.0],
                  [0.0, 0.0, 0.0, 0.0],
                  [0.5, 1.0, -2.5, 0.5]])             # last row: biases
    c = neuron_costs(U, np.zeros(3), np.ones(3), None, weight_bits=4)
    assert c.tolist() == [1 + 2, 1, 1 + len(csd_digits(3)) + len(csd_digits(7)), 1]


def test_cost_weighted_fit_selects_cheaper_neurons():
    """Target = a single-feature threshold plus noise; many features are noisy copies, so
    many multi-feature patterns are nearly as good. At equal beta, cost weighting picks
    neurons with fewer adder terms."""
    rng = np.random.default_rng(7)
    n = 300
    base = rng.standard_normal(n)
    X = np.column_stack([base] + [base + 0.6 * rng.standard_normal(n) for _ in range(7)])
    y = np.where(base + 0.3 * rng.standard_normal(n) > 0.2, 1.0, -1.0)
    out = {}
    for sampler in ("lattice", "gaussian"):
        for cw in (False, True):
            fit = fit_convex(X, y, "binary", beta=0.05, sampler=sampler, n_directions=300,
                             scan_bias=True, column_rounds=1, cost_weighted=cw,
                             lattice_bits=3, weight_bits=4, random_state=0)
            net, _ = quantize_network(fit.network, X, weight_bits=4)
            W = net.hidden[0].weights
            terms = sum(len(csd_digits(w)) for w in W.ravel())
            out[sampler, cw] = (terms / W.shape[0], terms)
    for sampler in ("lattice", "gaussian"):
        assert out[sampler, True][0] < out[sampler, False][0], out
    assert out["lattice", True][1] < out["lattice", False][1], out


def test_train_config_and_cli_options():
    from thresh2hw.cli import _config, build_parser
    from thresh2hw.pipeline import TrainConfig
    args = build_parser().parse_args(["train", "d.csv", "-o", "m.json", "--sampler", "lattice",
                                      "--lattice-bits", "3", "--cost-weighted"])
    cfg = _config(args)
    assert (cfg.sampler, cfg.lattice_bits, cfg.cost_weighted) == ("lattice", 3, True)
    cfg.check()
    args = build_parser().parse_args(["train", "d.csv", "-o", "m.json"])
    cfg = _config(args)
    assert (cfg.lattice_bits, cfg.cost_weighted) == (2, False)
    with pytest.raises(ValueError, match="lattice bits"):
        TrainConfig(sampler="lattice", lattice_bits=5, weight_bits=4).check()


def test_pipeline_lattice_cost_weighted_end_to_end(bc):
    from thresh2hw.pipeline import TrainConfig, train_integer_model
    X, y, _, _ = bc
    cfg = TrainConfig(beta=0.1, n_arrangements=200, column_rounds=1, sampler="lattice",
                      lattice_bits=3, cost_weighted=True, input_bits=6, weight_bits=4)
    out = train_integer_model(X, y, "classification", cfg)
    assert out.quant.changed_bits == [0]
    info = out.network.meta["training"]
    assert info["lattice_bits"] == 3 and info["cost_weighted"] is True
    assert np.abs(out.network.hidden[0].weights).max() <= 3
