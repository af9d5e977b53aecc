"""Input distributions, the clean target f* ≡ +1 and independent label flips (DESIGN §1, Data)."""

from dataclasses import dataclass
from typing import Literal

import numpy as np

DistName = Literal["interval", "sphere", "gaussian"]
DISTRIBUTIONS: tuple[str, ...] = ("interval", "sphere", "gaussian")


@dataclass(frozen=True)
class Distribution:
    """An input law D_x on R^d.

    - ``interval``: d = 1, uniform on [a, b];
    - ``sphere``: uniform on the sphere of radius ``radius`` in R^d;
    - ``gaussian``: N(0, I_d / d), so that E‖x‖² = 1.
    """

    name: DistName
    d: int
    a: float = 0.0
    b: float = 1.0
    radius: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in DISTRIBUTIONS:
            raise ValueError(
                f"dist: unknown distribution {self.name!r}; allowed: " + ", ".join(DISTRIBUTIONS)
            )
        if self.d < 1:
            raise ValueError(f"d: must be >= 1, got {self.d}")
        if self.name == "interval":
            if self.d != 1:
                raise ValueError(f"d: the interval distribution needs d = 1, got {self.d}")
            if not (self.a < self.b and np.isfinite(self.b - self.a)):
                raise ValueError(
                    f"b: the interval [a, b] needs a < b and a finite length, "
                    f"got [{self.a}, {self.b}]"
                )
        if self.name == "sphere" and not self.radius > 0:
            raise ValueError(f"radius: must be > 0, got {self.radius}")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n i.i.d. points, shape (n, d), float64."""
        if self.name == "interval":
            return rng.uniform(self.a, self.b, size=(n, 1))
        z = rng.standard_normal((n, self.d))
        if self.name == "gaussian":
            return z / np.sqrt(self.d)
        return self.radius * z / np.linalg.norm(z, axis=1, keepdims=True)


def clean_label(x: np.ndarray) -> np.ndarray:
    """f*(x) = +1 for every x (the setting of Kornowski et al.)."""
    return np.ones(x.shape[0])


@dataclass(frozen=True)
class Sample:
    """A training sample: points x (m, d), observed labels y ∈ {±1}, and which were flipped."""

    x: np.ndarray
    y: np.ndarray
    flipped: np.ndarray

    @property
    def flips(self) -> int:
        """Number of flipped labels."""
        return int(self.flipped.sum())

    @property
    def flip_rate(self) -> float:
        """Realised noise: the flipped fraction of the sample."""
        return self.flips / len(self.flipped)


def noisy_sample(dist: Distribution, m: int, p: float, rng: np.random.Generator) -> Sample:
    """Draw m points from D_x; y_i = f*(x_i), flipped independently with probability p."""
    if m < 1:
        raise ValueError(f"m: must be >= 1, got {m}")
    if not 0 <= p < 0.5:
        raise ValueError(f"p: the flip probability must lie in [0, 0.5), got {p}")
    x = dist.sample(m, rng)
    flipped = rng.random(m) < p
    y = np.where(flipped, -1.0, 1.0) * clean_label(x)
    return Sample(x=x, y=y, flipped=flipped)
