"""`benign reproduce`: every claim's verdict rule on synthetic runs tables whose answer is known
by construction, the command's bad input, and each claim's quick grid end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers import benign

from benign.config import RunConfig
from benign.regimes import MEASURES
from benign.reproductions import CLAIMS, OUTCOMES
from benign.reproductions.claims import (
    NOISE_SCALES,
    NOISE_SIGMAS,
    benign_high_d,
    bias_free,
    dimension_sweep,
    gd_vs_kkt,
    lazy_separated,
    mnist_separation,
    ntk_eigenvalue,
    ntk_noise,
    smoothness,
    tempered_1d,
)

SEEDS = 8


def runs_table(points: list[dict], error, seeds: int = SEEDS, failed: int = 0, **columns):
    """A runs table typed as a store's (pandas' nullable dtypes): per grid point (settings) and
    seed one done network whose clean error is error(settings, seed), with every setting at
    its default unless given and every measure NaN unless given (a function of settings and
    seed, or a constant); and ``failed`` more seeds per point that failed before they were
    measured (every measured value missing, as a block that raised leaves them)."""
    from benign.records import column_types, typed_frame

    defaults = RunConfig().model_dump()
    rows = []
    for point in points:
        settings = defaults | point
        for seed in range(seeds + failed):
            row = dict(settings, seed=seed, status="done", failure=None, certified=True)
            row |= dict.fromkeys(MEASURES, math.nan)
            row |= {"clean_error": error(settings, seed), "flip_rate": settings["p"]}
            row["run_id"] = f"{json.dumps(point, sort_keys=True)}-{seed}"
            for name, value in columns.items():
                row[name] = value(settings, seed) if callable(value) else value
            if seed >= seeds:
                measured = set(row) - {"run_id", "seed", *settings}
                row |= dict.fromkeys(measured, None) | {"status": "failed", "failure": "boom"}
            rows.append(row)
    frame = pd.DataFrame(rows)
    kinds = column_types() | {"status": str, "failure": str, "run_id": str}
    return typed_frame(frame.itertuples(index=False, name=None), list(frame.columns), kinds)


def jitter(seed: int, scale: float = 0.01) -> float:
    """A small deterministic spread over seeds, mean 0."""
    return scale * (seed - (SEEDS - 1) / 2) / SEEDS


def grid(**axes) -> list[dict]:
    """The product of the axes as a list of settings."""
    points = [{}]
    for name, values in axes.items():
        points = [p | {name: v} for p in points for v in values]
    return points


PS = [0.05, 0.1, 0.2, 0.3]


def test_tempered_1d_rule():
    points = grid(dist=["interval"], d=[1], m=[100, 300], p=PS)
    tempered = runs_table(points, lambda s, k: s["p"] * (1 + 0.2 * jitter(k, 1)))
    assert tempered_1d(tempered, {}).verdict == "agrees"
    vanishing = runs_table(points, lambda s, k: 0.05 * s["p"] * (1 + jitter(k)))
    assert tempered_1d(vanishing, {}).verdict == "disagrees"
    flat = runs_table(points, lambda s, k: 0.3 + jitter(k))  # α ≈ 0
    assert tempered_1d(flat, {}).verdict == "disagrees"
    # the wrong reasons, inside the theorem's band c·p⁵ ≤ L ≤ C·√p but not tempered (the
    # former rule, α inside [0.5, 5] and L/p ≥ 0.25, accepted both)
    for law in (lambda p: 0.5 * math.sqrt(p), lambda p: 25 * p**4):
        v = tempered_1d(runs_table(points, lambda s, k, f=law: f(s["p"]) * (1 + jitter(k))), {})
        assert v.verdict == "disagrees" and "excludes 1" in v.reason
    # L = Θ(p) at each m, but L/p grows with m: not "the same whatever m"
    growing = runs_table(
        points, lambda s, k: s["p"] * (0.7 if s["m"] == 100 else 1.6) + jitter(k, 0.001)
    )
    v = tempered_1d(growing, {})
    assert v.verdict == "inconclusive" and "moves with m" in v.reason
    # uncertified networks are left out: 2 certified at one p is too few
    lacking = tempered.copy()
    lacking.loc[(lacking["p"] == 0.3) & (lacking["seed"] >= 2), "certified"] = False
    v = tempered_1d(lacking, {})
    assert v.verdict == "inconclusive" and "fewer than 4" in v.reason


def test_benign_high_d_rule():
    points = grid(d=[100, 1000, 10000], p=PS)
    decaying = runs_table(points, lambda s, k: s["p"] * math.exp(-s["d"] / 300) * (1 + jitter(k)))
    v = benign_high_d(decaying, {})
    assert v.verdict == "agrees"
    rates = {f["p"]: f["rate"] for f in v.evidence["decay"]}
    assert rates[0.1][0] == pytest.approx(-1 / 300, rel=0.05)  # L ∝ exp(−d/300), fitted
    tempered = runs_table(points, lambda s, k: s["p"] * (1 + jitter(k)))
    assert benign_high_d(tempered, {}).verdict == "disagrees"
    # a block that raised leaves runs with nothing measured: counted as failed, no crash
    with_failed = runs_table(
        points, lambda s, k: s["p"] * math.exp(-s["d"] / 300) * (1 + jitter(k)), failed=2
    )
    assert benign_high_d(with_failed, {}).verdict == "agrees"
    # the wrong reason: benign at a largest d that is not ≫ m (m = 50 here)
    low = runs_table(grid(d=[20, 100, 400], m=[50], p=PS), lambda s, k: abs(jitter(k, 0.0001)))
    v = benign_high_d(low, {})
    assert v.verdict == "inconclusive" and "not ≥ 10·m = 500" in v.reason


def test_dimension_sweep_rule():
    points = grid(d=[1, 10, 1000], m=[50], p=PS)

    def passage(s, k):
        return s["p"] * (1 + jitter(k)) * (0.001 if s["d"] == 1000 else 1)

    assert dimension_sweep(runs_table(points, passage), {}).verdict == "agrees"
    assert (
        dimension_sweep(runs_table(points, lambda s, k: s["p"] + jitter(k, 0.001)), {}).verdict
        == "disagrees"
    )
    # the wrong reasons: the same passage between ends that are not d = 1 and d ≫ m (m = 50)
    for ds in ([2, 10, 1000], [1, 10, 400]):
        table = runs_table(grid(d=ds, m=[50], p=PS), passage)
        assert dimension_sweep(table, {}).verdict == "inconclusive"


def test_bias_free_rule():
    points = grid(d=[1000], bias=[False, True], p=[0.0, *PS])

    def table(without):  # clean error of the nets without biases; 0 with them
        return runs_table(points, lambda s, k: 0.0 if s["bias"] else without(s["p"], k))

    # noise-driven: exact at p = 0, L = 0.4 at every p > 0
    agrees = table(lambda p, k: 0.0 if p == 0 else 0.4 + abs(jitter(k)))
    v = bias_free(agrees, {})
    assert v.verdict == "agrees" and "without biases catastrophic" in v.reason
    # the error vanishes with the noise: L = p
    v = bias_free(table(lambda p, k: p + jitter(k, 0.002)), {})
    assert v.verdict == "disagrees" and "tempered" in v.reason
    # the wrong reason: L(p) = L(0) = 0.2, an error without noise, not a catastrophe of noise
    # (the former rule, "L bounded away from 0 at the smallest p, p = 0 included", agreed)
    v = bias_free(table(lambda p, k: 0.2 + jitter(k)), {})
    assert v.verdict == "inconclusive" and "fails_without_noise" in v.reason
    assert v.evidence["noiseless"][0]["L0"][0] == pytest.approx(0.2)
    # too few certified networks at p = 0
    few = agrees.copy()
    few.loc[(few["p"] == 0) & (few["seed"] >= 2), "certified"] = False
    assert bias_free(few, {}).verdict == "inconclusive"


def test_gd_vs_kkt_rule():
    points = grid(d=[20, 1000], bias=[True, False], p=[0.2], method=["gd+convex"])

    def table(gap: float, gd_certified: bool = False, **kwargs) -> pd.DataFrame:
        return runs_table(
            points,
            lambda s, k: 0.1 + jitter(k),
            gd_clean_error=lambda s, k: 0.1 + gap + jitter(k),
            gd_certified=gd_certified,
            gd_eps_rel=0.5,
            gd_steps=100,
            gd_stop_reason="loss_tol",
            **kwargs,
        )

    v = gd_vs_kkt(table(0.2), {})
    assert v.verdict == "agrees"
    assert all(r["delta_L"][0] == pytest.approx(0.2) for r in v.evidence["levels"][-1]["pairs"])
    # a gap the intervals exclude 0 from but inside ±0.02: the same error
    assert gd_vs_kkt(table(0.01), {}).verdict == "disagrees"
    # GD iterates that are certified KKT points: they are KKT points
    assert gd_vs_kkt(table(0.2, gd_certified=True), {}).verdict == "disagrees"
    # the wrong reason: a difference at loss 10⁻³ that closes as GD goes on (the former rule
    # judged the iterate at 10⁻³ alone and agreed)
    followed = grid(d=[20, 1000], bias=[True, False], p=[0.2], loss_tol=[1e-3, 1e-12])
    closing = runs_table(
        [pt | {"method": "gd+convex"} for pt in followed],
        lambda s, k: 0.1 + jitter(k),
        gd_clean_error=lambda s, k: 0.1 + (0.2 if s["loss_tol"] > 1e-6 else 0.0) + jitter(k),
        gd_certified=False,
        gd_eps_rel=lambda s, k: 10 * s["loss_tol"] ** 0.1,
        gd_steps=lambda s, k: 100,
        gd_stop_reason="loss_tol",
    )
    v = gd_vs_kkt(closing, {})
    assert v.verdict == "disagrees" and "at loss ≤ 1e-12" in v.reason
    first, last = v.evidence["levels"]
    assert first["pairs"][0]["delta_L"][0] == pytest.approx(0.2)
    assert last["gd_eps_rel_median"] == pytest.approx(10 * 1e-12**0.1)
    # an iterate that stalled before it reached its loss is counted, not paired
    stalled = table(0.2)
    stalled.loc[stalled["d"] == 20, "gd_stop_reason"] = "stalled"
    v = gd_vs_kkt(stalled, {})
    assert v.verdict == "inconclusive" and "fewer than 4" in v.reason
    assert v.evidence["levels"][0]["gd_stopped_short"] == 2 * SEEDS
    # failed runs are no pairs, and do not crash the rule
    assert gd_vs_kkt(table(0.2, failed=2), {}).verdict == "agrees"
    # a group whose KKT points are all uncertified has no pairs: inconclusive, not left out
    lacking = table(0.01)
    lacking.loc[lacking["bias"] == False, "certified"] = False  # noqa: E712
    v = gd_vs_kkt(lacking, {})
    assert v.verdict == "inconclusive" and "fewer than 4" in v.reason


def lazy(point: dict) -> dict:
    return point | {"center": True, "dist": "separated", "certify_every": 0}


def kernel_limit(law, ms=(100, 200, 400, 800, 1600, 3200)) -> dict:
    """Computed kernel-limit rows of lazy-separated with clean error law(m, p) (× a small
    spread over seeds)."""
    rows = [
        {"d": d, "depth": depth, "m": m, "p": p, "seed": k,
         "clean_error": law(m, p) * (1 + jitter(k))}
        for d in (20, 200) for depth in (2, 3) for m in ms for p in (0.1, 0.2)
        for k in range(SEEDS)
    ]  # fmt: skip
    return {"rows": rows, "test_points": 1000}


def test_lazy_separated_rule():
    points = [lazy(p) for p in grid(depth=[2, 3], width=[256, 1024], p=[0.1, 0.2])]
    nets = runs_table(points, lambda s, k: abs(jitter(k, 0.001)), certified=False)
    bayes = kernel_limit(lambda m, p: p * 10 / m)  # L/p = 10/m: 0.1 at m = 100, 0.003 at 3200
    v = lazy_separated(nets, bayes)
    assert v.verdict == "agrees", v.reason
    assert v.evidence["kernel_limit"][0]["at_largest_m"][0] == pytest.approx(10 / 3200, rel=0.05)
    assert lazy_separated(nets, kernel_limit(lambda m, p: 0.8 * p)).verdict == "disagrees"
    # the wrong reason: benign at m = 100 (m ≪ d; the former rule judged the finite nets
    # there and agreed), rising with m to L/p = 0.8
    rising = lazy_separated(nets, kernel_limit(lambda m, p: p * min(0.8, m / 1000)))
    assert rising.verdict == "disagrees" and "not falling" in rising.reason
    # tempered at the largest m, but falling: not yet in the limit
    falling = lazy_separated(nets, kernel_limit(lambda m, p: p * (800 / m) ** 0.5))
    assert falling.verdict == "inconclusive" and "still falling" in falling.reason


def spectrum(law, ds=(25, 100, 400, 1000, 2000, 4000)) -> dict:
    """Computed spectra with λ_min = law(m, d) (× a small spread over seeds) and λ_∞ = 2."""
    rows = [
        {"m": m, "depth": depth, "d": d, "seed": k, "lambda_min": law(m, d) * (1 + jitter(k))}
        for m in (50, 100)
        for depth in (2, 3)
        for d in ds
        for k in range(SEEDS)
    ]
    return {"rows": rows, "limit": {"2": 2.0, "3": 2.0}}


def test_ntk_eigenvalue_rule():
    nets = runs_table([lazy(p) for p in grid(m=[50], d=[25], p=[0.0])], lambda s, k: 0.0)
    # Θ(1): rising to its limit 2 (pre-asymptotic growth at d < 10·m does not count)
    v = ntk_eigenvalue(nets, spectrum(lambda m, d: 2 * (1 - m / (m + d))))
    assert v.verdict == "agrees", v.reason
    decays = ntk_eigenvalue(nets, spectrum(lambda m, d: 2 * 100 / d))
    assert decays.verdict == "disagrees" and "decays" in decays.reason
    assert decays.evidence["fits"][0]["slope_high_d"][0] == pytest.approx(-1.0, abs=0.02)
    # the wrong reason: λ_min growing like d (the former rule, "no decay", agreed)
    grows = ntk_eigenvalue(nets, spectrum(lambda m, d: d / 1000))
    assert grows.verdict == "disagrees" and "exceeds its limit" in grows.reason
    # no d ≥ 10·m: the claim's setting is not reached
    low = ntk_eigenvalue(nets, spectrum(lambda m, d: 1.0, ds=(25, 100, 400)))
    assert low.verdict == "inconclusive" and "fewer than two d ≥ 10·m" in low.reason


def noise_rows(mse) -> dict:
    """Computed regressions with E(f − f*)² = mse(σ, α, n)."""
    rows = [
        {
            "family": f,
            "init_scale": a,
            "sigma": s,
            "n": n,
            "seed": k,
            "mse": mse(s, a, n) * (1 + jitter(k)),
            "clean_fit": 0.0,
            "label_noise": s * s,
            "init_noise": a * a / 10,
        }
        for f in ("fixed", "high")
        for a in NOISE_SCALES
        for s in NOISE_SIGMAS
        for n in (50, 100, 200, 400, 800, 1600, 3200, 6400)
        for k in range(SEEDS)
    ]
    return {"rows": rows, "target": "synthetic"}


def test_ntk_noise_split_is_exact():
    """The evidence's σ scaling against a regression at that σ computed directly."""
    from benign.data import Distribution
    from benign.nets import ReLUNet
    from benign.ntk import ntk_regression
    from benign.reproductions.claims import NOISE_D, noise_regressions
    from benign.seeding import rng_for

    row = next(r for r in noise_regressions("fixed", 2.0, 50, 1) if r["sigma"] == 0.3)
    rng = rng_for(1, "data")
    dist = Distribution("sphere", NOISE_D)
    x, x_test = (math.sqrt(NOISE_D) * dist.sample(k, rng) for k in (50, 1000))
    clean, clean_test = x[:, 0], x_test[:, 0]
    y = clean + 0.3 * rng.standard_normal(50)
    net = ReLUNet(NOISE_D, 256, depth=3, param="ntk", init="ntk", init_scale=2.0)
    direct = ntk_regression(net, x, y, clean, x_test, clean_test)
    assert row["mse"] == pytest.approx(direct.mse, rel=1e-10)
    assert row["label_noise"] == pytest.approx(direct.label_noise, rel=1e-10)


def test_ntk_noise_rule():
    plateau = noise_rows(lambda s, a, n: 0.1 * s * s + a * a / 10 + 1 / math.sqrt(n))
    v = ntk_noise(pd.DataFrame(), plateau)
    assert v.verdict == "agrees", v.reason
    fit = next(f for f in v.evidence["high_d"] if (f["sigma"], f["init_scale"]) == (1.0, 2.0))
    assert fit["plateau"][0] == pytest.approx(0.5, rel=0.05)  # 0.1 + 2²/10, fitted
    assert fit["exponent"] == pytest.approx(0.5, rel=0.2)
    decaying = noise_rows(lambda s, a, n: (s * s + a * a) / n)
    assert ntk_noise(pd.DataFrame(), decaying).verdict == "disagrees"
    # the wrong reason: a slow decay with no plateau, flat-looking over the grid (the former
    # rule, "log–log slope ≥ −0.1 over the upper half of n", agreed)
    slow = noise_rows(lambda s, a, n: (0.1 * s * s + a * a / 10) * 10 * n**-0.08)
    assert ntk_noise(pd.DataFrame(), slow).verdict != "agrees"
    # a plateau set by the label noise alone, the same at every init scale
    label_only = noise_rows(lambda s, a, n: 0.1 * s * s + 0.01 + 1 / n)
    assert ntk_noise(pd.DataFrame(), label_only).verdict == "inconclusive"


def mnist_computed(law, separation: float = 3.0, ms=(200, 400, 800, 1600, 3200, 4000)) -> dict:
    """Computed MNIST evidence: the separation, and kernel-limit rows with clean error
    law(m, p) (+ a small spread over seeds)."""
    rows = [
        {"m": m, "p": p, "seed": k, "clean_error": law(m, p) + jitter(k, 0.002)}
        for m in ms for p in (0.0, 0.05, 0.1, 0.2) for k in range(SEEDS)
    ]  # fmt: skip
    return {
        "train_train": {"l2": separation},
        "median_norm": 9.0,
        "raw_pixels": {"l2": 3.7, "linf": 0.95},
        "kernel_rows": rows,
    }


def test_mnist_separation_rule():
    points = [lazy({"dist": "mnist", "d": 784, "m": 200, "p": p}) for p in (0.0, 0.1, 0.2)]
    flat = runs_table(points, lambda s, k: 0.18 + jitter(k), certified=False)
    vanishing = mnist_computed(lambda m, p: 10 / m + p * 20 / m)  # excess/p = 20/m
    v = mnist_separation(flat, vanishing)
    assert v.verdict == "agrees", v.reason
    assert v.evidence["kernel_limit"][0]["at_largest_m"][0] == pytest.approx(20 / 4000, abs=1e-3)
    tempered = mnist_computed(lambda m, p: 10 / m + 0.6 * p)
    assert mnist_separation(flat, tempered).verdict == "disagrees"
    touching = mnist_computed(lambda m, p: 10 / m + p * 20 / m, separation=0.0)
    assert mnist_separation(flat, touching).verdict == "disagrees"
    # the wrong reason: finite nets with no excess at m = 200 (the former rule agreed on
    # them) where the kernel limit keeps an excess of 0.6·p at every m
    assert mnist_separation(flat, tempered).evidence["finite_nets"][1]["excess"][0] < 0.01
    # excess above 0.25·p but falling with m (pre-asymptotic): inconclusive
    falling = mnist_separation(
        flat, mnist_computed(lambda m, p: 10 / m + p * 0.9 * (200 / m) ** 0.3)
    )
    assert falling.verdict == "inconclusive" and "still falling" in falling.reason


@pytest.mark.slow
def test_smoothness_rule():
    points = [lazy(p) for p in grid(depth=[2, 3], init_scale=[0.5, 1.0, 2.0, 4.0])]
    rng = np.random.default_rng(0)
    lip = {(s, k): float(rng.uniform(1, 50)) for s in (2, 3) for k in range(SEEDS)}

    def table(sign: float, noise: float) -> pd.DataFrame:
        def lipschitz(s, k):
            return lip[(s["depth"], k)] * s["init_scale"]

        return runs_table(
            points,
            lambda s, k: 0.5 + sign * 0.005 * lipschitz(s, k) + noise * rng.standard_normal(),
            certified=False,
            lipschitz_lower=lipschitz,
            lipschitz_upper=lambda s, k: 2 * lipschitz(s, k),
        )

    assert smoothness(table(+1, 0.0), {}).verdict == "agrees"
    assert smoothness(table(-1, 0.0), {}).verdict == "disagrees"
    assert smoothness(table(0, 0.1), {}).verdict == "inconclusive"
    # the wrong reason: error and bounds both move with the init scale, and within a group
    # (equal settings, different seeds) they do not go together; the pooled ρ (the former
    # rule) is near 1 and agreed
    confounded = runs_table(
        points,
        lambda s, k: 0.05 * s["init_scale"] + 0.01 * rng.standard_normal(),
        certified=False,
        lipschitz_lower=lambda s, k: 10 * s["init_scale"] * (1 + 0.1 * rng.standard_normal()),
        lipschitz_upper=lambda s, k: 100 * s["init_scale"],
    )
    v = smoothness(confounded, {})
    assert v.evidence["rho_lower"][1] > 0.5 and v.verdict == "inconclusive", v.key


def test_bad_input_is_one_line(tmp_path):
    for args, field in (
        (["nonesuch"], "NAME"),
        ([], "NAME"),
        (["tempered-1d", "--workers", "0"], "--workers"),
    ):
        r = benign("reproduce", *args, "--dir", tmp_path / "d")
        assert r.returncode == 2, r
        assert r.stderr.count("\n") == 1 and field in r.stderr
    assert not (tmp_path / "d").exists()  # nothing written


def test_list_names_the_fourteen_claims():
    r = benign("reproduce", "--list", "--json")
    assert r.returncode == 0
    claims = json.loads(r.stdout)["claims"]
    assert [c["name"] for c in claims] == list(CLAIMS) and len(claims) == 14
    for c in claims:
        assert c["claim"] and c["paper"] and c["quick_minutes"] <= 1
        assert (c["runs"] > c["quick_runs"] > 0) or not CLAIMS[c["name"]].sweep


def _points(result: dict) -> dict:
    """(group label, p) → (mean, lo, hi) of L from a verdict's evidence."""
    return {
        (g["group"], pt["p"]): pt["L"] for g in result["evidence"]["groups"] for pt in g["points"]
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLAIMS))
def test_quick_reproduction(name, tmp_path):
    r = benign("reproduce", name, "--quick", "--json", "--dir", tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["name"] == name and result["verdict"] in OUTCOMES and result["reason"]
    report = tmp_path / f"{name}-quick.html"
    assert result["report"] == str(report) and 'id="claim"' in report.read_text()
    if CLAIMS[name].sweep:
        n = result["networks"]
        assert result["store"] == str(tmp_path / f"{name}-quick.sqlite")
        assert n["done"] + n["failed"] == n["runs"] > 0  # the store is complete
    saved = json.loads((tmp_path / f"{name}-quick.json").read_text())
    assert saved["verdict"] == result["verdict"]
    if name == "tempered-1d":  # L grows with p, at about its rate, at every m
        for g in result["evidence"]["groups"]:
            _, lo, hi = g["alpha"]
            assert lo > 0.5 and hi < 2
    if name == "benign-high-d":  # L falls as d grows
        L = _points(result)
        top = max(p for _, p in L)
        assert L[("d=2000", top)][0] < L[("d=100", top)][0]
    if name == "transition":  # at every m, L/p falls from d = 1 to the largest d
        phase = result["evidence"]["phase"]
        for m in {c["m"] for c in phase}:
            ratios = [c["L_over_p"] for c in sorted(phase, key=lambda c: c["d"]) if c["m"] == m]
            assert ratios[-1] < 0.25 < ratios[0]
    if name == "calibration":  # the rules give the known regimes, on either side of β = d
        assert result["verdict"] == "agrees", result["reason"]
    if name == "bias-free":  # without biases L is far above the nets with biases
        L = _points(result)
        for (label, p), (_, lo, _) in L.items():
            if label == "bias=False" and p > 0:
                assert lo > L[("bias=True", p)][2]


@pytest.mark.parametrize("name", ["tempered-1d", "bias-free"])
def test_fresh_seeds_shift_every_seed_count(name, tmp_path):
    """--first-seed K: the same grid on seeds K … K + N − 1 (in the top table and in a grid's
    own seeds), in files of their own; bad values are refused before any work."""
    from benign.reproductions import plan
    from benign.sweep.config import parse_sweep

    claim = CLAIMS[name]
    base, fresh = parse_sweep(claim.sweep_file()), parse_sweep(claim.sweep_file(first_seed=100))
    assert [p.config for p in base.points] == [p.config for p in fresh.points]
    assert [tuple(s + 100 for s in p.seeds) for p in base.points] == [p.seeds for p in fresh.points]
    files = plan(name, tmp_path, first_seed=100)
    assert files.store is not None and files.store.name == f"{name}-seed100.sqlite"
    assert files.result.name == f"{name}-seed100.json" and files.first_seed == 100
    r = benign("reproduce", name, "--first-seed", "-1", "--dir", tmp_path / "x")
    assert r.returncode == 2 and "--first-seed: must be >= 0" in r.stderr
    assert not (tmp_path / "x").exists()


def test_computed_evidence_follows_the_first_seed():
    """The computed spectrum of ntk-eigenvalue is drawn on seeds first_seed, …: other samples,
    other λ_min, the same limit."""
    from benign.reproductions.claims import ntk_spectrum

    base, fresh = ntk_spectrum(True), ntk_spectrum(True, first_seed=7)
    assert {r["seed"] for r in fresh["rows"]} == {7, 8}
    assert base["limit"] == fresh["limit"]
    assert [r["lambda_min"] for r in base["rows"]] != [r["lambda_min"] for r in fresh["rows"]]


def test_summary_table_is_written_between_its_markers(tmp_path):
    """--summary prints the verdicts found in --dir in the claims' order; --write puts them
    between the markers of a Markdown file and leaves the rest; a file without the markers,
    or --write without --summary, is refused before anything is written."""
    runs = {"runs": 10, "used": 8, "certified": 8, "certified_only": True}
    for name, verdict, networks, seconds in (
        ("smoothness", "agrees", runs | {"certified_only": False}, 60.0),
        ("tempered-1d", "disagrees", runs, 120.0),
        ("ntk-noise", "inconclusive", {}, None),
    ):
        doc = {
            "verdict": verdict,
            "key": f"key of {name}",
            "networks": networks,
            "seconds": seconds,
        }
        (tmp_path / f"{name}-seed7.json").write_text(json.dumps(doc))
    r = benign("reproduce", "--summary", "--dir", tmp_path, "--first-seed", "7")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == [
        "`tempered-1d`", "`ntk-noise`", "`smoothness`"
    ]  # fmt: skip
    assert "**disagrees** | key of tempered-1d | 8 of 10 (80% certified) | 2.0 min" in rows[0]
    assert "— (computed)" in rows[1] and "(interpolating; no KKT claim) | 1.0 min" in rows[2]
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- reproduce:summary -->\nold\n<!-- /reproduce:summary -->\nafter\n")
    w = benign("reproduce", "--summary", "--dir", tmp_path, "--first-seed", "7", "--write", doc)
    assert w.returncode == 0, w.stderr
    assert doc.read_text() == (
        "before\n<!-- reproduce:summary -->\n" + r.stdout + "<!-- /reproduce:summary -->\nafter\n"
    )
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    bad = benign("reproduce", "--summary", "--dir", tmp_path, "--write", doc, "--write", plain)
    assert bad.returncode == 2 and "--write" in bad.stderr and "plain.md" in bad.stderr
    assert plain.read_text() == "no markers\n"
    alone = benign("reproduce", "--write", doc)
    assert alone.returncode == 2 and "only with --summary" in alone.stderr


def test_the_published_verdict_tables_are_those_of_the_kept_verdicts():
    """The README's and docs/reproductions.md's verdict tables are what `make verdicts` writes
    from the verdict JSONs kept in docs/verdicts/ (none edited by hand)."""
    import re
    from pathlib import Path

    from benign.reproductions import summary_table

    root = Path(__file__).resolve().parents[1]
    seeds = {int(m[1]) for m in re.finditer(r"-seed(\d+)\.json", " ".join(
        p.name for p in (root / "docs" / "verdicts").glob("*.json")))}  # fmt: skip
    assert len(seeds) == 1, seeds
    table = summary_table(root / "docs" / "verdicts", first_seed=seeds.pop())
    assert table is not None and table.count("\n") == 2 + len(CLAIMS)
    for doc in ("README.md", "docs/reproductions.md"):
        text = (root / doc).read_text()
        block = text.split("<!-- reproduce:summary -->\n")[1].split("<!-- /reproduce:summary -->")[
            0
        ]
        assert block == table, doc


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("null", "Input should be an object"),
        ("[]", "Input should be an object"),
        ('{"verdict": 1}', "verdict: Input should be a valid string"),
        ("{", "Invalid JSON"),
        ('{"verdict": "agrees", "key": "k", "networks": {"runs": "x"}}', "networks.runs"),
    ],
)
def test_a_verdict_file_that_is_not_one_is_refused_in_one_line(tmp_path, text, problem):
    (tmp_path / "bias-free.json").write_text(text)
    r = benign("reproduce", "--summary", "--dir", tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "bias-free.json: not a verdict of benign reproduce (" in r.stderr
    assert problem in r.stderr
