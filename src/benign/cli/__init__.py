"""The `benign` command line: a thin face over run configuration, training and measures."""

import sys
from typing import Annotated

import typer

from benign import __version__
from benign.cli import run, sweep, tools
from benign.cli.common import InputError, out

app = typer.Typer(
    help="Measure, certify and explain how interpolating ReLU networks overfit noisy data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


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


app.command()(run.run)
app.command()(sweep.sweep)
app.command()(sweep.status)
app.command("export")(sweep.export_cmd)
app.command("recover")(sweep.recover_cmd)
app.command()(sweep.report)
app.command()(sweep.demo)
app.command()(tools.ntk)
app.command("separation")(tools.separation_cmd)


def main() -> None:
    """Console entry point: one-line errors with exit code 2 for bad input."""
    try:
        rv = app(standalone_mode=False)
    except (typer.TyperException, InputError) as exc:
        msg = exc.format_message() if isinstance(exc, typer.TyperException) else str(exc)
        if msg:  # an empty message: the help was shown for a bare `benign`
            print(f"benign: error: {msg}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C outside a sweep, e.g. while starting
        print("benign: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
