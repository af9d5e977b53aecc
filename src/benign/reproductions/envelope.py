"""The 1-D envelope: Kornowski–Yehudai–Shamir bound the clean error of *every* KKT point in
d = 1 (w.h.p. over the sample) by c·p⁵ ≤ L ≤ C·√p, with c and C not published. Per sample of
m points uniform on [0, 1] with flip probability p, the distinct certified KKT points found by
:func:`benign.explore.kkt_points` (the least-norm one and those of random kink sets), each
with its exact clean error, ½‖θ̃‖² and how far from a global minimiser it is.

The rule takes c = C = 1 (stated before the grid ran): every point at the largest m inside
[p⁵, √p]. The band is loose; the spread of L over the points of one sample, against p, is
the finding, reported beside it.
"""

from typing import TYPE_CHECKING, Any

import numpy as np

from benign.reproductions.rules import Verdict, interval, mean_interval
from benign.seeding import rng_for

if TYPE_CHECKING:
    import pandas as pd

BAND = (1.0, 1.0)  # (c, C) of c·p⁵ ≤ L ≤ C·√p
MS = ((100, 300), (100,))  # (full, quick); m = 1000: see docs/reproductions.md
PS = ((0.02, 0.05, 0.1, 0.2, 0.3), (0.05, 0.2))
SEEDS = (12, 2)  # samples per (m, p); 4 left local-minima-1d undecided on fresh seeds
DRAWS = (40, 20)


def envelope_evidence(quick: bool, first_seed: int = 0) -> dict:
    """Per (m, p, seed) one sample, and a row per distinct certified KKT point found in its
    draws: how found, ½‖θ̃‖² and its excess over the sample's least, L, ε_rel, the global gap
    and tier; a sample whose least-norm network is not certified has no excess."""
    from benign.data import Distribution, noisy_sample
    from benign.explore import kkt_points

    rows: list[dict[str, Any]] = []
    for m in MS[quick]:
        for p in PS[quick]:
            for seed in range(first_seed, first_seed + SEEDS[quick]):
                sample = noisy_sample(Distribution("interval", 1), m, p, rng_for(seed, "data"))
                points = kkt_points(sample.x, sample.y, DRAWS[quick], rng_for(seed, "explore"))
                least = points[0].half_norm if points and points[0].draw == 0 else np.nan
                rows += [
                    {
                        "m": m,
                        "p": p,
                        "seed": seed,
                        "flips": sample.flips,
                        "draw": pt.draw,
                        "arcs": pt.arcs,
                        "half_norm": pt.half_norm,
                        "norm_excess": pt.half_norm / least - 1,
                        "clean_error": pt.clean_error,
                        "eps_rel": pt.eps_rel,
                        "global_gap": pt.global_gap,
                        "optimality": pt.optimality,
                    }
                    for pt in points
                ]
    return {"band": list(BAND), "draws": DRAWS[quick], "rows": rows}


def spread(frame: "pd.DataFrame") -> list[dict[str, Any]]:
    """Per (m, p): samples, distinct points per sample (mean, min), the share not shown
    global, L over all points (min, median, max), the mean over samples of the spread
    max L − min L with its interval, that spread over p, and the largest norm excess."""
    out = []
    for (m, p), sub in frame.groupby(["m", "p"], sort=True):
        per = sub.groupby("seed")
        counts = per.size().to_numpy()
        widths = (per["clean_error"].max() - per["clean_error"].min()).to_numpy(float)
        width = mean_interval(widths)
        err = sub["clean_error"].to_numpy(float)
        out.append(
            {
                "m": int(m),
                "p": float(p),
                "samples": len(counts),
                "points": [float(counts.mean()), int(counts.min())],
                "not_global": float((sub["optimality"] != "global").mean()),
                "L": [float(err.min()), float(np.median(err)), float(err.max())],
                "spread": list(width),
                "spread_over_p": [x / p for x in width],
                "norm_excess_max": float(np.nanmax(sub["norm_excess"].to_numpy(float))),
            }
        )
    return out


def _spread(cell: dict) -> str:
    mean, lo, hi = cell["spread"]
    return interval(mean, lo, hi, ".2g")


def envelope(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Every distinct certified KKT point found, at the largest m of the grid:

    - agrees: every one has c·p⁵ ≤ L ≤ C·√p (c = C = 1);
    - disagrees: some point lies outside (its L is exact: no interval);
    - inconclusive: fewer than 2 points found per sample on average at some p.

    Reported beside it: per (m, p) the points per sample, the share not shown global, L's
    range and the spread max L − min L within a sample (mean over samples, 95% interval)."""
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    if frame.empty:
        return Verdict("inconclusive", "no certified KKT point found", "—")
    c, big_c = computed["band"]
    table = spread(frame)
    largest = int(frame["m"].max())
    top = frame[frame["m"] == largest]
    p = top["p"].to_numpy(float)
    err = top["clean_error"].to_numpy(float)
    outside = top[(err < c * p**5) | (err > big_c * np.sqrt(p))]
    evidence = {"band": [c, big_c], "largest_m": largest, "cells": table}
    at_top = [t for t in table if t["m"] == largest]
    key = f"m = {largest}: spread max L − min L per sample " + ", ".join(
        f"{_spread(t)} at p = {t['p']:g}" for t in at_top
    )
    key += "; not global: " + ", ".join(f"{t['not_global']:.0%}" for t in at_top)
    if len(outside):
        row = outside.iloc[0]
        why = (
            f"{len(outside)} of {len(top)} points at m = {largest} outside [p⁵, √p], e.g. "
            f"L = {row['clean_error']:.3g} at p = {row['p']:g} (seed {row['seed']})"
        )
        return Verdict("disagrees", why, key, evidence)
    few = [t for t in at_top if t["points"][0] < 2]
    if few:
        why = "fewer than 2 distinct points per sample at p = " + ", ".join(
            f"{t['p']:g}" for t in few
        )
        return Verdict("inconclusive", why, key, evidence)
    why = f"all {len(top)} points at m = {largest} inside [{c:g}·p⁵, {big_c:g}·√p]"
    return Verdict("agrees", why, key, evidence)


def local_minima(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """ "Any local minimum has L ≈ p": with the width above the support, a local minimum of the
    margin problem is a global one, so the points tested are every distinct certified point
    shown global (``optimality`` global: within 10⁻³ of the least norm) — several per sample
    where the least norm is not unique. At the largest m, per p: per sample the mean L/p of its
    global points, and the mean over samples with its 95% interval:

    - agrees: at every p the interval lies inside TEMPERED_BAND (L = Θ(p), as tempered-1d);
    - disagrees: at some p it lies wholly outside;
    - inconclusive otherwise, or with fewer than MIN_SEEDS samples with a global point at a p."""
    import pandas as pd

    from benign.regimes import MIN_SEEDS
    from benign.reproductions.rules import TEMPERED_BAND

    frame = pd.DataFrame(computed["rows"])
    if frame.empty:
        return Verdict("inconclusive", "no certified KKT point found", "—")
    largest = int(frame["m"].max())
    top = frame[(frame["m"] == largest) & (frame["optimality"] == "global")]
    low, high = TEMPERED_BAND
    cells: list[dict[str, Any]] = []
    for p, sub in top.groupby("p", sort=True):
        per = (sub.groupby("seed")["clean_error"].mean() / p).to_numpy(float)
        ratio = sub["clean_error"].to_numpy(float) / p
        cells.append(
            {
                "p": float(p),
                "samples": len(per),
                "points": len(sub),
                "L_over_p": list(mean_interval(per)),
                "range": [float(ratio.min()), float(ratio.max())],
            }
        )
    evidence = {"m": largest, "band": [low, high], "cells": cells}
    key = f"m = {largest}, global points: L/p " + ", ".join(
        f"{_ratio(c)} at p = {c['p']:g}" for c in cells
    )
    ps = sorted(frame["p"].unique())
    few = [c for c in cells if c["samples"] < MIN_SEEDS]
    if few or len(cells) < len(ps):
        why = f"fewer than {MIN_SEEDS} samples with a global point at some p"
        return Verdict("inconclusive", why, key, evidence)
    outside = [c for c in cells if c["L_over_p"][2] < low or c["L_over_p"][1] > high]
    if outside:
        why = "L/p's interval outside [{low}, {high}] at p = " + ", ".join(
            f"{c['p']:g}" for c in outside
        )
        return Verdict("disagrees", why.format(low=low, high=high), key, evidence)
    if all(low <= c["L_over_p"][1] and c["L_over_p"][2] <= high for c in cells):
        why = f"L/p's interval inside [{low}, {high}] at every p ({len(top)} global points)"
        return Verdict("agrees", why, key, evidence)
    why = f"L/p's interval straddles [{low}, {high}] at some p"
    return Verdict("inconclusive", why, key, evidence)


def _ratio(cell: dict) -> str:
    mean, lo, hi = cell["L_over_p"]
    return interval(mean, lo, hi, ".2f")
