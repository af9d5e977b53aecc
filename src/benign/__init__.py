"""benign: how interpolating ReLU networks overfit noisy data — benign, tempered or catastrophic.

The public API (docs/api.md), in the order data flows: a sample, networks (trained by gradient
descent or solved as KKT points of the margin problem), their certificate and measures, and
the verdict over a table of results. Each name (and ``__version__``) is imported from its
module when first used: importing ``benign`` itself imports nothing heavy (PyTorch, SciPy).
"""

import importlib
from typing import Any

# every public name and the module it lives in
_HOMES: dict[str, str] = {
    "RunConfig": "benign.config",
    "Experiment": "benign.run",
    "NetworkRecord": "benign.records",
    "run_experiment": "benign.run",
    "Distribution": "benign.data",
    "Sample": "benign.data",
    "dataset_sample": "benign.data",
    "load_dataset": "benign.data",
    "noisy_sample": "benign.data",
    "ReLUNet": "benign.nets",
    "empirical_ntk": "benign.nets",
    "from_arrays": "benign.nets",
    "from_torch": "benign.nets",
    "margins": "benign.nets",
    "predict": "benign.nets",
    "TrainConfig": "benign.training",
    "train": "benign.training",
    "Certificate": "benign.certificate",
    "Tolerances": "benign.certificate",
    "certify": "benign.certificate",
    "normalised_margin": "benign.certificate",
    "KKTPoint": "benign.explore",
    "kkt_points": "benign.explore",
    "CleanError": "benign.measures",
    "clean_error": "benign.measures",
    "exact_clean_error_1d": "benign.measures",
    "lipschitz_lower": "benign.measures",
    "lipschitz_upper": "benign.measures",
    "separation": "benign.measures",
    "analytic_ntk": "benign.ntk",
    "smallest_eigenvalue": "benign.ntk",
    "Analysis": "benign.regimes",
    "analyse": "benign.regimes",
    "parse_sweep": "benign.sweep.config",
    "reproduce": "benign.reproductions",
    "SweepProgress": "benign.sweep.execute",
    "compute": "benign.sweep.execute",
    "Tables": "benign.sweep.store",
    "load": "benign.sweep.store",
    "load_params": "benign.sweep.store",
}
__all__ = sorted([*_HOMES, "__version__"])


def __getattr__(name: str) -> Any:
    """The public name ``name``, imported from its module on first use."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError as _NotInstalled
        from importlib.metadata import version as _version

        try:
            value = _version("benign")
        except _NotInstalled:  # pragma: no cover - running from a source tree
            value = "0.0.0"
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'benign' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
