"""One experiment: a run configuration and its seeds → data, batched nets, training, measures.

This is the unit that sweeps repeat: :class:`RunConfig` holds every setting of a run except
its seed, and :func:`run_experiment` gives one :class:`NetworkRecord` per seed.
"""

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from benign import __version__
from benign.certificate import certify, excess_bounds, normalised_margin, optimality
from benign.config import RunConfig, ensemble_block
from benign.convex import (
    SEED_BLOCKS,
    ConvexSolution,
    RowSpace,
    first_blocks,
    gate_neurons,
    margin_kkt,
    network_neurons,
    seed_blocks,
)
from benign.data import DATASETS, Distribution, Sample
from benign.files import atomic_path
from benign.lp import min_norm_interpolant
from benign.measures import clean_error, lipschitz_lower, lipschitz_upper
from benign.nets import Params, ReLUNet, empirical_ntk, margins, predict, two_layer
from benign.ntk import analytic_ntk, lazy_diagnostics, smallest_eigenvalue
from benign.records import (
    CERT_KEYS,
    CONVEX_FAILURES,
    HISTORY_KEYS,
    LP_FAILURES,
    RECORD_COLUMNS,
    NetworkRecord,
    column_types,
    json_number,
    typed_frame,
)
from benign.seeding import rng_for
from benign.training import TrainConfig, TrainResult, loss_value, train

if TYPE_CHECKING:
    import pandas as pd

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def check_device(config: RunConfig) -> None:
    """Refuse a CUDA device where there is none. Checked where the networks are computed
    (not when the settings are read: a CPU login node may plan a sweep for GPU workers)."""
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device: cuda was asked for but no CUDA device is available")


NPZ_FORMAT = 2  # 2: records keyed as a store's columns (steps → steps_taken …)


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
            return {k: [json_number(x) for x in v.tolist()] for k, v in h.items()}

        return [
            r.to_dict() | {"history": lists(h), "certificate_history": lists(c)}
            for r, h, c in zip(self.records, self.histories, self.cert_histories, strict=True)
        ]

    def to_frame(self, table: str = "runs") -> "pd.DataFrame":
        """The networks as a pandas DataFrame, keyed by seed: ``runs`` (one row per network:
        status and failure, every setting, every record field, named as in a store's runs
        table), ``history`` or ``certificate_history`` (one row per network and step)."""
        if table == "runs":
            settings = self.config.model_dump(mode="json")
            rows = [
                (
                    r.seed,
                    "failed" if r.failure else "done",
                    r.failure,
                    *settings.values(),
                    *(getattr(r, f) for f in RECORD_COLUMNS),
                )
                for r in self.records
            ]
            columns = ["seed", "status", "failure", *settings, *RECORD_COLUMNS.values()]
            kinds = column_types() | {"status": str, "failure": str}
            return typed_frame(rows, columns, kinds)
        if table not in ("history", "certificate_history"):
            raise ValueError(
                f"table: must be one of runs, history, certificate_history, got {table!r}"
            )
        keys = HISTORY_KEYS if table == "history" else CERT_KEYS
        hists = self.histories if table == "history" else self.cert_histories
        steps = [
            (seed, *values)
            for seed, h in zip(self.seeds, hists, strict=True)
            if h
            for values in zip(*(h[k].tolist() for k in keys), strict=True)
        ]
        kinds = {"seed": int, "step": int} | {k: float for k in keys if k != "step"}
        return typed_frame(steps, ["seed", *keys], kinds)

    def save(self, path: Path) -> None:
        """Write the documented .npz (docs/npz-format.md) atomically: all of it or nothing."""
        net = ReLUNet.of(self.config)
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
            np.savez(f, **arrays)  # type: ignore[arg-type]


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
    net = ReLUNet.of(config)
    q = margins(net.forward(params, x)[0], y)
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


def _stack(arrays: Sequence[tuple[np.ndarray | None, ...]], like: Tensor) -> Params:
    """Per-network parameter arrays → the ensemble's tensors (dtype and device of ``like``)."""
    return [
        torch.as_tensor(np.stack(group), dtype=like.dtype, device=like.device)
        for group in zip(*arrays, strict=True)
    ]


# the solvers run on one thread (Clarabel's and HiGHS's own settings) and so does the BLAS
# under their NumPy steps: the convex search's path depends on rounding, and with it the KKT
# point reached, so the same config and seed give the same network whatever the caller's pools
SOLVER_THREADS = 1


@threadpool_limits.wrap(limits=SOLVER_THREADS)
def solve_min_norm(
    config: RunConfig,
    samples: list[Sample],
    x: Tensor,
    y: Tensor,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[TrainResult, list[np.ndarray], list[int]]:
    """The ``lp`` method: each network's parameters become the minimum-norm interpolant of its
    sample (x, y its tensors), exactly (benign.lp); returns the result, the LP duals and the
    programs solved.
    ``progress(networks solved, networks left)`` is called after each network."""
    budget = math.inf if config.max_seconds is None else config.max_seconds
    sols, seconds = [], []
    for e, s in enumerate(samples):
        t0 = time.perf_counter()
        log = Heartbeat(f"network {e + 1}/{len(samples)}")
        sols.append(
            min_norm_interpolant(s.x, s.y, config.width, budget, max_rounds=config.rounds, log=log)
        )
        seconds.append(time.perf_counter() - t0)
        if progress is not None:
            progress(e + 1, len(samples) - e - 1)
    params = _stack([(s.w, s.b, s.v[None, :]) for s in sols], x)
    result = _solved(config, params, [s.ok for s in sols], [s.reason for s in sols], seconds, x, y)
    return result, [s.multipliers for s in sols], [s.rounds for s in sols]


HEARTBEAT_SECONDS = 5.0  # a solver's work is logged at most this often, from this long on
logger = logging.getLogger("benign.solver")


class Heartbeat:
    """A solver's lines to the ``benign.solver`` logger (INFO): the first once the network has
    taken HEARTBEAT_SECONDS, then at most one per HEARTBEAT_SECONDS, the latest line each time;
    ``benign run`` shows them on stderr."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.last = time.perf_counter()

    def __call__(self, line: str) -> None:
        now = time.perf_counter()
        if now - self.last >= HEARTBEAT_SECONDS:
            self.last = now
            logger.info("%s · %s", self.what, line)


RESEEDS = 3  # convex: seed again with 2×, 4×, 8× the gates until the implied certificate holds


@threadpool_limits.wrap(limits=SOLVER_THREADS)
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
    target = kkt_tolerance(config) / 10
    budget = math.inf if config.max_seconds is None else config.max_seconds
    layers = (
        None
        if start is None
        else [None if p is None else p.double().cpu().numpy() for p in two_layer(start)]
    )
    sols, seconds, seeded, rounds = [], [], [], [0] * len(seeds)
    for e, (seed, s) in enumerate(zip(seeds, samples, strict=True)):
        t0 = time.perf_counter()
        rng = rng_for(seed, "gates")
        gates = config.gates or (256 if config.d <= 3 else 64)
        rs = RowSpace.of(s.x, config.bias)
        log = Heartbeat(f"network {e + 1}/{len(seeds)}")
        best, best_how = None, ""
        for attempt in range(RESEEDS + 1):
            if layers is not None and attempt == 0:
                v, w, b = (None if p is None else p[e] for p in layers)
                assert v is not None and w is not None
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
                    s.x,
                    s.y,
                    config.bias,
                    config.width,
                    pats[pool],
                    signs[pool],
                    config.rounds - rounds[e],
                    left,
                    target,
                    rs=rs,
                    log=log,
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
        assert best is not None  # the loop runs at least once
        sols.append(best)
        seeded.append(best_how)
        seconds.append(time.perf_counter() - t0)
        if progress is not None:
            progress(e + 1, len(seeds) - e - 1)
    arrays = [(s.w, s.b, s.v[None, :]) if config.bias else (s.w, s.v[None, :]) for s in sols]
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
    return np.array([smallest_eigenvalue(k).lambda_min for k in kernels.cpu().numpy()])


EXACT = 1e-3  # convex: "kkt" needs the recorded network's ε_rel, δ_rel ≤ this (or tighter)


def kkt_tolerance(config: RunConfig) -> float:
    """The ε_rel and δ_rel at which a convex network is a KKT point (stop ``kkt``): EXACT, or
    the pass mark where that is tighter. The search aims ten times below it, to leave room
    for what building the network from the program costs."""
    return min(config.cert_eps, config.cert_delta, EXACT)


def _kkt_at_network(reasons: list[str], values: dict[str, np.ndarray], tol: float) -> list[str]:
    """The convex search stopped with ``kkt`` (its program's duals said so): it stays ``kkt``
    only where the recorded network's own certificate has ε_rel, δ_rel ≤ ``tol``; else
    ``inexact``."""
    exact = (values["eps_rel"] <= tol) & (values["delta_rel"] <= tol)
    return ["inexact" if r == "kkt" and not ok else r for r, ok in zip(reasons, exact, strict=True)]


def _loss_tol_or_certified(reasons: list[str], certified: np.ndarray) -> list[str]:
    """Gradient descent stopped at its loss tolerance (``loss_tol``) on a network whose KKT
    certificate holds: ``certified``."""
    return [
        "certified" if r == "loss_tol" and ok else r
        for r, ok in zip(reasons, certified, strict=True)
    ]


ProgressFn = Callable[[int, int, int, int], None]
# gd+convex: gradient descent's own network, and the values of these fields for other methods
GD_FIELDS: dict[str, object] = {
    "gd_steps": 0,
    "gd_stop_reason": "",
    "gd_clean_error": math.nan,
    "gd_normalised_margin": math.nan,
    "gd_eps_rel": math.nan,
    "gd_certified": False,
}


@dataclass
class Fit:
    """The networks a method gives, before any measure: the training (or solver) result, the
    multipliers that hint the certificate (solvers), and the method's own record fields
    (``seeded``, ``rounds``, gd+convex's :data:`GD_FIELDS`), one value per network."""

    result: TrainResult
    hint: list[np.ndarray] | None
    fields: dict[str, list]


def fit(
    config: RunConfig,
    seeds: list[int],
    samples: list[Sample],
    x: Tensor,
    y: Tensor,
    params0: Params,
    offset: Tensor | None,
    progress: Callable[[int, int], None] | None = None,
) -> Fit:
    """Train (gd), solve (lp, convex), or both (gd+convex) one network per sample."""
    net = ReLUNet.of(config)
    method = config.resolved_method
    n_net = len(seeds)
    fields: dict[str, list] = {"seeded": [""] * n_net, "rounds": [0] * n_net}
    fields |= {k: [none] * n_net for k, none in GD_FIELDS.items()}
    hint = None
    if method == "lp":
        res, hint, fields["rounds"] = solve_min_norm(config, samples, x, y, progress)
        return Fit(res, hint, fields)
    if method == "convex":
        res, hint, fields["seeded"], fields["rounds"] = solve_convex(
            config, seeds, samples, x, y, progress=progress
        )
        return Fit(res, hint, fields)
    res = train(net, params0, x, y, TrainConfig.of(config), offset=offset, progress=progress)
    if method == "gd":
        return Fit(res, hint, fields)
    # gd+convex: gradient descent's network is measured, then the KKT point from it
    gd_cert = certify(net, res.params, x, y)
    gd_ok = gd_cert.certified(config.tolerances())
    gd_err = clean_error(
        net,
        res.params,
        _source(config),
        seeds=seeds,
        train_rows=_rows(samples),
        half_width=config.test_half_width,
    )
    fields |= {
        "gd_steps": res.steps.tolist(),
        "gd_stop_reason": _loss_tol_or_certified(res.stop_reason, gd_ok),
        "gd_clean_error": gd_err.value.tolist(),
        "gd_normalised_margin": res.normalised_margin.tolist(),
        "gd_eps_rel": gd_cert.eps_rel.tolist(),
        "gd_certified": gd_ok.tolist(),
    }
    trained = res
    res, hint, seeded, fields["rounds"] = solve_convex(
        config, seeds, samples, x, y, start=res.params
    )
    # seeded by gates instead of gd's network: say why
    why = [
        "gd did not interpolate" if not q > 0 else "gd's patterns gave no certified network"
        for q in gd_cert.min_margin
    ]
    fields["seeded"] = [h if h == "gd" else f"{h} ({w})" for h, w in zip(seeded, why, strict=True)]
    res.steps, res.seconds = trained.steps, trained.seconds + res.seconds
    res.history, res.certificate_history = trained.history, trained.certificate_history
    return Fit(res, hint, fields)


def _source(config: RunConfig) -> Distribution | str:
    """Where clean errors are measured: the generated law, or the dataset's name."""
    return config.dist if config.dist in DATASETS else config.distribution()


def _rows(samples: list[Sample]) -> list[np.ndarray]:
    """The dataset rows each sample trained on (none for a generated law)."""
    return [s.index for s in samples if s.index is not None]


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def measure(
    config: RunConfig,
    fitted: Fit,
    seeds: list[int],
    samples: list[Sample],
    x: Tensor,
    y: Tensor,
    params0: Params,
    offset: Tensor | None,
) -> dict[str, np.ndarray]:
    """Every measure of the fitted networks, as named arrays (one value per network, named as
    the fields of :class:`NetworkRecord`): the KKT certificate (with the solver's multipliers
    as a hint), the clean error, the Lipschitz bounds, the NTK eigenvalues and, for gradient
    descent, the lazy diagnostics. NaN where a solver gave no network."""
    net = ReLUNet.of(config)
    res = fitted.result
    n_net = len(seeds)
    cert = certify(net, res.params, x, y, hint=fitted.hint, offset=offset, multipliers=True)
    certified = cert.certified(config.tolerances())
    gap = found = np.full(n_net, np.nan)  # how far from a global minimiser: two-layer nets
    if cert.applies and config.depth == 2:
        hints = fitted.hint or [np.empty(0)] * n_net
        candidates = [[c, h] for c, h in zip(cert.multipliers, hints, strict=True)]
        rngs = [rng_for(s, "search") if c else None for s, c in zip(seeds, certified, strict=True)]
        gap, found = excess_bounds(res.params, _numpy(x), _numpy(y), candidates, rngs)
    # no network to measure where a solver failed
    failed = np.array([reason in (*LP_FAILURES, *CONVEX_FAILURES) for reason in res.stop_reason])
    nan = np.where(failed, np.nan, 0.0)
    base = params0 if config.center else None  # the function trained: f, or f − f_0
    err = clean_error(
        net,
        res.params,
        _source(config),
        params0=base,
        seeds=seeds,
        train_rows=_rows(samples),
        half_width=config.test_half_width,
    )
    # of f − f_0 when centred: bounded above by L(f) + L(f_0)
    lip_hi = lipschitz_upper(net, res.params) + nan
    if config.center:
        lip_hi = lip_hi + lipschitz_upper(net, params0)
    kernel = empirical_ntk(net, res.params, x)
    values = {
        "eps": cert.eps,
        "eps_rel": cert.eps_rel,
        "delta": cert.delta,
        "delta_rel": cert.delta_rel,
        "eps_fixed_rel": cert.eps_fixed_rel,
        "support": cert.support if cert.applies else np.zeros(n_net, dtype=np.int64),
        "kinks": cert.kinks if cert.applies else np.zeros(n_net, dtype=np.int64),
        "certified": certified,
        "global_gap": gap,
        "excess_found": found,
        "optimality": optimality(certified, gap, found),
        "clean_error": err.value + nan,
        "clean_lo": err.lo + nan,
        "clean_hi": err.hi + nan,
        "clean_method": np.full(n_net, err.method),
        "n_test": np.full(n_net, err.n_test),
        "lipschitz_lower": lipschitz_lower(net, res.params, x, params0=base) + nan,
        "lipschitz_upper": lip_hi,
        "ntk_min": np.array(
            [smallest_eigenvalue(analytic_ntk(net, s.x)).lambda_min for s in samples]
        ),
        "entk_min": _lambda_min(kernel) + nan,
    }
    if config.resolved_method == "gd":
        kernel0 = empirical_ntk(net, params0, x)
        lazy = lazy_diagnostics(net, params0, res.params, x, kernels=(kernel0, kernel))
        values |= {
            "param_move": lazy.param_move,
            "kernel_move": lazy.kernel_move,
            "pattern_flips": lazy.pattern_flips,
            "entk_min_init": _lambda_min(kernel0),
        }
    else:  # a solver's network does not come from the initialisation
        values |= dict.fromkeys(
            ("param_move", "kernel_move", "pattern_flips", "entk_min_init"), np.full(n_net, np.nan)
        )
    return values


def run_block(
    config: RunConfig,
    seeds: list[int],
    samples: list[Sample],
    progress: Callable[[int, int], None] | None = None,
) -> Experiment:
    """Fit one network per (seed, sample) together on the ensemble axis (:func:`fit`) and
    measure them (:func:`measure`).

    Every setting but the noise comes from ``config``; each sample carries its own flips, so
    networks that differ only in p train together. ``progress(step, active)`` reports training
    (for the convex method: networks solved, networks left).
    """
    check_device(config)
    net = ReLUNet.of(config)
    dtype, device = DTYPES[config.dtype], config.device
    x = torch.as_tensor(np.stack([s.x for s in samples]), dtype=dtype, device=device)
    y = torch.as_tensor(np.stack([s.y for s in samples]), dtype=dtype, device=device)
    params0 = net.init_params(seeds, dtype, device)
    offset = predict(net, params0, x) if config.center else None
    fitted = fit(config, seeds, samples, x, y, params0, offset, progress)
    values = measure(config, fitted, seeds, samples, x, y, params0, offset)
    res = fitted.result
    if config.resolved_method == "gd":
        res.stop_reason = _loss_tol_or_certified(res.stop_reason, values["certified"])
    else:
        res.stop_reason = _kkt_at_network(res.stop_reason, values, kkt_tolerance(config))
    columns: dict[str, Sequence | np.ndarray] = {
        "seed": seeds,
        "method": [config.resolved_method] * len(seeds),
        "flips": [s.flips for s in samples],
        "flip_rate": [s.flip_rate for s in samples],
        "interpolated": res.interpolated,
        "stop_reason": res.stop_reason,
        **{k: getattr(res, k) for k in ("train_error", "steps", "seconds", "loss")},
        **{k: getattr(res, k) for k in ("min_margin", "normalised_margin")},
        **values,
        **fitted.fields,
    }
    return Experiment(
        config=config,
        seeds=list(seeds),
        samples=list(samples),
        params=res.params,
        params0=params0,
        records=[
            NetworkRecord.of({k: v[e] for k, v in columns.items()}) for e in range(len(seeds))
        ],
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
