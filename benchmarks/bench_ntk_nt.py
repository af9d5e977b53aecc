"""The analytic NTK Gram matrix against neural-tangents itself, and against a plain NumPy
recursion, on sphere points with benign's ntk parametrisation (width 1024, biases): shapes
(n, d, depth) = (2000, 20, 5) and (4000, 50, 5), one thread each (PyTorch, the BLAS, XLA).
Each timing is the median of the repeats, in the same run; the kernels are compared entry by
entry off the diagonal (on it, neural-tangents' κ1 at ρ = 1 carries the square root of
rounding, ~1e-8, where benign uses ρ_ii = 1 exactly).

neural-tangents is not a dependency: set ``NT_PYTHON`` to a Python that has ``jax``,
``jaxlib`` and ``neural-tangents`` (e.g. a throwaway venv with jax==0.4.30 jaxlib==0.4.30
neural-tangents==0.6.5); it runs ``nt_kernel.py`` there (jit, x64, the compile not timed).
Without it the case says so and keeps the NumPy baseline.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_ntk import numpy_ntk
from threadpoolctl import threadpool_limits

from benign.nets import ReLUNet
from benign.ntk import analytic_ntk

HERE = Path(__file__).resolve().parent
SHAPES = [(2000, 20, 5), (4000, 50, 5)]
WIDTH = 1024
# one thread everywhere: two threads on this shared 2-core machine made the medians jump 2×
ONE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def points(n: int, d: int) -> np.ndarray:
    x = np.random.default_rng(n + d).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def median_time(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def neural_tangents(x: np.ndarray, depth: int, repeats: int) -> tuple[float, np.ndarray] | str:
    python = os.environ.get("NT_PYTHON")
    if not python:
        return "not installed (set NT_PYTHON to a Python that has neural-tangents)"
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        script = str(HERE / "nt_kernel.py")
        args = [f"{tmp}/x.npy", f"{tmp}/k.npy", str(WIDTH), str(depth), str(repeats)]
        env = os.environ | {"XLA_FLAGS": ONE_THREAD_XLA}
        r = subprocess.run([python, script, *args], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode
            return f"failed: {last}"
        seconds = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
        return statistics.median(seconds), np.load(f"{tmp}/k.npy")


def run(quick: bool = False) -> dict:
    torch.set_num_threads(1)
    with threadpool_limits(1):
        return _run(quick)


def _run(quick: bool) -> dict:
    repeats = 3 if quick else 7
    rows = []
    for n, d, depth in SHAPES[:1] if quick else SHAPES:
        x = points(n, d)
        net = ReLUNet(d, WIDTH, depth=depth, param="ntk", init="ntk")
        analytic_ntk(net, x[:50])  # warm-up
        ours_s, ours = median_time(lambda net=net, x=x: analytic_ntk(net, x), repeats)
        numpy_s, ref = median_time(lambda net=net, x=x: numpy_ntk(net, x), repeats)
        off = ~np.eye(n, dtype=bool)
        scale = np.abs(ref).max()
        row = {
            "n": n,
            "d": d,
            "depth": depth,
            "benign_s": ours_s,
            "numpy_s": numpy_s,
            "rel_diff_numpy": float(np.abs(ours - ref)[off].max() / scale),
        }
        nt = neural_tangents(x, depth, repeats)
        if isinstance(nt, str):
            row["neural_tangents"] = nt
        else:
            row["nt_s"] = nt[0]
            row["rel_diff_nt"] = float(np.abs(ours - nt[1])[off].max() / scale)
            row["rel_diff_nt_diagonal"] = float(
                (np.abs(np.diag(ours) - np.diag(nt[1])) / np.diag(ours)).max()
            )
        rows.append(row)
        print(f"  ntk: n={n} d={d} depth={depth} done", file=sys.stderr, flush=True)
    return {"benchmark": "ntk", "width": WIDTH, "threads": torch.get_num_threads(), "results": rows}


def table(result: dict) -> str:
    lines = [
        "| (n, d, depth) | benign | neural-tangents (jit) | NT ÷ benign | NumPy | NumPy ÷ benign "
        "| max rel. Δ off the diagonal (NT; NumPy) |",
        "| --- | --: | --: | --: | --: | --: | --: |",
    ]
    for r in result["results"]:
        if "nt_s" in r:
            nt = (
                f"{r['nt_s']:.2f} s",
                f"{r['nt_s'] / r['benign_s']:.2f}×",
                f"{r['rel_diff_nt']:.0e}",
            )
        else:
            nt = r["neural_tangents"], "—", "—"
        lines.append(
            f"| ({r['n']}, {r['d']}, {r['depth']}) | {r['benign_s']:.2f} s | {nt[0]} | {nt[1]} "
            f"| {r['numpy_s']:.2f} s | {r['numpy_s'] / r['benign_s']:.2f}× "
            f"| {nt[2]}; {r['rel_diff_numpy']:.0e} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run("--quick" in sys.argv)))
