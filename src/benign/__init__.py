"""benign: how interpolating ReLU networks overfit noisy data — benign, tempered or catastrophic."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("benign")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
