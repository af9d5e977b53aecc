"""One experiment: a run configuration and its seeds → data, batched nets, training, measures.

This is the unit that sweeps repeat: :class:`RunConfig` holds every setting of a run except
its seed, and :func:`run_experiment` gives one :class:`NetworkRecord` per seed.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor

from benign import __version__
from benign.certify import Tolerances, certify, normalised_margin
from benign.convex import (
    CONVEX_FAILURES,
    LP_FAILURES,
    ConvexSolution,
    RowSpace,
    first_blocks,
    gate_neurons,
    margin_kkt,
    min_norm_interpolant,
    network_neurons,
    seed_blocks,
)
from benign.data import (
    DATASET_SHAPES,
    DATASETS,
    DistName,
    Distribution,
    Sample,
    check_training_rows,
    dataset_sample,
    load_dataset,
    noisy_sample,
)
from benign.files import atomic_path
from benign.measures import (
    CleanError,
    exact_clean_error_1d,
    held_out_clean_error,
    lipschitz_lower,
    lipschitz_upper,
    mc_clean_error,
    mc_sample_size,
)
from benign.nets import Init, Param, Params, ReLUNet, predict, two_layer
from benign.ntk import analytic_ntk, lazy_diagnostics, smallest_eigenvalue
from benign.seeding import rng_for
from benign.train import Loss, StepRule, TrainConfig, TrainResult, loss_value, train

NPZ_FORMAT = 1
Method = Literal["auto", "gd", "lp", "convex", "gd+convex"]
DTYPES = {"float64": torch.float64, "float32": torch.float32}


class RunConfig(BaseModel):
    """Every setting of a run but its seed; bad values are refused naming the field."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    dist: DistName = Field(
        "sphere",
        description="input law: interval (d = 1), sphere, gaussian, separated (two caps, "
        "f* = sign x_1), or the bundled datasets mnist / digits (d is theirs; training rows "
        "drawn per seed, the rest test)",
    )
    d: int = Field(20, ge=1, description="input dimension (set by the dataset for mnist/digits)")
    m: int = Field(200, ge=1, description="training samples")
    p: float = Field(0.1, ge=0, lt=0.5, description="label-flip probability")
    a: float = Field(0.0, description="left end of the interval distribution")
    b: float = Field(1.0, description="right end of the interval distribution")
    radius: float = Field(1.0, gt=0, description="radius of the sphere and separated laws")
    separation: float = Field(
        0.5, gt=0, le=2, description="separated: least distance between the two classes / radius"
    )
    width: int = Field(200, ge=1, description="hidden units per layer")
    depth: int = Field(2, ge=2, description="weight layers (2 = the two-layer net)")
    bias: bool = Field(True, description="hidden-layer biases")
    param: Param = "standard"
    init: Init = "lecun"
    init_scale: float = Field(1.0, gt=0, description="α, multiplies every initial weight")
    center: bool = Field(False, description="train the centred output f − f_0")
    loss: Loss = "logistic"
    step_rule: StepRule = "normalised"
    lr: float = Field(0.5, gt=0, description="step size η")
    steps: int = Field(20_000, ge=0, description="step budget per network")
    max_seconds: float | None = Field(
        None, gt=0, description="time budget per ensemble block (convex: per network)"
    )
    loss_tol: float = Field(1e-3, gt=0, lt=1, description="stop once interpolating with L ≤ this")
    test_half_width: float = Field(
        0.01, gt=0, lt=0.5, description="Monte Carlo clean error: 95% half-width at worst"
    )
    method: Method = Field(
        "auto",
        description="gd: gradient descent from a random initialisation; lp: the minimum-norm "
        "interpolant over a kink dictionary (two-layer nets with bias on the interval); "
        "convex: a KKT point of the margin problem from the convex program over activation "
        "patterns (two-layer uncentred nets); gd+convex: gradient descent, then the convex "
        "program from its network's patterns (both networks recorded); auto: lp where it "
        "applies, else convex for two-layer uncentred nets, else gd",
    )
    lp_grid: int = Field(2000, ge=2, description="lp: equispaced dictionary kinks between a and b")
    gates: int = Field(
        0,
        ge=0,
        description="convex: random gate patterns that seed the program, each with both signs "
        "(0: 256 in d ≤ 3, where cells are few and narrow, else 64)",
    )
    rounds: int = Field(
        100,
        ge=1,
        description="convex: programs solved at most per network, reseedings included (each "
        "refines the patterns)",
    )
    certify_every: int = Field(
        500, ge=0, description="gd: check the KKT certificate every this many steps (0: never)"
    )
    cert_eps: float = Field(0.05, gt=0, description="certified if ε_rel ≤ this (and δ_rel)")
    cert_delta: float = Field(0.05, gt=0, description="certified if δ_rel ≤ this (and ε_rel)")
    dtype: Literal["float64", "float32"] = "float64"
    device: str = "cpu"

    @model_validator(mode="before")
    @classmethod
    def _dataset_dimension(cls, data):
        """A dataset fixes d: fill it in when it is not given."""
        if isinstance(data, dict) and data.get("dist") in DATASETS and "d" not in data:
            data = dict(data, d=DATASET_SHAPES[data["dist"]][1])
        return data

    @model_validator(mode="after")
    def _check(self) -> "RunConfig":
        if self.dist in DATASETS:
            dim = DATASET_SHAPES[self.dist][1]
            if self.d != dim:
                raise ValueError(f"d: the {self.dist} dataset has d = {dim}, got {self.d}")
            check_training_rows(self.dist, self.m)
        else:
            self.distribution()
        self.network()
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device: must be cpu or cuda[:N], got {self.device!r}")
        if self.method == "lp" and not self.lp_applies:
            raise ValueError(
                "method: lp needs a two-layer net (depth 2) with bias, uncentred, on the interval"
            )
        if self.method in ("convex", "gd+convex") and not self.convex_applies:
            raise ValueError(f"method: {self.method} needs a two-layer net (depth 2), uncentred")
        return self

    @property
    def lp_applies(self) -> bool:
        return self.dist == "interval" and self.depth == 2 and self.bias and not self.center

    @property
    def convex_applies(self) -> bool:
        """The margin problem's convex view holds for uncentred two-layer nets."""
        return self.depth == 2 and not self.center

    @property
    def resolved_method(self) -> str:
        """The method that runs: ``auto`` is lp where it applies, else convex where it
        applies, else gd."""
        if self.method == "auto":
            return "lp" if self.lp_applies else "convex" if self.convex_applies else "gd"
        return self.method

    def check_device(self) -> None:
        """Refuse a CUDA device where there is none. Checked where the networks are computed
        (not when the settings are read: a CPU login node may plan a sweep for GPU workers)."""
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device: cuda was asked for but no CUDA device is available")

    def tolerances(self) -> Tolerances:
        return Tolerances(self.cert_eps, self.cert_delta)

    def distribution(self) -> Distribution:
        """The generated input law (not for the datasets)."""
        return Distribution(
            self.dist, self.d, a=self.a, b=self.b, radius=self.radius, separation=self.separation
        )

    def network(self) -> ReLUNet:
        return ReLUNet(
            self.d, self.width, self.depth, self.bias, self.param, self.init, self.init_scale
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            self.loss,
            self.step_rule,
            self.lr,
            self.steps,
            math.inf if self.max_seconds is None else self.max_seconds,
            self.loss_tol,
            self.certify_every,
            self.tolerances(),
        )

    def sample(self, seed: int) -> Sample:
        """The noisy training sample of the network with this seed."""
        rng = rng_for(seed, "data")
        if self.dist in DATASETS:
            return dataset_sample(self.dist, self.m, self.p, rng)
        return noisy_sample(self.distribution(), self.m, self.p, rng)

    @property
    def exact_clean_error(self) -> bool:
        """Exact 1-D error applies to uncentred two-layer nets on the interval."""
        return self.dist == "interval" and self.depth == 2 and not self.center


@dataclass(frozen=True)
class NetworkRecord:
    """What one trained network measured."""

    seed: int
    method: str
    flips: int
    flip_rate: float
    train_error: float
    interpolated: bool
    clean_error: float
    clean_lo: float
    clean_hi: float
    clean_method: str
    n_test: int
    steps: int
    stop_reason: str
    seconds: float
    loss: float
    min_margin: float
    normalised_margin: float
    eps: float
    eps_rel: float
    delta: float
    delta_rel: float
    eps_fixed_rel: float
    support: int
    kinks: int
    certified: bool
    lipschitz_lower: float  # max over the training points of ‖∇_x f‖ (f − f_0 if centred)
    lipschitz_upper: float  # Σ|v_j|‖w_j‖ (two-layer) or Π_l s_l ‖W_l‖_2 (deep); + f_0's
    param_move: float  # ‖θ − θ_0‖/‖θ_0‖ (gd; NaN for lp)
    kernel_move: float  # ‖Θ̂ − Θ̂_0‖_F/‖Θ̂_0‖_F on the training points (gd; NaN for lp)
    pattern_flips: float  # share of ReLU activations on the training points that changed (gd)
    ntk_min: float  # λ_min of the analytic (infinite-width) NTK Gram on the training points
    entk_min_init: float  # λ_min of the empirical NTK Gram at initialisation (gd; NaN for lp)
    entk_min: float  # λ_min of the trained network's empirical NTK Gram
    seeded: str  # convex: what seeded the program ("gates N", "gd"); "" otherwise
    rounds: int  # convex: programs solved (0 otherwise)
    # gd+convex: gradient descent's own network, before the convex program (NaN / "" otherwise)
    gd_steps: int
    gd_stop_reason: str
    gd_clean_error: float
    gd_normalised_margin: float
    gd_eps_rel: float
    gd_certified: bool

    def to_dict(self) -> dict:
        return {k: _json_number(v) for k, v in asdict(self).items()}

    @property
    def failure(self) -> str | None:
        """Why this network counts as a failed run, or None: no network (an LP or convex
        failure), divergence, non-finite measures (``nan``), or no interpolation within the
        budget."""
        if self.stop_reason in (*LP_FAILURES, *CONVEX_FAILURES, "diverged"):
            return self.stop_reason
        if not all(map(math.isfinite, (self.train_error, self.clean_error, self.min_margin))):
            return "nan"
        return None if self.interpolated else "no_interpolation"


def _json_number(v):
    """NaN and ±inf have no JSON form: they become null."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass
class Experiment:
    """A finished experiment: its config, samples, final (and initial) parameters, records."""

    config: RunConfig
    seeds: list[int]
    samples: list[Sample]
    params: Params
    params0: Params
    records: list[NetworkRecord]
    histories: list[dict[str, np.ndarray]]
    cert_histories: list[dict[str, np.ndarray]]

    def to_dicts(self) -> list[dict]:
        """One JSON-ready dict per network: its record, its thinned training history and the
        certificates checked during training."""

        def lists(h: dict[str, np.ndarray]) -> dict[str, list]:
            return {k: [_json_number(x) for x in v.tolist()] for k, v in h.items()}

        return [
            r.to_dict() | {"history": lists(h), "certificate_history": lists(c)}
            for r, h, c in zip(self.records, self.histories, self.cert_histories, strict=True)
        ]

    def save(self, path: Path) -> None:
        """Write the documented .npz (docs/npz-format.md) atomically: all of it or nothing."""
        net = self.config.network()
        arrays: dict[str, np.ndarray] = {
            "format": np.array(NPZ_FORMAT),
            "version": np.array(__version__),
            "config": np.array(self.config.model_dump_json()),
            "records": np.array(json.dumps(self.to_dicts())),
            "seeds": np.array(self.seeds),
            "x": np.stack([s.x for s in self.samples]),
            "y": np.stack([s.y for s in self.samples]),
            "flipped": np.stack([s.flipped for s in self.samples]),
        }
        for name, p, p0 in zip(net.names(), self.params, self.params0, strict=True):
            arrays[name] = p.cpu().numpy()
            arrays[f"init.{name}"] = p0.cpu().numpy()
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)


def clean_error(
    config: RunConfig, params: Params, params0: Params, seeds: list[int], samples: list[Sample]
) -> CleanError:
    """Clean test error of the trained nets: exact on the interval for two-layer nets; on a
    dataset, over the rows each network did not train on; else Monte Carlo on fresh points
    from each seed's test stream."""
    if config.exact_clean_error:
        v, w, b = two_layer(params)
        value = exact_clean_error_1d(v, w, b, config.a, config.b)
        return CleanError(value=value, lo=value, hi=value, method="exact")
    net = config.network()
    base = params0 if config.center else None

    def f(x: Tensor) -> Tensor:
        return predict(net, params, x, base)

    if config.dist in DATASETS:
        x, labels = load_dataset(config.dist)
        rows = [s.index for s in samples]
        return held_out_clean_error(
            f, x, labels, rows, dtype=DTYPES[config.dtype], device=config.device
        )
    return mc_clean_error(
        f,
        config.distribution(),
        mc_sample_size(config.test_half_width),
        [rng_for(s, "test") for s in seeds],
        dtype=DTYPES[config.dtype],
        device=config.device,
    )


def _solved(
    config: RunConfig,
    params: Params,
    ok: list[bool],
    reasons: list[str],
    seconds: list[float],
    x: Tensor,
    y: Tensor,
) -> TrainResult:
    """A TrainResult for networks computed by a solver (no steps, no history); margins and
    everything below are NaN where ``ok`` is False (the solver gave no network)."""
    net = config.network()
    q = y * net.forward(params, x)[0]
    q = torch.where(torch.tensor(ok, device=x.device)[:, None], q, torch.nan)
    return TrainResult(
        params=params,
        steps=np.zeros(len(ok), dtype=np.int64),
        stop_reason=list(reasons),
        seconds=np.array(seconds),
        loss=loss_value(q, config.loss).cpu().numpy(),
        train_error=torch.where(q.isnan().any(1), torch.nan, (q <= 0).double().mean(1))
        .cpu()
        .numpy(),
        min_margin=q.min(1).values.cpu().numpy(),
        normalised_margin=normalised_margin(q, params, net.degree).cpu().numpy(),
        history=[{} for _ in ok],
        certificate_history=[{} for _ in ok],
    )


def _stack(arrays: list[tuple[np.ndarray, ...]], like: Tensor) -> Params:
    """Per-network parameter arrays → the ensemble's tensors (dtype and device of ``like``)."""
    return [
        torch.as_tensor(np.stack(group), dtype=like.dtype, device=like.device)
        for group in zip(*arrays, strict=True)
    ]


def solve_min_norm(
    config: RunConfig, samples: list[Sample], x: Tensor, y: Tensor
) -> tuple[TrainResult, list[np.ndarray]]:
    """The ``lp`` method: each network's parameters become the minimum-norm interpolant of its
    sample (x, y its tensors) over the kink dictionary (benign.convex); returns the result and
    the LP duals."""
    sols, seconds = [], []
    for s in samples:
        t0 = time.perf_counter()
        sols.append(
            min_norm_interpolant(s.x, s.y, config.a, config.b, config.width, config.lp_grid)
        )
        seconds.append(time.perf_counter() - t0)
    params = _stack([(s.w, s.b, s.v[None, :]) for s in sols], x)
    result = _solved(config, params, [s.ok for s in sols], [s.reason for s in sols], seconds, x, y)
    return result, [s.multipliers for s in sols]


SEED_BLOCKS = 32  # convex: blocks of the first program (each costs ~ m·r² per solver step)
RESEEDS = 3  # convex: seed again with 2×, 4×, 8× the gates until the implied certificate holds


def solve_convex(
    config: RunConfig,
    seeds: list[int],
    samples: list[Sample],
    x: Tensor,
    y: Tensor,
    start: Params | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[TrainResult, list[np.ndarray], list[str], list[int]]:
    """The ``convex`` method: per network, a KKT point of the margin problem from the convex
    program over activation patterns (benign.convex.margin_kkt), seeded by the patterns of
    the network ``start`` (gd+convex) or by ``config.gates`` random gates of its seed's
    ``gates`` stream; while the search gives no network, or one whose dual-implied ε_rel is
    above ``cert_eps``, it starts again from twice as many gates, up to RESEEDS times, and
    keeps the best network (:func:`_better`). Returns the result,
    the programs' multipliers, how the kept network was seeded and the programs solved.
    ``progress(networks solved, networks left)`` is called after each network."""
    target = min(config.cert_eps, config.cert_delta) / 10
    budget = math.inf if config.max_seconds is None else config.max_seconds
    layers = None if start is None else [
        None if p is None else p.double().cpu().numpy() for p in two_layer(start)
    ]
    sols, seconds, seeded, rounds = [], [], [], [0] * len(seeds)
    for e, (seed, s) in enumerate(zip(seeds, samples, strict=True)):
        t0 = time.perf_counter()
        rng = rng_for(seed, "gates")
        gates = config.gates or (256 if config.d <= 3 else 64)
        rs = RowSpace.of(s.x, config.bias)
        best, best_how = None, ""
        for attempt in range(RESEEDS + 1):
            if layers is not None and attempt == 0:
                v, w, b = (None if p is None else p[e] for p in layers)
                dirs, signs = network_neurons(rs, w, b, v)
                how = "gd"
            else:
                dirs, signs = gate_neurons(rs.a.shape[1], gates, rng)
                how = f"gates {gates}"
                gates *= 2
            pats, signs = seed_blocks(rs.a, s.y, dirs, signs)
            # the LP's SEED_BLOCKS heaviest blocks start (with one of sign y_i on every x_i);
            # all of them if those give no network
            for pool in (first_blocks(pats, signs, s.y, SEED_BLOCKS), np.arange(len(signs))):
                left = budget - (time.perf_counter() - t0)
                sol = margin_kkt(
                    s.x, s.y, config.bias, config.width, pats[pool], signs[pool],
                    config.rounds - rounds[e], left, target, rs=rs,
                )
                rounds[e] += sol.rounds
                if sol.ok or len(pool) == len(signs) or rounds[e] >= config.rounds:
                    break
            if best is None or _better(sol, best):
                best, best_how = sol, how
            # seed again only where no network came out or it would not be certified
            if best.ok and best.implied_eps_rel <= config.cert_eps:
                break
            if time.perf_counter() - t0 >= budget or rounds[e] >= config.rounds:
                break
        sols.append(best)
        seeded.append(best_how)
        seconds.append(time.perf_counter() - t0)
        if progress is not None:
            progress(e + 1, len(seeds) - e - 1)
    arrays = [
        (s.w, s.b, s.v[None, :]) if config.bias else (s.w, s.v[None, :]) for s in sols
    ]
    result = _solved(
        config, _stack(arrays, x), [s.ok for s in sols], [s.reason for s in sols], seconds, x, y
    )
    return result, [s.multipliers for s in sols], seeded, rounds


def _better(sol: ConvexSolution, than: ConvexSolution) -> bool:
    """A network over none; then the lower dual-implied ε_rel."""
    if sol.ok != than.ok:
        return sol.ok
    return bool(sol.implied_eps_rel < than.implied_eps_rel)


def _lambda_min(kernels: Tensor) -> np.ndarray:
    """λ_min of each of E kernel matrices (E, m, m); NaN for a non-finite one."""
    return np.array(
        [
            smallest_eigenvalue(k).lambda_min if np.isfinite(k).all() else math.nan
            for k in kernels.cpu().numpy()
        ]
    )


def _loss_tol_or_certified(reasons: list[str], certified: np.ndarray) -> list[str]:
    """Gradient descent stopped at its loss tolerance (``loss_tol``) on a network whose KKT
    certificate holds: ``certified``."""
    return [
        "certified" if r == "loss_tol" and ok else r
        for r, ok in zip(reasons, certified, strict=True)
    ]


ProgressFn = Callable[[int, int, int, int], None]
BLOCK_ELEMENTS = 2**18  # hidden activations per ensemble block, see docs/performance.md


def ensemble_block(config: RunConfig) -> int:
    """Networks per batched ensemble: as many as keep E·m·width ≤ 2^18 hidden activations
    (2 MiB in float64), between 1 and 16. Wider ensembles leave the cache and get slower."""
    return max(1, min(16, BLOCK_ELEMENTS // (config.m * config.width)))


def run_block(
    config: RunConfig,
    seeds: list[int],
    samples: list[Sample],
    progress: Callable[[int, int], None] | None = None,
) -> Experiment:
    """Train one network per (seed, sample) together on the ensemble axis and measure them.

    Every setting but the noise comes from ``config``; each sample carries its own flips, so
    networks that differ only in p train together. ``progress(step, active)`` reports training
    (for the convex method: networks solved, networks left).
    """
    config.check_device()
    net = config.network()
    dtype, device = DTYPES[config.dtype], config.device
    x = torch.as_tensor(np.stack([s.x for s in samples]), dtype=dtype, device=device)
    y = torch.as_tensor(np.stack([s.y for s in samples]), dtype=dtype, device=device)
    params0 = net.init_params(seeds, dtype, device)
    offset = predict(net, params0, x) if config.center else None
    method = config.resolved_method
    n_net = len(seeds)
    hint, seeded, rounds = None, [""] * n_net, [0] * n_net
    gd = {
        "gd_steps": [0] * n_net,
        "gd_stop_reason": [""] * n_net,
        "gd_clean_error": [math.nan] * n_net,
        "gd_normalised_margin": [math.nan] * n_net,
        "gd_eps_rel": [math.nan] * n_net,
        "gd_certified": [False] * n_net,
    }
    if method == "lp":
        res, hint = solve_min_norm(config, samples, x, y)
    elif method == "convex":
        res, hint, seeded, rounds = solve_convex(config, seeds, samples, x, y, progress=progress)
    else:
        res = train(net, params0, x, y, config.train_config(), offset=offset, progress=progress)
    if method == "gd+convex":  # gradient descent's network, then the KKT point from it
        gd_cert = certify(net, res.params, x, y)
        gd_ok = gd_cert.certified(config.tolerances())
        gd_err = clean_error(config, res.params, params0, seeds, samples).value
        gd = {
            "gd_steps": res.steps.tolist(),
            "gd_stop_reason": _loss_tol_or_certified(res.stop_reason, gd_ok),
            "gd_clean_error": gd_err.tolist(),
            "gd_normalised_margin": res.normalised_margin.tolist(),
            "gd_eps_rel": gd_cert.eps_rel.tolist(),
            "gd_certified": gd_ok.tolist(),
        }
        trained = res
        res, hint, seeded, rounds = solve_convex(config, seeds, samples, x, y, start=res.params)
        res.steps, res.seconds = trained.steps, trained.seconds + res.seconds
        res.history, res.certificate_history = trained.history, trained.certificate_history
    cert = certify(net, res.params, x, y, hint=hint, offset=offset)
    certified = cert.certified(config.tolerances())
    if method == "gd":
        res.stop_reason = _loss_tol_or_certified(res.stop_reason, certified)
    err = clean_error(config, res.params, params0, seeds, samples)
    # no network to measure where a solver failed
    failed = np.array([reason in (*LP_FAILURES, *CONVEX_FAILURES) for reason in res.stop_reason])
    nan = np.where(failed, np.nan, 0.0)
    err = CleanError(err.value + nan, err.lo + nan, err.hi + nan, err.method, err.n_test)
    # of the function trained: f, or f − f_0 (bounded above by L(f) + L(f_0)) when centred
    base = params0 if config.center else None
    lip_lo = lipschitz_lower(net, res.params, x, params0=base) + nan
    lip_hi = lipschitz_upper(net, res.params) + nan
    if config.center:
        lip_hi = lip_hi + lipschitz_upper(net, params0)
    ntk_min = [smallest_eigenvalue(analytic_ntk(net, s.x)).lambda_min for s in samples]
    kernel = net.tangent_kernel(res.params, x)
    entk_min = _lambda_min(kernel) + nan
    if method == "gd":
        kernel0 = net.tangent_kernel(params0, x)
        lazy = lazy_diagnostics(net, params0, res.params, x, kernels=(kernel0, kernel))
        move, kernel_move, flips = lazy.param_move, lazy.kernel_move, lazy.pattern_flips
        entk_min_init = _lambda_min(kernel0)
    else:  # a solver's network does not come from the initialisation
        move = kernel_move = flips = entk_min_init = np.full(len(seeds), np.nan)
    records = [
        NetworkRecord(
            seed=seed,
            method=method,
            flips=sample.flips,
            flip_rate=sample.flip_rate,
            train_error=float(res.train_error[k]),
            interpolated=bool(res.interpolated[k]),
            clean_error=float(err.value[k]),
            clean_lo=float(err.lo[k]),
            clean_hi=float(err.hi[k]),
            clean_method=err.method,
            n_test=err.n_test,
            steps=int(res.steps[k]),
            stop_reason=res.stop_reason[k],
            seconds=float(res.seconds[k]),
            loss=float(res.loss[k]),
            min_margin=float(res.min_margin[k]),
            normalised_margin=float(res.normalised_margin[k]),
            eps=float(cert.eps[k]),
            eps_rel=float(cert.eps_rel[k]),
            delta=float(cert.delta[k]),
            delta_rel=float(cert.delta_rel[k]),
            eps_fixed_rel=float(cert.eps_fixed_rel[k]),
            support=int(cert.support[k]) if cert.applies else 0,
            kinks=int(cert.kinks[k]) if cert.applies else 0,
            certified=bool(certified[k]),
            lipschitz_lower=float(lip_lo[k]),
            lipschitz_upper=float(lip_hi[k]),
            param_move=float(move[k]),
            kernel_move=float(kernel_move[k]),
            pattern_flips=float(flips[k]),
            ntk_min=float(ntk_min[k]),
            entk_min_init=float(entk_min_init[k]),
            entk_min=float(entk_min[k]),
            seeded=seeded[k],
            rounds=int(rounds[k]),
            **{key: values[k] for key, values in gd.items()},
        )
        for k, (seed, sample) in enumerate(zip(seeds, samples, strict=True))
    ]
    return Experiment(
        config=config,
        seeds=list(seeds),
        samples=list(samples),
        params=res.params,
        params0=params0,
        records=records,
        histories=res.history,
        cert_histories=res.certificate_history,
    )


def run_experiment(
    config: RunConfig,
    seeds: list[int],
    block: int | None = None,
    progress: ProgressFn | None = None,
) -> Experiment:
    """Train one network per seed, ``block`` networks per batched ensemble (default:
    :func:`ensemble_block`), and measure them.

    ``progress(block_index, n_blocks, step, active)`` reports training progress.
    """
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    block = block or ensemble_block(config)
    chunks = [seeds[i : i + block] for i in range(0, len(seeds), block)]
    parts = []
    for bi, chunk in enumerate(chunks):
        cb = None if progress is None else (lambda s, a, bi=bi: progress(bi, len(chunks), s, a))
        parts.append(run_block(config, chunk, [config.sample(s) for s in chunk], cb))
    return Experiment(
        config=config,
        seeds=list(seeds),
        samples=[s for e in parts for s in e.samples],
        params=[torch.cat(group) for group in zip(*(e.params for e in parts), strict=True)],
        params0=[torch.cat(group) for group in zip(*(e.params0 for e in parts), strict=True)],
        records=[r for e in parts for r in e.records],
        histories=[h for e in parts for h in e.histories],
        cert_histories=[h for e in parts for h in e.cert_histories],
    )
