"""The sweep commands: `sweep`, `status`, `export`, `report`, and `demo`, the main job."""

import math
import os
import shlex
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
)
from rich.table import Table

from benign._stop import stop_at_once
from benign.cli.common import (
    InputError,
    StoppedError,
    err,
    marked_blocks,
    out,
    print_json,
    write_block,
)
from benign.demo import PRESETS, prepare_demo
from benign.machine import describe, load_average
from benign.regimes import analyse
from benign.report import demo_table, write_report
from benign.sweep.config import ConfigError, load_sweep, network_seconds, network_work
from benign.sweep.store import (
    FORMATS,
    TABLES,
    DamagedStoreError,
    DiskFullError,
    Store,
    StoreError,
    check_store,
    export,
    recover,
    store_status,
)

if TYPE_CHECKING:
    from types import ModuleType

    from benign.regimes import Analysis
    from benign.sweep.execute import SweepProgress


def _execute() -> "ModuleType":
    """benign.sweep.execute, imported by the commands that compute (PyTorch: seconds), not by
    status, export, recover or report; an interrupt while it loads is one line."""
    with stop_at_once():
        from benign.sweep import execute
    return execute


LOG_SECONDS = 30.0  # stderr not a terminal: a progress line at least this often …
LOG_FRACTION = 0.1  # … and at every tenth of the runs


def failure_summary(failures: dict[str, int], most: int = 3) -> str:
    """The failure reasons, most frequent first: '30 × no_interpolation, 2 × overflow'."""
    items = sorted(failures.items(), key=lambda item: (-item[1], item[0]))
    shown = [f"{n} × {reason if len(reason) <= 80 else reason[:79] + '…'}" for reason, n in items]
    more = f", {len(items) - most} other reasons" if len(items) > most else ""
    return ", ".join(shown[:most]) + more


class _SweepProgress:
    """A sweep's progress on stderr: a bar on a terminal; elsewhere (a batch job's log, CI) a
    plain line at every tenth of the runs and at least every :data:`LOG_SECONDS`. Both count
    the runs finished (stored, or fitted in a block still in progress); the rate and the time
    left of both, and of the final line, come from one clock, started when the computing
    starts."""

    def __init__(self, name: str):
        self.name = name
        self.state = _execute().SweepProgress(0, 0, 0)
        self.start: float | None = None  # the first update: planned, computing begins
        self.last = 0.0  # the latest update: the rate is of the runs finished by then
        self.logged: tuple[float, int] = (0.0, -1)  # when the last line was written, and done
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} · {task.fields[left]} · {task.fields[failed]}"),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.heartbeat = threading.Thread(target=self._beat, name="progress-log", daemon=True)

    def __enter__(self) -> "_SweepProgress":
        self.bar.__enter__()
        rate, left, failed = self._fields()
        self.task = self.bar.add_task(
            f"sweep {self.name}", total=None, rate=rate, left=left, failed=failed
        )
        if not err.is_terminal:
            self.heartbeat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        if self.heartbeat.is_alive():
            self.heartbeat.join()
        self.bar.__exit__(None, None, None)

    def update(self, s: "SweepProgress") -> None:
        """A new state (run_sweep's callback)."""
        with self.lock:
            self.state, self.last = s, time.perf_counter()
            if self.start is None:
                self.start = self.last
            rate, left, failed = self._fields()
            self.bar.update(
                self.task, completed=s.finished, total=s.total, rate=rate, left=left, failed=failed
            )
            step = max(1, math.ceil(LOG_FRACTION * s.total))
            if not err.is_terminal and (s.finished - self.logged[1] >= step or s.done == s.total):
                self._log()

    def elapsed(self) -> float:
        """Seconds from the start of the computing to the latest update."""
        return 0.0 if self.start is None else self.last - self.start

    def rate(self) -> float:
        """Runs finished per minute of computing."""
        return 60 * self.state.finished / self.elapsed() if self.state.finished else 0.0

    def failures(self) -> str:
        s = self.state
        return f"{s.failed} failed" + (f" ({failure_summary(s.failures)})" if s.failed else "")

    def _fields(self) -> tuple[str, str, str]:
        """The rate, the time left and the failures, as the bar and the log lines show them."""
        s, rate = self.state, self.rate()
        seconds = s.left(self.elapsed())
        left = "– left" if seconds is None else f"about {_duration(seconds)} left"
        left = "done" if s.total and s.done == s.total else left
        return (f"{rate:.0f} runs/min" if rate else "– runs/min"), left, self.failures()

    def _log(self) -> None:
        s, (rate, left, failed) = self.state, self._fields()
        now, start = time.perf_counter(), self.start or 0.0
        share = f" ({100 * s.finished / s.total:.0f}%)" if s.total else ""
        err.print(
            f"sweep {self.name}: {s.finished} / {s.total} runs fitted{share}, {s.done} stored"
            f" · {_duration(now - start)}"
            f" · {rate} · {left} · {failed}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        self.logged = (now, s.finished)

    def _beat(self) -> None:
        """Between results, a line every :data:`LOG_SECONDS`: the log shows life."""
        while not self.stopped.wait(min(1.0, LOG_SECONDS / 4)):
            with self.lock:
                if self.start is not None and time.perf_counter() - self.logged[0] >= LOG_SECONDS:
                    self._log()


def _duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def sweep(
    config: Annotated[
        Path,
        typer.Argument(help="Sweep file (TOML): fixed settings and grid.", metavar="SWEEP.toml"),
    ],
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
    _sweep(config, store, executor, workers, retry_failed, dry_run)


def _sweep(
    config: Path,
    store: Path | None,
    executor: str,
    workers: int | None,
    retry_failed: bool,
    dry_run: bool,
) -> tuple[int, float]:
    """Check a sweep file, its executor and its store, then plan it or compute it; the runs
    computed and the seconds it took."""
    execute = _execute()
    try:
        sw = load_sweep(config)
        execute.check_executor(executor)
    except (ConfigError, execute.ExecutorError) as exc:
        raise InputError(str(exc)) from None
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")
    store = store or config.with_suffix(".sqlite")
    try:
        if store.exists():
            check_store(store)
        elif not store.parent.is_dir():
            raise InputError(f"--store: directory {str(store.parent)!r} does not exist")
    except StoreError as exc:
        raise InputError(str(exc)) from None
    if dry_run:
        _print_plan(sw, store, retry_failed)
        return 0, 0.0
    if executor == "local":  # dask workers check their own devices and memory
        _check_machine(sw, config.name, workers or os.cpu_count() or 1)
    return _run_sweep(
        sw, store, executor, workers, retry_failed, shlex.join(["benign", *sys.argv[1:]])
    )


def _check_machine(sw, name: str, workers: int) -> None:
    """:func:`check_machine`, its refusal one line naming the sweep file."""
    try:
        _execute().check_machine(sw, workers)
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None


def _run_sweep(
    sw, store: Path, executor: str, workers: int | None, retry_failed: bool, command: str
) -> tuple[int, float]:
    """Compute a validated sweep into a checked store, with a progress bar; the runs computed
    and the seconds it took."""
    execute = _execute()
    try:
        ex = execute.open_executor(executor, workers)
    except execute.ExecutorError as exc:
        raise InputError(str(exc)) from None
    shown = _SweepProgress(sw.name)
    try:
        with Store(store, create=True) as st, shown, execute.sigterm_stops():
            execute.run_sweep(sw, st, ex, retry_failed, command, shown.update)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, execute.Terminated)
        raise StoppedError(
            f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: {shown.state.done} of "
            f"{shown.state.total} runs stored in {store}; run the same command to resume",
            143 if terminated else 130,
        ) from None
    except (DiskFullError, execute.ExecutorError) as exc:  # what was committed is kept: resume
        first = "free some space and " if isinstance(exc, DiskFullError) else ""
        err.print(
            f"benign: error: {exc}; {shown.state.done} of {shown.state.total} runs stored in "
            f"{store}; {first}run the same command to resume",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(1) from None
    except StoreError as exc:
        raise InputError(str(exc)) from None
    finally:
        ex.close()
    done, rate = shown.state.done, shown.rate()
    out.print(
        f"sweep {sw.name}: {done} runs computed, {shown.failures()}, in {shown.elapsed():.1f} s"
        + (f" ({rate:.0f} runs/min)" if done else "")
        + f" → {store}",
        soft_wrap=True,
        markup=False,
    )
    _print_verdicts(store)
    out.print(f"details: benign status {store}, benign report {store}", soft_wrap=True)
    return done, shown.elapsed()


def _print_verdicts(store: Path) -> None:
    """A line per group of the store's networks: its regime verdict on the certified networks
    (docs/regimes.md), with why; nothing when no group has networks to judge."""

    try:
        groups = analyse(store).groups
    except (StoreError, ValueError):  # nothing a verdict can be read from
        return
    judged = [g for g in groups if g.judged]
    for g in judged:
        out.print(f"  {g.label}: {g.verdict} ({g.reason})", soft_wrap=True, markup=False)
    if len(judged) < len(groups):
        out.print(
            f"  {len(groups) - len(judged)} other groups: no certified network to judge (the "
            "report also judges every interpolating network)",
            soft_wrap=True,
        )


def _print_plan(sw, store: Path, retry_failed: bool) -> None:
    """The dry run: runs, what the store already holds, blocks and work left. For a new store
    it counts from the grid points, making no run."""
    shapes = sw.block_shapes()
    out.print(
        f"sweep {sw.name}: {sw.size} runs in {len(shapes)} ensemble blocks "
        f"(up to {max(size for _, size in shapes)} networks each)"
    )
    for name, values in sw.axes().items():
        shown = ", ".join(map(str, values[:8])) + (", …" if len(values) > 8 else "")
        out.print(f"  axis {name}: {len(values)} values ({shown})")
    methods: Counter[str] = Counter()
    if store.exists():
        with Store(store, readonly=True) as st:
            stored = st.statuses(r.run_id for r in sw.runs)
        todo, left = _execute().work_left(sw, stored, retry_failed)
        methods.update(r.config.resolved_method for r in sw.runs if r.run_id in todo)
        counts = Counter(stored.values())
        to_compute, blocks_left = len(todo), len(left)
        # a block recomputed for its missing runs costs all of its runs
        work, seconds = sum(b.work() for b in left), sum(b.seconds() for b in left)
    else:
        batches = sw.batches()  # a method and a cost per network, whatever their p
        for config, n in batches:
            methods[config.resolved_method] += n
        counts, to_compute, blocks_left = Counter(), sw.size, len(shapes)
        work = sum(n * network_work(config) for config, n in batches)
        seconds = sum(n * network_seconds(config) for config, n in batches)
    out.print(
        f"store {store}: {counts['done']} done, {counts['failed']} failed"
        + ("" if store.exists() else " (new)")
        + f" → {to_compute} runs to compute in {blocks_left} blocks"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(methods.items()))})" if methods else "")
    )
    solvers = sorted(k for k in methods if k in ("lp", "convex", "gd+convex"))
    out.print(
        f"time: about {_duration(seconds)} on one core (divide by the workers), estimated"
        + (
            f" (gradient descent: at most {work:.3g} floating-point operations, its step budget"
            " · 6 · m · parameters per network)"
            if work
            else ""
        )
        + (f"; {', '.join(solvers)}: from the times measured by m, within ~3×" if solvers else ""),
        soft_wrap=True,
    )


def _a_file(store: Path) -> Path:
    """A STORE argument that is a directory ('.', '/') refused before any default output is
    named after it."""
    if store.is_dir():
        raise typer.BadParameter(f"{str(store)!r} is a directory, not a store")
    return store


def status(
    store: Annotated[
        Path, typer.Argument(help="SQLite store of a sweep.", callback=_a_file, metavar="STORE")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Check the whole store (every page and index; slower) before counting: a "
            "damaged store is refused, exit 2.",
        ),
    ] = False,
) -> None:
    """Runs done / failed / left in a store, in all and by axis, and why runs failed."""
    try:
        st = store_status(store, full_check=check)
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
        print_json(doc)
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
        shown = f"{reason}"[:200] + ("…" if len(f"{reason}") > 200 else "")
        out.print(f"failed: {n} × {shown}", markup=False)


def export_cmd(
    store: Annotated[
        Path, typer.Argument(help="SQLite store of a sweep.", callback=_a_file, metavar="STORE")
    ],
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


def recover_cmd(
    store: Annotated[
        Path,
        typer.Argument(help="SQLite store of a sweep, damaged.", callback=_a_file, metavar="STORE"),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="New store to write (default: STORE.recovered.sqlite)."
        ),
    ] = None,
) -> None:
    """Copy the readable rows of a damaged store into a new store.

    Every row is looked up by its rowid; a run is kept only if its settings still hash to its
    id, and the histories and parameters of runs that were lost are left out. Resume the
    sweep on the new store to compute the lost runs again. A store that is not damaged is left
    as it is.
    """
    output = output or store.with_suffix(".recovered.sqlite")
    if not output.parent.is_dir():
        raise InputError(f"--output: directory {str(output.parent)!r} does not exist")
    try:
        check_store(store, full=True)
    except DamagedStoreError:
        pass
    except StoreError as exc:
        raise InputError(str(exc)) from None
    else:
        out.print(f"{store}: not damaged (integrity_check: ok); nothing to recover")
        return
    try:
        counts = recover(store, output)
        check_store(output, full=True)
    except StoreError as exc:
        raise InputError(str(exc)) from None
    for table, (copied, total) in counts.items():
        if table == "meta":
            continue
        of = "" if total is None else f" of {total}"
        out.print(f"  {table}: {copied}{of} rows copied" + (" (not countable)" * (total is None)))
    out.print(
        f"recovered → {output}; to resume, replace the store with it (mv {output} {store}) "
        "and run the sweep again: its lost runs are computed again",
        soft_wrap=True,
    )


def report(
    store: Annotated[
        Path,
        typer.Argument(
            help="SQLite store of a sweep (may still be filling).",
            callback=_a_file,
            metavar="STORE",
        ),
    ],
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
    _report(store, output, all_networks)


def _report(store: Path, output: Path | None, all_networks: bool) -> "Analysis":
    """Write the report of a store and print its verdicts; the analysis they come from."""
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
        o = others.get(g.label)
        if o is not None and (o.verdict, o.reason) != (g.verdict, g.reason):
            line += f"; with uncertified networks: {o.verdict} ({o.reason})"
        out.print(line, soft_wrap=True, markup=False)
    for t in analysis.trends:
        out.print(f"{t.label}, as m grows: {t.verdict} ({t.reason})", soft_wrap=True, markup=False)
    out.print(f"report → {output}", soft_wrap=True)
    return analysis


DEMO_MARKERS = ("<!-- demo:table -->\n", "<!-- /demo:table -->")
TIMES_MARKERS = ("<!-- demo:times -->\n", "<!-- /demo:times -->")


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to put the store and the report.")
    ] = Path("benign-demo"),
    preset: Annotated[
        str,
        typer.Option(
            help="default: two-layer nets from d = 1 to 500, every one a certified KKT point (384 "
            "runs, about 1–2 minutes on two "
            "cores); lazy: deep nets in the lazy regime on separated data and MNIST (132 runs, "
            "about 3 minutes); quick: a 200-run smoke sweep (seconds)."
        ),
    ] = "default",
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core).")
    ] = None,
    write: Annotated[
        list[Path] | None,
        typer.Option(
            help="Also write the groups' table (L at each p, α, verdict, certified) between "
            "the <!-- demo:table --> … <!-- /demo:table --> markers of this file (the "
            "README's), and this run's times, machine and load between <!-- demo:times --> … "
            "<!-- /demo:times -->."
        ),
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
    for markers in (DEMO_MARKERS, TIMES_MARKERS):
        marked_blocks(write or [], markers)
    plan = prepare_demo(preset, directory)
    load, start = load_average(), time.perf_counter()
    computed, swept = _sweep(
        plan.sweep_file, plan.store, "local", workers, retry_failed=False, dry_run=False
    )
    analysis = _report(plan.store, plan.report, plan.all_networks)
    if write:
        stored = analysis.counts["done"] + analysis.counts["failed"] - computed
        pool = workers or os.cpu_count() or 1
        before = f" ({stored} more were in the store already)" if stored else ""
        times = (
            f"Measured by `benign demo --write` on {datetime.now(UTC):%Y-%m-%d}: the sweep "
            f"computed {computed} networks in {swept:.0f} s with {pool} worker"
            f"{'s' * (pool > 1)}{before}, the "
            f"whole command took {time.perf_counter() - start:.0f} s; {describe(load)}.\n"
        )
        for path in write:
            write_block(path, DEMO_MARKERS, demo_table(analysis))
            write_block(path, TIMES_MARKERS, times)
            out.print(f"groups' table and times → {path}", soft_wrap=True)
