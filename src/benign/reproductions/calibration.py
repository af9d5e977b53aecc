"""Calibration of the verdict rules (docs/regimes.md) on an interpolator whose regime is known:
the Nadaraya–Watson interpolator with a singular kernel (Barzilai, Kornowski & Shamir 2025),

    ĥ(x) = sign Σ_i y_i ‖x − x_i‖^(−β),

which interpolates (near x_i the term of x_i dominates). On [0, 1] (d = 1), per clean law and
knob β, the clean error L of each sample against the noise p, and the regime rules applied to
it as to networks. The known answers (docs/reproductions.md derives them):

- f* ≡ +1 (the papers' law), β = d/2: benign — for β < d the kernel average
  (1/m) Σ y_i ‖x − x_i‖^(−β) tends to (1 − 2p)·∫ ‖x − z‖^(−β) dz > 0, and a flipped point's
  own term outweighs it only within ~m^(−1/β) of it;
- f* ≡ +1, β = 2d: tempered (β > d: each flipped point claims a neighbourhood of the size of
  the gaps between points, L = Θ(p));
- f* = −1 on [0, CAP), +1 elsewhere, β = d/2: catastrophic (β < d): ĥ tends to the sign of the
  kernel average of f*, wrong near the cap's edge whatever p, so L stays away from 0 as p → 0.
  The error is there at p = 0 too: with p = 0 in the grid the rules name it
  ``fails_without_noise`` (the error is not the noise's), on p > 0 alone ``catastrophic``;
- f* with the cap, β = 2d: tempered, as with f* ≡ +1.

β = d (benign as m → ∞ by the same paper, approached like 1/log m) is measured beside them and
enters no rule.
"""

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from benign.regimes import N_BOOT, point_stats, verdict
from benign.reproductions.rules import Outcome, Verdict, interval
from benign.seeding import rng_for

if TYPE_CHECKING:
    import pandas as pd

BKS = "Barzilai, Kornowski & Shamir (NeurIPS 2025)"
D = 1  # the interval [0, 1]
CAP = 0.2  # the cap law: f* = −1 on [0, CAP), +1 on [CAP, 1]
PS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
M = (2000, 500)  # (full, quick)
SEEDS = (8, 4)  # (full, quick)
TEST_HALF_WIDTH = 0.005  # Monte Carlo: at most this half-width of a 95% interval per network
LAWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "constant": lambda x: np.ones(len(x)),
    "cap": lambda x: np.where(x[:, 0] < CAP, -1.0, 1.0),
}
# (law, β / d) → the known verdict with p = 0 in the grid, and on p > 0 alone
KNOWN: dict[tuple[str, float], tuple[str, str]] = {
    ("constant", 0.5): ("benign", "benign"),
    ("constant", 2.0): ("tempered", "tempered"),
    ("cap", 0.5): ("fails_without_noise", "catastrophic"),
    ("cap", 2.0): ("tempered", "tempered"),
}
BOUNDARY = 1.0  # β = d: measured, judged by no rule


def nw_scores(x: np.ndarray, xs: np.ndarray, ys: np.ndarray, beta: float) -> np.ndarray:
    """Σ_i y_i (r_min / ‖x − x_i‖)^β at each row of ``x`` — the interpolator's sum scaled by
    the positive r_min^β (r_min: the distance to the nearest x_i), so nothing overflows; at a
    training point, its own label."""
    from scipy.spatial.distance import cdist

    out = np.empty(len(x))
    block = max(1, 2**22 // max(len(xs), 1))
    for s in range(0, len(x), block):
        r = cdist(x[s : s + block], xs)
        nearest = r.min(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(nearest > 0, (nearest / r) ** beta, r == 0)
        out[s : s + block] = w @ ys
    return out


def nw_clean_error(law: str, beta: float, m: int, p: float, seed: int) -> float:
    """L of ĥ on one sample of m points uniform on [0, 1] with clean labels f* of ``law`` flipped
    independently with probability p, by Monte Carlo on fresh points (a 95% interval of
    half-width ≤ TEST_HALF_WIDTH); ĥ(x) = 0 counts as an error."""
    from benign.measures.clean_error import mc_sample_size  # with PyTorch: only to compute

    f = LAWS[law]
    data, test = rng_for(seed, "data"), rng_for(seed, "test")
    xs = data.random((m, D))
    ys = np.where(data.random(m) < p, -1.0, 1.0) * f(xs)
    xt = test.random((mc_sample_size(TEST_HALF_WIDTH), D))
    return float(np.mean(np.sign(nw_scores(xt, xs, ys, beta)) != f(xt)))


def calibration_evidence(quick: bool, first_seed: int = 0) -> dict:
    """The clean errors of ĥ per (law, β, p, seed) at one m: the four cells of KNOWN (and, in
    the full grid, β = d beside them)."""
    m, n = M[quick], SEEDS[quick]
    betas = sorted({b for _, b in KNOWN} | (set() if quick else {BOUNDARY}))
    rows = [
        {
            "law": law,
            "beta": b * D,
            "m": m,
            "p": p,
            "seed": seed,
            "L": nw_clean_error(law, b * D, m, p, seed),
        }
        for law in LAWS
        for b in betas
        for p in PS
        for seed in range(first_seed, first_seed + n)
    ]
    return {"d": D, "cap": CAP, "m": m, "rows": rows}


def cell_verdicts(frame: "pd.DataFrame") -> list[dict[str, Any]]:
    """Per (law, β) of the rows: its points (p, n, L with its interval, L/p with its) and the
    verdicts of :func:`benign.regimes.verdict` with p = 0 in the grid and on p > 0 alone,
    beside the known ones (None for β = d)."""
    cells = []
    for (law, beta), sub in frame.groupby(["law", "beta"], sort=True):
        rng = np.random.default_rng(0)
        points = [
            point_stats(float(p), g["L"].to_numpy(float), rng, N_BOOT)
            for p, g in sub.groupby("p", sort=True)
        ]
        known = KNOWN.get((str(law), float(beta) / D))
        with_zero, _ = verdict(points)
        noisy_only, _ = verdict([pt for pt in points if pt.p > 0])
        cells.append(
            {
                "law": str(law),
                "beta": float(beta),
                "known": list(known) if known else None,
                "verdict": [with_zero, noisy_only],
                "points": [
                    {
                        "p": pt.p,
                        "n": pt.n,
                        "L": [pt.mean, pt.lo, pt.hi],
                        "L_over_p": [pt.ratio, pt.ratio_lo, pt.ratio_hi],
                    }
                    for pt in points
                ],
            }
        )
    return cells


def _name(cell: dict) -> str:
    law = "f* ≡ +1" if cell["law"] == "constant" else f"f* = −1 on [0, {CAP:g})"
    return f"{law}, β = {cell['beta']:g}"


def _at_largest_p(cell: dict) -> str:
    """'constant benign / benign, L/p = 0.18 [0.17, 0.19] at p = 0.2'."""
    last = cell["points"][-1]
    mean, lo, hi = last["L_over_p"]
    verdicts = " / ".join(cell["verdict"])
    return f"{cell['law']} {verdicts}, L/p = {interval(mean, lo, hi, '.2f')} at p = {last['p']:g}"


def calibration(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """The regime rules on ĥ against the known answers (module docstring), each cell's verdict
    taken with p = 0 in the grid and on p > 0 alone:

    - agrees: every cell of KNOWN gets both its known verdicts (the knob β on either side of d
      moves each law's verdict as the theory says);
    - disagrees: some cell gets a decided verdict (not ``undecided``) other than its known one;
    - inconclusive otherwise (some cell undecided: too few seeds or intervals too wide).

    β = d is reported, not judged."""
    import pandas as pd

    cells = cell_verdicts(pd.DataFrame(computed["rows"]))
    judged = [c for c in cells if c["known"]]
    evidence = {"d": computed["d"], "m": computed["m"], "cap": computed["cap"], "cells": cells}
    if len(judged) != len(KNOWN):
        return Verdict("inconclusive", f"{len(judged)} of the {len(KNOWN)} cells computed", "—")
    wrong = [
        c
        for c in judged
        if any(v not in ("undecided", k) for v, k in zip(c["verdict"], c["known"], strict=True))
    ]
    open_ = [c for c in judged if "undecided" in c["verdict"]]
    laws = {"constant": "f* ≡ +1", "cap": f"f* = −1 on [0, {CAP:g})"}
    key = (
        "; ".join(
            f"{title}: "
            + ", ".join(
                f"{' / '.join(dict.fromkeys(c['verdict']))} at β = {c['beta']:g}"
                for c in judged
                if c["law"] == law
            )
            for law, title in laws.items()
        )
        + f" (d = {computed['d']}, m = {computed['m']})"
    )
    outcome: Outcome
    if wrong:
        outcome = "disagrees"
        why = "; ".join(
            f"{_name(c)} judged {' / '.join(c['verdict'])}, known {' / '.join(c['known'])}"
            for c in wrong
        )
    elif open_:
        outcome, why = "inconclusive", "undecided at " + "; ".join(_name(c) for c in open_)
    else:
        outcome = "agrees"
        why = f"all {len(judged)} cells judged as known, with p = 0 in the grid and without"
    boundary = [c for c in cells if not c["known"]]
    if boundary:
        why += "; β = d (not judged): " + "; ".join(map(_at_largest_p, boundary))
    if outcome != "disagrees" and any(math.isnan(pt["L"][1]) for c in judged for pt in c["points"]):
        outcome, why = "inconclusive", "a cell has fewer than two seeds at some p"
    return Verdict(outcome, why, key, evidence)
