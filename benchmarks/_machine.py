"""What the benchmark scripts record about the machine they ran on."""

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
    return platform.processor() or "unknown"
