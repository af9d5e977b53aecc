"""The block-structured interior point (benign.ipm.solve_blocks) against its version at another
commit, on the same programs: the first program of the convex search (the seed's pool, as
``benign run --method convex`` builds it for seed 0), one thread, both versions in one process,
alternated.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ipm.py                   # baseline: --ref 85543d8
    .venv/bin/python benchmarks/bench_ipm.py --cases 500:1000 --repeats 1

Per program: blocks, rank, each version's best seconds of ``--repeats`` and iterations, the
ratio, and the two optima's relative difference; results in ``benchmarks/results/ipm.json``
(written after every program) and a Markdown table on stdout.
"""

import argparse
import datetime as dt
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, git_commit
from threadpoolctl import threadpool_limits

from benign import RunConfig, ipm
from benign.convex import SEED_BLOCKS, RowSpace, first_blocks, gate_neurons, seed_blocks
from benign.seeding import rng_for

HERE = Path(__file__).resolve().parent


def baseline(ref: str):
    """benign/ipm.py as it was at commit ``ref``, imported as a module of its own."""
    text = subprocess.run(
        ["git", "show", f"{ref}:src/benign/ipm.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "ipm_ref.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("ipm_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_program(m: int, d: int, seed: int = 0):
    """The search's first pool for sphere, p = 0.2, bias, width 2m (benign.methods.solve_convex):
    the seed LP's heaviest blocks, or all of its blocks where those have no solution."""
    cfg = RunConfig(dist="sphere", d=d, m=m, p=0.2, width=2 * m, method="convex")
    s = cfg.sample(seed)
    rs = RowSpace.of(s.x, True)
    dirs, signs = gate_neurons(rs.a.shape[1], 64, rng_for(seed, "gates"))
    pats, signs = seed_blocks(rs.a, s.y, dirs, signs)
    keep = first_blocks(pats, signs, s.y, SEED_BLOCKS)
    if ipm.solve_blocks(rs.a, s.y, pats[keep], signs[keep]).status != "optimal":
        return rs.a, s.y, pats, signs
    return rs.a, s.y, pats[keep], signs[keep]


def timed(modules: list, program, repeats: int) -> list[tuple[float, object]]:
    """Each module's best seconds of ``repeats`` solves and its solution, the modules taken in
    turn."""
    best = [(float("inf"), None)] * len(modules)
    for _ in range(repeats):
        for i, module in enumerate(modules):
            t0 = time.perf_counter()
            sol = module.solve_blocks(*program)
            best[i] = (min(best[i][0], time.perf_counter() - t0), sol)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["200:20", "200:100", "500:20", "500:1000"])
    parser.add_argument("--ref", default="85543d8", help="the baseline's commit")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ipm.json")
    args = parser.parse_args()
    ref = baseline(args.ref)
    doc = {
        "date": dt.date.today().isoformat(),
        "commit": git_commit(),
        "baseline": args.ref,
        "cpu": cpu_model(),
        "command": " ".join(sys.argv),
        "rows": [],
    }
    print("| m | d | blocks | rank | now s (iter.) | baseline s (iter.) | ratio | optima |")
    print("| --: | --: | --: | --: | --: | --: | --: | --: |")
    with threadpool_limits(1):
        for case in args.cases:
            m, d = (int(v) for v in case.split(":"))
            program = first_program(m, d)
            (t_new, new), (t_old, old) = timed([ipm, ref], program, args.repeats)
            f_new, f_old = new.x[:, 0].sum(), old.x[:, 0].sum()
            row = {
                "m": m,
                "d": d,
                "blocks": len(program[3]),
                "rank": program[0].shape[1],
                "seconds": t_new,
                "iterations": new.iterations,
                "baseline_seconds": t_old,
                "baseline_iterations": old.iterations,
                "ratio": t_old / t_new,
                "optima_rel_diff": abs(f_new - f_old) / abs(f_old),
            }
            doc["rows"].append(row)
            args.out.write_text(json.dumps(doc, indent=1) + "\n")
            print(
                f"| {m} | {d} | {row['blocks']} | {row['rank']} | {t_new:.2f} ({new.iterations})"
                f" | {t_old:.2f} ({old.iterations}) | {row['ratio']:.2f}× |"
                f" {row['optima_rel_diff']:.0e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
