"""One experiment: a run configuration and its seeds → data, batched nets, training, measures.

This is the unit that sweeps repeat: :class:`RunConfig` holds every setting of a run except
its seed, and :func:`run_experiment` gives one :class:`NetworkRecord` per seed.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from benign import __version__
from benign.certificate import certify, excess_bounds, optimality
from benign.config import RunConfig, ensemble_block
from benign.data import Sample
from benign.files import atomic_path
from benign.measures import clean_error, lipschitz_lower, lipschitz_upper
from benign.methods import METHODS, Fit, Problem, clean_source, dataset_rows
from benign.nets import Params, ReLUNet, empirical_ntk, predict
from benign.ntk import analytic_ntk, lazy_diagnostics, smallest_eigenvalue
from benign.records import (
    CERT_KEYS,
    CONVEX_FAILURES,
    HISTORY_KEYS,
    LP_FAILURES,
    RECORD_COLUMNS,
    NetworkRecord,
    column_types,
    json_ready,
    typed_frame,
)
from benign.seeding import rng_for

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

        def lists(h: dict[str, np.ndarray]) -> object:
            return json_ready({k: v.tolist() for k, v in h.items()})

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


def _lambda_min(kernels: Tensor) -> np.ndarray:
    """λ_min of each of E kernel matrices (E, m, m); NaN for a non-finite one."""
    return np.array([smallest_eigenvalue(k).lambda_min for k in kernels.cpu().numpy()])


ProgressFn = Callable[[int, int, int, int], None]


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
        clean_source(config),
        params0=base,
        seeds=seeds,
        train_rows=dataset_rows(samples),
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
    """Fit one network per (seed, sample) together on the ensemble axis (by the method of
    ``config``, :data:`benign.methods.METHODS`) and measure them (:func:`measure`).

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
    method = METHODS[config.resolved_method]
    fitted = method.fit(Problem(config, seeds, samples, x, y, params0, offset), progress)
    values = measure(config, fitted, seeds, samples, x, y, params0, offset)
    res = fitted.result
    res.stop_reason = method.stop_reasons(res.stop_reason, values, config)
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
