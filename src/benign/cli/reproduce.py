"""The `reproduce` command: a claim of the papers as an experiment with a verdict."""

import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from benign.cli.common import InputError, err, marked_blocks, out, print_json, write_block
from benign.cli.sweep import _sweep
from benign.reproductions import CLAIMS, conclude, plan, summary_table
from benign.sweep.config import parse_sweep


def reproduce(
    name: Annotated[
        str | None,
        typer.Argument(
            help="The claim: one of those --list shows.", show_default=False, metavar="CLAIM"
        ),
    ] = None,
    list_claims: Annotated[
        bool, typer.Option("--list", help="Describe the claims and exit.")
    ] = False,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="Print the verdicts of the reproductions in --dir as a Markdown table and exit.",
        ),
    ] = False,
    write: Annotated[
        list[Path] | None,
        typer.Option(
            "--write",
            help="With --summary: write the table between the <!-- reproduce:summary --> "
            "markers of this Markdown file instead of printing it (repeatable).",
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="The reduced grid: under a minute on two cores.")
    ] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the sweep file, store, JSON and report go.")
    ] = Path("benign-reproduce"),
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core).")
    ] = None,
    first_seed: Annotated[
        int,
        typer.Option(
            "--first-seed",
            help="Seeds K, K+1, … instead of 0, 1, … (fresh samples; files NAME-seedK).",
        ),
    ] = 0,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"name", "claim", "verdict", "evidence", "store", "report", …} as JSON '
            "(progress still goes to stderr).",
        ),
    ] = False,
) -> None:
    """Run a claim of the papers as an experiment and judge it: agrees, disagrees or inconclusive.

    Runs the claim's sweep into DIR/NAME.sqlite (resumed if it is there; NAME-quick with
    --quick), computes what networks alone do not give, applies the claim's verdict rule
    (written beside it, docs/reproductions.md) and writes DIR/NAME.json and the report
    DIR/NAME.html. A rule about KKT points counts certified networks only.
    """
    if list_claims:
        _list(json_out)
        return
    if first_seed < 0:
        raise InputError(f"--first-seed: must be >= 0, got {first_seed}")
    if write and not summary:
        raise InputError("--write: only with --summary")
    if summary:
        _summary(directory, quick, first_seed, write or [])
        return
    if name is None:
        raise InputError("NAME: give a claim (benign reproduce --list shows them)")
    if name not in CLAIMS:
        raise InputError(f"NAME: must be one of {', '.join(CLAIMS)}, got {name!r}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--dir: {str(directory)!r} is not a directory")
    p = plan(name, directory, quick, first_seed)
    start = time.perf_counter()
    # with --json, stdout holds the JSON alone: the sweep's own lines go to stderr
    quiet = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    with quiet:
        if p.sweep_file is not None:
            _sweep(p.sweep_file, p.store, "local", workers, retry_failed=False, dry_run=False)
        if p.claim.compute is not None:  # no progress bar of its own: say what is going on
            minutes = p.claim.minutes[1 if quick else 0]
            where = "beside the networks" if p.claim.sweep else "(no networks)"
            err.print(
                f"{name}: computing its evidence {where} (about {60 * minutes:.0f} s"
                " in all on 2 cores)…",
                soft_wrap=True,
                markup=False,
                highlight=False,
            )
        result = conclude(p, time.perf_counter() - start)
    if json_out:
        print_json(result.to_json())
        return
    out.print(
        f"{name}{' (quick)' if quick else ''}: {result.verdict} — {result.reason}",
        soft_wrap=True,
        markup=False,
    )
    out.print(f"key number: {result.key}", soft_wrap=True, markup=False)
    n = result.networks
    if n:
        out.print(
            f"networks: {n['used']} used of {n['runs']} ({n['certified']} certified, "
            f"{n['left_out_uncertified']} uncertified left out, {n['failed']} failed)",
            soft_wrap=True,
        )
    out.print(f"report → {result.report}; verdict and evidence → {p.result}", soft_wrap=True)


def _list(json_out: bool) -> None:
    """Name, claim, paper, grid sizes and the measured wall times of every claim."""
    rows: list[dict[str, Any]] = []
    for c in CLAIMS.values():
        sizes = [parse_sweep(c.sweep_file(q)).size if c.sweep else 0 for q in (False, True)]
        rows.append(
            {
                "name": c.name,
                "paper": c.paper,
                "claim": c.claim,
                "runs": sizes[0],
                "quick_runs": sizes[1],
                "minutes": c.minutes[0],
                "quick_minutes": c.minutes[1],
                "certified_only": c.certified_only,
            }
        )
    if json_out:
        print_json({"claims": rows})
        return
    table = Table(box=box.SIMPLE_HEAD, show_lines=False)
    for col in ("name", "paper", "claim", "runs (quick)", "time (quick)"):
        table.add_column(col, justify="right" if col.startswith(("runs", "time")) else "left")
    for r in rows:
        table.add_row(
            r["name"],
            r["paper"].split(" (")[0],
            r["claim"],
            f"{r['runs']} ({r['quick_runs']})" if r["runs"] else "computed",
            f"{r['minutes']:g} min ({60 * r['quick_minutes']:.0f} s)",
        )
    out.print(table)
    out.print("times: measured on 2 cores; run one with: benign reproduce NAME [--quick]")


MARKERS = ("<!-- reproduce:summary -->\n", "<!-- /reproduce:summary -->")


def _summary(directory: Path, quick: bool, first_seed: int, write: list[Path]) -> None:
    """The verdict table of the reproductions in ``directory`` (:func:`summary_table`): printed,
    or written between the markers of each file of ``write``."""
    marked_blocks(write, MARKERS)  # every file checked before any is written
    try:
        table = summary_table(directory, quick, first_seed)
    except ValueError as exc:
        raise InputError(f"--dir: {exc}") from None
    if table is None:
        raise InputError(f"--dir: no reproductions in {str(directory)!r}")
    if not write:
        sys.stdout.write(table)
        return
    for path in write:
        write_block(path, MARKERS, table)
        err.print(f"verdict table → {path}", soft_wrap=True, markup=False, highlight=False)
