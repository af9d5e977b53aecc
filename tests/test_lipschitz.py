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
