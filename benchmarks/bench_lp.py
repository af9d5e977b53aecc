"""The minimum-norm interpolant in d = 1 (``--method lp``): benign.lp against the dense kink
dictionary LP it replaced (``git show BASELINE:src/benign/convex.py``, grid 2000, HiGHS through
scipy), on the same samples, each solve in its own process (time, peak resident memory).

    .venv/bin/python benchmarks/bench_lp.py                # ~15 min; results/lp.json
    .venv/bin/python benchmarks/bench_lp.py --quick        # m ≤ 300; results/lp_quick.json

Samples: x uniform on [0, 1], labels +1 flipped with probability p, the data stream of
``RunConfig(dist="interval", d=1, m=m, p=p).sample(seed)``. Per sample: seconds and peak memory
of each solver, ½‖θ‖² of each network (rescaled to min_i q_i = 1), the new network's certified
gap, and its KKT certificate (ε_rel, δ_rel, with the LP's multipliers as hint). The baseline is
stopped after ``--baseline-limit`` seconds (default 300) and reported as such.
"""

import argparse
import datetime as dt
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, git_commit

BASELINE = "30da4af"  # the last commit with the dense dictionary LP
HERE = Path(__file__).resolve().parent
CASES = [(100, 0.2), (300, 0.2), (1000, 0.2), (1000, 0.3), (3000, 0.2), (3000, 0.3), (10000, 0.2)]
QUICK = [(100, 0.2), (300, 0.2), (300, 0.3)]
BASELINE_UP_TO = 1000  # m beyond which the baseline is not run (1.2 GB and minutes at 1000)
NEW_LIMIT = 300.0  # seconds a benign.lp solve may take (m = 10⁴ does not finish)


def child(impl: str, m: int, p: float, seed: int, baseline_dir: str) -> dict:
    """One solve in this process; prints its result as JSON."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from benign.certificate import certify
    from benign.config import RunConfig
    from benign.nets import ReLUNet

    torch.set_num_threads(1)
    s = RunConfig(dist="interval", d=1, m=m, p=p, width=2 * m).sample(seed)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        if impl == "baseline":
            sys.path.insert(0, baseline_dir)
            import convex_baseline  # type: ignore[import-not-found]

            sol = convex_baseline.min_norm_interpolant(s.x, s.y, 0.0, 1.0, 2 * m, 2000)
            gap = math.nan
        else:
            from benign.lp import min_norm_interpolant

            sol = min_norm_interpolant(s.x, s.y, 2 * m)
            gap = sol.gap
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "reason": sol.reason, "ok": bool(sol.ok), "gap": gap}
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if sol.ok:
            params = [
                torch.as_tensor(sol.w)[None],
                torch.as_tensor(sol.b)[None],
                torch.as_tensor(sol.v)[None, None],
            ]
            x, y = torch.as_tensor(s.x)[None], torch.as_tensor(s.y)[None]
            cert = certify(ReLUNet(1, 2 * m), params, x, y, hint=[sol.multipliers])
            q = s.y * (np.maximum(np.outer(s.x[:, 0], sol.w[:, 0]) + sol.b, 0) @ sol.v)
            lam = sol.multipliers
            tight = lam > 1e-9 * lam.max()
            out |= {
                "half_norm_sq": sol.norm_sq / 2,
                "active": int(sol.active),
                "eps_rel": float(cert.eps_rel[0]),
                "delta_rel": float(cert.delta_rel[0]),
                "max_tight_margin": float(q[tight].max() - 1),
            }
    return out


def measure(impl: str, m: int, p: float, seed: int, base: str, limit: float) -> dict:
    cmd = [sys.executable, __file__, "--child", impl, str(m), str(p), str(seed), base]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return {"seconds": math.inf, "reason": f"stopped after {limit:.0f} s", "ok": False}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(result: dict) -> str:
    """Markdown: one row per (m, p), medians over seeds."""
    lines = [
        "| m | p | baseline s | benign.lp s | speed-up | ½‖θ‖² new/old − 1 | gap (max) "
        "| ε_rel (max) | δ_rel (max) | tight margins − 1 (max) | peak MB old / new |",
        "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    ]
    for row in result["rows"]:
        new, old = row["new"], row["baseline"]
        med = sorted(r["seconds"] for r in new)[len(new) // 2]
        if old:
            omed = sorted(r["seconds"] for r in old)[len(old) // 2]
            speed = f"{omed / med:.0f}×" if math.isfinite(omed) else f"> {old[0]['reason']}"
            ratio = [
                n["half_norm_sq"] / o["half_norm_sq"] - 1
                for n, o in zip(new, old, strict=True)
                if n.get("half_norm_sq") and o.get("half_norm_sq")
            ]
            oss = f"{omed:.2f}" if math.isfinite(omed) else old[0]["reason"]
            mem = f"{max(r.get('rss_mb', math.nan) for r in old):.0f} / "
            rel = f"{min(ratio):.1e} … {max(ratio):.1e}" if ratio else "—"
        else:
            oss, speed, rel, mem = "—", "—", "—", "— / "
        ok = [r for r in new if r["ok"]]

        def worst(key: str, rows: list = ok) -> str:
            return f"{max(r[key] for r in rows):.1e}" if rows else "—"

        lines.append(
            f"| {row['m']} | {row['p']} | {oss} | {med:.2f} | {speed} | {rel} | {worst('gap')} "
            f"| {worst('eps_rel')} | {worst('delta_rel')} | {worst('max_tight_margin')} "
            f"| {mem}{max(r.get('rss_mb', math.nan) for r in new):.0f} |"
        )
    lines.append("")
    lines.append(
        f"{result['seeds']} seeds per row, medians of seconds; one thread; each solve in its own "
        "process. Stops of benign.lp: "
        + ", ".join(sorted({r["reason"] for row in result["rows"] for r in row["new"]}))
        + "."
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        impl, m, p, seed, base = sys.argv[2:7]
        print(json.dumps(child(impl, int(m), float(p), int(seed), base)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--baseline-limit", type=float, default=300.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as base:
        src = subprocess.run(
            ["git", "show", f"{BASELINE}:src/benign/convex.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        ).stdout
        Path(base, "convex_baseline.py").write_text(src)
        rows = []
        for m, p in QUICK if args.quick else CASES:
            row: dict = {"m": m, "p": p, "new": [], "baseline": []}
            for seed in range(args.seeds):
                row["new"].append(measure("new", m, p, seed, base, NEW_LIMIT))
                if m <= BASELINE_UP_TO:
                    row["baseline"].append(
                        measure("baseline", m, p, seed, base, args.baseline_limit)
                    )
                print(m, p, seed, row["new"][-1], row["baseline"][-1:], flush=True)
            rows.append(row)
            save(rows, args)  # after every row: a long run stopped early keeps what it measured
    print(table(save(rows, args)))


def save(rows: list, args: argparse.Namespace) -> dict:
    result = {
        "rows": rows,
        "seeds": args.seeds,
        "baseline": f"git show {BASELINE}:src/benign/convex.py, grid 2000",
        "machine": {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
            "python": platform.python_version(),
            "cpu": cpu_model(),
        },
    }
    name = "lp_quick.json" if args.quick else "lp.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
