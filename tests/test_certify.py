"""The KKT certificate against KKT points constructed by hand."""

import importlib
import math

import numpy as np
import pytest
import torch

from benign.certificate import Tolerances, certify
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
    from benign.training import TrainConfig, train

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
    """The Clarke column of a kinked pair (i, j), coef · (x_i, 1) in unit j's (w_j, b_j)
    coordinates, is the jump of y_i ∂f(x_i)/∂θ as unit j's pre-activation at x_i crosses 0,
    measured with the Jacobian on both sides."""
    from benign.certificate import _kinked_pairs, jacobian

    net = ReLUNet(d=1, width=4, depth=2, bias=True, param=param)
    (w, b, v), x, y = v_shape_kkt()
    gain = net.scale(1) * net.scale(2)
    _, owner, neuron, _, coef = _kinked_pairs(
        w[0].numpy(), b[0].numpy(), v[0, 0].numpy(), x[0].numpy(), y[0].numpy(), 1e-7, gain
    )
    assert sorted(neuron.tolist()) == [0, 1] and owner.tolist() == [1, 1]
    for i, j, c in zip(owner, neuron, coef, strict=True):
        hi, lo = b.clone(), b.clone()
        hi[0, j] += 1e-9
        lo[0, j] -= 1e-9
        jump = (jacobian(net, [w, hi, v], x) - jacobian(net, [w, lo, v], x))[0, i] * y[0, i]
        col = np.zeros(12)  # (W, b, v) of 4 units, d = 1
        col[j], col[4 + j] = c * x[0, i, 0].item(), c
        np.testing.assert_allclose(jump.numpy(), col, atol=1e-6)


# --- the row-space computation against independent full-space ones ---------------------------


def full_space_problem(w, b, v, x, y, kink_tol=1e-7):
    """Independently of benign.certificate: t = θ/‖θ‖ (W, b, v flattened) with a last 0 for the δ
    row; the columns y_i ∂N(x_i)/‖θ‖ with the activation pattern 1[z > 0] frozen off the kinks
    (and relu'(0) = 0 on them), from torch.func; the Clarke columns of the kinked pairs
    (same rule as certify); all of one net (w (n, d), b (n,) or None, v (n,))."""
    n, d = w.shape
    bias = torch.zeros(n, dtype=w.dtype) if b is None else b
    z = x @ w.T + bias
    size = torch.sqrt((w**2).sum(1) + bias**2)[None, :] * torch.sqrt(1 + (x**2).sum(1))[:, None]
    kinked = (z.abs() <= kink_tol * size) & (v != 0)[None, :] & (size > 0)
    mask = ((z > 0) & ~kinked).double()
    owner, neuron = torch.nonzero(kinked, as_tuple=True)

    def unpack(theta):
        w_ = theta[: n * d].reshape(n, d)
        b_ = theta[n * d : n * d + n] if b is not None else torch.zeros(n, dtype=w.dtype)
        return w_, b_, theta[-n:]

    def frozen(theta):  # N(x_i) with σ' frozen: Σ_j v_j mask_ij z_ij
        w_, b_, v_ = unpack(theta)
        return ((x @ w_.T + b_) * mask) @ v_

    def kink_terms(theta):  # v_j z_ij on the kinked pairs, v held fixed
        w_, b_, _ = unpack(theta)
        return v[neuron] * ((x[owner] * w_[neuron]).sum(1) + b_[neuron])

    parts = [w.reshape(-1)] + ([] if b is None else [b]) + [v]
    theta = torch.cat(parts)
    norm = theta.norm()
    q = y * (torch.relu(z) @ v)
    q_t, c = q / q.min(), q.min() ** -0.5
    jac = torch.func.jacrev(frozen)(theta)  # (m, P)
    a = torch.vstack([(jac * y[:, None]).T / norm, ((q_t - 1) / (c * norm) ** 2)[None, :]])
    kcols = torch.func.jacrev(kink_terms)(theta) if len(owner) else torch.zeros(0, len(theta))
    kcols = torch.vstack([(kcols * y[owner][:, None]).T / norm, torch.zeros(1, len(owner))])
    t_vec = torch.cat([theta / norm, torch.zeros(1, dtype=theta.dtype)])
    return a.numpy(), kcols.numpy(), owner.numpy(), t_vec.numpy(), q_t.numpy(), (c * norm).item()


def random_net(d, m, n, bias, seed, kinks_per_neuron=0):
    """Random net with positive output weights on gaussian data, labels +1; optionally each
    neuron's (w_j, b_j) projected onto the orthogonal complement of a few (x_i, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, d)) / math.sqrt(d)
    x[:, 0] = np.abs(x[:, 0]) + 1.0  # so that the margins are positive
    u = rng.standard_normal((n, d + bias)) / math.sqrt(d)
    u[:, 0] += 1.0  # most points active for most neurons
    if bias:
        u[:, -1] = np.abs(u[:, -1]) + 0.5
    xt = np.c_[x, np.ones(m)] if bias else x
    for j in range(n):
        if kinks_per_neuron:
            idx = rng.choice(m, kinks_per_neuron, replace=False)
            q = np.linalg.qr(xt[idx].T)[0]
            u[j] -= q @ (q.T @ u[j])
    v = np.abs(rng.standard_normal(n)) + 0.1
    w, b = u[:, :d], (u[:, d] if bias else None)
    net = ReLUNet(d=d, width=n, depth=2, bias=bias)
    assert (np.maximum(xt @ u.T, 0) @ v).min() > 0
    params = [torch.as_tensor(w[None])] + ([torch.as_tensor(b[None])] if bias else [])
    params.append(torch.as_tensor(v[None, None]))
    return net, params, torch.as_tensor(x[None]), torch.ones(1, m, dtype=torch.float64)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("d", "m", "n"), [(1, 30, 12), (3, 10, 6), (25, 8, 5), (40, 12, 9)])
def test_row_space_residual_matches_the_full_space_nnls(bias, d, m, n):
    """Without kinks, eps_rel = eps_fixed_rel = the full-space NNLS residual of the stacked
    (ε, δ) problem, and δ is that of its minimiser; d > m has perp ≠ 0 (the net's weights are
    not in the data's row space)."""
    from scipy.optimize import nnls

    net, params, x, y = random_net(d, m, n, bias, seed=d + m + n)
    w, b, v = params[0][0], (params[1][0] if bias else None), params[-1][0, 0]
    a, kcols, _, t_vec, q_t, _ = full_space_problem(w, b, v, x[0], y[0])
    assert kcols.shape[1] == 0
    lam = nnls(a, t_vec, maxiter=5000)[0]
    eps_ref = np.linalg.norm((t_vec - a @ lam)[:-1])
    cert = certify(net, params, x, y, multipliers=True)
    assert cert.kinks[0] == 0 and cert.eps_rel[0] == cert.eps_fixed_rel[0]
    assert cert.eps_rel[0] == pytest.approx(eps_ref, rel=1e-8)
    assert cert.delta[0] == pytest.approx(lam @ (q_t - 1), rel=1e-6, abs=1e-10)


def full_space_clarke(a, kcols, owner, t_vec):
    """min ‖t − Aλ − Bμ‖ over λ ≥ 0, 0 ≤ μ_k ≤ λ_owner(k), as a cone program over all P rows."""
    import clarabel
    import scipy.sparse as sp

    m, k = a.shape[1], kcols.shape[1]
    n_var = m + k + 1
    big = np.hstack([a, kcols])
    cons = np.zeros((m + 2 * k, n_var))
    cons[: m + k, : m + k] = -np.eye(m + k)
    for row, i in enumerate(owner):
        cons[m + k + row, m + row], cons[m + k + row, i] = 1.0, -1.0
    cone = np.zeros((1 + len(t_vec), n_var))
    cone[0, -1] = -1.0
    cone[1:, : m + k] = big
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-11
    sol = clarabel.DefaultSolver(
        sp.csc_matrix((n_var, n_var)),
        np.r_[np.zeros(m + k), 1.0],
        sp.csc_matrix(np.vstack([cons, cone])),
        np.r_[np.zeros(m + 2 * k), 0.0, t_vec],
        [clarabel.NonnegativeConeT(m + 2 * k), clarabel.SecondOrderConeT(len(t_vec) + 1)],
        settings,
    ).solve()
    z = np.asarray(sol.x)[: m + k]
    return float(np.linalg.norm(t_vec - big @ z))


@pytest.mark.parametrize(
    ("bias", "d", "m", "n", "per"),
    [
        *[(bias, *case) for bias in (True, False) for case in [(4, 10, 6, 2), (30, 12, 8, 3)]],
        (True, 1, 40, 15, 1),
    ],
)
def test_clarke_residual_matches_the_full_space_cone_program(bias, d, m, n, per):
    """Nets with `per` kinks per neuron exactly on training points: certify's optimum of
    ε_rel² + (δ/‖θ̃‖²)² equals the full-space cone program's (written here, over all P rows)."""
    net, params, x, y = random_net(d, m, n, bias, seed=7 * d + n, kinks_per_neuron=per)
    w, b, v = params[0][0], (params[1][0] if bias else None), params[-1][0, 0]
    a, kcols, owner, t_vec, _, scale2 = full_space_problem(w, b, v, x[0], y[0])
    ref = full_space_clarke(a, kcols, owner, t_vec)
    cert = certify(net, params, x, y)
    assert cert.kinks[0] == kcols.shape[1] >= n * per
    got = math.hypot(cert.eps_rel[0], cert.delta[0] / scale2**2)
    assert got == pytest.approx(ref, rel=1e-5, abs=1e-8)
    assert cert.eps_rel[0] <= cert.eps_fixed_rel[0] + 1e-12


def embedded_v_shape(dim, bias, perp=0.0):
    """The V-shape KKT point in R^dim: bias-free on inputs Q(x_i, 1) with neurons Q(w_j, b_j)
    (Q ∈ R^{dim×2} orthonormal), or with bias on inputs x_i q (q a unit vector) with neurons
    (w_j q, b_j): the same function, norm and Clarke multipliers (1, 3, 1). ``perp`` adds to
    neuron 3's weights a vector of that norm orthogonal to the data: margins unchanged."""
    (w, b, v), x, y = v_shape_kkt()
    rng = np.random.default_rng(dim)
    basis = np.linalg.qr(rng.standard_normal((dim, 3)))[0]
    if bias:
        q = basis[:, 0]
        xs, ws = x[0].numpy() * q, w[0].numpy() * q
        ws[2] += perp * basis[:, 1]
        net = ReLUNet(d=dim, width=4, depth=2, bias=True)
        params = [torch.as_tensor(ws[None]), b, v]
    else:
        q = basis[:, :2]
        xs = np.c_[x[0].numpy(), np.ones(3)] @ q.T
        ws = np.c_[w[0].numpy(), b[0].numpy()] @ q.T
        ws[2] += perp * basis[:, 2]
        net = ReLUNet(d=dim, width=4, depth=2, bias=False)
        params = [torch.as_tensor(ws[None]), v]
    return net, params, torch.as_tensor(xs[None]), y


@pytest.mark.parametrize("bias", [True, False])
def test_kkt_point_with_kinks_in_high_dimension(bias):
    net, params, x, y = embedded_v_shape(50, bias)
    cert = certify(net, params, x, y, multipliers=True)
    assert cert.kinks[0] == 2 and cert.eps_rel[0] < 1e-7 and cert.eps_fixed_rel[0] > 0.1
    assert cert.delta[0] == pytest.approx(0.0, abs=1e-7)
    np.testing.assert_allclose(cert.multipliers[0], [1.0, 3.0, 1.0], atol=1e-6)
    hinted = certify(net, params, x, y, multipliers=True, hint=[np.array([1.0, 3.0, 1.0])])
    assert hinted.eps_rel[0] < 1e-12
    np.testing.assert_allclose(hinted.multipliers[0], [1.0, 3.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_weights_outside_the_row_space_count_in_full(bias):
    """Adding p ⊥ span{x̃_i} to a neuron of the KKT point leaves the margins and the reduced
    problem as they were: ε_rel = ‖p‖/‖θ‖ exactly, δ = 0."""
    net, params, x, y = embedded_v_shape(50, bias, perp=0.3)
    cert = certify(net, params, x, y)
    norm = math.sqrt(sum(float((p**2).sum()) for p in params))
    assert cert.min_margin[0] == pytest.approx(1.0)
    assert cert.eps_rel[0] == pytest.approx(0.3 / norm, rel=1e-7)
    assert cert.delta[0] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("how", ["gram", "qr"])
def test_compressed_objective_is_the_explicit_residual(how):
    """‖t − Aλ − Bμ‖² of the compressed problem = ε_rel² + (δ/‖θ̃‖²)² from the explicit
    row-space formula, for arbitrary (λ, μ), by either reduction."""
    from benign.certificate import _Compressed, _TwoLayer

    _, params, x, y = random_net(30, 12, 8, True, seed=3, kinks_per_neuron=3)
    w, b, v = (p[0].numpy() for p in params)
    xs, ys = x[0].numpy(), y[0].numpy()
    norm = math.sqrt(sum(float((p**2).sum()) for p in params))
    q = np.maximum(xs @ w.T + b, 0) @ v[0]
    c = q.min() ** -0.5
    drow = (q / q.min() - 1) / (c * norm) ** 2
    prob = _TwoLayer.build(
        w, b, v[0], xs, ys, tol=1e-7, gain=1.0, scale=1 / norm, norm=norm, drow=drow
    )
    private: tuple[list, list, list, list] = ([], [], [], [])
    tri, t_l, rest = prob._reduce(False, how, private)
    f_rows, t_rows, t_blocks, blocks = private
    comp = _Compressed(
        np.vstack(f_rows), t_blocks, blocks, np.concatenate(t_rows), tri, t_l,
        rest + prob.perp2, prob.owner,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for _ in range(5):
        lam = rng.uniform(0, 2, 12)
        mu = rng.uniform(0, 1, len(prob.owner)) * lam[prob.owner]
        ref = math.hypot(prob.residual(lam, mu), drow @ lam)
        assert comp.objective(lam, mu) == pytest.approx(ref, rel=1e-9)


def line_and_dense(seed, bias):
    """A random net on the line with kinks on training points (with bias: neuron j's kink on
    point j mod m) and both forms of its certificate problem at unit scale."""
    from benign.certificate import _Line, _TwoLayer

    rng = np.random.default_rng(seed)
    m, n = 25 + seed, 12
    x = rng.uniform(-1, 1, (m, 1))
    w, v = rng.normal(size=(n, 1)), rng.normal(size=n)
    b = -w[:, 0] * x[np.arange(n) % m, 0] if bias else None
    if bias:
        b[1::2] = rng.normal(size=len(b[1::2]))  # half the neurons without a kink
    y = np.sign(np.maximum(x @ w.T + (b if bias else 0), 0) @ v)
    y[y == 0] = 1.0
    norm = math.sqrt((w**2).sum() + (0 if b is None else (b**2).sum()) + (v**2).sum())
    drow = rng.uniform(0, 1e-3, m)
    kw = dict(tol=1e-7, gain=1.0, scale=1 / norm, norm=norm, drow=drow)
    return _Line.build(w, b, v, x, y, **kw), _TwoLayer.build(w, b, v, x, y, **kw)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("bias", [True, False])
def test_line_problem_is_the_dense_problem(monkeypatch, seed, bias):
    """On the line, the prefix-sum form gives the dense row-space form's residual and
    objective for arbitrary (λ, μ), and the same best slopes for given λ."""
    monkeypatch.setattr(importlib.import_module("benign.certificate"), "LINE_FROM", 1)
    line, dense = line_and_dense(seed, bias)
    prob = dense.compress(weighted=False)
    assert line is not None and len(line.owner) == len(dense.owner) == (6 if bias else 0)
    assert np.array_equal(line.owner, dense.owner) and np.array_equal(line.active, dense.active)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        lam = rng.uniform(0, 3, len(line.y))
        mu = rng.uniform(0, 1, len(line.owner)) * lam[line.owner]
        assert line.residual(lam, mu) == pytest.approx(dense.residual(lam, mu), rel=1e-10)
        assert line.objective(lam, mu) == pytest.approx(prob.objective(lam, mu), rel=1e-10)
        best = line.best_slopes(lam)
        assert np.all(best >= 0) and np.all(best <= lam[line.owner])
        got, ref = line.objective(lam, best), prob.objective(lam, prob.best_slopes(lam))
        assert got == pytest.approx(ref, rel=1e-9)


def test_line_certificate_matches_the_full_space_programs(monkeypatch):
    """With the prefix-sum programs forced: the Clarke optimum equals the full-space cone
    program's, the fixed-slope residual of a net without kinks the full-space NNLS, and a net
    with kinks reports no fixed-slope residual."""
    from scipy.optimize import nnls

    monkeypatch.setattr(importlib.import_module("benign.certificate"), "LINE_FROM", 1)
    net, params, x, y = random_net(1, 40, 15, True, seed=22, kinks_per_neuron=1)
    w, b, v = params[0][0], params[1][0], params[-1][0, 0]
    a, kcols, owner, t_vec, _, scale2 = full_space_problem(w, b, v, x[0], y[0])
    cert = certify(net, params, x, y)
    assert cert.kinks[0] == kcols.shape[1] >= 15 and np.isnan(cert.eps_fixed_rel[0])
    got = math.hypot(cert.eps_rel[0], cert.delta[0] / scale2**2)
    assert got == pytest.approx(full_space_clarke(a, kcols, owner, t_vec), rel=1e-5, abs=1e-8)
    net, params, x, y = random_net(1, 30, 12, False, seed=43)
    a, _, _, t_vec, _, _ = full_space_problem(params[0][0], None, params[-1][0, 0], x[0], y[0])
    lam = nnls(a, t_vec, maxiter=5000)[0]
    cert = certify(net, params, x, y)
    assert cert.kinks[0] == 0
    assert cert.eps_fixed_rel[0] == pytest.approx(np.linalg.norm((t_vec - a @ lam)[:-1]), rel=1e-6)


def test_line_certificate_of_the_min_norm_interpolant(monkeypatch):
    """The 1-D minimum-norm interpolant with its LP dual as the hint: the same ε_rel, δ_rel and
    support by the prefix-sum route as by the dense one."""
    from benign.lp import min_norm_interpolant
    from benign.nets import from_arrays

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (120, 1))
    y = np.where(rng.uniform(size=120) < 0.2, -1.0, 1.0) * np.sign(x[:, 0] - 0.5)
    sol = min_norm_interpolant(x, y, width=240)
    net, params = from_arrays(sol.w, sol.v, sol.b)
    dense = certify(net, params, x, y, hint=[sol.multipliers])
    monkeypatch.setattr(importlib.import_module("benign.certificate"), "LINE_FROM", 1)
    line = certify(net, params, x, y, hint=[sol.multipliers])
    assert dense.eps_rel[0] < 1e-3 and dense.kinks[0] == line.kinks[0] > 0
    assert line.eps_rel[0] == pytest.approx(dense.eps_rel[0], rel=1e-8)
    assert line.delta_rel[0] == pytest.approx(dense.delta_rel[0], rel=1e-6, abs=1e-12)
    assert line.support[0] == dense.support[0] and np.isnan(line.eps_fixed_rel[0])
