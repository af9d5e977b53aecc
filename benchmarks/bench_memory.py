"""Memory over a long sweep: the resident memory of a sweep computed in one process (its
coordinator and its worker), sampled at every stored block, over 10⁴ small networks
(``python -m benchmarks`` runs it; ``--quick``: 10³). Flat means no growth with the number of
runs: nothing per run is kept in memory once it is stored.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from _machine import machine_info

from benign.sweep.config import parse_sweep
from benign.sweep.execute import open_executor, run_sweep
from benign.sweep.store import Store

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
SWEEP = """name = "memory"
seeds = {seeds}
[fixed]
m = 20
width = 20
d = 2
method = "gd"
steps = 50
test_half_width = 0.05
[grid]
p = [0.0, 0.1, 0.2, 0.3]
"""


def run(quick: bool = False) -> dict:
    sweep = parse_sweep(SWEEP.format(seeds=250 if quick else 2500))
    me, samples, shown = psutil.Process(), [], [0]

    def sample(state) -> None:
        samples.append((state.done, me.memory_info().rss / 2**20))
        if state.done // 1000 > shown[0]:
            shown[0] = state.done // 1000
            print(f"  memory: {state.done} runs, {samples[-1][1]:.0f} MiB", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "memory.sqlite"
        t0 = time.perf_counter()
        with Store(store, create=True) as st:
            state = run_sweep(sweep, st, open_executor("local", 1), progress=sample)
        seconds = time.perf_counter() - t0
        size = store.stat().st_size / 2**20
    done = np.array([d for d, _ in samples])
    rss = np.array([r for _, r in samples])
    half = done >= done[-1] / 2
    slope = float(np.polyfit(done[half], rss[half], 1)[0]) * 1000  # MiB per 1000 runs
    at = {str(f): float(rss[np.searchsorted(done, f * done[-1])]) for f in (0.1, 0.5, 1.0)}
    return {
        "benchmark": "memory",
        "runs": state.done,
        "failed": state.failed,
        "seconds": seconds,
        "store_mib": size,
        "rss_mib_at": at,
        "rss_mib_max": float(rss.max()),
        "slope_mib_per_1000_runs": slope,
        "samples": [
            (int(d), round(float(r), 1)) for d, r in samples[:: max(1, len(samples) // 200)]
        ],
    }


def table(result: dict) -> str:
    at = result["rss_mib_at"]
    return "\n".join(
        [
            "| runs | time | RSS after 10% / 50% / 100% of the runs | max | growth, second half "
            "| store |",
            "| --: | --: | --: | --: | --: | --: |",
            f"| {result['runs']:,} | {result['seconds']:.0f} s | {at['0.1']:.0f} / {at['0.5']:.0f}"
            f" / {at['1.0']:.0f} MiB | {result['rss_mib_max']:.0f} MiB "
            f"| {result['slope_mib_per_1000_runs']:+.2f} MiB per 1,000 runs "
            f"| {result['store_mib']:.0f} MiB |",
        ]
    )


if __name__ == "__main__":
    out = run("--quick" in sys.argv) | {"machine": machine_info()}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(table(out))
