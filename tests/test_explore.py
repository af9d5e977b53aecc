"""Many KKT points of one sample: in d = 1, on a tiny sample, every point an enumeration of the
kink sets finds; each point is an interpolating network whose clean error matches a dense
evaluation; the first is the global minimiser; in d = 3 the convex route's points interpolate,
differ, and have the clean error of an independent evaluation; and the envelope's rule."""

import itertools

import numpy as np
import pandas as pd
import pytest

from benign.certificate import GLOBAL_TOL
from benign.data import Distribution, noisy_sample
from benign.explore import _lp_candidate, _same, kkt_points
from benign.lp import min_norm_interpolant
from benign.reproductions.envelope import envelope


def _sample(seed: int, m: int, p: float = 0.3):
    return noisy_sample(Distribution("interval", 1), m, p, np.random.default_rng(seed))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3])
def test_the_points_found_are_every_point_of_the_exhaustive_enumeration(seed):
    """At m = 5 the 256 kink sets are few enough to take each once: the points found are
    those of an enumeration of the sets done here, each once."""
    s = _sample(seed, m=5, p=0.4)
    xs = np.sort(s.x[:, 0])
    grid = np.sort(np.r_[xs, (xs[1:] + xs[:-1]) / 2])
    every = []
    for bits in itertools.product([False, True], repeat=8):  # the 2(m − 1) arcs
        arcs = np.array(bits).reshape(2, 4)
        point = _lp_candidate(s.x, s.y, arcs, 1, Distribution("interval", 1), 0, None)
        if point is not None and not any(_same(point, q, grid) for q in every):
            every.append(point)
    found = kkt_points(s.x, s.y, 257, np.random.default_rng(0))  # every kink set, then
    assert len(every) >= 2 and len(found) == len(every)  # more than the least-norm point
    for point in every:
        assert any(_same(point, q, grid) for q in found)


def test_points_interpolate_and_their_error_matches_a_dense_evaluation():
    s = _sample(1, m=60)
    points = kkt_points(s.x, s.y, 30, np.random.default_rng(2))
    least = min_norm_interpolant(s.x, s.y, width=240)
    assert points[0].draw == 0 and points[0].optimality == "global"
    assert points[0].half_norm == pytest.approx(least.norm_sq / 2, rel=1e-9)
    assert points[0].global_gap <= GLOBAL_TOL
    dense = np.linspace(0, 1, 2_000_001)
    for pt in points:
        q = s.y * pt.values(s.x[:, 0])
        assert q.min() == pytest.approx(1.0, abs=1e-6)  # rescaled: min margin 1
        assert pt.eps_rel <= 0.05 and pt.half_norm >= points[0].half_norm * (1 - 1e-9)
        assert np.mean(pt.values(dense) <= 0) == pytest.approx(pt.clean_error, abs=2e-6)


def test_the_convex_route_finds_distinct_interpolating_points_in_d_3():
    """d = 3 on the sphere: several distinct certified points, each with min margin 1, ½‖θ̃‖²
    of its parameters, its tier from the search for better patterns, and the clean error of
    400,000 fresh points evaluated here (the recorded one is Monte Carlo to ±0.01)."""
    law = Distribution("sphere", 3)
    s = noisy_sample(law, 30, 0.2, np.random.default_rng(4))
    points = kkt_points(s.x, s.y, 8, np.random.default_rng(5), law)
    assert len(points) >= 2 and all(pt.gates > 0 and pt.arcs == 0 for pt in points)
    fresh = law.sample(400_000, np.random.default_rng(6))
    for pt in points:
        assert pt.eps_rel <= 0.05 and np.isnan(pt.global_gap) and pt.excess_found >= 0
        assert (pt.optimality == "not_global") == (pt.excess_found > GLOBAL_TOL)
        assert (s.y * pt.values(s.x)).min() == pytest.approx(1.0, abs=1e-6)
        half = 0.5 * ((pt.w**2).sum() + (pt.b**2).sum() + (pt.v**2).sum())
        assert half == pytest.approx(pt.half_norm, rel=1e-9)
        assert np.mean(pt.values(fresh) <= 0) == pytest.approx(pt.clean_error, abs=0.015)
    norms = sorted(pt.half_norm for pt in points)
    assert norms[-1] > norms[0] * (1 + 1e-6)  # not one point found twice


def _row(m: int, p: float, seed: int, draw: int, err: float, tier: str) -> dict:
    """One point of the envelope's evidence."""
    return {
        "m": m, "p": p, "seed": seed, "flips": 1, "draw": draw, "arcs": 4, "half_norm": 1.0,
        "norm_excess": 0.0, "clean_error": err, "eps_rel": 0.0, "global_gap": 0.0,
        "optimality": tier,
    }  # fmt: skip


def _rows(values: dict[float, list[float]], m: int = 300) -> dict:
    rows = [
        _row(m, p, s, k, err, "global" if k == 0 else "kkt")
        for p, errors in values.items()
        for s in range(2)
        for k, err in enumerate(errors)
    ]
    return {"band": [1.0, 1.0], "draws": 10, "rows": rows}


def test_envelope_rule_checks_the_band_at_the_largest_m():
    inside = {0.05: [0.04, 0.06], 0.2: [0.15, 0.2]}
    v = envelope(pd.DataFrame(), _rows(inside))
    assert v.verdict == "agrees", v.reason
    cell = next(c for c in v.evidence["cells"] if c["p"] == 0.05)
    assert cell["spread"][0] == pytest.approx(0.02) and cell["not_global"] == 0.5
    above = {0.05: [0.04, 0.3], 0.2: [0.15, 0.2]}  # 0.3 > √0.05 = 0.224
    assert envelope(pd.DataFrame(), _rows(above)).verdict == "disagrees"
    below = {0.05: [0.04, 1e-8], 0.2: [0.15, 0.2]}  # 1e-8 < 0.05⁵ = 3.1e-7
    assert envelope(pd.DataFrame(), _rows(below)).verdict == "disagrees"
    one = {0.05: [0.04], 0.2: [0.15]}
    assert envelope(pd.DataFrame(), _rows(one)).verdict == "inconclusive"
    # outside only at a smaller m: judged at the largest
    small = _rows(above, m=100)
    small["rows"] += _rows(inside, m=300)["rows"]
    assert envelope(pd.DataFrame(), small).verdict == "agrees"


def test_kkt_points_command():
    import json

    from helpers import benign

    r = benign("kkt-points", "--m", "30", "--p", "0.2", "--draws", "12", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["m"] == 30 and doc["points"][0]["draw"] == 0
    assert doc["points"][0]["optimality"] == "global"
    assert len({pt["draw"] for pt in doc["points"]}) == len(doc["points"]) >= 1
    r = benign("kkt-points", "--dist", "sphere", "--d", "3", "--m", "20", "--draws", "3", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["d"] == 3 and all(pt["gates"] > 0 for pt in doc["points"])
    assert all(pt["global_gap"] is None and pt["excess_found"] >= 0 for pt in doc["points"])
    for args, field in (
        (("--dist", "separated"), "--dist"),
        (("--dist", "interval", "--d", "2"), "--d"),
        (("--m", "1"), "--m"),
        (("--draws", "0"), "--draws"),
        (("--p", "0.5"), "--p"),
    ):
        bad = benign("kkt-points", *args)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and field in bad.stderr


def _global_rows(ratio: float, samples: int = 4, m: int = 300) -> dict:
    rows = [
        _row(m, p, s, k, ratio * p * (1 + 0.01 * k), "global" if k < 2 else "kkt")
        for p in (0.05, 0.2)
        for s in range(samples)
        for k in range(3)
    ]
    return {"band": [1.0, 1.0], "draws": 10, "rows": rows}


def test_local_minima_rule_judges_the_global_points_against_the_band():
    from benign.reproductions.envelope import local_minima

    v = local_minima(pd.DataFrame(), _global_rows(1.0))
    assert v.verdict == "agrees", v.reason
    assert v.evidence["cells"][0]["points"] == 8  # two global points per sample, four samples
    assert local_minima(pd.DataFrame(), _global_rows(3.0)).verdict == "disagrees"
    assert local_minima(pd.DataFrame(), _global_rows(0.3)).verdict == "disagrees"
    assert local_minima(pd.DataFrame(), _global_rows(1.0, samples=3)).verdict == "inconclusive"
