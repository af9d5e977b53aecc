"""NTK Gram matrices, each against a baseline measured in the same run:

- analytic (``--kind analytic``, default): ``benign.ntk.analytic_ntk`` (PyTorch, blockwise)
  against a straightforward NumPy implementation of the same recursion on whole n×n matrices;
- empirical (``--kind empirical``): ``benign.nets.empirical_ntk`` (layer factorisation, no
  Jacobian) against the Gram J Jᵀ of the m × P Jacobian from ``torch.func.jacrev``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ntk.py                     # n = 4000, d = 50, depth 5
    .venv/bin/python benchmarks/bench_ntk.py --kind empirical    # n = 500, d = 784, width 512

Each implementation runs in a fresh process (``--one``) so that its peak memory is its own:
peak resident memory (ru_maxrss) minus the resident memory just before the call. Times are
wall-clock, best and median of ``--repeats`` calls. The two kernels are compared entry by entry.
"""

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model, git_commit

from benign.data import Distribution
from benign.nets import ReLUNet, empirical_ntk
from benign.ntk import analytic_ntk
from benign.seeding import rng_for

HERE = Path(__file__).resolve().parent


def numpy_ntk(net: ReLUNet, x: np.ndarray) -> np.ndarray:
    """The recursion of benign.ntk, written plainly in NumPy on whole matrices."""
    n = net.width
    layers = range(1, net.depth + 1)
    s2 = {l: net.scale(l) ** 2 for l in layers}  # noqa: E741
    v = {l: net.init_scale**2 * net.gain(l) / net.fan_in(l) for l in layers}  # noqa: E741
    beta = {l: float(net.layer_has_bias(l)) for l in layers}  # noqa: E741
    dot = x @ x.T + beta[1]
    k, theta = v[1] * dot, s2[1] * dot
    for layer in range(2, net.depth + 1):
        diag = np.diag(k).copy()
        norm = np.sqrt(np.outer(diag, diag))
        rho = np.clip(k / norm, -1.0, 1.0)
        np.fill_diagonal(rho, 1.0)
        acos = np.arccos(rho)
        kappa0 = (np.pi - acos) / np.pi
        kappa1 = (rho * (np.pi - acos) + np.sqrt(1.0 - rho * rho)) / np.pi
        e_hh = 0.5 * norm * kappa1
        theta = s2[layer] * (n * e_hh + beta[layer]) + v[layer] * n * 0.5 * kappa0 * theta
        k = v[layer] * (n * e_hh + beta[layer])
    return theta


def jacobian_ntk(net: ReLUNet, params: list[torch.Tensor], x: np.ndarray) -> np.ndarray:
    """Θ̂ = J Jᵀ with J the (n, P) Jacobian of the outputs by torch.func.jacrev (network 0)."""
    params = [p[0] for p in params]
    xt = torch.as_tensor(x)[None]

    def f(ps):
        return net.forward([p.unsqueeze(0) for p in ps], xt)[0][0]

    jac = torch.cat([j.reshape(len(x), -1) for j in torch.func.jacrev(f)(params)], dim=1)
    return (jac @ jac.T).numpy()


KINDS = {  # kind: (baseline, benign's, default settings, the net's width)
    "analytic": ("numpy", "benign", {"n": 4000, "d": 50, "depth": 5}, 1024),
    "empirical": ("jacrev", "factorised", {"n": 500, "d": 784, "depth": 3}, 512),
}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(impl: str, n: int, d: int, depth: int, width: int, repeats: int, out: Path) -> dict:
    net = ReLUNet(d, width, depth, True, "ntk", "he")
    x = Distribution("sphere", d).sample(n, rng_for(0, "data"))
    params = net.init_params([0])  # outside the timed calls
    fn = {
        "benign": lambda: analytic_ntk(net, x),
        "numpy": lambda: numpy_ntk(net, x),
        "factorised": lambda: empirical_ntk(net, params, x),
        "jacrev": lambda: jacobian_ntk(net, params, x),
    }[impl]
    before = rss_mib()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = fn()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, k)
    return {
        "impl": impl,
        "seconds_min": min(times),
        "seconds_median": statistics.median(times),
        "times": times,
        "rss_before_mib": before,
        "peak_rss_mib": peak,
        "peak_extra_mib": peak - before,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=tuple(KINDS), default="analytic")
    ap.add_argument("--n", type=int)
    ap.add_argument("--d", type=int)
    ap.add_argument("--depth", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--one", choices=("benign", "numpy", "factorised", "jacrev"))
    ap.add_argument("--kernel-out", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    baseline, ours, defaults, width = KINDS[args.kind]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    out = args.out or HERE / "results" / ("ntk.json" if args.kind == "analytic" else "entk.json")
    if args.one:
        r = one(args.one, args.n, args.d, args.depth, width, args.repeats, args.kernel_out)
        print(json.dumps(r))
        return
    results, kernels = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for impl in (baseline, ours):
            path = Path(tmp) / f"{impl}.npy"
            r = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    impl,
                    "--n",
                    str(args.n),
                    "--d",
                    str(args.d),
                    "--depth",
                    str(args.depth),
                    "--kind",
                    args.kind,
                    "--repeats",
                    str(args.repeats),
                    "--kernel-out",
                    str(path),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[impl] = json.loads(r.stdout.strip().splitlines()[-1])
            kernels[impl] = np.load(path)
            print(
                f"{impl:10s} best {results[impl]['seconds_min']:.2f} s, median "
                f"{results[impl]['seconds_median']:.2f} s, peak extra memory "
                f"{results[impl]['peak_extra_mib']:.0f} MiB",
                flush=True,
            )
    diff = np.abs(kernels[ours] - kernels[baseline]).max() / np.abs(kernels[baseline]).max()
    speedup = results[baseline]["seconds_min"] / results[ours]["seconds_min"]
    print(
        f"speed-up {baseline} / {ours} (best times): {speedup:.2f}; "
        f"max relative difference {diff:.2e}"
    )
    doc = {
        "benchmark": f"{args.kind} NTK Gram matrix",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "settings": {
            "n": args.n,
            "d": args.d,
            "depth": args.depth,
            "width": width,
            "param": "ntk",
            "init": "he",
            "bias": True,
            "dtype": "float64",
        },
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "threads": torch.get_num_threads(),
        },
        "results": results,
        f"speedup_{baseline}_over_{ours}": speedup,
        "max_relative_difference": float(diff),
    }
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
