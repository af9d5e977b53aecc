"""Certified KKT points by the convex route: share certified, time per network and stop
reasons, per (m, d, bias), from a sweep on the sphere; gradient descent on the same samples as
the baseline (its certified share; ``--gd-steps`` steps, the default demo's budget).

Run from the repository root::

    .venv/bin/python benchmarks/bench_convex.py                              # m = 50 grid
    .venv/bin/python benchmarks/bench_convex.py benchmarks/convex_m200.toml  # m = 200 grid
    .venv/bin/python benchmarks/bench_convex.py --no-baseline --workers 2

Each sweep goes into a fresh store (blocks computed with one thread each, ``--workers``
processes). The time of a network is its record's ``seconds`` (the convex programs; the
certificate and the measures after them are not included) on one core. Results:
``benchmarks/results/<sweep name>.json`` and a Markdown table on stdout.
"""

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from _machine import cpu_model, git_commit

from benign.sweep.config import load_sweep, parse_sweep
from benign.sweep.execute import open_executor, run_sweep
from benign.sweep.store import Store, read_table

HERE = Path(__file__).resolve().parent


def compute(sweep, workers: int, directory: Path) -> list[dict]:
    """Run the sweep into a fresh store and return its runs as dicts."""
    store_path = directory / f"{sweep.name}.sqlite"
    with Store(store_path, create=True) as store:
        executor = open_executor("local", workers)
        try:
            run_sweep(sweep, store, executor)
        finally:
            executor.close()
    columns, rows = read_table(store_path)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def summarise(runs: list[dict]) -> list[dict]:
    """Per (m, d, bias): networks, certified (ε_rel, δ_rel ≤ 0.05), exact (certified with
    ε_rel, δ_rel ≤ 1e-3), failed, median and max seconds, stop reasons."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        groups[(r["m"], r["d"], bool(r["bias"]))].append(r)
    out = []
    for (m, d, bias), rs in sorted(groups.items()):
        secs = [r["seconds"] for r in rs if r["seconds"] is not None]
        out.append(
            {
                "m": m,
                "d": d,
                "bias": bias,
                "networks": len(rs),
                "certified": sum(bool(r["certified"]) for r in rs),
                "exact": sum(
                    bool(r["certified"]) and max(r["eps_rel"], r["delta_rel"]) <= 1e-3
                    for r in rs
                    if r["eps_rel"] is not None and r["delta_rel"] is not None
                ),
                "failed": sum(r["status"] == "failed" for r in rs),
                "median_seconds": statistics.median(secs) if secs else None,
                "max_seconds": max(secs) if secs else None,
                "stops": dict(Counter(r["stop_reason"] or r["failure"] for r in rs)),
                "mean_clean_error": statistics.fmean(
                    [r["clean_error"] for r in rs if r["clean_error"] is not None] or [float("nan")]
                ),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", nargs="?", type=Path, default=HERE / "convex_m50.toml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-baseline", action="store_true", help="skip the gradient-descent run")
    ap.add_argument("--gd-steps", type=int, default=5000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sweep = load_sweep(args.sweep)
    doc = {
        "benchmark": "convex",
        "sweep": str(args.sweep),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpu": cpu_model(),
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory() as tmp:
        doc["convex"] = summarise(compute(sweep, args.workers, Path(tmp)))
        if not args.no_baseline:
            gd = f'method = "gd"\nsteps = {args.gd_steps}'
            text = sweep.source.replace('method = "convex"', gd)
            text = text.replace(f'name = "{sweep.name}"', f'name = "{sweep.name}_gd"')
            doc["gd"] = summarise(compute(parse_sweep(text), args.workers, Path(tmp)))
    out = args.out or HERE / "results" / f"{sweep.name}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    gd = {(g["m"], g["d"], g["bias"]): g for g in doc.get("gd", [])}
    print(
        "| m | d | bias | certified (convex) | to 1e-3 | median s | max s | stops | L "
        "| certified (gd) |"
    )
    print("| --: | --: | --- | --: | --: | --: | --: | --- | --: | --: |")
    for g in doc["convex"]:
        base = gd.get((g["m"], g["d"], g["bias"]))
        stops = ", ".join(f"{k} {v}" for k, v in sorted(g["stops"].items()))
        print(
            f"| {g['m']} | {g['d']} | {'yes' if g['bias'] else 'no'} "
            f"| {g['certified']}/{g['networks']} | {g['exact']}/{g['networks']} "
            f"| {g['median_seconds']:.2f} "
            f"| {g['max_seconds']:.2f} | {stops} | {g['mean_clean_error']:.3f} "
            f"| {'' if base is None else str(base['certified']) + '/' + str(base['networks'])} |"
        )
    print(f"→ {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
