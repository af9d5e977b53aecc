"""The pattern program of :func:`benign.convex.solve_patterns` by a primal–dual interior point
that uses its block structure (docs/convex.md, The search's programs): the search's rounds.

    min Σ_k t_k  s.t.  y_i Σ_k σ_k D_ki A_i u_k ≥ 1,  (2D_ki − 1) A_i u_k ≥ 0,  ‖u_k‖ ≤ t_k

in the conic form G x + s = h, s in the cone: margin rows −M x + s_m = −1 (M x)_i =
Σ_k y_i σ_k D_ki A_i u_k, pattern rows −P x + s_p = 0, and −x + s_c = 0 with s_c in the
second-order cones. Mehrotra's predictor–corrector with Nesterov–Todd scaling W (Vandenberghe,
"The CVXOPT linear and quadratic cone program solvers", 2010). Its Newton systems reduce to

    H Δx = ρ,  H = Mᵀ Θ_m M + B,  B = Pᵀ Θ_p P + W_c⁻²  (Θ = diag(z/s) on the linear rows),

where B is block diagonal ((r+1)² per block: the pattern rows of a block touch it alone) and
only the m margin rows couple the blocks. H is solved by conjugate gradients preconditioned
with the Woodbury form B⁻¹ − B⁻¹Mᵀ S⁻¹ M B⁻¹, S = Θ_m⁻¹ + M B⁻¹ Mᵀ (one m × m Cholesky
factor and K dense (r+1)² blocks per iteration, all BLAS), which alone loses accuracy near the
optimum, where B is far smaller than Mᵀ Θ_m M in some directions.

It solves to 10⁻⁸ (Clarabel, the reference, to 10⁻¹⁰) and detects no infeasibility: the
search uses it for its rounds and confirms with Clarabel (:func:`benign.convex.margin_kkt`).
"""

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dsyrk as syrk
from scipy.linalg.lapack import dpotrf as potrf
from scipy.linalg.lapack import dtrtri as trtri

TOL = 1e-8  # relative gap, and primal and dual residuals scaled by √m and √K
ACCEPT = 1e4  # where accuracy runs out first, the best iterate within ACCEPT·TOL is kept
MAX_ITER = 100
STEP = 0.99  # fraction of the step to the cone's boundary
BATCHED_N = 40  # blocks of at most this size are factored by numpy's batched routines
CG_TOL, CG_MAX = 1e-13, 50  # the conjugate gradients on H: relative residual, iterations


@dataclass(frozen=True)
class BlockSolution:
    """``status`` "optimal" (to TOL, or within ACCEPT·TOL where accuracy ran out) or "failed";
    the blocks' (t_k, u_k) as x (K, r+1), the margin multipliers λ (m,), the pattern
    multipliers ν (K, m) and the iterations to it."""

    status: str
    x: np.ndarray
    lam: np.ndarray
    nu: np.ndarray
    iterations: int


def _det(v: np.ndarray) -> np.ndarray:
    """v_0² − ‖v_1‖² per row: positive inside the second-order cone."""
    return v[:, 0] ** 2 - (v[:, 1:] ** 2).sum(1)


def _jordan(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u ∘ v = (uᵀv, u_0 v_1 + v_0 u_1) per row."""
    return np.c_[(u * v).sum(1), u[:, :1] * v[:, 1:] + v[:, :1] * u[:, 1:]]


def _jordan_div(lam: np.ndarray, d: np.ndarray) -> np.ndarray:
    """x with λ ∘ x = d per row: x_0 = (λ_0 d_0 − λ_1ᵀd_1)/det λ, x_1 = (d_1 − x_0 λ_1)/λ_0."""
    x0 = (lam[:, 0] * d[:, 0] - (lam[:, 1:] * d[:, 1:]).sum(1)) / _det(lam)
    return np.c_[x0, (d[:, 1:] - x0[:, None] * lam[:, 1:]) / lam[:, :1]]


def _cone_step(x: np.ndarray, dx: np.ndarray) -> float:
    """The largest α with x + α dx in every second-order cone (rows): the first positive root
    of det(x + α dx) = 0, or of its first coordinate."""
    a, c = _det(dx), _det(x)
    b = 2 * (x[:, 0] * dx[:, 0] - (x[:, 1:] * dx[:, 1:]).sum(1))
    disc = b * b - 4 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        q = -0.5 * (b + np.copysign(np.sqrt(np.maximum(disc, 0.0)), b))
        roots = np.stack([q / a, c / q], 1)
    roots = np.where((roots > 0) & np.isfinite(roots), roots, np.inf).min(1)
    never = ((a >= 0) & (dx[:, 0] > 0)) | ((disc < 0) & (a >= 0))
    first = np.where(dx[:, 0] < 0, -x[:, 0] / np.where(dx[:, 0] < 0, dx[:, 0], -1.0), np.inf)
    return float(np.minimum(np.where(never, np.inf, roots), first).min(initial=np.inf))


def _orthant_step(x: np.ndarray, dx: np.ndarray) -> float:
    """The largest α with x + α dx ≥ 0."""
    neg = dx < 0
    return float((-x[neg] / dx[neg]).min()) if neg.any() else math.inf


class _Scaling:
    """Nesterov–Todd scaling at (s, z): W z = W⁻ᵀ s = λ. On the linear rows W = diag √(s/z);
    on a cone W = η (2 v vᵀ − J), J = diag(1, −I), the square root of η² (2 w̄ w̄ᵀ − J), which
    maps z to s (w̄ = (s̄ + J z̄)/(2γ), s̄ = s/√det s, z̄ = z/√det z, γ² = (1 + s̄ᵀz̄)/2,
    v = (w̄ + e)/√(2(w̄_0 + 1)), η = (det s / det z)^¼)."""

    def __init__(self, s_lin: list[np.ndarray], z_lin: list[np.ndarray], sc, zc):
        self.d = [np.sqrt(s / z) for s, z in zip(s_lin, z_lin, strict=True)]
        self.lam = [np.sqrt(s * z) for s, z in zip(s_lin, z_lin, strict=True)]
        aa, bb = np.sqrt(_det(sc)), np.sqrt(_det(zc))
        self.eta = np.sqrt(aa / bb)
        sb, zb = sc / aa[:, None], zc / bb[:, None]
        gamma = np.sqrt((1 + (sb * zb).sum(1)) / 2)
        wbar = (sb + zb * _j(zb.shape[1])) / (2 * gamma[:, None])
        v = wbar.copy()
        v[:, 0] += 1
        self.v = v / np.sqrt(2 * (wbar[:, :1] + 1))
        self.lam_c = self.cone(zc)

    def cone(self, u: np.ndarray, inverse: bool = False) -> np.ndarray:
        """W u, or W⁻¹ u = (1/η)(2 Jv vᵀJ − J) u, per cone."""
        v = self.v * _j(self.v.shape[1]) if inverse else self.v
        out = 2 * (v * u).sum(1)[:, None] * v - u * _j(u.shape[1])
        return out / self.eta[:, None] if inverse else out * self.eta[:, None]

    def cone_inv2(self) -> np.ndarray:
        """W⁻² per cone, (K, n, n): with q = Jv (so Jq = v) and W⁻¹ = (2qqᵀ − J)/η,
        W⁻² = (4(qᵀq) qqᵀ − 2qvᵀ − 2vqᵀ + I)/η²."""
        v = self.v
        q = v * _j(v.shape[1])
        out = 4 * (q * q).sum(1)[:, None, None] * q[:, :, None] * q[:, None, :]
        qv = q[:, :, None] * v[:, None, :]
        out -= 2 * (qv + np.swapaxes(qv, 1, 2))
        out += np.eye(v.shape[1])[None]
        return out / (self.eta**2)[:, None, None]


def _j(n: int) -> np.ndarray:
    """The diagonal of J = diag(1, −1, …, −1)."""
    j = -np.ones(n)
    j[0] = 1.0
    return j


def solve_blocks(
    a: np.ndarray, y: np.ndarray, patterns: np.ndarray, signs: np.ndarray
) -> BlockSolution:
    """The program of the module docstring over blocks (D_k, σ_k); see :class:`BlockSolution`.
    Non-finite values on the way (an infeasible pool) end it as "failed"."""
    with np.errstate(all="ignore"):
        return _solve_blocks(a, y, patterns, signs)


def _solve_blocks(
    a: np.ndarray, y: np.ndarray, patterns: np.ndarray, signs: np.ndarray
) -> BlockSolution:
    n_blk, m = patterns.shape
    n = a.shape[1] + 1
    yd = y[None, :] * patterns * np.asarray(signs, dtype=float)[:, None]  # (K, m)
    pm = 2 * patterns.astype(float) - 1

    def g(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        au = x[:, 1:] @ a.T
        return -(yd * au).sum(0), -pm * au, -x

    def gt(zm: np.ndarray, zp: np.ndarray, zc: np.ndarray) -> np.ndarray:
        out = -zc.copy()
        out[:, 1:] -= (yd * zm + pm * zp) @ a
        return out

    def m_mul(x: np.ndarray) -> np.ndarray:
        return (yd * (x[:, 1:] @ a.T)).sum(0)

    def mt_mul(w: np.ndarray) -> np.ndarray:
        out = np.zeros((n_blk, n))
        out[:, 1:] = (yd * w) @ a
        return out

    def factor(th_m: np.ndarray, th_p: np.ndarray, w2: np.ndarray):
        """A solver of H Δx = ρ (module docstring) for the scaling's Θ_m, Θ_p and W_c⁻²."""
        if n <= BATCHED_N:  # numpy's batched routines: a loop over small blocks costs more
            blocks = w2.copy()
            blocks[:, 1:, 1:] += (a.T[None] * th_p[:, None, :]) @ a
            reg = 1e-14 * np.abs(np.diagonal(blocks, axis1=1, axis2=2)).max(1)
            blocks += reg[:, None, None] * np.eye(n)[None]
            linv = np.linalg.inv(np.linalg.cholesky(blocks))  # B_k = L_k L_kᵀ
            b_inv = np.swapaxes(linv, 1, 2) @ linv
            f = linv[:, :, 1:] @ (a.T[None] * yd[:, None, :])
        else:  # 2-D LAPACK and BLAS per block: batched matmul runs at half their speed
            b_inv, f = np.empty((n_blk, n, n)), np.zeros((n_blk, n, m))
            for k in range(n_blk):
                blk = w2[k].copy()  # B_k = U_kᵀU_k: LAPACK reads the upper triangle only
                blk[1:, 1:] += syrk(1.0, a * np.sqrt(th_p[k])[:, None], trans=1)
                blk[np.diag_indices(n)] += 1e-14 * np.abs(np.diagonal(blk)).max()
                chol, info = potrf(blk, lower=0)
                uinv, info2 = trtri(chol, lower=0) if info == 0 else (chol, 1)
                if info2:
                    raise np.linalg.LinAlgError("a block is not positive definite")
                b_inv[k] = uinv @ uinv.T
                on = np.nonzero(yd[k])[0]  # the margin rows of the block
                f[k][:, on] = uinv[1:].T @ (a[on].T * yd[k, on])
        schur = syrk(1.0, f.reshape(n_blk * n, m), trans=1)  # the upper triangle of fᵀf
        schur[np.diag_indices(m)] += 1 / th_m
        s_fac = scipy.linalg.cho_factor(schur, lower=False, overwrite_a=True)

        def h_mul(x: np.ndarray) -> np.ndarray:
            out = mt_mul(th_m * m_mul(x))
            out[:, 1:] += (th_p * (x[:, 1:] @ a.T)) @ a
            return out + (w2 @ x[:, :, None])[:, :, 0]

        def woodbury(rho: np.ndarray) -> np.ndarray:
            x = (b_inv @ rho[:, :, None])[:, :, 0]
            corr = mt_mul(scipy.linalg.cho_solve(s_fac, m_mul(x)))
            return x - (b_inv @ corr[:, :, None])[:, :, 0]

        def solve(rho: np.ndarray) -> np.ndarray:
            x = woodbury(rho)
            res = rho - h_mul(x)
            z = woodbury(res)
            p, rz, bound = z, (res * z).sum(), CG_TOL * np.linalg.norm(rho)
            for _ in range(CG_MAX):
                if not np.linalg.norm(res) > bound:
                    break
                hp = h_mul(p)
                alpha = rz / (p * hp).sum()
                x, res = x + alpha * p, res - alpha * hp
                z = woodbury(res)
                rz, rz_old = (res * z).sum(), rz
                p = z + (rz / rz_old) * p
            return x

        return solve

    c = np.zeros((n_blk, n))
    c[:, 0] = 1.0
    h_m = -np.ones(m)
    e = np.zeros((n_blk, n))
    e[:, 0] = 1.0

    def newton(sc: _Scaling, solve, th, bx, bz):
        """(Δx, Δz) of Gᵀ Δz = bx, G Δx − WᵀW Δz = bz: Δz = Θ (G Δx − bz), and H Δx = bx + Gᵀ Θ bz;
        one step of refinement on the full system."""

        def reduced(bx, bz):
            tz = [th[0] * bz[0], th[1] * bz[1], sc.cone(sc.cone(bz[2], True), True)]
            dx = solve(bx + gt(*tz))
            gx = g(dx)
            dz = [th[0] * (gx[0] - bz[0]), th[1] * (gx[1] - bz[1])]
            return dx, [*dz, sc.cone(sc.cone(gx[2] - bz[2], True), True)]

        dx, dz = reduced(bx, bz)
        gx = g(dx)
        ex = bx - gt(*dz)
        ez = [bz[0] - (gx[0] - dz[0] / th[0]), bz[1] - (gx[1] - dz[1] / th[1])]
        ez.append(bz[2] - (gx[2] - sc.cone(sc.cone(dz[2]))))
        ddx, ddz = reduced(ex, ez)
        return dx + ddx, [u + v for u, v in zip(dz, ddz, strict=True)]

    def direction(sc: _Scaling, solve, th, rx, rz, s, z, q: list[np.ndarray]) -> tuple:
        """(Δx, Δz, Δs, the step to the cones' boundary) of the Newton system at the scaling
        ``sc`` with residuals (rx, rz) for λ ⧄ d_s = q."""
        wq = [sc.d[0] * q[0], sc.d[1] * q[1], sc.cone(q[2])]
        dx, dz = newton(sc, solve, th, -rx, [-r - w for r, w in zip(rz, wq, strict=True)])
        ds = [sc.d[0] * (q[0] - sc.d[0] * dz[0]), sc.d[1] * (q[1] - sc.d[1] * dz[1])]
        ds.append(sc.cone(q[2] - sc.cone(dz[2])))
        step = min(
            *(_orthant_step(u, du) for u, du in zip(s[:2] + z[:2], ds[:2] + dz[:2], strict=True)),
            _cone_step(s[2], ds[2]),
            _cone_step(z[2], dz[2]),
        )
        return dx, dz, ds, step

    def mehrotra(s, z, rx, rz, mu: float) -> tuple:
        """Mehrotra's predictor–corrector step at (s, z) with residuals (rx, rz) and
        μ = sᵀz / degree: the directions (Δx, Δs, Δz) and the step length."""
        sc = _Scaling(s[:2], z[:2], s[2], z[2])
        th = [1 / d**2 for d in sc.d]
        solve = factor(th[0], th[1], sc.cone_inv2())
        lam = [*sc.lam, sc.lam_c]
        # predictor: d_s = −λ∘λ, so λ ⧄ d_s = −λ
        _, dz, ds, step = direction(sc, solve, th, rx, rz, s, z, [-u for u in lam])
        # corrector: d_s = −λ∘λ − (W⁻ᵀΔs)∘(WΔz) + σμe with the predictor's directions
        ds_a = [ds[0] / sc.d[0], ds[1] / sc.d[1], sc.cone(ds[2], True)]
        dz_a = [sc.d[0] * dz[0], sc.d[1] * dz[1], sc.cone(dz[2])]
        sigma = (1 - min(1.0, step)) ** 3
        d_lin = [
            -(u**2) - v * w + sigma * mu
            for u, v, w in zip(lam[:2], ds_a[:2], dz_a[:2], strict=True)
        ]
        d_cone = -_jordan(lam[2], lam[2]) - _jordan(ds_a[2], dz_a[2]) + sigma * mu * e
        q = [d_lin[0] / lam[0], d_lin[1] / lam[1], _jordan_div(lam[2], d_cone)]
        dx, dz, ds, step = direction(sc, solve, th, rx, rz, s, z, q)
        return dx, ds, dz, min(1.0, STEP * step)

    failed = BlockSolution("failed", np.zeros((n_blk, n)), np.zeros(m), np.zeros((n_blk, m)), 0)
    # the starting point of conelp: least-norm s and z, shifted into the cones
    ones = [np.ones(m), np.ones((n_blk, m))]
    try:
        start = factor(ones[0], ones[1], np.broadcast_to(np.eye(n), (n_blk, n, n)))
    except (np.linalg.LinAlgError, ValueError):
        return failed
    x = start(gt(h_m, np.zeros((n_blk, m)), np.zeros((n_blk, n))))
    gx = g(x)
    s = [h_m - gx[0], -gx[1], -gx[2]]
    z = list(g(start(-c)))
    for v in (s, z):
        shift = max(
            -v[0].min(), -v[1].min(), (np.linalg.norm(v[2][:, 1:], axis=1) - v[2][:, 0]).max()
        )
        if shift >= 0:
            v[0], v[1], v[2] = v[0] + 1 + shift, v[1] + 1 + shift, v[2] + (1 + shift) * e
    degree = m + n_blk * m + n_blk
    best = (math.inf, x, z, 0)
    for it in range(MAX_ITER):
        gx = g(x)
        rz = [gx[0] + s[0] - h_m, gx[1] + s[1], gx[2] + s[2]]
        rx = gt(*z) + c
        gap = float(sum((u * v).sum() for u, v in zip(s, z, strict=True)))
        pcost, dcost = float(x[:, 0].sum()), float(z[0].sum())
        pres = math.sqrt(sum(float((r * r).sum()) for r in rz)) / math.sqrt(m)
        dres = float(np.linalg.norm(rx)) / math.sqrt(n_blk)
        score = max(pres, dres, gap / max(abs(pcost), abs(dcost), 1e-300)) / TOL
        if not math.isfinite(score):
            break
        if score < best[0]:
            best = (score, x, z, it)
        if score <= 1 or score > 1e3 * best[0]:  # done, or accuracy lost: keep the best
            break
        try:
            dx, ds, dz, alpha = mehrotra(s, z, rx, rz, gap / degree)
        except (np.linalg.LinAlgError, ValueError):
            break
        x = x + alpha * dx
        s = [u + alpha * du for u, du in zip(s, ds, strict=True)]
        z = [u + alpha * du for u, du in zip(z, dz, strict=True)]
    score, x, z, it = best
    if not score <= ACCEPT:
        return failed
    return BlockSolution("optimal", x, np.maximum(z[0], 0.0), np.maximum(z[1], 0.0), it)
