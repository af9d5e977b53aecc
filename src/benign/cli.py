"""The `benign` command line: a thin face over run configuration, training and measures."""

import json
import shlex
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import torch
import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from threadpoolctl import threadpool_limits

from benign import __version__
from benign.config import RunConfig
from benign.data import DATASETS, Distribution, load_dataset
from benign.measures import separation
from benign.nets import ReLUNet
from benign.ntk import analytic_ntk, smallest_eigenvalue
from benign.report import write_report
from benign.run import Experiment, ensemble_block, run_experiment
from benign.seeding import rng_for
from benign.sweep import (
    ConfigError,
    ExecutorError,
    Store,
    StoreError,
    SweepProgress,
    check_executor,
    check_store,
    export,
    load_sweep,
    open_executor,
    run_sweep,
    store_status,
)
from benign.sweep.execute import work_left
from benign.sweep.store import FORMATS, TABLES

app = typer.Typer(
    help="Measure, certify and explain how interpolating ReLU networks overfit noisy data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
out = Console() if sys.stdout.isatty() else Console(width=150)
MAX_KERNEL_POINTS = 20_000
err = Console(stderr=True)


class InputError(Exception):
    """Bad input: reported as one line naming the flag, exit code 2."""


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _value_error(exc: ValueError) -> InputError:
    """A 'field: message' ValueError as '--field: message'."""
    field, sep, rest = str(exc).partition(": ")
    return InputError(f"{_flag(field)}: {rest}" if sep and field.isidentifier() else str(exc))


def _config_error(exc: ValidationError) -> InputError:
    """First pydantic error as 'FLAG: what is allowed'."""
    e = exc.errors()[0]
    msg = e["msg"].removeprefix("Value error, ")
    if e["loc"]:
        return InputError(f"{_flag(str(e['loc'][0]))}: {msg}")
    return _value_error(ValueError(msg))


def _default(field: str):
    return RunConfig.model_fields[field].default


def _help(field: str) -> str:
    return RunConfig.model_fields[field].description or ""


def _version(value: bool) -> None:
    if value:
        out.print(f"benign {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """benign: benign, tempered or catastrophic overfitting of interpolating ReLU networks."""


def _fmt(x: float, digits: int = 3) -> str:
    return "—" if x != x else f"{x:.{digits}f}"


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
        {"convex": "rounds", "gd+convex": "steps+rounds"}.get(c.resolved_method, "steps"),
        "stop",
        "time s",
        *(["GD clean err", "GD ε_rel"] if c.resolved_method == "gd+convex" else []),
    ):
        table.add_column(name, justify="left" if name in ("stop", "95% interval") else "right")
    for r in exp.records:
        interval = "exact" if r.clean_method == "exact" else f"{r.clean_lo:.3f}–{r.clean_hi:.3f}"
        count = {"convex": f"{r.rounds}", "gd+convex": f"{r.steps}+{r.rounds}"}
        gd = [_fmt(r.gd_clean_error), f"{r.gd_eps_rel:.2g}"]
        table.add_row(
            str(r.seed),
            f"{r.flip_rate:.3f}",
            _fmt(r.train_error),
            _fmt(r.clean_error),
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


@app.command()
def run(
    dist: Annotated[str, typer.Option(help=_help("dist").capitalize() + ".")] = _default("dist"),
    d: Annotated[
        int | None,
        typer.Option("--d", help=_help("d") + f"; default {_default('d')}.", show_default=False),
    ] = None,
    m: Annotated[int, typer.Option("--m", help=_help("m"))] = _default("m"),
    p: Annotated[
        float, typer.Option("--p", help="Label-flip probability, in [0, 0.5).")
    ] = _default("p"),
    a: Annotated[float, typer.Option("--a", help=_help("a"))] = _default("a"),
    b: Annotated[float, typer.Option("--b", help=_help("b"))] = _default("b"),
    radius: Annotated[float, typer.Option(help=_help("radius"))] = _default("radius"),
    separation: Annotated[float, typer.Option(help=_help("separation"))] = _default("separation"),
    width: Annotated[int, typer.Option(help=_help("width"))] = _default("width"),
    depth: Annotated[int, typer.Option(help=_help("depth"))] = _default("depth"),
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help=_help("bias"))] = _default("bias"),
    param: Annotated[str, typer.Option(help="Parametrisation: standard or ntk.")] = _default(
        "param"
    ),
    init: Annotated[str, typer.Option(help="Initialisation: lecun, he or ntk.")] = _default("init"),
    init_scale: Annotated[float, typer.Option(help=_help("init_scale"))] = _default("init_scale"),
    center: Annotated[bool, typer.Option("--center/--no-center", help=_help("center"))] = _default(
        "center"
    ),
    loss: Annotated[str, typer.Option(help="logistic, exponential or square.")] = _default("loss"),
    step_rule: Annotated[
        str,
        typer.Option(
            help="constant (θ ← θ − η∇L), normalised (η/L(θ) with backtracking) or kernel "
            "(constant, η·m/λ_max of the initial empirical NTK: η < 2 is stable when lazy)."
        ),
    ] = _default("step_rule"),
    lr: Annotated[float, typer.Option(help=_help("lr"))] = _default("lr"),
    steps: Annotated[int, typer.Option(help=_help("steps"))] = _default("steps"),
    max_seconds: Annotated[float | None, typer.Option(help=_help("max_seconds"))] = None,
    loss_tol: Annotated[float, typer.Option(help=_help("loss_tol"))] = _default("loss_tol"),
    test_half_width: Annotated[float, typer.Option(help=_help("test_half_width"))] = _default(
        "test_half_width"
    ),
    method: Annotated[
        str,
        typer.Option(
            help="auto (lp where it applies, else convex for two-layer uncentred nets, else "
            "gd), gd (gradient descent from a random initialisation), lp (minimum-norm "
            "interpolant over a kink dictionary: two-layer nets with bias on the interval), "
            "convex (a KKT point of the margin problem from the convex program over "
            "activation patterns, seeded by random gates) or gd+convex (gradient descent, "
            "then the convex program from its network's patterns; both recorded)."
        ),
    ] = _default("method"),
    lp_grid: Annotated[int, typer.Option(help=_help("lp_grid"))] = _default("lp_grid"),
    gates: Annotated[int, typer.Option(help=_help("gates"))] = _default("gates"),
    rounds: Annotated[int, typer.Option(help=_help("rounds"))] = _default("rounds"),
    certify_every: Annotated[int, typer.Option(help=_help("certify_every"))] = _default(
        "certify_every"
    ),
    cert_eps: Annotated[float, typer.Option(help=_help("cert_eps"))] = _default("cert_eps"),
    cert_delta: Annotated[float, typer.Option(help=_help("cert_delta"))] = _default("cert_delta"),
    seeds: Annotated[int, typer.Option(help="Number of networks (seeds seed … seed+N−1).")] = 4,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    block: Annotated[
        int | None,
        typer.Option(
            help="Networks trained together in one ensemble "
            "(default: as many as keep ensemble·m·width ≤ 2^18, at most 16)."
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads for PyTorch and for the BLAS under NumPy and SciPy (default: all "
            "cores). Use 1 when running several benign processes at once: oversubscribed "
            "threads slow training down many times."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = _default("device"),
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = _default("dtype"),
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
    save: Annotated[
        Path | None,
        typer.Option(help="Write parameters and data to this .npz (see docs/npz-format.md)."),
    ] = None,
) -> None:
    """Train one interpolating ReLU network per seed and measure how it overfits."""
    settings = {k: v for k, v in locals().items() if k in RunConfig.model_fields and v is not None}
    try:
        config = RunConfig(**settings)
        config.check_device()
    except ValidationError as exc:
        raise _config_error(exc) from None
    except ValueError as exc:
        raise _value_error(exc) from None
    checks = (("seeds", seeds, 1), ("seed", seed, 0), ("block", block, 1), ("threads", threads, 1))
    for name, value, low in checks:
        if value is None:
            continue
        if value < low:
            raise InputError(f"{_flag(name)}: must be >= {low}, got {value}")
    if save is not None and not save.parent.is_dir():
        raise InputError(f"--save: directory {str(save.parent)!r} does not exist")
    if save is not None and save.is_dir():
        raise InputError(f"--save: {str(save)!r} is a directory; give a file name")

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
        solver = config.resolved_method == "convex"
        per_block = min(seeds, block or ensemble_block(config))
        total = per_block if solver else max(config.steps, 1)
        task = bar.add_task("training", total=total, unit="network" if solver else "step")

        def progress(bi: int, nb: int, step: int, active: int) -> None:
            what = "left to solve" if solver else "training"
            bar.update(
                task, completed=step, description=f"block {bi + 1}/{nb} · {active} networks {what}"
            )

        with threadpool_limits(threads):  # None: leave the BLAS pools as they are
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
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.print(_table(exp, wall))
        if save is not None:
            out.print(f"saved {save}")


class _Rate(ProgressColumn):
    """Runs per minute, over Rich's recent window."""

    def render(self, task) -> Text:
        return Text("– runs/min" if not task.speed else f"{60 * task.speed:.0f} runs/min")


def _default_store(config: Path) -> Path:
    return config.with_suffix(".sqlite")


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="Sweep file (TOML): fixed settings and grid.")],
    store: Annotated[
        Path | None,
        typer.Option(help="SQLite store to fill (default: the config's name with .sqlite)."),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            help="local (a process pool on this machine) or dask://HOST:PORT (a running "
            "dask.distributed scheduler)."
        ),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            help="local: worker processes (default: one per core; 1 runs in-process). Not used "
            "with dask: the cluster's workers compute."
        ),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Compute the failed runs again too.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the runs and the work to do; compute nothing."),
    ] = False,
) -> None:
    """Run a grid of networks from a sweep file into a store; run it again to resume.

    Every run has an id hashed from its settings and seed: what the store holds is never
    computed again, new grid points are added, and failed runs are kept (with their reason)
    unless --retry-failed. Each worker uses one core, and the stored values do not depend on
    the executor or the worker count.
    """
    try:
        sw = load_sweep(config)
        check_executor(executor)
    except (ConfigError, ExecutorError) as exc:
        raise InputError(str(exc)) from None
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    store = store or _default_store(config)
    try:
        if store.exists():
            check_store(store)
        elif not store.parent.is_dir():
            raise InputError(f"--store: directory {str(store.parent)!r} does not exist")
    except StoreError as exc:
        raise InputError(str(exc)) from None
    if dry_run:
        _print_plan(sw, store, retry_failed)
        return
    if executor == "local":  # dask workers check their own devices
        by_device = {run.config.device: run.config for run in sw.runs}
        try:
            for run_config in by_device.values():
                run_config.check_device()
        except ValueError as exc:
            raise InputError(f"{config.name}: {exc}") from None
    _run_sweep(sw, store, executor, workers, retry_failed, shlex.join(["benign", *sys.argv[1:]]))


def _run_sweep(
    sw, store: Path, executor: str, workers: int | None, retry_failed: bool, command: str
) -> None:
    """Compute a validated sweep into a checked store, with a progress bar."""
    try:
        ex = open_executor(executor, workers)
    except ExecutorError as exc:
        raise InputError(str(exc)) from None
    start = time.perf_counter()
    state = SweepProgress(0, 0, 0)
    try:
        with (
            Store(store, create=True) as st,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[failed]} failed"),
                console=err,
                transient=True,
                disable=not err.is_terminal,
            ) as bar,
        ):
            task = bar.add_task(f"sweep {sw.name}", total=None, failed=0)

            def progress(s: SweepProgress) -> None:
                nonlocal state
                state = s
                bar.update(task, completed=s.done, total=s.total, failed=s.failed)

            run_sweep(sw, st, ex, retry_failed, command, progress)
    except KeyboardInterrupt:
        err.print(
            f"interrupted: {state.done} of {state.total} runs stored in {store}; "
            "run the same command to resume",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except StoreError as exc:
        raise InputError(str(exc)) from None
    except ExecutorError as exc:
        err.print(
            f"benign: error: {exc}; {state.done} of {state.total} runs stored in {store}; "
            "run the same command to resume",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(1) from None
    finally:
        ex.close()
    wall = time.perf_counter() - start
    rate = f" ({60 * state.done / wall:.0f} runs/min)" if state.done else ""
    out.print(
        f"sweep {sw.name}: {state.done} runs computed, {state.failed} failed, in {wall:.1f} s"
        f"{rate} → {store}"
    )
    out.print(f"details: benign status {store}", soft_wrap=True)


def _print_plan(sw, store: Path, retry_failed: bool) -> None:
    """The dry run: runs, what the store already holds, blocks and work left."""
    stored = {}
    if store.exists():
        with Store(store, readonly=True) as st:
            stored = st.statuses(r.run_id for r in sw.runs)
    todo, left = work_left(sw, stored, retry_failed)
    blocks = sw.blocks()
    done = sum(s == "done" for s in stored.values())
    failed = sum(s == "failed" for s in stored.values())
    methods: dict[str, int] = {}
    for r in sw.runs:
        if r.run_id in todo:
            methods[r.config.resolved_method] = methods.get(r.config.resolved_method, 0) + 1
    out.print(
        f"sweep {sw.name}: {len(sw.runs)} runs in {len(blocks)} ensemble blocks "
        f"(up to {max(len(b.runs) for b in blocks)} networks each)"
    )
    for name, values in sw.axes().items():
        shown = ", ".join(map(str, values[:8])) + (", …" if len(values) > 8 else "")
        out.print(f"  axis {name}: {len(values)} values ({shown})")
    out.print(
        f"store {store}: {done} done, {failed} failed"
        + ("" if store.exists() else " (new)")
        + f" → {len(todo)} runs to compute in {len(left)} blocks"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(methods.items()))})" if methods else "")
    )
    work = sum(b.work() for b in left)
    out.print(
        f"work: at most {work:.3g} floating-point operations of gradient descent "
        "(step budget · 6 · m · parameters, per network)"
        + (" plus one linear program per lp run" if methods.get("lp") else ""),
        soft_wrap=True,
    )


@app.command()
def status(
    store: Annotated[Path, typer.Argument(help="SQLite store of a sweep.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Runs done / failed / left in a store, in all and by axis, and why runs failed."""
    try:
        st = store_status(store)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    if json_out:
        doc = {
            "name": st.name,
            "command": st.command,
            "totals": st.totals,
            "certified": st.certified,
            "failures": st.failures,
            "by_axis": {k: [[v, c] for v, c in rows] for k, rows in st.by_axis.items()},
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    t = st.totals
    out.print(
        f"{store}: sweep {st.name or '—'} · {sum(t.values())} runs: {t['done']} done, "
        f"{t['failed']} failed, {t['pending']} left · {st.certified} certified KKT"
    )
    if st.command:
        out.print(f"last command: {st.command}")
    if st.by_axis:
        table = Table(box=box.SIMPLE_HEAD)
        for name in ("axis", "value", "done", "failed", "left"):
            table.add_column(name, justify="left" if name in ("axis", "value") else "right")
        for name, rows in st.by_axis.items():
            for i, (value, c) in enumerate(rows):
                table.add_row(
                    name if i == 0 else "",
                    str(value),
                    str(c["done"]),
                    str(c["failed"]),
                    str(c["pending"]),
                )
        out.print(table)
    for reason, n in st.failures.items():
        out.print(f"failed: {n} × {reason}")


@app.command("export")
def export_cmd(
    store: Annotated[Path, typer.Argument(help="SQLite store of a sweep.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    table: Annotated[
        str, typer.Option(help="runs (one row per network), history or certificate_history.")
    ] = "runs",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: beside the store)."),
    ] = None,
) -> None:
    """Write a table of a store to CSV or Parquet (NaN and missing values are empty/null)."""
    if fmt not in FORMATS:
        raise InputError(f"--format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if table not in TABLES:
        raise InputError(f"--table: must be one of {', '.join(TABLES)}, got {table!r}")
    suffix = f".{fmt}" if table == "runs" else f".{table}.{fmt}"
    output = output or store.with_suffix(suffix)
    if not output.parent.is_dir():
        raise InputError(f"--output: directory {str(output.parent)!r} does not exist")
    if output.is_dir():
        raise InputError(f"--output: {str(output)!r} is a directory; give a file name")
    try:
        n = export(store, output, fmt, table)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    out.print(f"{n} rows of {table} → {output}")


@app.command()
def report(
    store: Annotated[Path, typer.Argument(help="SQLite store of a sweep (may still be filling).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file to write (default: beside the store)."),
    ] = None,
    all_networks: Annotated[
        bool,
        typer.Option(
            "--all-networks",
            help="Base the verdicts on every interpolating network, not only the certified ones.",
        ),
    ] = False,
) -> None:
    """Write the HTML report of a store: verdicts with their evidence, and figures.

    One self-contained page (figures embedded, also written as PNG and SVG beside it) with the
    command that reproduces the store.
    """
    output = output or store.with_suffix(".html")
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--output: must end in .html, got {str(output)!r}")
    if not output.parent.is_dir():
        raise InputError(f"--output: directory {str(output.parent)!r} does not exist")
    try:
        analysis, everyone = write_report(store, output, certified_only=not all_networks)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    others = {g.label: g for g in everyone.groups} if everyone else {}
    for g in analysis.groups:
        line = f"{g.label}: {g.verdict} ({g.reason})"
        if g.label in others:
            o = others[g.label]
            line += f"; with uncertified networks: {o.verdict} ({o.reason})"
        out.print(line, soft_wrap=True, markup=False)
    out.print(f"report → {output}", soft_wrap=True)


PRESETS: tuple[str, ...] = ("default", "lazy", "quick")


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to put the store and the report.")
    ] = Path("benign-demo"),
    preset: Annotated[
        str,
        typer.Option(
            help="default: two-layer nets from d = 1 to 500, every one a certified KKT point (384 "
            "runs, about 3 minutes on two "
            "cores); lazy: deep nets in the lazy regime on separated data and MNIST (132 runs, "
            "about 3 minutes); quick: a 200-run smoke sweep (seconds)."
        ),
    ] = "default",
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core).")
    ] = None,
) -> None:
    """The main job: a preset sweep and its report.

    Copies the preset's sweep file to DIR/PRESET.toml, fills DIR/PRESET.sqlite (resuming if
    it is there), then writes DIR/report.html (for lazy, with verdicts over every
    interpolating network: the KKT certificate does not apply to centred nets).
    """
    if preset not in PRESETS:
        raise InputError(f"--preset: must be one of {', '.join(PRESETS)}, got {preset!r}")
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--dir: {str(directory)!r} is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / f"{preset}.toml"
    config.write_text((resources.files("benign") / "presets" / f"{preset}.toml").read_text())
    sweep(config, store=None, executor="local", workers=workers, retry_failed=False, dry_run=False)
    # the KKT certificate does not apply to the lazy preset's centred nets: judge them all
    every = preset == "lazy"
    report(directory / f"{preset}.sqlite", directory / "report.html", all_networks=every)


@app.command()
def ntk(
    n: Annotated[int, typer.Option("--n", help="Number of points.")] = 1000,
    d: Annotated[int, typer.Option("--d", help="Input dimension.")] = 20,
    depth: Annotated[int, typer.Option(help="Weight layers (2 = the two-layer net).")] = 5,
    width: Annotated[
        int, typer.Option(help="Width n of the net the kernel belongs to (its fan-ins).")
    ] = 1024,
    param: Annotated[str, typer.Option(help="Parametrisation: ntk or standard.")] = "ntk",
    init: Annotated[str, typer.Option(help="Initialisation gains: he, ntk or lecun.")] = "he",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Hidden-layer biases.")] = True,
    dist: Annotated[str, typer.Option(help="Points: sphere or gaussian.")] = "sphere",
    seed: Annotated[int, typer.Option(help="Seed of the points.")] = 0,
    scaling: Annotated[
        bool,
        typer.Option("--scaling/--no-scaling", help="Also λ_min against n, d and depth."),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Smallest eigenvalue of the analytic NTK on n random points, and how it scales.

    Float64, symmetrised; negative eigenvalues are reported. Tables of λ_min against n, d and
    depth unless --no-scaling.
    """
    if not 1 <= n <= MAX_KERNEL_POINTS:
        raise InputError(
            f"--n: must lie in [1, {MAX_KERNEL_POINTS}] (the n×n kernel takes 8·n² bytes and "
            f"its eigenvalues O(n³) time), got {n}"
        )
    if seed < 0:
        raise InputError(f"--seed: must be >= 0, got {seed}")
    if dist not in ("sphere", "gaussian"):
        raise InputError(f"--dist: must be sphere or gaussian, got {dist!r}")
    try:
        ReLUNet(d, width, depth, bias, param, init)
        Distribution(dist, d)
    except ValueError as exc:
        raise _value_error(exc) from None

    def measure(n_: int, d_: int, depth_: int) -> dict:
        net_ = ReLUNet(d_, width, depth_, bias, param, init)
        x = Distribution(dist, d_).sample(n_, rng_for(seed, "data"))
        t0 = time.perf_counter()
        spec = smallest_eigenvalue(analytic_ntk(net_, x))
        return {
            "n": n_,
            "d": d_,
            "depth": depth_,
            "lambda_min": spec.lambda_min,
            "lambda_max": spec.lambda_max,
            "negative": spec.negative,
            "seconds": time.perf_counter() - t0,
        }

    main_row = measure(n, d, depth)
    rows = [main_row]
    if scaling:
        for n_ in sorted({max(1, n // 8), max(1, n // 4), max(1, n // 2)} - {n}):
            rows.append(measure(n_, d, depth))
        for d_ in sorted({max(1, d // 4), max(1, d // 2), 2 * d} - {d}):
            rows.append(measure(n, d_, depth))
        for depth_ in range(2, depth + 3):
            if depth_ != depth:
                rows.append(measure(n, d, depth_))
    if json_out:
        doc = {
            "net": {"width": width, "param": param, "init": init, "bias": bias},
            "dist": dist,
            "seed": seed,
            "rows": rows,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out.print(
        f"analytic NTK, {dist} points, n={n}, d={d}, depth {depth}, width {width}, {param} "
        f"parametrisation, {init} gains, {'bias' if bias else 'no bias'}: "
        f"λ_min = {main_row['lambda_min']:.6g}, λ_max = {main_row['lambda_max']:.6g}, "
        f"{main_row['negative']} negative eigenvalues ({main_row['seconds']:.2f} s)",
        soft_wrap=True,
    )
    if scaling:
        table = Table(
            title="λ_min against n, d and depth (one changed at a time)", box=box.SIMPLE_HEAD
        )
        for name in ("n", "d", "depth", "λ_min", "λ_max", "negative", "time s"):
            table.add_column(name, justify="right")
        for r in sorted(rows, key=lambda r: (r["n"], r["d"], r["depth"])):
            table.add_row(
                str(r["n"]),
                str(r["d"]),
                str(r["depth"]),
                f"{r['lambda_min']:.5g}",
                f"{r['lambda_max']:.5g}",
                str(r["negative"]),
                f"{r['seconds']:.2f}",
            )
        out.print(table)


@app.command("separation")
def separation_cmd(
    dataset: Annotated[
        str, typer.Option(help="mnist (5,000 images, bundled), digits, or separated (sampled).")
    ] = "mnist",
    train: Annotated[
        int | None,
        typer.Option(
            help="Points in the training set (a seeded shuffle; default all); the "
            "rest is the test set."
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="separated: number of points.")] = 2000,
    d: Annotated[int, typer.Option("--d", help="separated: dimension.")] = 20,
    sep: Annotated[float, typer.Option(help="separated: the separation of the caps.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the shuffle (and of the sample).")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Smallest ℓ2 and ℓ∞ distance between points of different clean labels.

    Images are scaled to unit norm; the classes are digits 0–4 against 5–9. Train–train, and
    test–train when --train leaves a test set.
    """
    if seed < 0:
        raise InputError(f"--seed: must be >= 0, got {seed}")
    if dataset not in (*DATASETS, "separated"):
        allowed = ", ".join((*DATASETS, "separated"))
        raise InputError(f"--dataset: must be one of {allowed}, got {dataset!r}")
    try:
        if dataset == "separated":
            if n < 2:
                raise InputError(f"--n: must be >= 2, got {n}")
            dist = Distribution("separated", d, separation=sep)
            x = dist.sample(n, rng_for(seed, "data"))
            labels = dist.clean_label(x)
        else:
            x, labels = load_dataset(dataset)
    except ValueError as exc:
        raise _value_error(ValueError(str(exc).replace("separation:", "sep:"))) from None
    if train is not None and not 1 <= train <= len(x):
        raise InputError(f"--train: must lie in [1, {len(x)}], got {train}")
    order = rng_for(seed, "test").permutation(len(x))
    cut = len(x) if train is None else train
    tr, te = order[:cut], order[cut:]
    t0 = time.perf_counter()
    within = separation(x[tr], labels[tr])
    across = separation(x[tr], labels[tr], x[te], labels[te]) if len(te) else None
    seconds = time.perf_counter() - t0
    doc = {
        "dataset": dataset,
        "points": len(x),
        "dimension": x.shape[1],
        "train": len(tr),
        "test": len(te),
        "positive": int((labels > 0).sum()),
        "negative": int((labels <= 0).sum()),
        "train_train": {"l2": within.l2, "linf": within.linf},
        "test_train": {"l2": across.l2, "linf": across.linf} if across else None,
        "seconds": seconds,
    }
    if json_out:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    out.print(
        f"{dataset}: {len(x)} points in R^{x.shape[1]} ({doc['positive']} labelled +1, "
        f"{doc['negative']} labelled −1), train {len(tr)}, test {len(te)}",
        soft_wrap=True,
    )
    out.print(f"train–train separation: ℓ2 {within.l2:.6g}, ℓ∞ {within.linf:.6g}")
    if across:
        out.print(f"test–train separation:  ℓ2 {across.l2:.6g}, ℓ∞ {across.linf:.6g}")
    out.print(f"({seconds:.1f} s)")


def main() -> None:
    """Console entry point: one-line errors with exit code 2 for bad input."""
    try:
        rv = app(standalone_mode=False)
    except (typer.TyperException, InputError) as exc:
        msg = exc.format_message() if isinstance(exc, typer.TyperException) else str(exc)
        if msg:  # an empty message: the help was shown for a bare `benign`
            print(f"benign: error: {msg}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
