"""benign: how interpolating ReLU networks overfit noisy data — benign, tempered or catastrophic.

The public API (docs/api.md), in the order data flows: a sample, networks (trained by gradient
descent or solved as KKT points of the margin problem), their certificate and measures, and
the verdict over a table of results.

"""

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

__version__: str
try:
    __version__ = _version("benign")
except _NotInstalled:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from benign.certify import Certificate, Tolerances, certify, normalised_margin
from benign.config import RunConfig
from benign.data import Distribution, Sample, dataset_sample, load_dataset, noisy_sample
from benign.measures import (
    CleanError,
    clean_error,
    exact_clean_error_1d,
    lipschitz_lower,
    lipschitz_upper,
    separation,
)
from benign.nets import ReLUNet, empirical_ntk, from_arrays, from_torch, margins, predict
from benign.ntk import analytic_ntk, smallest_eigenvalue
from benign.regimes import Analysis, analyse
from benign.run import Experiment, NetworkRecord, run_experiment
from benign.sweep.config import parse_sweep
from benign.sweep.execute import SweepProgress, compute
from benign.sweep.store import Tables, load, load_params
from benign.train import TrainConfig, train

__all__ = [
    "Analysis",
    "Certificate",
    "CleanError",
    "Distribution",
    "Experiment",
    "NetworkRecord",
    "ReLUNet",
    "RunConfig",
    "Sample",
    "SweepProgress",
    "Tables",
    "Tolerances",
    "TrainConfig",
    "__version__",
    "analyse",
    "analytic_ntk",
    "certify",
    "clean_error",
    "compute",
    "dataset_sample",
    "empirical_ntk",
    "exact_clean_error_1d",
    "from_arrays",
    "from_torch",
    "lipschitz_lower",
    "lipschitz_upper",
    "load",
    "load_dataset",
    "load_params",
    "margins",
    "noisy_sample",
    "normalised_margin",
    "parse_sweep",
    "predict",
    "run_experiment",
    "separation",
    "smallest_eigenvalue",
    "train",
]
