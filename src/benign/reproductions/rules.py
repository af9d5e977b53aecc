"""What the verdict rules of the claims share: the outcome, interval arithmetic on the groups of
:func:`benign.regimes.analyse`, and bootstrap intervals of fits and rank correlations."""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from benign.regimes import MIN_SEEDS, N_BOOT, Group, PointStats, bootstrap_mean

TEMPERED_BAND = (0.5, 2.0)  # tempered-1d: the band of L/p (the theorem's local minima: L ≈ p)

if TYPE_CHECKING:
    import pandas as pd

Outcome = Literal["agrees", "disagrees", "inconclusive"]
OUTCOMES: tuple[str, ...] = ("agrees", "disagrees", "inconclusive")


@dataclass
class Verdict:
    """A claim's verdict, why (in terms of the intervals), its key number with its interval
    as one line, and the evidence as JSON-ready data."""

    verdict: Outcome
    reason: str
    key: str
    evidence: dict = field(default_factory=dict)


def interval(mean: float, lo: float, hi: float, spec: str = ".3g") -> str:
    """'0.12 [0.10, 0.14]'; '—' for NaN."""
    if math.isnan(mean):
        return "—"
    if math.isnan(lo):
        return format(mean, spec)
    return f"{mean:{spec}} [{lo:{spec}}, {hi:{spec}}]"


def point_evidence(pt: PointStats) -> dict:
    """One (group, p): L and L/p with their intervals and who counted."""
    return {
        "p": pt.p,
        "n": pt.n,
        "left_out": pt.left_out,
        "failed": pt.failed,
        "L": [pt.mean, pt.lo, pt.hi],
        "L_over_p": [pt.ratio, pt.ratio_lo, pt.ratio_hi],
        "certified_share": pt.certified_share,
    }


def group_evidence(g: Group) -> dict:
    """A group's settings that vary, its verdict by the regime criteria and its points."""
    return {
        "group": g.label,
        "regime": g.verdict,
        "regime_reason": g.reason,
        "alpha": [g.fit.alpha, g.fit.alpha_lo, g.fit.alpha_hi],
        "points": [point_evidence(pt) for pt in g.points],
    }


def thin(groups: Iterable[Group]) -> list[str]:
    """Labels of the groups with no p > 0, or fewer than MIN_SEEDS networks at some p > 0."""
    return [
        g.label
        for g in groups
        if not any(pt.p > 0 for pt in g.points)
        or any(pt.n < MIN_SEEDS for pt in g.points if pt.p > 0)
    ]


def flag(runs: "pd.DataFrame", column: str) -> "pd.Series":
    """A boolean column of a runs table; missing (a run that failed before it was measured)
    is False."""
    return runs[column].astype("boolean").fillna(False).astype(bool)


def numbers(runs: "pd.DataFrame", column: str) -> "pd.Series":
    """A numeric column of a runs table as float, missing as NaN."""
    return runs[column].astype("Float64").astype(float)


def within(lo: float, hi: float, low: float, high: float) -> bool:
    """The interval [lo, hi] lies inside [low, high]."""
    return low <= lo and hi <= high


def apart(lo: float, hi: float, low: float, high: float) -> bool:
    """The interval [lo, hi] lies entirely outside [low, high]."""
    return hi < low or lo > high


def bootstrap_statistic(
    n: int, statistic: Callable[[np.ndarray], float], seed: int = 0, n_boot: int = N_BOOT
) -> tuple[float, float, float]:
    """statistic(all rows) and the percentile 95% interval of statistic(resampled rows) over
    n rows (NaN resamples dropped)."""
    rng = np.random.default_rng(seed)
    whole = statistic(np.arange(n))
    boot = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)])
    boot = boot[np.isfinite(boot)]
    if len(boot) < n_boot // 2:
        return whole, math.nan, math.nan
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return whole, float(lo), float(hi)


def spearman(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Spearman's rank correlation of (x, y) with a bootstrap 95% interval (resampling pairs)."""
    import scipy.stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def rho(idx: np.ndarray) -> float:
        a, b = x[idx], y[idx]
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return math.nan
        return float(scipy.stats.spearmanr(a, b).statistic)

    return bootstrap_statistic(len(x), rho, seed)


def within_spearman(
    x: np.ndarray, y: np.ndarray, strata: list[np.ndarray], seed: int = 0, n_boot: int = N_BOOT
) -> tuple[float, float, float]:
    """Spearman's ρ of (x, y) within each stratum (index arrays; those whose x or y do not
    vary are skipped), averaged with the strata's sizes as weights, and a bootstrap 95%
    interval resampling networks within each stratum: a correlation that settings shared by
    a stratum cannot create (a confounder across strata leaves it at 0)."""
    from scipy.stats import rankdata

    def rho(parts: list[np.ndarray]) -> float:
        values, weights = [], []
        for idx in parts:
            a, b = rankdata(x[idx]), rankdata(y[idx])
            if np.ptp(a) > 0 and np.ptp(b) > 0:
                values.append(float(np.corrcoef(a, b)[0, 1]))
                weights.append(len(idx))
        return float(np.average(values, weights=weights)) if values else math.nan

    rng = np.random.default_rng(seed)
    boot = np.array(
        [rho([idx[rng.integers(0, len(idx), len(idx))] for idx in strata]) for _ in range(n_boot)]
    )
    boot = boot[np.isfinite(boot)]
    if len(boot) < n_boot // 2:
        return rho(strata), math.nan, math.nan
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return rho(strata), float(lo), float(hi)


def mean_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """The mean and the bootstrap 95% interval of :func:`benign.regimes.bootstrap_mean`."""
    return bootstrap_mean(np.asarray(values, dtype=float), np.random.default_rng(seed))


def counted(runs: "pd.DataFrame", certified_only: bool) -> dict:
    """Who a verdict rests on: the runs, the done and failed ones (with their reasons), the
    certified ones, the networks used (certified ones where ``certified_only``), and the
    certificates of the done networks: ε_rel and δ_rel at their median and worst, and the
    stop reasons."""
    done = runs[runs["status"] == "done"]
    failed = runs[runs["status"] == "failed"]
    certified = int(flag(done, "certified").sum())
    used = certified if certified_only else len(done)

    def spread(column: str) -> list[float]:
        values = numbers(done, column)
        values = values[np.isfinite(values)]
        return [float(values.median()), float(values.max())] if len(values) else []

    return {
        "certificates": {
            "eps_rel_median_max": spread("eps_rel"),
            "delta_rel_median_max": spread("delta_rel"),
            "stop_reasons": {str(k): int(v) for k, v in done["stop_reason"].value_counts().items()},
        },
        "runs": len(runs),
        "done": len(done),
        "failed": len(failed),
        "failures": {str(k): int(v) for k, v in failed["failure"].value_counts().items()},
        "certified": certified,
        "used": used,
        "left_out_uncertified": len(done) - used,
        "certified_only": certified_only,
    }
