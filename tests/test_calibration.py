"""The calibration of the verdict rules on the Nadaraya–Watson interpolator: its scores against
a direct sum, its clean error against the closed-form limit of the kernel average, and the
rule against tables with known regimes (and the knob on the wrong side)."""

import itertools
import math
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from benign.reproductions.calibration import (
    CAP,
    KNOWN,
    PS,
    calibration,
    cell_verdicts,
    nw_clean_error,
    nw_scores,
)


def test_scores_have_the_sign_of_the_direct_sum_and_interpolate():
    rng = np.random.default_rng(1)
    xs, x = rng.random((40, 1)), rng.random((500, 1))
    ys = np.where(rng.random(40) < 0.3, -1.0, 1.0)
    for beta in (0.5, 1.0, 2.0):
        direct = (np.abs(x - xs.T) ** -beta) @ ys
        assert np.array_equal(np.sign(nw_scores(x, xs, ys, beta)), np.sign(direct))
        assert np.array_equal(np.sign(nw_scores(xs, xs, ys, beta)), ys)  # at the data: y_i


def _limit_error(beta: float) -> float:
    """L of the limit sign S(x) = ∫ f*(z)|x − z|^(−β) dz of the cap law (p = 0; for β < 1):
    with F(x, a, b) = ∫_a^b |x − z|^(−β) dz in closed form, the measure of {x < CAP: S > 0}
    ∪ {x ≥ CAP: S < 0}, from the roots of S on a fine grid refined by brentq."""

    def mass(x: float, a: float, b: float) -> float:
        def part(u: float) -> float:  # ∫_0^u t^(−β) dt
            return u ** (1 - beta) / (1 - beta)

        if x <= a:
            return part(b - x) - part(a - x)
        if x >= b:
            return part(x - a) - part(x - b)
        return part(x - a) + part(b - x)

    def s(x: float) -> float:
        return mass(x, CAP, 1.0) - mass(x, 0.0, CAP)

    grid = np.linspace(1e-9, 1 - 1e-9, 4001)
    values = np.array([s(x) for x in grid])
    edges = [0.0, CAP, 1.0]  # pieces where neither S's sign nor f* changes
    for i in np.flatnonzero(np.sign(values[:-1]) != np.sign(values[1:])):
        edges.append(brentq(s, grid[i], grid[i + 1]))
    edges.sort()
    wrong = 0.0
    for lo, hi in itertools.pairwise(edges):
        mid = (lo + hi) / 2
        if (s(mid) > 0) != (mid >= CAP):
            wrong += hi - lo
    return wrong


@pytest.mark.slow
def test_the_cap_law_without_noise_errs_as_its_kernel_average_limit():
    """β < d: ĥ tends to the sign of the kernel average of f*, whatever the noise. At β = 1/4
    that sign is +1 on all of [0, 1] (L = CAP); at β = 1/2 it is wrong on part of the cap
    only (L ≈ 0.11); the measured means over seeds at m = 1000 agree with both limits."""
    assert _limit_error(0.25) == pytest.approx(CAP, abs=1e-6)
    for beta, tol in ((0.25, 0.005), (0.5, 0.03)):
        measured = np.mean([nw_clean_error("cap", beta, 1000, 0.0, s) for s in range(8)])
        assert measured == pytest.approx(_limit_error(beta), abs=tol)
    assert 0.05 < _limit_error(0.5) < 0.15


def _rows(errors: dict[tuple[str, float], object], seeds: int = 6) -> list[dict]:
    """Rows of synthetic clean errors: per cell, ``errors[cell](p, rng)``."""
    rng = np.random.default_rng(0)
    return [
        {"law": law, "beta": beta, "m": 1, "p": p, "seed": s, "L": f(p, rng)}
        for (law, beta), f in errors.items()
        for p in PS
        for s in range(seeds)
    ]


def benign_(p, rng):
    return 0.02 * p * rng.random()


def tempered(p, rng):
    return p * (0.8 + 0.2 * rng.random())


def biased(p, rng):
    return 0.12 + 0.01 * rng.random()  # the same error at every p, p = 0 included


TRUE = {
    ("constant", 0.5): benign_,
    ("constant", 2.0): tempered,
    ("cap", 0.5): biased,
    ("cap", 2.0): tempered,
}


def _verdict(cells: dict, seeds: int = 6):
    computed = {"d": 1, "m": 1, "cap": CAP, "rows": _rows(cells, seeds)}
    return calibration(pd.DataFrame(), computed)


def test_rule_agrees_on_the_known_regimes():
    v = _verdict(TRUE)
    assert v.verdict == "agrees", v.reason
    by = {(c["law"], c["beta"]): c["verdict"] for c in v.evidence["cells"]}
    assert by == {cell: list(known) for cell, known in KNOWN.items()}


@pytest.mark.parametrize("cell", list(TRUE))
def test_rule_disagrees_with_the_knob_on_the_other_side(cell):
    """Each cell given the errors of its law at the other β (or, for the cap law at β = d/2,
    a tempered law in place of the biased one) is judged otherwise: disagrees."""
    law, beta = cell
    other = (law, 2.0 if beta == 0.5 else 0.5)
    swapped = dict(TRUE) | {cell: TRUE[other], other: TRUE[cell]}
    v = _verdict(swapped)
    assert v.verdict == "disagrees", v.reason


def test_rule_disagrees_when_one_half_is_wrong_and_the_other_undecided(monkeypatch):
    """A cell undecided with p = 0 in the grid but judged otherwise on p > 0 alone is a wrong
    verdict: disagrees, not inconclusive."""
    module = sys.modules[calibration.__module__]

    def one_half_wrong(frame):
        cells = cell_verdicts(frame)
        for c in cells:
            if (c["law"], c["beta"]) == ("constant", 2.0):
                c["verdict"] = ["undecided", "benign"]
        return cells

    monkeypatch.setattr(module, "cell_verdicts", one_half_wrong)
    assert _verdict(TRUE).verdict == "disagrees"


def test_rule_is_inconclusive_with_too_few_seeds_or_cells():
    assert _verdict(TRUE, seeds=3).verdict == "inconclusive"
    partial = {k: f for k, f in TRUE.items() if k != ("cap", 2.0)}
    assert _verdict(partial).verdict == "inconclusive"


def test_boundary_is_reported_not_judged():
    v = _verdict(TRUE | {("constant", 1.0): biased})
    assert v.verdict == "agrees" and "β = d (not judged)" in v.reason
    cell = next(c for c in v.evidence["cells"] if c["beta"] == 1.0)
    assert cell["known"] is None and not math.isnan(cell["points"][1]["L"][0])


@pytest.mark.slow
def test_the_interpolator_gets_the_known_verdicts_and_the_knob_moves_them():
    """The interpolator itself at m = 500, 4 seeds: each cell gets its known verdict; each law
    gets a different verdict at β = d/2 and at β = 2d."""
    rows = [
        {"law": law, "beta": beta, "m": 500, "p": p, "seed": s}
        | {"L": nw_clean_error(law, beta, 500, p, s)}
        for law, beta in KNOWN
        for p in PS
        for s in range(4)
    ]
    cells = {(c["law"], c["beta"]): c["verdict"] for c in cell_verdicts(pd.DataFrame(rows))}
    assert cells == {cell: list(known) for cell, known in KNOWN.items()}
    for law in ("constant", "cap"):
        assert cells[(law, 0.5)] != cells[(law, 2.0)]
