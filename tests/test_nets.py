"""Networks: hand-written passes against autograd and NumPy, homogeneity, initialisation."""

import math

import numpy as np
import pytest
import torch

from benign.nets import ReLUNet, predict, sq_norm, two_layer

CASES = [
    dict(d=3, width=7, depth=2, bias=True),
    dict(d=3, width=7, depth=2, bias=False),
    dict(d=4, width=6, depth=3, bias=True, param="ntk", init="he"),
    dict(d=2, width=5, depth=4, bias=False, param="ntk", init="ntk"),
    dict(d=1, width=9, depth=3, bias=True, init="he", init_scale=0.3),
]


def data(e, m, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(e, m, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kw", CASES)
def test_vjp_matches_autograd(kw):
    net = ReLUNet(**kw)
    params = net.init_params([0, 1, 2])
    x = data(3, 11, net.d)
    g = data(3, 11, 1, seed=1)[..., 0]
    leaves = [p.clone().requires_grad_() for p in params]
    out, _ = net.forward(leaves, x)
    expected = torch.autograd.grad((out * g).sum(), leaves)
    out, cache = net.forward(params, x)
    got = net.vjp(params, cache, g)
    assert [t.shape for t in got] == [t.shape for t in params]
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_two_layer_forward_is_the_formula():
    net = ReLUNet(d=3, width=5)
    params = net.init_params([4, 5])
    x = data(2, 8, 3)
    out = net.forward(params, x)[0].numpy()
    v, w, b = (t.numpy() for t in two_layer(params))
    for e in range(2):
        for i in range(8):
            expected = sum(
                v[e, j] * max(w[e, j] @ x[e, i].numpy() + b[e, j], 0.0) for j in range(5)
            )
            assert out[e, i] == pytest.approx(expected, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("kw", CASES)
def test_homogeneity_degree(kw):
    net = ReLUNet(**kw)
    params = net.init_params([0])
    x = data(1, 20, net.d)
    f1 = net.forward(params, x)[0]
    f2 = net.forward([2.0 * p for p in params], x)[0]
    if net.degree is None:
        assert not torch.allclose(f2, 2.0 ** kw["depth"] * f1)
    else:
        torch.testing.assert_close(f2, 2.0**net.degree * f1, rtol=1e-12, atol=1e-12)


def test_ensemble_members_depend_on_their_seed_alone():
    net = ReLUNet(d=2, width=4, depth=3)
    alone = net.init_params([7])
    together = net.init_params([3, 7, 9])
    for a, t in zip(alone, together, strict=True):
        assert torch.equal(a[0], t[1])


def test_standard_and_ntk_parametrisations_compute_the_same_function_at_init():
    """Same seed: entries α·sqrt(c/fan_in)·z (standard) vs α·z times the factor (ntk)."""
    x = data(2, 10, 3)
    for init in ("lecun", "he", "ntk"):
        std = ReLUNet(d=3, width=6, depth=3, init=init, init_scale=0.7)
        ntk = ReLUNet(d=3, width=6, depth=3, init=init, init_scale=0.7, param="ntk")
        f_std = std.forward(std.init_params([1, 2]), x)[0]
        f_ntk = ntk.forward(ntk.init_params([1, 2]), x)[0]
        torch.testing.assert_close(f_std, f_ntk, rtol=1e-12, atol=1e-12)


def test_initial_variances():
    d, width = 50, 400
    for init, c_hidden, c_out in (("lecun", 1, 1), ("he", 2, 2), ("ntk", 2, 1)):
        net = ReLUNet(d=d, width=width, depth=3, bias=True, init=init, init_scale=2.0)
        w1, b1, w2, b2, w3 = net.init_params([0])
        assert w1.var().item() == pytest.approx(4 * c_hidden / (d + 1), rel=0.03)
        assert b1.var().item() == pytest.approx(4 * c_hidden / (d + 1), rel=0.3)
        assert w2.var().item() == pytest.approx(4 * c_hidden / (width + 1), rel=0.03)
        assert b2.var().item() == pytest.approx(4 * c_hidden / (width + 1), rel=0.3)
        assert w3.var().item() == pytest.approx(4 * c_out / width, rel=0.3)


def test_centred_output_is_zero_at_init():
    net = ReLUNet(d=3, width=8, depth=3)
    params = net.init_params([0, 1])
    x = data(2, 5, 3)
    assert torch.equal(predict(net, params, x, params), torch.zeros(2, 5, dtype=torch.float64))


def test_sq_norm_and_names():
    net = ReLUNet(d=2, width=3, depth=3, bias=True)
    params = net.init_params([0, 1])
    assert net.names() == [
        "layer1.weight",
        "layer1.bias",
        "layer2.weight",
        "layer2.bias",
        "layer3.weight",
    ]
    assert [tuple(p.shape[1:]) for p in params] == net.shapes()
    expected = [sum(float((p[e] ** 2).sum()) for p in params) for e in range(2)]
    np.testing.assert_allclose(sq_norm(params).numpy(), expected, rtol=1e-14)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        (dict(d=0, width=3), "d"),
        (dict(d=1, width=0), "width"),
        (dict(d=1, width=3, depth=1), "depth"),
        (dict(d=1, width=3, init="xavier"), "init"),
        (dict(d=1, width=3, init_scale=-1.0), "init_scale"),
        (dict(d=1, width=3, param="mup"), "param"),
    ],
)
def test_bad_settings_name_the_field(kw, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        ReLUNet(**kw)


def test_ntk_scale():
    net = ReLUNet(d=4, width=10, depth=3, param="ntk", init="ntk", bias=True)
    assert net.scale(1) == pytest.approx(math.sqrt(2 / 5))
    assert net.scale(2) == pytest.approx(math.sqrt(2 / 11))
    assert net.scale(3) == pytest.approx(math.sqrt(1 / 10))
