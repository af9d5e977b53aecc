"""Many KKT points of one sample in d = 1, not only the least-norm one.

Draw 0 is the minimum-norm interpolant (:func:`benign.lp.min_norm_interpolant`, every arc
allowed). Where the draws outnumber the 2^(2(m − 1)) kink sets, each set is taken once
instead (exhaustive: at m = 5, 256 sets gave 15 distinct points, of which 400 random draws
found 13). Otherwise draw r ≥ 1 allows each of the 2(m − 1) arcs (a kink in a gap, opening right or
left: random kink sets and orientations) independently with a probability q_r drawn uniformly
from [Q_LOW, Q_HIGH], and takes the least-norm interpolant with kinks there only. Every network
is then certified (the LP's dual as the hint: benign.certify) and bounded from the global
minimum (``global_gap``); the certified ones are kept, one per distinct point: distinct means
another function on the data points and the middles of the gaps between them, or a ½‖θ̃‖²
more than NORM_TOL apart (relative) — two networks that differ only in how their neurons split
one function are one point. A restricted program is optimal within its dictionary, not a KKT
point of the full problem by construction: the certificate decides.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from benign.certify import certify, global_gap, optimality
from benign.lp import min_norm_interpolant
from benign.measures.clean_error import exact_clean_error_1d
from benign.nets import ReLUNet

Q_LOW, Q_HIGH = 0.3, 0.95  # the share of arcs a draw allows, uniform between these
NORM_TOL = 1e-6  # two points whose ½‖θ̃‖² differ by more (relative) are distinct


@dataclass(frozen=True)
class KKTPoint:
    """One certified KKT point of a sample: how it was found (draw 0: every arc; else the
    draw and the arcs it allowed), ½‖θ̃‖² at min_i q_i = 1, its exact clean error on [a, b],
    certificate, global gap and tier, its neurons and parameters (w (n,), b (n,), v (n,))."""

    draw: int
    arcs: int  # arcs allowed, of 2(m − 1)
    half_norm: float
    clean_error: float
    eps_rel: float
    delta_rel: float
    global_gap: float
    optimality: str
    neurons: int
    w: np.ndarray
    b: np.ndarray
    v: np.ndarray

    def values(self, t: np.ndarray) -> np.ndarray:
        """N(t) = Σ_j v_j relu(w_j t + b_j) at the points t (k,)."""
        return np.maximum(np.outer(t, self.w) + self.b, 0.0) @ self.v


def _candidate(
    x: np.ndarray, y: np.ndarray, arcs: np.ndarray | None, draw: int, interval: tuple[float, float]
) -> KKTPoint | None:
    """The least-norm interpolant with kinks on ``arcs`` (all where None), if it is a
    certified KKT point."""
    m = len(y)
    sol = min_norm_interpolant(x, y, width=4 * m, arcs=arcs)
    if not sol.ok:
        return None
    keep = sol.v != 0
    w, b, v = sol.w[keep, 0], sol.b[keep], sol.v[keep]
    params = [torch.tensor(w)[None, :, None], torch.tensor(b)[None], torch.tensor(v)[None, None]]
    net = ReLUNet(1, len(v), depth=2, bias=True)
    cert = certify(net, params, x, y, multipliers=True, hint=[sol.multipliers])
    if not bool(cert.certified()[0]):
        return None
    gap = global_gap(params, x[None], y[None], [[cert.multipliers[0], sol.multipliers]])
    error = exact_clean_error_1d(params[2][:, 0], params[0], params[1], *interval)[0]
    return KKTPoint(
        draw=draw,
        arcs=2 * (m - 1) if arcs is None else int(arcs.sum()),
        half_norm=sol.norm_sq / 2,
        clean_error=float(error),
        eps_rel=float(cert.eps_rel[0]),
        delta_rel=float(cert.delta_rel[0]),
        global_gap=float(gap[0]),
        optimality=str(optimality(cert.certified(), gap)[0]),
        neurons=len(v),
        w=w,
        b=b,
        v=v,
    )


def kkt_points(
    x: np.ndarray,
    y: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    interval: tuple[float, float] = (0.0, 1.0),
) -> list[KKTPoint]:
    """The distinct certified KKT points found in ``draws`` draws (module docstring) for the
    sample x (m, 1), y (m,) ∈ {±1} drawn on ``interval``, in the order found (draw 0 first:
    the global minimiser, when certified)."""
    m = len(y)
    xs = np.sort(x[:, 0])
    grid = np.sort(np.r_[xs, (xs[1:] + xs[:-1]) / 2])  # the data points and the gaps' middles
    found: list[KKTPoint] = []
    n_arcs = 2 * (m - 1)
    every = draws > 2**n_arcs  # few enough arcs: every kink set, in order, instead of draws
    for draw in range(min(draws, 2**n_arcs + 1) if every else draws):
        arcs = None
        if draw and every:
            arcs = ((draw - 1) >> np.arange(n_arcs) & 1).astype(bool).reshape(2, m - 1)
        elif draw:  # over the samples sorted, as the LP reads them
            arcs = rng.random((2, m - 1)) < rng.uniform(Q_LOW, Q_HIGH)
        point = _candidate(x, y, arcs, draw, interval)
        if point is None or any(_same(point, other, grid) for other in found):
            continue
        found.append(point)
    return found


def _same(a: KKTPoint, b: KKTPoint, grid: np.ndarray) -> bool:
    """The same point: ½‖θ̃‖² within NORM_TOL and the same function on ``grid`` (within
    NORM_TOL of its largest value)."""
    fa, fb = a.values(grid), b.values(grid)
    scale = max(np.abs(fa).max(), np.abs(fb).max(), 1.0)
    return math.isclose(a.half_norm, b.half_norm, rel_tol=NORM_TOL) and bool(
        np.abs(fa - fb).max() <= NORM_TOL * scale
    )
