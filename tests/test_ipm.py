"""The block-structured interior point of the search's rounds against Clarabel (the reference)
on the same pattern programs, and against the programs' own optimality conditions."""

import numpy as np
import pytest

from benign.convex import RowSpace, gate_neurons, seed_blocks, solve_patterns
from benign.ipm import ACCEPT, TOL, solve_blocks


def program(m: int, d: int, bias: bool, seed: int):
    """A pattern program as the search's first round poses it: a noisy sample on the sphere,
    the blocks of the margin LP over random gates."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(rng.random(m) < 0.2, -1.0, 1.0)
    a = RowSpace.of(x, bias).a
    patterns, signs = seed_blocks(a, y, *gate_neurons(a.shape[1], 64, rng))
    return a, y, patterns, signs


@pytest.mark.parametrize(("m", "d", "bias"), [(30, 3, True), (40, 10, False), (60, 80, True)])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_optimum_as_clarabel(m, d, bias, seed):
    a, y, patterns, signs = program(m, d, bias, seed)
    ref = solve_patterns(a, y, patterns, signs)
    if ref.status != "optimal":
        pytest.skip(f"the pool is {ref.status}")
    sol = solve_blocks(a, y, patterns, signs)
    assert sol.status == "optimal"
    t, u = sol.x[:, 0], sol.x[:, 1:]
    # its promise: the relative gap within ACCEPT·TOL (1e-5) where accuracy runs out first
    assert t.sum() == pytest.approx(ref.objective, rel=ACCEPT * TOL)
    # primal: in the cones, every margin ≥ 1, every neuron in its cell
    assert (t >= np.linalg.norm(u, axis=1) - 1e-7 * t.sum()).all()
    z = u @ a.T
    margins = y * (signs[:, None] * patterns * z).sum(0)
    assert margins.min() >= 1 - 1e-6
    assert ((2 * patterns - 1) * z).min() >= -1e-6 * np.abs(z).max()
    # dual: the margin multipliers' sum is the optimum (strong duality), and they agree
    assert sol.lam.sum() == pytest.approx(ref.objective, rel=ACCEPT * TOL)
    assert np.abs(sol.lam - ref.lam).max() <= 1e-4 * ref.lam.max()


def test_an_infeasible_pool_fails():
    x = np.array([[-1.0], [0.0], [1.0]])
    y = np.array([1.0, -1.0, 1.0])
    a = RowSpace.of(x, True).a
    patterns, signs = np.ones((1, 3), dtype=bool), np.ones(1)
    assert solve_patterns(a, y, patterns, signs).status == "infeasible"
    assert solve_blocks(a, y, patterns, signs).status == "failed"
