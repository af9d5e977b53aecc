"""Lipschitz constants: the exact 1-D value against finite differences, and bounds that
bracket it; deep nets' bounds in order; a linear net where all three coincide."""

import numpy as np
import pytest
import torch

from benign.measures.lipschitz import exact_lipschitz_1d, lipschitz_lower, lipschitz_upper
from benign.nets import ReLUNet


@pytest.mark.parametrize("param", ["standard", "ntk"])
def test_exact_1d_against_finite_differences(param):
    net = ReLUNet(1, 12, 2, True, param, "he")
    params = net.init_params([0, 1, 2])
    exact = exact_lipschitz_1d(net, params)
    w, b = params[0][..., 0], params[1]
    kinks = -b / w
    lo, hi = float(kinks.min()) - 1, float(kinks.max()) + 1
    x = torch.linspace(lo, hi, 400_001, dtype=torch.float64)
    f = net.forward(params, x[None, :, None].expand(3, -1, -1))[0]
    slopes = ((f[:, 1:] - f[:, :-1]) / (x[1:] - x[:-1])).abs().amax(1).numpy()
    np.testing.assert_allclose(exact, slopes, rtol=1e-6)


def test_bounds_bracket_the_exact_value_in_1d():
    net = ReLUNet(1, 30, 2, True, "standard", "lecun")
    params = net.init_params(list(range(4)))
    x = torch.rand(4, 50, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = exact_lipschitz_1d(net, params)
    lower = lipschitz_lower(net, params, x)
    ascended = lipschitz_lower(net, params, x, ascent_steps=30)
    upper = lipschitz_upper(net, params)
    assert np.all(lower <= ascended + 1e-12)
    assert np.all(ascended <= exact * (1 + 1e-9))
    assert np.all(exact <= upper * (1 + 1e-12))
    assert np.all(upper > lower)


def test_deep_bounds_are_ordered_and_exact_for_a_linear_net():
    net = ReLUNet(5, 40, 4, False, "ntk", "he")
    params = net.init_params([0, 1])
    x = torch.randn(2, 100, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lower = lipschitz_lower(net, params, x, ascent_steps=20)
    upper = lipschitz_upper(net, params)
    assert np.all(lower > 0) and np.all(lower <= upper)
    # positive weights and inputs: every unit is on, f is linear, f(x) = s W_3 W_2 W_1 x
    pos = [p.abs() for p in params]
    xpos = x.abs()
    grad_norm = lipschitz_lower(net, pos, xpos)
    s = np.prod([net.scale(layer) for layer in (1, 2, 3, 4)])
    w = pos[3][0] @ pos[2][0] @ pos[1][0] @ pos[0][0]
    assert grad_norm[0] == pytest.approx(s * torch.linalg.vector_norm(w).item(), rel=1e-12)


def test_runs_record_lipschitz_bounds_and_lazy_diagnostics():
    from benign.config import RunConfig
    from benign.run import run_experiment

    config = RunConfig(d=4, m=25, width=30, steps=200, method="gd")
    exp = run_experiment(config, [0, 1])
    x = torch.stack([torch.as_tensor(s.x) for s in exp.samples])
    for e, rec in enumerate(exp.records):
        w, b, v = exp.params[0][e], exp.params[1][e], exp.params[2][e, 0]
        xe = x[e].clone().requires_grad_(True)
        out = (torch.relu(xe @ w.T + b) * v).sum(1)
        (grad,) = torch.autograd.grad(out.sum(), xe)
        assert rec.lipschitz_lower == pytest.approx(grad.norm(dim=1).max().item(), rel=1e-12)
        assert rec.lipschitz_upper == pytest.approx((v.abs() * w.norm(dim=1)).sum().item())
        flat = torch.cat(
            [(p[e] - q[e]).reshape(-1) for p, q in zip(exp.params, exp.params0, strict=True)]
        )
        norm0 = torch.cat([q[e].reshape(-1) for q in exp.params0]).norm()
        assert rec.param_move == pytest.approx((flat.norm() / norm0).item(), rel=1e-12)
        w0, b0 = exp.params0[0][e], exp.params0[1][e]
        flips = ((x[e] @ w.T + b > 0) != (x[e] @ w0.T + b0 > 0)).double().mean().item()
        assert rec.pattern_flips == pytest.approx(flips)
    lp = run_experiment(RunConfig(dist="interval", d=1, m=20, width=40, lp_grid=64), [0])
    rec = lp.records[0]
    assert np.isnan(rec.param_move) and np.isnan(rec.pattern_flips)
    lp_net = ReLUNet.of(RunConfig(dist="interval", d=1, m=20, width=40, lp_grid=64))
    exact = exact_lipschitz_1d(lp_net, lp.params)[0]
    assert rec.lipschitz_lower <= exact * (1 + 1e-9) <= rec.lipschitz_upper * (1 + 1e-9)
