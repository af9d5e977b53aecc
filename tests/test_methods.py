"""One contract for every method (benign.methods.METHODS): it is refused where it does not
apply, reports its progress, and gives per sample a network that interpolates or a failure
with a named reason; the solvers' networks are balanced, and a network said to be certified
is a KKT point by an independent least-squares check."""

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.optimize import linprog

from benign.config import RunConfig
from benign.methods import METHODS
from benign.records import CONVEX_FAILURES, LP_FAILURES, RANGE_FAILURES
from benign.run import run_experiment

# a setting where each method applies, small enough for seconds
WHERE = {
    "lp": dict(dist="interval", m=12, width=48, p=0.2),
    "convex": dict(dist="sphere", d=3, m=12, width=48, p=0.2),
    "gd": dict(dist="sphere", d=3, m=12, width=100, p=0.2, steps=4000),
    "gd+convex": dict(dist="sphere", d=3, m=12, width=100, p=0.2, steps=4000),
}
# settings that rule methods out: lp needs the interval, the solvers an uncentred two-layer net
SHAPES = [
    dict(dist="interval"),
    dict(dist="sphere", d=3),
    dict(dist="sphere", d=3, depth=3),
    dict(dist="interval", center=True),
    dict(dist="interval", bias=False),
]
NAMED = {*LP_FAILURES, *CONVEX_FAILURES, *RANGE_FAILURES, "nan", "no_interpolation"}


def test_every_method_is_held_to_the_contract():
    assert set(METHODS) == set(WHERE) == {"lp", "convex", "gd", "gd+convex"}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_is_refused_where_it_does_not_apply(name):
    for shape in SHAPES:
        applies = METHODS[name].applies(RunConfig(**shape))  # method auto: always valid
        if applies:
            assert RunConfig(method=name, **shape).resolved_method == name
        else:
            with pytest.raises(ValidationError, match="method"):
                RunConfig(method=name, **shape)


def _layers(exp, e):
    """(w, b, v) of network e, from its parameters."""
    w, b, v = (p[e].numpy() for p in exp.params)
    return w, b, v[0]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_fits_every_sample_or_names_why_not(name):
    config = RunConfig(method=name, **WHERE[name])
    calls = []
    exp = run_experiment(config, [0, 1, 2], progress=lambda *a: calls.append(a))
    assert calls, "no progress reported"
    if name in ("lp", "convex"):  # networks solved, networks left: the last has none left
        assert calls[-1][-1] == 0
    for e, (rec, sample) in enumerate(zip(exp.records, exp.samples, strict=True)):
        assert rec.method == name
        if rec.failure is not None:
            assert rec.failure in NAMED, rec.failure
            continue
        w, b, v = _layers(exp, e)  # N(x) = Σ_j v_j relu(w_j·x + b_j), evaluated here
        out = np.maximum(sample.x @ w.T + b, 0) @ v
        assert rec.interpolated and (sample.y * out > 0).all()
        assert rec.min_margin == pytest.approx((sample.y * out).min(), rel=1e-9)


def _kkt_residual(w, b, v, x, y) -> float:
    """min ‖θ − Σ_i λ_i y_i g_i‖ / ‖θ‖ over λ ≥ 0 on the points of least margin and g_i in the
    Clarke subdifferential of N(x_i) (relu'(0) any s ∈ [0, 1]: with μ_ij = λ_i s_ij, a linear
    program in the 1-norm of the residual), θ scaled to margin 1; the 2-norm of that residual.
    Independent of benign.certificate."""
    pre = x @ w.T + b
    q = y * (np.maximum(pre, 0) @ v)
    c = 1 / np.sqrt(q.min())  # N is 2-homogeneous: θ·c has margin 1, its gradients scale by c
    theta = c * np.concatenate([w.ravel(), b, v])
    n, d = w.shape
    support = np.flatnonzero(q <= q.min() * (1 + 1e-6))
    kink = np.abs(pre) <= 1e-9 * np.abs(pre).max()

    def column(i, mask):  # y_i ∇_θ N(x_i) with relu' = mask on the neurons, relu(0) = 0
        dw = (v * mask)[:, None] * x[i][None, :]
        return c * y[i] * np.concatenate([dw.ravel(), v * mask, np.maximum(pre[i], 0)])

    g = [column(i, ((pre[i] > 0) & ~kink[i]).astype(float)) for i in support]  # s = 0 at kinks
    pairs = [(k, j) for k, i in enumerate(support) for j in np.flatnonzero(kink[i])]
    h = []
    for k, j in pairs:
        one = np.zeros(n)
        one[j] = 1.0
        col = column(support[k], one)
        col[n * d + n :] = 0.0  # relu(0) = 0: a kink adds nothing to ∂/∂v
        h.append(col)
    a = np.column_stack([*g, *h]) if h else np.column_stack(g)
    nl, nm, p = len(g), len(h), len(theta)
    # variables: λ (nl), μ (nm), r⁺ (p), r⁻ (p); θ = aλμ + r⁺ − r⁻; μ_k ≤ λ_k(i)
    cost = np.r_[np.zeros(nl + nm), np.ones(2 * p)]
    eq = np.hstack([a, np.eye(p), -np.eye(p)])
    ub = np.zeros((nm, nl + nm + 2 * p))
    for row, (k, _) in enumerate(pairs):
        ub[row, nl + row], ub[row, k] = 1.0, -1.0
    res = linprog(
        cost, A_ub=ub if nm else None, b_ub=np.zeros(nm) if nm else None, A_eq=eq, b_eq=theta,
        bounds=(0, None), method="highs",
    )  # fmt: skip
    assert res.status == 0
    r = res.x[nl + nm : nl + nm + p] - res.x[nl + nm + p :]
    return float(np.linalg.norm(r) / np.linalg.norm(theta))


@pytest.mark.parametrize("name", ["lp", "convex", "gd+convex"])
def test_a_solvers_networks_are_balanced_and_certified_kkt_points(name):
    """At a KKT point of min ½‖θ‖² s.t. y_i N(x_i) ≥ 1 each neuron is balanced, |v_j| =
    ‖(w_j, b_j)‖; and a network said to be certified has θ = Σ_i λ_i y_i g_i, λ ≥ 0 on the
    points of least margin, to within its ε (:func:`_kkt_residual`)."""
    config = RunConfig(method=name, **WHERE[name])
    exp = run_experiment(config, [0, 1, 2])
    checked = 0
    for e, (rec, sample) in enumerate(zip(exp.records, exp.samples, strict=True)):
        if not rec.certified:
            continue
        w, b, v = _layers(exp, e)
        size = np.hypot(np.linalg.norm(w, axis=1), b)
        assert np.allclose(np.abs(v), size, atol=1e-6 * size.max()), "not balanced"
        assert _kkt_residual(w, b, v, sample.x, sample.y) <= config.cert_eps, (name, e)
        checked += 1
    assert checked, "no certified network to check"


def test_the_kkt_check_sees_a_network_off_its_kkt_point():
    """The same check fails for a certified network with one neuron turned (its margins kept
    positive): the check can say no."""
    config = RunConfig(method="convex", **WHERE["convex"])
    exp = run_experiment(config, [0])
    w, b, v = _layers(exp, 0)
    s = exp.samples[0]
    assert _kkt_residual(w, b, v, s.x, s.y) <= config.cert_eps
    j = int(np.argmax(np.abs(v)))
    turned = w.copy()
    turned[j] = np.roll(w[j], 1)
    if (s.y * (np.maximum(s.x @ turned.T + b, 0) @ v)).min() > 0:
        assert _kkt_residual(turned, b, v, s.x, s.y) > config.cert_eps
    else:  # that turn broke interpolation: scale the neuron instead (unbalanced)
        v2 = v.copy()
        v2[j] *= 1.5
        assert _kkt_residual(w, b, v2, s.x, s.y) > config.cert_eps
