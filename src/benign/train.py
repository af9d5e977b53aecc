"""Full-batch gradient descent on margin losses, with per-network stopping (DESIGN §1, Training).

Every network of an ensemble follows exactly the trajectory it would follow alone: step sizes,
acceptance and stopping are decided per network, and a network that stops leaves the batch.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from benign.certify import Tolerances, certify, normalised_margin
from benign.nets import (
    Params,
    ReLUNet,
    empirical_ntk,
    kernel_move,
    margins,
    pattern_flips,
    relative_move,
    sq_norm,
)

Loss = Literal["logistic", "exponential", "square"]
StepRule = Literal["constant", "normalised", "kernel"]
LOSSES: tuple[str, ...] = ("logistic", "exponential", "square")
STEP_RULES: tuple[str, ...] = ("constant", "normalised", "kernel")
STOP_REASONS: tuple[str, ...] = (
    "diverged",
    "certified",
    "loss_tol",
    "step_budget",
    "time_budget",
    "stalled",
    "zero_gradient",
)
GROWTH = 1.2  # normalised rule: η_t ← min(GROWTH·η_t, η) after an accepted step
CERT_KEYS: tuple[str, ...] = ("step", "eps_rel", "delta_rel")
HISTORY_KEYS: tuple[str, ...] = (
    "step",
    "loss",
    "train_error",
    "min_margin",
    "normalised_margin",
    "param_move",  # ‖θ_t − θ_0‖ / ‖θ_0‖
    "kernel_move",  # ‖Θ̂_t − Θ̂_0‖_F / ‖Θ̂_0‖_F on the training points, at _kernel_steps
    # and the last step (NaN elsewhere: Θ̂ costs m(d + 2n)/(3dn) steps of a two-layer net)
    "pattern_flips",  # share of (unit, point) ReLU activations changed since step 0
)


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


@dataclass(frozen=True)
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
    """

    loss: Loss = "logistic"
    step_rule: StepRule = "normalised"
    lr: float = 0.5
    max_steps: int = 20_000
    max_seconds: float = math.inf
    loss_tol: float = 1e-3
    certify_every: int = 0
    tolerances: Tolerances = field(default_factory=Tolerances)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss: must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.step_rule not in STEP_RULES:
            raise ValueError(f"step_rule: must be one of {', '.join(STEP_RULES)}")
        for name in ("lr", "max_seconds", "loss_tol"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name}: must be > 0, got {value}")
        if self.certify_every < 0:
            raise ValueError(f"certify_every: must be >= 0, got {self.certify_every}")
        if self.max_steps < 0:
            raise ValueError(f"max_steps: must be >= 0, got {self.max_steps}")


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


def _reason(causes: dict[str, Tensor], k: int, budget: str | None) -> str:
    """Why network k stopped: the first cause in STOP_REASONS that holds."""
    held = {c for c, mask in causes.items() if mask[k]} | {budget}
    return next(c for c in STOP_REASONS if c in held)


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


def train(
    net: ReLUNet,
    params: Params,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    offset: Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Full-batch GD of E networks on their own samples x (E, m, d), y (E, m) ∈ {±1}.

    ``offset`` (E, m) is subtracted from the outputs (centring f − f_0). ``progress(step,
    active)`` is called every few steps. The history (:data:`HISTORY_KEYS`) is kept at
    0–10 steps, then about 5% apart, and at each network's last step.
    """
    n_net = x.shape[0]
    # f − f_0 is not homogeneous in θ: no normalised margin for a centred net
    degree = net.degree if offset is None else None
    offset = torch.zeros_like(y) if offset is None else offset
    params0 = params
    kernel0 = empirical_ntk(net, params0, x)
    params = [p.clone() for p in params]
    final: Params = [p.clone() for p in params]
    active = torch.arange(n_net, device=x.device)
    eta = torch.full((n_net,), config.lr, dtype=x.dtype, device=x.device)
    if config.step_rule == "kernel":  # a dead net (Θ̂_0 = 0) keeps η; it stops at ∇L = 0
        lam_max = torch.linalg.eigvalsh(kernel0)[:, -1]
        eta = torch.where(lam_max > 0, config.lr * x.shape[1] / lam_max, config.lr).to(x.dtype)
    steps = np.zeros(n_net, dtype=np.int64)
    reasons = [""] * n_net
    seconds = np.zeros(n_net)
    last = {k: np.full(n_net, math.nan) for k in ("loss", "train_error", "min_margin", "gamma")}
    history: list[dict[str, list[float]]] = [{k: [] for k in HISTORY_KEYS} for _ in range(n_net)]
    cert_history: list[dict[str, list[float]]] = [{k: [] for k in CERT_KEYS} for _ in range(n_net)]
    record_at = _record_steps(config.max_steps)
    kernel_at = _kernel_steps(config.max_steps)
    normalised = config.step_rule == "normalised"

    def evaluate(ps: Params, xs: Tensor, ys: Tensor, off: Tensor):
        out, cache = net.forward(ps, xs)
        q = margins(out, ys, off)
        log_loss, dq = loss_terms(q, config.loss)
        return q, log_loss, dq, cache

    xs, ys, off = x, y, offset
    q, log_loss, dq, cache = evaluate(params, xs, ys, off)
    hidden0 = cache[1:]

    def lazy(ps: Params, hidden: list[Tensor], kernel: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(param_move, kernel_move, pattern_flips) of the active networks; the kernel
        movement only where ``kernel`` (E,) holds, NaN elsewhere."""
        move = relative_move([p0[active] for p0 in params0], ps)
        moved = torch.full_like(move, math.nan)
        idx = torch.nonzero(kernel).squeeze(1)
        if idx.numel():
            k = empirical_ntk(net, [p[idx] for p in ps], xs[idx])
            moved[idx] = kernel_move(kernel0[active[idx]], k).to(moved.dtype)
        return move, moved, pattern_flips([h[active] for h in hidden0], hidden)

    t0 = time.perf_counter()
    step = 0
    while True:
        # gradient of L (constant rule) or of L / L(θ) (normalised rule) at the current iterate
        g = ys * dq if normalised else ys * dq * torch.exp(log_loss).unsqueeze(-1)
        grads = net.vjp(params, cache, g)
        # ---- stopping rules and history, on the current iterate of every active network ----
        err = (~(q > 0)).double().mean(-1)  # a NaN margin is an error
        elapsed = time.perf_counter() - t0
        budget = (
            "step_budget"
            if step >= config.max_steps
            else "time_budget"
            if elapsed >= config.max_seconds
            else None
        )
        causes = {  # in the order of STOP_REASONS: the first that holds wins
            "diverged": ~torch.isfinite(log_loss),
            "loss_tol": (err == 0) & (log_loss <= math.log(config.loss_tol)),
            "certified": torch.zeros_like(err, dtype=torch.bool),
            "stalled": (eta < 1e-12 * config.lr) & normalised,  # only η_t of `normalised` falls
        }
        if config.certify_every and step % config.certify_every == 0 and bool((err == 0).any()):
            interp = torch.nonzero(err == 0).squeeze(1)
            cert = certify(
                net, [p[interp] for p in params], xs[interp], ys[interp], offset=off[interp]
            )
            causes["certified"][interp] = torch.as_tensor(cert.certified(config.tolerances))
            for k, e in enumerate(active[interp].tolist()):
                for key, val in zip(
                    CERT_KEYS, (step, cert.eps_rel[k], cert.delta_rel[k]), strict=True
                ):
                    cert_history[e][key].append(float(val))
        if step % 16 == 0 or budget is not None:  # ∇L = 0 is rare and persistent: look now and then
            causes["zero_gradient"] = sq_norm(grads) == 0
        stop = torch.stack(list(causes.values())).any(0) | (budget is not None)
        any_stop = bool(stop.any())
        keep_row = step in record_at or step in kernel_at
        if keep_row or any_stop:
            gamma = normalised_margin(q, params, degree)
            rows = zip(
                active.tolist(),
                stop.tolist(),
                torch.exp(log_loss).tolist(),
                err.tolist(),
                q.min(-1).values.tolist(),
                gamma.tolist(),
                *(v.tolist() for v in lazy(params, cache[1:], stop | (step in kernel_at))),
                strict=True,
            )
            for k, (e, stops, *values) in enumerate(rows):
                if keep_row or stops:
                    for key, val in zip(HISTORY_KEYS, (step, *values), strict=True):
                        history[e][key].append(val)
                if stops:
                    (
                        last["loss"][e],
                        last["train_error"][e],
                        last["min_margin"][e],
                        last["gamma"][e],
                    ) = values[:4]
                    reasons[e] = _reason(causes, k, budget)
                    steps[e], seconds[e] = step, elapsed
        if any_stop:
            idx = torch.nonzero(stop).squeeze(1)
            for f, p in zip(final, params, strict=True):
                f[active[idx]] = p[idx]
            keep = torch.nonzero(~stop).squeeze(1)
            if keep.numel() == 0:
                break
            active, eta = active[keep], eta[keep]
            params = [p[keep] for p in params]
            cache = [c[keep] for c in cache]
            grads = [gr[keep] for gr in grads]
            q, log_loss, dq = q[keep], log_loss[keep], dq[keep]
            xs, ys, off = x[active], y[active], offset[active]

        # ---- one step ----
        trial = [p - _per_net(eta, p) * gr for p, gr in zip(params, grads, strict=True)]
        q_t, log_loss_t, dq_t, cache_t = evaluate(trial, xs, ys, off)
        if normalised:
            accept = torch.isfinite(log_loss_t) & (log_loss_t < log_loss)
            eta = torch.where(accept, torch.clamp(GROWTH * eta, max=config.lr), eta / 2)
            new = (trial, cache_t, [q_t, log_loss_t, dq_t])
            old = (params, cache, [q, log_loss, dq])
            if bool(accept.all()):
                params, cache, (q, log_loss, dq) = new
            elif bool(accept.any()):
                params, cache, (q, log_loss, dq) = (
                    [torch.where(_per_net(accept, a), a, b) for a, b in zip(*pair, strict=True)]
                    for pair in zip(new, old, strict=True)
                )
        else:
            params, cache, q, log_loss, dq = trial, cache_t, q_t, log_loss_t, dq_t
        step += 1
        if progress is not None and step % 50 == 0:
            progress(step, int(active.numel()))

    if progress is not None:
        progress(step, 0)
    return TrainResult(
        params=final,
        steps=steps,
        stop_reason=reasons,
        seconds=seconds,
        loss=last["loss"],
        train_error=last["train_error"],
        min_margin=last["min_margin"],
        normalised_margin=last["gamma"],
        history=[{k: np.asarray(v) for k, v in h.items()} for h in history],
        certificate_history=[{k: np.asarray(v) for k, v in h.items()} for h in cert_history],
    )
