"""Convex training of two-layer threshold networks (Ergen et al., ICLR 2023, section 2).

Weight-decay training of ``f(x) = sum_j s_j w2_j 1[[z, 1] u_j >= 0]`` equals a (group) Lasso over
the arrangement patterns: the first-layer scale is free (``1[.]`` ignores positive scaling) and
AM-GM turns ``beta/2 (s^2 + ||w2||^2)`` into ``beta ||s w2||``. We solve the Lasso on sampled
patterns and rebuild the network from its support.
"""
import time
from dataclasses import dataclass

import numpy as np

from ..floatnet import FloatThresholdNetwork, augment
from ._arrangements import Arrangement, ArrangementSampler
from ._lasso import beta_max as compute_beta_max
from ._lasso import lasso_objective, solve

__all__ = ["ConvexFit", "Standardizer", "fit_convex", "fit_convex_path", "reconstruct"]

# Norm given to reconstructed first-layer weights: 1[.] is scale-free, and a power of two keeps
# every pre-activation's sign bit-identical while making their weight-decay term negligible.
FIRST_LAYER_NORM_EXP = -30


@dataclass(frozen=True)
class Standardizer:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X):
        X = np.asarray(X, dtype=np.float64)
        sd = X.std(axis=0)
        return cls(mean=X.mean(axis=0), scale=np.where(sd > 0, sd, 1.0))

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale


@dataclass(frozen=True)
class ConvexFit:
    """Result of :func:`fit_convex`.

    ``lasso_objective`` is the solver's optimum over the sampled patterns;
    ``reconstructed_objective`` is the weight-decay objective of ``network`` on the same data.
    """
    network: FloatThresholdNetwork
    beta: float
    beta_max: float
    lasso_objective: float
    reconstructed_objective: float
    duality_gap: float | None
    n_sampled: int
    n_distinct: int
    solver: str
    solver_seconds: float
    converged: bool
    n_iter: int
    coef: np.ndarray
    support: np.ndarray


def reconstruct(U, coef, support, std, task, input_quantizer=None):
    """Network with one neuron per support column: ``s_j = sqrt||W_j||``, ``w2_j = W_j / s_j``."""
    W = coef[support]
    norms = np.sqrt((W * W).sum(axis=1))
    s = np.sqrt(norms)
    w2 = W / np.where(s > 0, s, 1.0)[:, None]
    Us = U[:, support]
    exps = np.frexp(np.sqrt((Us * Us).sum(axis=0)))[1]
    Us = np.ldexp(Us, FIRST_LAYER_NORM_EXP - exps)        # exact power-of-two rescaling
    return FloatThresholdNetwork(mean=std.mean, scale=std.scale, layers=(Us,), amplitudes=s,
                                 out_weights=w2, task=task, input_quantizer=input_quantizer)


def _weighted_decay_objective(net, X, Y, beta, c):
    """Non-convex objective with per-neuron weight decay ``beta/2 c_j (||u_j||^2 + s_j^2 +
    ||w2_j||^2)``: the network form of the cost-weighted Lasso."""
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y[:, None] if Y.ndim == 1 else Y
    R = net.decision(X) - Y
    U = net.layers[0]
    per = (U * U).sum(axis=0) + net.amplitudes ** 2 + (net.out_weights ** 2).sum(axis=1)
    return float(0.5 * (R * R).sum() + 0.5 * beta * float((c * per).sum()))


def _fit_from_result(arr, Y, X, std, task, b, bmax, res, seconds, prune_tol, costs=None,
                     input_quantizer=None):
    coef = res.coef if res.coef.ndim == 2 else res.coef[:, None]
    norms = np.sqrt((coef * coef).sum(axis=1))
    top = norms.max() if norms.size else 0.0
    # beta >= beta_max gives the zero network; keep one silent neuron so it stays well-formed.
    support = np.flatnonzero(norms > prune_tol * top) if top > 0 else np.array([0])
    net = reconstruct(arr.U, coef, support, std, task, input_quantizer)
    recon = (net.weight_decay_objective(X, Y, b) if costs is None
             else _weighted_decay_objective(net, X, Y, b, costs[support]))
    return ConvexFit(network=net, beta=b, beta_max=bmax,
                     lasso_objective=lasso_objective(arr.H, Y, res.coef, b, costs),
                     reconstructed_objective=recon,
                     duality_gap=res.duality_gap, n_sampled=arr.n_sampled,
                     n_distinct=arr.n_distinct, solver=res.solver, solver_seconds=seconds,
                     converged=res.converged, n_iter=res.n_iter, coef=res.coef,
                     support=support)


def _column_generation(arr, sampler, Y, b, res, rounds, batch, solve_kw, progress, cost_fn=None,
                       costs=None):
    """Add sampled patterns that violate the dual constraint ``||h^T R|| <= beta`` and re-solve.

    Cost-weighted (``cost_fn`` maps generators to penalty weights, ``costs`` those of ``arr``):
    the constraint is ``||h^T R|| <= beta c`` and columns are ranked by ``||h^T R|| / c``.
    Returns ``(arr, res, costs)``.

    The sampled Lasso is an upper bound on the optimum over *all* patterns; every violating
    pattern strictly lowers it once added. Each round draws ``batch`` fresh directions and adds
    the (at most ``batch // 4``) most violating new patterns.
    """
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    for r in range(rounds):
        coef = res.coef[:, None] if res.coef.ndim == 1 else res.coef
        R = Y2 - arr.H.astype(np.float64) @ coef
        U_new, H_new = sampler.draw_scanned(batch, R)
        if not H_new.shape[1]:
            continue
        G = H_new.T.astype(np.float64) @ R
        norms = np.sqrt((G * G).sum(axis=1))
        if cost_fn is not None:
            c_new = cost_fn(U_new)
            norms = norms / c_new
        viol = np.flatnonzero(norms > b * (1 + 1e-9))
        if not viol.size:
            if progress:
                progress(f"  column generation round {r + 1}: no violating pattern among "
                         f"{batch} new directions")
            break
        pick = viol[np.argsort(-norms[viol], kind="stable")[: max(1, batch // 4)]]
        arr = Arrangement(U=np.hstack([arr.U, U_new[:, pick]]),
                          H=np.hstack([arr.H, H_new[:, pick]]), n_sampled=sampler.n_sampled)
        if cost_fn is not None:
            costs = np.concatenate([costs, c_new[pick]])
            solve_kw = dict(solve_kw, penalty_weights=costs)
        coef0 = np.vstack([coef, np.zeros((len(pick), coef.shape[1]))])
        res = solve(arr.H, Y, b, coef0=coef0 if Y.ndim == 2 else coef0[:, 0], **solve_kw)
        if progress:
            progress(f"  column generation round {r + 1}: +{len(pick)} violating patterns, "
                     f"objective {res.objective:.6g}")
    return arr, res, costs


def fit_convex_path(X, Y, task, betas, *, beta_scale="max", n_directions=2000,
                    sampler="gaussian", solver="auto", random_state=0, prune_tol=1e-6, tol=1e-7,
                    max_iter=10000, column_rounds=0, scan_bias=False, progress=None,
                    lattice_bits=2, input_bits=8, weight_bits=6, cost_weighted=False,
                    cost_power=1.0, cost_overhead=1.0):
    """Sample patterns once and solve the Lasso for each beta (largest first, warm-started).

    Returns a list of :class:`ConvexFit` in the order of ``betas``.

    Parameters
    ----------
    X : ndarray (n, d)
    Y : ndarray (n,) or (n, C)
        Targets: +-1 (binary), one-hot (multiclass) or real (regression).
    betas : sequence of float
        Regularization; absolute, or fractions of ``beta_max`` if ``beta_scale == "max"``.
    prune_tol : float
        Support = rows with ``||W_j|| > prune_tol * max_j ||W_j||``.
    column_rounds : int
        Rounds of column generation after each solve (see :func:`_column_generation`).
    scan_bias : bool
        Give each initially sampled direction the bias that best correlates its pattern with
        the targets (instead of the sampled bias).
    lattice_bits, input_bits : int
        ``sampler="lattice"``: the inputs are quantized to unsigned ``input_bits`` codes (the
        :class:`~thresh2hw.model.InputQuantizer` fitted on ``X``, the one
        :func:`~thresh2hw.quant.quantize_network` uses) and the generators are signed
        ``lattice_bits`` integer vectors on the codes with integer thresholds (see
        :func:`~thresh2hw.train._arrangements.lattice_directions`). The network carries the
        input quantizer and its first layer is exactly an integer layer: quantizing it changes
        no hidden bit (needs ``weight_bits >= lattice_bits``).
    cost_weighted, weight_bits, cost_power : bool, int, float
        Scale each neuron's penalty by its estimated logic cost: ``c_j`` proportional to
        ``(cost_overhead + CSD adder terms of its signed weight_bits integer weights)
        ** cost_power``
        (:func:`~thresh2hw.train._hwcost.neuron_costs`), normalised to mean 1 over the initial
        dictionary (column generation keeps that normaliser), and solve
        ``min 1/2||HW - Y||^2 + beta sum_j c_j ||W_j||``. Relative betas stay fractions of the
        *unweighted* ``beta_max``, so equal betas with and without weighting are comparable.
    """
    if beta_scale not in ("max", "absolute"):
        raise ValueError(f"beta_scale must be 'max' or 'absolute', not {beta_scale!r}")
    betas = [float(b) for b in betas]
    if not betas or not all(np.isfinite(b) and b > 0 for b in betas):
        raise ValueError(f"betas must be positive numbers, not {betas!r}")
    iq = None
    if sampler == "lattice":
        from ..model import InputQuantizer
        iq = InputQuantizer.fit(X, bits=int(input_bits))
        d = np.asarray(X).shape[1]
        std = Standardizer(mean=np.zeros(d), scale=np.ones(d))   # acts on the codes as they are
        Z = augment(iq.transform(X))
    else:
        std = Standardizer.fit(X)
        Z = augment(std.transform(X))
    Y = np.asarray(Y, dtype=np.float64)
    if int(n_directions) < 1:
        raise ValueError(f"n_directions must be a positive integer, not {n_directions!r}")
    from ._limits import check_dictionary_memory
    check_dictionary_memory(len(Z), n_directions, solver=solver)   # refuse up front, with estimate
    smp = ArrangementSampler(Z, sampler=sampler, random_state=random_state,
                             lattice_bits=lattice_bits)
    arr = smp.initial(n_directions, Y if scan_bias else None)
    if progress:
        progress(f"sampled {arr.n_sampled} directions -> {arr.n_distinct} distinct patterns")
    cost_fn = costs = None
    if cost_weighted:
        from ._hwcost import neuron_costs
        if iq is not None:
            step = None
        else:
            from ..model import InputQuantizer
            step = InputQuantizer.fit(X, bits=int(input_bits)).step

        if not (np.isfinite(cost_overhead) and cost_overhead > 0):
            raise ValueError(f"cost_overhead must be positive, not {cost_overhead!r}")

        def raw_costs(U):
            return neuron_costs(U, std.mean, std.scale, step, weight_bits=weight_bits,
                                overhead=cost_overhead) ** cost_power
        raw = raw_costs(arr.U)
        norm = float(raw.mean())

        def cost_fn(U):
            return raw_costs(U) / norm
        costs = raw / norm
    # relative betas: fractions of the unweighted beta_max (with mean-1 costs, the same scale)
    bmax = compute_beta_max(arr.H, Y)
    fits = [None] * len(betas)
    coef0 = None
    for k in sorted(range(len(betas)), key=lambda k: -betas[k]):
        b = betas[k] * bmax if beta_scale == "max" else betas[k]
        t0 = time.perf_counter()
        kw = dict(solver=solver, tol=tol, max_iter=max_iter)
        if coef0 is not None and len(coef0) < arr.n_distinct:     # columns added since
            coef0 = np.concatenate([coef0, np.zeros((arr.n_distinct - len(coef0),)
                                                    + coef0.shape[1:])])
        res = solve(arr.H, Y, b, coef0=coef0, penalty_weights=costs, **kw)
        if column_rounds:
            arr, res, costs = _column_generation(arr, smp, Y, b, res, column_rounds,
                                                 n_directions, kw, progress, cost_fn, costs)
        seconds = time.perf_counter() - t0
        coef0 = res.coef
        fits[k] = _fit_from_result(arr, Y, X, std, task, b, bmax, res, seconds, prune_tol,
                                   costs, iq)
        if progress:
            progress(f"beta={b:.4g}: {fits[k].network.n_hidden} neurons, objective "
                     f"{fits[k].lasso_objective:.6g}, {seconds:.2f} s ({res.solver})")
    return fits


def fit_convex(X, Y, task, *, beta=1e-2, **kwargs):
    """Sample patterns, solve the Lasso for one beta, reconstruct the threshold network
    (keyword arguments as for :func:`fit_convex_path`)."""
    return fit_convex_path(X, Y, task, [beta], **kwargs)[0]
