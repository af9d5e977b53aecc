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


def stored_values(path) -> dict[str, list[tuple]]:
    """Every table of a store, rows ordered, without the columns that depend on the machine
    and the moment (training seconds, finishing time, versions)."""
    from benign.sweep.store import TABLES, TIMING_COLUMNS, read_table

    values = {}
    for table in TABLES:
        columns, rows = read_table(path, table)
        keep = [i for i, c in enumerate(columns) if c not in TIMING_COLUMNS]
        values[table] = [tuple(row[i] for i in keep) for row in rows]
    return values
