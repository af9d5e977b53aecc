"""Many KKT points of one sample, not only the one a solver lands on.

In d = 1 with biases (the LP route), draw 0 is the minimum-norm interpolant
(:func:`benign.lp.min_norm_interpolant`, every arc allowed). Where the draws outnumber the
2^(2(m − 1)) kink sets, each set is taken once instead (exhaustive: at m = 5, 256 sets gave 15
distinct points, of which 400 random draws found 13). Otherwise draw r ≥ 1 allows each of the
2(m − 1) arcs (a kink in a gap, opening right or left: random kink sets and orientations)
independently with a probability q_r drawn uniformly from [Q_LOW, Q_HIGH], and takes the
least-norm interpolant with kinks there only. A restricted program is optimal within its
dictionary, not a KKT point of the full problem by construction: the certificate decides.

Elsewhere (the convex route), draw r seeds the convex search (:func:`benign.convex.margin_kkt`)
with G random gates, G = 256 for d ≤ 3 and 64 above at draw 0 (``benign run --method convex``'s
first seeding) and drawn from GATES for r ≥ 1, and takes its network.

Every network is then certified (the solver's multipliers as the hint: benign.certificate) and
placed against the global minimum (``global_gap`` where :func:`benign.certificate.gap_checked`, else
``excess_found``); the certified ones are kept, one per distinct point: distinct means another
function on the data points and the middles between consecutive ones (sorted in d = 1), or a
½‖θ̃‖² more than NORM_TOL apart (relative) — two networks that differ only in how their neurons
split one function are one point.
"""

import math
from dataclasses import dataclass

import numpy as np

from benign.certificate import certify, excess_bounds, optimality
from benign.convex import (
    SEED_BLOCKS,
    RowSpace,
    first_blocks,
    gate_neurons,
    margin_kkt,
    seed_blocks,
)
from benign.data import Distribution
from benign.lp import min_norm_interpolant
from benign.measures import clean_error
from benign.nets import from_arrays

Q_LOW, Q_HIGH = 0.3, 0.95  # the share of arcs a draw allows, uniform between these
GATES = (8, 16, 32, 64, 128, 256)  # convex route: the gates of draw r ≥ 1, one drawn uniformly
NORM_TOL = 1e-6  # two points whose ½‖θ̃‖² differ by more (relative) are distinct
CONVEX_TARGET = 1e-4  # convex route: the search stops once its implied ε_rel is below this


@dataclass(frozen=True)
class KKTPoint:
    """One certified KKT point of a sample: how it was found (the draw, and the arcs it allowed
    of 2(m − 1) in d = 1 — draw 0: every arc — or the gates that seeded the convex search),
    ½‖θ̃‖² at min_i q_i = 1, its clean error (exact on the interval, else Monte Carlo on the
    test points of the sample's seed), certificate, place against the global minimum and tier,
    its neurons and parameters (w (n, d), b (n,) or None, v (n,))."""

    draw: int
    arcs: int  # d = 1 with biases: arcs allowed, of 2(m − 1); else 0
    gates: int  # the convex route: random gates that seeded the search; else 0
    half_norm: float
    clean_error: float
    eps_rel: float
    delta_rel: float
    global_gap: float  # where gap_checked: ≥ the relative excess over the least norm
    excess_found: float  # elsewhere: the share a search for better patterns saved (≤ the excess)
    optimality: str
    neurons: int
    w: np.ndarray
    b: np.ndarray | None
    v: np.ndarray

    def values(self, t: np.ndarray) -> np.ndarray:
        """N(t) = Σ_j v_j relu(w_j·t + b_j) at the points t (k, d), or (k,) in d = 1."""
        pre = np.reshape(t, (len(t), -1)) @ self.w.T
        return np.maximum(pre if self.b is None else pre + self.b, 0.0) @ self.v


def _measured(
    x: np.ndarray,
    y: np.ndarray,
    layers: tuple[np.ndarray, np.ndarray | None, np.ndarray],
    hint: np.ndarray,
    how: tuple[int, int, int],
    dist: Distribution,
    seed: int,
    rng: np.random.Generator,
) -> "KKTPoint | None":
    """The network w (n, d), b (n,) or None, v (n,) of a solver (its unused neurons dropped) as
    a KKT point, if its certificate holds; ``how``: (draw, arcs, gates)."""
    w, b, v = layers
    keep = v != 0
    w, v = w[keep], v[keep]
    b = None if b is None else b[keep]
    net, params = from_arrays(w, v, b)
    cert = certify(net, params, x, y, multipliers=True, hint=[hint])
    certified = cert.certified()
    if not bool(certified[0]):
        return None
    gap, found = excess_bounds(params, x[None], y[None], [[cert.multipliers[0], hint]], [rng])
    bias = b is not None
    error = clean_error(net, params, dist, seeds=[seed]).value[0]
    xt = np.c_[x, np.ones(len(y))] if bias else x
    q = y * (np.maximum(xt @ np.c_[w, b].T if bias else x @ w.T, 0.0) @ v)
    scale = 1.0 / math.sqrt(q.min())  # 2-homogeneous: θ/√q_min has min_i q_i = 1
    half = 0.5 * scale**2 * float((w**2).sum() + (0 if b is None else (b**2).sum()) + (v**2).sum())
    return KKTPoint(
        *how,
        half_norm=half,
        clean_error=float(error),
        eps_rel=float(cert.eps_rel[0]),
        delta_rel=float(cert.delta_rel[0]),
        global_gap=float(gap[0]),
        excess_found=float(found[0]),
        optimality=str(optimality(certified, gap, found)[0]),
        neurons=len(v),
        w=scale * w,
        b=None if b is None else scale * b,
        v=scale * v,
    )


def _lp_candidate(
    x: np.ndarray,
    y: np.ndarray,
    arcs: np.ndarray | None,
    draw: int,
    dist: Distribution,
    seed: int,
    rng: np.random.Generator,
) -> KKTPoint | None:
    """The least-norm interpolant with kinks on ``arcs`` (all where None), if it is a
    certified KKT point."""
    m = len(y)
    sol = min_norm_interpolant(x, y, width=4 * m, arcs=arcs)
    if not sol.ok:
        return None
    n_arcs = 2 * (m - 1) if arcs is None else int(arcs.sum())
    layers = (sol.w, sol.b, sol.v)
    return _measured(x, y, layers, sol.multipliers, (draw, n_arcs, 0), dist, seed, rng)


def _convex_candidate(
    x: np.ndarray,
    y: np.ndarray,
    bias: bool,
    gates: int,
    draw: int,
    dist: Distribution,
    seed: int,
    rng: np.random.Generator,
) -> KKTPoint | None:
    """The convex search's network from ``gates`` random gates, if it is a certified KKT point."""
    rs = RowSpace.of(x, bias)
    dirs, signs = gate_neurons(rs.a.shape[1], gates, rng)
    pats, signs = seed_blocks(rs.a, y, dirs, signs)
    pool = first_blocks(pats, signs, y, SEED_BLOCKS)
    sol = margin_kkt(x, y, bias, 4 * len(y), pats[pool], signs[pool], target=CONVEX_TARGET, rs=rs)
    if not sol.ok:
        return None
    layers = (sol.w, sol.b, sol.v)
    return _measured(x, y, layers, sol.multipliers, (draw, 0, gates), dist, seed, rng)


def kkt_points(
    x: np.ndarray,
    y: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    dist: Distribution | None = None,
    bias: bool = True,
    seed: int = 0,
) -> list[KKTPoint]:
    """The distinct certified KKT points found in ``draws`` draws (module docstring) for the
    sample x (m, d), y (m,) ∈ {±1} drawn from ``dist`` (default: uniform on [0, 1]), in the
    order found (draw 0 first: in d = 1 with biases the global minimiser, when certified).
    ``seed``: the sample's, whose test stream gives Monte Carlo clean errors."""
    m, d = x.shape
    dist = dist or Distribution("interval", 1)
    if dist.d != d:
        raise ValueError(f"dist: its dimension {dist.d} is not the sample's {d}")
    order = np.argsort(x[:, 0]) if d == 1 else np.arange(m)
    xs = x[order]
    grid = np.r_[xs, (xs[1:] + xs[:-1]) / 2]  # the data points and the middles between them
    found: list[KKTPoint] = []
    lp = d == 1 and bias
    n_arcs = 2 * (m - 1)
    every = lp and draws > 2**n_arcs  # few enough arcs: every kink set, in order
    for draw in range(min(draws, 2**n_arcs + 1) if every else draws):
        if lp:
            arcs = None
            if draw and every:
                arcs = ((draw - 1) >> np.arange(n_arcs) & 1).astype(bool).reshape(2, m - 1)
            elif draw:  # over the samples sorted, as the LP reads them
                arcs = rng.random((2, m - 1)) < rng.uniform(Q_LOW, Q_HIGH)
            point = _lp_candidate(x, y, arcs, draw, dist, seed, rng)
        else:
            gates = (256 if d <= 3 else 64) if draw == 0 else int(rng.choice(GATES))
            point = _convex_candidate(x, y, bias, gates, draw, dist, seed, rng)
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
