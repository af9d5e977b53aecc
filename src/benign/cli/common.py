"""What the commands share: the consoles, JSON output, and bad input as one line naming the
flag."""

import json
import math
import sys
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from pydantic import ValidationError

out = Console() if sys.stdout.isatty() else Console(width=150)
err = Console(stderr=True)


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


def _strict(value: object) -> object:
    """``value`` with every NaN or infinite float, at any depth, replaced by None (null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def print_json(doc: dict) -> None:
    """Write ``doc`` to stdout as indented JSON, NaN and infinities as null (strict JSON)."""
    sys.stdout.write(json.dumps(_strict(doc), indent=2, allow_nan=False) + "\n")
