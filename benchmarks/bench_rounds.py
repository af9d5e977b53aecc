"""The convex search with its rounds by the block-structured interior point (benign.ipm) against
every round by Clarabel (``convex.FAST_RANK = inf``, the search before), on the same samples,
one network at a time, one thread, in one process.

Run from the repository root::

    .venv/bin/python benchmarks/bench_rounds.py                  # m = 200, d = 5, 20, 100, 1000
    .venv/bin/python benchmarks/bench_rounds.py --m 500 --d 20 --seeds 1 --no-baseline

Per network: seconds (the convex programs), programs solved, the stop, whether it is certified
and its ε_rel, for both routes; results in ``benchmarks/results/rounds.json`` (written after
every network) and a Markdown table on stdout.
"""

import argparse
import datetime as dt
import json
import math
import statistics
import sys
from pathlib import Path

from _machine import cpu_model, git_commit

import benign.convex as convex
from benign import RunConfig
from benign.run import run_experiment

HERE = Path(__file__).resolve().parent


def one(m: int, d: int, bias: bool, seed: int, fast: bool) -> dict:
    """One network by the convex route, with or without the fast rounds."""
    convex.FAST_RANK = 10 if fast else math.inf
    cfg = RunConfig(dist="sphere", d=d, m=m, p=0.2, width=2 * m, bias=bias, method="convex")
    r = run_experiment(cfg, [seed]).records[0]
    return {
        "seconds": r.seconds,
        "rounds": r.rounds,
        "stop": r.stop_reason,
        "certified": bool(r.certified),
        "eps_rel": r.eps_rel,
        "clean_error": r.clean_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m", type=int, nargs="+", default=[200])
    parser.add_argument("--d", type=int, nargs="+", default=[5, 20, 100, 1000])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--no-bias", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "rounds.json")
    args = parser.parse_args()
    doc = {
        "date": dt.date.today().isoformat(),
        "commit": git_commit(),
        "cpu": cpu_model(),
        "command": " ".join(sys.argv),
        "rows": [],
    }
    for m in args.m:
        for d in args.d:
            for seed in range(args.seeds):
                row = {"m": m, "d": d, "bias": not args.no_bias, "seed": seed}
                row["fast"] = one(m, d, not args.no_bias, seed, True)
                if not args.no_baseline:
                    row["clarabel"] = one(m, d, not args.no_bias, seed, False)
                doc["rows"].append(row)
                args.out.write_text(json.dumps(doc, indent=1) + "\n")
                print(json.dumps(row), file=sys.stderr, flush=True)
    print("| m | d | seeds | fast rounds: median s (programs) | Clarabel: median s (programs) "
          "| ratio | certified (fast / Clarabel) |")  # fmt: skip
    print("| --: | --: | --: | --: | --: | --: | --- |")
    for m in args.m:
        for d in args.d:
            rows = [r for r in doc["rows"] if (r["m"], r["d"]) == (m, d)]

            def med(route: str, key: str, rows: list = rows) -> float:
                return statistics.median(r[route][key] for r in rows)

            cert = sum(r["fast"]["certified"] for r in rows)
            fast = f"{med('fast', 'seconds'):.1f} ({med('fast', 'rounds'):.0f})"
            if args.no_baseline:
                print(f"| {m} | {d} | {len(rows)} | {fast} | — | — | {cert}/{len(rows)} |")
                continue
            base = f"{med('clarabel', 'seconds'):.1f} ({med('clarabel', 'rounds'):.0f})"
            ratio = statistics.median(r["clarabel"]["seconds"] / r["fast"]["seconds"] for r in rows)
            cert_b = sum(r["clarabel"]["certified"] for r in rows)
            print(f"| {m} | {d} | {len(rows)} | {fast} | {base} | {ratio:.1f}× "
                  f"| {cert}/{len(rows)} / {cert_b}/{len(rows)} |")  # fmt: skip


if __name__ == "__main__":
    main()
