"""The minimum-norm interpolant in d = 1 against closed forms and an independent dense LP; the
1-D default end to end; the convex route in any dimension."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from benign.certificate import Tolerances, certify
from benign.config import RunConfig
from benign.lp import min_norm_interpolant
from benign.methods import solve_convex
from benign.nets import ReLUNet, margins
from benign.run import run_experiment


def as_params(sol):
    return [
        torch.as_tensor(sol.w)[None],
        torch.as_tensor(sol.b)[None],
        torch.as_tensor(sol.v)[None, None],
    ]


def fine_dictionary_lp(x, y, per_gap):
    """min Σ|c_j| over a dense dictionary, solved by scipy's HiGHS with no code of benign.lp:
    unit directions whose kinks lie on ``per_gap`` + 1 equispaced points of every gap between
    sorted samples (both orientations), and directions active on every sample at 0.01° steps.
    An upper bound on the exact optimum; with kink spacing δ its excess is at most δ²/8 per
    unit of weight (√(1 + t²) has curvature ≤ 1), so within δ²/8 relative of it."""
    xs = np.sort(x[:, 0])
    kinks = np.unique(
        np.concatenate([np.linspace(a, b, per_gap + 1) for a, b in itertools.pairwise(xs)])
    )
    up = np.stack([np.ones_like(kinks), -kinks], 1) / np.sqrt(1 + kinks**2)[:, None]
    phi = np.deg2rad(np.arange(0.0, 360.0, 0.01))
    arc = np.stack([np.cos(phi), np.sin(phi)], 1)
    arc = arc[(arc @ [xs[0], 1.0] >= 0) & (arc @ [xs[-1], 1.0] >= 0)]
    u = np.concatenate([up, -up, arc])
    feats = y[:, None] * np.maximum(np.c_[x[:, 0], np.ones(len(x))] @ u.T, 0.0)
    res = linprog(
        np.ones(2 * len(u)), A_ub=-np.hstack([feats, -feats]), b_ub=-np.ones(len(x)), method="highs"
    )
    assert res.status == 0
    return res.fun, float(np.diff(xs).max() / per_gap)


def test_v_shape_closed_form():
    """x = −1, 0, 1 with labels +1, −1, +1: min Σ|c_j| = 5 by N(x) = 2 relu(x) + 2 relu(−x) − 1,
    with LP dual λ = (1, 3, 1) (the derivation is in docs/science.md)."""
    x, y = np.array([[-1.0], [0.0], [1.0]]), np.array([1.0, -1.0, 1.0])
    sol = min_norm_interpolant(x, y, width=6)
    assert sol.ok and sol.reason == "lp_optimal" and sol.active == 3
    assert sol.norm_sq == pytest.approx(10.0, rel=1e-9)
    grid = np.linspace(-1, 1, 101)
    n = np.maximum(np.outer(grid, sol.w[:, 0]) + sol.b, 0) @ sol.v
    np.testing.assert_allclose(n, 2 * np.abs(grid) - 1, atol=1e-9)
    np.testing.assert_allclose(sol.multipliers, [1.0, 3.0, 1.0], atol=1e-9)


def test_all_positive_labels_give_the_svm_direction():
    """f* ≡ +1 with no flips on [0.2, 1]: one neuron along z* = (0.2, 1), the point of
    {(x_i, 1)} nearest the origin, so min Σ|c_j| = 1/‖z*‖ — exactly, with no arc grid."""
    x = np.array([[0.2], [0.5], [0.7], [1.0]])
    sol = min_norm_interpolant(x, np.ones(4), width=3)
    assert sol.active == 1 and sol.reason == "lp_optimal"
    assert sol.norm_sq / 2 == pytest.approx(1 / math.hypot(0.2, 1.0), rel=1e-9)
    assert sol.w[0, 0] / sol.b[0] == pytest.approx(0.2, rel=1e-9)


@pytest.mark.parametrize(
    ("seed", "m", "p"),
    [(0, 8, 0.3), (1, 10, 0.2), (2, 12, 0.4), pytest.param(3, 12, 0.1, marks=pytest.mark.slow)],
)
def test_norm_equals_a_dense_dictionary_lp(seed, m, p):
    """The network's certified dual bound lies below the dense dictionary's optimum, and the
    network within that LP's discretisation bound δ²/8 (relative) of it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (m, 1))
    y = np.where(rng.random(m) < p, -1.0, 1.0)
    y[0] = -y[1] if (y == 1).all() else y[0]
    sol = min_norm_interpolant(x, y, width=4 * m)
    assert sol.reason == "lp_optimal" and 0 <= sol.gap < 1e-6
    fine, delta = fine_dictionary_lp(x, y, per_gap=400)
    exact = sol.norm_sq / 2
    # the dual bound ½‖θ‖²(1 − gap) lies below every interpolant's norm, the dense LP's too
    assert exact * (1 - sol.gap) <= fine * (1 + 1e-12)
    assert exact >= fine * (1 - delta**2 / 8 - 1e-9)


def test_kinks_between_data_points_lower_the_norm():
    """Two neighbouring same-sign kinks cost more than one between them (√(1 + t²) is strictly
    convex): on this sample the data-point kinks alone are measurably above the optimum."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 3, (12, 1))  # far from 0, where √(1 + t²) bends most
    y = np.where(rng.random(12) < 0.3, -1.0, 1.0)
    sol = min_norm_interpolant(x, y, width=48)
    coarse, _ = fine_dictionary_lp(x, y, per_gap=1)
    assert coarse > sol.norm_sq / 2 * (1 + 1e-7)
    kinks = -sol.b / sol.w[:, 0]
    xs = np.sort(x[:, 0])
    off_data = np.min(np.abs(kinks[sol.v != 0][:, None] - xs[None]), axis=1) > 1e-9
    assert off_data.any()


@pytest.mark.parametrize("seed", range(3))
def test_random_noisy_samples(seed):
    rng = np.random.default_rng(seed)
    m = 40
    x = rng.uniform(0, 1, (m, 1))
    y = np.where(rng.random(m) < 0.2, -1.0, 1.0)
    sol = min_norm_interpolant(x, y, width=m)
    assert sol.ok and sol.active <= m
    w, b, v = sol.w[:, 0], sol.b, sol.v
    # balanced neurons: |v_j| = ‖(w_j, b_j)‖, so ‖θ‖² = 2 Σ_j |c_j|
    np.testing.assert_allclose(np.abs(v), np.hypot(w, b), rtol=1e-12, atol=1e-15)
    assert sol.norm_sq == pytest.approx(float((w**2 + b**2 + v**2).sum()), rel=1e-12)
    q = y * (np.maximum(np.outer(x[:, 0], w) + b, 0) @ v)
    assert q.min() == pytest.approx(1.0, abs=1e-12)
    # complementary slackness: multipliers only on margins within 1e-6 of 1
    lam = sol.multipliers
    assert (lam >= 0).all() and np.all(lam[q > 1 + 1e-6] < 1e-9 * lam.max())
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
    sol = min_norm_interpolant(x, y, width=2)
    assert not sol.ok and sol.reason == "width_too_small" and sol.active > 2


def test_equal_inputs_with_opposite_labels_are_infeasible():
    x = np.array([[0.1], [0.5], [0.5], [0.9]])
    sol = min_norm_interpolant(x, np.array([1.0, 1.0, -1.0, 1.0]), width=8)
    assert not sol.ok and sol.reason == "infeasible" and np.isnan(sol.norm_sq)


def test_time_budget_is_honoured():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (200, 1))
    y = np.where(rng.random(200) < 0.2, -1.0, 1.0)
    sol = min_norm_interpolant(x, y, width=400, max_seconds=0.0)
    assert not sol.ok and sol.reason == "time_budget" and sol.rounds == 0


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


# ----- the convex route in any dimension ------------------------------------------------------

from benign.convex import (  # noqa: E402
    RowSpace,
    gate_neurons,
    margin_kkt,
    network_neurons,
    seed_blocks,
    solve_patterns,
)
from benign.data import Distribution, noisy_sample  # noqa: E402
from benign.seeding import rng_for  # noqa: E402


def gate_blocks(x, y, bias, gates, seed):
    a = RowSpace.of(x, bias).a
    return seed_blocks(a, y, *gate_neurons(a.shape[1], gates, rng_for(seed, "gates")))


def network_blocks(x, y, w, b, v):
    rs = RowSpace.of(x, b is not None)
    return seed_blocks(rs.a, y, *network_neurons(rs, w, b, v))


def two_layer_params(sol, bias=True):
    w, v = torch.as_tensor(sol.w)[None], torch.as_tensor(sol.v)[None, None]
    return [w, torch.as_tensor(sol.b)[None], v] if bias else [w, v]


def all_cells(a: np.ndarray, samples: int = 200_000) -> np.ndarray:
    """Every activation pattern 1[A g > 0] of the arrangement, found by brute force: the
    patterns of many random directions g (for m ≤ 10 in R^3 every cell is hit)."""
    g = np.random.default_rng(1).standard_normal((a.shape[1], samples))
    return np.unique((a @ g > 0).T, axis=0)


def test_small_sample_reaches_the_global_minimum_over_all_patterns():
    """d = 2, m = 8 with flips: the program over every cell of the arrangement (both signs)
    gives the global minimum-norm interpolant; the method from random gates reaches its norm,
    and its network is certified."""
    s = noisy_sample(Distribution("sphere", 2), 8, 0.3, rng_for(3, "data"))
    assert s.flips > 0
    a = RowSpace.of(s.x, True).a
    cells = all_cells(a)
    pats = np.vstack([cells, cells])
    signs = np.r_[np.ones(len(cells)), -np.ones(len(cells))]
    best = solve_patterns(a, s.y, pats, signs)
    assert best.status == "optimal"
    pats, signs = gate_blocks(s.x, s.y, True, 256, 3)
    sol = margin_kkt(s.x, s.y, True, 40, pats, signs)
    assert sol.ok
    # the polished network keeps the optimum's accuracy (the solver's tolerance is 1e-10)
    assert sol.norm_sq / 2 == pytest.approx(best.objective, rel=1e-8)
    net = ReLUNet(2, 40)
    x, y = torch.as_tensor(s.x)[None], torch.as_tensor(s.y)[None]
    cert = certify(net, two_layer_params(sol), x, y)
    assert cert.certified(Tolerances())[0]
    assert cert.eps_rel[0] < 1e-3


def test_known_kkt_point_is_returned_unchanged():
    """The V-shaped KKT point N(x) = 2 relu(x) + 2 relu(−x) − 1 of x = −1, 0, 1 (labels +, −, +)
    seeds the program with its own patterns: the same function and norm come back."""
    x, y = np.array([[-1.0], [0.0], [1.0]]), np.array([1.0, -1.0, 1.0])
    r2 = math.sqrt(2.0)
    w, b, v = np.array([[r2], [-r2], [0.0]]), np.array([0.0, 0.0, 1.0]), np.array([r2, r2, -1.0])
    pats, signs = network_blocks(x, y, w, b, v)
    sol = margin_kkt(x, y, True, 6, pats, signs)
    assert sol.reason == "kkt" and sol.active == 3
    assert sol.norm_sq == pytest.approx(10.0, rel=1e-7)
    grid = np.linspace(-1, 1, 41)[:, None]
    f = np.maximum(grid @ sol.w.T + sol.b, 0) @ sol.v
    np.testing.assert_allclose(f, 2 * np.abs(grid[:, 0]) - 1, atol=1e-6)
    np.testing.assert_allclose(sol.multipliers, [1.0, 3.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("d", [5, 60])
def test_networks_interpolate_are_balanced_and_certified(d, bias):
    s = noisy_sample(Distribution("sphere", d), 30, 0.2, rng_for(0, "data"))
    pats, signs = gate_blocks(s.x, s.y, bias, 64, 0)
    sol = margin_kkt(s.x, s.y, bias, 60, pats, signs, target=5e-3)
    assert sol.ok
    z = s.x @ sol.w.T + (sol.b if bias else 0.0)
    q = s.y * (np.maximum(z, 0) @ sol.v)
    assert q.min() == pytest.approx(1.0, abs=1e-9)
    size = np.sqrt((sol.w**2).sum(1) + (sol.b**2 if bias else 0.0))
    np.testing.assert_allclose(np.abs(sol.v), size, rtol=1e-9, atol=1e-12)
    assert (size > 0).sum() == sol.active
    net = ReLUNet(d, 60, bias=bias)
    cert = certify(
        net,
        two_layer_params(sol, bias),
        torch.as_tensor(s.x)[None],
        torch.as_tensor(s.y)[None],
        hint=[sol.multipliers],
    )
    assert cert.certified(Tolerances())[0]
    # ½‖θ‖² = Σ_j |v_j|‖(w_j, b_j)‖, the program's objective
    assert sol.norm_sq / 2 == pytest.approx(float(np.abs(sol.v) @ size), rel=1e-9)


def test_infeasible_pool_and_too_narrow_net_are_named():
    x = np.array([[-1.0], [0.0], [1.0]])
    y = np.array([1.0, -1.0, 1.0])
    # one positive block cannot give the middle point a negative output
    sol = margin_kkt(x, y, True, 6, np.ones((1, 3), dtype=bool), np.ones(1))
    assert sol.reason == "infeasible" and not sol.ok
    r2 = math.sqrt(2.0)
    w, b, v = np.array([[r2], [-r2], [0.0]]), np.array([0.0, 0.0, 1.0]), np.array([r2, r2, -1.0])
    pats, signs = network_blocks(x, y, w, b, v)
    sol = margin_kkt(x, y, True, 2, pats, signs)  # three neurons needed
    assert sol.reason == "width_too_small" and sol.active == 3


def test_run_records_failures_per_network_and_certifies_the_rest():
    """width 1 cannot interpolate noisy labels: every network fails with its reason, none
    crashes the block; with room, every network is certified."""
    base = dict(dist="sphere", d=40, m=20, p=0.3)
    exp = run_experiment(RunConfig(**base, width=1, method="convex"), [0, 1])
    for r in exp.records:
        assert r.failure in ("width_too_small", "infeasible") and math.isnan(r.clean_error)
    cfg = RunConfig(**base, width=40)
    assert cfg.resolved_method == "convex"
    exp = run_experiment(cfg, [0, 1])
    for r in exp.records:
        assert r.failure is None and r.certified and r.seeded == "gates 64" and r.rounds >= 1


def test_solver_failure_is_a_stop_reason(monkeypatch):
    import benign.convex as convex

    real, first = convex.solve_patterns, []

    def flaky(a, y, patterns, signs):
        sol = real(a, y, patterns, signs)
        if not first:
            first.append(a)
        if a.shape == first[0].shape and np.array_equal(a, first[0]):  # the first sample's
            sol.status = "solver_failed"  # every program fails, reseeded or not
        return sol

    monkeypatch.setattr(convex, "solve_patterns", flaky)
    cfg = RunConfig(dist="sphere", d=30, m=12, p=0.2, width=30, method="convex")
    records = run_experiment(cfg, [0, 1, 2, 3]).records
    failed = [r for r in records if r.failure == "solver_failed"]
    assert [r.seed for r in failed] == [0]
    assert all(r.certified for r in records if r.failure is None)


def test_gd_plus_convex_records_both_networks():
    cfg = RunConfig(dist="sphere", d=50, m=20, p=0.2, width=40, method="gd+convex", steps=3000)
    exp = run_experiment(cfg, [0, 1])
    for r, hist in zip(exp.records, exp.histories, strict=True):
        assert r.seeded == "gd" and r.certified and r.gd_steps > 0
        assert r.gd_stop_reason in ("loss_tol", "certified", "step_budget")
        assert 0 <= r.gd_clean_error <= 1 and r.gd_eps_rel > 0
        assert hist["step"][-1] == r.gd_steps == r.steps  # gradient descent's history is kept


def test_polish_puts_kinks_on_points_and_support_margins_at_one():
    """The V-shaped KKT point (x = −1, 0, 1; labels +, −, +) with its neurons moved by ~1e-7
    (kinks within KINK_SNAP of x = 0): the polish moves them back by that much, with the kinks
    exactly at x = 0 and every margin exactly 1 (all three points carry multipliers), measured
    on the network itself."""
    from benign.convex import _polish

    x, y = np.array([[-1.0], [0.0], [1.0]]), np.array([1.0, -1.0, 1.0])
    a = RowSpace.of(x, True).a
    rs = RowSpace.of(x, True)
    exact = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0]]) @ rs.v  # u_j = |v_j|(w_j, b_j)
    signs = np.array([1.0, 1.0, -1.0])
    noisy = exact + 1e-7 * np.random.default_rng(0).standard_normal(exact.shape)

    def margins_and_kinks(us):
        z = np.c_[x, np.ones(3)] @ (us @ rs.v.T).T
        return y * (np.maximum(z, 0) @ signs), z[1, :2]

    q, kinks = margins_and_kinks(noisy)
    assert np.abs(q - 1).max() > 1e-8 and np.abs(kinks).max() > 1e-8  # visible
    polished = _polish(a, y, noisy, signs, np.array([1.0, 3.0, 1.0]))
    assert polished is not None
    q, kinks = margins_and_kinks(polished)
    np.testing.assert_allclose(q, 1.0, atol=1e-12)
    np.testing.assert_allclose(kinks, 0.0, atol=1e-12)
    assert np.abs(polished - noisy).max() < 1e-6


def test_recorded_networks_are_exact_kkt_points():
    """Whatever the search's stop, the recorded networks' support margins sit at 1 (to 1e-9,
    measured on the network with the program's multipliers) and every network recorded
    ``kkt`` has ε_rel, δ_rel ≤ 1e-3 by the certificate's own multipliers."""
    for d, bias in ((2, True), (5, True), (20, False)):
        cfg = RunConfig(dist="sphere", d=d, m=40, p=0.2, width=100, method="convex", bias=bias)
        seeds = [0, 1, 2]
        samples = [cfg.sample(s) for s in seeds]
        x = torch.as_tensor(np.stack([s.x for s in samples]))
        y = torch.as_tensor(np.stack([s.y for s in samples]))
        res, lams, _, _ = solve_convex(cfg, seeds, samples, x, y)
        q = margins(ReLUNet.of(cfg).forward(res.params, x)[0], y).numpy()
        for e, lam in enumerate(lams):
            sup = lam > 1e-6 * lam.max()
            assert np.abs(q[e, sup] - 1).max() < 1e-9 and q[e].min() > 1 - 1e-9
        for r in run_experiment(cfg, seeds).records:
            assert r.stop_reason != "kkt" or max(r.eps_rel, r.delta_rel) <= 1e-3


def test_kkt_is_said_only_of_a_network_that_is_one(monkeypatch):
    """A search told that its first program is a KKT point (the implied ε_rel forced to 0)
    stops there with ``kkt``; the run records ``inexact`` wherever the network it built is
    not one by its own certificate, ``kkt`` elsewhere."""
    import benign.convex as convex

    real = convex.implied_certificate

    def fooled(*args):
        return convex.Implied(0.0, real(*args).toggles)

    monkeypatch.setattr(convex, "implied_certificate", fooled)
    cfg = RunConfig(dist="sphere", d=3, m=30, p=0.3, width=100, method="convex")
    records = run_experiment(cfg, [0, 1, 2, 3]).records
    assert all(r.rounds == 1 for r in records)
    exact = [max(r.eps_rel, r.delta_rel) <= 1e-3 for r in records]
    assert [r.stop_reason for r in records] == ["kkt" if ok else "inexact" for ok in exact]
    assert not all(exact)


def test_a_network_that_does_not_interpolate_is_a_failure(monkeypatch):
    """Built neurons with their output signs reversed cannot interpolate: the stop is
    ``no_interpolation``, a failure with no measures, and the other networks go on."""
    import benign.convex as convex

    real, calls = convex._neurons, []

    def reversed_first(*args):
        us, signs = real(*args)
        calls.append(1)
        return (us, -signs) if len(calls) == 1 else (us, signs)

    monkeypatch.setattr(convex, "_neurons", reversed_first)
    monkeypatch.setattr("benign.convex.RESEEDS", 0)
    cfg = RunConfig(dist="sphere", d=20, m=20, p=0.2, width=40, method="convex")
    first, second = run_experiment(cfg, [0, 1]).records
    assert first.stop_reason == first.failure == "no_interpolation"
    assert math.isnan(first.clean_error) and not first.certified
    assert second.failure is None and second.certified


def test_low_dimensions_reach_exact_kkt_points():
    """d = 2 with bias (r = 3, few and narrow cells), m = 50, p = 0.2: the search crosses the
    nearest walls when no flip is left, so most networks are KKT points to 1e-3 by the
    certificate's own multipliers (7 of these 8; crossing only the flips the multipliers ask
    for, 2 were)."""
    cfg = RunConfig(dist="sphere", d=2, m=50, p=0.2, width=100, method="convex")
    records = run_experiment(cfg, list(range(8))).records
    exact = [r.certified and max(r.eps_rel, r.delta_rel) <= 1e-3 for r in records]
    assert sum(exact) >= 6


def test_the_convex_network_does_not_depend_on_the_blas_threads():
    """The search's path depends on rounding (d = 500, m = 50, p = 0.1, seed 1 took 4 programs
    with two BLAS threads and 7 with one): the solvers run their NumPy steps on one thread, so
    the same config and seed give the same network whatever pools the caller has."""
    from threadpoolctl import threadpool_limits

    cfg = RunConfig(dist="sphere", d=500, m=50, p=0.1, width=100, method="convex")
    runs = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            exp = run_experiment(cfg, [1])
        runs.append((exp.records[0].rounds, [p.numpy().copy() for p in exp.params]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_reaches_the_caller_while_a_solve_runs():
    """Clarabel's solve is one call: interruptible waits on it in slices, so SIGINT raises in
    the caller while the solve is still running (here one that waits for ever)."""
    import signal
    import threading

    from benign.convex import interruptible

    started, release = threading.Event(), threading.Event()

    def solve():
        started.set()
        release.wait()  # releases the GIL, as Clarabel's solve does
        return "finished"

    def interrupt():
        started.wait()
        signal.raise_signal(signal.SIGINT)

    threading.Thread(target=interrupt).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            interruptible(solve)
        assert not release.is_set()  # the solve had not ended
    finally:
        release.set()
    assert interruptible(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        interruptible(lambda: 1 / 0)


def test_gd_plus_convex_says_when_it_did_not_start_from_gd():
    """Gradient descent stopped after 20 steps has not interpolated noisy 1-D data: the
    program is seeded by gates, and the record says why instead of reading as plain convex."""
    cfg = RunConfig(dist="interval", d=1, m=12, p=0.3, width=40, method="gd+convex", steps=20)
    records = run_experiment(cfg, [0]).records
    (r,) = records
    assert r.gd_stop_reason == "step_budget" and r.gd_normalised_margin <= 0
    assert r.seeded.startswith("gates ") and r.seeded.endswith("(gd did not interpolate)")
