"""The margin problem of the two-layer net in d = 1 as a linear program (DESIGN §1, Balance).

At a KKT point every neuron is balanced, |v_j| = ‖(w_j, b_j)‖, so ½‖θ‖² = Σ_j |v_j|·‖(w_j, b_j)‖
and the margin problem becomes

    min Σ_j |c_j|  s.t.  y_i Σ_j c_j relu(u_j·(x_i, 1)) ≥ 1,

over unit neuron directions u_j. Over a finite dictionary of directions — kinks at every training
point and on a grid of [a, b], both orientations, and the constant neuron — it is a linear
program (solved with HiGHS). Its optimum approaches the global minimum-norm interpolant as the
grid is refined; a basic optimal solution has at most m active neurons. The solution is turned
back into balanced network parameters: (w_j, b_j) = sqrt|c_j| u_j, v_j = sign(c_j) sqrt|c_j|.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

LP_FAILURES: tuple[str, ...] = ("lp_failed", "width_too_small")


def kink_dictionary(x: np.ndarray, a: float, b: float, grid: int) -> np.ndarray:
    """Unit directions u (D, 2) acting on (x, 1): relu(±(x − t)) / sqrt(1 + t²) for kinks t at
    the training points and at ``grid`` equispaced points of [a, b]; and, for kinks outside
    [a, b], where a neuron is affine and positive on all of [a, b], directions on that arc of
    the circle at 0.25° steps (the constant (0, 1) among them)."""
    kinks = np.unique(np.concatenate([x.ravel(), np.linspace(a, b, grid)]))
    up = np.stack([np.ones_like(kinks), -kinks], 1) / np.sqrt(1 + kinks**2)[:, None]
    phi = np.deg2rad(np.arange(0.0, 360.0, 0.25))
    arc = np.stack([np.cos(phi), np.sin(phi)], 1)
    arc = arc[(arc @ [a, 1.0] > 0) & (arc @ [b, 1.0] > 0)]
    return np.concatenate([up, -up, arc])


@dataclass(frozen=True)
class MinNormSolution:
    """Balanced parameters of width ``width`` (unused neurons are zero), or why there are none."""

    ok: bool
    reason: str
    w: np.ndarray  # (width, 1)
    b: np.ndarray  # (width,)
    v: np.ndarray  # (width,)
    active: int
    norm_sq: float  # ‖θ‖² = 2 Σ_j |c_j|
    multipliers: np.ndarray  # the LP's dual: candidate KKT multipliers λ (m,)


def min_norm_interpolant(
    x: np.ndarray, y: np.ndarray, a: float, b: float, width: int, grid: int = 2000
) -> MinNormSolution:
    """Solve the dictionary LP for one sample x (m, 1), y (m,) ∈ {±1}."""
    u = kink_dictionary(x, a, b, grid)
    phi = np.maximum(np.c_[x[:, 0], np.ones(len(x))] @ u.T, 0.0)  # (m, D)
    signed = y[:, None] * phi
    n_atoms = u.shape[0]
    res = linprog(
        np.ones(2 * n_atoms),
        A_ub=-np.hstack([signed, -signed]),
        b_ub=-np.ones(len(x)),
        bounds=(0, None),
        method="highs",
    )
    zeros = (np.zeros((width, 1)), np.zeros(width), np.zeros(width))
    none = np.full(len(x), np.nan)
    if res.status != 0:
        return MinNormSolution(False, "lp_failed", *zeros, 0, np.nan, none)
    c = res.x[:n_atoms] - res.x[n_atoms:]
    idx = np.nonzero(np.abs(c) > 1e-12 * np.abs(c).max())[0]
    if len(idx) > width:
        return MinNormSolution(False, "width_too_small", *zeros, len(idx), np.nan, none)
    w, bias, v = zeros
    root = np.sqrt(np.abs(c[idx]))
    w[: len(idx), 0] = root * u[idx, 0]
    bias[: len(idx)] = root * u[idx, 1]
    v[: len(idx)] = np.sign(c[idx]) * root
    lam = -np.asarray(res.ineqlin.marginals)  # HiGHS: ∂(objective)/∂b_ub ≤ 0
    return MinNormSolution(
        True, "lp_optimal", w, bias, v, len(idx), 2 * float(np.abs(c).sum()), lam
    )
