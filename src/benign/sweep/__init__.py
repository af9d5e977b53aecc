"""Sweeps: grids of runs from a TOML file (config), computed by an executor (execute) into an
SQLite store (store)."""
