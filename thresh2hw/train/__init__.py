"""Convex training of threshold networks (no Amaranth here)."""
from ._arrangements import Arrangement, sample_arrangements
from ._convex import ConvexFit, fit_convex
from ._estimator import ThresholdNetworkClassifier, ThresholdNetworkRegressor
from ._lasso import LassoResult, beta_max, lasso_objective, solve

__all__ = ["Arrangement", "sample_arrangements", "ConvexFit", "fit_convex",
           "ThresholdNetworkClassifier", "ThresholdNetworkRegressor", "LassoResult", "beta_max",
           "lasso_objective", "solve"]
