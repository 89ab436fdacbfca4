"""scikit-learn estimators for convex-trained threshold networks."""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._convex import fit_convex
from ._deep import fit_deep

__all__ = ["ThresholdNetworkClassifier", "ThresholdNetworkRegressor", "encode_classes"]


def encode_classes(y):
    """``(classes, Y, task)``: +-1 targets for two classes (``classes[1]`` is +1), one-hot for
    more. Raises ValueError for a single class."""
    classes, idx = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("Classifier can't train when only one class is present: "
                         f"a single class ({classes[0]!r}) in y" if len(classes) else
                         "no labels given")
    if len(classes) == 2:
        return classes, np.where(idx == 1, 1.0, -1.0), "binary"
    return classes, np.eye(len(classes))[idx], "multiclass"


class _ConvexThresholdBase(BaseEstimator):
    """Shared fit logic. Parameters are stored untouched (scikit-learn convention)."""

    def __init__(self, *, beta=1e-2, beta_scale="max", n_arrangements=1000,
                 sampler="gaussian", scan_bias=True, column_rounds=0, solver="auto", tol=1e-7,
                 max_iter=10000, prune_tol=1e-6, random_state=0, n_layers=2, width=256,
                 deep_mode="auto", separator="pinv"):
        self.beta = beta
        self.beta_scale = beta_scale
        self.n_arrangements = n_arrangements
        self.sampler = sampler
        self.scan_bias = scan_bias
        self.column_rounds = column_rounds
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.prune_tol = prune_tol
        self.random_state = random_state
        self.n_layers = n_layers
        self.width = width
        self.deep_mode = deep_mode
        self.separator = separator

    def _check_params(self):
        if not isinstance(self.beta, numbers.Real) or not np.isfinite(self.beta) \
                or self.beta <= 0:
            raise ValueError(f"beta must be a positive number, not {self.beta!r}")
        if not isinstance(self.n_arrangements, numbers.Integral) or self.n_arrangements < 1:
            raise ValueError(f"n_arrangements must be a positive integer, "
                             f"not {self.n_arrangements!r}")
        if not isinstance(self.n_layers, numbers.Integral) or self.n_layers < 2:
            raise ValueError(f"n_layers must be an integer >= 2, not {self.n_layers!r}")

    def _fit_targets(self, X, Y, task):
        self._check_params()
        seed = check_random_state(self.random_state).randint(2 ** 31 - 1) \
            if not isinstance(self.random_state, numbers.Integral) else int(self.random_state)
        common = dict(beta=self.beta, beta_scale=self.beta_scale,
                      n_directions=self.n_arrangements, sampler=self.sampler,
                      scan_bias=self.scan_bias, column_rounds=self.column_rounds,
                      solver=self.solver, random_state=seed, prune_tol=self.prune_tol,
                      tol=self.tol, max_iter=self.max_iter)
        if self.n_layers == 2:
            fit = fit_convex(X, Y, task, **common)
        else:
            fit = fit_deep(X, Y, task, n_layers=int(self.n_layers), width=self.width,
                           mode=self.deep_mode, separator=self.separator, **common)
        if not fit.converged:
            warnings.warn(f"Lasso solver stopped at max_iter={self.max_iter} with duality gap "
                          f"{fit.duality_gap:.3g}", RuntimeWarning, stacklevel=3)
        self.fit_ = fit
        self.network_ = fit.network
        self.objective_ = fit.lasso_objective
        self.duality_gap_ = fit.duality_gap
        self.n_iter_ = fit.n_iter
        self.n_hidden_ = fit.network.n_hidden
        return self

    def _decision(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.network_.decision(X)


class ThresholdNetworkClassifier(ClassifierMixin, _ConvexThresholdBase):
    """Two-layer threshold network trained by the convex (group) Lasso.

    Binary problems regress +-1 targets (class ``classes_[1]`` is +1; a decision value of 0
    predicts it). Multi-class problems regress one-hot targets with a group Lasso (one output
    vector per neuron) and predict the argmax, the lowest class index on ties.

    Parameters
    ----------
    beta : float
        Weight decay; a fraction of ``beta_max`` (the smallest beta giving the zero network)
        when ``beta_scale="max"``, else absolute.
    beta_scale : {"max", "absolute"}
    n_arrangements : int
        Directions sampled for the pattern dictionary (before deduplication).
    sampler : {"gaussian", "data", "pairs"}
        Gaussian directions on ``[z, 1]``, Gaussian normals through random training points, or
        bisectors of random pairs of training points.
    scan_bias : bool
        Replace each sampled bias by the one whose pattern best correlates with the centred
        targets (every threshold of a direction is scored at once).
    column_rounds : int
        Column-generation rounds: add sampled patterns violating the dual constraint, re-solve.
    solver : {"auto", "fast", "cvxpy"}
    tol, max_iter : float, int
        Relative duality-gap target and iteration cap of the fast solver.
    prune_tol : float
        Neurons with ``||W_j|| <= prune_tol * max ||W_j||`` are dropped.
    random_state : int, RandomState or None
    n_layers : int
        2 (the Lasso above) or >= 3: a deep network whose first ``n_layers - 2`` hidden layers
        are sampled arrangements of ``width`` neurons each and whose last hidden layer is
        trained convexly on their outputs (``deep_mode``: "auto", "lasso" or "shattered";
        ``separator`` for the shattered reconstruction: "pinv", "ridge" or "svm").
    width, deep_mode, separator
        Deep networks only (see ``n_layers``).

    Attributes
    ----------
    classes_ : ndarray
    network_ : FloatThresholdNetwork
    n_hidden_ : int
    objective_ : float
        Lasso optimum over the sampled patterns.
    duality_gap_ : float or None
    n_iter_ : int
        Solver iterations of the final solve.
    fit_ : ConvexFit (DeepFit for n_layers >= 3)
    n_features_in_ : int
    """

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, Y, task = encode_classes(y)
        return self._fit_targets(X, Y, task)

    def decision_function(self, X):
        f = self._decision(X)
        return f[:, 0] if f.shape[1] == 1 else f

    def predict(self, X):
        f = self._decision(X)
        if f.shape[1] == 1:
            return self.classes_[(f[:, 0] >= 0).astype(np.int64)]
        return self.classes_[np.argmax(f, axis=1)]


class ThresholdNetworkRegressor(RegressorMixin, _ConvexThresholdBase):
    """Two-layer threshold network regressor trained by the convex Lasso (same parameters as
    :class:`ThresholdNetworkClassifier`)."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y, y_numeric=True)
        return self._fit_targets(X, np.asarray(y, dtype=np.float64), "regression")

    def predict(self, X):
        return self._decision(X)[:, 0]
