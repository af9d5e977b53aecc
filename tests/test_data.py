"""Data: the three input laws, label flips and their record, seeding."""

import numpy as np
import pytest
from scipy.stats import binom, kstest

from benign.data import DATASET_SHAPES, Distribution, dataset_sample, load_dataset, noisy_sample
from benign.seeding import rng_for


def test_interval_is_uniform_on_a_b():
    x = Distribution("interval", 1, a=-2.0, b=3.0).sample(20_000, np.random.default_rng(0))
    assert x.shape == (20_000, 1) and x.min() >= -2 and x.max() <= 3
    assert kstest(x[:, 0], "uniform", args=(-2.0, 5.0)).pvalue > 1e-3


def test_sphere_points_have_the_radius_and_no_direction():
    x = Distribution("sphere", 5, radius=2.0).sample(20_000, np.random.default_rng(1))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 2.0, rtol=1e-12)
    assert np.abs(x.mean(0)).max() < 0.05
    # each coordinate of a uniform point on S^{d-1} has E x_k² = r²/d
    np.testing.assert_allclose((x**2).mean(0), 4.0 / 5, rtol=0.05)


def test_gaussian_has_covariance_identity_over_d():
    d = 8
    x = Distribution("gaussian", d).sample(50_000, np.random.default_rng(2))
    np.testing.assert_allclose(np.cov(x.T), np.eye(d) / d, atol=0.005)


def test_flips_are_recorded_and_have_rate_p():
    s = noisy_sample(Distribution("sphere", 3), 10_000, 0.2, np.random.default_rng(3))
    assert np.array_equal(s.y == -1, s.flipped)  # f* ≡ +1: a label is −1 iff it was flipped
    assert s.flips == s.flipped.sum() and s.flip_rate == s.flips / 10_000
    lo, hi = binom.ppf([1e-4, 1 - 1e-4], 10_000, 0.2)
    assert lo <= s.flips <= hi


def test_no_noise_means_no_flips():
    s = noisy_sample(Distribution("interval", 1), 500, 0.0, np.random.default_rng(4))
    assert s.flips == 0 and np.all(s.y == 1)


def test_same_seed_same_sample_and_streams_differ():
    dist = Distribution("gaussian", 4)
    a = noisy_sample(dist, 50, 0.3, rng_for(5, "data"))
    b = noisy_sample(dist, 50, 0.3, rng_for(5, "data"))
    c = noisy_sample(dist, 50, 0.3, rng_for(6, "data"))
    assert np.array_equal(a.x, b.x) and np.array_equal(a.flipped, b.flipped)
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(rng_for(5, "data").random(3), rng_for(5, "test").random(3))


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Distribution("interval", 2), "d"),
        (lambda: Distribution("sphere", 0), "d"),
        (lambda: Distribution("cube", 2), "dist"),
        (lambda: Distribution("interval", 1, a=1.0, b=1.0), "b"),
        (lambda: Distribution("interval", 1, a=-1e308, b=1e308), "b"),
        (lambda: Distribution("sphere", 3, radius=0.0), "radius"),
        (lambda: noisy_sample(Distribution("sphere", 3), 10, 0.5, np.random.default_rng()), "p"),
        (lambda: noisy_sample(Distribution("sphere", 3), 0, 0.1, np.random.default_rng()), "m"),
        (lambda: dataset_sample("digits", 1797, 0.1, np.random.default_rng()), "m"),
        (lambda: dataset_sample("digits", 10, -0.1, np.random.default_rng()), "p"),
    ],
)
def test_bad_input_names_the_field(make, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        make()


def test_dataset_sample_takes_distinct_rows_with_their_labels_and_flips():
    x, labels = load_dataset("digits")
    a = dataset_sample("digits", 600, 0.2, rng_for(5, "data"))
    assert len(set(a.index.tolist())) == 600 and a.index.max() < len(x)
    np.testing.assert_array_equal(a.x, x[a.index])
    np.testing.assert_array_equal(a.y, np.where(a.flipped, -labels[a.index], labels[a.index]))
    assert binom.ppf(1e-4, 600, 0.2) <= a.flips <= binom.ppf(1 - 1e-4, 600, 0.2)
    b = dataset_sample("digits", 600, 0.2, rng_for(5, "data"))
    np.testing.assert_array_equal(a.index, b.index)
    c = dataset_sample("digits", 600, 0.2, rng_for(6, "data"))
    assert not np.array_equal(a.index, c.index)
    with pytest.raises(ValueError):
        x[0, 0] = 1.0  # the cached arrays are read-only


@pytest.mark.parametrize("name", ["mnist", "digits"])
def test_dataset_shapes_are_those_loaded(name):
    x, labels = load_dataset(name)
    assert x.shape == DATASET_SHAPES[name] and labels.shape == (len(x),)


def test_run_config_on_a_dataset_takes_its_dimension_and_refuses_others():
    from pydantic import ValidationError

    from benign.config import RunConfig

    assert RunConfig(dist="mnist").d == 784 and RunConfig(dist="digits", d=64).d == 64
    with pytest.raises(ValidationError, match="d: the digits dataset has d = 64, got 20"):
        RunConfig(dist="digits", d=20)
    with pytest.raises(ValidationError, match="m: the digits dataset has 1797 points; at most"):
        RunConfig(dist="digits", m=1797)
    with pytest.raises(ValidationError, match="separation"):
        RunConfig(dist="separated", separation=2.5)
