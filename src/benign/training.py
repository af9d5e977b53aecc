"""Full-batch gradient descent on margin losses, with per-network stopping (docs/science.md,
Training).

Every network of an ensemble follows exactly the trajectory it would follow alone: step sizes,
acceptance and stopping are decided per network, and a network that stops leaves the batch.
:func:`train` is a short loop over four pieces: the state of the networks still training
(:class:`_State`), a step rule (:class:`_ConstantStep`, :class:`_NormalisedStep`,
:class:`_KernelStep`), the stop causes (:func:`_stop_causes`, with the periodic certificate of
:func:`_certify_due`) and the record of every network (:class:`_Recorder`).
"""

import dataclasses
import math
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pydantic
import torch
from torch import Tensor

from benign.certificate import Certificate, certify, normalised_margin
from benign.config import (
    FUSED_MAX_D,
    LOSSES,
    Count,
    Loss,
    LossTol,
    RunConfig,
    Seconds,
    StepRule,
    StepSize,
    Tolerances,
    fused_passes_apply,
)
from benign.nets import (
    Params,
    ReLUNet,
    empirical_ntk,
    kernel_move,
    margins,
    pattern_flips,
    relative_move,
    sq_norm,
    vanished,
)
from benign.records import CERT_KEYS, HISTORY_KEYS

STOP_REASONS: tuple[str, ...] = (
    "overflow",
    "underflow",
    "diverged",
    "certified",
    "loss_tol",
    "step_budget",
    "time_budget",
    "stalled",
    "zero_gradient",
)
GROWTH = 1.2  # normalised rule: η_t ← min(GROWTH·η_t, η) after an accepted step


def loss_terms(q: Tensor, loss: Loss) -> tuple[Tensor, Tensor]:
    """log L(θ) with L = (1/m) Σ_i ℓ(q_i), and dL/dq_i / L, for margins q of shape (E, m).

    ℓ(q) = log(1 + e^{-q}) (logistic), e^{-q} (exponential) or ½(1 − q)² (square). Both
    outputs are formed in the log domain, so they stay finite where L underflows to 0.
    """
    m = q.shape[-1]
    if loss == "square":
        terms = 0.5 * (1.0 - q) ** 2
        total = terms.sum(-1, keepdim=True).clamp(min=torch.finfo(q.dtype).tiny)  # exact fit
        return torch.log(total.squeeze(-1) / m), (q - 1.0) / total
    if loss == "exponential":
        log_terms = -q
        log_slopes = -q
    elif loss == "logistic":
        # log softplus(-q), with log log1p(t) = log t - t/2 + O(t^2) for t = e^{-q} tiny
        log_terms = torch.where(
            q > 30.0, -q - 0.5 * torch.exp(-q), torch.log(torch.nn.functional.softplus(-q))
        )
        log_slopes = -torch.nn.functional.softplus(q)  # log sigmoid(-q) = log |ℓ'(q)|
    else:
        raise ValueError(f"loss: must be one of {', '.join(LOSSES)}, got {loss!r}")
    log_total = torch.logsumexp(log_terms, -1, keepdim=True)
    return log_total.squeeze(-1) - math.log(m), -torch.exp(log_slopes - log_total)


def loss_value(q: Tensor, loss: Loss) -> Tensor:
    """L(θ) = (1/m) Σ_i ℓ(q_i), shape (E,)."""
    return torch.exp(loss_terms(q, loss)[0])


@pydantic.dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: loss, step-size rule and stopping rules.

    ``constant``: θ ← θ − η ∇L. ``normalised``: θ ← θ − η_t ∇L / L(θ) (Lyu & Li 2020); a step
    whose loss is not lower is rejected and η_t halved, an accepted step grows η_t by 1.2, up
    to η. Every trial counts as a step. ``kernel``: the constant rule with, per network,
    η_e = η · m / λ_max(Θ̂_0): in the lazy regime the outputs follow r ← (I − η_e Θ̂_0 / m) r
    under the square loss, stable for η < 2 (η < 8 for the logistic loss), whatever the
    width, depth, init scale or data. A network stops, the first of these that holds: its
    loss is non-finite (diverged); every ``certify_every`` steps (0: never), it interpolates and
    its KKT certificate meets ``tolerances`` (certified); it interpolates (all q_i > 0) with
    L ≤ ``loss_tol`` (loss_tol: a small loss, not a KKT point — see benign.run for the
    certificate checked at that stop); ``max_steps`` steps; ``max_seconds``; η_t < 1e-12·η
    (stalled: no step along −∇L lowers the loss, typically with pre-activations pinned at a
    ReLU kink); ∇L = 0 exactly
    (zero_gradient, looked for every 16 steps: e.g. every unit inactive on every training point).

    Each value is checked when the config is made (its type says what is allowed, and
    :class:`benign.config.RunConfig` uses the same types).
    """

    loss: Loss = "logistic"
    step_rule: StepRule = "normalised"
    lr: StepSize = 0.5
    max_steps: Count = 20_000
    max_seconds: Seconds = math.inf
    loss_tol: LossTol = 1e-3
    certify_every: Count = 0
    tolerances: Tolerances = field(default_factory=Tolerances)

    @classmethod
    def of(cls, config: RunConfig) -> "TrainConfig":
        """How a run's settings train (no time budget where ``max_seconds`` is None)."""
        return cls(
            config.loss,
            config.step_rule,
            config.lr,
            config.steps,
            math.inf if config.max_seconds is None else config.max_seconds,
            config.loss_tol,
            config.certify_every,
            config.tolerances(),
        )


@dataclass
class TrainResult:
    """Final parameters (E leading) and, per network, why and when it stopped."""

    params: Params
    steps: np.ndarray
    stop_reason: list[str]
    seconds: np.ndarray
    loss: np.ndarray
    train_error: np.ndarray
    min_margin: np.ndarray
    normalised_margin: np.ndarray
    history: list[dict[str, np.ndarray]] = field(default_factory=list)
    certificate_history: list[dict[str, np.ndarray]] = field(default_factory=list)

    @property
    def interpolated(self) -> np.ndarray:
        """Train error 0, i.e. every margin q_i > 0."""
        return self.train_error == 0


def _per_net(values: Tensor, like: Tensor) -> Tensor:
    """values (E,) shaped to broadcast against a tensor with leading axis E."""
    return values.view((-1,) + (1,) * (like.dim() - 1))


def _kernel_steps(max_steps: int) -> set[int]:
    """Steps at which the history also has the kernel movement: 0 and the powers of 2."""
    return {0} | {2**k for k in range(max(max_steps, 1).bit_length())}


def _record_steps(max_steps: int) -> set[int]:
    """Steps kept in the thinned history: 0–10, then about 5% apart."""
    steps, t = set(range(11)), 10
    while t < max_steps:
        t = max(t + 1, int(t * 1.05))
        steps.add(t)
    return steps


# ----- the state of the networks still training -----------------------------------------------
@dataclass
class _State:
    """The A networks still training; every tensor has them on its leading axis.

    ``active`` (A,): their indices in the ensemble; ``eta`` (A,): their step sizes η_e;
    ``cache``: the forward cache (h_0 = x, h_1, …, h_{L-1}) of ``params``; ``q`` (A, m): the
    margins q_i = y_i (f(x_i) − off_i); ``log_loss`` (A,) = log L(θ) and ``dq`` (A, m) =
    ∂L/∂q_i / L (:func:`loss_terms`); ``xs``, ``ys``, ``off``: their samples and offsets;
    ``grads``: the step rule's direction at ``params`` (set at the start of each step, empty
    after a step).
    """

    active: Tensor
    eta: Tensor
    params: Params
    cache: list[Tensor]
    q: Tensor
    log_loss: Tensor
    dq: Tensor
    xs: Tensor
    ys: Tensor
    off: Tensor
    grads: Params = field(default_factory=list)

    def select(self, keep: Tensor) -> "_State":
        """The networks ``keep`` (indices into the A active ones), every tensor sliced alike."""
        return _State(
            active=self.active[keep],
            eta=self.eta[keep],
            params=[p[keep] for p in self.params],
            cache=[c[keep] for c in self.cache],
            q=self.q[keep],
            log_loss=self.log_loss[keep],
            dq=self.dq[keep],
            xs=self.xs[keep],
            ys=self.ys[keep],
            off=self.off[keep],
            grads=[g[keep] for g in self.grads],
        )


# ----- step rules -----------------------------------------------------------------------------
class _Step:
    """What the step rules share: the constant rule θ ← θ − η ∇L(θ) with η_e = η.

    A rule gives the initial η_e (:meth:`initial_eta`), the direction g (:meth:`gradient`),
    when η_e has collapsed (:meth:`stalled`) and the step itself (:meth:`step`).
    """

    def __init__(self, net: ReLUNet, config: TrainConfig, passes: "Passes") -> None:
        self.net, self.loss, self.lr, self.passes = net, config.loss, config.lr, passes

    def evaluate(
        self, params: Params, xs: Tensor, ys: Tensor, off: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
        """q = y (f(x; θ) − off), log L(θ), ∂L/∂q / L and the forward cache."""
        out, cache = self.passes.forward(params, xs)
        q = margins(out, ys, off)
        log_loss, dq = loss_terms(q, self.loss)
        return q, log_loss, dq, cache

    def start(self, params: Params, kernel0: Tensor, x: Tensor, y: Tensor, off: Tensor) -> _State:
        """Every network of the ensemble at θ_0 (copied), with its initial η_e."""
        params = [p.clone() for p in params]
        q, log_loss, dq, cache = self.evaluate(params, x, y, off)
        active = torch.arange(x.shape[0], device=x.device)
        eta = self.initial_eta(kernel0, x)
        return _State(active, eta, params, cache, q, log_loss, dq, x, y, off)

    def initial_eta(self, kernel0: Tensor, x: Tensor) -> Tensor:
        """η_e = η for every network, shape (E,)."""
        return torch.full((x.shape[0],), self.lr, dtype=x.dtype, device=x.device)

    def gradient(self, s: _State) -> Params:
        """∇L = ∇_θ Σ_i y_i (∂L/∂q_i) f(x_i), with ∂L/∂q_i = L · dq_i."""
        g = s.ys * s.dq * torch.exp(s.log_loss).unsqueeze(-1)
        return self.passes.vjp(s.params, s.cache, g)

    def stalled(self, s: _State) -> Tensor:
        """η_e never falls under this rule: no network stalls, (A,) False."""
        return torch.zeros_like(s.log_loss, dtype=torch.bool)

    def trial(self, s: _State) -> Params:
        """θ − η_e g for every network."""
        return [p - _per_net(s.eta, p) * g for p, g in zip(s.params, s.grads, strict=True)]

    def step(self, s: _State) -> _State:
        """θ ← θ − η_e g, always accepted."""
        params = self.trial(s)
        q, log_loss, dq, cache = self.evaluate(params, s.xs, s.ys, s.off)
        return dataclasses.replace(
            s, params=params, cache=cache, q=q, log_loss=log_loss, dq=dq, grads=[]
        )


class _ConstantStep(_Step):
    """θ ← θ − η ∇L(θ)."""


class _KernelStep(_Step):
    """θ ← θ − η_e ∇L(θ) with η_e = η · m / λ_max(Θ̂_0) per network; η_e = η where Θ̂_0 = 0 (a
    dead net keeps η; it stops at ∇L = 0)."""

    def initial_eta(self, kernel0: Tensor, x: Tensor) -> Tensor:
        """η_e = η · m / λ_max(Θ̂_0), shape (E,)."""
        lam_max = torch.linalg.eigvalsh(kernel0)[:, -1]
        return torch.where(lam_max > 0, self.lr * x.shape[1] / lam_max, self.lr).to(x.dtype)


class _NormalisedStep(_Step):
    """θ ← θ − η_t ∇L(θ) / L(θ) (Lyu & Li 2020): a trial with finite, lower L is accepted and
    η_t ← min(GROWTH · η_t, η); otherwise θ stays and η_t ← η_t / 2."""

    def gradient(self, s: _State) -> Params:
        """∇L / L(θ) = ∇_θ Σ_i y_i dq_i f(x_i)."""
        return self.passes.vjp(s.params, s.cache, s.ys * s.dq)

    def stalled(self, s: _State) -> Tensor:
        """η_t < 1e-12 · η: no step along −∇L lowers the loss, (A,)."""
        return s.eta < 1e-12 * self.lr

    def step(self, s: _State) -> _State:
        """One trial per network; each accepts or rejects its own (θ, cache, q, log L, dq)."""
        params = self.trial(s)
        q, log_loss, dq, cache = self.evaluate(params, s.xs, s.ys, s.off)
        accept = torch.isfinite(log_loss) & (log_loss < s.log_loss)
        eta = torch.where(accept, torch.clamp(GROWTH * s.eta, max=self.lr), s.eta / 2)
        if not bool(accept.any()):
            params, cache, q, log_loss, dq = s.params, s.cache, s.q, s.log_loss, s.dq
        elif not bool(accept.all()):

            def pick(new: Tensor, old: Tensor) -> Tensor:
                return torch.where(_per_net(accept, new), new, old)

            params = [pick(a, b) for a, b in zip(params, s.params, strict=True)]
            cache = [pick(a, b) for a, b in zip(cache, s.cache, strict=True)]
            q, log_loss, dq = pick(q, s.q), pick(log_loss, s.log_loss), pick(dq, s.dq)
        return dataclasses.replace(
            s, eta=eta, params=params, cache=cache, q=q, log_loss=log_loss, dq=dq, grads=[]
        )


_STEPS: dict[str, type[_Step]] = {
    "constant": _ConstantStep,
    "normalised": _NormalisedStep,
    "kernel": _KernelStep,
}


def _step_rule(net: ReLUNet, config: TrainConfig, passes: "Passes | None" = None) -> _Step:
    """The step rule ``config.step_rule`` (TrainConfig has checked it is one of these), with
    the net's own passes unless others are given."""
    return _STEPS[config.step_rule](net, config, net if passes is None else passes)


class Passes(typing.Protocol):
    """The forward pass (outputs and a cache) and the vector-Jacobian product of a net, as
    :class:`ReLUNet` has them."""

    def forward(self, params: Params, x: Tensor) -> tuple[Tensor, list[Tensor]]: ...

    def vjp(self, params: Params, cache: list[Tensor], g: Tensor) -> Params: ...


PassesChoice = Literal["auto", "torch", "fused"]


def fuses(net: ReLUNet, dtype: torch.dtype, device: str | torch.device) -> bool:
    """Whether the fused passes apply (:func:`benign.config.fused_passes_apply`)."""
    cpu = torch.device(device).type == "cpu"
    return fused_passes_apply(net.depth, dtype == torch.float64, cpu, net.d)


def passes_for(net: ReLUNet, x: Tensor, choice: PassesChoice = "auto") -> Passes:
    """The net's own torch passes, or the fused two-layer passes of :mod:`benign.fused` (with
    ``auto`` where they apply, :func:`fuses`)."""
    fits = fuses(net, x.dtype, x.device)
    if choice == "fused" and not fits:
        msg = f"passes: fused needs a two-layer net, float64 on the CPU, d <= {FUSED_MAX_D}"
        raise ValueError(msg)
    if choice == "torch" or not fits:
        return net
    from benign.fused import FusedTwoLayer  # Numba: imported only where it is used

    return FusedTwoLayer(net)


# ----- stop causes ----------------------------------------------------------------------------
def _train_error(q: Tensor) -> Tensor:
    """Share of the points with q_i ≤ 0 (a NaN margin is an error), (A,)."""
    return (~(q > 0)).double().mean(-1)


def _certify_due(
    net: ReLUNet, s: _State, err: Tensor, step: int, config: TrainConfig, recorder: "_Recorder"
) -> Tensor:
    """(A,) bool: every ``certify_every`` steps (0: never), the networks that interpolate
    (err = 0) and whose KKT certificate has ε_rel ≤ eps_rel and δ_rel ≤ delta_rel; the
    certificates checked go to ``recorder``."""
    certified = torch.zeros_like(err, dtype=torch.bool)
    if config.certify_every and step % config.certify_every == 0 and bool((err == 0).any()):
        interp = torch.nonzero(err == 0).squeeze(1)
        cert = certify(
            net, [p[interp] for p in s.params], s.xs[interp], s.ys[interp], offset=s.off[interp]
        )
        certified[interp] = torch.as_tensor(cert.certified(config.tolerances))
        recorder.certificates(step, s.active[interp], cert)
    return certified


def _stop_causes(
    net: ReLUNet,
    s: _State,
    err: Tensor,
    step: int,
    elapsed: float,
    certified: Tensor,
    rule: _Step,
    config: TrainConfig,
) -> dict[str, Tensor]:
    """(A,) masks of the stop causes, keyed in the order of :data:`STOP_REASONS`: at step 0,
    outputs not finite (overflow) or a layer whose signal underflowed to 0
    (:func:`benign.nets.vanished`); log L not finite; ``certified``; err = 0 and L ≤ loss_tol;
    step ≥ max_steps; elapsed ≥ max_seconds; the rule's η_e collapsed; ‖∇L‖² = 0 (looked at
    every 16 steps and at a budget stop, else False: ∇L = 0 is rare and persistent)."""
    step_budget = step >= config.max_steps
    time_budget = elapsed >= config.max_seconds
    none = torch.zeros_like(err, dtype=torch.bool)
    look = step % 16 == 0 or step_budget or time_budget
    start = step == 0  # the initialisation itself left the floating-point range
    return {
        "overflow": ~torch.isfinite(s.q).all(1) if start else none,
        "underflow": vanished(net, s.params, s.xs) if start else none,
        "diverged": ~torch.isfinite(s.log_loss),
        "certified": certified,
        "loss_tol": (err == 0) & (s.log_loss <= math.log(config.loss_tol)),
        "step_budget": torch.full_like(none, step_budget),
        "time_budget": torch.full_like(none, time_budget),
        "stalled": rule.stalled(s),
        "zero_gradient": sq_norm(s.grads) == 0 if look else none,
    }


def _reason(causes: dict[str, Tensor], k: int) -> str:
    """Why active network k stopped: the first cause in STOP_REASONS that holds."""
    return next(c for c in STOP_REASONS if causes[c][k])


# ----- the record of every network ------------------------------------------------------------
class _Recorder:
    """Per network of the ensemble: the history (:data:`HISTORY_KEYS`) at the record steps
    (0–10, then about 5% apart) and kernel steps (0 and the powers of 2) and at its stop, the
    certificates checked (:data:`CERT_KEYS`), and at its stop θ, the step, the time, the reason,
    L, the train error, min_i q_i and γ."""

    def __init__(
        self,
        net: ReLUNet,
        start: _State,
        params0: Params,
        kernel0: Tensor,
        degree: int | None,
        max_steps: int,
        passes: Passes,
    ) -> None:
        n_net = start.active.numel()
        self.net, self.params0, self.kernel0, self.degree = net, params0, kernel0, degree
        # the fused passes (whose cache holds x alone) count the flips from θ₀ themselves;
        # the torch passes' cache holds the hidden activations, θ₀'s are kept
        self.flips_from: Callable[..., Tensor] | None = getattr(passes, "pattern_flips", None)
        self.hidden0 = [] if self.flips_from else start.cache[1:]
        self.record_steps = _record_steps(max_steps)
        self.kernel_steps = _kernel_steps(max_steps)
        self.history: list[dict[str, list[float]]] = [
            {k: [] for k in HISTORY_KEYS} for _ in range(n_net)
        ]
        self.cert_history: list[dict[str, list[float]]] = [
            {k: [] for k in CERT_KEYS} for _ in range(n_net)
        ]
        self.final: Params = [p.clone() for p in start.params]
        self.steps = np.zeros(n_net, dtype=np.int64)
        self.reasons = [""] * n_net
        self.seconds = np.zeros(n_net)
        self.last = {
            k: np.full(n_net, math.nan) for k in ("loss", "train_error", "min_margin", "gamma")
        }

    def certificates(self, step: int, nets: Tensor, cert: Certificate) -> None:
        """Append (step, ε_rel, δ_rel) of the certificate checked for each of ``nets``."""
        for k, e in enumerate(nets.tolist()):
            for key, val in zip(CERT_KEYS, (step, cert.eps_rel[k], cert.delta_rel[k]), strict=True):
                self.cert_history[e][key].append(float(val))

    def lazy(self, s: _State, kernel: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(‖θ − θ_0‖/‖θ_0‖, ‖Θ̂ − Θ̂_0‖_F/‖Θ̂_0‖_F, flipped activations) of the active networks;
        the kernel movement only where ``kernel`` (A,) holds, NaN elsewhere."""
        params0 = [p0[s.active] for p0 in self.params0]
        move = relative_move(params0, s.params)
        moved = torch.full_like(move, math.nan)
        idx = torch.nonzero(kernel).squeeze(1)
        if idx.numel():
            k = empirical_ntk(self.net, [p[idx] for p in s.params], s.xs[idx])
            moved[idx] = kernel_move(self.kernel0[s.active[idx]], k).to(moved.dtype)
        if self.flips_from is not None:
            return move, moved, self.flips_from(params0, s.params, s.xs)
        hidden0 = [h[s.active] for h in self.hidden0]
        return move, moved, pattern_flips(hidden0, s.cache[1:])

    def record(
        self,
        step: int,
        s: _State,
        err: Tensor,
        causes: dict[str, Tensor],
        stop: Tensor,
        elapsed: float,
    ) -> None:
        """At a record or kernel step a history row for every active network; for those that
        ``stop`` (A,) a row and their final state, the reason from ``causes``."""
        any_stop = bool(stop.any())
        at_kernel = step in self.kernel_steps
        keep_row = step in self.record_steps or at_kernel
        if not (keep_row or any_stop):
            return
        gamma = normalised_margin(s.q, s.params, self.degree)
        rows = zip(
            s.active.tolist(),
            stop.tolist(),
            torch.exp(s.log_loss).tolist(),
            err.tolist(),
            s.q.min(-1).values.tolist(),
            gamma.tolist(),
            *(v.tolist() for v in self.lazy(s, stop | at_kernel)),
            strict=True,
        )
        for k, (e, stops, *values) in enumerate(rows):
            if keep_row or stops:
                for key, val in zip(HISTORY_KEYS, (step, *values), strict=True):
                    self.history[e][key].append(val)
            if stops:
                (
                    self.last["loss"][e],
                    self.last["train_error"][e],
                    self.last["min_margin"][e],
                    self.last["gamma"][e],
                ) = values[:4]
                self.reasons[e] = _reason(causes, k)
                self.steps[e], self.seconds[e] = step, elapsed
        if any_stop:
            idx = torch.nonzero(stop).squeeze(1)
            for f, p in zip(self.final, s.params, strict=True):
                f[s.active[idx]] = p[idx]

    def result(self) -> TrainResult:
        """The final θ and summary of every network, its history as arrays."""
        return TrainResult(
            params=self.final,
            steps=self.steps,
            stop_reason=self.reasons,
            seconds=self.seconds,
            loss=self.last["loss"],
            train_error=self.last["train_error"],
            min_margin=self.last["min_margin"],
            normalised_margin=self.last["gamma"],
            history=[{k: np.asarray(v) for k, v in h.items()} for h in self.history],
            certificate_history=[
                {k: np.asarray(v) for k, v in h.items()} for h in self.cert_history
            ],
        )


def train(
    net: ReLUNet,
    params: Params,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    offset: Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
    passes: PassesChoice = "auto",
) -> TrainResult:
    """Full-batch GD of E networks on their own samples x (E, m, d), y (E, m) ∈ {±1}.

    ``offset`` (E, m) is subtracted from the outputs (centring f − f_0). ``progress(step,
    active)`` is called every few steps. The history (:data:`HISTORY_KEYS`) is kept at
    0–10 steps, then about 5% apart, and at each network's last step. ``passes``: the
    forward and backward passes (:func:`passes_for`; the two agree to rounding).
    """
    # f − f_0 is not homogeneous in θ: no normalised margin for a centred net
    degree = net.degree if offset is None else None
    offset = torch.zeros_like(y) if offset is None else offset
    rule = _step_rule(net, config, passes_for(net, x, passes))
    kernel0 = empirical_ntk(net, params, x)
    s = rule.start(params, kernel0, x, y, offset)
    recorder = _Recorder(net, s, params, kernel0, degree, config.max_steps, rule.passes)
    t0 = time.perf_counter()
    step = 0
    while True:
        # stop causes and history on the current iterate of every active network, then a step
        s.grads = rule.gradient(s)
        err = _train_error(s.q)
        elapsed = time.perf_counter() - t0
        certified = _certify_due(net, s, err, step, config, recorder)
        causes = _stop_causes(net, s, err, step, elapsed, certified, rule, config)
        stop = torch.stack(list(causes.values())).any(0)
        recorder.record(step, s, err, causes, stop, elapsed)
        if bool(stop.any()):
            keep = torch.nonzero(~stop).squeeze(1)
            if keep.numel() == 0:
                break
            s = s.select(keep)
        s = rule.step(s)
        step += 1
        if progress is not None and step % 50 == 0:
            progress(step, int(s.active.numel()))
    if progress is not None:
        progress(step, 0)
    return recorder.result()
