"""Separation against brute force; the separated distribution and the bundled data sets."""

import json

import numpy as np
import pytest
import torch
from helpers import benign
from scipy.spatial.distance import cdist

from benign.data import Distribution, load_dataset, noisy_sample
from benign.measures import mc_clean_error, separation
from benign.seeding import rng_for


def brute(a, la, b, lb, metric):
    dist = cdist(a, b, metric)
    dist[la[:, None] == lb[None, :]] = np.inf
    return dist.min()


@pytest.mark.parametrize("block", [1, 7, 1024])
def test_separation_against_brute_force(block):
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((60, 5)), np.where(rng.random(60) < 0.4, 1.0, -1.0)
    x2, labels2 = rng.standard_normal((25, 5)), np.where(rng.random(25) < 0.5, 1.0, -1.0)
    s = separation(x, labels, block=block)
    assert s.l2 == pytest.approx(brute(x, labels, x, labels, "euclidean"), rel=1e-12)
    assert s.linf == pytest.approx(brute(x, labels, x, labels, "chebyshev"), rel=1e-12)
    i, j = s.l2_pair
    assert labels[i] != labels[j] and np.linalg.norm(x[i] - x[j]) == pytest.approx(s.l2)
    t = separation(x, labels, x2, labels2, block=block)
    assert t.l2 == pytest.approx(brute(x2, labels2, x, labels, "euclidean"), rel=1e-12)
    assert t.linf == pytest.approx(brute(x2, labels2, x, labels, "chebyshev"), rel=1e-12)
    i, j = t.linf_pair
    assert labels2[i] != labels[j]
    assert separation(x, np.ones(60)).l2 == np.inf  # one class: nothing to separate


def test_separated_distribution_keeps_its_classes_apart():
    dist = Distribution("separated", 10, separation=0.6)
    x = dist.sample(3000, rng_for(1, "data"))
    labels = dist.clean_label(x)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    assert 0.45 < (labels > 0).mean() < 0.55
    assert np.abs(x[:, 0]).min() >= 0.3
    s = separation(x, labels)
    assert 0.6 <= s.linf <= s.l2 and s.linf < 0.62  # the caps come close to their bound
    sample = noisy_sample(dist, 500, 0.2, rng_for(2, "data"))
    assert np.all((sample.y == dist.clean_label(sample.x)) == ~sample.flipped)
    with pytest.raises(ValueError, match="separation: must lie in"):
        Distribution("separated", 3, separation=0)


def test_monte_carlo_clean_error_uses_the_clean_labels():
    dist = Distribution("separated", 4)
    rngs = [rng_for(s, "test") for s in range(2)]
    right = mc_clean_error(lambda x: x[..., 0], dist, 2000, rngs)  # sign x_1 = f*
    assert right.value.tolist() == [0.0, 0.0]
    rngs = [rng_for(s, "test") for s in range(2)]
    constant = mc_clean_error(lambda x: torch.ones(x.shape[:2], dtype=x.dtype), dist, 4000, rngs)
    assert np.all(np.abs(constant.value - 0.5) < 0.03)


@pytest.mark.parametrize(("name", "shape"), [("mnist", (5000, 784)), ("digits", (1797, 64))])
def test_bundled_datasets(name, shape):
    x, labels = load_dataset(name)
    assert x.shape == shape and set(np.unique(labels)) == {-1.0, 1.0}
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="dataset: must be one of mnist, digits"):
        load_dataset("cifar")


@pytest.mark.slow
def test_separation_command_on_mnist():
    r = benign("separation", "--dataset", "mnist", "--train", 4000, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    x, labels = load_dataset("mnist")
    order = rng_for(0, "test").permutation(5000)
    tr, te = order[:4000], order[4000:]
    assert (doc["train"], doc["test"], doc["points"]) == (4000, 1000, 5000)
    want = brute(x[te], labels[te], x[tr], labels[tr], "euclidean")
    assert doc["test_train"]["l2"] == pytest.approx(want, rel=1e-9)
    bad = benign("separation", "--dataset", "cifar")
    assert bad.returncode == 2
    assert "--dataset: must be one of mnist, digits, separated" in bad.stderr
