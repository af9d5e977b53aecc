"""What a measurement ran on: the processor, its cores and how loaded it was."""

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The first ``model name`` of /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def load_average() -> float:
    """The 1-minute load average (NaN where the system keeps none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def describe(load: float) -> str:
    """One line for a timing: processor, cores and the load average given (measured before)."""
    return f"{cpu_model()}, {os.cpu_count()} cores, load average {load:.1f} at the start"
