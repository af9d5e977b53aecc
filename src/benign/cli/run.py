"""`benign run`: train one network per seed and print what each one measures."""

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from threadpoolctl import threadpool_limits

from benign import __version__
from benign.cli.common import InputError, err, flag, out, print_json
from benign.cli.options import with_settings
from benign.config import RunConfig
from benign.report import fmt
from benign.run import Experiment, ensemble_block, run_experiment
from benign.seeding import MAX_SEED
from benign.sweep.config import MAX_RUNS

MAX_THREADS = 1024


def _table(exp: Experiment, wall: float) -> Table:
    c = exp.config
    title = (
        f"{c.dist} d={c.d} m={c.m} p={c.p} · depth {c.depth}, width {c.width}, "
        f"{'bias' if c.bias else 'no bias'} · method {c.resolved_method}"
        + (f", {c.loss} loss, {c.step_rule} steps η={c.lr}" if c.resolved_method == "gd" else "")
    )
    certified = sum(r.certified for r in exp.records)
    table = Table(
        title=title,
        caption=f"{len(exp.records)} networks in {wall:.1f} s · {certified} certified KKT "
        f"(ε_rel ≤ {c.cert_eps}, δ_rel ≤ {c.cert_delta}) · Lip ≥: max_i ‖∇f(x_i)‖ · "
        "Θ̂ moved: ‖Θ̂ − Θ̂_0‖/‖Θ̂_0‖ of the empirical NTK on the training points",
        box=box.SIMPLE_HEAD,
    )
    for name in (
        "seed",
        "flipped",
        "train err",
        "clean err",
        "95% interval",
        "min q",
        "γ",
        "ε_rel",
        "KKT",
        "Lip ≥",
        "Θ̂ moved",
        "λ_min Θ̂",
        {"lp": "rounds", "convex": "rounds", "gd+convex": "steps+rounds"}.get(
            c.resolved_method, "steps"
        ),
        "stop",
        "time s",
        *(["GD clean err", "GD ε_rel"] if c.resolved_method == "gd+convex" else []),
    ):
        table.add_column(name, justify="left" if name in ("stop", "95% interval") else "right")
    for r in exp.records:
        interval = "exact" if r.clean_method == "exact" else f"{r.clean_lo:.3f}–{r.clean_hi:.3f}"
        count = {"lp": f"{r.rounds}", "convex": f"{r.rounds}", "gd+convex": f"{r.steps}+{r.rounds}"}
        gd = [fmt(r.gd_clean_error, ".3f"), f"{r.gd_eps_rel:.2g}"]
        table.add_row(
            str(r.seed),
            f"{r.flip_rate:.3f}",
            fmt(r.train_error, ".3f"),
            fmt(r.clean_error, ".3f"),
            interval,
            f"{r.min_margin:.3g}",
            f"{r.normalised_margin:.3g}",
            f"{r.eps_rel:.2g}",
            "yes" if r.certified else "no",
            f"{r.lipschitz_lower:.3g}",
            f"{r.kernel_move:.2g}",
            f"{r.entk_min:.3g}",
            count.get(c.resolved_method, str(r.steps)),
            r.stop_reason,
            f"{r.seconds:.2f}",
            *(gd if c.resolved_method == "gd+convex" else []),
        )
    return table


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
            "(default: as many as keep ensemble·m·width ≤ 2^18, at most 16).",
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
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print JSON instead of a table.", rich_help_panel="Output"),
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
    if save is not None:
        _check_writable(save)
    per_block = min(seeds, block or ensemble_block(config))
    try:
        config.check_memory(per_block)
    except ValueError as exc:
        raise InputError(f"{exc} (lower --m, --width, --depth or --block)") from None

    if threads is not None:
        torch.set_num_threads(threads)
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

        def progress(bi: int, nb: int, step: int, active: int) -> None:
            what = "left to solve" if solver else "training"
            bar.update(
                task, completed=step, description=f"block {bi + 1}/{nb} · {active} networks {what}"
            )

        with threadpool_limits(threads), solver_lines():  # threads None: pools as they are
            exp = run_experiment(config, list(range(seed, seed + seeds)), block, progress)
    wall = time.perf_counter() - start
    if save is not None:
        exp.save(save)
    if json_out:
        doc = {
            "version": __version__,
            "config": config.model_dump(),
            "seconds": wall,
            "records": exp.to_dicts(),
        }
        print_json(doc)
    else:
        out.print(_table(exp, wall))
        if save is not None:
            out.print(f"saved {save}")
