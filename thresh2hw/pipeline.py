"""The end-to-end flow, stage by stage: data -> convex training -> integer model -> circuit ->
cycle-accurate check. Used by the CLI and the benchmark scripts.

Training (``thresh2hw.train``) and hardware (``thresh2hw.hdl``) never import each other; this
module is where the integer model is handed from one to the other.
"""
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainConfig", "TrainOutcome", "split", "detect_task", "train_integer_model",
           "select_beta", "select_beta_cv", "accuracy"]

DEFAULT_BETA_GRID = (2e-1, 1e-1, 5e-2)


@dataclass
class TrainConfig:
    """Training and quantization settings (see ``thresh2hw train --help``)."""
    beta: float | None = None              # None: choose from beta_grid on a validation split
    beta_grid: tuple = DEFAULT_BETA_GRID
    beta_scale: str = "max"
    n_arrangements: int = 4000
    sampler: str = "gaussian"
    lattice_bits: int = 2                  # sampler "lattice": signed bits of integer generators
    cost_weighted: bool = False            # penalty of each neuron scaled by its logic cost
    scan_bias: bool = True                 # best bias per sampled direction (centred targets)
    column_rounds: int = 2                 # column-generation rounds after each solve
    solver: str = "auto"
    seed: int = 0
    input_bits: int = 8
    weight_bits: int = 6
    output_bits: int = 8
    val_fraction: float = 0.2
    beta_cv: int = 0                       # >= 2: choose beta by K-fold cross-validation instead
    n_layers: int = 2                      # weight layers; >= 3 builds a deep network (_deep.py)
    layer_width: int = 256                 # deep: neurons per sampled hidden layer (1 .. L-2)
    separator: str = "pinv"                # deep, shattered case: pinv (Convex-PI), ridge, svm
    deep_mode: str = "auto"                # deep: auto, shattered or lasso

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
        if not isinstance(self.lattice_bits, int) or not 2 <= self.lattice_bits <= 16:
            raise ValueError(f"lattice bits must be an integer in 2..16, not "
                             f"{self.lattice_bits!r}")
        if self.sampler == "lattice" and self.lattice_bits > self.weight_bits:
            raise ValueError(f"lattice bits ({self.lattice_bits}) must not exceed weight bits "
                             f"({self.weight_bits}): the generators are the hardware weights")
        if not isinstance(self.n_layers, int) or self.n_layers < 2:
            raise ValueError(f"the number of layers must be an integer >= 2, not {self.n_layers!r}")
        if not isinstance(self.beta_cv, int) or self.beta_cv == 1 or self.beta_cv < 0:
            raise ValueError(f"cross-validation needs at least 2 folds, not {self.beta_cv!r}")
        if self.beta is not None and self.beta_cv:     # it would be silently ignored
            raise ValueError("beta_cv and beta are mutually exclusive (cross-validation "
                             "chooses beta, beta fixes it)")
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
                solver=cfg.solver, random_state=cfg.seed, scan_bias=cfg.scan_bias,
                column_rounds=cfg.column_rounds, **_hw_kwargs(cfg))


def _hw_kwargs(cfg):
    """Hardware-aware training options, passed only when used."""
    if cfg.sampler != "lattice" and not cfg.cost_weighted:
        return {}
    return dict(lattice_bits=cfg.lattice_bits, input_bits=cfg.input_bits,
                weight_bits=cfg.weight_bits, cost_weighted=cfg.cost_weighted)


def _fit_path(X, Y, kind, betas, cfg):
    """Fits for each beta: the two-layer Lasso, or a deep network when ``cfg.n_layers >= 3``."""
    if cfg.n_layers >= 3:
        from .train._deep import fit_deep_path
        if _hw_kwargs(cfg):
            raise ValueError("the lattice sampler and cost-weighted penalties are not "
                             "supported for deep networks (--layers >= 3) yet")
        return fit_deep_path(X, Y, kind, betas, n_layers=cfg.n_layers, width=cfg.layer_width,
                             mode=cfg.deep_mode, separator=cfg.separator, **_fit_kwargs(cfg))
    from .train import fit_convex_path
    return fit_convex_path(X, Y, kind, betas, **_fit_kwargs(cfg))


def _check_class_counts(y, task, k, what):
    if task == "regression":
        return
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < k:
        c = classes[int(np.argmin(counts))]
        raise ValueError(f"class {c} has only {counts.min()} training sample(s); {what} "
                         f"needs at least {k} per class (or give --beta explicitly)")


def select_beta_cv(X, y, task, cfg, log):
    """Pick beta from the grid by mean K-fold cross-validated score (``cfg.beta_cv`` folds,
    stratified for classification; ties: the larger beta). Returns ``(beta, table)`` with
    table rows ``(beta, mean neurons, mean validation score)``."""
    from sklearn.model_selection import KFold, StratifiedKFold
    K = cfg.beta_cv
    _check_class_counts(y, task, K, f"{K}-fold cross-validation")
    if len(X) < K:
        raise ValueError(f"{K}-fold cross-validation needs at least {K} samples, not {len(X)}")
    cls = KFold if task == "regression" else StratifiedKFold
    folds = cls(n_splits=K, shuffle=True, random_state=cfg.seed).split(X, y)
    scores = np.zeros((K, len(cfg.beta_grid)))
    neurons = np.zeros((K, len(cfg.beta_grid)))
    for f, (tr, va) in enumerate(folds):
        classes, Y, kind = _targets(y[tr], task)
        fits = _fit_path(X[tr], Y, kind, cfg.beta_grid, cfg)
        for i, fit in enumerate(fits):
            scores[f, i] = accuracy(_predict(fit.network, classes, X[va]), y[va], task)
            neurons[f, i] = fit.network.n_hidden
    table = []
    for i, b in enumerate(cfg.beta_grid):
        table.append((float(b), float(neurons[:, i].mean()), float(scores[:, i].mean())))
        log(f"  beta {b:g}: {neurons[:, i].mean():.1f} neurons, {K}-fold CV "
            f"{'R^2' if task == 'regression' else 'accuracy'} {scores[:, i].mean():.4f}")
    best = max(table, key=lambda r: (round(r[2], 12), r[0]))
    return best[0], table


def select_beta(X, y, task, cfg, log):
    """Pick beta from the grid by the float network's score on a held-out split of the training
    data (ties: the larger beta, i.e. fewer neurons)."""
    _check_class_counts(y, task, 2, "the validation choice of beta")
    Xf, Xv, yf, yv = split(X, y, cfg.val_fraction, cfg.seed, stratify=task != "regression")
    classes, Y, kind = _targets(yf, task)
    if classes is not None and not set(np.unique(yv)) <= set(classes):
        raise ValueError("a class is missing from the validation split; give --beta explicitly")
    fits = _fit_path(Xf, Y, kind, cfg.beta_grid, cfg)
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
    cfg.check()
    seconds = {}
    t0 = time.perf_counter()
    selection = []
    beta = cfg.beta
    if beta is None and cfg.beta_cv >= 2:
        log(f"choosing beta by {cfg.beta_cv}-fold cross-validation")
        beta, selection = select_beta_cv(X, y, task, cfg, log)
    elif beta is None:
        log(f"choosing beta on a {cfg.val_fraction:.0%} validation split")
        beta, selection = select_beta(X, y, task, cfg, log)
    classes, Y, kind = _targets(y, task)
    fit = _fit_path(X, Y, kind, [beta], cfg)[0]
    if not fit.converged:
        import warnings
        warnings.warn(f"Lasso solver stopped before convergence with duality gap "
                      f"{fit.duality_gap:.3g} (objective {fit.lasso_objective:.6g})",
                      RuntimeWarning, stacklevel=2)
    seconds["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    info = {"beta": fit.beta, "beta_relative": fit.beta / fit.beta_max, "solver": fit.solver,
            "n_sampled": fit.n_sampled, "n_distinct": fit.n_distinct,
            "lasso_objective": fit.lasso_objective,
            "reconstructed_objective": fit.reconstructed_objective,
            "duality_gap": fit.duality_gap, "seed": cfg.seed, "sampler": cfg.sampler,
            "scan_bias": cfg.scan_bias, "column_rounds": cfg.column_rounds,
            **({"lattice_bits": cfg.lattice_bits} if cfg.sampler == "lattice" else {}),
            **({"cost_weighted": True} if cfg.cost_weighted else {})}
    info.update(n_layers=cfg.n_layers, beta_cv=cfg.beta_cv)
    if cfg.n_layers >= 3:
        info.update(deep_mode=fit.mode, separator=fit.separator,
                    layer_widths=list(fit.layer_widths), width_condition=fit.width_condition)
    net, quant = quantize_network(fit.network, X, input_bits=cfg.input_bits,
                                  weight_bits=cfg.weight_bits, output_bits=cfg.output_bits,
                                  classes=[] if classes is None else list(classes),
                                  meta={"training": info, **(meta or {})})
    seconds["quantize"] = time.perf_counter() - t0
    return TrainOutcome(network=net, fit=fit, quant=quant, beta=beta, selection=selection,
                        seconds=seconds)
