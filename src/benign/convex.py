"""KKT points of the margin problem of the two-layer net in any dimension, from the convex
program over activation patterns (docs/science.md, KKT points in any dimension); the d = 1
minimum-norm interpolant is :mod:`benign.lp`."""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import clarabel
import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog, lsq_linear

from benign.records import CONVEX_FAILURES

# ----- the convex view in any dimension (docs/science.md, KKT points in any dimension) -----

T = TypeVar("T")
SOCP_TOL = 1e-10  # Clarabel's gap and feasibility tolerances (its default is 1e-8)
ACTIVE_TOL = 1e-6  # a block with ‖u_k‖ ≤ ACTIVE_TOL · Σ_k ‖u_k‖ carries no neuron
KINK_SNAP = 1e-6  # |x̃_i·u_k| ≤ KINK_SNAP · ‖u_k‖ · ‖x̃_i‖: on the boundary, snapped to 0
SUPPORT = 1e-6  # λ_i > SUPPORT · max λ: a margin held at exactly 1 by the polish
POLISH_STEPS = 3  # corrections of the recorded neurons (each one least-squares solve)
POLISH_TOL = 1e-9  # the polished network's support margins are within this of 1, none below
SCALE_COST = 1e-2  # the polish's cost of growing a neuron against turning it (see _correction)
POLISH_SLACK = 1e-4  # a polished network is kept if its KKT residual is within this of the best
MAX_SINGLE_TOGGLES = 8  # single-bit toggles tried per block and round, in rank ≤ 4
SINGLE_TOGGLE_RANK = 4
ASCENT_STEPS = 3  # each violating block also proposes the cell its multipliers pull it to
MAX_TRIES = 2  # a toggled pattern enters the pool at most this often
WALLS = 4  # with no flip left to try, each active block's min(r, WALLS) nearest walls
FAST_ABOVE = 0.1  # rounds by the fast interior point while the implied ε_rel is above this
FAST_ACTIVE = 1e-4  # ACTIVE_TOL of a fast round (its solution is accurate to ~1e-5 only)
FAST_RANK = 10  # fast rounds where the row space has rank ≥ this (in low d they gained ≤ 1.1×)
FAST_M = 100  # … and from this many points (below, a program takes ≤ 0.5 s: nothing to gain)
SLOPE_TOL = 1e-4  # implied Clarke slopes outside [−SLOPE_TOL, 1 + SLOPE_TOL] toggle a pattern
SEED_BLOCKS = 32  # blocks of the first program (each costs ~ m·r² per solver step)


@dataclass(frozen=True)
class RowSpace:
    """X̃ = A Vᵀ with V (d̃, r) orthonormal: X̃ = [X, 1] with bias, X without; r = rank X̃.

    A neuron u = (w, b) acts on the sample only through Vᵀu, and its component orthogonal to
    the rows only adds to ‖u‖: the margin problem lives in R^r, r ≤ m, whatever d is."""

    a: np.ndarray  # (m, r): A = X̃ V
    v: np.ndarray  # (d̃, r)

    @classmethod
    def of(cls, x: np.ndarray, bias: bool) -> "RowSpace":
        xt = np.c_[x, np.ones(len(x))] if bias else x
        v = row_space(xt)
        return cls(a=xt @ v, v=v)


def row_space(xt: np.ndarray) -> np.ndarray:
    """Orthonormal basis V (d̃, r) of the row space of X̃ (m, d̃): the right singular vectors with
    σ > σ_max · max(m, d̃) · eps (numpy's rank rule)."""
    _, s, vt = np.linalg.svd(xt, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * max(xt.shape) * np.finfo(float).eps
    return vt[keep].T


@dataclass
class SocpSolution:
    """The program over a pool of (pattern, sign) blocks: blocks' u_k (K, r) in row-space
    coordinates, margin multipliers λ (m,) and pattern-constraint multipliers ν (K, m)."""

    status: str  # "optimal", "infeasible" or "solver_failed"
    u: np.ndarray
    lam: np.ndarray
    nu: np.ndarray
    objective: float


def solve_patterns(
    a: np.ndarray, y: np.ndarray, patterns: np.ndarray, signs: np.ndarray
) -> SocpSolution:
    """min Σ_k ‖u_k‖  s.t.  y_i Σ_k σ_k [D_k A u_k]_i ≥ 1,  (2D_k − I) A u_k ≥ 0,

    the hard-margin program over K blocks with patterns D_k (K, m) ∈ {0, 1} and signs σ_k = ±1
    (σ_k = ±1: the sign of the block's output weight), as a second-order cone program for Clarabel.
    Variables per block: (t_k, u_k) ∈ SOC, objective Σ_k t_k."""
    m, r = a.shape
    n_blk = len(patterns)
    width = r + 1
    d_mat = patterns.astype(float)
    # margin rows: −y_i σ_k D_ki A_ic at column k·(r+1) + 1 + c
    kk, ii = np.nonzero(d_mat)
    cc = np.arange(r)
    rows_m = np.repeat(ii, r)
    cols_m = (kk[:, None] * width + 1 + cc[None, :]).ravel()
    vals_m = (-(y[ii] * signs[kk])[:, None] * a[ii]).ravel()
    # pattern rows m + k·m + i: −(2D_ki − 1) A_ic
    kp, ip = np.divmod(np.arange(n_blk * m), m)
    rows_p = np.repeat(m + kp * m + ip, r)
    cols_p = (kp[:, None] * width + 1 + cc[None, :]).ravel()
    vals_p = (-(2 * d_mat[kp, ip] - 1)[:, None] * a[ip]).ravel()
    # cone rows: −(t_k, u_k)
    n_var = n_blk * width
    rows_c = m + n_blk * m + np.arange(n_var)
    mat = sp.csc_matrix(
        (
            np.r_[vals_m, vals_p, -np.ones(n_var)],
            (np.r_[rows_m, rows_p, rows_c], np.r_[cols_m, cols_p, np.arange(n_var)]),
        ),
        shape=(m + n_blk * m + n_var, n_var),
    )
    q = np.zeros(n_var)
    q[::width] = 1.0
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.direct_solve_method = "faer"
    settings.max_threads = 1
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = SOCP_TOL
    solver = clarabel.DefaultSolver(
        sp.csc_matrix((n_var, n_var)),
        q,
        mat,
        np.r_[-np.ones(m), np.zeros(n_blk * m + n_var)],
        [clarabel.NonnegativeConeT(m + n_blk * m)] + [clarabel.SecondOrderConeT(width)] * n_blk,
        settings,
    )
    sol = interruptible(solver.solve)
    status = str(sol.status)
    empty = SocpSolution("", np.zeros((n_blk, r)), np.zeros(m), np.zeros((n_blk, m)), math.nan)
    if "Infeasible" in status:
        empty.status = "infeasible"
        return empty
    if status not in ("Solved", "AlmostSolved"):
        empty.status = "solver_failed"
        return empty
    x, z = np.asarray(sol.x), np.asarray(sol.z)
    return SocpSolution(
        status="optimal",
        u=x.reshape(n_blk, width)[:, 1:],
        lam=np.maximum(z[:m], 0.0),
        nu=np.maximum(z[m : m + n_blk * m].reshape(n_blk, m), 0.0),
        objective=float(sol.obj_val),
    )


def interruptible(solve: Callable[[], T]) -> T:
    """``solve()`` in a thread of its own, waited on in slices of 0.05 s, so that Ctrl-C
    reaches the caller at once (Clarabel's solve is one call that releases the GIL; without
    this an interrupt waited for the whole program, minutes at m = 500). An interrupted solve
    runs on in its daemon thread until it ends or the process exits."""
    out: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            out.append(solve())
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=run, name="clarabel", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
    if failure:
        raise failure[0]
    return out[0]


def solve_round(
    a: np.ndarray, y: np.ndarray, patterns: np.ndarray, signs: np.ndarray
) -> tuple[SocpSolution, bool]:
    """The program of :func:`solve_patterns` for a round of the search: by the
    block-structured interior point (:func:`benign.ipm.solve_blocks`, to 10⁻⁸), or, where it
    does not reach its tolerance (an infeasible pool among them), by Clarabel; and whether it
    was Clarabel's (the reference, to SOCP_TOL)."""
    from benign.ipm import solve_blocks

    fast = solve_blocks(a, y, patterns, signs)
    if fast.status != "optimal":
        return solve_patterns(a, y, patterns, signs), True
    u = fast.x[:, 1:]
    return SocpSolution("optimal", u, fast.lam, fast.nu, float(fast.x[:, 0].sum())), False


@dataclass(frozen=True)
class Implied:
    """What the program's multipliers say of its active blocks: the stationarity residual of
    the balanced network (relative, ε_rel of benign.certificate) once every Clarke slope
    s_ki = c_ki / (σ_k λ_i y_i) implied at a kink is clipped to [0, 1], with
    c_k = σ_k λ ⊙ y ⊙ D_k + (2D_k − 1) ⊙ ν_k; and the kinks whose slope falls outside."""

    eps_rel: float
    toggles: list[np.ndarray]  # per active block, the points whose pattern bit to flip


def implied_certificate(
    a: np.ndarray,
    y: np.ndarray,
    patterns: np.ndarray,
    signs: np.ndarray,
    sol: SocpSolution,
    active: np.ndarray,
) -> Implied:
    """The dual-implied certificate of the active blocks (indices ``active``): for block k
    with unit direction û_k, ‖û_k − Aᵀ(σ_k λ ⊙ y ⊙ s_k)‖ and 1 − σ_k Σ_i λ_i y_i relu(A_i û_k),
    weighted by ‖u_k‖ (a neuron of the network carries ‖θ_k‖² = 2‖u_k‖)."""
    lam = sol.lam
    scale = np.linalg.norm(a, axis=1)
    tiny = 1e-9 * max(float(lam.max(initial=0.0)), 1e-300)
    total, weight = 0.0, 0.0
    toggles = []
    for k in active:
        norm = np.linalg.norm(sol.u[k])
        dirn = sol.u[k] / norm
        z = a @ dirn
        d_k, s_k = patterns[k].astype(float), signs[k]
        kink = np.abs(z) <= KINK_SNAP * scale
        coef = s_k * lam * y * d_k + (2 * d_k - 1) * sol.nu[k]
        base = s_k * lam * y
        slope = np.divide(coef, base, out=np.zeros_like(coef), where=np.abs(base) > tiny)
        bad = kink & (
            (slope < -SLOPE_TOL)
            | (slope > 1 + SLOPE_TOL)
            | ((np.abs(base) <= tiny) & (np.abs(coef) > SLOPE_TOL * max(tiny, lam.max())))
        )
        s = np.where(kink, np.clip(slope, 0.0, 1.0), d_k)
        res_w = dirn - a.T @ (base * s)
        res_v = 1.0 - s_k * float(lam @ (y * np.maximum(z, 0.0)))
        total += float(norm * (res_w @ res_w + res_v**2))
        weight += float(2 * norm)
        toggles.append(np.nonzero(bad)[0])
    return Implied(math.sqrt(total / weight) if weight > 0 else math.nan, toggles)


@dataclass(frozen=True)
class ConvexSolution:
    """Balanced two-layer parameters of width ``width`` (unused neurons zero) from the convex
    program, polished (:func:`_neurons`) and rescaled to min_i q_i = 1, or why there are none
    (``reason`` in :data:`CONVEX_FAILURES`; else how the search stopped: ``"kkt"`` when the
    dual-implied certificate held — of the program's optimum; benign.run keeps it only where
    the recorded network is certified to 10⁻³)."""

    reason: str
    w: np.ndarray  # (width, d)
    b: np.ndarray | None  # (width,), None without bias
    v: np.ndarray  # (width,)
    active: int  # neurons used
    norm_sq: float  # ‖θ‖² = 2 Σ_k ‖u_k‖ at min_i q_i = 1
    multipliers: np.ndarray  # λ of the last program (m,), candidate KKT multipliers
    rounds: int  # programs solved
    patterns: int  # blocks in the last program
    implied_eps_rel: float

    @property
    def ok(self) -> bool:
        """A network came out (certified by the duals or not)."""
        return self.reason not in CONVEX_FAILURES


def _pull(a: np.ndarray, ly: np.ndarray, u: np.ndarray, sign: float) -> np.ndarray | None:
    """One step of the fixed-point map u ← σ Aᵀ(λ ⊙ y ⊙ 1[A u > 0]) / ‖·‖ (whose fixed points
    are the stationary neurons without kinks; each step ascends σ Σ_i λ_i y_i relu(A_i u) over
    unit u), None where it vanishes."""
    nxt = sign * (a.T @ (ly * (a @ u > 0)))
    size = np.linalg.norm(nxt)
    return nxt / size if size > 0 else None


def _ascent(a: np.ndarray, ly: np.ndarray, u: np.ndarray, sign: float) -> np.ndarray:
    """The pattern the multipliers pull block u towards: ASCENT_STEPS of :func:`_pull` from
    u's own direction."""
    for _ in range(ASCENT_STEPS):
        if (nxt := _pull(a, ly, u, sign)) is None:
            break
        u = nxt
    return a @ u > 0


def _kinks(a: np.ndarray, us: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Which pre-activations z = U Aᵀ (J, m) of neurons U (J, r) count as kinks:
    |A_i·u_j| ≤ KINK_SNAP · ‖u_j‖ · ‖A_i‖."""
    return np.abs(z) <= KINK_SNAP * np.linalg.norm(us, axis=1)[:, None] * np.linalg.norm(a, axis=1)


def _snap(a: np.ndarray, u: np.ndarray) -> np.ndarray:
    """u moved onto the hyperplanes A_i·u = 0 of the points within KINK_SNAP · ‖u‖ · ‖A_i‖ of
    them (the least-squares projection), norm kept, so that kinks sit exactly on training
    points; left as it is where that would move it by more than 100 · KINK_SNAP · ‖u‖ (the
    near points then span more than the directions the neuron can spare)."""
    norm = np.linalg.norm(u)
    on = _kinks(a, u[None], (a @ u)[None])[0]
    if not on.any():
        return u
    rows = a[on]
    moved = u - rows.T @ np.linalg.lstsq(rows @ rows.T, rows @ u, rcond=None)[0]
    if np.linalg.norm(moved - u) > 100 * KINK_SNAP * norm:
        return u
    return moved * (norm / np.linalg.norm(moved))


def _correction(
    a: np.ndarray, y: np.ndarray, us: np.ndarray, signs: np.ndarray, sup: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The smallest ΔU (J, r) with A_i·(u_j + Δu_j) = 0 at the kinks (|A_i·u_j| ≤
    KINK_SNAP · ‖u_j‖ · ‖A_i‖) and y_i Σ_j σ_j 1[A_i u_j > 0] A_i·(u_j + Δu_j) = 1 for i in
    ``sup``, the other activation bits kept; and the kinks. Smallest in the metric
    Σ_j (‖P_j Δu_j‖² + SCALE_COST · (û_j·Δu_j)²) / ‖u_j‖ (P_j = I − û_j û_jᵀ): turning a
    neuron, which moves it off stationarity, costs 1/SCALE_COST times more than growing it,
    which does not, and large neurons take the larger share. The constraints are rows
    b_ρ = (α_ρj A_i(ρ))_j, so ΔU_j = ‖u_j‖ (I + κ û_j û_jᵀ) Σ_ρ w_ρ α_ρj A_i(ρ) with
    κ = 1/SCALE_COST − 1 and w from one system in their Gram matrix, built from A Aᵀ (never
    from a (J·r)-column matrix)."""
    z = us @ a.T  # (J, m)
    norms = np.linalg.norm(us, axis=1)
    kink = _kinks(a, us, z)
    kj, ki = np.nonzero(kink)
    rows = np.r_[sup, ki]  # the point of each constraint
    alpha = np.zeros((len(us), len(rows)))  # α_ρj: ∂(constraint ρ) / ∂(A_i(ρ)·u_j)
    alpha[:, : len(sup)] = signs[:, None] * ((z > 0) & ~kink)[:, sup] * y[sup]
    alpha[kj, len(sup) + np.arange(len(kj))] = 1.0
    kappa = 1.0 / SCALE_COST - 1.0
    along = alpha * (z[:, rows] / norms[:, None])  # α_ρj (A_i(ρ)·û_j)
    gram = (a[rows] @ a[rows].T) * ((alpha.T * norms) @ alpha) + kappa * (along.T * norms) @ along
    rhs = np.r_[1.0 - (alpha[:, : len(sup)] * z[:, sup]).sum(0), -z[kj, ki]]
    w = np.linalg.lstsq(gram, rhs, rcond=None)[0] if len(rhs) else rhs
    v = (alpha * w) @ a[rows]  # (J, r)
    unit = us / norms[:, None]
    step = norms[:, None] * (v + kappa * unit * (unit * v).sum(1, keepdims=True))
    return step, kink


def _polish(
    a: np.ndarray, y: np.ndarray, us: np.ndarray, signs: np.ndarray, lam: np.ndarray
) -> np.ndarray | None:
    """The neurons U (J, r) moved so that their kinks sit exactly on their points and every
    margin that carries a multiplier (λ_i > SUPPORT · max λ) is exactly 1
    (:func:`_correction`, up to POLISH_STEPS times, while activation bits change or other
    margins fall below 1: those are held at 1 from then on). The
    solver's optimum meets both only to its tolerance (~1e-6 on the margins), and blocks
    dropped as inactive leave their share of the margins to the others. None unless it ends
    with the support margins within POLISH_TOL of 1 and none below (the move may turn
    neurons: :func:`_neurons` weighs that)."""
    held = lam > SUPPORT * lam.max(initial=0.0)
    moved = us
    for _ in range(POLISH_STEPS):
        sup = np.nonzero(held)[0]
        step, kink = _correction(a, y, moved, signs, sup)
        before = moved @ a.T > 0
        moved = moved + step
        q = y * (signs @ np.maximum(moved @ a.T, 0.0))
        low = q < 1 - POLISH_TOL
        if ((moved @ a.T > 0) == before)[~kink].all() and not (low & ~held).any():
            break
        held |= low  # a margin the correction pushed below 1 is held at 1 in the next
    if np.abs(q[sup] - 1).max(initial=0.0) <= POLISH_TOL and q.min() >= 1 - POLISH_TOL:
        return moved
    return None


def margin_kkt(
    x: np.ndarray,
    y: np.ndarray,
    bias: bool,
    width: int,
    patterns: np.ndarray,
    signs: np.ndarray,
    max_rounds: int = 30,
    max_seconds: float = math.inf,
    target: float = 1e-3,
    max_blocks: int | None = None,
    rs: RowSpace | None = None,
    log: Callable[[str], None] | None = None,
) -> ConvexSolution:
    """A KKT point of min ½‖θ‖² s.t. y_i N_θ(x_i) ≥ 1 for the two-layer net, by the convex
    program over a pool of (pattern, sign) blocks, started from ``patterns`` (K, m) and
    ``signs`` (K,).

    Each round solves :func:`solve_patterns` — by the block-structured interior point
    (:func:`solve_round`) where the row space has rank ≥ FAST_RANK, m ≥ FAST_M and while the implied
    ε_rel is above FAST_ABOVE, by Clarabel otherwise, and by Clarabel again before the search
    stops, so that the network and its multipliers always come from the reference solver —;
    an optimum whose implied Clarke slopes all lie
    in [0, 1] is an exact KKT point of the network problem (docs/science.md, KKT points in
    any dimension). Otherwise every active block whose kinks imply a slope outside [0, 1]
    gets a new block with those points' pattern bits flipped (the neighbouring cell the
    multipliers point to) — and once none is left to try, a block for each of the
    min(r, WALLS) walls nearest to each active block, crossed —, blocks at u = 0 leave the
    pool (a toggled pattern enters it at most MAX_TRIES times; at most ``max_blocks`` are
    kept, the newest), and the next round solves again. Stops once the implied ε_rel ≤
    ``target``. The network is built from the last program by :func:`_neurons`. ``rs``: the
    row space of the sample, where the caller has it already; ``log`` gets a line per
    program solved."""
    t0 = time.perf_counter()
    m, d = x.shape
    rs = rs or RowSpace.of(x, bias)
    a = rs.a
    pool_d = np.asarray(patterns, dtype=bool)
    pool_s = np.asarray(signs, dtype=float)
    tried: dict[tuple[bytes, float], int] = {}
    pool_d, pool_s = _unique(pool_d, pool_s)
    max_blocks = max_blocks or 4 * max(width, 1)
    rounds, sol, implied, reason = 0, None, None, "stuck"
    row_norms = np.linalg.norm(a, axis=1)
    exact = False  # whether sol is Clarabel's (the reference) rather than the fast round's

    def judge(sol: SocpSolution) -> tuple[np.ndarray, Implied]:
        norms = np.linalg.norm(sol.u, axis=1)
        active = np.nonzero(norms > (ACTIVE_TOL if exact else FAST_ACTIVE) * norms.sum())[0]
        implied = implied_certificate(a, y, pool_d, pool_s, sol, active)
        if log is not None:
            log(
                f"convex: program {rounds}{'' if exact else ' (fast)'}, {len(pool_s)} blocks, "
                f"implied ε_rel {implied.eps_rel:.1e}, {time.perf_counter() - t0:.1f} s"
            )
        return active, implied

    fast_rounds = a.shape[1] >= FAST_RANK and m >= FAST_M
    while True:
        if not fast_rounds or (implied is not None and implied.eps_rel <= FAST_ABOVE):
            sol, exact = solve_patterns(a, y, pool_d, pool_s), True
        else:
            sol, exact = solve_round(a, y, pool_d, pool_s)
        rounds += 1
        if sol.status != "optimal":
            reason = sol.status
            break
        active, implied = judge(sol)
        if implied.eps_rel <= target and not exact:  # confirmed by the reference solver
            sol, exact = solve_patterns(a, y, pool_d, pool_s), True
            if sol.status != "optimal":
                reason = sol.status
                break
            active, implied = judge(sol)
        if implied.eps_rel <= target:
            reason = "kkt"
            break
        in_pool = {(p.tobytes(), s) for p, s in zip(pool_d[active], pool_s[active], strict=True)}
        offer = _Offers(in_pool, tried)
        for k, flip in zip(active, implied.toggles, strict=True):
            # all of the block's bad bits at once, and in low d each alone (there the cell
            # with all of them flipped may not exist)
            single = len(flip) > 1 and a.shape[1] <= SINGLE_TOGGLE_RANK
            singles = [[i] for i in flip[:MAX_SINGLE_TOGGLES]] if single else []
            for bits in [flip, *singles] if len(flip) else []:
                p = pool_d[k].copy()
                p[bits] = ~p[bits]
                offer(p, pool_s[k])
            if len(flip) and ASCENT_STEPS:
                offer(_ascent(a, y * sol.lam, sol.u[k], pool_s[k]), pool_s[k])
        if not offer.new:  # no flip left to try: every active block's nearest walls, one at a time
            for k in active:
                walls = np.argsort(np.abs(a @ sol.u[k]) / row_norms, kind="stable")
                for i in walls[: min(a.shape[1], WALLS)]:
                    p = pool_d[k].copy()
                    p[i] = ~p[i]
                    offer(p, pool_s[k])
        if not offer.new:
            break
        new_d, new_s = [p for p, _ in offer.new], [sg for _, sg in offer.new]
        if rounds >= max_rounds or time.perf_counter() - t0 >= max_seconds:
            reason = "round_budget" if rounds >= max_rounds else "time_budget"
            break
        keep = active[-max_blocks + len(new_d) :]
        pool_d = np.vstack([pool_d[keep], np.array(new_d)])
        pool_s = np.r_[pool_s[keep], new_s]
    if not exact and reason not in ("infeasible", "solver_failed"):
        sol = solve_patterns(a, y, pool_d, pool_s)  # the network comes from the reference
        if sol.status == "optimal":
            active, implied = judge(sol)
        else:
            reason = sol.status
    zeros = np.zeros((width, d)), (np.zeros(width) if bias else None), np.zeros(width)
    if implied is None or reason in ("infeasible", "solver_failed"):
        return ConvexSolution(reason, *zeros, 0, math.nan, sol.lam, rounds, len(pool_s), math.nan)
    neurons, signs_n = _neurons(a, y, sol, pool_s, active)
    if len(neurons) > width:
        return ConvexSolution(
            "width_too_small",
            *zeros,
            len(neurons),
            math.nan,
            sol.lam,
            rounds,
            len(pool_s),
            implied.eps_rel,
        )
    v = np.zeros(width)
    w_full = np.zeros((width, d + int(bias)))
    for j, (u, s) in enumerate(zip(neurons, signs_n, strict=True)):
        ut = rs.v @ u  # back to (w, b) coordinates
        root = math.sqrt(np.linalg.norm(ut))
        w_full[j], v[j] = ut / root, s * root
    xt = np.c_[x, np.ones(m)] if bias else x
    q = y * (np.maximum(xt @ w_full.T, 0.0) @ v)
    if q.min() > 0:  # 2-homogeneous: θ/√q_min has min_i q_i = 1
        c = 1.0 / math.sqrt(q.min())
        w_full, v = c * w_full, c * v
    return ConvexSolution(
        reason if q.min() > 0 else "no_interpolation",
        w_full[:, :d],
        w_full[:, d] if bias else None,
        v,
        len(neurons),
        float((w_full**2).sum() + (v**2).sum()),
        sol.lam,
        rounds,
        len(pool_s),
        implied.eps_rel,
    )


SEARCH_DRAWS = 2000  # random unit directions priced per round by better_patterns
SEARCH_ROUNDS = 5  # programs re-solved with violating patterns added
SEARCH_ADD = 20  # violating patterns added per round, the most violating first
SEARCH_ASCENT = 20  # of the best-priced directions of each sign, each followed by _ascent's map
SEARCH_TOL = 1e-6  # a direction violates its dual constraint when σ h(u) > 1 + SEARCH_TOL


@dataclass(frozen=True)
class PatternSearch:
    """What :func:`better_patterns` found: the least Σ_k ‖u_k‖ (= ½‖θ‖² at min_i q_i = 1) over
    nets with the network's own activation patterns and signs (``own``; NaN when not solved:
    the screen found nothing) and with the patterns the search added (``best`` ≤ ``own``), the
    directions priced, the programs solved, and the blocks of ``best``'s program: u_k (K, d̃) in
    x̃ coordinates with signs σ_k, the net Σ_k σ_k relu(u_k·x̃) (neurons u_k/√‖u_k‖, output
    weights σ_k √‖u_k‖)."""

    own: float
    best: float
    draws: int
    rounds: int
    blocks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    signs: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def excess(self) -> float:
        """1 − best / own ≥ 0: how much lower a norm other patterns give (0: none found; NaN:
        no search made — no neuron the multipliers favour, or the first program failed)."""
        if self.draws == 0:
            return math.nan
        return 0.0 if self.rounds == 0 else max(0.0, 1.0 - self.best / self.own)


def _price(
    a: np.ndarray, ly: np.ndarray, rng: np.random.Generator, draws: int
) -> list[tuple[float, float, np.ndarray]]:
    """(σ h(u), σ, u) for unit directions u in row-space coordinates, h(u) = Σ_i λ_i y_i
    relu(A_i·u): ``draws`` random ones, and for the SEARCH_ASCENT best of each sign the
    ASCENT_STEPS iterates of :func:`_pull`."""
    dirs = rng.standard_normal((draws, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    h = np.maximum(dirs @ a.T, 0.0) @ ly
    out = []
    for sign in (1.0, -1.0):
        for k in np.argsort(-sign * h, kind="stable")[:SEARCH_ASCENT]:
            u = dirs[k]
            out.append((sign * h[k], sign, u))
            for _ in range(ASCENT_STEPS):
                if (nxt := _pull(a, ly, u, sign)) is None:
                    break
                u = nxt
                out.append((sign * float(np.maximum(a @ u, 0.0) @ ly), sign, u))
    return out


def better_patterns(
    x: np.ndarray,
    y: np.ndarray,
    bias: bool,
    neurons: np.ndarray,
    v: np.ndarray,
    lam: np.ndarray,
    rng: np.random.Generator,
    draws: int = SEARCH_DRAWS,
    rounds: int = SEARCH_ROUNDS,
) -> PatternSearch:
    """Whether a two-layer net of lower norm exists with other activation patterns than the
    network's (neurons w̃_j = (w_j, b_j) (n, d̃), output weights v (n,), multipliers λ (m,)):
    one-sided column generation on the convex margin program (docs/science.md).

    A unit direction u and sign σ violate the program's dual constraint when σ h(u) =
    σ Σ_i λ_i y_i relu(u·x̃_i) > 1 at its optimal λ; a block with that pattern then lowers the
    optimum. The screen prices ``draws`` random directions (:func:`_price`) with ``lam`` —
    the certificate's multipliers, scaled so that the network's own neurons have max_j
    σ_j h(w̃_j/‖w̃_j‖) = 1 — and stops there when none violates. Otherwise the program over the
    network's own patterns D_j = 1[X̃ w̃_j > 0] and signs sign(v_j) is solved (``own``), and up
    to ``rounds`` times the violating patterns (SEARCH_ADD, the largest σ h first) priced with
    its λ join the pool and the program is solved again (``best``). A violation proves a lower
    norm; none found among the directions priced proves nothing."""
    rs = RowSpace.of(x, bias)
    a = rs.a
    used = np.abs(v) * np.linalg.norm(neurons, axis=1) > 0
    us = neurons[used] @ rs.v
    signs = np.sign(v[used])
    ly = np.clip(lam, 0.0, None) * y
    own_h = signs * (np.maximum(us @ a.T, 0.0) @ ly) / np.linalg.norm(us, axis=1)
    if not (len(own_h) and own_h.max() > 0):
        return PatternSearch(math.nan, math.nan, 0, 0)
    priced = _price(a, ly / own_h.max(), rng, draws)
    if max(val for val, _, _ in priced) <= 1 + SEARCH_TOL:
        return PatternSearch(math.nan, math.nan, draws, 0)
    pool_d, pool_s = _unique(us @ a.T > 0, signs)
    sol = solve_patterns(a, y, pool_d, pool_s)
    if sol.status != "optimal":
        return PatternSearch(math.nan, math.nan, 0, 0)
    own = best = float(np.linalg.norm(sol.u, axis=1).sum())
    kept = sol.u, pool_s
    n_draws, n_rounds = draws, 1
    for _ in range(rounds):
        priced = _price(a, sol.lam * y, rng, draws)
        n_draws += draws
        over = sorted((c for c in priced if c[0] > 1 + SEARCH_TOL), key=lambda c: -c[0])
        if not over:
            break
        new_d = np.array([a @ u > 0 for _, _, u in over[:SEARCH_ADD]])
        new_s = np.array([sign for _, sign, _ in over[:SEARCH_ADD]])
        pool_d, pool_s = _unique(np.vstack([pool_d, new_d]), np.r_[pool_s, new_s])
        nxt = solve_patterns(a, y, pool_d, pool_s)
        n_rounds += 1
        if nxt.status != "optimal":
            break
        sol = nxt
        norm = float(np.linalg.norm(sol.u, axis=1).sum())
        if norm < best:
            best, kept = norm, (sol.u, pool_s)
    return PatternSearch(own, best, n_draws, n_rounds, kept[0] @ rs.v.T, kept[1])


@dataclass
class _Offers:
    """The blocks proposed in a round: each (pattern, sign) at most MAX_TRIES times in a
    search (``tried`` counts) and never one already in the pool."""

    in_pool: set[tuple[bytes, float]]
    tried: dict[tuple[bytes, float], int]
    new: list[tuple[np.ndarray, float]] = field(default_factory=list)

    def __call__(self, pattern: np.ndarray, sign: float) -> None:
        key = (pattern.tobytes(), sign)
        if key not in self.in_pool and self.tried.get(key, 0) < MAX_TRIES:
            self.tried[key] = self.tried.get(key, 0) + 1
            self.in_pool.add(key)
            self.new.append((pattern, sign))


def _unique(patterns: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (pattern, sign) blocks, in order of first appearance."""
    _, first = np.unique(np.c_[patterns, signs > 0], axis=0, return_index=True)
    first = np.sort(first)
    return patterns[first], signs[first]


def _merge(us: np.ndarray, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blocks with the same sign and direction (cosine > 1 − 1e-9) become one neuron
    u = Σ u_k (parallel, so ‖u‖ = Σ ‖u_k‖): neurons (J, r) and their signs (J,)."""
    out: list[np.ndarray] = []
    out_s: list[float] = []
    for u, s in zip(us, signs, strict=True):
        for k, o in enumerate(out):
            if out_s[k] == s and u @ o > (1 - 1e-9) * np.linalg.norm(u) * np.linalg.norm(o):
                out[k] = o + u
                break
        else:
            out.append(u)
            out_s.append(float(s))
    return np.array(out).reshape(-1, us.shape[1]), np.array(out_s)


def _neurons(
    a: np.ndarray, y: np.ndarray, sol: SocpSolution, signs: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The network of the program's solution: the first of its active blocks merged
    (:func:`_merge`) and polished (:func:`_polish`), every block that adds more than
    POLISH_TOL to some margin polished, and the active blocks only snapped to their kinks
    (:func:`_snap`), whose residual with the program's multipliers (:func:`kkt_residual`)
    is within POLISH_SLACK of the smallest."""
    carrying = np.nonzero(np.abs(sol.u @ a.T).max(1, initial=0.0) > POLISH_TOL)[0]
    merged = _merge(sol.u[active], signs[active])
    candidates = []
    for us, sg in (merged, _merge(sol.u[carrying], signs[carrying])):
        polished = _polish(a, y, us, sg, sol.lam)
        if polished is not None:
            candidates.append((polished, sg))
    candidates.append((np.array([_snap(a, u) for u in merged[0]]), merged[1]))
    residuals = [kkt_residual(a, y, *c, sol.lam) for c in candidates]
    return next(
        c for c, r in zip(candidates, residuals, strict=True) if r <= min(residuals) + POLISH_SLACK
    )


def kkt_residual(
    a: np.ndarray, y: np.ndarray, us: np.ndarray, signs: np.ndarray, lam: np.ndarray
) -> float:
    """(ε_rel² + δ_rel²)^½ of the balanced network of neurons U (J, r), signs σ, rescaled to
    min_i q_i = 1, with the multipliers λ/s (s the same rescaling) and, per neuron, the
    Clarke slopes at its kinks that fit best (a bounded least-squares problem): as in
    :func:`implied_certificate`, neuron j weighs ‖u_j‖ in ε² and adds ‖û_j − σ_j Aᵀ(λ ⊙ y ⊙
    s_j)‖² + (1 − σ_j Σ_i λ_i y_i relu(A_i û_j))²; δ_rel = Σ_i λ_i (q_i − 1) / Σ_i λ_i q_i."""
    z = us @ a.T
    q = y * (signs @ np.maximum(z, 0.0))
    if not q.min() > 0:
        return math.inf
    lam = lam / q.min()  # θ → θ/√q_min scales u by 1/q_min, the stationary λ by the same
    norms = np.linalg.norm(us, axis=1)
    total = 0.0
    for u, s, zj, nj, kink in zip(us, signs, z, norms, _kinks(a, us, z), strict=True):
        dirn, base = u / nj, s * lam * y
        res = dirn - a.T @ (base * ((zj > 0) & ~kink))
        if kink.any():
            cols = a[kink].T * base[kink]
            res = res - cols @ lsq_linear(cols, res, bounds=(0.0, 1.0)).x
        res_v = 1.0 - s * float(lam @ (y * np.maximum(a @ dirn, 0.0)))
        total += float(nj * (res @ res + res_v**2))
    eps_sq = total / (2 * norms.sum())
    qs = q / q.min()
    delta = float(lam @ (qs - 1)) / float(lam @ qs)
    return math.sqrt(eps_sq + delta**2)


def gate_neurons(r: int, gates: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``gates`` Gaussian directions g of the row space (r coordinates), each with both signs:
    directions (2·gates, r) and signs (2·gates,)."""
    g = rng.standard_normal((gates, r))
    return np.vstack([g, g]), np.r_[np.ones(gates), -np.ones(gates)]


def first_blocks(patterns: np.ndarray, signs: np.ndarray, y: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first ``count`` blocks, and of the first block beyond them of sign y_i
    active on x_i for every point i that those leave without one (without such a block no
    output can reach y_i N(x_i) ≥ 1)."""
    keep = list(range(min(count, len(signs))))
    covered = np.zeros(len(y), dtype=bool)
    for k in keep:
        covered |= patterns[k] & (signs[k] * y > 0)
    for k in range(len(keep), len(signs)):
        if (~covered & patterns[k] & (signs[k] * y > 0)).any():
            keep.append(k)
            covered |= patterns[k] & (signs[k] * y > 0)
    return np.array(keep, dtype=int)


def network_neurons(
    rs: RowSpace, w: np.ndarray, b: np.ndarray | None, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A network's neurons with v_j ≠ 0 as row-space directions Vᵀ(w_j, b_j) and signs of v_j,
    largest |v_j|·‖(w_j, b_j)‖ first."""
    wt = w if b is None else np.c_[w, b]
    size = np.abs(v) * np.linalg.norm(wt, axis=1)
    order = [j for j in np.argsort(-size, kind="stable") if size[j] > 0]
    return wt[order] @ rs.v, np.sign(v[order])


def seed_blocks(
    a: np.ndarray, y: np.ndarray, dirs: np.ndarray, signs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The (pattern 1[A g_k > 0], sign σ_k) blocks of the neurons (g_k, σ_k) that the margin
    LP over those fixed neurons uses,

        min Σ_k c_k  s.t.  y_i Σ_k c_k σ_k relu(A_i·ĝ_k) ≥ 1,  c ≥ 0

    (at most m of them at a vertex), largest c_k first; all of them, in their order, when
    that LP has no solution (the program, whose neurons may turn within their cells, may
    still have one)."""
    unit = dirs / np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-300)
    feats = y[:, None] * np.maximum(a @ unit.T, 0.0) * signs[None, :]
    res = linprog(
        np.ones(len(signs)),
        A_ub=-feats,
        b_ub=-np.ones(len(y)),
        bounds=(0, None),
        method="highs",
    )
    keep = np.arange(len(signs))
    if res.status == 0:
        keep = np.argsort(-res.x, kind="stable")
        keep = keep[res.x[keep] > 1e-9 * res.x.max()]
    return _unique((a @ unit[keep].T > 0).T, signs[keep])


# ----- the convex route's search policy (the convex and gd+convex methods) ---------------

RESEEDS = 3  # seed again with 2×, 4×, 8× the gates until the implied certificate holds


def _better(sol: ConvexSolution, than: ConvexSolution) -> bool:
    """A network over none; then the lower dual-implied ε_rel."""
    if sol.ok != than.ok:
        return sol.ok
    return bool(sol.implied_eps_rel < than.implied_eps_rel)


def search(
    x: np.ndarray,
    y: np.ndarray,
    bias: bool,
    width: int,
    gates: int,
    rng: np.random.Generator,
    max_rounds: int,
    max_seconds: float,
    target: float,
    pass_mark: float,
    start: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[ConvexSolution, str, int]:
    """A KKT point of one sample's margin problem by :func:`margin_kkt`, seeded by the
    neurons of the network ``start`` = (w, b, v) (gd+convex) or by ``gates`` random gates
    from ``rng``; the SEED_BLOCKS heaviest blocks of the seeding first, all of them if those
    give no network. While the search gives no network, or one whose dual-implied ε_rel is
    above ``pass_mark``, it starts again from twice as many gates, up to RESEEDS times, and
    keeps the best network (:func:`_better`); ``max_rounds`` programs and ``max_seconds`` in
    all. Returns the network, how it was seeded ("gd" or "gates N") and the programs solved."""
    t0 = time.perf_counter()
    rs = RowSpace.of(x, bias)
    best, best_how, rounds = None, "", 0
    for attempt in range(RESEEDS + 1):
        if start is not None and attempt == 0:
            w, b, v = start
            dirs, signs = network_neurons(rs, w, b, v)
            how = "gd"
        else:
            dirs, signs = gate_neurons(rs.a.shape[1], gates, rng)
            how = f"gates {gates}"
            gates *= 2
        pats, signs = seed_blocks(rs.a, y, dirs, signs)
        for pool in (first_blocks(pats, signs, y, SEED_BLOCKS), np.arange(len(signs))):
            left = max_seconds - (time.perf_counter() - t0)
            sol = margin_kkt(
                x, y, bias, width, pats[pool], signs[pool], max_rounds - rounds, left, target,
                rs=rs, log=log,
            )  # fmt: skip
            rounds += sol.rounds
            if sol.ok or len(pool) == len(signs) or rounds >= max_rounds:
                break
        if best is None or _better(sol, best):
            best, best_how = sol, how
        # seed again only where no network came out or it would not be certified
        if best.ok and best.implied_eps_rel <= pass_mark:
            break
        if time.perf_counter() - t0 >= max_seconds or rounds >= max_rounds:
            break
    assert best is not None  # the loop runs at least once
    return best, best_how, rounds
