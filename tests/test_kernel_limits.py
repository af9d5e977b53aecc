"""Kernel limits: the NNGP kernel against wide nets, ridgeless NTK regression and its error
split against Monte Carlo over initialisations, the NTK hard-margin SVM against its KKT
conditions and a two-point closed form."""

import numpy as np
import pytest
import torch

from benign.data import Distribution, noisy_sample
from benign.nets import ReLUNet
from benign.ntk import analytic_kernels, ntk_regression, ntk_svm
from benign.seeding import rng_for

NET = ReLUNet(4, 512, 3, True, "ntk", "he")


def data(m: int, seed: int, p: float = 0.2):
    dist = Distribution("separated", 4, separation=0.4)
    s = noisy_sample(dist, m, p, rng_for(seed, "data"))
    return s.x, s.y, dist.clean_label(s.x)


def test_nngp_kernel_is_the_covariance_of_wide_nets_at_init():
    x, _, _ = data(5, 0)
    net = ReLUNet(4, 300, 3, True, "ntk", "he")
    params = net.init_params(list(range(400)))
    xs = torch.as_tensor(x)[None].expand(400, -1, -1)
    f0 = net.forward(params, xs)[0].numpy()
    cov = f0.T @ f0 / len(f0)
    want = analytic_kernels(net, x)[0]
    # 400 draws: the Monte Carlo error of a covariance is about √(2/400) ≈ 7% of its scale
    assert np.abs(cov - want).max() < 0.2 * np.abs(want).max()


def test_ridgeless_regression_interpolates_and_its_error_splits():
    x, y, yc = data(30, 1)
    xt, _, ytc = data(200, 2)
    reg = ntk_regression(NET, x, y, yc, xt, ytc)
    # at the training points: f̄ = y and no initialisation noise
    at_train = ntk_regression(NET, x, y, yc, x, yc)
    np.testing.assert_allclose(at_train.prediction, y, atol=1e-8)
    assert abs(at_train.init_noise) < 1e-8
    assert reg.mse == pytest.approx(
        reg.clean_fit + reg.label_noise + 2 * reg.cross + reg.init_noise
    )
    assert 0 <= reg.clean_error <= 1 and reg.label_noise > 0 and reg.init_noise > 0
    # without noise the label part vanishes
    clean = ntk_regression(NET, x, yc, yc, xt, ytc)
    assert clean.label_noise == 0 and clean.cross == 0


def test_init_noise_against_gaussian_process_samples():
    x, y, yc = data(12, 3)
    xt, _, ytc = data(40, 4)
    reg = ntk_regression(NET, x, y, yc, xt, ytc)
    allx = np.vstack([x, xt])
    k, t = analytic_kernels(NET, allx)
    chol = np.linalg.cholesky(k + 1e-10 * np.eye(len(allx)))
    f0 = chol @ np.random.default_rng(0).standard_normal((len(allx), 20000))
    a = t[12:, :12] @ np.linalg.inv(t[:12, :12])
    g = f0[12:] - a @ f0[:12]
    assert np.mean(g**2) == pytest.approx(reg.init_noise, rel=0.03)


def test_svm_two_points_closed_form_and_kkt():
    x = np.array([[1.0, 0, 0, 0], [0.6, 0.8, 0, 0]])
    y = np.array([1.0, -1.0])
    t = analytic_kernels(NET, x)[1]
    q = np.outer(y, y) * t
    alpha = np.linalg.solve(q, np.ones(2))  # both are support vectors: y_i f(x_i) = 1
    assert np.all(alpha > 0)
    svm = ntk_svm(NET, x, y, x)
    np.testing.assert_allclose(svm.alpha, alpha, rtol=1e-6)
    np.testing.assert_allclose(svm.train_margins, 1.0, rtol=1e-6)
    assert svm.norm == pytest.approx(np.sqrt(alpha.sum()), rel=1e-6)

    x, y, _ = data(40, 5)
    svm = ntk_svm(NET, x, y, x)
    assert np.all(svm.alpha >= 0) and np.all(svm.train_margins >= 1 - 1e-6)
    assert np.abs(svm.alpha * (svm.train_margins - 1)).max() < 1e-6 * svm.alpha.max()
    assert svm.norm == pytest.approx(np.sqrt(svm.alpha.sum()), rel=1e-5)


def test_a_wide_lazy_net_trained_with_the_logistic_loss_agrees_with_the_ntk_svm():
    """Centred output (f − f_0), ntk parametrisation, width 1024, constant steps: after 2,000
    steps the net's signs agree with the SVM's on ≥ 90% of 500 test points (measured 96–97%
    at widths 256–2048; correlation 0.97–0.99)."""
    from benign.nets import predict
    from benign.ntk import agreement
    from benign.training import TrainConfig, train

    x, y, _ = data(30, 1, p=0.1)
    xt, _, _ = data(500, 2)
    net = ReLUNet(4, 1024, 2, True, "ntk", "he")
    svm = ntk_svm(net, x, y, xt)
    p0 = net.init_params([0])
    xs, ys = torch.as_tensor(x)[None], torch.as_tensor(y)[None]
    res = train(
        net,
        p0,
        xs,
        ys,
        TrainConfig("logistic", "constant", 1.0, 2000, 1e9, 1e-300, 0),
        offset=predict(net, p0, xs),
    )
    assert res.train_error[0] == 0
    f = predict(net, res.params, torch.as_tensor(xt)[None], p0)[0].numpy()
    share, corr = agreement(f, svm.prediction)
    assert share >= 0.9 and corr >= 0.95, (share, corr)
    assert agreement(svm.prediction, svm.prediction) == (1.0, pytest.approx(1.0))
