"""Measures of trained networks: clean test error (exact in 1-D, Monte Carlo otherwise)."""

from benign.measures.clean_error import (
    CleanError,
    exact_clean_error_1d,
    mc_clean_error,
    mc_sample_size,
    wilson_interval,
)

__all__ = [
    "CleanError",
    "exact_clean_error_1d",
    "mc_clean_error",
    "mc_sample_size",
    "wilson_interval",
]
