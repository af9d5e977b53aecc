"""Training methods on 1-D noisy data: the LP minimum-norm interpolant vs gradient descent.

Run from the repository root::

    .venv/bin/python benchmarks/methods_1d.py           # full run, ~12 min on 2 cores
    .venv/bin/python benchmarks/methods_1d.py --quick   # smoke run (fewer seeds), ~4 min

Setting: ``--dist interval --d 1`` (x uniform on [0, 1], clean label +1, each label flipped
with probability p), the two-layer ReLU net with bias (depth 2). Every configuration is one
``benign run ... --json --threads 1`` subprocess, run one after the other. Per (method, m, p)
the script records the networks, the fractions interpolated and certified, the median steps,
the median per-network seconds (the record's ``seconds``: for ``lp`` the solve of that
network, for ``gd`` the training time of its ensemble block until it stopped), the wall seconds
of the whole batch (the JSON's top-level ``seconds``), the median ε_rel (nulls left out and
counted), the mean clean error (exact) with its min and max, the mean realised flip rate, the
mean train error and the stop reasons. Results go to ``benchmarks/results/methods_1d.json``
(with ``--quick``: ``methods_1d_quick.json`` in the temporary directory), with the machine
info; a table is printed. ``--out PATH`` overrides the path.
"""

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from _machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
BENIGN = ROOT / ".venv" / "bin" / "benign"
COMMON = ("--dist", "interval", "--d", "1", "--depth", "2", "--bias", "--json", "--threads", "1")
MS = (100, 300)
P_ALL = (0.05, 0.1, 0.2, 0.3)
P_GD = (0.1, 0.3)
GD_STEPS = 5000
GD_WIDTH = 500


@dataclass(frozen=True)
class Method:
    """One training method: its label, extra CLI flags, widths per m, flip rates and seeds."""

    label: str
    flags: tuple[str, ...]
    widths: dict[int, int]
    ps: tuple[float, ...]
    seeds: int
    quick_seeds: int


METHODS: tuple[Method, ...] = (
    Method("lp", ("--method", "lp"), {100: 200, 300: 400}, P_ALL, 16, 4),
    Method(
        "gd normalised logistic",
        ("--method", "gd", "--steps", str(GD_STEPS)),
        {100: GD_WIDTH, 300: GD_WIDTH},
        P_GD,
        8,
        2,
    ),
    Method(
        "gd constant lr=2",
        ("--method", "gd", "--step-rule", "constant", "--lr", "2", "--steps", str(GD_STEPS)),
        {100: GD_WIDTH, 300: GD_WIDTH},
        P_GD,
        8,
        2,
    ),
    Method(
        "gd normalised exponential",
        ("--method", "gd", "--loss", "exponential", "--steps", str(GD_STEPS)),
        {100: GD_WIDTH, 300: GD_WIDTH},
        (0.1,),
        8,
        2,
    ),
)


def git(*args: str) -> str | None:
    """Output of a git command in the checkout, or None."""
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def code_state() -> dict[str, object]:
    """HEAD and the uncommitted changes under src/ (the code the CLI runs, installed editable)."""
    dirty = git("status", "--porcelain", "--", "src")
    return {
        "git_commit": git("rev-parse", "HEAD"),
        "src_changes": dirty.splitlines() if dirty else [],
    }


def machine_info() -> dict[str, object]:
    """Date, torch and Python versions, CPU model and count, code state, load average."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "code_start": code_state(),
        "load_avg_start": list(os.getloadavg()),
    }


def command(method: Method, m: int, p: float, seeds: int) -> list[str]:
    """The ``benign run`` command line of one configuration."""
    return [
        str(BENIGN),
        "run",
        *COMMON,
        "--m",
        str(m),
        "--p",
        str(p),
        "--width",
        str(method.widths[m]),
        "--seeds",
        str(seeds),
        *method.flags,
    ]


def median(values: list[float]) -> float | None:
    """Median, or None for an empty list."""
    return statistics.median(values) if values else None


def summarise(out: dict, cmd: list[str], method: Method, m: int, p: float, wall: float) -> dict:
    """The per-(method, m, p) summary of one ``benign run --json`` output."""
    recs = out["records"]
    n = len(recs)
    clean = [r["clean_error"] for r in recs]
    clean_interp = [r["clean_error"] for r in recs if r["interpolated"]]
    eps = [r["eps_rel"] for r in recs if r["eps_rel"] is not None]
    return {
        "method": method.label,
        "resolved_method": sorted({r["resolved_method"] for r in recs}),
        "m": m,
        "p": p,
        "width": method.widths[m],
        "command": shlex.join(["benign", *cmd[1:]]),
        "networks": n,
        "frac_interpolated": sum(r["interpolated"] for r in recs) / n,
        "frac_certified": sum(r["certified"] for r in recs) / n,
        "median_steps": median([r["steps_taken"] for r in recs]),
        "median_seconds_per_network": median([r["seconds"] for r in recs]),
        "wall_seconds_batch": out["seconds"],
        "process_seconds": wall,
        "median_eps_rel": median(eps),
        "eps_rel_null": n - len(eps),
        "clean_error_mean": statistics.fmean(clean),
        "clean_error_min": min(clean),
        "clean_error_max": max(clean),
        "clean_error_mean_interpolated": statistics.fmean(clean_interp) if clean_interp else None,
        "flip_rate_mean": statistics.fmean(r["flip_rate"] for r in recs),
        "train_error_mean": statistics.fmean(r["train_error"] for r in recs),
        "stop_reasons": dict(Counter(r["stop_reason"] for r in recs)),
        "records": [{k: v for k, v in r.items() if not isinstance(v, dict)} for r in recs],
    }


def run_one(method: Method, m: int, p: float, seeds: int) -> dict:
    """Run one configuration through the CLI and summarise it."""
    cmd = command(method, m, p, seeds)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr}")
    return summarise(json.loads(proc.stdout), cmd, method, m, p, wall)


def fmt(x: float | None, spec: str) -> str:
    """Format a number, '-' for None."""
    return "-" if x is None else format(x, spec)


def table(rows: list[dict]) -> str:
    """A Markdown table of the summaries."""
    head = (
        "| method | m | p | width | nets | interp. | cert. | med. steps | med. s/net | wall s "
        "| med. ε_rel (null) | clean err. mean [min–max] | flip rate | train err. | stop reasons |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        stops = ", ".join(f"{k} {v}" for k, v in sorted(r["stop_reasons"].items()))
        lines.append(
            f"| {r['method']} | {r['m']} | {r['p']} | {r['width']} | {r['networks']} "
            f"| {r['frac_interpolated']:.2f} | {r['frac_certified']:.2f} "
            f"| {fmt(r['median_steps'], '.0f')} | {fmt(r['median_seconds_per_network'], '.2f')} "
            f"| {r['wall_seconds_batch']:.1f} "
            f"| {fmt(r['median_eps_rel'], '.1e')} ({r['eps_rel_null']}) "
            f"| {r['clean_error_mean']:.3f} [{r['clean_error_min']:.3f}–{r['clean_error_max']:.3f}]"
            f" | {r['flip_rate_mean']:.3f} | {r['train_error_mean']:.3f} | {stops} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds (smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="output JSON path")
    args = parser.parse_args()
    quick_path = Path(tempfile.gettempdir()) / "methods_1d_quick.json"
    out_path = args.out or (quick_path if args.quick else RESULTS_DIR / "methods_1d.json")
    if not BENIGN.exists():
        sys.exit(f"{BENIGN} not found: install the project first (pip install -e .)")

    info = machine_info()
    rows = []
    t_start = time.perf_counter()
    for method in METHODS:
        seeds = method.quick_seeds if args.quick else method.seeds
        for m in MS:
            for p in method.ps:
                row = run_one(method, m, p, seeds)
                rows.append(row)
                print(
                    f"[{time.perf_counter() - t_start:7.1f} s] {method.label} m={m} p={p}: "
                    f"wall {row['wall_seconds_batch']:.1f} s, "
                    f"interpolated {row['frac_interpolated']:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
    info["load_avg_end"] = list(os.getloadavg())
    info["code_end"] = code_state()
    if info["code_end"] != info["code_start"]:
        print("warning: the code under src/ changed during the run", file=sys.stderr)
    info["total_seconds"] = time.perf_counter() - t_start
    result = {"machine": info, "quick": args.quick, "results": rows}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    print(table(rows))
    print(f"\ntotal {info['total_seconds']:.0f} s; written {out_path}")


if __name__ == "__main__":
    main()
