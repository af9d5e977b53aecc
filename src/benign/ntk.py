"""Neural tangent kernels of the nets of :mod:`benign.nets`: analytic (infinite-width recursion
at the net's own fan-ins) and empirical (layer by layer from one backward pass), and their
smallest eigenvalue.

Layer l computes z_l = s_l (W_l h_{l−1} + b_l) with weight variance σ_l²; v_l = s_l² σ_l² =
α² c_l / fan_in_l in both parametrisations (docs/science.md, Networks). With β_l = 1 if layer l
has a bias, n the width, ρ the correlation of K_{l−1} and

    κ0(ρ) = (π − arccos ρ)/π,   κ1(ρ) = (ρ(π − arccos ρ) + √(1 − ρ²))/π,
    E_hh = ½ √(K(x,x) K(x',x')) κ1(ρ),   E_dd = ½ κ0(ρ)   (Gaussian expectations of relu),

the recursion is

    K_1 = v_1 (x·x' + β_1),                 Θ_1 = s_1² (x·x' + β_1),
    K_l = v_l (n E_hh + β_l),               Θ_l = s_l² (n E_hh + β_l) + v_l n E_dd Θ_{l−1},

and Θ = Θ_L is E[Θ̂] of width-n nets in the Gaussian (infinite-width) approximation: for the
``ntk`` parametrisation it tends to the width-independent NTK as n → ∞; for ``standard`` it
grows like n, as the empirical kernel does.
"""

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from benign.data import DistName, Distribution
from benign.nets import (
    Init,
    Param,
    Params,
    ReLUNet,
    empirical_ntk,
    kernel_move,
    pattern_flips,
    relative_move,
)
from benign.seeding import rng_for

# analytic kernel: entries per block of rows, 2 MiB per array: its ~20 elementwise passes a
# layer stay in the cache (docs/performance.md)
BLOCK_ELEMENTS = 2**18


def arccos_kernels(rho: Tensor) -> tuple[Tensor, Tensor]:
    """(κ0(ρ), κ1(ρ)) with κ0 = (π − arccos ρ)/π and κ1 = (ρ(π − arccos ρ) + √(1 − ρ²))/π, ρ
    clipped to [−1, 1] in place; one arccos serves both."""
    rho = rho.clamp_(-1.0, 1.0)
    angle = torch.arccos(rho).neg_().add_(math.pi)  # π − arccos ρ
    k1 = torch.addcmul(torch.sqrt((1.0 - rho) * (1.0 + rho)), rho, angle).div_(math.pi)
    return angle.div_(math.pi), k1


def _factors(net: ReLUNet, layer: int) -> tuple[float, float, float]:
    """(s_l², v_l, β_l) of the module docstring."""
    s2 = net.scale(layer) ** 2
    v = net.init_scale * net.init_scale * net.gain(layer) / net.fan_in(layer)  # inf, not an error
    return s2, v, float(net.layer_has_bias(layer))


def _diagonal(net: ReLUNet, x: Tensor) -> list[Tensor]:
    """K_l(x, x) for l = 1..L−1 (the variances the correlations need)."""
    _, v, beta = _factors(net, 1)
    k = v * ((x * x).sum(1) + beta)
    out = [k]
    for layer in range(2, net.depth):
        _, v, beta = _factors(net, layer)
        k = v * (net.width * 0.5 * k + beta)  # κ1(1) = 1
        out.append(k)
    return out


def _kernel_blocks(
    net: ReLUNet, x: np.ndarray | Tensor, x2: np.ndarray | Tensor | None, block: int | None
) -> Iterator[tuple[slice, slice, Tensor, Tensor]]:
    """(rows, columns, K_L, Θ_L) of the module docstring, ``block`` rows of x at a time
    (default: :data:`BLOCK_ELEMENTS` entries, at least 16 rows); for
    the Gram matrix of x (``x2`` None) only the columns from the block's first row on: the
    kernels are symmetric, and :func:`_fill` mirrors the rest (half the arccos, the cost)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    same = x2 is None
    x2 = x if x2 is None else torch.as_tensor(x2, dtype=torch.float64)
    if x.shape[1] != net.d or x2.shape[1] != net.d:
        raise ValueError(f"x: points must have d = {net.d} coordinates")
    diag1, diag2 = _diagonal(net, x), _diagonal(net, x2)
    n = net.width
    block = block or max(16, BLOCK_ELEMENTS // max(len(x2), 1))
    for start in range(0, len(x), block):
        rows = slice(start, start + block)
        cols = slice(start if same else 0, len(x2))
        s2, v, beta = _factors(net, 1)
        dot = x[rows] @ x2[cols].T + beta
        k, theta = v * dot, s2 * dot
        for layer in range(2, net.depth + 1):
            a, b = diag1[layer - 2][rows], diag2[layer - 2][cols]
            norm = torch.sqrt(a[:, None] * b[None, :])
            rho = k / norm
            if same:  # exactly 1 on the diagonal: κ1 is not Lipschitz at ρ = 1 (√ of rounding)
                rho[torch.arange(len(a)), torch.arange(len(a))] = 1.0
            s2, v, beta = _factors(net, layer)
            k0, k1 = arccos_kernels(rho)
            k = k1.mul_(norm).mul_(0.5 * n).add_(beta)  # n E_hh + β
            theta = theta.mul_(k0).mul_(0.5 * v * n).add_(k, alpha=s2)
            k.mul_(v)
        yield rows, cols, k, theta


def _fill(out: np.ndarray, rows: slice, cols: slice, values: Tensor, same: bool) -> None:
    """out[rows, cols] = values, and for a Gram matrix its mirror image out[cols, rows]."""
    out[rows, cols] = values.numpy()
    if same:
        out[cols, rows] = out[rows, cols].T


def analytic_kernels(
    net: ReLUNet,
    x: np.ndarray | Tensor,
    x2: np.ndarray | Tensor | None = None,
    block: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(K_L, Θ_L) of the module docstring in float64: the output's covariance at
    initialisation (the NNGP kernel) and the NTK."""
    shape = (len(x), len(x if x2 is None else x2))
    nngp, ntk = np.empty(shape), np.empty(shape)
    for rows, cols, k, theta in _kernel_blocks(net, x, x2, block):
        _fill(nngp, rows, cols, k, x2 is None)
        _fill(ntk, rows, cols, theta, x2 is None)
    return nngp, ntk


def analytic_ntk(
    net: ReLUNet,
    x: np.ndarray | Tensor,
    x2: np.ndarray | Tensor | None = None,
    block: int | None = None,
) -> np.ndarray:
    """Θ_L(x_i, x2_j) of the module docstring in float64, ``block`` rows at a time (for the
    Gram matrix of x, the upper triangle of blocks, mirrored)."""
    out = np.empty((len(x), len(x if x2 is None else x2)))
    for rows, cols, _, theta in _kernel_blocks(net, x, x2, block):
        _fill(out, rows, cols, theta, x2 is None)
    return out


@dataclass(frozen=True)
class Spectrum:
    """Smallest eigenvalue of a symmetrised kernel matrix, with a PSD diagnostic."""

    lambda_min: float
    lambda_max: float
    negative: int  # eigenvalues below −tol: a kernel matrix should have none
    asymmetry: float  # ‖K − Kᵀ‖_F / ‖K‖_F before symmetrising


def smallest_eigenvalue(k: np.ndarray) -> Spectrum:
    """λ_min of (K + Kᵀ)/2 in float64 (LAPACK, all eigenvalues); ``negative`` counts those below
    −n·ε·λ_max, i.e. beyond rounding. A kernel with an infinite or NaN entry (its network's
    numbers left the floating-point range) has NaN eigenvalues."""
    k = np.asarray(k, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"kernel: must be a square matrix, got shape {k.shape}")
    if not np.isfinite(k).all():
        return Spectrum(math.nan, math.nan, 0, math.nan)
    norm = np.linalg.norm(k)
    asym = float(np.linalg.norm(k - k.T) / norm) if norm > 0 else 0.0
    w = scipy.linalg.eigh(0.5 * (k + k.T), eigvals_only=True)
    tol = len(k) * np.finfo(float).eps * max(abs(w[-1]), abs(w[0]))
    return Spectrum(float(w[0]), float(w[-1]), int((w < -tol).sum()), asym)


@dataclass(frozen=True)
class LazyDiagnostics:
    """How far training moved each network from its initialisation (shape (E,) each):
    ‖θ − θ_0‖/‖θ_0‖, ‖Θ̂ − Θ̂_0‖_F/‖Θ̂_0‖_F on the points, and the share of (unit, point)
    ReLU activations whose sign changed. Small values: the lazy (kernel) regime."""

    param_move: np.ndarray
    kernel_move: np.ndarray
    pattern_flips: np.ndarray


def lazy_diagnostics(
    net: ReLUNet,
    params0: Params,
    params: Params,
    x: Tensor,
    kernels: tuple[Tensor, Tensor] | None = None,
) -> LazyDiagnostics:
    """The diagnostics of :class:`LazyDiagnostics` for networks trained from ``params0`` to
    ``params`` on the points x of shape (E, m, d); ``kernels`` = (Θ̂_0, Θ̂) when already formed
    (:func:`benign.nets.empirical_ntk`)."""
    if kernels is None:
        kernels = (empirical_ntk(net, params0, x), empirical_ntk(net, params, x))
    h0, h1 = net.forward(params0, x)[1][1:], net.forward(params, x)[1][1:]
    return LazyDiagnostics(
        param_move=relative_move(params0, params).double().cpu().numpy(),
        kernel_move=kernel_move(*kernels).cpu().numpy(),
        pattern_flips=pattern_flips(h0, h1).cpu().numpy(),
    )


@dataclass(frozen=True)
class KernelRegression:
    """Ridgeless NTK regression f(x) = f_0(x) + Θ(x, X) Θ(X, X)⁻¹ (y − f_0(X)) on test points,
    with f_0 the network at initialisation (a Gaussian process with the NNGP kernel K).

    f = f̄ + g with f̄(x) = Θ(x, X) Θ⁻¹ y (the mean over initialisations) and the
    initialisation noise g(x) = f_0(x) − Θ(x, X) Θ⁻¹ f_0(X), independent of the labels.
    Squared error against the clean labels, averaged over initialisations and test points:
    mse = mean (f̄ − f*)² + init_noise; f̄ − f* = (Θ(x, X) Θ⁻¹ y* − f*) + Θ(x, X) Θ⁻¹ (y − y*)
    splits into clean_fit and label_noise (plus twice their cross term, ``cross``)."""

    prediction: np.ndarray  # f̄ on the test points
    clean_error: float  # share of test points with f* f̄ ≤ 0
    mse: float
    clean_fit: float
    label_noise: float
    cross: float
    init_noise: float  # mean over test points of E[g(x)²]


def ntk_regression(
    net: ReLUNet,
    x: np.ndarray,
    y: np.ndarray,
    y_clean: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> KernelRegression:
    """The ridgeless NTK regressor of the training sample (x, noisy labels y, clean labels
    y_clean) evaluated on (x_test, clean labels y_test); see :class:`KernelRegression`."""
    k_xx, t_xx = analytic_kernels(net, x)
    k_tx, t_tx = analytic_kernels(net, x_test, x)
    k_tt = analytic_kernels(net, x_test, x_test)[0]
    factor = scipy.linalg.cho_factor(0.5 * (t_xx + t_xx.T))
    a = scipy.linalg.cho_solve(factor, t_tx.T).T  # Θ(x, X) Θ⁻¹, (n_test, m)
    mean = a @ y
    fit = a @ y_clean - y_test
    noise = a @ (y - y_clean)
    # E g² = K(x, x) − 2 A K(X, x) + A K(X, X) Aᵀ, row by row
    init = np.diag(k_tt) - 2 * (a * k_tx).sum(1) + ((a @ k_xx) * a).sum(1)
    return KernelRegression(
        prediction=mean,
        clean_error=float(np.mean(~(mean * y_test > 0))),
        mse=float(np.mean((mean - y_test) ** 2) + np.mean(init)),
        clean_fit=float(np.mean(fit**2)),
        label_noise=float(np.mean(noise**2)),
        cross=float(np.mean(fit * noise)),
        init_noise=float(np.mean(init)),
    )


def nested_ridgeless(
    net: ReLUNet, x: np.ndarray, labels: np.ndarray, x_test: np.ndarray, sizes: Iterable[int]
) -> dict[int, np.ndarray]:
    """For each m in ``sizes``: the ridgeless NTK regressors Θ(x_test, X_m) Θ(X_m, X_m)⁻¹ Y_m of
    the first m rows of x, one per column of ``labels`` (len(x), k), on the test points,
    (n_test, k) — the width → ∞ limit of the centred lazy net trained on the square loss. The
    training sets are nested, and one kernel of every point serves every m."""
    theta = analytic_ntk(net, np.concatenate([x, x_test]))
    n = len(x)
    out = {}
    for m in sizes:
        factor = scipy.linalg.cho_factor(theta[:m, :m])
        out[m] = theta[n:, :m] @ scipy.linalg.cho_solve(factor, labels[:m])
    return out


@dataclass(frozen=True)
class KernelSVM:
    """Hard-margin SVM with the NTK, no intercept (the nets have no output bias): the lazy
    limit of logistic-loss training. f(x) = Σ_i α_i y_i Θ(x, x_i) with y_i f(x_i) ≥ 1."""

    alpha: np.ndarray
    prediction: np.ndarray  # f on the test points
    train_margins: np.ndarray  # y_i f(x_i), ≥ 1 up to the solver's tolerance
    norm: float  # ‖f‖ in the RKHS, √(Σ α_i); the normalised margin is 1/norm


def ntk_svm(net: ReLUNet, x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> KernelSVM:
    """Solve min ½ αᵀ Q α − Σ α subject to α ≥ 0, Q = (y yᵀ) ∘ Θ(X, X) (Clarabel)."""
    import clarabel
    import scipy.sparse as sp

    t_xx = analytic_ntk(net, x)
    q = np.outer(y, y) * 0.5 * (t_xx + t_xx.T)
    m = len(y)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-10
    solver = clarabel.DefaultSolver(
        sp.triu(sp.csc_matrix(q), format="csc"),
        -np.ones(m),
        -sp.eye(m, format="csc"),
        np.zeros(m),
        [clarabel.NonnegativeConeT(m)],
        settings,
    )
    alpha = np.maximum(np.asarray(solver.solve().x), 0.0)
    coef = alpha * y
    return KernelSVM(
        alpha=alpha,
        prediction=analytic_ntk(net, x_test, x) @ coef,
        train_margins=y * (t_xx @ coef),
        norm=float(np.sqrt(max(coef @ t_xx @ coef, 0.0))),
    )


def agreement(f: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(share of points where sign f = sign g, Pearson correlation of f and g): how close a
    trained net's outputs f are to a kernel predictor's g on the same points."""
    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
    return float(np.mean(np.sign(f) == np.sign(g))), float(np.corrcoef(f, g)[0, 1])


@dataclass(frozen=True)
class ScalingRow:
    """The analytic NTK's extreme eigenvalues on n points in R^d for a net of ``depth`` layers."""

    n: int
    d: int
    depth: int
    lambda_min: float
    lambda_max: float
    negative: int
    seconds: float


def ntk_scaling(
    n: int,
    d: int,
    depth: int,
    *,
    width: int,
    param: Param = "ntk",
    init: Init = "he",
    bias: bool = True,
    dist: DistName = "sphere",
    seed: int = 0,
    scaling: bool = True,
) -> list[ScalingRow]:
    """λ_min of the analytic NTK of width-``width`` nets on n points of ``dist`` in R^d (drawn
    with ``seed``), first at (n, d, depth), then, if ``scaling``, with one of them changed at a
    time: n/8, n/4, n/2; d/4, d/2, 2d; depth 2 … depth + 2."""

    def measure(n_: int, d_: int, depth_: int) -> ScalingRow:
        net = ReLUNet(d_, width, depth_, bias, param, init)
        x = Distribution(dist, d_).sample(n_, rng_for(seed, "data"))
        t0 = time.perf_counter()
        spec = smallest_eigenvalue(analytic_ntk(net, x))
        seconds = time.perf_counter() - t0
        return ScalingRow(n_, d_, depth_, spec.lambda_min, spec.lambda_max, spec.negative, seconds)

    rows = [measure(n, d, depth)]
    if scaling:
        for n_ in sorted({max(1, n // 8), max(1, n // 4), max(1, n // 2)} - {n}):
            rows.append(measure(n_, d, depth))
        for d_ in sorted({max(1, d // 4), max(1, d // 2), 2 * d} - {d}):
            rows.append(measure(n, d_, depth))
        for depth_ in range(2, depth + 3):
            if depth_ != depth:
                rows.append(measure(n, d, depth_))
    return rows
