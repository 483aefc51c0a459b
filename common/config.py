"""A dataclass is the config: each field carries its default and the reason for it, and becomes an
`argparse` flag so `--help` lists every option with its default.

    @dataclass
    class TrainConfig:
        lookback: int = option(60, "days of history per window: about three trading months")
        dry_run: bool = option(False, "a tiny configuration for smoke tests")

    config = parse_config(TrainConfig, argv, description=__doc__)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, choices: Sequence[Any] | None = None) -> Any:
    """A dataclass field with a default and the reason for it (shown by `--help`)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(type, optional) for `int`, `str | None`, `Optional[float]`..."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def build_parser(config_cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with one `--flag-name` per dataclass field."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
        kind, optional = _base_type(hints[field.name])
        if kind is bool:
            parser.add_argument(
                flag, dest=field.name, action=argparse.BooleanOptionalAction, default=field.default,
                help=f"{help_text} (default: {field.default})",
            )
            continue
        parser.add_argument(
            flag, dest=field.name, type=kind, default=field.default,
            choices=field.metadata.get("choices"),
            metavar=None if field.metadata.get("choices") else field.name.upper(),
            help=f"{help_text} (default: {field.default})" + (" [optional]" if optional else ""),
        )
    return parser


def parse_config(config_cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    """Parse command-line flags (or `argv`) into an instance of `config_cls`."""
    namespace = build_parser(config_cls, description).parse_args(argv)
    return config_cls(**vars(namespace))


def config_from_dict(config_cls: type[T], payload: dict[str, Any]) -> T:
    """Rebuild a config saved with a run, ignoring keys a newer version no longer has."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in payload.items() if k in names})


def run_cli(main: Callable[[], Any]) -> None:
    """Run a script's `main()`; a bad input (ValueError / FileNotFoundError, whose messages say what
    was wrong and how to fix it) prints one `error: ...` line and exits with status 1, no traceback."""
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
