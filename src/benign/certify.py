"""Normalised margin and the (ε, δ)-KKT certificate of margin maximisation (DESIGN §1).

For a k-homogeneous net f_θ and a sample {(x_i, y_i)} it can separate, the margin problem is

    min ½‖θ‖²  s.t.  q_i = y_i f_θ(x_i) ≥ 1  for all i.

Gradient descent on exponential-type losses converges in direction to its KKT points (Lyu & Li
2020). To check how close θ is to one: rescale θ̃ = θ / q_min^{1/k} so that min_i q̃_i = 1, and find
multipliers λ ≥ 0 minimising the stationarity residual

    ε = ‖θ̃ − Σ_i λ_i y_i ∂f_θ̃(x_i)‖,   δ = Σ_i λ_i (q̃_i − 1),

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
from scipy.optimize import nnls
from torch import Tensor

from benign.nets import Params, ReLUNet, sq_norm, two_layer

KINK_TOL = 1e-7  # |w_j·x_i + b_j| ≤ KINK_TOL · ‖(w_j, b_j)‖ · ‖(x_i, 1)‖ counts as a kink


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
    w: np.ndarray, b: np.ndarray | None, v: np.ndarray, x: np.ndarray, y: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-layer net: the kinked pairs (i, j), whether z_ij > 0, and for each the column
    y_i v_j (x_i, 1) (in the (w_j, b_j) coordinates) that s_ij ∈ [0, 1] scales.
    Returns (owner i, z_ij > 0, columns of shape (P, K))."""
    bias = np.zeros(len(v)) if b is None else b
    z = x @ w.T + bias
    scale = np.linalg.norm(np.c_[w, bias], axis=1)[None, :] * np.sqrt(1 + (x**2).sum(1))[:, None]
    kinked = (np.abs(z) <= tol * scale) & (v != 0)[None, :] & (scale > 0)
    owner, neuron = np.nonzero(kinked)
    n, d = w.shape
    cols = np.zeros((n * d + (0 if b is None else n) + n, len(owner)))
    k = np.arange(len(owner))
    coef = y[owner] * v[neuron]
    for c in range(d):  # W is stored row-major (n, d): entry (j, c) sits at j·d + c
        cols[neuron * d + c, k] = coef * x[owner, c]
    if b is not None:
        cols[n * d + neuron, k] = coef
    return owner, z[owner, neuron] > 0, cols


def _nnls(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    return nnls(a, t, maxiter=50 * a.shape[1])[0]


def _clarke_qp(a: np.ndarray, kink: np.ndarray, owner: np.ndarray, t: np.ndarray) -> np.ndarray:
    """argmin ‖t − A λ − B μ‖ over λ ≥ 0, 0 ≤ μ_k ≤ λ_owner(k), by Clarabel; returns (λ, μ)."""
    m, k = a.shape[1], kink.shape[1]
    mat = np.hstack([a, kink])
    gram = mat.T @ mat
    rows = [-sp.eye(m + k, format="csc")]
    couple = sp.csc_matrix((np.ones(k), (np.arange(k), owner)), shape=(k, m))
    rows.append(sp.hstack([-couple, sp.eye(k)], format="csc"))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = 1e-12
    settings.tol_feas = 1e-12
    solver = clarabel.DefaultSolver(
        sp.triu(sp.csc_matrix(gram), format="csc"),
        -(mat.T @ t),
        sp.vstack(rows, format="csc"),
        np.zeros(m + 2 * k),
        [clarabel.NonnegativeConeT(m + 2 * k)],
        settings,
    )
    z = np.asarray(solver.solve().x)
    lam = np.maximum(z[:m], 0.0)
    return np.concatenate([lam, np.clip(z[m:], 0.0, lam[owner])])


def certify(
    net: ReLUNet,
    params: Params,
    x: Tensor,
    y: Tensor,
    kink_tol: float = KINK_TOL,
    multipliers: bool = False,
) -> Certificate:
    """The certificate of every network of the ensemble (see the module docstring).

    Clarke kinks are handled for the two-layer net; for bias-free deep nets relu'(0) = 0 is
    used (eps_rel = eps_fixed_rel there).
    """
    n_net, m = x.shape[:2]
    q = (y * net.forward(params, x)[0]).double().cpu().numpy()
    q_min = q.min(1)
    nan = np.full(n_net, math.nan)
    k = net.degree
    if k is None:
        return Certificate(False, q_min, nan, nan, nan, nan, nan, nan, nan, nan)
    norm = np.sqrt(sq_norm(params).double().cpu().numpy())
    res = {key: nan.copy() for key in ("eps", "eps_rel", "delta", "delta_rel", "eps_fixed_rel")}
    support = np.zeros(n_net, dtype=np.int64)
    kinks = np.zeros(n_net, dtype=np.int64)
    lams: list[np.ndarray] = []
    jac = jacobian(net, params, x).double().cpu().numpy()
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
        # solve at unit scale: θ̃/‖θ̃‖ ≈ Σ_i λ_i y_i ∂f_θ̃(x_i)/‖θ̃‖, with ∂f_θ̃ = c^{k-1} ∂f_θ
        scale = c ** (k - 1) / (c * norm[e])
        t = theta[e] / norm[e]
        a = scale * (jac[e] * ys[e][:, None]).T
        lam = _nnls(a, t)
        eps_rel = res["eps_fixed_rel"][e] = np.linalg.norm(t - a @ lam)
        if layers is not None:
            v, w, b = (None if p is None else p[e] for p in layers)
            owner, active, cols = _kink_columns(w, b, v, xs[e], ys[e], kink_tol)
            kinks[e] = len(owner)
            if len(owner):
                cols = scale * cols
                base = a - cols[:, active] @ np.eye(m)[owner[active]]  # s_ij = 0 on every kink
                z = _clarke_qp(base, cols, owner, t)
                lam = z[:m]
                eps_rel = np.linalg.norm(t - np.hstack([base, cols]) @ z)
        q_t = q[e] / q_min[e]
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
        gamma=q_min / norm**k,
        eps=res["eps"],
        eps_rel=res["eps_rel"],
        delta=res["delta"],
        delta_rel=res["delta_rel"],
        eps_fixed_rel=res["eps_fixed_rel"],
        support=support,
        kinks=kinks,
        multipliers=lams if multipliers else [],
    )
