"""Clean test error L(N) = Pr_{x ~ D_x}[sign N(x) ≠ f*(x)], f* of the distribution; N(x) = 0
is an error."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from benign.data import Distribution, load_dataset
from benign.nets import Params, ReLUNet, predict, two_layer
from benign.seeding import rng_for


@dataclass(frozen=True)
class CleanError:
    """Clean error per network with its 95% interval; exact values have lo = hi = value."""

    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    method: str  # "exact" or "monte-carlo"
    n_test: int = 0


def exact_clean_error_1d(
    v: Tensor, w: Tensor, b: Tensor | None, a: float, b_end: float
) -> np.ndarray:
    """Exact L(N) of two-layer nets N(x) = Σ_j v_j relu(w_j x + b_j) under x ~ U[a, b_end].

    N is linear between consecutive kinks t_j = −b_j / w_j (clipped to [a, b_end]); on a
    segment from s to s' it is A x + B, with (A, B) = Σ over the active neurons of v_j (w_j, b_j).
    Sweeping the sorted kinks, a neuron with w_j > 0 switches on and one with w_j < 0 switches
    off. The measure of {N ≤ 0} on a segment follows from N(s), N(s') by linear interpolation.
    Where no unit with v_j ≠ 0 is active (counted exactly, not from the prefix sums), N ≡ 0
    and the whole piece counts as an error. A network with a non-finite parameter gets NaN.
    Inputs: v (E, n), w (E, n, 1), b (E, n) or None. Returns L of shape (E,).
    """
    v = v.detach().double().cpu()
    w = w.detach().double().cpu()[..., 0]
    b = torch.zeros_like(w) if b is None else b.detach().double().cpu()
    flat = w == 0
    safe_w = torch.where(flat, torch.ones_like(w), w)
    kinks = torch.where(flat, torch.full_like(w, a), (-b / safe_w).clamp(a, b_end))
    order = torch.argsort(kinks, dim=1)
    kinks = torch.gather(kinks, 1, order)
    sign = torch.sign(torch.where(flat, torch.zeros_like(w), w))  # +1 switches on, −1 off
    dA = torch.gather(sign * v * w, 1, order)
    dB = torch.gather(sign * v * b, 1, order)
    # active just right of a, before any kink is passed: w_j < 0, and w_j = 0 with b_j > 0
    off_at_start = (w < 0).double()
    A0 = (off_at_start * v * w).sum(1, keepdim=True)
    B0 = (off_at_start * v * b + flat * v * torch.relu(b)).sum(1, keepdim=True)
    A = torch.cat([A0, A0 + torch.cumsum(dA, 1)], 1)  # slope on segment k = 0..n
    B = torch.cat([B0, B0 + torch.cumsum(dB, 1)], 1)
    live = v != 0
    count0 = ((w < 0) & live).sum(1, keepdim=True) + (flat & (b > 0) & live).sum(1, keepdim=True)
    dcount = torch.gather(torch.where(live, sign, torch.zeros_like(sign)), 1, order).long()
    dead = torch.cat([count0, count0 + torch.cumsum(dcount, 1)], 1) == 0  # N ≡ 0 there
    A, B = torch.where(dead, 0.0, A), torch.where(dead, 0.0, B)
    n_net = v.shape[0]
    left = torch.cat([torch.full((n_net, 1), float(a), dtype=v.dtype), kinks], 1)
    right = torch.cat([kinks, torch.full((n_net, 1), float(b_end), dtype=v.dtype)], 1)
    y0, y1 = A * left + B, A * right + B
    length = right - left
    # share of [y0, y1] with N ≤ 0 on a linear piece
    both_bad = (y0 <= 0) & (y1 <= 0)
    crossing = (y0 > 0) != (y1 > 0)
    denom = torch.where(crossing, y0 - y1, torch.ones_like(y0))
    # share with N ≤ 0: −y1 / (y0 − y1) when y0 > 0 ≥ y1, −y0 / (y1 − y0) when y0 ≤ 0 < y1
    frac_cross = torch.where(y0 > 0, -y1 / denom, y0 / denom)
    bad = torch.where(both_bad, length, torch.where(crossing, frac_cross * length, 0.0))
    finite = torch.isfinite(v).all(1) & torch.isfinite(w).all(1) & torch.isfinite(b).all(1)
    return torch.where(finite, bad.sum(1) / (b_end - a), torch.nan).numpy()


def wilson_interval(
    errors: np.ndarray, n: int, z: float = 1.959963984540054
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n: centre (k + z²/2)/(n + z²),
    half-width z·sqrt(k(n − k)/n + z²/4)/(n + z²)."""
    k = np.asarray(errors, dtype=float)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def mc_sample_size(half_width: float, z: float = 1.959963984540054) -> int:
    """Test points for a 95% interval of half-width ≤ h at worst (L = ½): n = ⌈z² / (4h²)⌉."""
    if not 0 < half_width < 0.5:
        raise ValueError(f"half_width: must lie in (0, 0.5), got {half_width}")
    return math.ceil(z * z / (4 * half_width * half_width))


MC_BLOCK, MC_BLOCK_ELEMENTS = 4096, 2**21  # test points per draw, and at most 16 MiB of them


def mc_block(d: int) -> int:
    """Test points drawn at a time per network: 4096, fewer where d > 512, so that a draw
    stays within 2²¹ coordinates (16 MiB; at d = 10⁴ a block of 16 networks held 5 GiB)."""
    return max(1, min(MC_BLOCK, MC_BLOCK_ELEMENTS // d))


def mc_clean_error(
    predict: Callable[[Tensor], Tensor],
    dist: Distribution,
    n: int,
    rngs: list[np.random.Generator],
    block: int | None = None,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
) -> CleanError:
    """Monte Carlo L(N) of E networks on n fresh points each (network e draws from rngs[e]),
    with the Wilson 95% interval. ``predict`` maps x (E, k, d) to outputs (E, k). The points
    are drawn ``block`` at a time per network (default :func:`mc_block`: a function of d
    alone, so a network's points never depend on the networks beside it)."""
    block = block or mc_block(dist.d)
    errors = np.zeros(len(rngs))
    done = 0
    while done < n:
        k = min(block, n - done)
        xs = np.stack([dist.sample(k, r) for r in rngs])
        clean = torch.as_tensor(np.stack([dist.clean_label(x) for x in xs]), device=device)
        out = predict(torch.as_tensor(xs, dtype=dtype, device=device))
        errors += (~(out * clean > 0)).sum(1).cpu().numpy()  # f* N(x) ≤ 0 or NaN: an error
        done += k
    lo, hi = wilson_interval(errors, n)
    return CleanError(value=errors / n, lo=lo, hi=hi, method="monte-carlo", n_test=n)


def held_out_clean_error(
    predict: Callable[[Tensor], Tensor],
    x: np.ndarray,
    labels: np.ndarray,
    train_rows: list[np.ndarray],
    block: int = 4096,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
) -> CleanError:
    """Clean error of E networks on the rows of a finite dataset (x, clean labels) that each
    did not train on (network e trained on ``train_rows[e]``): the share of those rows with
    f* N(x) ≤ 0, with the Wilson 95% interval for the error of the population the dataset
    samples. ``predict`` maps x (E, k, d) to outputs (E, k)."""
    held_out = np.ones((len(train_rows), len(x)), dtype=bool)
    for e, rows in enumerate(train_rows):
        held_out[e, rows] = False
    n = held_out.sum(1)
    if len(set(n.tolist())) != 1:
        raise ValueError("train_rows: every network must train on the same number of rows")
    errors = np.zeros(len(train_rows))
    for start in range(0, len(x), block):
        xs = torch.tensor(x[start : start + block], dtype=dtype, device=device)  # a copy
        clean = torch.tensor(labels[start : start + block], device=device)
        out = predict(xs.expand(len(train_rows), -1, -1))
        wrong = (~(out * clean > 0)).cpu().numpy()  # f* N(x) ≤ 0 or NaN: an error
        errors += (wrong & held_out[:, start : start + block]).sum(1)
    lo, hi = wilson_interval(errors, int(n[0]))
    return CleanError(value=errors / n[0], lo=lo, hi=hi, method="held-out", n_test=int(n[0]))


def clean_error(
    net: ReLUNet,
    params: Params,
    source: Distribution | str,
    *,
    params0: Params | None = None,
    seeds: Sequence[int] = (),
    train_rows: Sequence[np.ndarray] = (),
    half_width: float = 0.01,
) -> CleanError:
    """Clean test error L(N) of E networks, by the best method that applies:

    - exact (:func:`exact_clean_error_1d`) for uncentred two-layer nets on the interval law;
    - on a bundled dataset (``source`` its name), over the rows network e did not train on
      (``train_rows[e]``, :func:`held_out_clean_error`);
    - else Monte Carlo (:func:`mc_clean_error`) on fresh points of network e's ``test`` stream
      of ``seeds[e]``, enough of them for a 95% half-width ≤ ``half_width``.

    ``params0`` (the initial parameters) makes the function measured the centred
    N − N_0. Dtype and device are those of ``params``.
    """
    dtype, device = params[0].dtype, str(params[0].device)
    exact = net.depth == 2 and params0 is None  # an uncentred two-layer net
    if exact and isinstance(source, Distribution) and source.name == "interval":
        v, w, b = two_layer(params)
        value = exact_clean_error_1d(v, w, b, source.a, source.b)
        return CleanError(value=value, lo=value, hi=value, method="exact")

    def f(x: Tensor) -> Tensor:
        return predict(net, params, x, params0)

    if isinstance(source, str):
        x, labels = load_dataset(source)
        return held_out_clean_error(f, x, labels, list(train_rows), dtype=dtype, device=device)
    if len(seeds) != params[0].shape[0]:
        raise ValueError(f"seeds: need one per network ({params[0].shape[0]}), got {len(seeds)}")
    rngs = [rng_for(s, "test") for s in seeds]
    return mc_clean_error(f, source, mc_sample_size(half_width), rngs, dtype=dtype, device=device)
