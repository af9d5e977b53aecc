"""What the commands share: the consoles, JSON output, and bad input as one line naming the
flag."""

import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pydantic import ValidationError

UNLIMITED = 100_000  # the width of stdout when it is not a terminal and COLUMNS is not set


def _columns() -> int | None:
    """The COLUMNS environment variable, when it is a positive integer."""
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


# not a terminal: COLUMNS wide, or nothing wraps or is cut
out = Console() if sys.stdout.isatty() else Console(width=_columns() or UNLIMITED)
err = Console(stderr=True)


def table_width() -> int | None:
    """The width a table must fit on stdout: the terminal's (Rich honours COLUMNS there), or
    COLUMNS when stdout is not a terminal; None (any width) otherwise."""
    return out.width if out.is_terminal else _columns()


@dataclass(frozen=True)
class Column:
    """A column of a :func:`fitted_table`: its header, its place in the order of columns
    dropped when the table must narrow (the largest ``drop`` goes first; 0 never) and its
    alignment."""

    name: str
    drop: int = 0
    left: bool = False


def fitted_table(
    columns: list[Column], rows: list[list[str]], width: int | None, title: str, caption: str
) -> Table:
    """The table of ``rows`` with as many of ``columns`` as fit ``width`` (None: all), the
    droppable ones left out largest ``drop`` first; cells are never cut or wrapped, and the
    caption names the columns left out."""
    probe = Console(width=UNLIMITED, file=io.StringIO())
    shown = list(range(len(columns)))
    while True:
        table = Table(title=title, box=box.SIMPLE_HEAD)
        for i in shown:
            c = columns[i]
            table.add_column(c.name, justify="left" if c.left else "right", no_wrap=True)
        for row in rows:
            table.add_row(*(row[i] for i in shown))
        droppable = [i for i in shown if columns[i].drop]
        if width is None or probe.measure(table).maximum <= width or not droppable:
            break
        shown.remove(max(droppable, key=lambda i: columns[i].drop))
    left_out = [c.name for i, c in enumerate(columns) if i not in shown]
    if left_out:
        caption += (
            f" · not shown in {width} columns: {', '.join(left_out)} (a wider terminal, "
            "COLUMNS, or --format csv shows them)"
        )
    table.caption, table.caption_justify = caption, "left"
    return table


class InputError(Exception):
    """Bad input: reported as one line naming the flag, exit code 2."""


class StoppedError(Exception):
    """A command stopped by a signal, with the line that says what was kept and the exit
    code (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.code = code


def flag(field: str) -> str:
    """The option of a setting or parameter: ``init_scale`` → ``--init-scale``."""
    return "--" + field.replace("_", "-")


def value_error(exc: ValueError) -> InputError:
    """A 'field: message' ValueError as '--field: message'."""
    field, sep, rest = str(exc).partition(": ")
    return InputError(f"{flag(field)}: {rest}" if sep and field.isidentifier() else str(exc))


def config_error(exc: "ValidationError") -> InputError:
    """The first error of a run configuration as 'FLAG: what is allowed'."""
    from benign.config import describe

    field, msg = describe(exc)
    return InputError(f"{flag(field)}: {msg}" if field else msg)


def print_json(doc: dict) -> None:
    """Write ``doc`` to stdout as indented JSON, NaN and infinities as null (strict JSON)."""
    from benign.records import json_ready  # the settings' types: not for --help, --version

    sys.stdout.write(json.dumps(json_ready(doc), indent=2, allow_nan=False) + "\n")


def marked_blocks(paths: list[Path], markers: tuple[str, str]) -> None:
    """Refuse (InputError, --write) any file of ``paths`` without a ``markers`` block, before
    any work is done."""
    for path in paths:
        text = path.read_text() if path.is_file() else ""
        if not all(marker in text for marker in markers):
            raise InputError(
                f"--write: {str(path)!r} has no {markers[0].strip()} … {markers[1]} block"
            )


def write_block(path: Path, markers: tuple[str, str], block: str) -> None:
    """Replace what lies between the ``markers`` of the file ``path`` with ``block``."""
    head, rest = path.read_text().split(markers[0], 1)
    path.write_text(head + markers[0] + block + markers[1] + rest.split(markers[1], 1)[1])
