"""Data separation: the smallest distance between points of different clean labels (ℓ2 and ℓ∞),
computed a block of rows at a time so that memory stays at block × n."""

import math
from dataclasses import dataclass

import numpy as np
import torch

BLOCK = 1024


@dataclass(frozen=True)
class Separation:
    """min ‖a − b‖ over a with label +1 and b with label −1 (or a in one set, b in the other),
    and the pair (row of a, row of b) that attains it; inf when one side is empty."""

    l2: float
    linf: float
    l2_pair: tuple[int, int]
    linf_pair: tuple[int, int]


def separation(
    x: np.ndarray,
    labels: np.ndarray,
    x2: np.ndarray | None = None,
    labels2: np.ndarray | None = None,
    block: int = BLOCK,
) -> Separation:
    """Smallest ℓ2 and ℓ∞ distance between points of different labels: within x (train–train)
    or, given x2, between x2 and x (test–train: pairs (i, j) with labels2[i] ≠ labels[j]).

    ℓ2 from ‖a‖² + ‖b‖² − 2a·b (a matrix product per block) with the minimum recomputed exactly
    from its pair; ℓ∞ directly (torch.cdist, p = ∞). Pairs index the rows of x2 (or x) and x.
    """
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    if x2 is None:
        a_idx, b_idx = np.flatnonzero(labels > 0), np.flatnonzero(labels <= 0)
        a_src, b_src = x, x
        pairs = [(a_idx, b_idx)]
    else:
        x2 = np.asarray(x2, dtype=np.float64)
        labels2 = np.asarray(labels2)
        a_src, b_src = x2, x
        pairs = [
            (np.flatnonzero(labels2 > 0), np.flatnonzero(labels <= 0)),
            (np.flatnonzero(labels2 <= 0), np.flatnonzero(labels > 0)),
        ]
    best = {"l2": (math.inf, (-1, -1)), "linf": (math.inf, (-1, -1))}
    for a_idx, b_idx in pairs:
        if not len(a_idx) or not len(b_idx):
            continue
        b = torch.as_tensor(b_src[b_idx])
        b_sq = (b * b).sum(1)
        for start in range(0, len(a_idx), block):
            rows = a_idx[start : start + block]
            a = torch.as_tensor(a_src[rows])
            sq = ((a * a).sum(1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)).clamp_(min=0)
            i, j = divmod(int(sq.argmin()), len(b_idx))
            d2 = float(torch.linalg.vector_norm(a[i] - b[j]))
            if d2 < best["l2"][0]:
                best["l2"] = (d2, (int(rows[i]), int(b_idx[j])))
            inf = torch.cdist(a[None], b[None], p=math.inf)[0]
            i, j = divmod(int(inf.argmin()), len(b_idx))
            if float(inf[i, j]) < best["linf"][0]:
                best["linf"] = (float(inf[i, j]), (int(rows[i]), int(b_idx[j])))
    return Separation(best["l2"][0], best["linf"][0], best["l2"][1], best["linf"][1])


@dataclass(frozen=True)
class SplitSeparation:
    """Separation within a training set and between the test set and it."""

    train: np.ndarray  # rows of x in the training set
    test: np.ndarray  # the other rows
    train_train: Separation
    test_train: Separation | None  # None without a test set


def split_separation(
    x: np.ndarray, labels: np.ndarray, train: int | None, rng: np.random.Generator
) -> SplitSeparation:
    """Shuffle the rows with ``rng``, take the first ``train`` (default all) as the training set
    and the rest as the test set; then train–train and test–train :func:`separation`."""
    if train is not None and not 1 <= train <= len(x):
        raise ValueError(f"train: must lie in [1, {len(x)}], got {train}")
    order = rng.permutation(len(x))
    cut = len(x) if train is None else train
    tr, te = order[:cut], order[cut:]
    within = separation(x[tr], labels[tr])
    across = separation(x[tr], labels[tr], x[te], labels[te]) if len(te) else None
    return SplitSeparation(tr, te, within, across)
