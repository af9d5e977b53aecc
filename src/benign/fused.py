"""The two-layer net's passes fused over tiles of (points × neurons), compiled by Numba: the
m × n pre-activations never leave the cache (docs/performance.md, One GD step).

N(x) = s₂ Σ_j v_j relu(s₁ (w_j·x + b_j)), for E networks at once (leading axis E). The forward
pass gives f(x_i); the vector-Jacobian product recomputes the pre-activations z_ij = w_j·x_i + b_j
tile by tile and gives ∇_θ Σ_i g_i f(x_i):

    ∂/∂v_j = s₁s₂ Σ_i g_i relu(z_ij),   ∂/∂w_j = s₁s₂ v_j Σ_i g_i 1[z_ij > 0] x_i,
    ∂/∂b_j = s₁s₂ v_j Σ_i g_i 1[z_ij > 0]   (relu'(0) = 0).

Each network is computed alone, in a fixed order: its values do not depend on E. The torch passes
of :class:`benign.nets.ReLUNet` are the reference (tests/test_fused.py compares the two); this
path is taken by :func:`benign.training.train` where :func:`benign.training.fuses` (two-layer nets
in float64 on the CPU, d ≤ 20), where it is faster (docs/performance.md).
"""

import numba
import numpy as np
import torch
from torch import Tensor

from benign.nets import Params, ReLUNet

TILE_J = 256  # neurons per tile: four points' pre-activations are 8 KiB, in L1
# sums may be reordered (vectorised) and multiply-adds fused; NaN and inf keep their meaning
FAST = {"reassoc", "contract", "nsz", "arcp"}


def _compiled(fn):  # type: ignore[no-untyped-def]
    """``fn`` compiled by Numba, and cached on disk (``__pycache__``, else Numba's user-wide
    cache directory) where one is writable; else compiled anew in each process."""
    try:
        return numba.njit(cache=True, fastmath=FAST)(fn)
    except RuntimeError:  # "cannot cache function …: no locator available"
        return numba.njit(fastmath=FAST)(fn)


# The points come four at a time (m is padded to a multiple of 4 with g = 0), so that every
# weight and gradient entry is read once per four points; the loops run over 1-D row views
# (z[0], wt[e, k, j0:j1]), which LLVM vectorises, not over 3-D indices (5× slower, measured).


@_compiled
def _preactivations(x, wt, b, e, i0, j0, j1, z):  # pragma: no cover - compiled
    """z[r, :] = b_j + Σ_k wt[k, j] x[i0 + r, k] for four points and the neurons j0:j1 (the
    weights of one input read once for the four)."""
    z0, z1, z2, z3 = z[0], z[1], z[2], z[3]
    x0, x1, x2, x3 = x[e, i0], x[e, i0 + 1], x[e, i0 + 2], x[e, i0 + 3]
    bj, wr = b[e, j0:j1], wt[e, 0, j0:j1]
    c0, c1, c2, c3 = x0[0], x1[0], x2[0], x3[0]
    for jj in range(j1 - j0):
        w, bb = wr[jj], bj[jj]
        z0[jj], z1[jj], z2[jj], z3[jj] = bb + w * c0, bb + w * c1, bb + w * c2, bb + w * c3
    for k in range(1, x.shape[2]):
        wr, c0, c1, c2, c3 = wt[e, k, j0:j1], x0[k], x1[k], x2[k], x3[k]
        for jj in range(j1 - j0):
            w = wr[jj]
            z0[jj] += w * c0
            z1[jj] += w * c1
            z2[jj] += w * c2
            z3[jj] += w * c3


@_compiled
def _forward(x, wt, b, v, scale, out):  # pragma: no cover - compiled
    """out[e, i] = scale · Σ_j v_j relu(z_ij), four points at a time (m a multiple of 4)."""
    n_net, m, _ = x.shape
    n = wt.shape[2]
    z = np.empty((4, TILE_J))
    z0, z1, z2, z3 = z[0], z[1], z[2], z[3]
    for e in range(n_net):
        for i0 in range(0, m, 4):
            s0 = s1 = s2 = s3 = 0.0
            for j0 in range(0, n, TILE_J):
                j1 = min(j0 + TILE_J, n)
                _preactivations(x, wt, b, e, i0, j0, j1, z)
                vj = v[e, j0:j1]
                for jj in range(j1 - j0):  # relu(a) = 0 if a < 0 else a: NaN stays NaN
                    a0, a1, a2, a3, c = z0[jj], z1[jj], z2[jj], z3[jj], vj[jj]
                    s0 += c * (0.0 if a0 < 0.0 else a0)
                    s1 += c * (0.0 if a1 < 0.0 else a1)
                    s2 += c * (0.0 if a2 < 0.0 else a2)
                    s3 += c * (0.0 if a3 < 0.0 else a3)
            out[e, i0], out[e, i0 + 1] = scale * s0, scale * s1
            out[e, i0 + 2], out[e, i0 + 3] = scale * s2, scale * s3


@_compiled
def _vjp(x, wt, b, v, g, scale, gwt, gb, gv):  # pragma: no cover - compiled
    """gv_j = scale Σ_i g_i relu(z_ij); gwt[k, j] and gb_j = scale v_j Σ_i g_i 1[z_ij > 0] x_ik
    and the same with x_ik = 1."""
    n_net, m, d = x.shape
    n = wt.shape[2]
    z = np.empty((4, TILE_J))
    for e in range(n_net):
        gwt[e] = 0.0
        gb[e] = 0.0
        gv[e] = 0.0
        for i0 in range(0, m, 4):
            g0, g1, g2, g3 = g[e, i0], g[e, i0 + 1], g[e, i0 + 2], g[e, i0 + 3]
            x0, x1, x2, x3 = x[e, i0], x[e, i0 + 1], x[e, i0 + 2], x[e, i0 + 3]
            for j0 in range(0, n, TILE_J):
                j1 = min(j0 + TILE_J, n)
                _preactivations(x, wt, b, e, i0, j0, j1, z)
                z0, z1, z2, z3 = z[0], z[1], z[2], z[3]
                gvj, gbj = gv[e, j0:j1], gb[e, j0:j1]
                for jj in range(j1 - j0):
                    a0, a1, a2, a3 = z0[jj], z1[jj], z2[jj], z3[jj]
                    # relu and its slope; a NaN (only from parameters that left the range,
                    # where training stops anyway) counts as 0, so that padding rows with
                    # g = 0 never add 0·NaN
                    r0 = a0 if a0 > 0.0 else 0.0
                    r1 = a1 if a1 > 0.0 else 0.0
                    r2 = a2 if a2 > 0.0 else 0.0
                    r3 = a3 if a3 > 0.0 else 0.0
                    t0 = g0 if a0 > 0.0 else 0.0
                    t1 = g1 if a1 > 0.0 else 0.0
                    t2 = g2 if a2 > 0.0 else 0.0
                    t3 = g3 if a3 > 0.0 else 0.0
                    gvj[jj] += (g0 * r0 + g1 * r1) + (g2 * r2 + g3 * r3)
                    gbj[jj] += (t0 + t1) + (t2 + t3)
                    z0[jj], z1[jj], z2[jj], z3[jj] = t0, t1, t2, t3  # now g_i 1[z_ij > 0]
                for k in range(d):
                    gw, c0, c1, c2, c3 = gwt[e, k, j0:j1], x0[k], x1[k], x2[k], x3[k]
                    for jj in range(j1 - j0):
                        gw[jj] += (z0[jj] * c0 + z1[jj] * c1) + (z2[jj] * c2 + z3[jj] * c3)
        ve, gve, gbe = v[e], gv[e], gb[e]
        for j in range(n):
            gve[j] *= scale
            gbe[j] *= scale * ve[j]
        for k in range(d):
            gw = gwt[e, k]
            for j in range(n):
                gw[j] *= scale * ve[j]


@_compiled
def _flips(x, m, wt0, b0, wt, b, out):  # pragma: no cover - compiled
    """out[e] = #{(i, j): i < m, [z_ij(θ₀) > 0] ≠ [z_ij(θ) > 0]}."""
    n_net = x.shape[0]
    n = wt.shape[2]
    z0, z = np.empty((4, TILE_J)), np.empty((4, TILE_J))
    for e in range(n_net):
        count = 0
        for i0 in range(0, x.shape[1], 4):
            for j0 in range(0, n, TILE_J):
                j1 = min(j0 + TILE_J, n)
                _preactivations(x, wt0, b0, e, i0, j0, j1, z0)
                _preactivations(x, wt, b, e, i0, j0, j1, z)
                for r in range(min(4, m - i0)):  # not the padding
                    a, c = z0[r], z[r]
                    for jj in range(j1 - j0):
                        count += (a[jj] > 0.0) != (c[jj] > 0.0)
        out[e] = count


class FusedTwoLayer:
    """``forward`` and ``vjp`` of a two-layer :class:`ReLUNet` with the interface of its own
    (the cache is (x,) alone: the hidden layer is never stored)."""

    def __init__(self, net: ReLUNet) -> None:
        self.bias = net.bias
        self.scale = net.scale(1) * net.scale(2)  # relu(s₁ z) = s₁ relu(z)

    def _arrays(self, params: Params, x: Tensor) -> tuple[np.ndarray, ...]:
        """x (points padded with zeros to a multiple of 4), Wᵀ, b (zeros without a bias), v."""
        w, v = params[0], params[-1]
        n_net, n, _ = w.shape
        b = params[1] if self.bias else torch.zeros(n_net, n, dtype=w.dtype)
        return (
            _pad(x.detach(), 1).numpy(),
            w.detach().transpose(1, 2).contiguous().numpy(),
            b.detach().contiguous().numpy(),
            v.detach().reshape(n_net, n).contiguous().numpy(),
        )

    def forward(self, params: Params, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """f(x) (E, m) and the cache (x,)."""
        xs, wt, b, v = self._arrays(params, x)
        out = np.empty(xs.shape[:2])
        _forward(xs, wt, b, v, self.scale, out)
        return torch.from_numpy(out[:, : x.shape[1]]), [x]

    def pattern_flips(self, params0: Params, params: Params, x: Tensor) -> Tensor:
        """Share of the (point, neuron) activations whose sign differs between θ₀ and θ, (E,)
        (benign.nets.pattern_flips, without the hidden layers)."""
        xs, wt0, b0, _ = self._arrays(params0, x)
        _, wt, b, _ = self._arrays(params, x)
        out = np.empty(len(xs), dtype=np.int64)
        _flips(xs, x.shape[1], wt0, b0, wt, b, out)
        return torch.from_numpy(out).double() / (x.shape[1] * wt.shape[2])

    def vjp(self, params: Params, cache: list[Tensor], g: Tensor) -> Params:
        """∇_θ Σ_i g_i f(x_i), in the order of :meth:`ReLUNet.shapes` (W₁, b₁, v)."""
        xs, wt, b, v = self._arrays(params, cache[0])
        gwt, gb, gv = np.empty_like(wt), np.empty_like(b), np.empty_like(v)
        _vjp(xs, wt, b, v, _pad(g.detach(), 1).numpy(), self.scale, gwt, gb, gv)
        grads = [torch.from_numpy(gwt).transpose(1, 2).contiguous()]
        if self.bias:
            grads.append(torch.from_numpy(gb))
        return [*grads, torch.from_numpy(gv).unsqueeze(1)]


def _pad(t: Tensor, axis: int) -> Tensor:
    """``t`` contiguous, with zeros appended along ``axis`` up to a multiple of 4."""
    extra = -t.shape[axis] % 4
    if extra == 0:
        return t.contiguous()
    shape = list(t.shape)
    shape[axis] = extra
    return torch.cat([t, t.new_zeros(shape)], axis).contiguous()
