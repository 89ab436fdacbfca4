"""scikit-learn conformance of the estimators."""
import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from thresh2hw.train import ThresholdNetworkClassifier, ThresholdNetworkRegressor


# sklearn skips its array-API checks unless SCIPY_ARRAY_API is set, and says so by a warning
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("est", [
    ThresholdNetworkClassifier(n_arrangements=100),
    ThresholdNetworkRegressor(n_arrangements=100),
    ThresholdNetworkClassifier(n_arrangements=100, n_layers=3, width=32),
], ids=["classifier", "regressor", "deep-classifier"])
def test_check_estimator(est):
    results = check_estimator(est, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed, failed
    assert len(results) > 30


def test_params_round_trip():
    est = ThresholdNetworkClassifier(beta=0.3, n_arrangements=17, sampler="data")
    assert est.get_params()["n_arrangements"] == 17
    assert est.set_params(beta=0.1).beta == 0.1


def test_regressor_fits_a_step():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(80, 1))
    y = np.where(X[:, 0] >= 0.2, 2.0, -1.0)
    reg = ThresholdNetworkRegressor(n_arrangements=200, beta=1e-4).fit(X, y)
    assert reg.score(X, y) > 0.99


def test_bad_hyperparameters():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="beta must be a positive number"):
        ThresholdNetworkClassifier(beta=-1).fit(X, y)
    with pytest.raises(ValueError, match="n_layers must be an integer >= 2"):
        ThresholdNetworkClassifier(n_layers=1).fit(X, y)
    with pytest.raises(ValueError, match="single class"):
        ThresholdNetworkClassifier().fit(X, np.zeros(4))


def test_deep_classifier_matches_fit_deep():
    from sklearn.datasets import load_breast_cancer

    from thresh2hw.train import encode_classes
    from thresh2hw.train._deep import fit_deep
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:200], y[:200]
    clf = ThresholdNetworkClassifier(n_layers=3, width=64, n_arrangements=300, beta=0.05,
                                     random_state=3).fit(X, y)
    _, Y, task = encode_classes(y)
    ref = fit_deep(X, Y, task, beta=0.05, n_layers=3, width=64, n_directions=300,
                   random_state=3, column_rounds=0, tol=1e-7)
    assert len(clf.network_.layers) == 2
    assert clf.objective_ == pytest.approx(ref.lasso_objective, rel=1e-9)
    np.testing.assert_array_equal(clf.decision_function(X), ref.network.decision(X)[:, 0])
    assert clf.score(X, y) > 0.9
