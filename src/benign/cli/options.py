"""Command-line options generated from the fields of :class:`RunConfig`: one per setting, with
its type, default, allowed values, description and help panel."""

import functools
import inspect
import operator
from collections.abc import Callable
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from benign._stop import stop_at_once
from benign.cli.common import config_error, flag, value_error
from benign.config import RunConfig

# the help panels of `benign run`, in order; every setting names one (``panel`` in its Field)
PANELS: tuple[str, ...] = ("Data", "Network", "Training", "Solver", "Measures", "Run", "Output")
# settings RunConfig fills in when they are not given (a dataset fixes d): no default here
FILLED_IN: tuple[str, ...] = ("d",)


def _panel(name: str, field: FieldInfo) -> str:
    """The help panel a setting names in its Field's ``json_schema_extra``."""
    extra = field.json_schema_extra
    panel = extra.get("panel") if isinstance(extra, dict) else None
    if panel not in PANELS:
        raise ValueError(f"{name}: its panel must be one of {', '.join(PANELS)}, got {panel!r}")
    return str(panel)


def _plain(annotation: Any) -> Any:
    """The type without the constraints pydantic checks (``Annotated[T, …]`` → T, in a union
    too): RunConfig checks them, naming the flag."""
    if get_origin(annotation) is Annotated:
        return get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        return functools.reduce(operator.or_, map(_plain, get_args(annotation)))
    return annotation


def setting_option(name: str, field: FieldInfo) -> inspect.Parameter:
    """The keyword parameter of a setting, as Typer reads it: ``--NAME`` (``--NAME/--no-NAME``
    for a switch), the field's type and default, its description as the help and, for a
    Literal, the values allowed."""
    annotation: Any = _plain(field.annotation)
    decls = [flag(name)]
    help_text = field.description or ""
    extra: dict[str, Any] = {}
    if get_origin(annotation) is Literal:  # read as text: RunConfig checks it, naming the flag
        help_text += "  \n[one of: " + ", ".join(map(str, get_args(annotation))) + "]"
        annotation = str
    elif annotation is bool:
        decls = [f"{flag(name)}/--no-{flag(name)[2:]}"]
    default = field.default
    if name in FILLED_IN:
        annotation, default = annotation | None, None
        help_text += f"; default {field.default}"
        extra["show_default"] = False
    option = typer.Option(*decls, help=help_text, rich_help_panel=_panel(name, field), **extra)
    annotation = Annotated[annotation, option]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def read_config(settings: dict[str, Any]) -> RunConfig:
    """The settings given (None: not given) as a checked RunConfig; bad ones are an InputError
    naming the flag."""
    with stop_at_once():  # PyTorch loads here (seconds, not for --help): an interrupt is one line
        from benign.run import check_device

    try:
        config = RunConfig(**{k: v for k, v in settings.items() if v is not None})
        check_device(config)
    except ValidationError as exc:
        raise config_error(exc) from None
    except ValueError as exc:
        raise value_error(exc) from None
    return config


def _panel_index(param: inspect.Parameter) -> int:
    option = param.annotation.__metadata__[0]
    return PANELS.index(option.rich_help_panel)


def with_settings(command: Callable[..., None]) -> Callable[..., None]:
    """``command(config, **options)`` as a Typer command with an option per setting beside its
    own options, panel by panel; the settings are read into ``config`` by :func:`read_config`."""
    own = list(inspect.signature(command).parameters.values())[1:]
    settings = [setting_option(k, f) for k, f in RunConfig.model_fields.items()]

    def wrapper(**options: Any) -> None:
        config = read_config({k: options.pop(k) for k in RunConfig.model_fields})
        command(config, **options)

    wrapper.__name__, wrapper.__doc__ = command.__name__, command.__doc__
    params = sorted(
        [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + settings, key=_panel_index
    )
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return wrapper
