"""Sweep throughput: runs per minute of the local executor (1 and 2 workers) and of a local Dask
cluster (2 worker processes, 1 thread each), on the same 200-run sweeps, each into a fresh store.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sweep.py            # quick preset and sweep_medium.toml
    .venv/bin/python benchmarks/bench_sweep.py --quick    # the quick preset only

The time is that of :func:`benign.sweep.run_sweep`, from planning the store to the last run
stored: it includes starting the local pool's processes, and the Dask workers importing the
code on their first task (the cluster itself is started before the clock). The stores are then
compared value for value (every column but times and versions).
"""

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch
from _machine import cpu_model, git_commit

from benign.sweep import Store, load_sweep, open_executor, run_sweep
from benign.sweep.store import stored_values

HERE = Path(__file__).resolve().parent
SWEEPS = {
    "quick": Path(str(resources.files("benign") / "presets" / "quick.toml")),
    "medium": HERE / "sweep_medium.toml",
}


def timed(sweep_path: Path, executor: str, workers: int | None, store: Path) -> dict:
    sweep = load_sweep(sweep_path)
    ex = open_executor(executor, workers)
    try:
        with Store(store, create=True) as st:
            start = time.perf_counter()
            state = run_sweep(sweep, st, ex, command="bench_sweep")
            wall = time.perf_counter() - start
    finally:
        ex.close()
    return {
        "runs": state.done,
        "failed": state.failed,
        "seconds": wall,
        "runs_per_minute": 60 * state.done / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick preset only")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    names = ["quick"] if args.quick else ["quick", "medium"]
    out = args.out or HERE / "results" / ("sweep_quick.json" if args.quick else "sweep.json")

    from distributed import LocalCluster

    load_before = os.getloadavg()
    results = {}
    labels = ("local_1", "local_2", "dask_2")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            stores = {}
            results[name] = {}
            for label in labels:
                stores[label] = Path(tmp) / f"{name}_{label}.sqlite"
                if label == "dask_2":  # a cluster of its own, started before the clock
                    with LocalCluster(
                        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
                    ) as cluster:
                        address = cluster.scheduler_address.removeprefix("tcp://")
                        r = timed(SWEEPS[name], f"dask://{address}", None, stores[label])
                else:
                    r = timed(SWEEPS[name], "local", int(label[-1]), stores[label])
                results[name][label] = r
                print(
                    f"{name:7s} {label:8s} {r['runs']} runs ({r['failed']} failed) in "
                    f"{r['seconds']:6.1f} s: {r['runs_per_minute']:7.0f} runs/min",
                    flush=True,
                )
            base = stored_values(stores["local_1"])
            same = {k: stored_values(v) == base for k, v in stores.items()}
            results[name]["identical_to_local_1"] = same
            base_rate = results[name]["local_1"]["runs_per_minute"]
            for label in labels:
                results[name][label]["speedup_vs_local_1"] = (
                    results[name][label]["runs_per_minute"] / base_rate
                )
            print(f"{name:7s} stored values identical to local_1: {same}", flush=True)
    doc = {
        "benchmark": "sweep throughput",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "sweeps": {
            k: str(SWEEPS[k].relative_to(HERE.parent))
            if k != "quick"
            else "src/benign/presets/quick.toml"
            for k in names
        },
        "results": results,
    }
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"→ {out}")


if __name__ == "__main__":
    sys.exit(main())
