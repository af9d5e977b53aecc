"""Clean test error: exact 1-D integration against brute force, Monte Carlo coverage, Wilson."""

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from benign.data import Distribution
from benign.measures import exact_clean_error_1d, mc_clean_error, mc_sample_size, wilson_interval
from benign.seeding import rng_for


def brute_force(v, w, b, a, b_end, k=400_001):
    """Share of a fine midpoint grid of [a, b_end] where N(x) ≤ 0, in NumPy."""
    x = a + (np.arange(k) + 0.5) * (b_end - a) / k
    pre = np.outer(x, w) + (0 if b is None else b)
    return float(np.mean(np.maximum(pre, 0) @ v <= 0))


def as_t(*arrays):
    return [None if a is None else torch.as_tensor(np.asarray(a, dtype=float)) for a in arrays]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_exact_matches_brute_force_on_random_nets(bias, seed):
    rng = np.random.default_rng(seed)
    n, a, b_end = 25, -0.5, 1.5
    v = rng.standard_normal(n)
    w = rng.standard_normal(n)
    b = rng.standard_normal(n) if bias else None
    exact = exact_clean_error_1d(
        *as_t(v[None], w[None, :, None]), *as_t(None if b is None else b[None]), a, b_end
    )
    # the grid misclassifies at most one cell per sign change, and there are at most n + 1
    assert abs(exact[0] - brute_force(v, w, b, a, b_end)) <= (n + 2) / 400_001


def test_exact_closed_forms():
    # N(x) = relu(x − 0.3) − relu(0.3 − x) = x − 0.3: N ≤ 0 exactly on [a, 0.3]
    v, w, b = as_t([[1.0, -1.0]], [[[1.0], [-1.0]]], [[-0.3, 0.3]])
    assert exact_clean_error_1d(v, w, b, 0.0, 1.0)[0] == pytest.approx(0.3, abs=1e-12)
    assert exact_clean_error_1d(v, w, b, -1.0, 2.0)[0] == pytest.approx(1.3 / 3, abs=1e-12)
    # N ≡ 0 (v = 0): N(x) = 0 counts as an error everywhere
    v0 = torch.zeros(1, 2)
    assert exact_clean_error_1d(v0, w, b, 0.0, 1.0)[0] == pytest.approx(1.0)


def test_exact_degenerate_cases():
    a, b_end = 0.0, 1.0
    # w_j = 0: constant neurons v_j relu(b_j); here N = 2·relu(1) − 1·relu(3) = −1 < 0 everywhere
    v, w, b = as_t([[2.0, -1.0]], [[[0.0], [0.0]]], [[1.0, 3.0]])
    assert exact_clean_error_1d(v, w, b, a, b_end)[0] == pytest.approx(1.0)
    v, w, b = as_t([[2.0, -1.0]], [[[0.0], [0.0]]], [[3.0, 1.0]])
    assert exact_clean_error_1d(v, w, b, a, b_end)[0] == pytest.approx(0.0)
    # all kinks outside [a, b]: N(x) = (x + 2) − (3 − x) = 2x − 1 on [0, 1], kinks at −2 and 3
    v, w, b = as_t([[1.0, -1.0]], [[[1.0], [-1.0]]], [[2.0, 3.0]])
    assert exact_clean_error_1d(v, w, b, a, b_end)[0] == pytest.approx(0.5, abs=1e-12)
    # a mixture of all of these, against brute force
    rng = np.random.default_rng(7)
    v = rng.standard_normal(12)
    w = np.concatenate([np.zeros(3), rng.standard_normal(9)])
    b = np.concatenate([rng.standard_normal(3), 10 * rng.standard_normal(9)])
    exact = exact_clean_error_1d(*as_t(v[None], w[None, :, None], b[None]), a, b_end)[0]
    assert abs(exact - brute_force(v, w, b, a, b_end)) <= 14 / 400_001


def test_exact_is_batched():
    rng = np.random.default_rng(3)
    v, w, b = (
        rng.standard_normal((4, 10)),
        rng.standard_normal((4, 10, 1)),
        rng.standard_normal((4, 10)),
    )
    batched = exact_clean_error_1d(*as_t(v, w, b), 0.0, 1.0)
    single = [
        exact_clean_error_1d(*as_t(v[e : e + 1], w[e : e + 1], b[e : e + 1]), 0.0, 1.0)[0]
        for e in range(4)
    ]
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-15)


def test_wilson_matches_scipy():
    for k, n in [(0, 50), (3, 50), (25, 50), (50, 50), (137, 9604)]:
        lo, hi = wilson_interval(np.array([k]), n)
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert lo[0] == pytest.approx(ci.low, abs=1e-9)
        assert hi[0] == pytest.approx(ci.high, abs=1e-9)


def test_sample_size():
    assert mc_sample_size(0.01) == 9604  # ⌈1.96² / (4 · 0.01²)⌉
    with pytest.raises(ValueError, match="half_width"):
        mc_sample_size(0.0)


def test_monte_carlo_interval_covers_the_exact_value():
    """Nominal 95% Wilson intervals from fresh draws cover the exact 1-D error ≥ 90% of the time."""
    # N(x) = 0.5 relu(x − 0.1) − relu(0.35 − x) + relu(x − 0.6) − 2 relu(x − 0.8): three crossings
    v, w, b = as_t(
        [[0.5, -1.0, 1.0, -2.0]], [[[1.0], [-1.0], [1.0], [1.0]]], [[-0.1, 0.35, -0.6, -0.8]]
    )
    exact = exact_clean_error_1d(v, w, b, 0.0, 1.0)[0]
    assert exact == pytest.approx(
        brute_force(v[0].numpy(), w[0, :, 0].numpy(), b[0].numpy(), 0, 1), abs=1e-4
    )
    assert 0.2 < exact < 0.8

    def predict(x):  # the same network applied to E independent test batches x (E, k, 1)
        return (torch.relu(x * w.transpose(1, 2) + b[:, None, :]) * v[:, None, :]).sum(-1)

    reps = 300
    est = mc_clean_error(
        predict, Distribution("interval", 1), 400, [rng_for(s, "test") for s in range(reps)]
    )
    covered = (est.lo <= exact) & (exact <= est.hi)
    assert covered.mean() >= 0.90


def test_exact_counts_dead_pieces_as_errors():
    """Where every unit is off, N ≡ 0 exactly: an error, whatever the rounding of prefix sums."""
    # bias-free, all w < 0 on [0, 1]: N ≡ 0, L = 1
    rng = np.random.default_rng(5)
    v = rng.standard_normal((5, 7))
    w = -np.abs(rng.standard_normal((5, 7, 1)))
    np.testing.assert_array_equal(exact_clean_error_1d(*as_t(v, w), None, 0.0, 1.0), 1.0)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        v, w, b = rng.standard_normal(7), rng.standard_normal(7), rng.standard_normal(7)
        exact = exact_clean_error_1d(*as_t(v[None], w[None, :, None], b[None]), -0.5, 2.0)[0]
        assert abs(exact - brute_force(v, w, b, -0.5, 2.0)) <= 9 / 400_001


def test_non_finite_networks_are_not_measured_as_perfect():
    v, w, b = as_t([[1.0, np.nan]], [[[1.0], [1.0]]], [[0.5, 0.5]])
    assert np.isnan(exact_clean_error_1d(v, w, b, 0.0, 1.0)[0])
    est = mc_clean_error(
        lambda x: torch.full(x.shape[:2], torch.nan, dtype=x.dtype),
        Distribution("sphere", 3),
        100,
        [np.random.default_rng(0)],
    )
    assert est.value[0] == 1.0  # a NaN output is an error, not a correct prediction


def test_monte_carlo_draws_a_network_s_points_whatever_the_block():
    """In high d the points are drawn a few at a time (memory); on the sphere the stream is
    the same, so the error counted equals the one from whole draws, computed by hand."""
    from benign.measures.clean_error import mc_block

    d, n = 5000, 700
    assert mc_block(20) == 4096 and mc_block(d) * d <= 2**21 and mc_block(10**6) == 2
    dist = Distribution("sphere", d)

    def predict(x):  # positive on the half-space x_1 + x_2 > 0.1
        return x[..., 0] + x[..., 1] - 0.1

    est = mc_clean_error(predict, dist, n, [rng_for(s, "test") for s in (3, 4)])
    for k, s in enumerate((3, 4)):
        x = dist.sample(n, rng_for(s, "test"))
        assert est.value[k] == np.mean(x[:, 0] + x[:, 1] - 0.1 <= 0)
