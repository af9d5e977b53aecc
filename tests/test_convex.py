"""The minimum-norm interpolant LP in d = 1, against closed forms; the 1-D default end to end."""

import math

import numpy as np
import pytest
import torch

from benign.certify import certify
from benign.convex import min_norm_interpolant
from benign.nets import ReLUNet
from benign.run import RunConfig, run_experiment


def as_params(sol):
    return [
        torch.as_tensor(sol.w)[None],
        torch.as_tensor(sol.b)[None],
        torch.as_tensor(sol.v)[None, None],
    ]


def test_v_shape_closed_form():
    """x = −1, 0, 1 with labels +1, −1, +1: min Σ|c_j| = 5 by N(x) = 2 relu(x) + 2 relu(−x) − 1,
    with LP dual λ = (1, 3, 1) (the derivation is in docs/science.md)."""
    x, y = np.array([[-1.0], [0.0], [1.0]]), np.array([1.0, -1.0, 1.0])
    sol = min_norm_interpolant(x, y, -1.0, 1.0, width=6)
    assert sol.ok and sol.active == 3
    assert sol.norm_sq == pytest.approx(10.0, rel=1e-9)
    grid = np.linspace(-1, 1, 101)
    n = np.maximum(np.outer(grid, sol.w[:, 0]) + sol.b, 0) @ sol.v
    np.testing.assert_allclose(n, 2 * np.abs(grid) - 1, atol=1e-9)
    np.testing.assert_allclose(sol.multipliers, [1.0, 3.0, 1.0], atol=1e-9)


def test_all_positive_labels_give_the_svm_direction():
    """f* ≡ +1 with no flips on [0.2, 1]: one neuron along z* = (0.2, 1), the point of
    {(x_i, 1)} nearest the origin, so min Σ|c_j| = 1/‖z*‖ (up to the 0.25° arc grid)."""
    x = np.array([[0.2], [0.5], [0.7], [1.0]])
    sol = min_norm_interpolant(x, np.ones(4), 0.0, 1.0, width=3)
    assert sol.active == 1
    assert sol.norm_sq / 2 == pytest.approx(1 / math.hypot(0.2, 1.0), rel=1e-5)
    assert sol.w[0, 0] / sol.b[0] == pytest.approx(0.2, abs=5e-3)


@pytest.mark.parametrize("seed", range(3))
def test_random_noisy_samples(seed):
    rng = np.random.default_rng(seed)
    m = 40
    x = rng.uniform(0, 1, (m, 1))
    y = np.where(rng.random(m) < 0.2, -1.0, 1.0)
    sol = min_norm_interpolant(x, y, 0.0, 1.0, width=m)
    assert sol.ok and sol.active <= m
    w, b, v = sol.w[:, 0], sol.b, sol.v
    # balanced neurons: |v_j| = ‖(w_j, b_j)‖, so ‖θ‖² = 2 Σ_j |c_j|
    np.testing.assert_allclose(np.abs(v), np.hypot(w, b), rtol=1e-12, atol=1e-15)
    assert sol.norm_sq == pytest.approx(float((w**2 + b**2 + v**2).sum()), rel=1e-12)
    q = y * (np.maximum(np.outer(x[:, 0], w) + b, 0) @ v)
    assert q.min() == pytest.approx(1.0, abs=1e-7)
    # complementary slackness of the dual: multipliers only on points with margin 1
    lam = sol.multipliers
    assert (lam >= -1e-12).all() and np.all(lam[q > 1 + 1e-6] < 1e-9)
    cert = certify(
        ReLUNet(1, m),
        as_params(sol),
        torch.as_tensor(x)[None],
        torch.as_tensor(y)[None],
        hint=[lam],
    )
    assert cert.eps_rel[0] < 1e-3 and cert.delta_rel[0] < 1e-6


def test_too_narrow_is_reported():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (30, 1))
    y = np.where(np.arange(30) % 2 == 0, 1.0, -1.0)
    sol = min_norm_interpolant(x, y, 0.0, 1.0, width=2)
    assert not sol.ok and sol.reason == "width_too_small" and sol.active > 2


def test_one_dimension_end_to_end_with_the_default_recipe():
    cfg = RunConfig(dist="interval", d=1, m=40, p=0.2, width=60)
    exp = run_experiment(cfg, [0, 1, 2])
    grid = np.linspace(0, 1, 200_001)
    for r, (w, b, v) in zip(exp.records, zip(*exp.params, strict=True), strict=True):
        assert r.method == "lp" and r.interpolated and r.certified
        assert r.eps_rel < cfg.cert_eps and r.delta_rel < cfg.cert_delta
        assert r.clean_method == "exact"
        n = np.maximum(np.outer(grid, w[:, 0].numpy()) + b.numpy(), 0) @ v[0].numpy()
        assert r.clean_error == pytest.approx(float(np.mean(n <= 0)), abs=2 * 60 / 200_001)


def test_float32_networks_are_certified_in_float64():
    exp = run_experiment(RunConfig(dist="interval", d=1, m=30, width=40, dtype="float32"), [0, 1])
    assert exp.params[0].dtype == torch.float32
    assert all(r.certified and r.eps_rel < 1e-3 for r in exp.records)


def test_a_failed_lp_is_reported_not_certified():
    exp = run_experiment(RunConfig(dist="interval", d=1, m=60, p=0.3, width=3), [0])
    r = exp.records[0]
    assert r.stop_reason == "width_too_small" and not r.interpolated and not r.certified
    assert math.isnan(r.normalised_margin) and math.isnan(r.eps_rel)
