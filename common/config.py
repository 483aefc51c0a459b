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
Besides `tiny`, a stage's presets are the recipes its README reports, so a reader reruns one by name.

A config checks itself in a `validate()` method built from `require`, which names the flag, the rule
and the value given:

    def validate(self) -> None:
        require_at_least(self, 1, "lookback", "epochs")      # --lookback must be at least 1, got 0
        require_learning_rate(self, "learning_rate")         # positive, at most 1
        require(self, 0 <= finite(self.dropout) < 1, "dropout", "in [0, 1)")

Before any `validate()`, `require_types` holds every option to its declared type, and every float
option to a finite value (NaN and infinity pass no range check): the one check all stages share, run
on the flags (`preset_config`) and on a saved config read back (`config_from_dict`).

An option marked `option(..., shaping=True)` shapes the model or the data it reads: `shaping_options`
lists them, and a resumed run must keep every one.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import math
import sys
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, choices: Sequence[Any] | None = None, shaping: bool = False) -> Any:
    """A dataclass field with a default and the reason for it (shown by `--help`). `shaping=True` marks
    an option that shapes the model or the data it reads, which a resumed run must keep."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "shaping": shaping})


def shaping_options(config_cls: type) -> tuple[str, ...]:
    """The options of `config_cls` marked `shaping=True`, in field order. A field that a subclass
    re-declares to change its default stays shaping if its base class marked it."""
    marked = {field.name for cls in config_cls.__mro__ if dataclasses.is_dataclass(cls)
              for field in dataclasses.fields(cls) if field.metadata.get("shaping")}
    return tuple(field.name for field in dataclasses.fields(config_cls) if field.name in marked)


def flag(name: str) -> str:
    """The command-line flag of option `name`: `learning_rate` -> `--learning-rate`."""
    return "--" + name.replace("_", "-")


def require(config: Any, ok: bool, name: str, rule: str) -> None:
    """Refuse option `name` of `config` unless `ok`, saying which flag, what it must be and what it
    was: `require(config, config.epochs >= 1, "epochs", "at least 1")` raises
    `ValueError("--epochs must be at least 1, got 0")`."""
    if not ok:
        raise ValueError(f"{flag(name)} must be {rule}, got {getattr(config, name)!r}")


def require_at_least(config: Any, minimum: int, *names: str) -> None:
    """`require` for counts: every option in `names` must be `minimum` or more."""
    rule = "0 or more" if minimum == 0 else f"at least {minimum}"
    for name in names:
        require(config, getattr(config, name) >= minimum, name, rule)


def require_learning_rate(config: Any, *names: str) -> None:
    """`require` for AdamW learning rates: each option in `names` must be positive and at most 1 (Adam
    moves every weight by about the rate each step, so a rate above 1 only diverges)."""
    for name in names:
        rate = finite(getattr(config, name))
        require(config, 0 < rate <= 1, name, "a positive rate of at most 1, e.g. 3e-3")


def finite(value: float) -> float:
    """`value`, or NaN when it is infinite, so that NaN and infinity fail every range check:
    `require(config, finite(config.learning_rate) > 0, ...)`."""
    return value if math.isfinite(value) else math.nan


# What a value of each simple option type must be, in words for an error message.
_EXPECTED = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def type_problem(value: Any, annotation: Any) -> str | None:
    """What `value` must be to serve as an option declared `annotation` ("a whole number", "a finite
    number", ...), or None when it serves. Only the simple types (bool, int, float, str, optional or
    not) are checked; an int serves as a float, a bool serves as nothing but a bool."""
    kind, optional = _base_type(annotation)
    if value is None and optional or kind not in _EXPECTED:
        return None
    if kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return _EXPECTED[float]
        return None if math.isfinite(value) else "a finite number"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else _EXPECTED[int]
    return None if isinstance(value, kind) else _EXPECTED[kind]


def require_types(config: Any) -> None:
    """Refuse an option of `config` whose value is not of its declared type, or a float option that is
    NaN or infinite: `--learning-rate nan` raises `ValueError("--learning-rate must be a finite number,
    got nan")`. `preset_config` runs it on every config built from flags, before `validate()`."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        problem = type_problem(getattr(config, field.name), hints[field.name])
        if problem:
            raise ValueError(f"{flag(field.name)} must be {problem}, got {getattr(config, field.name)!r}")


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
    config = config_cls(**values)
    require_types(config)
    return config


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
        help_text = field.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
        kind, optional = _base_type(hints[field.name])
        if kind is bool:
            parser.add_argument(
                flag(field.name), dest=field.name, action=argparse.BooleanOptionalAction,
                help=f"{help_text} (default: {field.default})",
            )
            continue
        choices = field.metadata.get("choices")
        metavar = None if choices else field.name.upper()
        if field.name == "preset":  # "" (no preset) is allowed but not shown
            choices = ["", *presets_of(config_cls)]
            metavar = "{" + ",".join(choices[1:]) + "}"
        parser.add_argument(
            flag(field.name), dest=field.name, type=kind, choices=choices, metavar=metavar,
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


def config_from_dict(config_cls: type[T], payload: Any, source: str = "the saved config") -> T:
    """Rebuild a config saved with a run, ignoring saved keys that are not fields of `config_cls` (an
    option since removed), so every saved run still loads. Every saved value must have its option's
    type: a hand-edited `"lookback": "60"`, or a file that is not an object of options at all, raises
    one ValueError naming `source` (the file) and the option."""
    if not isinstance(payload, dict):
        raise ValueError(f"{source} holds a {type(payload).__name__}, not the object of options a run saves: "
                         "re-train to recreate it")
    hints = typing.get_type_hints(config_cls)
    values = {}
    for field in dataclasses.fields(config_cls):
        if field.name not in payload:
            continue
        value = payload[field.name]
        problem = type_problem(value, hints[field.name])
        if problem:
            raise ValueError(f"{source}: option {field.name!r} must be {problem}, got {value!r}: fix the "
                             "file or re-train to recreate it")
        kind, _ = _base_type(hints[field.name])
        values[field.name] = float(value) if kind is float and value is not None else value
    return config_cls(**values)


def run_cli(main: Callable[[], Any]) -> None:
    """Run a script's `main()`; a bad input (ValueError / FileNotFoundError, whose messages say what
    was wrong and how to fix it) prints one `error: ...` line and exits with status 1, no traceback.
    So does a failed write (a full disk, a folder without permission); a Ctrl-C that reaches here
    (a second one, during the final evaluation) exits with status 130."""
    try:
        main()
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    except KeyboardInterrupt:
        print("error: stopped by Ctrl-C before the run finished", file=sys.stderr)
        raise SystemExit(130) from None
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" writing {error.filename}" if error.filename else ""
            raise SystemExit(f"error: no space left on the disk{where}: free some space (or choose another "
                             "--out) and run again") from None
        raise SystemExit(f"error: {error}") from None
