"""Convex training of threshold networks (no Amaranth here)."""
from ._arrangements import Arrangement, enumerate_arrangements, sample_arrangements
from ._convex import ConvexFit, fit_convex, fit_convex_path
from ._estimator import ThresholdNetworkClassifier, ThresholdNetworkRegressor, encode_classes
from ._lasso import LassoResult, beta_max, lasso_objective, solve
from ._deep import DeepFit, fit_deep, fit_deep_path
from ._ste import train_ste, to_float_network

__all__ = ["Arrangement", "sample_arrangements", "enumerate_arrangements", "ConvexFit", "fit_convex", "fit_convex_path", "encode_classes",
           "ThresholdNetworkClassifier", "ThresholdNetworkRegressor", "LassoResult", "beta_max",
           "lasso_objective", "solve"]
__all__ += ["DeepFit", "fit_deep", "fit_deep_path", "train_ste", "to_float_network"]
