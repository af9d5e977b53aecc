"""The methods that give a run its networks, behind one contract.

A method (:data:`METHODS`, by its name, the ``method`` setting) fits one network per sample
of an ensemble block: it reads the settings :data:`benign.config.METHOD_SETTINGS` gives it
(and every other one), applies where :meth:`Method.applies` says (``RunConfig`` refuses the
others), reports its progress as ``progress(done, left)`` (gradient descent: steps and
networks still training; the solvers: networks solved and left), and gives a :class:`Fit` —
the networks, each with why its fitting stopped, and the method's own record fields. After
the networks are measured, :meth:`Method.stop_reasons` says what the measures change about
how each stopped (a small loss that is certified; a solver's KKT point that is not exact at
the recorded network). ``tests/test_methods.py`` holds every method to this contract.

- ``lp``: the minimum-norm interpolant of each sample, exactly (:mod:`benign.lp`);
- ``convex``: a KKT point of the margin problem by the convex route's search
  (:func:`benign.convex.search`, its whole policy in one place);
- ``gd``: gradient descent from a random initialisation (:mod:`benign.training`);
- ``gd+convex``: gradient descent, then the convex search from its network's patterns.
"""

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from benign.certificate import certify, normalised_margin
from benign.config import METHOD_SETTINGS, RunConfig
from benign.convex import search
from benign.data import DATASETS, Distribution, Sample
from benign.lp import min_norm_interpolant
from benign.measures import clean_error
from benign.nets import Params, ReLUNet, margins, two_layer_arrays
from benign.seeding import rng_for
from benign.training import TrainConfig, TrainResult, loss_value, train


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
    """The ``convex`` method: per network, a KKT point of the margin problem by the convex
    route's search (:func:`benign.convex.search`), seeded by the patterns of the network
    ``start`` (gd+convex) or by ``config.gates`` random gates of its seed's ``gates`` stream
    (0: 256 in d ≤ 3, else 64), aiming ten times below :func:`kkt_tolerance` and seeding again
    while the implied ε_rel is above ``cert_eps``. Returns the result, the programs'
    multipliers, how each kept network was seeded and the programs solved.
    ``progress(networks solved, networks left)`` is called after each network."""
    budget = math.inf if config.max_seconds is None else config.max_seconds
    layers = None if start is None else two_layer_arrays(start)
    sols, seconds, seeded, rounds = [], [], [], []
    for e, (seed, s) in enumerate(zip(seeds, samples, strict=True)):
        t0 = time.perf_counter()
        begin = None
        if layers is not None:
            v, w, b = layers
            begin = (w[e], None if b is None else b[e], v[e])
        sol, how, used = search(
            s.x,
            s.y,
            config.bias,
            config.width,
            config.gates or (256 if config.d <= 3 else 64),
            rng_for(seed, "gates"),
            config.rounds,
            budget,
            kkt_tolerance(config) / 10,
            config.cert_eps,
            start=begin,
            log=Heartbeat(f"network {e + 1}/{len(seeds)}"),
        )
        sols.append(sol)
        seeded.append(how)
        rounds.append(used)
        seconds.append(time.perf_counter() - t0)
        if progress is not None:
            progress(e + 1, len(seeds) - e - 1)
    arrays = [(s.w, s.b, s.v[None, :]) if config.bias else (s.w, s.v[None, :]) for s in sols]
    result = _solved(
        config, _stack(arrays, x), [s.ok for s in sols], [s.reason for s in sols], seconds, x, y
    )
    return result, [s.multipliers for s in sols], seeded, rounds


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


def clean_source(config: RunConfig) -> Distribution | str:
    """Where clean errors are measured: the generated law, or the dataset's name."""
    return config.dist if config.dist in DATASETS else config.distribution()


def dataset_rows(samples: list[Sample]) -> list[np.ndarray]:
    """The dataset rows each sample trained on (none for a generated law)."""
    return [s.index for s in samples if s.index is not None]


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


@dataclass(frozen=True)
class Problem:
    """What a method fits: a sample per network of an ensemble block (``samples``, and as the
    tensors x (E, m, d), y (E, m)), its seeds, the initial parameters and, for centred nets,
    the initial outputs."""

    config: RunConfig
    seeds: list[int]
    samples: list[Sample]
    x: Tensor
    y: Tensor
    params0: Params
    offset: Tensor | None


Progress = Callable[[int, int], None]  # (done, left): steps and networks training, or solved


class Method(Protocol):
    """The contract of a method (module docstring)."""

    @property
    def name(self) -> str: ...

    def applies(self, config: RunConfig) -> bool: ...

    def fit(self, problem: Problem, progress: Progress | None = None) -> Fit: ...

    def stop_reasons(
        self, reasons: list[str], values: dict[str, np.ndarray], config: RunConfig
    ) -> list[str]: ...


@dataclass(frozen=True)
class _Method:
    """What the methods share: their name, the settings they read, and their record fields
    at the values of a method that has none of its own."""

    name: str

    @property
    def reads(self) -> frozenset[str]:
        """The settings only some methods read that this one reads (every other one, too)."""
        return frozenset(k for k, methods in METHOD_SETTINGS.items() if self.name in methods)

    def applies(self, config: RunConfig) -> bool:
        return config.convex_applies  # the convex view: an uncentred two-layer net

    @staticmethod
    def fields(n: int) -> dict[str, list]:
        """The method's record fields (``seeded``, ``rounds``, :data:`GD_FIELDS`), unset."""
        none = {"seeded": "", "rounds": 0, **GD_FIELDS}
        return {k: [v] * n for k, v in none.items()}

    def stop_reasons(
        self, reasons: list[str], values: dict[str, np.ndarray], config: RunConfig
    ) -> list[str]:
        """A solver's ``kkt`` stays ``kkt`` only where the recorded network is exact."""
        return _kkt_at_network(reasons, values, kkt_tolerance(config))


class MinNormLP(_Method):
    """``lp``: the minimum-norm interpolant of each sample, exactly."""

    def applies(self, config: RunConfig) -> bool:
        return config.lp_applies

    def fit(self, problem: Problem, progress: Progress | None = None) -> Fit:
        fields = self.fields(len(problem.seeds))
        p = problem
        res, hint, fields["rounds"] = solve_min_norm(p.config, p.samples, p.x, p.y, progress)
        return Fit(res, hint, fields)


class ConvexRoute(_Method):
    """``convex``: a KKT point of the margin problem from random gates."""

    def fit(self, problem: Problem, progress: Progress | None = None) -> Fit:
        fields = self.fields(len(problem.seeds))
        p = problem
        res, hint, fields["seeded"], fields["rounds"] = solve_convex(
            p.config, p.seeds, p.samples, p.x, p.y, progress=progress
        )
        return Fit(res, hint, fields)


class GradientDescent(_Method):
    """``gd``: gradient descent from a random initialisation, any depth."""

    def applies(self, config: RunConfig) -> bool:
        return True

    def fit(self, problem: Problem, progress: Progress | None = None) -> Fit:
        p = problem
        net = ReLUNet.of(p.config)
        res = train(
            net, p.params0, p.x, p.y, TrainConfig.of(p.config), offset=p.offset, progress=progress
        )
        return Fit(res, None, self.fields(len(p.seeds)))

    def stop_reasons(
        self, reasons: list[str], values: dict[str, np.ndarray], config: RunConfig
    ) -> list[str]:
        """A small loss (``loss_tol``) whose network is certified: ``certified``."""
        return _loss_tol_or_certified(reasons, values["certified"])


class GDThenConvex(_Method):
    """``gd+convex``: gradient descent's network measured, then the KKT point the convex
    search reaches from its patterns (from gates where gradient descent's give none)."""

    def fit(self, problem: Problem, progress: Progress | None = None) -> Fit:
        p, config = problem, problem.config
        fields = self.fields(len(p.seeds))
        trained = GradientDescent("gd").fit(problem, progress).result
        net = ReLUNet.of(config)
        gd_cert = certify(net, trained.params, p.x, p.y)
        gd_ok = gd_cert.certified(config.tolerances())
        gd_err = clean_error(
            net,
            trained.params,
            clean_source(config),
            seeds=p.seeds,
            train_rows=dataset_rows(p.samples),
            half_width=config.test_half_width,
        )
        fields |= {
            "gd_steps": trained.steps.tolist(),
            "gd_stop_reason": _loss_tol_or_certified(trained.stop_reason, gd_ok),
            "gd_clean_error": gd_err.value.tolist(),
            "gd_normalised_margin": trained.normalised_margin.tolist(),
            "gd_eps_rel": gd_cert.eps_rel.tolist(),
            "gd_certified": gd_ok.tolist(),
        }
        res, hint, seeded, fields["rounds"] = solve_convex(
            config, p.seeds, p.samples, p.x, p.y, start=trained.params
        )
        # seeded by gates instead of gd's network: say why
        why = [
            "gd did not interpolate" if not q > 0 else "gd's patterns gave no certified network"
            for q in gd_cert.min_margin
        ]
        fields["seeded"] = [
            h if h == "gd" else f"{h} ({w})" for h, w in zip(seeded, why, strict=True)
        ]
        res.steps, res.seconds = trained.steps, trained.seconds + res.seconds
        res.history, res.certificate_history = trained.history, trained.certificate_history
        return Fit(res, hint, fields)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        MinNormLP("lp"),
        ConvexRoute("convex"),
        GradientDescent("gd"),
        GDThenConvex("gd+convex"),
    )
}
