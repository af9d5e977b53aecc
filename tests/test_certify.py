"""The KKT certificate against KKT points constructed by hand."""

import math

import numpy as np
import pytest
import torch

from benign.certify import Tolerances, certify
from benign.nets import ReLUNet

R2 = math.sqrt(2.0)
NET = ReLUNet(d=1, width=4, depth=2, bias=True)


def t(*arrays):
    return [torch.tensor(a, dtype=torch.float64) for a in arrays]


def v_shape_kkt():
    """x = −1, 0, 1 with labels +1, −1, +1. The minimum-norm interpolant is
    N(x) = 2 relu(x) + 2 relu(−x) − 1 (balanced neurons, one zero neuron), all margins 1, and
    θ = Σ_i λ_i y_i ∂N(x_i) with λ = (1, 3, 1) once relu'(0) = s = 1/3 at the kinks, which sit
    on the training point x = 0 (derivation in docs/science.md)."""
    w = [[[R2], [-R2], [0.0], [0.0]]]
    b = [[0.0, 0.0, 1.0, 0.0]]
    v = [[[R2, R2, -1.0, 0.0]]]
    x = [[[-1.0], [0.0], [1.0]]]
    y = [[1.0, -1.0, 1.0]]
    return t(w, b, v), *t(x, y)


def test_kkt_point_with_kinks_on_a_training_point():
    params, x, y = v_shape_kkt()
    cert = certify(NET, params, x, y, multipliers=True)
    assert cert.applies and cert.min_margin[0] == pytest.approx(1.0)
    assert cert.kinks[0] == 2  # neurons 1 and 2 at x = 0
    assert cert.eps_rel[0] < 1e-7
    assert cert.delta[0] == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(cert.multipliers[0], [1.0, 3.0, 1.0], atol=1e-6)
    assert cert.support[0] == 3
    # with relu'(0) = 0 fixed the same point looks far from stationary
    assert cert.eps_fixed_rel[0] > 0.1
    assert cert.certified(Tolerances())[0]


def test_moving_off_the_kkt_point_is_detected():
    (w, b, v), x, y = v_shape_kkt()
    # rotate neuron 1's direction: its kink leaves the training point
    angle = 0.2
    w2, b2 = w.clone(), b.clone()
    w2[0, 0, 0], b2[0, 0] = R2 * math.cos(angle), R2 * math.sin(angle)
    cert = certify(NET, [w2, b2, v], x, y)
    assert cert.eps_rel[0] > 0.02 and not cert.certified(Tolerances(eps_rel=0.01))[0]
    # unbalance neuron 3 (|v| ≠ ‖(w, b)‖): the same function class, not a KKT point
    v3 = v.clone()
    v3[0, 0, 2] = -2.0
    b3 = b.clone()
    b3[0, 2] = 0.5
    cert = certify(NET, [w, b3, v3], x, y)
    assert cert.eps_rel[0] > 0.05


def test_random_parameters_are_far_from_kkt():
    net = ReLUNet(d=1, width=30)
    x = torch.linspace(0.1, 1, 12, dtype=torch.float64).reshape(1, 12, 1)
    y = torch.ones(1, 12, dtype=torch.float64)
    params = net.init_params([3])
    params[-1] = params[-1].abs()  # positive output weights: all margins positive
    cert = certify(net, params, x, y)
    assert cert.min_margin[0] > 0 and cert.eps_rel[0] > 0.1


def test_certificate_is_invariant_to_scale_and_neuron_order():
    params, x, y = v_shape_kkt()
    (w, b, v) = params
    rng = np.random.default_rng(0)
    w = w + 0.05 * torch.as_tensor(rng.standard_normal(w.shape))  # not KKT: nonzero values
    base = certify(NET, [w, b, v], x, y)
    scaled = certify(NET, [3 * w, 3 * b, 3 * v], x, y)
    perm = torch.tensor([2, 0, 3, 1])
    permuted = certify(NET, [w[:, perm], b[:, perm], v[:, :, perm]], x, y)
    for other in (scaled, permuted):
        for key in ("gamma", "eps_rel", "delta_rel", "eps_fixed_rel"):
            assert getattr(other, key)[0] == pytest.approx(
                getattr(base, key)[0], rel=1e-6, abs=1e-9
            )
    assert scaled.min_margin[0] == pytest.approx(9 * base.min_margin[0])


def test_single_neuron_max_margin_without_kinks():
    """All labels +1 on x ∈ [0.2, 1]: the max-margin net is one balanced neuron along
    z* = (0.2, 1), the point of {(x_i, 1)} nearest the origin (a hard-margin SVM)."""
    xs = np.array([0.2, 0.5, 0.7, 1.0])
    u = np.array([0.2, 1.0]) / np.hypot(0.2, 1.0)
    w, b, v = [[[u[0]], [0.0]]], [[u[1], 0.0]], [[[1.0, 0.0]]]
    net = ReLUNet(d=1, width=2)
    x, y = t(xs.reshape(1, 4, 1), np.ones((1, 4)))
    cert = certify(net, t(w, b, v), x, y, multipliers=True)
    assert cert.eps_rel[0] < 1e-9 and cert.eps_fixed_rel[0] < 1e-9 and cert.kinks[0] == 0
    assert cert.delta[0] == pytest.approx(0.0, abs=1e-9) and cert.support[0] == 1
    # another direction in the cone of the z_i is stationary only with multipliers on points
    # whose margin exceeds the minimum: ε = 0 but δ > 0, so not a KKT point
    w2, b2 = [[[0.5], [0.0]]], [[math.sqrt(0.75), 0.0]]
    off = certify(net, t(w2, b2, v), x, y)
    assert off.delta_rel[0] > 0.05 and not off.certified(Tolerances())[0]


def test_not_homogeneous_or_not_interpolating():
    deep = ReLUNet(d=2, width=5, depth=3, bias=True)
    x = torch.randn(1, 6, 2, dtype=torch.float64)
    y = torch.ones(1, 6, dtype=torch.float64)
    cert = certify(deep, deep.init_params([0]), x, y)
    assert not cert.applies and np.isnan(cert.eps_rel[0])
    params, x, y = v_shape_kkt()
    cert = certify(NET, params, x, -y)  # every margin negative
    assert cert.applies and np.isnan(cert.eps_rel[0]) and not cert.certified(Tolerances())[0]


@pytest.mark.parametrize("width", [1, 3])
def test_gradient_descent_reaches_the_max_margin_direction(width):
    """All labels +1 on x ∈ {0.2, 0.5, 0.7, 1}: the max normalised margin is ‖z*‖/2 with
    z* = (0.2, 1) (a balanced neuron along z*: q_min = r² u·z*, ‖θ‖² = 2r²). Normalised GD on
    the exponential loss gets there, and the certificate says so; a perturbed θ fails it."""
    from benign.train import TrainConfig, train

    net = ReLUNet(d=1, width=width)
    x = torch.tensor([[[0.2], [0.5], [0.7], [1.0]]], dtype=torch.float64)
    y = torch.ones(1, 4, dtype=torch.float64)
    w0, b0, v0 = net.init_params([0])
    res = train(
        net, [w0, b0.abs(), v0.abs()], x, y, TrainConfig(loss="exponential", loss_tol=1e-300)
    )
    cert = certify(net, res.params, x, y)
    assert cert.gamma[0] == pytest.approx(math.hypot(0.2, 1.0) / 2, rel=1e-3)
    w, b, v = res.params
    big = v[0, 0].abs().argmax()
    assert (w[0, big, 0] / b[0, big]).item() == pytest.approx(0.2, abs=0.05)
    assert cert.eps_rel[0] < 0.05 and cert.certified(Tolerances())[0]
    g = torch.Generator().manual_seed(1)
    noisy = [
        p + 0.3 * p.abs().max() * torch.randn(p.shape, generator=g, dtype=p.dtype)
        for p in res.params
    ]
    off = certify(net, noisy, x, y)
    assert not off.certified(Tolerances())[0]


def test_ntk_parametrisation_gets_the_same_certificate():
    """The V-shape KKT point in the ntk parametrisation: N = s_1 s_2 Σ v_j relu(w_j x + b_j), so
    entries divided by r = sqrt(s_1 s_2) give the same function, still balanced, hence again a
    KKT point of min ½‖θ‖²; the Clarke columns must carry s_1 s_2."""
    net = ReLUNet(d=1, width=4, depth=2, bias=True, param="ntk")
    (w, b, v), x, y = v_shape_kkt()
    r = math.sqrt(net.scale(1) * net.scale(2))
    params = [w / r, b / r, v / r]
    torch.testing.assert_close(net.forward(params, x)[0], NET.forward([w, b, v], x)[0])
    std, ntk = certify(NET, [w, b, v], x, y), certify(net, params, x, y)
    assert ntk.kinks[0] == std.kinks[0] == 2
    assert ntk.eps_rel[0] < 1e-6 and ntk.certified(Tolerances())[0]
    assert ntk.eps_fixed_rel[0] > 0.1


@pytest.mark.parametrize("param", ["standard", "ntk"])
def test_kink_columns_are_the_jump_of_the_jacobian(param):
    """The Clarke column of a kinked pair (i, j) is the jump of y_i ∂f(x_i)/∂θ as unit j's
    pre-activation at x_i crosses 0, measured with the Jacobian on both sides."""
    from benign.certify import _kink_columns, jacobian

    net = ReLUNet(d=1, width=4, depth=2, bias=True, param=param)
    (w, b, v), x, y = v_shape_kkt()
    gain = net.scale(1) * net.scale(2)
    owner, _, cols = _kink_columns(
        w[0].numpy(), b[0].numpy(), v[0, 0].numpy(), x[0].numpy(), y[0].numpy(), 1e-7, gain
    )
    for k, i in enumerate(owner):
        j = int(np.nonzero(np.abs(cols[:, k]) > 0)[0][-1] - 4)  # row of b_j in (W, b, v)
        hi, lo = b.clone(), b.clone()
        hi[0, j] += 1e-9
        lo[0, j] -= 1e-9
        jump = (jacobian(net, [w, hi, v], x) - jacobian(net, [w, lo, v], x))[0, i] * y[0, i]
        np.testing.assert_allclose(jump.numpy(), cols[:, k], atol=1e-6)
