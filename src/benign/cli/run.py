"""`benign run`: train one network per seed and print what each one measures."""

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from threadpoolctl import threadpool_limits

from benign import __version__
from benign._stop import stop_at_once
from benign.cli.common import (
    Column,
    InputError,
    err,
    fitted_table,
    flag,
    out,
    print_json,
    table_width,
)
from benign.cli.options import with_settings
from benign.config import RunConfig, ensemble_block
from benign.report import fmt
from benign.seeding import MAX_SEED
from benign.sweep.config import MAX_RUNS, network_seconds

if TYPE_CHECKING:
    from benign.run import Experiment

MAX_THREADS = 1024
SAY_ABOVE = 20.0  # seconds: a run estimated to take longer says so when it starts


FORMATS = ("table", "csv", "json")


def _table(exp: "Experiment", wall: float) -> Table:
    """The networks as a table that fits stdout (:func:`fitted_table`): the clean error, the
    certificate and the stop first, the diagnostics dropped first."""
    c = exp.config
    title = (
        f"{c.dist} d={c.d} m={c.m} p={c.p} · depth {c.depth}, width {c.width}, "
        f"{'bias' if c.bias else 'no bias'} · method {c.resolved_method}"
        + (f", {c.loss} loss, {c.step_rule} steps η={c.lr}" if c.resolved_method == "gd" else "")
    )
    certified = sum(r.certified for r in exp.records)
    caption = (
        f"{len(exp.records)} networks in {wall:.1f} s · {certified} certified KKT "
        f"(ε_rel ≤ {c.cert_eps}, δ_rel ≤ {c.cert_delta}) · Lip ≥: max_i ‖∇f(x_i)‖ · "
        "λ_min Θ̂: of the trained network's empirical NTK on the training points"
    )
    lazy = c.resolved_method == "gd"
    if lazy:
        caption += ", Θ̂ moved: ‖Θ̂ − Θ̂_0‖/‖Θ̂_0‖"
    if any(r.entk_min < 0 for r in exp.records):
        caption += " (a Gram matrix: a λ_min below 0 is rounding)"
    both = c.resolved_method == "gd+convex"
    count = {"lp": "rounds", "convex": "rounds", "gd+convex": "steps+rounds"}
    columns = [
        Column("seed"),
        Column("flipped", 7),
        Column("train err", 6),
        Column("clean err"),
        Column("95% interval", 9, left=True),
        Column("min q", 11),
        Column("γ", 10),
        Column("ε_rel", 5),
        Column("KKT"),
        Column("optimality", 8, left=True),
        Column("Lip ≥", 12),
        *([Column("Θ̂ moved", 13)] if lazy else []),
        Column("λ_min Θ̂", 14),
        Column(count.get(c.resolved_method, "steps"), 4),
        Column("stop", 3, left=True),
        Column("time s", 2),
        *([Column("GD clean err", 1), Column("GD ε_rel", 1)] if both else []),
    ]
    rows = []
    for r in exp.records:
        interval = "exact" if r.clean_method == "exact" else f"{r.clean_lo:.3f}–{r.clean_hi:.3f}"
        counts = {
            "lp": f"{r.rounds}",
            "convex": f"{r.rounds}",
            "gd+convex": f"{r.steps}+{r.rounds}",
        }
        rows.append(
            [
                str(r.seed),
                f"{r.flip_rate:.3f}",
                fmt(r.train_error, ".3f"),
                fmt(r.clean_error, ".3f"),
                interval,
                fmt(r.min_margin),
                fmt(r.normalised_margin),
                fmt(r.eps_rel, ".2g"),
                "yes" if r.certified else "no",
                r.optimality or "—",
                fmt(r.lipschitz_lower),
                *([fmt(r.kernel_move, ".2g")] if lazy else []),
                fmt(r.entk_min),
                counts.get(c.resolved_method, str(r.steps)),
                r.stop_reason,
                f"{r.seconds:.2f}",
                *([fmt(r.gd_clean_error, ".3f"), fmt(r.gd_eps_rel, ".2g")] if both else []),
            ]
        )
    return fitted_table(columns, rows, table_width(), title, caption)


def _check_writable(save: Path) -> None:
    """Refuse, before any training, a --save path that cannot be written: a missing or
    read-only directory, a directory, a name longer than the file system allows."""
    if not save.parent.is_dir():
        raise InputError(f"--save: directory {str(save.parent)!r} does not exist")
    longest = os.pathconf(save.parent, "PC_NAME_MAX")
    if len(os.fsencode(save.name)) > longest:
        raise InputError(f"--save: the file name is longer than {longest} bytes")
    if save.is_dir():
        raise InputError(f"--save: {str(save)!r} is a directory; give a file name")
    if not os.access(save.parent, os.W_OK):
        raise InputError(f"--save: directory {str(save.parent)!r} is not writable")


class _ErrLines(logging.Handler):
    """Log records as lines on stderr, above the progress bar on a terminal, unwrapped."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"benign: {record.getMessage()}", highlight=False, soft_wrap=True, markup=False)


@contextlib.contextmanager
def solver_lines() -> Iterator[None]:
    """While inside: the solvers' lines (``benign.solver`` logger, INFO) go to stderr."""
    log = logging.getLogger("benign.solver")
    handler, level = _ErrLines(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@with_settings
def run(
    config: RunConfig,
    seeds: Annotated[
        int, typer.Option(help="Number of networks (seeds seed … seed+N−1).", rich_help_panel="Run")
    ] = 4,
    seed: Annotated[int, typer.Option(help="First seed.", rich_help_panel="Run")] = 0,
    block: Annotated[
        int | None,
        typer.Option(
            help="Networks trained together in one ensemble "
            "(default: as many as keep ensemble·m·width ≤ 2^18 hidden activations, ≤ 2^22 "
            "where gradient descent takes the fused two-layer passes; at most 16).",
            rich_help_panel="Run",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads for PyTorch and for the BLAS under NumPy and SciPy (default: all "
            "cores). Use 1 when running several benign processes at once: oversubscribed "
            "threads slow training down many times.",
            rich_help_panel="Run",
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--format",
            help="table (the columns that fit the terminal or COLUMNS; all of them when stdout "
            "is not a terminal), csv (one row per network: every setting and measure, named as "
            "a store's columns) or json (the config and the records, keyed as a store's "
            "columns, with their training histories)",
            rich_help_panel="Output",
        ),
    ] = "table",
    json_out: Annotated[
        bool,
        typer.Option("--json", help="The same as --format json.", rich_help_panel="Output"),
    ] = False,
    save: Annotated[
        Path | None,
        typer.Option(
            help="Write parameters and data to this .npz (see docs/npz-format.md).",
            rich_help_panel="Output",
        ),
    ] = None,
) -> None:
    """Train one interpolating ReLU network per seed and measure how it overfits."""
    checks = (
        ("seeds", seeds, 1, MAX_RUNS),
        ("seed", seed, 0, MAX_SEED),
        ("block", block, 1, MAX_RUNS),
        ("threads", threads, 1, MAX_THREADS),
    )
    for name, value, low, high in checks:
        if value is not None and value < low:
            raise InputError(f"{flag(name)}: must be >= {low}, got {value}")
        if value is not None and value > high:
            raise InputError(f"{flag(name)}: must be <= {high:,}, got {value:,}")
    if seed + seeds - 1 > MAX_SEED:
        raise InputError(
            f"--seed: seeds are integers in [0, 2^63); {seed} + {seeds} networks leave it"
        )
    if output not in FORMATS:
        raise InputError(f"--format: must be one of {', '.join(FORMATS)}, got {output!r}")
    output = "json" if json_out else output
    if save is not None:
        _check_writable(save)
    per_block = min(seeds, block or ensemble_block(config))
    try:
        config.check_memory(per_block)
    except ValueError as exc:
        raise InputError(f"{exc} (lower --m, --width, --depth or --block)") from None

    with stop_at_once():  # PyTorch and the solvers, loaded once the settings are checked
        import torch

        from benign.methods import Heartbeat
        from benign.run import run_experiment

    if threads is not None:
        torch.set_num_threads(threads)
    estimate = seeds * network_seconds(config)  # on one core (sweep's cost model)
    if estimate >= SAY_ABOVE:
        at_most = " at most" if config.resolved_method in ("gd", "gd+convex") else ""
        err.print(
            f"benign: {seeds} network{'s' * (seeds > 1)}, {config.resolved_method} at m = "
            f"{config.m}, width "
            f"{config.width}: about {estimate / 60:.1f} min{at_most} on one core, estimated "
            "(within ~3×); a smaller --m, --width or --steps answers sooner",
            highlight=False,
            soft_wrap=True,
        )
    start = time.perf_counter()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[unit]} {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        # the convex method reports networks solved per block, gradient descent its steps
        solver = config.resolved_method in ("convex", "lp")
        total = per_block if solver else max(config.steps, 1)
        task = bar.add_task("training", total=total, unit="network" if solver else "step")

        beat = None if err.is_terminal else Heartbeat("run")  # lines where no bar is shown

        def progress(bi: int, nb: int, step: int, active: int) -> None:
            what = "left to solve" if solver else "training"
            where = f"block {bi + 1}/{nb} · {active} networks {what}"
            bar.update(task, completed=step, description=where)
            if beat is not None:
                unit = "networks solved" if solver else "step"
                beat(f"{where} · {unit} {step}/{total} · {time.perf_counter() - start:.0f} s")

        with threadpool_limits(threads), solver_lines():  # threads None: pools as they are
            exp = run_experiment(config, list(range(seed, seed + seeds)), block, progress)
    wall = time.perf_counter() - start
    if save is not None:
        exp.save(save)
    if output == "csv":
        exp.to_frame().to_csv(sys.stdout, index=False)
    elif output == "json":
        doc = {
            "version": __version__,
            "config": config.model_dump(),
            "seconds": wall,
            "records": exp.to_dicts(),
        }
        print_json(doc)
    else:
        out.print(_table(exp, wall), width=table_width())  # COLUMNS as it is now
        if save is not None:
            out.print(f"saved {save}")
