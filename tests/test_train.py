"""Training: losses against formulas and finite differences, batching, stopping rules."""

import math

import numpy as np
import pytest
import torch

from benign.config import LOSSES, RunConfig
from benign.nets import ReLUNet
from benign.records import HISTORY_KEYS
from benign.run import run_experiment
from benign.training import TrainConfig, loss_terms, loss_value, train

ELL = {  # ℓ(q), written independently in NumPy
    "logistic": lambda q: np.log1p(np.exp(-q)),
    "exponential": lambda q: np.exp(-q),
    "square": lambda q: 0.5 * (1 - q) ** 2,
}


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_value_matches_formula(loss):
    q = np.random.default_rng(0).normal(0, 3, size=(3, 17))
    got = loss_value(torch.as_tensor(q), loss).numpy()
    np.testing.assert_allclose(got, ELL[loss](q).mean(1), rtol=1e-13)


def test_losses_stay_finite_in_the_log_domain():
    q = torch.tensor([[800.0, 900.0]], dtype=torch.float64)  # e^{-q} underflows to 0
    for loss in ("logistic", "exponential"):
        log_l, dq = loss_terms(q, loss)
        assert log_l.item() == pytest.approx(
            -800.0 + math.log((1 + math.exp(-100.0)) / 2), abs=1e-9
        )
        assert torch.isfinite(dq).all()
        assert dq[0, 0].item() == pytest.approx(-1 / (1 + math.exp(-100.0)), rel=1e-9)


def sample(e=2, m=15, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.standard_normal((e, m, d)))
    y = torch.as_tensor(np.where(rng.random((e, m)) < 0.2, -1.0, 1.0))
    return x, y


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("depth", [2, 3])
def test_gradient_matches_finite_differences(loss, depth):
    """∂L/∂θ from loss_terms + the hand-written backward pass, against central differences."""
    net = ReLUNet(d=3, width=6, depth=depth, bias=True)
    params = net.init_params([0, 1])
    x, y = sample()

    def full_loss(ps):
        return loss_value(y * net.forward(ps, x)[0], loss)

    out, cache = net.forward(params, x)
    log_l, dq = loss_terms(y * out, loss)
    grads = net.vjp(params, cache, y * dq * torch.exp(log_l)[:, None])
    rng = np.random.default_rng(1)
    h = 1e-6
    for k, p in enumerate(params):
        for _ in range(4):
            idx = tuple(int(rng.integers(s)) for s in p.shape[1:])
            for e in range(2):
                plus = [q.clone() for q in params]
                minus = [q.clone() for q in params]
                plus[k][(e, *idx)] += h
                minus[k][(e, *idx)] -= h
                fd = (full_loss(plus)[e] - full_loss(minus)[e]).item() / (2 * h)
                assert grads[k][(e, *idx)].item() == pytest.approx(fd, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(("rule", "lr"), [("constant", 0.2), ("normalised", 0.2), ("kernel", 1.5)])
def test_batched_training_equals_separate_runs(rule, lr):
    net = ReLUNet(d=5, width=20, depth=2)
    seeds = [0, 1, 2]
    x, y = sample(e=3, m=12, d=5)
    cfg = TrainConfig(step_rule=rule, lr=lr, max_steps=400, loss_tol=0.05)
    together = train(net, net.init_params(seeds), x, y, cfg)
    assert len(set(together.steps.tolist())) > 1, "networks should stop at different steps"
    for e, s in enumerate(seeds):
        alone = train(net, net.init_params([s]), x[e : e + 1], y[e : e + 1], cfg)
        assert together.steps[e] == alone.steps[0]
        assert together.stop_reason[e] == alone.stop_reason[0]
        for a, b in zip(together.params, alone.params, strict=True):
            torch.testing.assert_close(a[e], b[0], rtol=1e-12, atol=1e-13)
        for key in HISTORY_KEYS:
            np.testing.assert_allclose(together.history[e][key], alone.history[0][key], rtol=1e-10)


@pytest.mark.parametrize("method", ["gd", "convex"])
def test_experiment_is_the_same_whatever_the_block_size(method):
    cfg = RunConfig(dist="gaussian", d=10, m=20, width=30, steps=300, method=method)
    a = run_experiment(cfg, [0, 1, 2, 3], block=4)
    b = run_experiment(cfg, [0, 1, 2, 3], block=1)
    for ra, rb in zip(a.records, b.records, strict=True):
        assert ra.steps == rb.steps and ra.stop_reason == rb.stop_reason
        assert ra.clean_error == rb.clean_error
        assert ra.min_margin == pytest.approx(rb.min_margin, rel=1e-10)


def test_sphere_high_dimension_interpolates_noisy_labels_with_defaults():
    cfg = RunConfig(dist="sphere", d=200, m=40, p=0.2, width=100, method="gd")
    exp = run_experiment(cfg, [0, 1, 2])
    assert sum(r.flips for r in exp.records) > 0
    for r in exp.records:
        assert r.train_error == 0 and r.interpolated
        assert r.stop_reason == ("certified" if r.certified else "loss_tol")
        assert r.loss <= cfg.loss_tol
        assert r.min_margin > 0 and r.normalised_margin > 0


def test_stop_reasons():
    net = ReLUNet(d=3, width=10)
    x, y = sample(e=2, m=10, d=3)
    params = net.init_params([0, 1])
    res = train(net, params, x, y, TrainConfig(max_steps=3, loss_tol=1e-9))
    assert res.stop_reason == ["step_budget"] * 2 and res.steps.tolist() == [3, 3]
    res = train(net, params, x, y, TrainConfig(max_seconds=1e-9, loss_tol=1e-9))
    assert res.stop_reason == ["time_budget"] * 2
    res = train(net, params, x, y, TrainConfig(loss="square", step_rule="constant", lr=1e3))
    assert res.stop_reason == ["diverged"] * 2
    assert not np.isfinite(res.loss).any()


def test_history_is_thinned_and_ends_at_the_final_state():
    net = ReLUNet(d=3, width=10)
    x, y = sample(e=1, m=10, d=3)
    res = train(net, net.init_params([0]), x, y, TrainConfig(max_steps=2000, loss_tol=1e-300))
    h = res.history[0]
    assert h["step"][0] == 0 and h["step"][-1] == res.steps[0] == 2000
    assert np.all(np.diff(h["step"]) > 0) and len(h["step"]) < 200
    assert h["loss"][-1] == pytest.approx(res.loss[0])
    assert h["min_margin"][-1] == pytest.approx(res.min_margin[0])
    # γ = min q / ‖θ‖², recomputed from the final parameters
    out = net.forward(res.params, x)[0]
    q_min = (y * out).min().item()
    norm2 = sum(float((p**2).sum()) for p in res.params)
    assert res.normalised_margin[0] == pytest.approx(q_min / norm2, rel=1e-10)


def test_normalised_rule_decreases_the_loss_monotonically():
    net = ReLUNet(d=3, width=10)
    x, y = sample(e=2, m=10, d=3)
    res = train(net, net.init_params([0, 1]), x, y, TrainConfig(max_steps=500, loss_tol=1e-12))
    for h in res.history:
        assert np.all(np.diff(h["loss"]) <= 0)


def test_a_dead_network_stops_with_zero_gradient():
    """All first-layer units inactive on every training point: ∇L = 0 exactly."""
    net = ReLUNet(d=3, width=4)
    x, y = sample(e=1, m=10, d=3)
    w, b, v = net.init_params([0])
    res = train(net, [w, torch.full_like(b, -1e3), v], x, y, TrainConfig(loss_tol=1e-9))
    assert res.stop_reason == ["zero_gradient"] and res.steps[0] == 0
    assert res.loss[0] == pytest.approx(math.log(2)) and res.train_error[0] == 1.0


@pytest.mark.parametrize("method", ["gd", "convex"])
def test_results_do_not_depend_on_the_thread_count(method):
    cfg = RunConfig(d=20, m=60, width=100, steps=300, method=method)
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with threadpool_limits(1):
            one = run_experiment(cfg, [0, 1])
        torch.set_num_threads(2)
        with threadpool_limits(2):
            two = run_experiment(cfg, [0, 1])
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one.params, two.params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-14)
    assert [r.steps for r in one.records] == [r.steps for r in two.records]


def test_training_stops_on_the_certificate():
    """All labels +1: normalised GD is certified quickly; it stops as `certified` at a check
    step, with the checked certificates in its history."""
    from benign.certificate import Tolerances, certify

    net = ReLUNet(d=1, width=2)
    x = torch.tensor([[[0.2], [0.5], [0.7], [1.0]]], dtype=torch.float64).expand(2, 4, 1)
    y = torch.ones(2, 4, dtype=torch.float64)
    w, b, v = net.init_params([0, 1])
    cfg = TrainConfig(loss="exponential", loss_tol=1e-300, certify_every=5, max_steps=5000)
    res = train(net, [w, b.abs(), v.abs()], x, y, cfg)
    assert res.stop_reason == ["certified"] * 2
    for e, h in enumerate(res.certificate_history):
        assert res.steps[e] % 5 == 0 and h["step"][-1] == res.steps[e]
        assert h["eps_rel"][-1] <= 0.05 and h["delta_rel"][-1] <= 0.05
        assert np.all(np.diff(h["step"]) == 5)
    final = certify(net, res.params, x, y)
    assert final.certified(Tolerances()).all()
    np.testing.assert_allclose(final.eps_rel, [h["eps_rel"][-1] for h in res.certificate_history])


def test_kernel_step_rule_is_lr_m_over_the_largest_eigenvalue():
    """One kernel-rule step equals one constant step of η·m/λ_max, λ_max of the Gram of the
    autograd Jacobians at initialisation (numpy's eigvalsh)."""
    net = ReLUNet(d=3, width=40, depth=3, param="ntk", init="he")
    x, y = sample(e=2, m=15, d=3)
    p0 = net.init_params([0, 1])
    kernel = train(net, p0, x, y, TrainConfig("square", "kernel", 0.7, 1, loss_tol=1e-9))
    for e in range(2):
        single = [p[e] for p in p0]

        def f(ps, e=e):
            return net.forward([p.unsqueeze(0) for p in ps], x[e : e + 1])[0][0]

        jac = torch.cat([j.reshape(15, -1) for j in torch.func.jacrev(f)(single)], dim=1)
        lam_max = np.linalg.eigvalsh((jac @ jac.T).numpy())[-1]
        lr = 0.7 * 15 / lam_max
        const = train(
            net,
            [p[e : e + 1] for p in p0],
            x[e : e + 1],
            y[e : e + 1],
            TrainConfig("square", "constant", lr, 1, loss_tol=1e-9),
        )
        for a, b in zip(kernel.params, const.params, strict=True):
            torch.testing.assert_close(a[e], b[0], rtol=1e-10, atol=1e-12)


def test_kernel_step_rule_is_stable_below_two_and_catapults_above_when_lazy():
    """Very lazy nets (ntk parametrisation, init scale 4, width 512, centred) under the square
    loss: the top kernel direction contracts by |1 − η| per step. η = 1.9: the loss falls at
    every one of the first 10 steps and the kernel stays put; η = 2.2: the top direction grows
    by 1.2 a step, the loss rises for 10 steps, and the net leaves the lazy regime (the
    catapult: its kernel moves until its top eigenvalue allows η)."""
    net = ReLUNet(d=4, width=512, depth=2, param="ntk", init="ntk", init_scale=4.0)
    x, y = sample(e=1, m=10, d=4)
    p0 = net.init_params([3])
    offset = net.forward(p0, x)[0]

    def run(lr):
        cfg = TrainConfig("square", "kernel", lr, 3000, loss_tol=1e-8)
        return train(net, p0, x, y, cfg, offset=offset).history[0]

    stable, catapult = run(1.9), run(2.2)
    assert np.all(np.diff(stable["loss"][:11]) < 0) and stable["kernel_move"][-1] < 0.02
    assert np.all(np.diff(catapult["loss"][:11]) > 0)
    assert catapult["kernel_move"][-1] > 5 * stable["kernel_move"][-1]


def test_history_keeps_the_kernel_movement_at_powers_of_two_and_the_stop():
    net = ReLUNet(d=3, width=16, depth=2)
    x, y = sample(e=2, m=10, d=3)
    res = train(net, net.init_params([0, 1]), x, y, TrainConfig("square", "constant", 1e-3, 300))
    for h in res.history:
        assert h["step"][-1] == 300
        kept = h["step"][np.isfinite(h["kernel_move"])].astype(int).tolist()
        assert kept == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
        assert np.isfinite(h["param_move"]).all() and np.isfinite(h["pattern_flips"]).all()


def test_networks_out_of_floating_point_range_stop_alone():
    """One network scaled to underflow, one to overflow, one ordinary, in one ensemble: the
    first two stop at step 0 with their own reason; the third trains exactly as it does alone;
    a run whose every network overflows is recorded as failed, its measures NaN, no error."""
    net = ReLUNet(3, 12, depth=10, bias=False)  # a bias would keep every layer's signal alive
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.standard_normal((3, 8, 3)))
    y = torch.as_tensor(np.where(rng.random((3, 8)) < 0.5, -1.0, 1.0))
    params = net.init_params([0, 1, 2])
    scale = torch.tensor([1e-40, 1e40, 1.0], dtype=torch.float64)  # ^10: 1e-400, 1e400
    params = [p * scale.view(-1, *[1] * (p.dim() - 1)) for p in params]
    cfg = TrainConfig(max_steps=200, loss_tol=1e-9)
    res = train(net, params, x, y, cfg)
    assert res.stop_reason[:2] == ["underflow", "overflow"] and res.steps[:2].tolist() == [0, 0]
    alone = train(net, [p[2:] for p in params], x[2:], y[2:], cfg)
    assert res.stop_reason[2] == alone.stop_reason[0] not in ("underflow", "overflow")
    for p, q in zip(res.params, alone.params, strict=True):
        assert torch.equal(p[2:], q)
    config = RunConfig(d=3, m=8, width=12, init_scale=1e300, method="gd", steps=20)
    exp = run_experiment(config, [0, 1])
    assert [r.failure for r in exp.records] == ["overflow", "overflow"]
    assert all(math.isnan(r.ntk_min) for r in exp.records)
