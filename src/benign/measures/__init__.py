"""Measures: clean test error (exact in 1-D, on held-out rows of a dataset, Monte Carlo
otherwise), Lipschitz constants, data separation."""

from benign.measures.clean_error import (
    CleanError,
    clean_error,
    exact_clean_error_1d,
    held_out_clean_error,
    mc_clean_error,
    mc_sample_size,
    wilson_interval,
)
from benign.measures.lipschitz import exact_lipschitz_1d, lipschitz_lower, lipschitz_upper
from benign.measures.separation import (
    Separation,
    SplitSeparation,
    separation,
    split_separation,
)

__all__ = [
    "CleanError",
    "Separation",
    "SplitSeparation",
    "clean_error",
    "exact_clean_error_1d",
    "exact_lipschitz_1d",
    "held_out_clean_error",
    "lipschitz_lower",
    "lipschitz_upper",
    "mc_clean_error",
    "mc_sample_size",
    "separation",
    "split_separation",
    "wilson_interval",
]
