"""Lipschitz constant of the network x ↦ f(x) (over all of R^d): exact in d = 1, lower bounds
from input gradients and difference quotients, upper bounds from the weights."""

import numpy as np
import torch
from torch import Tensor

from benign.nets import Params, ReLUNet, predict, two_layer


def exact_lipschitz_1d(net: ReLUNet, params: Params) -> np.ndarray:
    """max |N'(x)| over R for two-layer nets on d = 1: N is linear between consecutive kinks
    t_j = −b_j/w_j, with slope s_1 s_2 Σ_j v_j w_j 1[w_j x + b_j > 0] at any interior point;
    evaluated at the midpoints of the sorted kinks and beyond both ends. Shape (E,)."""
    if net.depth != 2 or net.d != 1:
        raise ValueError("net: the exact Lipschitz constant needs a two-layer net on d = 1")
    v, w, bias = two_layer(params)
    v, w = v.detach().double().cpu(), w.detach().double().cpu()[..., 0]
    b = torch.zeros_like(w) if bias is None else bias.detach().double().cpu()
    kinks = torch.where(w != 0, -b / torch.where(w != 0, w, 1.0), torch.nan)
    kinks, _ = torch.sort(torch.nan_to_num(kinks, nan=0.0), dim=1)
    mids = 0.5 * (kinks[:, 1:] + kinks[:, :-1])
    span = (kinks[:, -1:] - kinks[:, :1]).abs() + 1.0
    points = torch.cat([kinks[:, :1] - span, mids, kinks[:, -1:] + span], 1)  # (E, n + 1)
    active = (w[:, None, :] * points[..., None] + b[:, None, :]) > 0  # (E, n + 1, n)
    slopes = (active * (v * w)[:, None, :]).sum(-1)
    return (net.scale(1) * net.scale(2) * slopes.abs().max(1).values).numpy()


def lipschitz_upper(net: ReLUNet, params: Params) -> np.ndarray:
    """Σ_j |v_j| ‖w_j‖ · s_1 s_2 for two-layer nets; Π_l s_l ‖W_l‖_2 (spectral norms) for deep
    ones. Biases do not enter. Shape (E,)."""
    if net.depth == 2:
        v, w, _ = two_layer(params)
        total = (v.abs() * torch.linalg.vector_norm(w, dim=-1)).sum(1)
        return (net.scale(1) * net.scale(2) * total).detach().double().cpu().numpy()
    out = torch.ones(params[0].shape[0], dtype=torch.float64)
    for weight, _, s in net.layers(params):
        out *= s * torch.linalg.matrix_norm(weight.detach().double().cpu(), ord=2)
    return out.numpy()


def input_gradients(
    net: ReLUNet, params: Params, x: Tensor, params0: Params | None = None
) -> Tensor:
    """∇_x f(x) for inputs x of shape (E, k, d) (relu'(0) = 0); of the centred output
    f − f_0 when the initial parameters are given."""
    x = x.detach().clone().requires_grad_(True)
    out = predict(
        net,
        [p.detach() for p in params],
        x,
        None if params0 is None else [p.detach() for p in params0],
    )
    return torch.autograd.grad(out.sum(), x)[0]


def lipschitz_lower(
    net: ReLUNet,
    params: Params,
    x: Tensor,
    ascent_steps: int = 0,
    lr: float = 0.05,
    params0: Params | None = None,
) -> np.ndarray:
    """A lower bound per network (of f − f_0 when ``params0`` is given): max_i ‖∇_x f(x_i)‖
    over the points x (E, k, d), and, with
    ``ascent_steps``, the largest difference quotient |f(u) − f(u')| / ‖u − u'‖ met by gradient
    ascent on it from pairs (x_i, x_i + r·e) (r = 1% of the data's scale, e random); every
    quotient met is a valid lower bound. Shape (E,)."""
    grad = input_gradients(net, params, x, params0)
    best = torch.linalg.vector_norm(grad, dim=-1).amax(1)
    if ascent_steps:
        if params0 is not None:
            raise ValueError("params0: the ascent bound is for uncentred nets")
        ps = [p.detach() for p in params]
        gen = torch.Generator().manual_seed(0)
        scale = 0.01 * x.detach().abs().amax().clamp(min=1e-12)
        u = x.detach().clone().requires_grad_(True)
        e = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
        u2 = (x.detach() + scale * e).requires_grad_(True)
        for _ in range(ascent_steps):
            diff = net.forward(ps, u)[0] - net.forward(ps, u2)[0]
            q = diff.abs() / torch.linalg.vector_norm(u - u2, dim=-1).clamp(min=1e-300)
            best = torch.maximum(best, q.detach().amax(1))
            gu, gu2 = torch.autograd.grad(q.sum(), (u, u2))
            with torch.no_grad():
                for t, g in ((u, gu), (u2, gu2)):
                    t.add_(
                        lr
                        * scale
                        * g
                        / torch.linalg.vector_norm(g, dim=-1, keepdim=True).clamp(min=1e-300)
                    )
    return best.detach().double().cpu().numpy()
