"""The crossover estimator of the transition (benign.reproductions.transition) on curves whose
crossing is known by hand, and its rule on synthetic runs tables with a known d*(m)."""

import math

import numpy as np
import pytest
from test_reproduce import grid, runs_table

from benign.reproductions.transition import crossing, transition

PS = [0.1, 0.3]
MS = [25, 50, 100, 200, 400]
DS = [round(10 ** (i / 4)) for i in range(0, 23)]  # 1 … 3·10⁵, four per decade


@pytest.mark.parametrize(
    ("ratios", "expected"),
    [
        ([1.0, 0.5, 0.1], 10**1.625),  # t = (0.5 − 0.25)/(0.5 − 0.1) of the decade 10 → 100
        ([1.0, 0.25, 0.0], 10.0),  # at the level itself: not below yet, so d* is that d
        ([1.0, 0.1, 0.5, 0.05], 10 ** (2 + 0.25 / 0.45)),  # found from the right
        ([1.0, 0.9, 0.3], math.inf),  # no crossover in the grid
        ([0.2, 0.1, 0.0], 0.0),  # below the grid
    ],
)
def test_crossing_by_hand(ratios, expected):
    got = crossing(np.array([1.0, 10.0, 100.0, 1000.0][: len(ratios)]), np.array(ratios))
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, rel=1e-12)


def power_law(k: float, c: float = 2.0):
    """Clean errors whose mean L/p is 1/(1 + 3(d/d*)²), d* = c·m^k: L/p = 1/4 exactly at d*,
    and a spread over seeds of ±20%."""

    def error(s, seed):
        d_star = c * s["m"] ** k
        spread = 1 + 0.4 * ((seed * 7919) % 8 - 3.5) / 7
        return s["p"] * spread / (1 + 3 * (s["d"] / d_star) ** 2)

    return error


def table(error, ms=MS, ds=DS, **kw):
    return runs_table(grid(dist=["sphere"], m=ms, d=ds, p=PS), error, **kw)


def test_a_known_power_law_is_recovered_within_its_interval():
    v = transition(table(power_law(1.5)), {})
    assert v.verdict == "agrees", v.reason
    for k in v.evidence["exponents"]:
        assert k["ms"] == MS
        assert k["k"][1] <= 1.5 <= k["k"][2], k
    for c in v.evidence["crossovers"]:
        d, lo, hi = c["d_star"]
        assert c["where"] == "inside"
        assert lo <= 2 * c["m"] ** 1.5 <= hi
        assert d == pytest.approx(2 * c["m"] ** 1.5, rel=0.1)  # the interpolation's error


def test_a_crossover_that_does_not_move_with_m_is_not_agreed():
    assert transition(table(power_law(0.0, c=300)), {}).verdict == "inconclusive"
    v = transition(table(power_law(-0.5, c=3000)), {})
    assert v.verdict == "disagrees", v.reason
    assert all(k["k"][2] < 0 for k in v.evidence["exponents"])


def test_no_crossover_in_the_grid():
    v = transition(table(lambda s, seed: s["p"] * (1 + 0.01 * seed)), {})
    assert (v.verdict, v.key) == ("inconclusive", "no crossover in the grid")
    assert {c["where"] for c in v.evidence["crossovers"]} == {"above"}
    # a grid that stops short of d* at the larger m measures k on the smaller ones only
    v = transition(table(power_law(1.5), ds=DS[:17]), {})  # d ≤ 10⁴: d* = 16,000 at m = 400
    assert v.verdict == "agrees", v.reason
    assert [k["ms"] for k in v.evidence["exponents"]] == [[25, 50, 100, 200]] * 2
    assert {c["m"] for c in v.evidence["crossovers"] if c["where"] == "above"} == {400}
    # and with d* inside the grid at two m only, no exponent
    v = transition(table(power_law(1.5), ds=DS[:13]), {})  # d ≤ 1000: d* = 2000 at m = 100
    assert (v.verdict, v.evidence["exponents"]) == ("inconclusive", [])


def test_uncertified_or_too_few_networks_do_not_count():
    uncertified = table(power_law(1.5), certified=lambda s, seed: s["d"] < 1000 or seed < 2)
    v = transition(uncertified, {})
    assert v.verdict == "inconclusive" and "fewer than 4 certified networks" in v.reason


def test_a_crossover_bracketed_only_coarsely_is_not_fitted():
    """d* between grid neighbours more than a decade apart (d = 1 and 1000 at m = 25 and 50,
    where d* = 250 and 707) is 'coarse' and left out of k."""
    ds = [1, *DS[12:]]  # 1, then 1000 … 3·10⁵
    v = transition(table(power_law(1.5), ds=ds), {})
    where = {(c["m"], c["p"]): c["where"] for c in v.evidence["crossovers"]}
    assert {where[m, p] for m in (25, 50) for p in PS} == {"coarse"}
    assert {where[m, p] for m in (100, 200, 400) for p in PS} == {"inside"}
    assert [k["ms"] for k in v.evidence["exponents"]] == [[100, 200, 400]] * 2


def test_the_bracket_is_the_pair_the_estimate_was_interpolated_between():
    """At L/p = level exactly on a grid d, d* is that d, interpolated between it and the next
    (not between it and the one before)."""
    from benign.reproductions.transition import crossover

    values = {1: np.full(4, 0.5), 10: np.full(4, 0.125), 100: np.zeros(4)}  # L/p 1, 0.25, 0
    c, _ = crossover(values, p=0.5, m=25)
    assert c.d == pytest.approx(10.0, rel=1e-12) and c.bracket == (10.0, 100.0)
