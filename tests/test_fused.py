"""The fused two-layer passes (benign.fused) against autograd and the torch passes: outputs and
gradients, whole training runs, NaN, and which passes training takes."""

import numpy as np
import pytest
import torch

from benign.fused import FusedTwoLayer
from benign.nets import ReLUNet
from benign.training import TrainConfig, passes_for, train


def setting(d: int, m: int, width: int, e: int = 3, **net_kw) -> tuple:
    net = ReLUNet(d, width, **net_kw)
    params = net.init_params(list(range(e)))
    rng = np.random.default_rng(d * 1000 + m)
    x = torch.as_tensor(rng.standard_normal((e, m, d)))
    g = torch.as_tensor(rng.standard_normal((e, m)))
    return net, params, x, g


def autograd(net: ReLUNet, params, x, g) -> tuple:
    """f and ∇_θ Σ_i g_i f(x_i) by autograd on N(x) = s₂ Σ_j v_j relu(s₁(w_j·x + b_j))."""
    leaves = [p.clone().requires_grad_() for p in params]
    w, v = leaves[0], leaves[-1]
    z = torch.einsum("emd,end->emn", x, w)
    if net.bias:
        z = z + leaves[1].unsqueeze(1)
    out = net.scale(2) * torch.einsum("emn,en->em", torch.relu(net.scale(1) * z), v[:, 0])
    grads = torch.autograd.grad((g * out).sum(), leaves)
    return out.detach(), list(grads)


@pytest.mark.parametrize(
    ("d", "m", "width", "net_kw"),
    [
        (1, 100, 1000, {}),
        (1, 37, 300, {"param": "ntk", "init": "ntk"}),  # m not a multiple of 4
        (3, 5, 3, {"bias": False}),
        (20, 41, 257, {"init": "he"}),  # width not a multiple of the tile
        (64, 8, 600, {"param": "ntk", "bias": False}),
    ],
)
def test_outputs_and_gradients_are_those_of_autograd(d, m, width, net_kw):
    net, params, x, g = setting(d, m, width, **net_kw)
    fused = FusedTwoLayer(net)
    out, cache = fused.forward(params, x)
    grads = fused.vjp(params, cache, g)
    ref_out, ref_grads = autograd(net, params, x, g)
    torch_out, torch_cache = net.forward(params, x)
    torch_grads = net.vjp(params, torch_cache, g)
    assert out.shape == ref_out.shape
    assert torch.allclose(out, ref_out, rtol=1e-12, atol=1e-14)
    assert torch.allclose(out, torch_out, rtol=1e-12, atol=1e-14)
    assert [gr.shape for gr in grads] == [p.shape for p in params]
    for ours, ref, theirs in zip(grads, ref_grads, torch_grads, strict=True):
        scale = ref.abs().max()
        assert (ours - ref).abs().max() <= 1e-12 * scale
        assert (ours - theirs).abs().max() <= 1e-12 * scale


def test_a_nan_preactivation_reaches_the_output():
    net, params, x, _ = setting(2, 6, 10)
    params[0][1, 3, 0] = float("nan")  # network 1, neuron 3
    out, _ = FusedTwoLayer(net).forward(params, x)
    assert torch.isnan(out[1]).all() and torch.isfinite(out[[0, 2]]).all()


@pytest.mark.parametrize("rule", ["constant", "normalised"])
def test_training_with_fused_passes_follows_the_torch_passes(rule):
    """300 steps of four networks on noisy labels: the same parameters to 1e-10 relative, the
    same steps and reasons, and the same histories to 1e-9."""
    d, m, width = 2, 40, 64
    net = ReLUNet(d, width)
    params = net.init_params([0, 1, 2, 3])
    rng = np.random.default_rng(5)
    x = torch.as_tensor(rng.standard_normal((4, m, d)))
    y = torch.as_tensor(np.where(rng.random((4, m)) < 0.2, -1.0, 1.0))
    config = TrainConfig(step_rule=rule, lr=0.2, max_steps=300, loss_tol=1e-300)
    fused = train(net, params, x, y, config, passes="fused")
    ref = train(net, params, x, y, config, passes="torch")
    for a, b in zip(fused.params, ref.params, strict=True):
        assert (a - b).abs().max() <= 1e-10 * b.abs().max()
    assert fused.stop_reason == ref.stop_reason and (fused.steps == ref.steps).all()
    for h, r in zip(fused.history, ref.history, strict=True):
        assert h.keys() == r.keys()
        for key in h:
            np.testing.assert_allclose(h[key], r[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_a_network_trains_alike_alone_and_in_an_ensemble():
    """The fused passes compute each network alone, bit for bit; training, whose loss terms
    are torch's vectorised exp and log (on AVX-512 their last lanes round differently from
    the rest), agrees to rounding (README, Reproducibility: ~10⁻¹² relative)."""
    net, params, x, _ = setting(1, 30, 50, e=3)
    y = torch.where(x[..., 0] > 0, 1.0, -1.0).double()
    fused = FusedTwoLayer(net)
    moved = [p + 0.01 * torch.randn_like(p) for p in params]  # not the init: weights of all signs
    out, cache = fused.forward(moved, x)
    out1, cache1 = fused.forward([p[1:2] for p in moved], x[1:2])
    assert torch.equal(out[1:2], out1)
    g = torch.randn_like(y)
    for a, b in zip(
        fused.vjp(moved, cache, g), fused.vjp([p[1:2] for p in moved], cache1, g[1:2]), strict=True
    ):
        assert torch.equal(a[1:2], b)
    config = TrainConfig(max_steps=50, loss_tol=1e-300)
    together = train(net, params, x, y, config, passes="fused")
    alone = train(net, [p[1:2] for p in params], x[1:2], y[1:2], config, passes="fused")
    assert together.steps[1] == alone.steps[0]
    for a, b in zip(together.params, alone.params, strict=True):
        assert (a[1:2] - b).abs().max() <= 1e-12 * b.abs().max()


def test_training_takes_the_fused_passes_where_they_apply():
    x = torch.zeros(1, 4, 3, dtype=torch.float64)
    assert isinstance(passes_for(ReLUNet(3, 5), x), FusedTwoLayer)
    assert isinstance(passes_for(ReLUNet(3, 5), x, "torch"), ReLUNet)
    assert isinstance(passes_for(ReLUNet(3, 5, depth=3), x), ReLUNet)
    assert isinstance(passes_for(ReLUNet(3, 5), x.float()), ReLUNet)
    assert isinstance(passes_for(ReLUNet(21, 5), torch.zeros(1, 4, 21).double()), ReLUNet)
    with pytest.raises(ValueError, match="passes: fused needs a two-layer net"):
        passes_for(ReLUNet(3, 5, depth=3), x, "fused")


def test_flipped_activations_are_counted_as_from_the_hidden_layer():
    """m = 37 (padded to 40: the padding's rows are not counted), 300 neurons (two tiles)."""
    from benign.nets import pattern_flips

    net, params0, x, _ = setting(3, 37, 300)
    params = [p + 0.3 * torch.randn_like(p) for p in params0]
    ours = FusedTwoLayer(net).pattern_flips(params0, params, x)
    hidden = [net.forward(p, x)[1][1:] for p in (params0, params)]
    ref = pattern_flips(*hidden)
    assert ref.min() > 0 and torch.equal(ours, ref)
