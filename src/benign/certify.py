"""Normalised margin and the (ε, δ)-KKT certificate of margin maximisation (DESIGN §1).

For a k-homogeneous net f_θ and a sample {(x_i, y_i)} it can separate, the margin problem is

    min ½‖θ‖²  s.t.  q_i = y_i f_θ(x_i) ≥ 1  for all i.

Gradient descent on exponential-type losses converges in direction to its KKT points (Lyu & Li
2020). To check how close θ is to one: rescale θ̃ = θ / q_min^{1/k} so that min_i q̃_i = 1, and find
multipliers λ ≥ 0 that make both the stationarity residual and the complementarity gap

    ε = ‖θ̃ − Σ_i λ_i y_i ∂f_θ̃(x_i)‖,   δ = Σ_i λ_i (q̃_i − 1)

small, by minimising ε² / ‖θ̃‖² + δ² / ‖θ̃‖⁴ (both terms scale-free; at a KKT point
Σ_i λ_i q̃_i = ‖θ̃‖² / k, so δ / ‖θ̃‖² = δ_rel / k),

where ∂f is the Clarke subdifferential: a ReLU whose pre-activation at a training point is zero
(within ``kink_tol``) may have any derivative s_ij ∈ [0, 1] there. With μ_ij = λ_i s_ij the
problem is a convex QP in (λ, μ) with λ ≥ 0, 0 ≤ μ_ij ≤ λ_i, solved with Clarabel. The residual
with σ'(0) = 0 fixed (a non-negative least-squares problem) is reported beside it.
"""

import math
from dataclasses import dataclass, field

import clarabel
import numpy as np
import scipy.sparse as sp
import torch
from scipy.optimize import lsq_linear, nnls
from torch import Tensor

from benign.nets import Params, ReLUNet, sq_norm, two_layer

KINK_TOL = 1e-7  # |w_j·x_i + b_j| ≤ KINK_TOL · ‖(w_j, b_j)‖ · ‖(x_i, 1)‖ counts as a kink
GOOD_ENOUGH = 1e-3  # multipliers with sqrt(ε_rel² + (δ/‖θ̃‖²)²) below this end the search


@dataclass(frozen=True)
class Tolerances:
    """A net is certified when it interpolates, ε_rel ≤ eps_rel and δ_rel ≤ delta_rel."""

    eps_rel: float = 0.05
    delta_rel: float = 0.05

    def __post_init__(self) -> None:
        for name in ("eps_rel", "delta_rel"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")


@dataclass
class Certificate:
    """Per network (arrays of shape (E,)): γ, both residuals, δ and the support.

    ``applies`` is False for nets that are not homogeneous (deep nets with biases, centred
    nets): then only the margins are reported. ε and δ are NaN where the net does not
    interpolate (the margin problem's constraints cannot be met by rescaling).
    eps_rel = ε / ‖θ̃‖; delta_rel = δ / Σ_i λ_i q̃_i (by Euler's identity Σ_i λ_i q̃_i ≈ ‖θ̃‖²/k
    at a KKT point, so both are scale-free).
    """

    applies: bool
    min_margin: np.ndarray
    gamma: np.ndarray
    eps: np.ndarray
    eps_rel: np.ndarray
    delta: np.ndarray
    delta_rel: np.ndarray
    eps_fixed_rel: np.ndarray
    support: np.ndarray
    kinks: np.ndarray
    multipliers: list[np.ndarray] = field(default_factory=list)

    def certified(self, tol: Tolerances) -> np.ndarray:
        """Interpolates, ε_rel ≤ tol.eps_rel and δ_rel ≤ tol.delta_rel (NaN compares False)."""
        return (
            (self.min_margin > 0)
            & (self.eps_rel <= tol.eps_rel)
            & (self.delta_rel <= tol.delta_rel)
        )


def normalised_margin(q: Tensor, params: Params, degree: int | None) -> Tensor:
    """γ = min_i q_i / ‖θ‖^k for a k-homogeneous net; NaN when the net is not homogeneous or
    θ = 0."""
    if degree is None:
        return torch.full_like(q[:, 0], math.nan)
    norm_k = sq_norm(params) ** (degree / 2)
    return torch.where(norm_k > 0, q.min(-1).values / norm_k, torch.nan)


def jacobian(net: ReLUNet, params: Params, x: Tensor) -> Tensor:
    """Per-sample gradients ∂f_θ(x_i)/∂θ (relu'(0) = 0) of every network: (E, m, P), with θ
    flattened in the order of ``params``. Memory E·m·P."""
    n_net, m = x.shape[:2]
    rows = []
    for e in range(n_net):
        rep = [p[e : e + 1].expand(m, *p.shape[1:]) for p in params]
        _, cache = net.forward(rep, x[e].unsqueeze(1))
        grads = net.vjp(rep, cache, torch.ones(m, 1, dtype=x.dtype, device=x.device))
        rows.append(torch.cat([g.reshape(m, -1) for g in grads], 1))
    return torch.stack(rows)


def _kink_columns(
    w: np.ndarray,
    b: np.ndarray | None,
    v: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    tol: float,
    gain: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-layer net: the kinked pairs (i, j), whether z_ij > 0, and for each the column
    gain · y_i v_j (x_i, 1) (in the (w_j, b_j) coordinates) that s_ij ∈ [0, 1] scales, where
    gain = s_1 s_2 is the product of the forward factors (1 in the standard parametrisation).
    Returns (owner i, z_ij > 0, columns of shape (P, K))."""
    bias = np.zeros(len(v)) if b is None else b
    z = x @ w.T + bias
    scale = np.linalg.norm(np.c_[w, bias], axis=1)[None, :] * np.sqrt(1 + (x**2).sum(1))[:, None]
    kinked = (np.abs(z) <= tol * scale) & (v != 0)[None, :] & (scale > 0)
    owner, neuron = np.nonzero(kinked)
    n, d = w.shape
    cols = np.zeros((n * d + (0 if b is None else n) + n, len(owner)))
    k = np.arange(len(owner))
    coef = gain * y[owner] * v[neuron]
    for c in range(d):  # W is stored row-major (n, d): entry (j, c) sits at j·d + c
        cols[neuron * d + c, k] = coef * x[owner, c]
    if b is not None:
        cols[n * d + neuron, k] = coef
    return owner, z[owner, neuron] > 0, cols


def _nnls(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    return nnls(a, t, maxiter=50 * a.shape[1])[0]


def _clarke_qp(
    a: np.ndarray, kink: np.ndarray, owner: np.ndarray, t: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """argmin ‖t − A λ − B μ‖ over λ ≥ 0, 0 ≤ μ_k ≤ λ_owner(k); returns (λ, μ).

    Solved by Clarabel as the second-order cone program min r s.t. ‖t − M z‖ ≤ r, which keeps
    M itself (a Gram matrix MᵀM would square its condition number, large when the net's slopes
    span orders of magnitude). For conditioning, rows are weighted by ``rows`` (one weight per
    neuron: the solve then targets relative per-neuron residuals, and the caller reports the
    unweighted residual of the multipliers found) and columns scaled to unit norm (z = D z',
    so μ_k ≤ λ_i becomes D_k z'_k ≤ D_i z'_i)."""
    m, k = a.shape[1], kink.shape[1]
    mat = np.hstack([a, kink]) * rows[:, None]
    t = t * rows
    norms = np.linalg.norm(mat, axis=0)
    dscale = 1.0 / np.where(norms > 0, norms, 1.0)
    n_var = m + k + 1  # z' and r
    rows_nonneg = sp.hstack([-sp.eye(m + k), sp.csc_matrix((m + k, 1))])
    couple = sp.csc_matrix(
        (
            np.r_[-dscale[owner], dscale[m:]],
            (np.r_[np.arange(k), np.arange(k)], np.r_[owner, m + np.arange(k)]),
        ),
        shape=(k, n_var),
    )
    # cone rows: (r, t − M D z') ∈ SOC, written as b − A x with x = (z', r)
    cone_r = sp.csc_matrix(([-1.0], ([0], [m + k])), shape=(1, n_var))
    cone_res = sp.hstack([sp.csc_matrix(mat * dscale), sp.csc_matrix((len(t), 1))])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    solver = clarabel.DefaultSolver(
        sp.csc_matrix((n_var, n_var)),
        np.r_[np.zeros(m + k), 1.0],
        sp.vstack([rows_nonneg, couple, cone_r, cone_res], format="csc"),
        np.r_[np.zeros(m + 2 * k), 0.0, t],
        [clarabel.NonnegativeConeT(m + 2 * k), clarabel.SecondOrderConeT(len(t) + 1)],
        settings,
    )
    sol = solver.solve()
    z = np.asarray(sol.x)[: m + k] * dscale
    lam = np.maximum(z[:m], 0.0)
    return np.concatenate([lam, np.clip(z[m:], 0.0, lam[owner])])


def _neuron_weights(w: np.ndarray, b: np.ndarray | None, v: np.ndarray) -> np.ndarray:
    """Per-parameter weight 1/‖(w_j, b_j, v_j)‖ of the neuron j that owns it (1 for zero
    neurons), in the order W, b, v."""
    size = np.sqrt((w**2).sum(1) + (0 if b is None else b**2) + v**2)
    inv = 1.0 / np.where(size > 0, size, 1.0)
    parts = [np.repeat(inv, w.shape[1])] + ([] if b is None else [inv]) + [inv]
    return np.concatenate(parts)


def _with_best_slopes(
    a: np.ndarray, kink: np.ndarray, owner: np.ndarray, t: np.ndarray, lam: np.ndarray
) -> np.ndarray:
    """(λ, μ) for given λ ≥ 0, with μ the box-constrained least-squares fit 0 ≤ μ_k ≤ λ_i."""
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    ub = lam[owner]
    mu = np.zeros(len(owner))
    free = ub > 0
    if free.any():
        fit = lsq_linear(kink[:, free], t - a @ lam, bounds=(0.0, ub[free]), method="bvls")
        mu[free] = np.clip(fit.x, 0.0, ub[free])
    return np.concatenate([lam, mu])


def _polish(
    a: np.ndarray, kink: np.ndarray, owner: np.ndarray, t: np.ndarray, z: np.ndarray, rounds: int
) -> np.ndarray:
    """Improve (λ, μ) by alternating exact solves of the same problem: λ by non-negative least
    squares with the slopes s_k = μ_k/λ_i fixed, then μ by box-constrained least squares
    (0 ≤ μ_k ≤ λ_i) with λ fixed. Each solve is well conditioned where the joint QP may not be."""
    m, k = a.shape[1], kink.shape[1]
    onehot = np.eye(m)[owner]  # (K, m)
    best, best_res = z, np.linalg.norm(t - np.hstack([a, kink]) @ z)
    lam, mu = z[:m], z[m:]
    for _ in range(rounds):
        s = np.divide(mu, lam[owner], out=np.zeros(k), where=lam[owner] > 0)
        cand = _with_best_slopes(a, kink, owner, t, _nnls(a + (kink * s) @ onehot, t))
        lam, mu = cand[:m], cand[m:]
        res = np.linalg.norm(t - np.hstack([a, kink]) @ cand)
        if res < best_res * (1 - 1e-6):
            best, best_res = cand, res
        else:
            break
    return best


def _search(
    a: np.ndarray,
    kink: np.ndarray,
    owner: np.ndarray,
    t: np.ndarray,
    rows: np.ndarray,
    hint: np.ndarray | None,
) -> np.ndarray:
    """(λ, μ) for the Clarke problem: from the hint if given, polished; then, unless that is
    good enough, from the cone program, polished; the better of the two."""
    full = np.hstack([a, kink])

    def objective(z: np.ndarray) -> float:
        return float(np.linalg.norm(t - full @ z))

    best = None
    if hint is not None:
        best = _with_best_slopes(a, kink, owner, t, hint)
        if objective(best) > GOOD_ENOUGH:
            best = _polish(a, kink, owner, t, best, 50)
    if best is None or objective(best) > GOOD_ENOUGH:
        z = _polish(a, kink, owner, t, _clarke_qp(a, kink, owner, t, rows), 50)
        best = z if best is None or objective(z) < objective(best) else best
    return best


def certify(
    net: ReLUNet,
    params: Params,
    x: Tensor,
    y: Tensor,
    kink_tol: float = KINK_TOL,
    multipliers: bool = False,
    hint: list[np.ndarray] | None = None,
    offset: Tensor | None = None,
) -> Certificate:
    """The certificate of every network of the ensemble (see the module docstring).

    The kink tolerance is at least 64 ulp of the data's dtype. Clarke kinks are handled for
    the two-layer net; for bias-free deep nets relu'(0) = 0 is
    used (eps_rel = eps_fixed_rel there). ``hint`` may give candidate multipliers per network
    (e.g. the dual of the margin LP); the better of the solver's and the hint's is kept, so a
    hint can only lower the reported residual, and the residual is always recomputed here.
    A centred net (``offset`` = f_θ₀(x) given and nonzero) is not homogeneous: not certified.
    """
    n_net, m = x.shape[:2]
    kink_tol = max(kink_tol, 64 * torch.finfo(x.dtype).eps)  # float32: ≈ 7.6e-6
    # the certificate is computed in float64 whatever the training dtype
    params, x, y = [p.double() for p in params], x.double(), y.double()
    offset = None if offset is None else offset.double()
    out = net.forward(params, x)[0]
    q = (y * (out if offset is None else out - offset)).double().cpu().numpy()
    q_min = q.min(1)
    nan = np.full(n_net, math.nan)
    k = None if offset is not None and bool(offset.any()) else net.degree
    if k is None:
        return Certificate(False, q_min, nan, nan, nan, nan, nan, nan, nan, nan)
    norm = np.sqrt(sq_norm(params).double().cpu().numpy())
    res = {key: nan.copy() for key in ("eps", "eps_rel", "delta", "delta_rel", "eps_fixed_rel")}
    support = np.zeros(n_net, dtype=np.int64)
    kinks = np.zeros(n_net, dtype=np.int64)
    lams: list[np.ndarray] = []
    theta = torch.cat([p.reshape(n_net, -1) for p in params], 1).double().cpu().numpy()
    xs, ys = x.double().cpu().numpy(), y.double().cpu().numpy()
    layers = (
        [None if p is None else p.double().cpu().numpy() for p in two_layer(params)]
        if (net.depth == 2)
        else None
    )
    for e in range(n_net):
        if not q_min[e] > 0:
            lams.append(np.full(m, math.nan))
            continue
        c = q_min[e] ** (-1.0 / k)  # θ̃ = c θ has min_i q̃_i = 1
        q_t = q[e] / q_min[e]
        # solve at unit scale: θ̃/‖θ̃‖ ≈ Σ_i λ_i y_i ∂f_θ̃(x_i)/‖θ̃‖, with ∂f_θ̃ = c^{k-1} ∂f_θ;
        # the last row is δ/‖θ̃‖², so that min ε_rel² + (δ/‖θ̃‖²)² is one least-squares problem
        scale = c ** (k - 1) / (c * norm[e])
        t = np.append(theta[e] / norm[e], 0.0)
        jac = jacobian(net, [p[e : e + 1] for p in params], x[e : e + 1])[0].cpu().numpy()
        a = np.vstack([scale * (jac * ys[e][:, None]).T, (q_t - 1) / (c * norm[e]) ** 2])
        lam = _nnls(a, t)
        eps_rel = res["eps_fixed_rel"][e] = np.linalg.norm((t - a @ lam)[:-1])
        if layers is not None:
            v, w, b = (None if p is None else p[e] for p in layers)
            gain = net.scale(1) * net.scale(2)
            owner, active, cols = _kink_columns(w, b, v, xs[e], ys[e], kink_tol, gain)
            kinks[e] = len(owner)
            if len(owner):
                cols = np.vstack([scale * cols, np.zeros(len(owner))])
                base = a - cols[:, active] @ np.eye(m)[owner[active]]  # s_ij = 0 on every kink
                rows = np.append(_neuron_weights(w, b, v), 1.0)
                full = np.hstack([base, cols])
                z = _search(base, cols, owner, t, rows, None if hint is None else hint[e])
                lam = z[:m]
                eps_rel = np.linalg.norm((t - full @ z)[:-1])
        res["eps_rel"][e] = eps_rel
        res["eps"][e] = eps_rel * c * norm[e]
        res["delta"][e] = float(lam @ (q_t - 1))
        if lam @ q_t > 0:
            res["delta_rel"][e] = res["delta"][e] / float(lam @ q_t)
        support[e] = int((lam > 1e-9 * lam.max()).sum()) if lam.max() > 0 else 0
        lams.append(lam)
    return Certificate(
        applies=True,
        min_margin=q_min,
        gamma=normalised_margin(torch.as_tensor(q, device=x.device), params, k).cpu().numpy(),
        eps=res["eps"],
        eps_rel=res["eps_rel"],
        delta=res["delta"],
        delta_rel=res["delta_rel"],
        eps_fixed_rel=res["eps_fixed_rel"],
        support=support,
        kinks=kinks,
        multipliers=lams if multipliers else [],
    )
