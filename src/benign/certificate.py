"""Normalised margin and the (ε, δ)-KKT certificate of margin maximisation
(docs/science.md, The KKT certificate).

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

Two-layer nets are certified in the row space of X̃ = [X, 1] (X without bias): the gradients
in (w_j, b_j) lie in it, so the part of the weights outside adds a constant to ε² and the rest
is a net with r = rank X̃ ≤ m inputs. Kink columns touch only their own neuron's rows, so a QR
per neuron isolates the rows that carry its slopes; the rest is reduced to one m × m triangle.
The search then works on a problem of size (m + K) whatever d and the width: the slopes per
neuron given λ, λ by NNLS given the slopes, and the cone program on the compressed matrix.
On the line from LINE_FROM points on, :class:`_Line` poses the same problem by prefix sums over
the sorted sample, in O(m + n) memory.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import clarabel
import numpy as np
import scipy.sparse as sp
import torch
from scipy.linalg import solve_triangular
from scipy.optimize import lsq_linear, nnls
from torch import Tensor

from benign.config import Tolerances
from benign.convex import better_patterns, row_space
from benign.lp import dual_bound
from benign.nets import Params, ReLUNet, margins, sq_norm, two_layer_arrays

KINK_TOL = 1e-7  # |w_j·x_i + b_j| ≤ KINK_TOL · ‖(w_j, b_j)‖ · ‖(x_i, 1)‖ counts as a kink
GRAM_COND = 1e4  # the largest cond(L) for which L comes from a Cholesky factorisation
# from this many points on the line, the certificate uses the O(m + n) programs of _Line; the
# fixed-slope residual of a net with kinks is then not measured (NaN): its exact NNLS is O(m³)
# (28 s at m = 3000) and the interior point only bounds it (0.998 for 0.941 at m = 3000)
LINE_FROM = 2000
LINE_TOL = 1e-10  # Clarabel's tolerances for the cone programs on the line (default 1e-8)
GLOBAL_TOL = 1e-3  # optimality "global": ½‖θ̃‖² within this (relative) of its least value
GOOD_ENOUGH = 1e-3  # multipliers with sqrt(ε_rel² + (δ/‖θ̃‖²)²) below this end the search


@dataclass
class Certificate:
    """Per network (arrays of shape (E,)): γ, both residuals, δ and the support.

    ``applies`` is False for nets that are not homogeneous (deep nets with biases, centred
    nets): then only the margins are reported. eps_fixed_rel (relu'(0) = 0 fixed) is NaN for
    nets with kinks on the line from LINE_FROM points on. ε and δ are NaN where the net does not
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

    def certified(self, tol: Tolerances | None = None) -> np.ndarray:
        """Interpolates, ε_rel ≤ tol.eps_rel and δ_rel ≤ tol.delta_rel (NaN compares False;
        default tolerances 0.05)."""
        tol = tol or Tolerances()
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


def _kinked_pairs(
    w: np.ndarray,
    b: np.ndarray | None,
    v: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    tol: float,
    gain: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-layer net: pre-activations z_ij = w_j·x_i + b_j (m, n) and the kinked pairs
    |z_ij| ≤ tol · ‖(w_j, b_j)‖ · ‖(x_i, 1)‖ with v_j ≠ 0, sorted by neuron.

    Returns (z, owner i, neuron j, z_ij > 0, coef): the Clarke column of pair k, which
    s_k ∈ [0, 1] scales, is coef_k · x̃_i in neuron j's (w_j, b_j) coordinates, with
    coef_k = gain · y_i v_j and gain = s_1 s_2 the product of the forward factors."""
    bias = np.zeros(len(v)) if b is None else b
    z = x @ w.T + bias
    scale = np.linalg.norm(np.c_[w, bias], axis=1)[None, :] * np.sqrt(1 + (x**2).sum(1))[:, None]
    kinked = (np.abs(z) <= tol * scale) & (v != 0)[None, :] & (scale > 0)
    neuron, owner = np.nonzero(kinked.T)
    return z, owner, neuron, z[owner, neuron] > 0, gain * y[owner] * v[neuron]


def _nnls(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    return nnls(a, t, maxiter=50 * a.shape[1])[0]


def _box_lstsq(mat: np.ndarray, rhs: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """argmin ‖rhs − mat·x‖ over 0 ≤ x ≤ ub (ub > 0): the unconstrained solution if feasible,
    else one active-set step from its clipped value (bounds kept where clipped, the rest
    re-solved), accepted if feasible with the gradient g = matᵀ(mat·x − rhs) pointing out of
    the box on the bounds held (g ≥ 0 at 0, g ≤ 0 at ub); else bounded-variable least squares."""
    sol = np.linalg.lstsq(mat, rhs, rcond=None)[0]
    if np.all(sol >= 0) and np.all(sol <= ub):
        return sol
    x = np.clip(sol, 0.0, ub)
    lo, hi = x <= 0, x >= ub
    inner = ~(lo | hi)
    if inner.any():
        x[inner] = np.linalg.lstsq(mat[:, inner], rhs - mat[:, ~inner] @ x[~inner], rcond=None)[0]
    g = mat.T @ (mat @ x - rhs)
    tol = 1e-12 * (np.abs(mat).max() * np.abs(rhs).max() + np.finfo(float).tiny)
    if (
        np.all(x[inner] >= 0)
        and np.all(x[inner] <= ub[inner])
        and np.all(g[lo] >= -tol)
        and np.all(g[hi] <= tol)
    ):
        return x
    return lsq_linear(mat, rhs, bounds=(0.0, ub), method="bvls").x


def _box_slopes(mat: np.ndarray, rhs: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One neuron's slopes argmin ‖rhs − mat·μ‖ over 0 ≤ μ ≤ hi (μ = 0 where hi = 0)."""
    mu = np.zeros(len(hi))
    free = hi > 0
    if free.any():
        mu[free] = np.clip(_box_lstsq(mat[:, free], rhs, hi[free]), 0.0, hi[free])
    return mu


class _RowQR:
    """R of a tall matrix given by row blocks, folded as R ← qr([R; blocks]) every ``chunk``
    rows, so that memory stays O((chunk + ncols) · ncols)."""

    def __init__(self, ncols: int, chunk: int) -> None:
        self.r = np.zeros((0, ncols))
        self.chunk = chunk
        self.pending: list[np.ndarray] = []
        self.rows = 0

    def add(self, rows: np.ndarray) -> None:
        self.pending.append(rows)
        self.rows += len(rows)
        if self.rows >= self.chunk:
            self._fold()

    def _fold(self) -> None:
        if self.pending:
            self.r = cast(np.ndarray, np.linalg.qr(np.vstack([self.r, *self.pending]), mode="r"))
            self.pending, self.rows = [], 0

    def result(self) -> np.ndarray:
        self._fold()
        return self.r


class _RowGram(_RowQR):
    """MᵀM of a tall matrix given by row blocks, accumulated every ``chunk`` rows."""

    def __init__(self, ncols: int, chunk: int) -> None:
        super().__init__(ncols, chunk)
        self.r = np.zeros((ncols, ncols))

    def _fold(self) -> None:
        if self.pending:
            rows = np.vstack(self.pending)
            self.r += rows.T @ rows
            self.pending, self.rows = [], 0


@dataclass
class _Compressed:
    """The Clarke problem min ‖t − Aλ − Bμ‖ (λ ≥ 0, 0 ≤ μ_k ≤ λ_owner(k)) after an orthogonal
    transformation of its rows:

        ‖t − Aλ − Bμ‖² = ‖t_p − Fλ − Tμ‖² + ‖t_l − Lλ‖² + rest,

    with T block-diagonal by neuron (``blocks``: private rows and kink indices of each neuron
    with kinks; T_j upper triangular), L upper triangular with m columns, and rest ≥ 0 the part
    of t outside the range of [A, B]."""

    f: np.ndarray
    t_blocks: list[np.ndarray]
    blocks: list[tuple[slice, slice]]
    t_p: np.ndarray
    tri: np.ndarray
    t_l: np.ndarray
    rest: float
    owner: np.ndarray

    def __post_init__(self) -> None:
        m, k = self.f.shape[1], len(self.owner)
        self.t = (
            sp.block_diag(self.t_blocks, format="csr")
            if self.t_blocks
            else sp.csr_matrix((len(self.t_p), k))
        )
        self.onehot = sp.csr_matrix((np.ones(k), (np.arange(k), self.owner)), shape=(k, m))
        one = [(j, b) for j, b in enumerate(self.blocks) if self.t_blocks[j].shape == (1, 1)]
        self.single = (
            np.array([b[0].start for _, b in one], dtype=np.int64),
            np.array([b[1].start for _, b in one], dtype=np.int64),
            np.array([self.t_blocks[j][0, 0] for j, _ in one]),
        )
        self.multi = [j for j, blk in enumerate(self.t_blocks) if blk.shape != (1, 1)]

    def objective(self, lam: np.ndarray, mu: np.ndarray) -> float:
        """‖t − Aλ − Bμ‖."""
        r_p = self.t_p - self.f @ lam - self.t @ mu
        r_l = self.t_l - self.tri @ lam
        return math.sqrt(float(r_p @ r_p + r_l @ r_l) + self.rest)

    def best_slopes(self, lam: np.ndarray) -> np.ndarray:
        """μ = argmin over 0 ≤ μ_k ≤ λ_owner(k) for fixed λ: one box-constrained least-squares
        problem per neuron (closed form μ = clip(r/T, 0, λ_i) for a neuron with one kink)."""
        lam = np.maximum(lam, 0.0)
        ub = lam[self.owner]
        rhs = self.t_p - self.f @ lam
        mu = np.zeros(len(self.owner))
        rows, kinks, tau = self.single
        if len(rows):
            fit = np.divide(rhs[rows], tau, out=np.zeros(len(rows)), where=tau != 0)
            mu[kinks] = np.clip(fit, 0.0, ub[kinks])
        for j in self.multi:
            rs, ks = self.blocks[j]
            mu[ks] = _box_slopes(self.t_blocks[j], rhs[rs], ub[ks])
        return mu

    def fixed_nnls(self, slopes: np.ndarray) -> np.ndarray:
        """λ = argmin_{λ ≥ 0} ‖t − (A + B S E)λ‖ with the slopes s_k = μ_k/λ_owner(k) fixed (E the
        owner one-hot), by NNLS on the R factor of [F + T S E; L]."""
        m = self.f.shape[1]
        top = self.f + (self.t @ sp.diags(slopes) @ self.onehot).toarray()
        mat = np.vstack([np.c_[top, self.t_p], np.c_[self.tri, self.t_l]])
        if len(mat) > m + 1:
            mat = cast(np.ndarray, np.linalg.qr(mat, mode="r"))
        return _nnls(mat[:, :m], mat[:, m])

    def matrix(self) -> tuple[sp.csc_matrix, np.ndarray]:
        """[[F, T], [L, 0]] and (t_p, t_l): the square problem in (λ, μ)."""
        k = len(self.owner)
        mat = sp.vstack(
            [
                sp.hstack([sp.csr_matrix(self.f), self.t]),
                sp.hstack([sp.csr_matrix(self.tri), sp.csr_matrix((len(self.t_l), k))]),
            ],
            format="csc",
        )
        return mat, np.r_[self.t_p, self.t_l]


@dataclass
class _TwoLayer:
    """The certificate problem of one two-layer net in the row space of its inputs.

    With X̃ = [X, 1] (X without bias), V an orthonormal basis of its row space and
    (w_j, b_j) = V a_j + perp_j: ∂N(x_i)/∂(w_j, b_j) = g v_j σ'_ij x̃_i lies in span V, so at unit
    scale (t = θ/‖θ‖, columns h · y_i ∂N(x_i), h = scale of ``certify``)

        ε² = Σ_j ‖perp_j‖²/‖θ‖² + Σ_j ‖a_j/‖θ‖ − h g v_j Σ_i λ_i y_i σ'_ij Ã_i‖²
             + Σ_j (v_j/‖θ‖ − h g Σ_i λ_i y_i relu(z_ij))²,      Ã = X̃V ∈ R^{m×r},

    with σ'_ij = 1[z_ij > 0] off the kinks and μ_k/λ_i on kink k = (i, j). Neurons with v_j = 0
    and (w_j, b_j) = 0 are dropped (they contribute nothing)."""

    inputs: np.ndarray  # Ã (m, r)
    a: np.ndarray  # (n', r)
    v: np.ndarray  # (n',)
    y: np.ndarray
    z: np.ndarray  # (m, n')
    owner: np.ndarray
    neuron: np.ndarray  # index into the kept neurons
    active: np.ndarray
    coef: np.ndarray  # h · g · y_i v_j per kink
    hg: float
    norm: float
    drow: np.ndarray  # δ/‖θ̃‖² = drow · λ
    perp2: float  # Σ_j ‖perp_j‖² / ‖θ‖²
    weights: np.ndarray  # 1/‖(w_j, b_j, v_j)‖ per kept neuron

    @classmethod
    def build(
        cls,
        w: np.ndarray,
        b: np.ndarray | None,
        v: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        *,
        tol: float,
        gain: float,
        scale: float,
        norm: float,
        drow: np.ndarray,
    ) -> "_TwoLayer":
        u = w if b is None else np.c_[w, b]
        size = np.sqrt((u**2).sum(1) + v**2)
        keep = size > 0
        u, v, size = u[keep], v[keep], size[keep]
        z, owner, neuron, active, coef = _kinked_pairs(
            w[keep], None if b is None else b[keep], v, x, y, tol, gain
        )
        xt = x if b is None else np.c_[x, np.ones(len(x))]
        basis = row_space(xt)
        a = u @ basis
        perp2 = 0.0 if basis.shape[0] == basis.shape[1] else float(((u - a @ basis.T) ** 2).sum())
        return cls(
            inputs=xt @ basis,
            a=a,
            v=v,
            y=y,
            z=z,
            owner=owner,
            neuron=neuron,
            active=active,
            coef=scale * coef,
            hg=scale * gain,
            norm=norm,
            drow=drow,
            perp2=perp2 / norm**2,
            weights=1.0 / size,
        )

    def residual(self, lam: np.ndarray, mu: np.ndarray) -> float:
        """ε/‖θ̃‖ of (λ, μ) (the stationarity residual alone), from the formula above."""
        coeff = np.where(self.z > 0, (self.y * lam)[:, None], 0.0)
        coeff[self.owner, self.neuron] = self.y[self.owner] * mu
        res_a = self.a / self.norm - self.hg * (coeff.T @ self.inputs) * self.v[:, None]
        res_v = self.v / self.norm - self.hg * ((self.y * lam) @ np.maximum(self.z, 0.0))
        return math.sqrt(self.perp2 + float((res_a**2).sum() + res_v @ res_v))

    def compress(self, weighted: bool) -> _Compressed:
        """The problem as a :class:`_Compressed` (rows weighted per neuron by ``weights`` if
        ``weighted``). Per neuron j, its rows [B_j, A_j, t_j] (r + 1 of them, only the columns
        of its kinks and of the points where z_ij > 0): with B_j = Q_j T_j (QR), the rows
        Q_jᵀ[B_j, A_j, t_j] = [T_j, F_j, t_p,j] carry μ_j and (I − Q_jQ_jᵀ)[A_j, t_j] only λ.
        Those, with the δ row, are reduced to the triangular L: by Cholesky of their Gram matrix
        (accumulated in chunks) where that is well conditioned (cond L ≤ GRAM_COND, so that
        the squared condition number costs at most ~1e-8 relative), else by Householder QR."""
        m = self.inputs.shape[0]
        private: tuple[list, list, list, list] = ([], [], [], [])
        tri = self._reduce(weighted, "gram", private)
        if tri is None:
            private = ([], [], [], [])
            tri = self._reduce(weighted, "qr", private)
        assert tri is not None
        f_rows, t_rows, t_blocks, blocks = private
        return _Compressed(
            f=np.vstack(f_rows) if f_rows else np.zeros((0, m)),
            t_blocks=t_blocks,
            blocks=blocks,
            t_p=np.concatenate(t_rows) if t_rows else np.zeros(0),
            tri=tri[0],
            t_l=tri[1],
            rest=tri[2] + (0.0 if weighted else self.perp2),
            owner=self.owner,
        )

    def _reduce(
        self, weighted: bool, how: str, private: tuple[list, list, list, list]
    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(L, t_l, rest) by ``how`` ("gram" or "qr"), filling ``private`` with (F rows, t_p
        rows, T blocks, blocks); None where the Gram route is ill-conditioned."""
        m, r = self.inputs.shape
        chunk = max(8 * (m + 1), 4096)
        stack = _RowQR(m + 1, chunk) if how == "qr" else _RowGram(m + 1, chunk)
        starts = np.searchsorted(self.neuron, np.arange(len(self.v) + 1))
        f_rows, t_rows, t_blocks, blocks = private
        n_priv = 0
        for j in range(len(self.v)):
            ks = slice(starts[j], starts[j + 1])
            n_k = ks.stop - ks.start
            cols = np.nonzero(self.z[:, j] > 0)[0]
            sig = np.ones(len(cols))
            if n_k:
                sig[np.isin(cols, self.owner[ks][self.active[ks]])] = 0.0
            yc = self.y[cols]
            block = np.empty((r + 1, len(cols) + 1))  # [A_j, t_j]
            block[:r, :-1] = (self.inputs[cols] * (self.hg * self.v[j] * yc * sig)[:, None]).T
            block[r, :-1] = self.hg * yc * self.z[cols, j]
            block[:r, -1] = self.a[j] / self.norm
            block[r, -1] = self.v[j] / self.norm
            wj = self.weights[j] if weighted else 1.0
            if wj != 1.0:
                block *= wj
            if n_k:
                kink = np.zeros((r + 1, n_k))
                kink[:r] = (self.inputs[self.owner[ks]] * (wj * self.coef[ks])[:, None]).T
                qj, tj = np.linalg.qr(kink)
                fj = qj.T @ block
                block -= qj @ fj
                p = len(tj)
                frow = np.zeros((p, m))
                frow[:, cols] = fj[:, :-1]
                f_rows.append(frow)
                t_rows.append(fj[:, -1])
                t_blocks.append(tj)
                blocks.append((slice(n_priv, n_priv + p), ks))
                n_priv += p
            rows = np.zeros((r + 1, m + 1))
            rows[:, cols] = block[:, :-1]
            rows[:, m] = block[:, -1]
            stack.add(rows)
        stack.add(np.r_[self.drow, 0.0][None, :])
        if how == "qr":
            rl = stack.result()
            top = min(len(rl), m)
            return rl[:top, :m], rl[:top, m], float(rl[m, m] ** 2) if len(rl) > m else 0.0
        gram = stack.result()
        try:
            tri = np.linalg.cholesky(gram[:m, :m]).T
        except np.linalg.LinAlgError:
            return None
        if not np.linalg.cond(tri) <= GRAM_COND:
            return None
        t_l = solve_triangular(tri, gram[:m, m], trans="T")
        return tri, t_l, max(float(gram[m, m] - t_l @ t_l), 0.0)


def _coo(entries: list[tuple], shape: tuple[int, int]) -> sp.csr_matrix:
    """The sparse matrix with the (rows, cols, values) triples ``entries`` (summed)."""
    rows, cols, vals = zip(*[np.broadcast_arrays(*e) for e in entries], strict=True)
    return sp.csr_matrix(
        (
            np.concatenate([v.ravel() for v in vals]).astype(float),
            (np.concatenate([r.ravel() for r in rows]), np.concatenate([c.ravel() for c in cols])),
        ),
        shape=shape,
    )


@dataclass
class _Line:
    """The certificate problem of one two-layer net on the line (d = 1), in O(m + n) memory.

    z_ij = w_j x_i + b_j is monotone in x_i, so the points where neuron j is active,
    F_j = {i : z_ij > 0}, are a run [lo_j, hi_j) of the sorted sample, and every sum over F_j
    is a difference of prefix sums P_c(l) = Σ_{l' < l} λ y x̃_c over the sorted points
    (x̃ = (x, 1) with bias, x without). At unit scale (h g = ``hg``), neuron j's residual is

        (w_j, b_j)/‖θ‖ − h g v_j (S_j + Σ_{k ∈ K_j} (c_k λ_i(k) + μ_k) y_i(k) x̃_i(k)),
        v_j/‖θ‖ − h g (w_j, b_j)·S_j,        S_j = P(hi_j) − P(lo_j),

    with K_j its kinked pairs (|z_ij| ≤ tol · ‖(w_j, b_j)‖ · ‖(x_i, 1)‖, v_j ≠ 0) and
    c_k = −1[z_k > 0]: the pair leaves the sum and enters with its slope μ_k ∈ [0, λ_i]. The
    same problem as :class:`_TwoLayer` (up to rounding): the residual, objective and best slopes
    are exact; the cone programs are sparse but their interior point is less accurate than the
    dense route on steep nets (an upper bound: 0.998 for the optimum 0.941 once at m = 3000),
    so the search relies on a hint where there is one (the LP's dual)."""

    order: np.ndarray  # the sorted positions' sample indices
    xt: np.ndarray  # x̃ (m, r), r = 2 with bias, 1 without
    y: np.ndarray
    u: np.ndarray  # (n', r): (w_j, b_j) of the kept neurons
    v: np.ndarray  # (n',)
    lo: np.ndarray
    hi: np.ndarray
    owner: np.ndarray
    neuron: np.ndarray
    active: np.ndarray
    hg: float
    norm: float
    drow: np.ndarray

    @classmethod
    def build(
        cls,
        w: np.ndarray,
        b: np.ndarray | None,
        v: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        *,
        tol: float,
        gain: float,
        scale: float,
        norm: float,
        drow: np.ndarray,
    ) -> "_Line | None":
        """The problem, or None where the sample is not on a line (d ≠ 1), has fewer than
        LINE_FROM points, x̃ has rank < r, or (in floating point) some F_j is not a run of the
        sorted sample."""
        if x.shape[1] != 1 or len(x) < LINE_FROM or not np.any(v):
            return None
        xt = x if b is None else np.c_[x, np.ones(len(x))]
        if np.linalg.matrix_rank(xt) < xt.shape[1]:
            return None
        keep = ((w**2).sum(1) + (0 if b is None else b**2) + v**2) > 0
        w, b, v = w[keep], None if b is None else b[keep], v[keep]
        order = np.argsort(x[:, 0], kind="stable")
        xs, ys = x[order], y[order]
        runs, pairs = [], []
        for start in range(0, len(v), 512):  # z in chunks of neurons: memory O(512 · m)
            part = slice(start, start + 512)
            z, at, neuron, active, _ = _kinked_pairs(
                w[part], None if b is None else b[part], v[part], xs, ys, tol, gain
            )
            pos = z > 0
            count = pos.sum(0)
            first = np.where(count > 0, pos.argmax(0), 0)
            ends = np.r_[np.zeros((1, pos.shape[1]), dtype=np.int64), np.cumsum(pos, 0)]
            inside = np.take_along_axis(ends, np.vstack([first, first + count]), 0)
            if np.any(inside[1] - inside[0] != count):
                return None
            runs.append((first, first + count))
            pairs.append((order[at], start + neuron, active))
        return cls(
            order=order,
            xt=xt,
            y=y,
            u=w if b is None else np.c_[w, b],
            v=v,
            lo=np.concatenate([r[0] for r in runs]),
            hi=np.concatenate([r[1] for r in runs]),
            owner=np.concatenate([p[0] for p in pairs]),
            neuron=np.concatenate([p[1] for p in pairs]),
            active=np.concatenate([p[2] for p in pairs]),
            hg=scale * gain,
            norm=norm,
            drow=drow,
        )

    def _rows(self, lam: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The residual's (w, b) rows (n', r) and v rows (n',) at (λ, μ)."""
        o = self.order
        prefix = np.vstack(
            [np.zeros(self.xt.shape[1]), np.cumsum((lam * self.y)[o, None] * self.xt[o], 0)]
        )
        s = prefix[self.hi] - prefix[self.lo]
        kink = np.zeros_like(s)
        coef = (mu - self.active * lam[self.owner]) * self.y[self.owner]
        np.add.at(kink, self.neuron, coef[:, None] * self.xt[self.owner])
        res_u = self.u / self.norm - self.hg * self.v[:, None] * (s + kink)
        res_v = self.v / self.norm - self.hg * (self.u * s).sum(1)
        return res_u, res_v

    def residual(self, lam: np.ndarray, mu: np.ndarray) -> float:
        """ε/‖θ̃‖ at (λ, μ)."""
        res_u, res_v = self._rows(lam, mu)
        return math.sqrt(float((res_u**2).sum() + res_v @ res_v))

    def objective(self, lam: np.ndarray, mu: np.ndarray) -> float:
        """‖t − Aλ − Bμ‖: the residual with the δ row."""
        return math.hypot(self.residual(lam, mu), float(self.drow @ lam))

    def best_slopes(self, lam: np.ndarray) -> np.ndarray:
        """μ = argmin over 0 ≤ μ_k ≤ λ_owner(k) for fixed λ, per neuron (only its (w, b) rows
        hold its slopes)."""
        lam = np.maximum(lam, 0.0)
        ub = lam[self.owner]
        res_u, _ = self._rows(lam, self.active * ub)
        mu = np.zeros(len(self.owner))
        starts = np.searchsorted(self.neuron, np.arange(len(self.v) + 1))
        for j in np.unique(self.neuron):
            ks = slice(starts[j], starts[j + 1])
            cols = (self.hg * self.v[j] * self.y[self.owner[ks]])[:, None] * self.xt[self.owner[ks]]
            # μ = 0 is the residual with the active kinks' slopes removed
            rhs = res_u[j] + cols.T @ (self.active[ks] * ub[ks])
            mu[ks] = _box_slopes(cols.T, rhs, ub[ks])
        return mu

    def _pieces(self, slopes: np.ndarray | None) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        """The problem in x = (λ, μ, P) (no μ where ``slopes`` s fix μ = s λ_owner): the prefix
        sums' recurrences E x = 0 (P_c(0) = 0, P_c(l + 1) − P_c(l) − λ y x̃_c at sorted
        position l) and the residual t − M x (the neurons' rows, then the δ row)."""
        m, r = self.xt.shape
        n, k = len(self.v), len(self.owner)
        n_mu = 0 if slopes is not None else k
        c_p = m + n_mu
        n_x = c_p + r * (m + 1)
        o, ls, j = self.order, np.arange(m), np.arange(n)
        hgv = self.hg * self.v
        coef = -self.active.astype(float) if slopes is None else slopes - self.active
        kink_rows = self.neuron * (r + 1)
        eq: list[tuple] = []
        res: list[tuple] = []
        for c in range(r):
            base, col = c * (m + 1), c_p + c * (m + 1)
            eq += [(base, col, 1.0), (base + 1 + ls, col + 1 + ls, 1.0)]
            eq += [
                (base + 1 + ls, col + ls, -1.0),
                (base + 1 + ls, o, -(self.y * self.xt[:, c])[o]),
            ]
            rows = j * (r + 1) + c  # (w, b) rows: hg v_j (P_c(hi) − P_c(lo) + kinks)
            res += [(rows, col + self.hi, hgv), (rows, col + self.lo, -hgv)]
            kc = hgv[self.neuron] * self.y[self.owner] * self.xt[self.owner, c]
            res.append((kink_rows + c, self.owner, coef * kc))
            if n_mu:
                res.append((kink_rows + c, m + np.arange(k), kc))
            rows = j * (r + 1) + r  # v rows: hg (w_j, b_j)·(P(hi) − P(lo))
            res += [(rows, col + self.hi, self.hg * self.u[:, c])]
            res += [(rows, col + self.lo, -self.hg * self.u[:, c])]
        res.append((np.full(m, n * (r + 1)), ls, self.drow))
        t = np.r_[np.c_[self.u, self.v].ravel() / self.norm, 0.0]
        return _coo(eq, (r * (m + 1), n_x)), _coo(res, (len(t), n_x)), t

    def _program(self, slopes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """argmin ‖t − Aλ − Bμ‖ over λ ≥ 0 and 0 ≤ μ_k ≤ λ_owner(k), or with μ = s λ_owner fixed
        (``slopes`` s), as a sparse cone program in (λ, μ, P, ρ): min ρ s.t. the prefix sums'
        recurrences and (ρ, t − M x) ∈ SOC."""
        m, k = len(self.y), len(self.owner)
        eq, res, t = self._pieces(slopes)
        n_x = eq.shape[1]
        n_mu = 0 if slopes is not None else k
        lam_mu = sp.eye(m + n_mu, n_x + 1, format="csr")
        bounds = [-lam_mu]
        if n_mu:
            upper = sp.csr_matrix(
                (
                    np.r_[np.ones(k), -np.ones(k)],
                    (np.r_[np.arange(k), np.arange(k)], np.r_[m + np.arange(k), self.owner]),
                ),
                shape=(k, n_x + 1),
            )
            bounds.append(upper)
        rho = sp.csr_matrix(([-1.0], ([0], [n_x])), shape=(1, n_x + 1))
        mat = sp.vstack(
            [
                sp.hstack([eq, sp.csr_matrix((eq.shape[0], 1))]),
                *bounds,
                rho,
                sp.hstack([res, sp.csr_matrix((len(t), 1))]),
            ],
            format="csc",
        )
        n_nonneg = m + 2 * n_mu
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = LINE_TOL
        solver = clarabel.DefaultSolver(
            sp.csc_matrix((n_x + 1, n_x + 1)),
            np.r_[np.zeros(n_x), 1.0],
            mat,
            np.r_[np.zeros(eq.shape[0] + n_nonneg + 1), t],
            [
                clarabel.ZeroConeT(eq.shape[0]),
                clarabel.NonnegativeConeT(n_nonneg),
                clarabel.SecondOrderConeT(len(t) + 1),
            ],
            settings,
        )
        sol = np.asarray(solver.solve().x)
        lam = np.maximum(sol[:m], 0.0)
        if slopes is None:
            return lam, np.clip(sol[m : m + k], 0.0, lam[self.owner])
        return lam, slopes * lam[self.owner]

    def fixed_nnls(self, slopes: np.ndarray) -> np.ndarray:
        """λ ≈ argmin_{λ ≥ 0} ‖t − (A + B S E)λ‖ with the slopes fixed (the interior point's)."""
        return self._program(slopes)[0]

    def clarke(self) -> tuple[np.ndarray, np.ndarray]:
        """(λ, μ) of the Clarke problem."""
        return self._program(None)


def _clarke_qp(problem: _TwoLayer) -> tuple[np.ndarray, np.ndarray]:
    """argmin ‖t − M z‖ over z = (λ, μ), λ ≥ 0, 0 ≤ μ_k ≤ λ_owner(k), with M = [[F, T], [L, 0]]
    the compressed (square) problem of ``problem``; returns (λ, μ).

    Solved by Clarabel as the second-order cone program min r s.t. ‖t − M z‖ ≤ r, which keeps
    M itself (a Gram matrix MᵀM would square its condition number, large when the net's slopes
    span orders of magnitude). For conditioning, rows are weighted per neuron (the solve
    then targets relative per-neuron residuals; the unweighted residual of the multipliers found
    is what is reported) and columns are scaled to unit norm here (z = D z', so μ_k ≤ λ_i
    becomes D_k z'_k ≤ D_i z'_i); the orthogonal compression leaves column norms unchanged."""
    prob = problem.compress(weighted=True)
    mat, t = prob.matrix()
    owner = prob.owner
    m, k = prob.f.shape[1], len(owner)
    norms = np.sqrt(np.asarray(mat.multiply(mat).sum(0)).ravel())
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
    cone_res = sp.hstack([mat @ sp.diags(dscale), sp.csc_matrix((len(t), 1))])
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
    return lam, np.clip(z[m:], 0.0, lam[owner])


def _polish(
    prob: "_Compressed | _Line", lam: np.ndarray, mu: np.ndarray, rounds: int
) -> tuple[np.ndarray, np.ndarray]:
    """Improve (λ, μ) by alternating exact solves of the same problem: λ by non-negative least
    squares with the slopes s_k = μ_k/λ_i fixed, then μ per neuron by box-constrained least
    squares (0 ≤ μ_k ≤ λ_i) with λ fixed. Each solve is well conditioned where the joint cone
    program may not be."""
    best, best_res = (lam, mu), prob.objective(lam, mu)
    for _ in range(rounds):
        ub = lam[prob.owner]
        s = np.divide(mu, ub, out=np.zeros(len(mu)), where=ub > 0)
        lam = prob.fixed_nnls(s)
        mu = prob.best_slopes(lam)
        res = prob.objective(lam, mu)
        if res < best_res * (1 - 1e-6):
            best, best_res = (lam, mu), res
        else:
            break
    return best


def _search(
    prob: "_Compressed | _Line",
    clarke: Callable[[], tuple[np.ndarray, np.ndarray]],
    hint: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(λ, μ) for the Clarke problem: from the hint if given (slopes fitted per neuron),
    polished unless already good enough; then, unless that is good enough, from the cone
    program ``clarke``, polished; the better of the two."""
    best = None
    if hint is not None:
        lam = np.maximum(np.asarray(hint, dtype=float), 0.0)
        best = (lam, prob.best_slopes(lam))
        if prob.objective(*best) > GOOD_ENOUGH:
            best = _polish(prob, *best, 50)
    if best is None or prob.objective(*best) > GOOD_ENOUGH:
        cand = _polish(prob, *clarke(), 50)
        if best is None or prob.objective(*cand) < prob.objective(*best):
            best = cand
    return best


def certify(
    net: ReLUNet,
    params: Params,
    x: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    kink_tol: float = KINK_TOL,
    multipliers: bool = False,
    hint: list[np.ndarray] | None = None,
    offset: Tensor | None = None,
) -> Certificate:
    """The certificate of every network of the ensemble (see the module docstring), on its
    sample x (E, m, d), y (E, m) ∈ {±1}, or one sample x (m, d), y (m,) for all of them.

    The kink tolerance is at least 64 ulp of the data's dtype. Clarke kinks are handled for
    the two-layer net, whose problem is solved in the row space of its inputs (memory
    independent of d); for bias-free deep nets relu'(0) = 0 is used on the full Jacobian
    (eps_rel = eps_fixed_rel there). ``hint`` may give candidate multipliers per network
    (e.g. the dual of the margin LP); the better of the solver's and the hint's is kept, so a
    hint can only lower the reported residual, and the residual is always recomputed here.
    A centred net (``offset`` = f_θ₀(x) given and nonzero) is not homogeneous: not certified.
    """
    x, y = (torch.as_tensor(a, dtype=params[0].dtype, device=params[0].device) for a in (x, y))
    if x.dim() == 2:  # one sample for every network
        x, y = x.expand(len(params[0]), *x.shape), y.expand(len(params[0]), *y.shape)
    n_net, m = x.shape[:2]
    kink_tol = max(kink_tol, 64 * torch.finfo(x.dtype).eps)  # float32: ≈ 7.6e-6
    # the certificate is computed in float64 whatever the training dtype
    params, x, y = [p.double() for p in params], x.double(), y.double()
    offset = None if offset is None else offset.double()
    q = margins(net.forward(params, x)[0], y, offset).cpu().numpy()
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
    xs, ys = x.double().cpu().numpy(), y.double().cpu().numpy()
    layers = two_layer_arrays(params) if net.depth == 2 else None
    for e in range(n_net):
        if not q_min[e] > 0:
            lams.append(np.full(m, math.nan))
            continue
        c = q_min[e] ** (-1.0 / k)  # θ̃ = c θ has min_i q̃_i = 1
        q_t = q[e] / q_min[e]
        # solve at unit scale: θ̃/‖θ̃‖ ≈ Σ_i λ_i y_i ∂f_θ̃(x_i)/‖θ̃‖, with ∂f_θ̃ = c^{k-1} ∂f_θ;
        # one more row, δ/‖θ̃‖², makes min ε_rel² + (δ/‖θ̃‖²)² one least-squares problem
        scale = c ** (k - 1) / (c * norm[e])
        drow = (q_t - 1) / (c * norm[e]) ** 2
        if layers is None:
            theta = torch.cat([p[e].reshape(-1) for p in params]).cpu().numpy()
            t = np.append(theta / norm[e], 0.0)
            jac = jacobian(net, [p[e : e + 1] for p in params], x[e : e + 1])[0].cpu().numpy()
            a = np.vstack([scale * (jac * ys[e][:, None]).T, drow])
            lam = _nnls(a, t)
            eps_rel = res["eps_fixed_rel"][e] = float(np.linalg.norm((t - a @ lam)[:-1]))
        else:
            v, w, b = layers[0][e], layers[1][e], None if layers[2] is None else layers[2][e]
            gain = net.scale(1) * net.scale(2)
            args = (w, b, v, xs[e], ys[e])
            kw = dict(tol=kink_tol, gain=gain, scale=scale, norm=norm[e], drow=drow)
            line = _Line.build(*args, **kw)
            problem: _TwoLayer | _Line
            prob: _Compressed | _Line
            clarke: Callable[[], tuple[np.ndarray, np.ndarray]]
            if line is None:
                problem = _TwoLayer.build(*args, **kw)
                prob = problem.compress(weighted=False)
                clarke = partial(_clarke_qp, problem)
            else:
                problem = prob = line
                clarke = line.clarke
            kinks[e] = len(problem.owner)
            fixed = problem.active.astype(float)  # relu'(0) = 0: s = 1[z > 0] on every kink
            if line is None or not kinks[e]:  # on the line with kinks: not measured (LINE_FROM)
                lam = prob.fixed_nnls(fixed)
                eps_rel = problem.residual(lam, fixed * lam[problem.owner])
                res["eps_fixed_rel"][e] = eps_rel
            if kinks[e]:
                lam, mu = _search(prob, clarke, None if hint is None else hint[e])
                eps_rel = problem.residual(lam, mu)
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


def sphere_dual_max(xt: np.ndarray, coef: np.ndarray, block: int = 2**21) -> float:
    """max over unit u ∈ R³ of |h(u)|, h(u) = Σ_i coef_i relu(u·x̃_i), for x̃ (m, 3) (d = 2 with
    biases: x̃ = (x, 1)), exactly: the great circles u·x̃_i = 0 cut the sphere into cells where
    h(u) = u·G (G = Σ over the active i of coef_i x̃_i), so the maximum of ±h lies at a vertex
    (u ∥ x̃_i × x̃_j), inside an arc of circle i at ±(G projected on x̃_i^⊥), or inside a cell
    at ±G/‖G‖; every arc and cell touches a vertex, where its pattern is the vertex's with
    x̃_i, x̃_j each on or off. h is evaluated at all these directions (O(m³) in all); any of
    them is a real direction, so the largest |h| found is the maximum. NaN where three circles
    meet at a vertex (e.g. collinear points in d = 2): their cells are not all enumerated."""
    m = len(xt)
    sizes = np.linalg.norm(xt, axis=1)
    i, j = np.triu_indices(m, 1)
    cross = np.cross(xt[i], xt[j])
    norm = np.linalg.norm(cross, axis=1)
    ok = norm > 1e-12 * sizes[i] * sizes[j]
    i, j, cross = i[ok], j[ok], cross[ok] / norm[ok, None]
    weighted = coef[:, None] * xt  # (m, 3)
    lone = xt / sizes[:, None]  # parallel x̃: no vertices
    best = float(np.abs(np.maximum(np.r_[lone, -lone] @ xt.T, 0.0) @ coef).max(initial=0.0))
    rows = max(1, block // max(m, 1))
    for s in range(0, len(i), rows):
        ii, jj, v = i[s : s + rows], j[s : s + rows], cross[s : s + rows]
        for vertex in (v, -v):
            dots = vertex @ xt.T  # (V, m)
            n = np.arange(len(ii))
            third = np.abs(dots) <= 1e-9 * sizes
            third[n, ii] = third[n, jj] = False
            if third.any():  # three circles through one vertex: its cells are not all seen
                return math.nan
            best = max(best, float(np.abs(np.maximum(dots, 0.0) @ coef).max(initial=0.0)))
            on = dots > 0
            on[n, ii] = on[n, jj] = False
            base = on.astype(float) @ weighted  # (V, 3): the pattern off the two circles
            wi, wj = weighted[ii], weighted[jj]
            dirs = [base, base + wi, base + wj, base + wi + wj]  # the four cells
            for a, other in ((xt[ii], wj), (xt[jj], wi)):  # the arcs of circles i and j
                unit = a / np.linalg.norm(a, axis=1, keepdims=True)
                for g in (base, base + other):
                    dirs.append(g - (g * unit).sum(1, keepdims=True) * unit)
            cand = np.concatenate(dirs)
            size = np.linalg.norm(cand, axis=1, keepdims=True)
            cand = cand[size[:, 0] > 0] / size[size[:, 0] > 0]
            for u in (cand, -cand):
                h = np.maximum(u @ xt.T, 0.0) @ coef
                best = max(best, float(np.abs(h).max(initial=0.0)))
    return best


SPHERE_M = 200  # the exact check on S² (O(m³): 4 s at m = 200) is made up to this many points


def gap_checked(d: int, bias: bool, m: int) -> bool:
    """Whether :func:`global_gap` bounds a two-layer net's distance from a global minimiser:
    x̃ = (x, 1) or x of dimension 2 (d = 1 with biases: exact over O(m) arcs) or 3 (d = 2 with
    biases, d = 3 without: exact over the O(m²) cells of S², up to SPHERE_M points)."""
    dim = d + bias
    return (dim == 2 and bias) or (dim == 3 and m <= SPHERE_M)


def _margins(
    v: np.ndarray, w: np.ndarray, b: np.ndarray | None, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """q_i = y_i Σ_j v_j relu(w_j·x_i + b_j) of every network, (E, m), for x (E, m, d)."""
    pre = x @ w.transpose(0, 2, 1) + (0.0 if b is None else b[:, None, :])
    return y * np.einsum("emn,en->em", np.maximum(pre, 0.0), v)


def global_gap(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    candidates: list[list[np.ndarray]],
) -> np.ndarray:
    """Per two-layer network (x (E, m, d), y (E, m); :func:`gap_checked` settings): an upper
    bound on how far it is from a global minimiser of the margin problem, 1 − B / ½‖θ̃‖², θ̃
    the net rescaled to min_i q_i = 1 and B = Σ_i λ_i / max_u |Σ_i λ_i y_i relu(u·x̃_i)| the
    largest over its ``candidates`` multipliers (the certificate's, the solver's): λ / max|h|
    is feasible for the dual of the convex margin program, so B ≤ min ½‖θ‖² over nets of
    every width, the gap is at least the net's relative excess norm whatever multipliers are
    given, and ≈ 0 at a global minimiser with its KKT multipliers. NaN where the net does not
    interpolate, no candidate is finite, or the setting is not checked."""
    v, w, b = two_layer_arrays(params)
    bias = b is not None
    q = _margins(v, w, b, x, y)
    half = 0.5 * sum((a.reshape(len(a), -1) ** 2).sum(1) for a in (v, w, b) if a is not None)
    gap = np.full(len(half), np.nan)
    dim = x.shape[-1] + bias
    if not gap_checked(x.shape[-1], bias, x.shape[1]):
        return gap
    for e, lams in enumerate(candidates):
        finite = [lam for lam in lams if len(lam) and np.all(np.isfinite(lam))]
        if q[e].min() <= 0 or not finite:
            continue
        if dim == 2:
            bound = max(dual_bound(x[e], y[e], lam) for lam in finite)
        else:
            xt = np.c_[x[e], np.ones(len(x[e]))] if bias else x[e]
            lams = [np.clip(lam, 0.0, None) for lam in finite]
            highest = [sphere_dual_max(xt, lam * y[e]) for lam in lams]
            if not all(h > 0 for h in highest):  # NaN: a degenerate arrangement, not checked
                continue
            bound = max(lam.sum() / h for lam, h in zip(lams, highest, strict=True))
        gap[e] = 1.0 - bound / (half[e] / q[e].min())
    return gap


def excess_found(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    multipliers: list[np.ndarray],
    rngs: list[np.random.Generator | None],
) -> np.ndarray:
    """Per two-layer network (x (E, m, d), y (E, m), its certificate's multipliers λ, and a
    generator, None to skip it): how much lower a norm other activation patterns give,
    :attr:`benign.convex.PatternSearch.excess` of :func:`benign.convex.better_patterns` — > 0
    proves the network is no global minimiser of the margin problem (its patterns' least norm
    is above a net the search built); 0 where no better pattern was found among the directions
    priced (one-sided: never a proof of global optimality); NaN where skipped or the network
    does not interpolate."""
    v, w, b = two_layer_arrays(params)
    q = _margins(v, w, b, x, y)
    found = np.full(len(v), np.nan)
    for e, rng in enumerate(rngs):
        if rng is None or not q[e].min() > 0 or not np.all(np.isfinite(multipliers[e])):
            continue
        neurons = w[e] if b is None else np.c_[w[e], b[e]]
        search = better_patterns(x[e], y[e], b is not None, neurons, v[e], multipliers[e], rng)
        found[e] = search.excess
    return found


def excess_bounds(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    candidates: list[list[np.ndarray]],
    rngs: list[np.random.Generator | None],
) -> tuple[np.ndarray, np.ndarray]:
    """Per two-layer network, what is known of its relative excess norm over a global
    minimiser: (:func:`global_gap`, an upper bound, where :func:`gap_checked`; else NaN) and
    (:func:`excess_found`, a lower bound, elsewhere, for the networks given a generator; else
    NaN). ``candidates[e]``: multipliers, the certificate's first."""
    nan = np.full(len(x), np.nan)
    if gap_checked(x.shape[-1], len(params) == 3, x.shape[1]):
        return global_gap(params, x, y, candidates), nan
    return nan, excess_found(params, x, y, [c[0] for c in candidates], rngs)


def optimality(
    certified: np.ndarray, gap: np.ndarray, excess: np.ndarray | None = None
) -> np.ndarray:
    """Per network: "global" (certified, and its norm within GLOBAL_TOL of the least of any
    width by :func:`global_gap`), "not_global" (certified, and a net of norm lower by more than
    GLOBAL_TOL found by :func:`excess_found`), "kkt" (certified, neither shown), "" (not
    certified)."""
    found = np.full(np.shape(gap), np.nan) if excess is None else np.asarray(excess)
    tier = np.where(
        np.asarray(gap) <= GLOBAL_TOL, "global", np.where(found > GLOBAL_TOL, "not_global", "kkt")
    )
    return np.where(np.asarray(certified, dtype=bool), tier, "")
