"""Sweep throughput: runs per minute of the local executor (1 and 2 workers) and of a local Dask
cluster (2 worker processes, 1 thread each), on the same 200-run sweeps, each into a fresh store.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sweep.py            # quick preset and sweep_medium.toml
    .venv/bin/python benchmarks/bench_sweep.py --quick    # the quick preset only

The time is that of :func:`benign.sweep.execute.run_sweep`, from planning the store to the last run
stored: it includes starting the local pool's processes, and the Dask workers importing the
code on their first task (the cluster itself is started before the clock). The stores are then
compared value for value (every column but times and versions).
"""

import argparse
import json
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from _machine import machine_info

from benign.sweep.config import load_sweep
from benign.sweep.execute import open_executor, run_sweep
from benign.sweep.store import Store, stored_values

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


def run(quick: bool = False) -> dict:
    """Runs per minute of each executor on each sweep, and whether their stores agree."""
    from distributed import LocalCluster

    names = ["quick"] if quick else ["quick", "medium"]
    results: dict = {}
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
                    f"  sweep {name} {label}: {r['runs']} runs ({r['failed']} failed) in "
                    f"{r['seconds']:.1f} s, {r['runs_per_minute']:.0f} runs/min",
                    file=sys.stderr,
                    flush=True,
                )
            base = stored_values(stores["local_1"])
            results[name]["identical_to_local_1"] = {
                k: stored_values(v) == base for k, v in stores.items()
            }
            base_rate = results[name]["local_1"]["runs_per_minute"]
            for label in labels:
                results[name][label]["speedup_vs_local_1"] = (
                    results[name][label]["runs_per_minute"] / base_rate
                )
    return {
        "benchmark": "sweep",
        "sweeps": {
            k: "src/benign/presets/quick.toml"
            if k == "quick"
            else str(SWEEPS[k].relative_to(HERE.parent))
            for k in names
        },
        "results": results,
    }


def table(result: dict) -> str:
    """The markdown table of docs/performance.md."""
    lines = [
        "| sweep | runs | local, 1 worker | local, 2 workers | Dask, 2 workers | stores equal |",
        "| --- | --: | --: | --: | --: | --- |",
    ]
    for name, r in result["results"].items():
        cells = []
        for label in ("local_1", "local_2", "dask_2"):
            c = r[label]
            ratio = "" if label == "local_1" else f", {c['speedup_vs_local_1']:.2f}×"
            cells.append(f"{c['runs_per_minute']:,.0f} runs/min ({c['seconds']:.1f} s){ratio}")
        same = "yes" if all(r["identical_to_local_1"].values()) else "**no**"
        lines.append(
            f"| `{result['sweeps'][name]}` | {r['local_1']['runs']} | "
            + " | ".join(cells)
            + f" | {same} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick preset only")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "sweep.json")
    args = ap.parse_args()
    doc = run(args.quick) | {"machine": machine_info()}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    print(f"→ {args.out}")


if __name__ == "__main__":
    sys.exit(main())
