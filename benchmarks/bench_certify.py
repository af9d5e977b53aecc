"""Time and peak memory of ``benign.certificate.certify`` on two-layer nets: this checkout against
a committed version (``git show REF:src/benign/certificate.py``, REF = HEAD unless ``--ref``), each
case in its own process.

Run from the repository root::

    .venv/bin/python benchmarks/bench_certify.py            # writes benchmarks/results/certify.json
    .venv/bin/python benchmarks/bench_certify.py --no-head  # this checkout only
    .venv/bin/python benchmarks/bench_certify.py --cases line_lp --ref edfabac

Cases (float64, one network, single-threaded: ``threadpool_limits(1)``, one torch thread):

- ``wide``: d = 5000, m = 200, width 200, with bias; inputs N(0, I_d/d), all labels +1,
  He-initialised weights with |v| (all margins positive, no kinks).
- ``kkt_kinks``: a known KKT point with 1000 kinked pairs, m = 200, width 200, d = 300, no
  bias: inputs x_i = Q e_i (Q ∈ R^{300×200} with orthonormal columns), labels +1; neuron j
  misses the five points i ∈ {j, …, j+4} (mod 200) and serves the other 195:
  w_j = v_j λ Σ_{i served} x_i, v_j = 195^{-1/4}, λ = 195^{-1/2}, so z_ij = v_j λ > 0 on
  served points and 0 on missed ones (kinks, slope 0), every margin is 1 and every neuron
  balanced. Timed without a hint and with the hint λ_i = λ (exact multipliers).
- ``random_kinks``: the same data and width, random neurons (positive v) each projected onto
  the orthogonal complement of its five missed points: 1000 kinked pairs, not a KKT point, so
  the Clarke search runs to its end. Without a hint.
- ``line_lp``: d = 1, m = 3000, width 6000, with bias: the minimum-norm interpolant
  (``benign.lp``) of x ~ U[0, 1], y = sign(x − 1/2) flipped with probability 0.2 (seed 0), with
  the LP's dual as the hint (what ``benign run --method lp`` certifies).

Peak memory is ``ru_maxrss`` of the child process (after building the inputs and before
certify: ``rss_before``), time is ``time.perf_counter`` around the one certify call.
"""

import argparse
import datetime as dt
import importlib
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model, git_commit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "certify.json"
CASES = ("wide", "kkt_kinks", "kkt_kinks_hint", "random_kinks", "line_lp")
TIMEOUT_S = 900


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def wide_case() -> tuple:
    """d = 5000, m = 200, width 200, bias; margins positive; no hint."""
    from benign.nets import ReLUNet

    d, m, n = 5000, 200, 200
    net = ReLUNet(d=d, width=n, depth=2, bias=True, init="he")
    params = net.init_params([0])
    params[-1] = params[-1].abs()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, m, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return net, params, x, torch.ones(1, m, dtype=torch.float64), None


def _kink_data(d: int = 300, m: int = 200) -> np.ndarray:
    rng = np.random.default_rng(2)
    return np.linalg.qr(rng.standard_normal((d, m)))[0].T  # rows x_i orthonormal


def kkt_case(hinted: bool) -> tuple:
    """The KKT point with 1000 kinks of the module docstring; hint λ_i = 195^{-1/2} or none."""
    from benign.nets import ReLUNet

    x = _kink_data()
    m, d = x.shape
    n, miss = 200, 5
    lam, v = 195**-0.5, 195**-0.25
    served = np.ones((n, m))
    for j in range(n):
        served[j, (j + np.arange(miss)) % m] = 0.0
    w = v * lam * served @ x
    net = ReLUNet(d=d, width=n, depth=2, bias=False)
    params = [torch.as_tensor(w[None]), torch.full((1, 1, n), v, dtype=torch.float64)]
    hint = [np.full(m, lam)] if hinted else None
    return net, params, torch.as_tensor(x[None]), torch.ones(1, m, dtype=torch.float64), hint


def random_kink_case() -> tuple:
    """Random neurons, each projected off five data points: 1000 kinks, not KKT."""
    from benign.nets import ReLUNet

    x = _kink_data()
    m, d = x.shape
    n, miss = 200, 5
    rng = np.random.default_rng(3)
    w = rng.standard_normal((n, d)) / math.sqrt(d)
    for j in range(n):
        xs = x[(j + np.arange(miss)) % m]  # orthonormal rows
        w[j] -= (w[j] @ xs.T) @ xs
    w += 0.3 * x.sum(0) / math.sqrt(m)  # every point active for most neurons
    for j in range(n):
        xs = x[(j + np.arange(miss)) % m]
        w[j] -= (w[j] @ xs.T) @ xs
    v = np.abs(rng.standard_normal(n)) / math.sqrt(n)
    net = ReLUNet(d=d, width=n, depth=2, bias=False)
    params = [torch.as_tensor(w[None]), torch.as_tensor(v[None, None])]
    return net, params, torch.as_tensor(x[None]), torch.ones(1, m, dtype=torch.float64), None


def line_lp_case() -> tuple:
    """The 1-D minimum-norm interpolant at m = 3000 with its LP dual as the hint."""
    from benign.lp import min_norm_interpolant
    from benign.nets import from_arrays

    rng = np.random.default_rng(0)
    m = 3000
    x = rng.uniform(0, 1, (m, 1))
    y = np.sign(x[:, 0] - 0.5) * np.where(rng.uniform(size=m) < 0.2, -1.0, 1.0)
    sol = min_norm_interpolant(x, y, width=2 * m)
    net, params = from_arrays(sol.w, sol.v, sol.b)
    return net, params, torch.as_tensor(x[None]), torch.as_tensor(y[None]), [sol.multipliers]


def child(case: str, impl: str, ref: str) -> None:
    """Build the case, certify once, print one JSON line."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    if impl == "head":
        shown = [  # the module's name at that commit (certify.py before it was certificate.py)
            subprocess.run(
                ["git", "show", f"{ref}:src/benign/{name}.py"],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            for name in ("certificate", "certify")
        ]
        src = next(s.stdout for s in shown if s.returncode == 0)
        path = Path(tempfile.mkdtemp()) / "certify_head.py"
        path.write_text(src)
        sys.path.insert(0, str(path.parent))
        import certify_head as mod  # type: ignore[import-not-found]
    else:
        mod = importlib.import_module("benign.certificate")
    build = {
        "wide": wide_case,
        "kkt_kinks": lambda: kkt_case(False),
        "kkt_kinks_hint": lambda: kkt_case(True),
        "random_kinks": random_kink_case,
        "line_lp": line_lp_case,
    }[case]
    with threadpool_limits(1):
        net, params, x, y, hint = build()
        before = _maxrss_mb()
        t0 = time.perf_counter()
        cert = mod.certify(net, params, x, y, hint=hint)
        seconds = time.perf_counter() - t0
    out = {
        "case": case,
        "impl": impl,
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_rss_mb": _maxrss_mb(),
        "d": x.shape[2],
        "m": x.shape[1],
        "width": net.width,
        "bias": net.bias,
        "kinks": int(cert.kinks[0]),
        **{
            key: float(getattr(cert, key)[0])
            for key in ("min_margin", "eps_rel", "eps_fixed_rel", "delta_rel")
        },
    }
    print(json.dumps(out))


def run(case: str, impl: str, ref: str) -> dict:
    """One child process; a failure or timeout is recorded, not raised."""
    cmd = [sys.executable, __file__, "--child", case, impl, ref]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"case": case, "impl": impl, "error": f"timeout after {TIMEOUT_S} s"}
    if proc.returncode != 0:
        return {"case": case, "impl": impl, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-head", action="store_true", help="skip the committed version")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--ref", default="HEAD", help="the committed version to compare with")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "IMPL", "REF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    impls = ["new"] if args.no_head else ["head", "new"]
    rows = []
    for case in args.cases:
        for impl in impls:
            row = run(case, impl, args.ref)
            rows.append(row)
            if "error" in row:
                print(f"{case:15s} {impl:5s} {row['error']}")
            else:
                print(
                    f"{case:15s} {impl:5s} {row['seconds']:9.3f} s"
                    f"  peak {row['peak_rss_mb']:8.0f} MB"
                    f"  (before {row['rss_before_mb']:6.0f} MB)  kinks {row['kinks']:5d}"
                    f"  eps_rel {row['eps_rel']:.3e}  eps_fixed_rel {row['eps_fixed_rel']:.3e}"
                    f"  delta_rel {row['delta_rel']:.3e}",
                    flush=True,
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": " ".join(["python benchmarks/bench_certify.py", *sys.argv[1:]]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": 1,
        "head": f"git show {args.ref}:src/benign/certificate.py, imported in the child process",
    }
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
