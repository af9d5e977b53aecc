"""The transition from tempered to benign overfitting across m: the crossover dimension d*(m, p)
where the clean error over the noise, L/p, falls below a level and stays there, with a
bootstrap interval from the seeds, and the exponent k of d* ∝ m^k on log–log axes.

On one curve (the mean of L/p over seeds at each d of the grid, d ascending), d* is found
from the right: j is the first d from which every larger d of the grid has L/p < level, and d*
is where the straight line through (log d_{j−1}, r_{j−1}) and (log d_j, r_j) meets the level.
It is censored when the grid does not bracket it: ``inf`` where L/p ≥ level at the largest d
(no crossover in the grid), ``0`` where L/p < level already at the smallest d; and it is too
coarse to fit where its neighbours in the grid are more than MAX_GAP apart (the straight line
in log d then stands for a curve unseen over a decade or more). The bootstrap resamples the
networks (seeds) within each (m, d, p) independently.
"""

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from benign.regimes import BENIGN_RATIO, MIN_SEEDS, N_BOOT
from benign.reproductions.rules import Verdict, flag, interval, numbers

if TYPE_CHECKING:
    import pandas as pd

LEVEL = BENIGN_RATIO  # d*: where L/p falls below this level (the benign criterion's 0.25)
MIN_MS = 3  # the exponent k needs d* inside the grid at this many m at the least
CENSORED_SHARE = 0.05  # more resamples than this with d* outside the grid: no interval of k
MAX_GAP = 10.0  # d* between grid neighbours further apart than this factor is too coarse for k


def _tail_start(ratios: np.ndarray, level: float) -> np.ndarray:
    """Per row of ``ratios``, the first index from which every later L/p is below the level
    (the row's length where the last is not below)."""
    below = ratios < level
    tail = np.flip(np.logical_and.accumulate(np.flip(below, 1), 1), 1)
    n = ratios.shape[1]
    return np.where(tail.any(1), n - tail.sum(1), n)


def crossing(ds: np.ndarray, ratios: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """d* of each row of ``ratios`` (curves of L/p over the ascending ``ds``): log-linear
    interpolation at the level between the last d with L/p ≥ level and the first d from which
    every larger one is below; ``inf`` with no crossover in the grid, ``0`` below it."""
    ratios = np.atleast_2d(ratios)
    j = _tail_start(ratios, level)
    n = len(ds)
    out = np.where(j == n, math.inf, 0.0)
    rows = np.flatnonzero((j > 0) & (j < n))
    jj = j[rows]
    r0, r1 = ratios[rows, jj - 1], ratios[rows, jj]
    x0, x1 = np.log(ds[jj - 1]), np.log(ds[jj])
    t = (r0 - level) / (r0 - r1)
    out[rows] = np.exp(x0 + t * (x1 - x0))
    return out


@dataclass(frozen=True)
class Crossover:
    """d*(m, p) of one curve: the estimate and the percentile 95% interval of its bootstrap
    (``inf`` or ``0`` where censored), the share of resamples outside the grid, and the grid's
    two d around the estimate (NaN where censored)."""

    m: int
    p: float
    d: float
    lo: float
    hi: float
    censored: float
    bracket: tuple[float, float]

    @property
    def where(self) -> str:
        """'inside' the grid, 'above' it (no crossover), 'below' it, or 'coarse': between
        neighbours more than MAX_GAP apart."""
        if self.d == math.inf:
            return "above"
        if self.d == 0:
            return "below"
        return "coarse" if self.bracket[1] > MAX_GAP * self.bracket[0] else "inside"


def crossover(
    values: dict[int, np.ndarray], p: float, m: int, seed: int = 0, n_boot: int = N_BOOT
) -> tuple[Crossover, np.ndarray]:
    """d*(m, p) from the clean errors per d (one network per entry), and its ``n_boot``
    bootstrap replicates."""
    rng = np.random.default_rng(seed)
    ds = np.array(sorted(values), dtype=float)
    curves = [values[d] for d in sorted(values)]
    means = np.array([v.mean() for v in curves]) / p
    boot = np.stack([rng.choice(v, (n_boot, len(v))).mean(1) for v in curves], 1)
    reps = crossing(ds, boot / p)
    d = float(crossing(ds, means)[0])
    lo, hi = np.quantile(reps, [0.025, 0.975], method="inverted_cdf")
    censored = float(np.mean((reps == 0) | np.isinf(reps)))
    j = int(_tail_start(means[None], LEVEL)[0])  # the neighbours the estimate lies between
    bracket = (float(ds[j - 1]), float(ds[j])) if 0 < j < len(ds) else (math.nan, math.nan)
    return Crossover(m, p, d, float(lo), float(hi), censored, bracket), reps


@dataclass(frozen=True)
class Exponent:
    """k of d* ≈ c·m^k at one p (least squares of log d* on log m over the m whose d* is inside
    the grid), its percentile 95% interval from the same bootstrap replicates (NaN where more
    than CENSORED_SHARE of them fall outside the grid at some of those m), and the m used."""

    p: float
    k: float
    lo: float
    hi: float
    ms: tuple[int, ...]
    c: float


def exponent(found: list[tuple[Crossover, np.ndarray]], p: float) -> Exponent | None:
    """The exponent of the crossovers at one p; None with fewer than MIN_MS inside the grid."""
    inside = [(c, reps) for c, reps in found if c.where == "inside"]
    if len(inside) < MIN_MS:
        return None
    x = np.log([c.m for c, _ in inside])
    k, log_c = np.polyfit(x, np.log([c.d for c, _ in inside]), 1)
    reps = np.stack([r for _, r in inside], 1)  # (n_boot, m)
    ok = np.isfinite(reps).all(1) & (reps > 0).all(1)
    ms = tuple(c.m for c, _ in inside)
    if ok.mean() < 1 - CENSORED_SHARE:
        return Exponent(p, float(k), math.nan, math.nan, ms, math.exp(log_c))
    slopes = np.polyfit(x, np.log(reps[ok]).T, 1)[0]
    lo, hi = np.quantile(slopes, [0.025, 0.975])
    return Exponent(p, float(k), float(lo), float(hi), ms, math.exp(log_c))


def _cells(runs: "pd.DataFrame") -> dict[tuple[float, int, int], np.ndarray]:
    """The clean errors of the certified networks per (p, m, d), p > 0."""
    done = runs[(runs["status"] == "done") & flag(runs, "certified")]
    done = done.assign(L=numbers(done, "clean_error")).dropna(subset=["L"])
    return {
        (float(p), int(m), int(d)): group["L"].to_numpy(float)
        for (p, m, d), group in done.groupby(["p", "m", "d"])
        if p > 0
    }


def _d(x: float) -> str:
    return "beyond the grid" if x == math.inf else "below the grid" if x == 0 else f"{x:.3g}"


def transition(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Certified networks only. For each (m, p), d*(m, p): where the mean over seeds of L/p
    falls below LEVEL (0.25) for good along the grid of d (log-linear interpolation), with a
    bootstrap 95% interval from the seeds; then, per p, the exponent k of d* ∝ m^k fitted on
    log–log axes over the m whose d* lies inside the grid, between grid neighbours at most
    MAX_GAP (10) apart (at least MIN_MS such m).

    - inconclusive first with fewer than 4 certified networks in some (m, d, p);
    - agrees: k is measured at some p, and at every p where it is, its interval lies above 0
      (d* grows like a power of m, the theorem's "d ≳ poly(m)");
    - disagrees: at some p the interval of k lies at or below 0 (d* does not grow with m);
    - inconclusive otherwise: too few m with d* inside the grid at every p (the grid does not
      reach the crossover, or brackets it only coarsely), an interval of k that straddles 0,
      or no interval because the crossover leaves the grid in more than 5% of the resamples.

    The evidence has every d*(m, p) with its interval and where it lies, every k, and the
    mean L/p of every (m, d, p) (the phase diagram).
    """
    cells = _cells(runs)
    if not cells:
        return Verdict("inconclusive", "no certified networks with p > 0 in the store", "—")
    thin = sorted(f"m={m}, d={d}, p={p:g}" for (p, m, d), v in cells.items() if len(v) < MIN_SEEDS)
    phase = [
        {"m": m, "d": d, "p": p, "n": len(v), "L_over_p": float(v.mean() / p)}
        for (p, m, d), v in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))
    ]
    if thin:
        why = f"fewer than {MIN_SEEDS} certified networks in: " + "; ".join(thin[:6])
        return Verdict("inconclusive", why, "—", {"phase": phase})
    crossovers, exponents = [], []
    for p in sorted({p for p, _, _ in cells}):
        found = []
        for m in sorted({m for q, m, _ in cells if q == p}):
            values = {d: v for (q, mm, d), v in cells.items() if q == p and mm == m}
            found.append(crossover(values, p, m))
        crossovers += [c for c, _ in found]
        if (k := exponent(found, p)) is not None:
            exponents.append(k)
    evidence = {
        "level": LEVEL,
        "crossovers": [
            {
                "m": c.m,
                "p": c.p,
                "d_star": [c.d, c.lo, c.hi],
                "where": c.where,
                "censored": c.censored,
            }
            for c in crossovers
        ],
        "exponents": [
            {"p": k.p, "k": [k.k, k.lo, k.hi], "c": k.c, "ms": list(k.ms)} for k in exponents
        ],
        "phase": phase,
    }
    outside = [f"m = {c.m}, p = {c.p:g}: {c.where}" for c in crossovers if c.where != "inside"]
    if not exponents:
        why = f"d* inside the grid at fewer than {MIN_MS} m at every p" + (
            f" ({'; '.join(outside)})" if outside else ""
        )
        return Verdict("inconclusive", why, "no crossover in the grid", evidence)
    shown = max(exponents, key=lambda k: (len(k.ms), k.p))
    key = f"k = {interval(shown.k, shown.lo, shown.hi)} at p = {shown.p:g} over m = " + ", ".join(
        map(str, shown.ms)
    )
    key += "; " + ", ".join(
        f"d*({c.m}) = {_d(c.d)}" for c in crossovers if c.p == shown.p and c.m in shown.ms
    )
    each = "; ".join(f"p = {k.p:g}: k = {interval(k.k, k.lo, k.hi)}" for k in exponents)
    if any(k.hi <= 0 for k in exponents):
        return Verdict("disagrees", f"d* does not grow with m at some p ({each})", key, evidence)
    if all(k.lo > 0 for k in exponents):
        return Verdict(
            "agrees", f"d* grows like a power of m at every p measured ({each})", key, evidence
        )
    return Verdict(
        "inconclusive", f"some interval of k reaches 0 or has none ({each})", key, evidence
    )
