"""What the benchmark scripts record about the machine they ran on."""

import platform
import subprocess
from pathlib import Path

from benign.machine import cpu_model


def git_commit() -> str:
    """The checkout's commit, with ``-dirty`` when the tree has uncommitted changes."""
    return subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent,
    ).stdout.strip()


def machine_info() -> dict[str, object]:
    """What a benchmark's numbers were measured on, and when."""
    import datetime as dt
    import os
    from importlib import metadata

    versions = {p: metadata.version(p) for p in ("torch", "numpy", "numba", "scipy")}
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        **versions,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "git": git_commit(),
    }
