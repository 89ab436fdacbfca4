"""The end-to-end flow, stage by stage: data -> convex training -> integer model -> circuit ->
cycle-accurate check. Used by the CLI and the benchmark scripts.

Training (``thresh2hw.train``) and hardware (``thresh2hw.hdl``) never import each other; this
module is where the integer model is handed from one to the other.
"""
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainConfig", "TrainOutcome", "split", "detect_task", "train_integer_model",
           "select_beta", "accuracy"]

DEFAULT_BETA_GRID = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3)


@dataclass
class TrainConfig:
    """Training and quantization settings (see ``thresh2hw train --help``)."""
    beta: float | None = None              # None: choose from beta_grid on a validation split
    beta_grid: tuple = DEFAULT_BETA_GRID
    beta_scale: str = "max"
    n_arrangements: int = 4000
    sampler: str = "gaussian"
    solver: str = "auto"
    seed: int = 0
    input_bits: int = 8
    weight_bits: int = 4
    output_bits: int = 8
    val_fraction: float = 0.2

    def check(self):
        if self.beta is not None and not (np.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a positive number, not {self.beta!r}")
        if not self.beta_grid or not all(np.isfinite(b) and b > 0 for b in self.beta_grid):
            raise ValueError(f"beta grid must hold positive numbers, not {self.beta_grid!r}")
        if self.beta_scale == "max" and (self.beta or 0) > 1:
            raise ValueError(f"a relative beta must be at most 1 (it is a fraction of beta_max), "
                             f"not {self.beta!r}")
        if not isinstance(self.n_arrangements, int) or self.n_arrangements < 1:
            raise ValueError(f"n_arrangements must be a positive integer, "
                             f"not {self.n_arrangements!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"validation fraction must be in (0, 1), not {self.val_fraction!r}")


@dataclass
class TrainOutcome:
    network: object                        # IntegerNetwork
    fit: object                            # ConvexFit on the full training set
    quant: object                          # QuantReport
    beta: float                            # chosen (relative or absolute, as configured)
    selection: list = field(default_factory=list)   # (beta, neurons, validation score)
    seconds: dict = field(default_factory=dict)


def detect_task(y):
    """"regression" for real-valued targets with non-integer values, else "classification"."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return "regression"
    return "classification"


def split(X, y, test_size, seed, stratify=True):
    from sklearn.model_selection import train_test_split
    strat = y if stratify else None
    try:
        return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=strat)
    except ValueError:
        if not stratify:
            raise
        return train_test_split(X, y, test_size=test_size, random_state=seed)


def accuracy(pred, y, task):
    if task == "regression":
        y = np.asarray(y, dtype=np.float64)
        ss = ((y - y.mean()) ** 2).sum()
        return float(1 - ((pred - y) ** 2).sum() / ss) if ss > 0 else 0.0
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def _targets(y, task):
    from .train import encode_classes
    if task == "regression":
        return None, np.asarray(y, dtype=np.float64), "regression"
    return encode_classes(y)


def _predict(fnet, classes, X):
    idx = fnet.predict_index(X)
    return idx if classes is None else classes[idx]


def _fit_kwargs(cfg):
    return dict(beta_scale=cfg.beta_scale, n_directions=cfg.n_arrangements, sampler=cfg.sampler,
                solver=cfg.solver, random_state=cfg.seed)


def select_beta(X, y, task, cfg, log):
    """Pick beta from the grid by the float network's score on a held-out split of the training
    data (ties: the larger beta, i.e. fewer neurons)."""
    from .train import fit_convex_path
    Xf, Xv, yf, yv = split(X, y, cfg.val_fraction, cfg.seed, stratify=task != "regression")
    classes, Y, kind = _targets(yf, task)
    if classes is not None and not set(np.unique(yv)) <= set(classes):
        raise ValueError("a class is missing from the validation split; give --beta explicitly")
    fits = fit_convex_path(Xf, Y, kind, cfg.beta_grid, **_fit_kwargs(cfg))
    table = []
    for b, fit in zip(cfg.beta_grid, fits):
        score = accuracy(_predict(fit.network, classes, Xv), yv, task)
        table.append((float(b), fit.network.n_hidden, score))
        log(f"  beta {b:g}: {fit.network.n_hidden} neurons, validation "
            f"{'R^2' if task == 'regression' else 'accuracy'} {score:.4f}")
    best = max(table, key=lambda r: (round(r[2], 12), r[0]))
    return best[0], table


def train_integer_model(X, y, task, cfg, *, log=lambda s: None, meta=None):
    """Convex training plus quantization: returns a :class:`TrainOutcome`."""
    from .quant import quantize_network
    from .train import fit_convex
    cfg.check()
    seconds = {}
    t0 = time.perf_counter()
    selection = []
    beta = cfg.beta
    if beta is None:
        log(f"choosing beta on a {cfg.val_fraction:.0%} validation split")
        beta, selection = select_beta(X, y, task, cfg, log)
    classes, Y, kind = _targets(y, task)
    fit = fit_convex(X, Y, kind, beta=beta, **_fit_kwargs(cfg))
    seconds["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    info = {"beta": fit.beta, "beta_relative": fit.beta / fit.beta_max, "solver": fit.solver,
            "n_sampled": fit.n_sampled, "n_distinct": fit.n_distinct,
            "lasso_objective": fit.lasso_objective,
            "reconstructed_objective": fit.reconstructed_objective,
            "duality_gap": fit.duality_gap, "seed": cfg.seed, "sampler": cfg.sampler}
    net, quant = quantize_network(fit.network, X, input_bits=cfg.input_bits,
                                  weight_bits=cfg.weight_bits, output_bits=cfg.output_bits,
                                  classes=[] if classes is None else list(classes),
                                  meta={"training": info, **(meta or {})})
    seconds["quantize"] = time.perf_counter() - t0
    return TrainOutcome(network=net, fit=fit, quant=quant, beta=beta, selection=selection,
                        seconds=seconds)
