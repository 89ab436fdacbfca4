"""Deep (L >= 3 layer) threshold networks by the recursive pattern construction (Ergen et al.,
ICLR 2023, section 3). numpy/scipy/scikit-learn only, never Amaranth.

``n_layers`` counts weight layers: ``L = 2`` is the two-layer Lasso of :mod:`._convex`; ``L``
hidden-layer-plus-output layers here have ``L - 1`` threshold layers.

Construction
------------
1. Hidden layers ``1 .. L-2`` are sampled arrangements: layer 1 from directions on the
   standardized, ones-augmented input (the configured sampler, each direction with its best
   bias for the centred targets when ``scan_bias``), layer ``l >= 2`` from Gaussian directions on
   the previous layer's bits ``[h_{l-1}, 1]`` (scanned bias likewise). Each keeps at most
   ``width`` distinct non-constant patterns; its neurons are their generators.
2. The last hidden layer's patterns are drawn from what the layer before can produce:

   * **shattered** (``[h_{L-2}, 1]`` has full row rank ``n``, so every dichotomy is realisable):
     the problem collapses to ``min 1/2||delta - y||^2 + beta(||delta_+||_inf + ||delta_-||_inf)``
     (closed form, :mod:`._shattered`), ``delta`` is decomposed into staircases of patterns
     (one-vs-rest per output column; identical patterns of different columns are merged into
     one neuron) and each pattern gets a neuron by the chosen separator (``"pinv"`` = the
     paper's Convex-PI, ``"ridge"``, ``"svm"``);
   * **lasso** (otherwise): the (group) Lasso of the two-layer case over patterns
     ``1[[h_{L-2}, 1] v >= 0]`` sampled on the bits, with the same solvers, warm starts and
     column generation.

   ``mode="auto"`` picks shattered exactly when the rank condition holds.
3. One output weight vector per last-layer neuron, ``s_j = sqrt||W_j||``, ``w2_j = W_j / s_j``;
   every threshold layer is rescaled by exact powers of two to a negligible norm (``1[.]`` is
   scale-free), so the network's weight-decay objective equals the convex optimum.

Width condition
---------------
The convex problem is exact for the fixed earlier layers once the last hidden layer has at least
``m* = `` (number of non-zero coefficients) neurons; the construction builds exactly ``m*``
(``m* <= n + 1`` for the Lasso, at most ``2 C n`` staircase steps). Shattering needs a width of
at least ``n - 1`` in layer ``L - 2`` (``[h, 1]`` must have ``n`` independent columns).
``DeepFit.width_condition`` reports both.
"""
import time
from dataclasses import dataclass, field

import numpy as np

from ..floatnet import FloatThresholdNetwork, augment, patterns
from ._arrangements import ArrangementSampler
from ._convex import FIRST_LAYER_NORM_EXP, ConvexFit, Standardizer, _column_generation
from ._lasso import beta_max as lasso_beta_max
from ._lasso import lasso_objective, solve
from ._limits import check_dictionary_memory
from ._shattered import (SEPARATORS, fit_separators, shattered_beta_max, shattered_delta,
                         shattered_objective, shattered_rank, staircase)

__all__ = ["DeepFit", "fit_deep", "fit_deep_path", "MODES"]

MODES = ("auto", "shattered", "lasso")


@dataclass(frozen=True)
class DeepFit(ConvexFit):
    """Result of :func:`fit_deep` (the attributes of :class:`~._convex.ConvexFit` plus the deep
    construction's report).

    ``lasso_objective`` is the convex optimum (the closed form in the shattered case, the Lasso
    over the sampled last-layer patterns otherwise); ``reconstructed_objective`` the network's
    weight-decay objective. ``patterns`` are the chosen last-layer patterns on the training
    data (one column per last-layer neuron).
    """
    mode: str
    separator: str | None
    patterns: np.ndarray
    layer_widths: tuple
    width_condition: dict = field(default_factory=dict)


def _pow2_normalise(U):
    """Rescale each column by an exact power of two to norm ~2**FIRST_LAYER_NORM_EXP."""
    norms = np.sqrt((U * U).sum(axis=0))
    exps = np.frexp(np.where(norms > 0, norms, 1.0))[1]
    return np.ldexp(U, FIRST_LAYER_NORM_EXP - exps)


class _MarginSampler(ArrangementSampler):
    """Drops generators whose pre-activation on some training point is within float rounding
    of 0 (a scanned threshold between two nearly equal bit sums): such a pattern might not be
    the one the network computes."""

    def distinct(self, U):
        A = np.abs(self.Z_aug @ U).min(axis=0)
        scale = np.abs(self.Z_aug).sum(axis=1).max() * np.abs(U).max(axis=0)
        return super().distinct(U[:, A > 1e-9 * scale])


def _sample_layer(rep_aug, width, sampler, Y, scan_bias, seed, max_rounds=8):
    """At most ``width`` distinct non-constant patterns on ``rep_aug`` (and their generators).

    Duplicate and constant patterns are dropped, so rounds of ``width`` more directions are
    drawn until ``width`` patterns are found, a round finds none (the data admits few
    patterns) or ``max_rounds`` rounds are spent."""
    smp = ArrangementSampler(rep_aug, sampler=sampler, random_state=seed)
    arr = smp.initial(width, Y if scan_bias else None)
    U, H = arr.U, arr.H
    for _ in range(max_rounds - 1):
        live = ~H.all(axis=0)
        if live.sum() >= width:
            break
        Un, Hn = (smp.draw_scanned(width, Y - Y.mean(axis=0)) if scan_bias else
                  smp.draw(width))
        if not (~Hn.all(axis=0)).any():
            break
        U, H = np.hstack([U, Un]), np.hstack([H, Hn])
    keep = np.flatnonzero(~H.all(axis=0))[:width]
    U = _pow2_normalise(U[:, keep])
    return U, patterns(rep_aug, U), smp.n_sampled


def _output(W):
    norms = np.sqrt((W * W).sum(axis=1))
    s = np.sqrt(norms)
    return s, W / np.where(s > 0, s, 1.0)[:, None]


def _shattered_last_layer(Hprev, Y, b, separator):
    D = shattered_delta(Y, b)
    D2 = D[:, None] if D.ndim == 1 else D
    C = D2.shape[1]
    pats, rows = {}, []
    for c in range(C):
        for sign in (1.0, -1.0):
            coefs, P = staircase(np.maximum(sign * D2[:, c], 0))
            for k in range(P.shape[1]):
                key = P[:, k].tobytes()
                if key not in pats:
                    pats[key] = len(rows)
                    rows.append((P[:, k], np.zeros(C)))
                rows[pats[key]][1][c] += sign * coefs[k]
    if not rows:                                   # delta = 0: one silent neuron
        rows.append((np.ones(len(Y), dtype=bool), np.zeros(C)))
    Pm = np.stack([r[0] for r in rows], axis=1)
    W = np.stack([r[1] for r in rows], axis=0)
    V = fit_separators(Hprev, Pm, separator)
    return _pow2_normalise(V), Pm, W, shattered_objective(D, Y, b)


def fit_deep_path(X, Y, task, betas, *, n_layers=3, width=256, beta_scale="max",
                  n_directions=2000, sampler="gaussian", scan_bias=True, mode="auto",
                  separator="pinv", solver="auto", random_state=0, prune_tol=1e-6, tol=1e-9,
                  max_iter=10000, column_rounds=0, progress=None):
    """Deep threshold networks for each beta (the earlier layers are sampled once).

    ``width``: neurons kept per sampled hidden layer (layers ``1 .. L-2``); ``n_directions``:
    directions sampled for the last layer's dictionary in lasso mode. Other parameters as for
    :func:`~._convex.fit_convex_path`. Returns a list of :class:`DeepFit` in the order of
    ``betas``.
    """
    if not isinstance(n_layers, (int, np.integer)) or n_layers < 3:
        raise ValueError(f"n_layers must be an integer >= 3 for a deep network, not {n_layers!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if separator not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, not {separator!r}")
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer, not {width!r}")
    if beta_scale not in ("max", "absolute"):
        raise ValueError(f"beta_scale must be 'max' or 'absolute', not {beta_scale!r}")
    betas = [float(b) for b in betas]
    if not betas or not all(np.isfinite(b) and b > 0 for b in betas):
        raise ValueError(f"betas must be positive numbers, not {betas!r}")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n = len(X)
    std = Standardizer.fit(X)
    rep = augment(std.transform(X))
    layers, ranks, n_sampled = [], [], 0
    for l in range(n_layers - 2):
        check_dictionary_memory(n, width, solver=None)
        U, H, ns = _sample_layer(rep, width, sampler if l == 0 else "gaussian", Y, scan_bias,
                                 random_state + 7919 * l)
        if H.shape[1] == 0:
            raise ValueError(f"hidden layer {l + 1}: no non-constant pattern was sampled "
                             "(constant or duplicate inputs?)")
        layers.append(U)
        n_sampled += ns
        ranks.append(shattered_rank(H))
        rep = augment(H)
        if progress:
            progress(f"hidden layer {l + 1}: {H.shape[1]} neurons, rank of [h, 1] = "
                     f"{ranks[-1]} of n = {n}")
    Hprev = rep[:, :-1] > 0.5
    shattered = ranks[-1] == n
    use = ("shattered" if shattered else "lasso") if mode == "auto" else mode
    if use == "shattered" and not shattered:
        raise ValueError(f"not shattered: [h, 1] at hidden layer {n_layers - 2} has rank "
                         f"{ranks[-1]} < n = {n} (widen the layer, remove duplicate rows, or "
                         f"use mode 'lasso')")
    cond = {"n": n, "ranks": ranks, "shattered": bool(shattered),
            "width_needed_for_shattering": n - 1, "prev_width": int(layers[-1].shape[1]),
            "requested_width": int(width)}
    fits = [None] * len(betas)
    if use == "shattered":
        bmax = shattered_beta_max(Y)
        for k, b in enumerate(betas):
            b = b * bmax if beta_scale == "max" else b
            t0 = time.perf_counter()
            V, Pm, W, obj = _shattered_last_layer(Hprev, Y, b, separator)
            s, w2 = _output(W)
            net = FloatThresholdNetwork(mean=std.mean, scale=std.scale,
                                        layers=tuple(layers) + (V,), amplitudes=s,
                                        out_weights=w2, task=task,
                                        meta={"mode": "shattered", "separator": separator})
            secs = time.perf_counter() - t0
            wc = dict(cond, m_star=int(Pm.shape[1]), last_width=int(Pm.shape[1]),
                      satisfied=True)
            fits[k] = DeepFit(network=net, beta=b, beta_max=bmax, lasso_objective=obj,
                              reconstructed_objective=net.weight_decay_objective(X, Y, b),
                              duality_gap=0.0, n_sampled=n_sampled, n_distinct=Pm.shape[1],
                              solver="shattered-closed-form", solver_seconds=secs,
                              converged=True, n_iter=0, coef=W,
                              support=np.arange(Pm.shape[1]),
                              mode="shattered", separator=separator, patterns=Pm,
                              layer_widths=tuple(int(U.shape[1]) for U in net.layers),
                              width_condition=wc)
            if progress:
                progress(f"beta={b:.4g}: shattered closed form, {Pm.shape[1]} last-layer "
                         f"neurons, objective {obj:.6g}")
        return fits

    # lasso over patterns sampled on the previous layer's bits
    check_dictionary_memory(n, n_directions, solver=solver)
    smp = _MarginSampler(rep, sampler="gaussian", random_state=random_state + 104729)
    arr = smp.initial(n_directions, Y if scan_bias else None)
    if progress:
        progress(f"last hidden layer: {arr.n_sampled} directions on the bits -> "
                 f"{arr.n_distinct} distinct patterns")
    bmax = lasso_beta_max(arr.H, Y)
    coef0 = None
    for k in sorted(range(len(betas)), key=lambda k: -betas[k]):
        b = betas[k] * bmax if beta_scale == "max" else betas[k]
        t0 = time.perf_counter()
        kw = dict(solver=solver, tol=tol, max_iter=max_iter)
        res = solve(arr.H, Y, b, coef0=coef0, **kw)
        if column_rounds:
            out = _column_generation(arr, smp, Y, b, res, column_rounds, n_directions, kw,
                                     progress)
            arr, res = out[0], out[1]              # (arr, res[, costs])
        secs = time.perf_counter() - t0
        coef0 = res.coef
        coef = res.coef if res.coef.ndim == 2 else res.coef[:, None]
        norms = np.sqrt((coef * coef).sum(axis=1))
        top = norms.max() if norms.size else 0.0
        support = np.flatnonzero(norms > prune_tol * top) if top > 0 else np.array([0])
        s, w2 = _output(coef[support])
        V = _pow2_normalise(arr.U[:, support])
        net = FloatThresholdNetwork(mean=std.mean, scale=std.scale, layers=tuple(layers) + (V,),
                                    amplitudes=s, out_weights=w2, task=task,
                                    meta={"mode": "lasso"})
        wc = dict(cond, m_star=int(support.size), last_width=int(support.size),
                  satisfied=True, m_star_bound=n + 1)
        fits[k] = DeepFit(network=net, beta=b, beta_max=bmax,
                          lasso_objective=lasso_objective(arr.H, Y, res.coef, b),
                          reconstructed_objective=net.weight_decay_objective(X, Y, b),
                          duality_gap=res.duality_gap, n_sampled=n_sampled + arr.n_sampled,
                          n_distinct=arr.n_distinct, solver=res.solver, solver_seconds=secs,
                          converged=res.converged, n_iter=res.n_iter, coef=res.coef,
                          support=support,
                          mode="lasso", separator=None, patterns=arr.H[:, support],
                          layer_widths=tuple(int(U.shape[1]) for U in net.layers),
                          width_condition=wc)
        if progress:
            progress(f"beta={b:.4g}: {support.size} last-layer neurons, objective "
                     f"{fits[k].lasso_objective:.6g}, {secs:.2f} s ({res.solver})")
    return fits


def fit_deep(X, Y, task, *, beta=1e-2, **kwargs):
    """One deep network (keyword arguments as for :func:`fit_deep_path`)."""
    return fit_deep_path(X, Y, task, [beta], **kwargs)[0]
