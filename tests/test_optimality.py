"""Optimality beyond KKT in d = 1: the dual bound of the margin LP against a brute-force
maximum over directions, weak duality against the LP's optimum, and the global gap of
networks whose excess norm is known (the minimum-norm interpolant, the same function carried
by unbalanced neurons, and a certified KKT point above the least norm); in higher d, the
search for better patterns: the lower-norm net it reports, built and checked, never below the
least norm of the exhaustive program, and nothing found at a global minimiser."""

import itertools
import json

import numpy as np
import pytest
import torch
from helpers import benign

from benign.certificate import GLOBAL_TOL, certify, global_gap, optimality, sphere_dual_max
from benign.config import RunConfig
from benign.convex import RowSpace, better_patterns, solve_patterns
from benign.data import Distribution, noisy_sample
from benign.lp import dual_bound, min_norm_interpolant
from benign.nets import ReLUNet
from benign.run import run_experiment
from benign.seeding import rng_for


def _sample(seed: int, m: int = 40, p: float = 0.2):
    return noisy_sample(Distribution("interval", 1), m, p, np.random.default_rng(seed))


def _grid_max_h(x: np.ndarray, y: np.ndarray, lam: np.ndarray, n: int = 400_001) -> float:
    """max over n equally spaced unit directions u = (cos t, sin t) of |Σ λ_i y_i relu(u·z_i)|."""
    t = np.linspace(0, 2 * np.pi, n)
    u = np.c_[np.cos(t), np.sin(t)]
    z = np.c_[x[:, 0], np.ones(len(x))]
    return float(np.abs(np.maximum(u @ z.T, 0.0) @ (lam * y)).max())


@pytest.mark.parametrize("seed", range(3))
def test_dual_bound_is_the_sum_over_the_brute_force_maximum(seed):
    s = _sample(seed, m=12)
    lam = np.random.default_rng(seed).exponential(size=12)
    exact = dual_bound(s.x, s.y, lam)
    grid = lam.sum() / _grid_max_h(s.x, s.y, lam)
    assert exact <= grid * (1 + 1e-12)  # the exact maximum is at least the grid's
    assert exact == pytest.approx(grid, rel=1e-6)


def _params(sol, scale_first: float = 1.0):
    """The solution's network as a one-network ensemble; its first neuron's (w, b) times
    ``scale_first`` and v divided by it (the same function, a larger norm unless 1)."""
    w, b, v = sol.w.copy(), sol.b.copy(), sol.v.copy()
    j = int(np.argmax(np.abs(v)))
    w[j], b[j], v[j] = w[j] * scale_first, b[j] * scale_first, v[j] / scale_first
    return [torch.tensor(w)[None], torch.tensor(b)[None], torch.tensor(v)[None, None]]


def _half_norm(params, x, y) -> float:
    """½‖θ̃‖² of the one-network ensemble rescaled to min_i q_i = 1."""
    w, b, v = (p[0].numpy().reshape(-1) for p in params)
    q = y * (np.maximum(np.outer(x[:, 0], w) + b, 0.0) @ v)
    return 0.5 * float((w**2).sum() + (b**2).sum() + (v**2).sum()) / q.min()


@pytest.mark.parametrize("seed", range(3))
def test_gap_bounds_the_excess_norm_and_vanishes_at_the_minimum(seed):
    s = _sample(seed)
    sol = min_norm_interpolant(s.x, s.y, width=200)
    assert sol.ok and sol.reason == "lp_optimal"
    least = _half_norm(_params(sol), s.x, s.y)  # the LP's optimum: min ½‖θ‖² to ~1e-7
    lam = np.random.default_rng(seed).exponential(size=len(s.y))
    assert dual_bound(s.x, s.y, lam) <= least * (1 + 1e-9)  # weak duality, any λ ≥ 0
    x, y = s.x[None], s.y[None]
    net = ReLUNet(1, 200, depth=2, bias=True)
    for factor in (1.0, 1.5, 3.0):
        params = _params(sol, factor)
        cert = certify(net, params, s.x, s.y, multipliers=True)
        gap = global_gap(params, x, y, [[cert.multipliers[0], sol.multipliers]])[0]
        excess = 1 - least / _half_norm(params, s.x, s.y)
        assert gap >= excess - 1e-9  # never below the true excess, whatever the multipliers
        if factor == 1.0:
            assert gap <= 1e-6 and bool(cert.certified()[0])
            only_cert = global_gap(params, x, y, [[cert.multipliers[0]]])[0]
            assert 0 <= only_cert <= GLOBAL_TOL  # the certificate's own multipliers suffice
        else:
            assert excess > GLOBAL_TOL and gap > GLOBAL_TOL
            assert optimality(cert.certified(), np.array([gap]))[0] != "global"


def test_optimality_tiers():
    certified = np.array([True, True, True, False, True, True])
    gap = np.array([GLOBAL_TOL / 2, 2 * GLOBAL_TOL, np.nan, 0.0, np.nan, np.nan])
    found = np.array([np.nan, np.nan, np.nan, np.nan, 2 * GLOBAL_TOL, GLOBAL_TOL / 2])
    assert list(optimality(certified, gap)) == ["global", "kkt", "kkt", "", "kkt", "kkt"]
    tiers = ["global", "kkt", "kkt", "", "not_global", "kkt"]
    assert list(optimality(certified, gap, found)) == tiers


def test_run_records_the_tier_in_d_1_and_no_gap_elsewhere():
    r = benign("run", "--method", "lp", "--dist", "interval", "--d", "1", "--m", "30", "--p",
               "0.2", "--width", "100", "--seeds", "2", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    records = json.loads(r.stdout)["records"]
    assert [n["optimality"] for n in records] == ["global", "global"]
    assert all(0 <= n["global_gap"] <= 1e-6 for n in records)
    r = benign("run", "--method", "convex", "--dist", "sphere", "--d", "3", "--m", "20", "--p",
               "0.2", "--width", "60", "--seeds", "1", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    (record,) = json.loads(r.stdout)["records"]
    assert record["global_gap"] is None and record["certified"]
    assert record["excess_found"] >= 0
    assert record["optimality"] == ("not_global" if record["excess_found"] > GLOBAL_TOL else "kkt")


# A certified KKT point that is not a global minimiser: the minimum-norm interpolant of this
# sample among neurons with no kink in the gap (x_2, x_3) (the LP restricted to that
# dictionary, refined), rescaled to min_i q_i = 1; its kinks sit on or beside the data, where
# the Clarke multipliers make it stationary. Its ½‖θ‖² is 28% above the least.
SADDLE_X = [0.08564916714362436, 0.09412864224039919, 0.2368105065960997, 0.5821620360643678,
            0.8012744652063969]  # fmt: skip
SADDLE_Y = [1.0, 1.0, -1.0, 1.0, -1.0]
SADDLE = (
    [3.5225416334903885, 4.390364360202478, 3.590714270242786, -1.1045840135576226],
    [-0.3017027571371938, -1.03968440828101, -2.0903775304899206, 0.8850749647389193],
    [-3.535438319832114, 4.511789321783404, -4.154865484044257, 1.4154375776468087],
)


def test_a_certified_kkt_point_above_the_least_norm_is_not_called_global():
    x, y = np.array(SADDLE_X)[:, None], np.array(SADDLE_Y)
    w, b, v = (np.array(a) for a in SADDLE)
    params = [torch.tensor(w)[None, :, None], torch.tensor(b)[None], torch.tensor(v)[None, None]]
    cert = certify(ReLUNet(1, 4, depth=2, bias=True), params, x, y, multipliers=True)
    assert bool(cert.certified()[0]) and cert.eps_rel[0] < 1e-3  # a KKT point
    least = min_norm_interpolant(x, y, width=20)
    excess = 1 - least.norm_sq / 2 / _half_norm(params, x, y)
    assert excess > 0.2  # not a global minimiser
    gap = global_gap(params, x[None], y[None], [[cert.multipliers[0]]])
    assert gap[0] >= excess - 1e-9
    assert list(optimality(cert.certified(), gap)) == ["kkt"]


@pytest.mark.parametrize("m", [2, 12, 30])
def test_sphere_dual_max_is_the_maximum_over_directions(m):
    """d = 2 with biases: the exact maximum over S² is at least that of two million random
    directions and within their resolution of it; m = 2 has one pair of circles only."""
    rng = np.random.default_rng(m)
    xt = np.c_[rng.standard_normal((m, 2)), np.ones(m)]
    coef = rng.standard_normal(m)
    exact = sphere_dual_max(xt, coef)
    u = rng.standard_normal((1_000_000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    sampled = float(np.abs(np.maximum(u @ xt.T, 0.0) @ coef).max())
    assert exact >= sampled * (1 - 1e-12)
    assert exact == pytest.approx(sampled, rel=1e-3)


def test_sphere_dual_max_of_parallel_points():
    """Three points on one ray: h(u) = relu(u·x̂)·Σ coef_i ‖x̃_i‖, largest at u = ±x̂."""
    xt = np.array([[1.0, 0.0, 1.0], [2.0, 0.0, 2.0], [3.0, 0.0, 3.0]])
    coef = np.array([1.0, -0.5, 2.0])
    assert sphere_dual_max(xt, coef) == pytest.approx(np.sqrt(2) * (1 - 1 + 6))


def _cells(xt: np.ndarray) -> np.ndarray:
    """Every activation pattern of the arrangement of the planes u·x̃_i = 0 (by its vertices:
    each cell touches one), the empty one left out."""
    i, j = np.triu_indices(len(xt), 1)
    c = np.cross(xt[i], xt[j])
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    n = np.arange(len(i))
    pats = []
    for v in (c, -c):
        on = v @ xt.T > 1e-12
        for a, b in itertools.product((False, True), repeat=2):
            p = on.copy()
            p[n, i], p[n, j] = a, b
            pats.append(p)
    pats = np.unique(np.concatenate(pats), axis=0)
    return pats[pats.any(1)]


def test_gap_in_d_2_bounds_the_excess_over_the_exhaustive_convex_program():
    """Convex-route KKT points in d = 2 against the least norm of the convex program over
    every cell of the arrangement (an independent exact solve): the recorded gap is at least
    each network's true excess; these points are not all global."""
    cfg = RunConfig(dist="sphere", d=2, m=12, p=0.25, width=48, method="convex")
    records = run_experiment(cfg, [0, 1, 2, 3]).records
    excesses = []
    for seed, r in zip(range(4), records, strict=True):
        s = noisy_sample(cfg.distribution(), 12, 0.25, rng_for(seed, "data"))
        pats = _cells(np.c_[s.x, np.ones(12)])
        both = np.concatenate([pats, pats])
        signs = np.r_[np.ones(len(pats)), -np.ones(len(pats))]
        least = solve_patterns(RowSpace.of(s.x, True).a, s.y, both, signs)
        assert least.status == "optimal" and r.certified
        excess = 1 - least.objective * 2 * r.normalised_margin  # ½‖θ̃‖² = 1 / (2γ)
        assert r.global_gap >= excess - 1e-6
        assert (r.optimality == "global") == (r.global_gap <= GLOBAL_TOL)
        excesses.append(excess)
    assert max(excesses) > GLOBAL_TOL


def test_three_circles_through_a_vertex_are_not_checked():
    """Collinear points in d = 2 put every circle through the same two vertices, whose cells
    the enumeration does not all see (here the maximum is √29 at u ∝ (−2, 0, 5), with all
    three points active): NaN rather than a maximum that may be too low."""
    xt = np.array([[-2.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    assert np.isnan(sphere_dual_max(xt, np.array([1.0, 2.0, 2.0])))


def _net_of(search) -> tuple[np.ndarray, np.ndarray]:
    """The net Σ_k σ_k relu(u_k·x̃) of a search's blocks as neurons (K, d̃) and weights (K,)."""
    norms = np.linalg.norm(search.blocks, axis=1)
    keep = norms > 0
    root = np.sqrt(norms[keep])
    return search.blocks[keep] / root[:, None], search.signs[keep] * root


def test_a_better_pattern_found_is_a_net_of_lower_norm_that_interpolates():
    """d = 5: the convex route's certified KKT points; where the search reports a lower norm,
    the net it built, evaluated directly, has every margin ≥ 1 and ½‖θ‖² below the recorded
    network's by at least the reported share; some of these points are not global."""
    cfg = RunConfig(dist="sphere", d=5, m=40, p=0.2, width=80, method="convex")
    exp = run_experiment(cfg, [0, 1, 2])
    assert any(r.optimality == "not_global" for r in exp.records)
    for e, (seed, r) in enumerate(zip(exp.seeds, exp.records, strict=True)):
        assert r.certified and r.excess_found >= 0
        assert (r.optimality == "not_global") == (r.excess_found > GLOBAL_TOL)
        s = exp.samples[e]
        xt = np.c_[s.x, np.ones(len(s.y))]
        w, b, v = (p[e].numpy() for p in exp.params)
        cert = certify(ReLUNet.of(cfg), [p[e : e + 1] for p in exp.params], s.x, s.y,
                       multipliers=True)  # fmt: skip
        search = better_patterns(s.x, s.y, True, np.c_[w, b], v[0], cert.multipliers[0],
                                 rng_for(seed, "search"))  # fmt: skip
        assert search.excess == pytest.approx(r.excess_found, abs=1e-12)  # what was recorded
        if search.rounds == 0:
            continue
        neurons, out = _net_of(search)
        q = s.y * (np.maximum(xt @ neurons.T, 0.0) @ out)
        assert q.min() >= 1 - 1e-7
        half = 0.5 * ((neurons**2).sum() + (out**2).sum())
        recorded = 1 / (2 * r.normalised_margin)  # ½‖θ̃‖² at min_i q_i = 1
        assert half <= recorded * (1 - r.excess_found) * (1 + 1e-6)


def test_the_search_never_goes_below_the_least_norm_and_finds_nothing_at_it():
    """d = 2 with biases, where every pattern can be enumerated: the search's best norm is
    never below the exhaustive program's optimum; the exhaustive optimum's own network (a
    global minimiser) gets excess 0; the convex route's points, some above the least norm,
    get a lower bound on their excess."""
    cfg = RunConfig(dist="sphere", d=2, m=12, p=0.25, width=48, method="convex")
    exp = run_experiment(cfg, [0, 1, 2, 3])
    lower = []
    for e, seed in enumerate(exp.seeds):
        s = exp.samples[e]
        rs = RowSpace.of(s.x, True)
        pats = _cells(np.c_[s.x, np.ones(12)])
        both, signs = np.concatenate([pats, pats]), np.r_[np.ones(len(pats)), -np.ones(len(pats))]
        least = solve_patterns(rs.a, s.y, both, signs)
        assert least.status == "optimal"
        w, b, v = (p[e].numpy() for p in exp.params)
        cert = certify(ReLUNet.of(cfg), [p[e : e + 1] for p in exp.params], s.x, s.y,
                       multipliers=True)  # fmt: skip
        search = better_patterns(s.x, s.y, True, np.c_[w, b], v[0], cert.multipliers[0],
                                 rng_for(seed, "search"))  # fmt: skip
        if search.rounds:
            assert search.best >= least.objective * (1 - 1e-7)
        true_excess = 1 - least.objective * 2 * exp.records[e].normalised_margin
        assert search.excess <= true_excess + 1e-6
        lower.append((search.excess, true_excess))
        # the global minimiser: the exhaustive program's blocks as a net
        keep = np.linalg.norm(least.u, axis=1) > 1e-9 * np.linalg.norm(least.u, axis=1).sum()
        blocks = least.u[keep] @ rs.v.T
        root = np.sqrt(np.linalg.norm(blocks, axis=1))
        neurons, out = blocks / root[:, None], signs[keep] * root
        ensemble = [torch.tensor(a)[None] for a in (neurons[:, :2], neurons[:, 2], out[None])]
        net = ReLUNet(2, len(out), depth=2, bias=True)
        lam = certify(net, ensemble, s.x, s.y, multipliers=True).multipliers[0]
        found = better_patterns(s.x, s.y, True, neurons, out, lam, np.random.default_rng(seed))
        assert found.excess <= 1e-6
    assert any(found > GLOBAL_TOL for found, _ in lower)  # the search does find some


def test_the_search_finds_the_saddle_above_the_least_norm():
    """The certified 1-D KKT point 28% above the least norm: the search finds a net of lower
    norm, by no more than the true excess."""
    x, y = np.array(SADDLE_X)[:, None], np.array(SADDLE_Y)
    w, b, v = (np.array(a) for a in SADDLE)
    params = [torch.tensor(w)[None, :, None], torch.tensor(b)[None], torch.tensor(v)[None, None]]
    cert = certify(ReLUNet(1, 4, depth=2, bias=True), params, x, y, multipliers=True)
    least = min_norm_interpolant(x, y, width=20).norm_sq / 2
    excess = 1 - least / _half_norm(params, x, y)
    search = better_patterns(x, y, True, np.c_[w, b], v, cert.multipliers[0],
                             np.random.default_rng(0))  # fmt: skip
    assert GLOBAL_TOL < search.excess <= excess + 1e-6


def test_no_search_without_multipliers_that_favour_a_neuron():
    """Zero multipliers price every direction at 0: nothing is searched, and the excess is NaN
    (not 0, which would say 'none found')."""
    x, y = np.array(SADDLE_X)[:, None], np.array(SADDLE_Y)
    w, b, v = (np.array(a) for a in SADDLE)
    search = better_patterns(x, y, True, np.c_[w, b], v, np.zeros(5), np.random.default_rng(0))
    assert search.draws == 0 and np.isnan(search.excess)
