"""Sweeps: grids of runs from a TOML file, computed by an executor into an SQLite store."""

from benign.sweep.config import Block, ConfigError, Run, Sweep, load_sweep, parse_sweep, run_id
from benign.sweep.execute import (
    ExecutorError,
    SweepProgress,
    check_executor,
    open_executor,
    run_sweep,
)
from benign.sweep.store import Store, StoreError, check_store, export, read_table, store_status

__all__ = [
    "Block",
    "ConfigError",
    "ExecutorError",
    "Run",
    "Store",
    "StoreError",
    "Sweep",
    "SweepProgress",
    "check_executor",
    "check_store",
    "export",
    "load_sweep",
    "open_executor",
    "parse_sweep",
    "read_table",
    "run_id",
    "run_sweep",
    "store_status",
]
