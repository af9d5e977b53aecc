"""Runs on real and separated data, and the NTK measures every run records, against
independent computations (numpy eigenvalues, autograd Jacobians, brute-force errors)."""

import numpy as np
import pytest
import torch
from helpers import jacobian

from benign.config import RunConfig
from benign.data import load_dataset
from benign.nets import ReLUNet
from benign.ntk import analytic_ntk
from benign.run import run_experiment

LAZY = dict(param="ntk", init="ntk", center=True, loss="square", step_rule="kernel", lr=1.0)


def test_a_run_on_digits_measures_its_clean_error_on_the_rows_it_did_not_train_on():
    config = RunConfig(dist="digits", m=150, p=0.1, width=64, steps=400, loss_tol=0.05, **LAZY)
    exp = run_experiment(config, [0, 1])
    x, labels = load_dataset("digits")
    net = ReLUNet.of(config)
    for e, (rec, s) in enumerate(zip(exp.records, exp.samples, strict=True)):
        rest = np.setdiff1d(np.arange(len(x)), s.index)
        xt = torch.as_tensor(x[rest])[None]
        one = [p[e : e + 1] for p in exp.params]
        one0 = [p[e : e + 1] for p in exp.params0]
        out = (net.forward(one, xt)[0] - net.forward(one0, xt)[0])[0].numpy()
        assert rec.clean_method == "held-out" and rec.n_test == len(x) - 150
        assert rec.clean_error == pytest.approx(np.mean(out * labels[rest] <= 0), abs=1e-12)
        assert rec.clean_lo < rec.clean_error < rec.clean_hi
    assert exp.records[0].flips + exp.records[1].flips > 0


@pytest.mark.parametrize("method", ["gd", "lp"])
def test_runs_record_ntk_eigenvalues_and_kernel_movement(method):
    if method == "gd":
        config = RunConfig(dist="separated", d=6, m=20, width=48, depth=3, steps=300, **LAZY)
    else:
        config = RunConfig(dist="interval", d=1, m=12, width=30, lp_grid=64)
    exp = run_experiment(config, [0, 1])
    net = ReLUNet.of(config)
    for e, (rec, s) in enumerate(zip(exp.records, exp.samples, strict=True)):
        assert rec.ntk_min == pytest.approx(np.linalg.eigvalsh(analytic_ntk(net, s.x))[0])
        xs = torch.as_tensor(s.x)
        if method == "lp":  # kinks sit on data points: the Jacobian by hand, relu'(0) = 0
            w, b, v = (p[e].numpy() for p in exp.params)
            z = s.x @ w.T + b
            on = (z > 0) * v[0]
            j1 = np.concatenate([np.maximum(z, 0), on * s.x[:, :1], on], axis=1)
            k1 = j1 @ j1.T
            assert rec.entk_min == pytest.approx(np.linalg.eigvalsh(k1)[0], abs=1e-9)
            assert np.isnan(rec.entk_min_init) and np.isnan(rec.kernel_move)
            continue
        j1 = jacobian(net, exp.params, xs, e)
        k1 = (j1 @ j1.T).numpy()
        assert rec.entk_min == pytest.approx(np.linalg.eigvalsh(k1)[0], rel=1e-8)
        j0 = jacobian(net, exp.params0, xs, e)
        k0 = (j0 @ j0.T).numpy()
        assert rec.entk_min_init == pytest.approx(np.linalg.eigvalsh(k0)[0], rel=1e-8)
        move = np.linalg.norm(k1 - k0) / np.linalg.norm(k0)
        assert rec.kernel_move == pytest.approx(move, rel=1e-8)
        history = exp.histories[e]  # the last entry is the network's last step
        assert history["step"][-1] == rec.steps and history["kernel_move"][0] == 0
        assert history["kernel_move"][-1] == pytest.approx(move, rel=1e-8)
        assert history["param_move"][-1] == pytest.approx(rec.param_move, rel=1e-10)
        assert history["pattern_flips"][-1] == pytest.approx(rec.pattern_flips, rel=1e-10)


def test_the_separated_law_takes_the_separation_setting():
    config = RunConfig(dist="separated", d=5, m=400, separation=1.2, radius=2.0)
    x = config.sample(0).x
    assert np.abs(x[:, 0]).min() >= 2.0 * 1.2 / 2
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 2.0)


def test_a_centred_net_has_no_normalised_margin():
    """f − f_0 is not homogeneous in θ, so γ = min q / ‖θ‖^k means nothing: NaN."""
    lazy = run_experiment(RunConfig(d=5, m=20, width=32, steps=200, **LAZY), [0])
    assert np.isnan(lazy.records[0].normalised_margin)
    assert np.isnan(lazy.histories[0]["normalised_margin"]).all()
    plain = run_experiment(RunConfig(d=5, m=20, width=32, steps=200, method="gd"), [0])
    assert np.isfinite(plain.records[0].normalised_margin)
