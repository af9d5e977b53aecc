"""The `benign` command line: a thin face over run configuration, training and measures.

A command's module (and PyTorch, SciPy, Matplotlib with it: seconds) is imported only when
that command runs: ``benign --help`` and ``benign --version`` import none of them."""

import importlib
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from benign import __version__
from benign._stop import stop_at_once

_value_type = TyperOption.display_type_rich


def _type_of_values(self: TyperOption, ctx: Any) -> str | None:
    """The type a help panel shows beside an option: none for a flag (--json, --help), which
    takes no value (Typer shows <bool> there, as if it took one)."""
    return None if self.is_flag else _value_type(self, ctx)


TyperOption.display_type_rich = _type_of_values  # type: ignore[method-assign]

# name → (module, function, the first paragraph of its help: tests/test_cli.py checks it is)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "benign.cli.run",
        "run",
        "Train one interpolating ReLU network per seed and measure how it overfits.",
    ),
    "sweep": (
        "benign.cli.sweep",
        "sweep",
        "Run a grid of networks from a sweep file into a store; run it again to resume.",
    ),
    "status": (
        "benign.cli.sweep",
        "status",
        "Runs done / failed / left in a store, in all and by axis, and why runs failed.",
    ),
    "export": (
        "benign.cli.sweep",
        "export_cmd",
        "Write a table of a store to CSV or Parquet (NaN and missing values are empty/null).",
    ),
    "recover": (
        "benign.cli.sweep",
        "recover_cmd",
        "Copy the readable rows of a damaged store into a new store.",
    ),
    "report": (
        "benign.cli.sweep",
        "report",
        "Write the HTML report of a store: verdicts with their evidence, and figures.",
    ),
    "demo": ("benign.cli.sweep", "demo", "The main job: a preset sweep and its report."),
    "reproduce": (
        "benign.cli.reproduce",
        "reproduce",
        "Run a claim of the papers as an experiment and judge it: agrees, disagrees or "
        "inconclusive.",
    ),
    "kkt-points": (
        "benign.cli.tools",
        "kkt_points_cmd",
        "Distinct certified KKT points of one sample, not only the one a solver lands on.",
    ),
    "ntk": (
        "benign.cli.tools",
        "ntk",
        "Smallest eigenvalue of the analytic NTK on n random points, and how it scales.",
    ),
    "separation": (
        "benign.cli.tools",
        "separation_cmd",
        "Smallest ℓ2 and ℓ∞ distance between points of different clean labels.",
    ),
}
SETTINGS = {"add_completion": False, "pretty_exceptions_enable": False}


def load_command(name: str) -> TyperCommand:
    """The click command ``name``, its module imported now."""
    module, function, _ = COMMANDS[name]
    with stop_at_once():  # an interrupt while it loads: one line
        loaded = importlib.import_module(module)
    one = typer.Typer(**SETTINGS, rich_markup_mode="markdown")  # type: ignore[arg-type]
    one.command(name)(getattr(loaded, function))
    command = typer.main.get_command(one)
    assert isinstance(command, TyperCommand)
    return command


class _LazyGroup(TyperGroup):
    """Commands loaded when they are run (or asked for their own help); the list of commands
    in ``benign --help`` comes from :data:`COMMANDS` alone."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | None:  # type: ignore[override]
        if cmd_name not in COMMANDS:
            return None
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name][2])  # listed, not loaded

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        """The command to run, loaded."""
        name, command, rest = super().resolve_command(ctx, args)
        return name, (load_command(name) if name in COMMANDS else command), rest


app = typer.Typer(
    cls=_LazyGroup,
    help="Measure, certify and explain how interpolating ReLU networks overfit noisy data.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    **SETTINGS,  # type: ignore[arg-type]
)


def _version(value: bool) -> None:
    if value:
        print(f"benign {__version__}")
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


def main() -> None:
    """Console entry point: one-line errors with exit code 2 for bad input."""
    from benign.cli.common import InputError, StoppedError

    try:
        rv = app(standalone_mode=False)
    except (typer.TyperException, InputError) as exc:
        msg = exc.format_message() if isinstance(exc, typer.TyperException) else str(exc)
        if msg:  # an empty message: the help was shown for a bare `benign`
            print(f"benign: error: {msg}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C outside a sweep, e.g. while starting
        rv = INTERRUPTED
    except StoppedError as exc:  # a sweep that said what it kept
        print(exc, file=sys.stderr)
        sys.exit(exc.code)
    except Exception as exc:
        from benign.sweep.store import DatabaseError  # SQLite's errors, named by the store

        if not isinstance(exc, OSError | DatabaseError):
            raise
        message = fault(exc)
        if message is not None:
            print(f"benign: error: {message}", file=sys.stderr)
            sys.exit(1)
        if not isinstance(exc, DatabaseError):
            raise
        # damage that PRAGMA quick_check passed and a read then met
        print(
            f"benign: error: the store is damaged ({' '.join(str(exc).split())}); copy its "
            "readable rows into a new store with: benign recover STORE",
            file=sys.stderr,
        )
        sys.exit(2)
    if rv == INTERRUPTED:  # typer's answer to a KeyboardInterrupt inside a command
        print("benign: interrupted", file=sys.stderr)
    sys.exit(rv if isinstance(rv, int) else 0)


INTERRUPTED = 130  # the exit code of Ctrl-C; no command returns it otherwise


def fault(exc: BaseException) -> str | None:
    """One line for a file system that refused a command (read-only, full, no permission: the
    input was valid, exit code 1), or None for any other error, which stays a traceback."""
    from benign.sweep.store import file_system_fault

    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}; nothing was left half-written"
    if file_system_fault(exc):
        return f"{exc}; nothing was left half-written"
    return None
