"""A dataclass is the config: each field carries its default and the reason for it, and becomes an
`argparse` flag so `--help` lists every option with its default.

    @dataclass
    class TrainConfig:
        PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"tiny": {"lookback": 8}}
        lookback: int = option(60, "days of history per window: about three trading months")
        preset: str = option("", "named settings (tiny: seconds, checks the plumbing)")

    config = parse_config(TrainConfig, argv, description=__doc__)

A preset is a named set of option values, resolved once: `--preset tiny --lookback 12` takes the tiny
values and then the flags given (flags win), and the config a run saves in config.json is the resolved
one, so `evaluate.py` and `--resume` read back exactly what training ran. `--dry-run` is short for
`--preset tiny`. Code builds the same configs with `preset_config(TrainConfig, "tiny", lookback=12)`.
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


def presets_of(config_cls: type) -> dict[str, dict[str, Any]]:
    """The named presets a config class declares in its `PRESETS` class variable (none: {})."""
    return getattr(config_cls, "PRESETS", {})


def preset_config(config_cls: type[T], preset: str = "", **options: Any) -> T:
    """`config_cls` with the values of `preset` (if any), then `options` on top."""
    presets = presets_of(config_cls)
    if preset and preset not in presets:
        known = ", ".join(presets) or "none"
        raise ValueError(f"unknown preset {preset!r} for {config_cls.__name__}: known presets are {known}")
    values = {**presets.get(preset, {}), **options}
    if preset:
        values["preset"] = preset
    return config_cls(**values)


def build_parser(config_cls: type, description: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with one `--flag-name` per dataclass field (plus `--dry-run`, short for
    `--preset tiny`, where the class has that preset). Flags not given are absent from the parsed
    namespace, so a preset can fill them; `--help` shows each field's default."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        flag = "--" + field.name.replace("_", "-")
        help_text = field.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
        kind, optional = _base_type(hints[field.name])
        if kind is bool:
            parser.add_argument(
                flag, dest=field.name, action=argparse.BooleanOptionalAction,
                help=f"{help_text} (default: {field.default})",
            )
            continue
        choices = field.metadata.get("choices")
        metavar = None if choices else field.name.upper()
        if field.name == "preset":  # "" (no preset) is allowed but not shown
            choices = ["", *presets_of(config_cls)]
            metavar = "{" + ",".join(choices[1:]) + "}"
        parser.add_argument(
            flag, dest=field.name, type=kind, choices=choices, metavar=metavar,
            help=f"{help_text} (default: {field.default})" + (" [optional]" if optional else ""),
        )
    if "tiny" in presets_of(config_cls):
        parser.add_argument("--dry-run", dest="preset", action="store_const", const="tiny",
                            help="short for --preset tiny: seconds, checks the plumbing, not the model")
    return parser


def parse_config(config_cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    """Parse command-line flags (or `argv`) into an instance of `config_cls`, resolving `--preset`."""
    given = vars(build_parser(config_cls, description).parse_args(argv))
    return preset_config(config_cls, given.pop("preset", ""), **given)


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
