"""Shared by the tests: the command line as a user runs it."""

import subprocess
import sys


def benign(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python -m benign ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "benign", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
