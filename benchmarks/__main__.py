"""The benchmark suite in one command: ``python -m benchmarks`` (``make bench``).

Each case writes ``benchmarks/results/NAME.json`` (every sample, the machine's details) and,
on a full run, its table into docs/performance.md between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``. ``--quick`` runs a smoke version into ``NAME_quick.json`` and leaves
the docs alone; ``--only a,b`` runs some cases; ``--tables`` rewrites the docs' tables from the
stored results without running anything. Cases: ``train`` (one GD step per network
against a plain PyTorch loop, the whole loop's overhead; bench_train.py), ``startup``
(``benign --help`` and ``--version``; bench_startup.py), ``sweep`` (runs per minute with 1 and
2 workers and Dask; bench_sweep.py), ``memory`` (resident memory over a 10⁴-run sweep;
bench_memory.py), ``ntk`` (the analytic NTK against neural-tangents, where ``NT_PYTHON``
names a Python that has it, and NumPy; bench_ntk_nt.py). The empirical-NTK, certificate and
convex benchmarks run alone (their scripts, see benchmarks/README.md).
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the cases import _machine as their scripts do

import bench_memory  # noqa: E402
import bench_ntk_nt  # noqa: E402
import bench_startup  # noqa: E402
import bench_sweep  # noqa: E402
import bench_train  # noqa: E402
from _machine import machine_info  # noqa: E402

CASES = {
    "train": bench_train,
    "startup": bench_startup,
    "sweep": bench_sweep,
    "memory": bench_memory,
    "ntk": bench_ntk_nt,
}
DOCS = HERE.parent / "docs" / "performance.md"


def put_table(text: str, name: str, table: str) -> str:
    """``text`` with the block of case ``name`` replaced by ``table``."""
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOCS}: no <!-- bench:{name} --> block")
    return pattern.sub(lambda m: m[1] + table + "\n" + m[2], text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke runs; the docs are left alone")
    ap.add_argument("--only", default=",".join(CASES), help="cases, comma-separated")
    ap.add_argument(
        "--tables", action="store_true", help="only rewrite the docs' tables from results/*.json"
    )
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"--only: unknown case {unknown[0]!r}; the cases are {', '.join(CASES)}")
    for name in names:
        if args.tables:
            result = json.loads((HERE / "results" / f"{name}.json").read_text())
            DOCS.write_text(put_table(DOCS.read_text(), name, CASES[name].table(result)))
            continue
        t0 = time.perf_counter()
        print(f"benchmark {name} …", file=sys.stderr, flush=True)
        result = CASES[name].run(args.quick) | {"machine": machine_info()}
        result["wall_seconds"] = round(time.perf_counter() - t0, 1)
        out = HERE / "results" / f"{name}{'_quick' if args.quick else ''}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        table = CASES[name].table(result)
        print(table, flush=True)
        print(f"→ {out} ({result['wall_seconds']} s)", file=sys.stderr, flush=True)
        if not args.quick:
            DOCS.write_text(put_table(DOCS.read_text(), name, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
