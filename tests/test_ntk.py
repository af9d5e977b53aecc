"""The NTK: analytic against a hand-written closed form and against Monte Carlo averages of
empirical kernels; empirical kernels converge like 1/√width; λ_min against numpy."""

import numpy as np
import pytest
import torch
from helpers import jacobian

from benign.nets import ReLUNet, empirical_ntk
from benign.ntk import analytic_ntk, smallest_eigenvalue


def sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_depth_two_closed_form():
    """ntk parametrisation, He gains, bias: with u = x·x' + 1, a = |x|² + 1, b = |x'|² + 1,
    ρ = u/√(ab): Θ = 2/(d+1) · [√(ab) κ1(ρ) + u κ0(ρ)], for every width."""
    d = 4
    x = np.random.default_rng(1).standard_normal((7, d)) * 1.5
    u = x @ x.T + 1
    a = (x * x).sum(1) + 1
    ab = np.sqrt(np.outer(a, a))
    rho = np.clip(u / ab, -1, 1)
    k0 = (np.pi - np.arccos(rho)) / np.pi
    k1 = (rho * (np.pi - np.arccos(rho)) + np.sqrt(1 - rho**2)) / np.pi
    want = 2 / (d + 1) * (ab * k1 + u * k0)
    # κ1 has an infinite slope at ρ = 1: a rounding error ε in ρ moves it by √ε ≈ 1e-8
    for width in (10, 1000):
        got = analytic_ntk(ReLUNet(d, width, 2, True, "ntk", "he"), x)
        np.testing.assert_allclose(got, want, rtol=1e-7)
    # standard parametrisation (s_l = 1): Θ = n √(ab) κ1(ρ)/(d+1) + u κ0(ρ), growing with n
    for width in (10, 1000):
        got = analytic_ntk(ReLUNet(d, width, 2, True, "standard", "he"), x)
        np.testing.assert_allclose(got, width * ab * k1 / (d + 1) + u * k0, rtol=1e-7)


@pytest.mark.parametrize(
    ("depth", "bias", "param", "init"),
    [(3, True, "ntk", "he"), (4, False, "ntk", "ntk"), (3, True, "standard", "lecun")],
)
def test_analytic_is_the_mean_of_empirical_kernels(depth, bias, param, init):
    x = sphere(5, 3)
    net = ReLUNet(3, 1000, depth, bias, param, init)
    mean = np.mean(
        [empirical_ntk(net, net.init_params([s]), x)[0].numpy() for s in range(24)], axis=0
    )
    want = analytic_ntk(net, x)
    assert np.linalg.norm(mean - want) / np.linalg.norm(want) < 0.03


def test_empirical_kernel_converges_like_one_over_sqrt_width():
    x = sphere(6, 3)
    widths = [32, 128, 512, 2048]
    errors = []
    for width in widths:
        net = ReLUNet(3, width, 3, True, "ntk", "he")
        want = analytic_ntk(net, x)
        errs = [
            np.linalg.norm(empirical_ntk(net, net.init_params([s]), x)[0].numpy() - want)
            / np.linalg.norm(want)
            for s in range(8)
        ]
        errors.append(np.mean(errs))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert -0.7 < slope < -0.3, (errors, slope)


@pytest.mark.parametrize(
    ("depth", "bias", "param"), [(2, True, "standard"), (3, True, "standard"), (4, False, "ntk")]
)
def test_empirical_kernel_is_the_gram_of_autograd_jacobians(depth, bias, param):
    net = ReLUNet(2, 30, depth, bias, param, "he")
    params = net.init_params([3, 4])
    x, x2 = torch.randn(9, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    g, g2 = jacobian(net, params, x, e=1), jacobian(net, params, x2, e=1)
    np.testing.assert_allclose(
        empirical_ntk(net, params, x, x2)[1].numpy(), (g @ g2.T).numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(
        empirical_ntk(net, params, x)[1].numpy(), (g @ g.T).numpy(), rtol=1e-12
    )


def test_analytic_blocks_and_cross_kernels_agree():
    net = ReLUNet(5, 64, 4, True, "ntk", "he")
    x, x2 = sphere(13, 5, 1), sphere(6, 5, 2)
    full = analytic_ntk(net, np.vstack([x, x2]))
    np.testing.assert_allclose(analytic_ntk(net, x, x2, block=4), full[:13, 13:], rtol=1e-13)
    np.testing.assert_allclose(full, full.T, rtol=1e-13)


def test_smallest_eigenvalue_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 40))
    psd = a @ a.T
    spec = smallest_eigenvalue(psd)
    w = np.linalg.eigvalsh(psd)
    assert spec.lambda_min == pytest.approx(w[0], rel=1e-10)
    assert spec.lambda_max == pytest.approx(w[-1], rel=1e-12)
    assert spec.negative == 0 and spec.asymmetry == 0
    # an asymmetric, indefinite matrix: symmetrised, negatives counted
    b = psd - 2 * w[3] * np.eye(40) + 1e-3 * rng.standard_normal((40, 40))
    spec = smallest_eigenvalue(b)
    wb = np.linalg.eigvalsh(0.5 * (b + b.T))
    assert spec.lambda_min == pytest.approx(wb[0], rel=1e-10)
    assert spec.negative == int((wb < 0).sum()) >= 3 and spec.asymmetry > 0
    with pytest.raises(ValueError, match="kernel: must be a square matrix"):
        smallest_eigenvalue(np.ones((3, 4)))


@pytest.mark.slow
def test_ntk_command(tmp_path):
    import json

    from helpers import benign

    from benign.data import Distribution
    from benign.seeding import rng_for

    r = benign("ntk", "--n", 300, "--d", 7, "--depth", 3, "--width", 64, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {(row["n"], row["d"], row["depth"]): row for row in doc["rows"]}
    x = Distribution("sphere", 7).sample(300, rng_for(0, "data"))
    want = np.linalg.eigvalsh(analytic_ntk(ReLUNet(7, 64, 3, True, "ntk", "he"), x))
    assert rows[(300, 7, 3)]["lambda_min"] == pytest.approx(want[0], rel=1e-8)
    assert {k[2] for k in rows} == {2, 3, 4, 5} and {k[0] for k in rows} == {37, 75, 150, 300}
    bad = benign("ntk", "--depth", 1)
    assert bad.returncode == 2 and bad.stderr.startswith("benign: error: --depth: must be >= 2")
    bad = benign("ntk", "--dist", "interval")
    assert bad.returncode == 2 and "--dist: must be sphere or gaussian" in bad.stderr


def test_lazy_diagnostics_see_the_lazy_regime():
    """The same data and training; wide ntk-parametrised nets move little (lazy), narrow ones
    move a lot. The diagnostics are checked against direct computations."""
    from benign.ntk import lazy_diagnostics
    from benign.training import TrainConfig, train

    x = torch.as_tensor(sphere(20, 5, 3), dtype=torch.float64)[None].expand(2, -1, -1)
    y = torch.where(x[..., 0] > 0, 1.0, -1.0).double()
    moves = {}
    for width in (16, 1024):
        net = ReLUNet(5, width, 3, True, "ntk", "he")
        p0 = net.init_params([0, 1])
        res = train(net, p0, x, y, TrainConfig("square", "constant", 0.5, 200, 1e9, 1e-12))
        diag = lazy_diagnostics(net, p0, res.params, x)
        flat = torch.cat([(p - q).reshape(2, -1) for p, q in zip(res.params, p0, strict=True)], 1)
        norm0 = torch.cat([q.reshape(2, -1) for q in p0], 1).norm(dim=1)
        np.testing.assert_allclose(diag.param_move, (flat.norm(dim=1) / norm0).numpy(), rtol=1e-12)
        k0, k1 = empirical_ntk(net, p0, x)[0].numpy(), empirical_ntk(net, res.params, x)[0].numpy()
        assert diag.kernel_move[0] == pytest.approx(np.linalg.norm(k1 - k0) / np.linalg.norm(k0))
        h0, h1 = net.forward(p0, x)[1][1:], net.forward(res.params, x)[1][1:]
        changed = sum(((a[1] > 0) != (b[1] > 0)).sum().item() for a, b in zip(h0, h1, strict=True))
        assert diag.pattern_flips[1] == pytest.approx(changed / (2 * 20 * width))
        moves[width] = diag
    lazy, rich = moves[1024], moves[16]
    assert np.all(lazy.param_move < rich.param_move / 5)
    assert np.all(lazy.kernel_move < rich.kernel_move / 5)
    assert np.all(lazy.pattern_flips < rich.pattern_flips)


def test_the_gram_matrix_from_its_upper_blocks_is_the_cross_kernel_of_x_with_itself():
    """analytic_kernels(x) computes the blocks on and above the diagonal and mirrors them:
    the same as analytic_kernels(x, x), which computes every entry, and exactly symmetric."""
    from benign.ntk import analytic_kernels

    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 4))
    net = ReLUNet(4, 64, depth=4, param="ntk", init="ntk")
    for gram, cross in zip(
        analytic_kernels(net, x, block=8), analytic_kernels(net, x, x, block=8), strict=True
    ):
        off = ~np.eye(len(x), dtype=bool)  # the cross kernel's ρ_ii is 1 only to rounding,
        np.testing.assert_allclose(gram[off], cross[off], rtol=1e-13, atol=0)
        np.testing.assert_allclose(np.diag(gram), np.diag(cross), rtol=1e-7)  # and κ1 ~ √
        assert np.array_equal(gram, gram.T)


def test_nested_ridgeless_is_each_regression_on_its_own():
    """One kernel for nested training sets against ntk_regression on each prefix alone (its
    own kernels and Cholesky factor), for two label vectors at once."""
    from benign.ntk import nested_ridgeless, ntk_regression

    rng = np.random.default_rng(3)
    x, x_test = rng.standard_normal((40, 6)), rng.standard_normal((15, 6))
    labels = np.sign(rng.standard_normal((40, 2)))
    net = ReLUNet(6, 64, depth=3, param="ntk", init="ntk", init_scale=2.0)
    nested = nested_ridgeless(net, x, labels, x_test, (10, 25, 40))
    zeros = np.zeros(15)
    for m, preds in nested.items():
        for k in range(2):
            alone = ntk_regression(net, x[:m], labels[:m, k], labels[:m, k], x_test, zeros)
            np.testing.assert_allclose(preds[:, k], alone.prediction, rtol=1e-8, atol=1e-10)
