"""The minimum-norm interpolant of the two-layer net in d = 1, exactly
(docs/science.md, The minimum-norm interpolant in d = 1).

At a KKT point every neuron is balanced, so ½‖θ‖² = Σ_j |c_j| over unit neuron directions
u_j ∈ S¹ acting on z = (x, 1): the margin problem is the semi-infinite linear program

    min Σ_j |c_j|  s.t.  y_i Σ_j c_j relu(u_j·z_i) ≥ 1.

With the samples sorted, u ∈ S¹ falls in one of 2(m − 1) + 1 arcs by the points it is active
on: a kink t in gap g = [x_g, x_{g+1}] opening to the right (u = (1, −t)/√(1 + t²), active on
i > g, kind R) or to the left (u = (−1, t)/√(1 + t²), active on i ≤ g, kind L), or active on
every point (an affine neuron, kind A). On one arc, with multipliers λ, the dual function
h(u) = Σ_i λ_i y_i relu(u·z_i) = u·G is linear, G = Σ_{i active} λ_i y_i z_i, so
max |h| over the arc is ‖G‖ at u = ±G/‖G‖ when that lies inside it, else at an end — a kink
on a data point. Column generation is therefore exact: solve the LP over a dictionary (every
data point as a kink, both ways, both signs, and the constant neuron), add each arc's
maximiser where |h| > 1 + tol, and stop when none is left; then λ / max|h| is feasible for the
dual, and Σ_i λ_i / max|h| ≤ min ½‖θ‖² ≤ the LP's optimum: the returned ``gap`` bounds how far
the network is from the global minimum norm.

The LP is posed with O(m) rows and nonzeros: f_i = F_i + G_i + αx_i + β, where F_i, S_i (the
value and slope of the R neurons at x_i) and G_i, T_i (those of the L neurons, from the right)
follow two-term recurrences over the gaps (F_{i+1} = F_i + h_i S_i + Σ_{R in gap i} c u·z_{i+1},
S_{i+1} = S_i + Σ c u_0, with h_i = x_{i+1} − x_i), so that each neuron is one column with two
entries. It is solved by HiGHS's primal simplex, warm-started as columns are added (each new
column leaves the basis primal feasible; the dual simplex, which must first restore dual
feasibility, took 5–250 s at m = 3000 where the primal takes 1–3 s). Neurons of one arc and
one sign are linear on the data and merge into one, u = Σ c_k u_k, with the same values at
every x_i and no larger norm. The network is rescaled to min_i q_i = 1 and balanced:
(w_j, b_j) = √c_j u_j, v_j = ±√c_j.
"""

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

# column generation stops once max |h| ≤ 1 + LP_TOL: above HiGHS's dual feasibility tolerance
# (1e-7; columns priced within it do not enter, and tighter ones make the simplex 10× slower
# and less accurate on steep samples)
LP_TOL = 2e-7
LP_ROUNDS = 40  # programs solved at most (each quarters the gap: ~10 from the data-point kinks)
STALL = 3  # the simplex stops after this many programs without a lower max |h|
ACTIVE = 1e-10  # a merged neuron with c ≤ ACTIVE · Σ c carries nothing
SIMPLEX_PRIMAL = 4  # HiGHS's simplex_strategy for the primal simplex
R, L, A = 0, 1, 2  # the kinds of arc


@dataclass(frozen=True)
class MinNormSolution:
    """Balanced parameters of width ``width`` (unused neurons are zero), or why there are none.

    ``reason``: "lp_optimal" (max |h| ≤ 1 + LP_TOL), or "round_budget", "time_budget",
    "stalled" (no lower max |h| in STALL programs), "simplex_failed" (the last program's
    network stands): a network optimal over the kinks found so far, within ``gap``; or one of
    :data:`LP_FAILURES`, with no network."""

    ok: bool
    reason: str
    w: np.ndarray  # (width, 1)
    b: np.ndarray  # (width,)
    v: np.ndarray  # (width,)
    active: int
    norm_sq: float  # ‖θ‖² at min_i q_i = 1
    multipliers: np.ndarray  # the LP's dual λ (m,): candidate KKT multipliers
    gap: float  # (½‖θ‖² − dual bound) / ½‖θ‖² of this network: ≥ its relative excess over the
    # global minimum norm
    rounds: int  # programs solved


def _atoms(kind: int, gap: np.ndarray, sign: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rows (n, 5) of the LP's neurons: kind (R, L, A), gap g, sign s, unit direction u."""
    return np.c_[np.full(len(gap), kind), gap, sign, _unit(u)]


def _program(xs: np.ndarray, ys: np.ndarray, atoms: np.ndarray) -> sp.csc_matrix:
    """The constraint matrix of the LP over ``atoms``: the recurrences as equality rows
    (= 0), then the margins y_i f_i (≥ 1). Variables F_i, S_i (i = 1..m−1), G_i, T_i
    (i = 0..m−2), α, β, then one c ≥ 0 per atom (objective Σ c)."""
    m = len(xs)
    z = np.c_[xs, np.ones(m)]
    n_r = 2 * (m - 1)  # F, S variables and rows: 2(i − 1) + {0, 1}; G, T: n_r + 2i + {0, 1}
    n_state = 2 * n_r + 2
    h = np.diff(xs)
    one, two = np.ones(m - 1), np.ones(m - 2)
    i = np.arange(m - 1)
    r_var, l_var = 2 * i, n_r + 2 * i  # F_{i+1} and G_i
    rows = [r_var, r_var + 1, r_var[1:], r_var[1:] + 1, r_var[1:]]
    cols = [r_var, r_var + 1, r_var[:-1], r_var[:-1] + 1, r_var[:-1] + 1]
    vals = [one, one, -two, -two, -h[1:]]
    rows += [l_var, l_var + 1, l_var[:-1], l_var[:-1] + 1, l_var[:-1]]
    cols += [l_var, l_var + 1, l_var[1:], l_var[1:] + 1, l_var[1:] + 1]
    vals += [one, one, -two, -two, -h[:-1]]
    rows += [np.array([2 * n_r, 2 * n_r + 1])]
    cols += [np.array([2 * n_r, 2 * n_r + 1])]
    vals += [np.ones(2)]
    # margins y_i f_i: rows n_state + i
    rows += [n_state + i + 1, n_state + i, np.repeat(n_state + np.arange(m), 2)]
    cols += [r_var, l_var, np.tile([2 * n_r, 2 * n_r + 1], m)]
    vals += [ys[1:], ys[:-1], (ys[:, None] * z).ravel()]
    # atoms: R in gap g enters F_{g+1} with u·z_{g+1} and S_{g+1} with u_0; L in gap g enters
    # G_g with u·z_g and T_g with −u_0; A enters α, β with u
    kind, gap, sign, u = atoms[:, 0], atoms[:, 1].astype(int), atoms[:, 2], atoms[:, 3:]
    n_at = len(atoms)
    row = np.where(kind == R, 2 * gap, np.where(kind == L, n_r + 2 * gap, 2 * n_r))
    at_z = np.where((kind == R)[:, None], z[np.minimum(gap + 1, m - 1)], z[gap])
    first = np.where(kind == A, u[:, 0], (u * at_z).sum(1))
    second = np.where(kind == A, u[:, 1], np.abs(u[:, 0]))
    col = n_state + np.arange(n_at)
    rows += [row, row + 1]
    cols += [col, col]
    vals += [-sign * first, -sign * second]
    return sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_state + m, n_state + n_at),
    )


@dataclass(frozen=True)
class _Pricing:
    """The arcs' maximisers of |h| above 1 + tol (new atoms) and max |h| over S¹."""

    new: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]
    max_h: float


def _price(xs: np.ndarray, ys: np.ndarray, lam: np.ndarray, tol: float) -> _Pricing:
    """h(u) = Σ_i λ_i y_i relu(u·z_i) on every arc: ‖G‖ where ±G/‖G‖ lies inside the arc; at
    the ends, the data-point kinks."""
    m = len(xs)
    z = np.c_[xs, np.ones(m)]
    pre = np.cumsum((lam * ys)[:, None] * z, axis=0)
    total = pre[-1]
    new = []
    max_h = 0.0
    for kind, g_vec in ((R, total - pre[:-1]), (L, pre[:-1])):
        norm = np.linalg.norm(g_vec, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -g_vec[:, 1] / g_vec[:, 0]
        inside = (t >= xs[:-1]) & (t <= xs[1:])
        max_h = max(max_h, float(norm[inside].max(initial=0.0)))
        for ends in (xs[:-1], xs[1:]):  # kinks on the data points
            u = np.c_[np.ones(m - 1), -ends] * (1.0 if kind == R else -1.0)
            h_end = np.abs((u * g_vec).sum(1)) / np.linalg.norm(u, axis=1)
            max_h = max(max_h, float(h_end.max(initial=0.0)))
        gaps = np.nonzero(inside & (norm > 1 + tol))[0]
        if len(gaps):
            # R: u_0 > 0, so u = sign(G_0) G/‖G‖ and s = sign(G_0); L: u_0 < 0, both negated
            s = np.sign(g_vec[gaps, 0]) * (1.0 if kind == R else -1.0)
            new.append((kind, gaps, s, s[:, None] * g_vec[gaps]))
    norm = float(np.linalg.norm(total))
    for end in ([z[0, 1], -z[0, 0]], [-z[-1, 1], z[-1, 0]]):  # the affine arc's ends
        max_h = max(max_h, abs(float(np.dot(end, total))) / math.hypot(*end))
    for sign in (1.0, -1.0):
        u = sign * total / max(norm, 1e-300)
        if u @ z[0] >= 0 and u @ z[-1] >= 0:
            max_h = max(max_h, norm)
            if norm > 1 + tol:
                new.append((A, np.array([0]), np.array([sign]), u[None]))
    return _Pricing(new, max_h)


def dual_bound(x: np.ndarray, y: np.ndarray, lam: np.ndarray) -> float:
    """Σ_i λ_i / max_{u ∈ S¹} |h(u)| for one sample x (m, 1), y (m,) and any λ ≥ 0 (negative
    entries taken as 0): λ / max|h| is feasible for the dual of the margin LP, so this is a
    lower bound on min ½‖θ‖² over nets of every width (module docstring); 0 where λ = 0."""
    order = np.argsort(x[:, 0], kind="stable")
    lam = np.clip(np.asarray(lam, dtype=float), 0.0, None)
    xs, ys = x[order, 0].astype(float), np.asarray(y, dtype=float)[order]
    max_h = _price(xs, ys, lam[order], math.inf).max_h
    return float(lam.sum() / max_h) if max_h > 0 else 0.0


class _Simplex:
    """The LP over a dictionary in HiGHS (bounds instead of the c ≥ 0 rows), solved by the
    primal simplex and warm-started as atoms are added."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray, atoms: np.ndarray) -> None:
        self.xs, self.ys, self.m = xs, ys, len(xs)
        self.n_state = 4 * (self.m - 1) + 2
        self.atoms = atoms
        mat = _program(xs, ys, atoms)
        n = mat.shape[1]
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, mat.shape[0]
        lp.col_cost_ = np.r_[np.zeros(self.n_state), np.ones(n - self.n_state)]
        lp.col_lower_ = np.r_[np.full(self.n_state, -inf), np.zeros(n - self.n_state)]
        lp.col_upper_ = np.full(n, inf)
        lp.row_lower_ = np.r_[np.zeros(self.n_state), np.ones(self.m)]
        lp.row_upper_ = np.r_[np.zeros(self.n_state), np.full(self.m, inf)]
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data
        self.highs = _quiet_highs()
        self.highs.passModel(lp)

    def add(self, atoms: np.ndarray) -> None:
        cols = _program(self.xs, self.ys, atoms)[:, self.n_state :]
        n = cols.shape[1]
        self.highs.addCols(
            n,
            np.ones(n),
            np.zeros(n),
            np.full(n, highspy.kHighsInf),
            cols.nnz,
            cols.indptr[:-1].astype(np.int32),
            cols.indices.astype(np.int32),
            cols.data,
        )
        self.atoms = np.concatenate([self.atoms, atoms])

    def run(self, seconds: float) -> bool:
        """Solve (within ``seconds``); whether the LP is optimal. Ctrl-C cancels HiGHS and is
        raised again at once."""
        h = self.highs
        h.setOptionValue("time_limit", max(seconds, 0.01))
        h.startSolve()
        try:
            while not h.wait(0.1)[0]:
                pass
        except KeyboardInterrupt:
            h.cancelSolve()
            h.wait()
            raise
        return h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def solution(self) -> tuple[float, np.ndarray, np.ndarray]:
        """The objective, the margins' duals λ and the atoms' weights c."""
        sol = self.highs.getSolution()
        objective = self.highs.getInfo().objective_function_value
        lam = np.maximum(np.asarray(sol.row_dual)[self.n_state :], 0.0)
        return objective, lam, np.asarray(sol.col_value)[self.n_state :]


def _quiet_highs() -> "highspy.Highs":
    """A HiGHS instance for the primal simplex on one thread that prints nothing (the first one
    of a process prints a banner on the C level's standard output: held back by pointing it at
    /dev/null)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("simplex_strategy", SIMPLEX_PRIMAL)
    return h


def min_norm_interpolant(
    x: np.ndarray,
    y: np.ndarray,
    width: int,
    max_seconds: float = math.inf,
    tol: float = LP_TOL,
    max_rounds: int = LP_ROUNDS,
    log: Callable[[str], None] | None = None,
    arcs: np.ndarray | None = None,
) -> MinNormSolution:
    """The minimum-norm interpolant of one sample x (m, 1), y (m,) ∈ {±1} by column generation
    (module docstring), every program by HiGHS's primal simplex, warm-started; ``log`` gets a
    line per program solved. ``arcs`` (2, m − 1) of bool, over the samples sorted: which arcs
    of kind R (row 0) and L (row 1) may hold neurons (affine neurons always may); the network
    is then the least-norm one with kinks there only ("lp_optimal": no allowed arc has
    |h| > 1 + tol), and ``gap`` still bounds its distance from the global minimum."""
    t0 = time.perf_counter()
    m = len(x)
    order = np.argsort(x[:, 0], kind="stable")
    xs, ys = x[order, 0].astype(float), y[order].astype(float)
    zeros = (np.zeros((width, 1)), np.zeros(width), np.zeros(width))
    none = np.full(m, np.nan)

    def failed(reason: str, active: int = 0, rounds: int = 0) -> MinNormSolution:
        return MinNormSolution(False, reason, *zeros, active, math.nan, none, math.nan, rounds)

    if m < 2:
        return failed("lp_failed")
    if np.any((np.diff(xs) == 0) & (ys[1:] != ys[:-1])):
        return failed("infeasible")
    allowed = np.ones((2, m - 1), dtype=bool) if arcs is None else np.asarray(arcs, dtype=bool)
    r_gaps, l_gaps = np.flatnonzero(allowed[R]), np.flatnonzero(allowed[L])
    start = []
    for s in (1.0, -1.0):
        start += [
            _atoms(R, r_gaps, np.full(len(r_gaps), s), np.c_[np.ones(len(r_gaps)), -xs[r_gaps]]),
            _atoms(
                L, l_gaps, np.full(len(l_gaps), s), np.c_[-np.ones(len(l_gaps)), xs[l_gaps + 1]]
            ),
            _atoms(A, np.array([0]), np.array([s]), np.array([[0.0, 1.0]])),
        ]
    simplex = _Simplex(xs, ys, np.concatenate(start))
    reason, rounds, best = "round_budget", 0, None  # best: (table, c, λ, dual bound)
    stalled, lowest = 0, math.inf

    def left() -> float:
        return max_seconds - (time.perf_counter() - t0)

    while rounds < max_rounds:
        if left() <= 0:
            reason = "time_budget"
            break
        if not simplex.run(left()):  # the last program's network stands
            reason = "time_budget" if left() <= 0 else "simplex_failed"
            break
        objective, lam, c = simplex.solution()
        rounds += 1
        price = _price(xs, ys, lam, tol)
        new = [_within(allowed, *atoms) for atoms in price.new]
        new = [atoms for atoms in new if len(atoms[1])]
        best = (simplex.atoms, c, lam, lam.sum() / max(price.max_h, 1.0))
        if log is not None:
            log(
                f"lp: program {rounds}, {len(c)} kinks, ½‖θ‖² {objective:.10g}, "
                f"max|h| − 1 = {price.max_h - 1:.1e}, {time.perf_counter() - t0:.1f} s"
            )
        if not new:
            reason = "lp_optimal"
            break
        # a restricted program's max |h| may sit on an arc it may not use: no stall test there
        stalled = stalled + 1 if price.max_h >= lowest and arcs is None else 0
        lowest = min(lowest, price.max_h)
        if stalled >= STALL:
            reason = "stalled"
            break
        simplex.add(np.concatenate([_atoms(*atoms) for atoms in new]))
    if best is None:  # no program solved: a simplex that failed is an LP that failed
        reason = "lp_failed" if reason in ("round_budget", "simplex_failed") else reason
        return failed(reason, rounds=rounds)
    table, c, lam, bound = best
    neurons = _merge(table, c)
    if len(neurons) > width:
        return failed("width_too_small", len(neurons), rounds)
    neurons = _refine(xs, ys, lam, neurons)
    w, b, v = (np.zeros_like(a) for a in zeros)
    for j, (u, s) in enumerate(neurons):
        root = math.sqrt(float(np.linalg.norm(u)))
        w[j, 0], b[j], v[j] = u[0] / root, u[1] / root, s * root
    q = y * (np.maximum(np.outer(x[:, 0], w[:, 0]) + b, 0.0) @ v)
    if not q.min() > 0:
        return failed("lp_failed", len(neurons), rounds)
    scale = 1.0 / math.sqrt(q.min())  # 2-homogeneous: min_i q_i = 1
    w, b, v = scale * w, scale * b, scale * v
    multipliers = np.empty(m)
    multipliers[order] = lam
    norm_sq = float((w**2).sum() + (b**2).sum() + (v**2).sum())
    gap = (norm_sq / 2 - bound) / (norm_sq / 2)  # of the network itself, rescaled
    return MinNormSolution(True, reason, w, b, v, len(neurons), norm_sq, multipliers, gap, rounds)


def _within(
    allowed: np.ndarray, kind: int, gaps: np.ndarray, sign: np.ndarray, u: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The priced atoms of one kind whose arcs are allowed (affine ones always are)."""
    ok = np.ones(len(gaps), dtype=bool) if kind == A else allowed[kind, gaps]
    return kind, gaps[ok], sign[ok], u[ok]


def _unit(u: np.ndarray) -> np.ndarray:
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _refine(
    xs: np.ndarray, ys: np.ndarray, lam: np.ndarray, neurons: list[tuple[np.ndarray, float]]
) -> list[tuple[np.ndarray, float]]:
    """The neurons' weights corrected so that the margins that carry multipliers are 1 to
    rounding: the simplex leaves them within its feasibility tolerance (1e-7 in HiGHS's
    scaling), and rescaling to min_i q_i = 1 would raise ½‖θ‖² by as much. Directions fixed,
    the least-norm Δc with Φ_T Δc = 1 − q_T over T = {i: λ_i > 0}, Φ_ij = y_i s_j relu(u_j·z_i)."""
    if not neurons:
        return neurons
    u = np.array([n for n, _ in neurons])
    sign = np.array([s for _, s in neurons])
    size = np.linalg.norm(u, axis=1)
    phi = ys[:, None] * np.maximum(np.c_[xs, np.ones(len(xs))] @ (u / size[:, None]).T, 0.0)
    phi *= sign[None, :]
    tight = lam > 1e-9 * lam.max(initial=0.0)
    step = np.linalg.lstsq(phi[tight], 1.0 - phi[tight] @ size, rcond=None)[0]
    if not np.all(np.abs(step) <= 1e-4 * size.max()):  # not a polish: leave it
        return neurons
    new = np.maximum(size + step, 0.0)
    return [(u[j] * (new[j] / size[j]), float(sign[j])) for j in range(len(neurons))]


def _merge(atoms: np.ndarray, c: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """One neuron per (kind, gap, sign) that carries weight: u = Σ c_k u_k over its atoms (one
    arc, so linear on the data: same values, ‖u‖ ≤ Σ c_k), as (u, sign); those with
    ‖u‖ ≤ ACTIVE · Σ‖u‖ are left out."""
    c = np.maximum(c, 0.0)
    keys = atoms[:, :3]
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    summed = np.zeros((len(uniq), 2))
    np.add.at(summed, inverse.ravel(), c[:, None] * atoms[:, 3:])
    size = np.linalg.norm(summed, axis=1)
    keep = np.nonzero(size > ACTIVE * size.sum())[0]
    return [(summed[k], float(uniq[k, 2])) for k in keep]
