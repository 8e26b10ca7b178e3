"""Field checks for compression configs' __post_init__: one line naming the method, the field and what it takes
(string option sets use compress.base.str_enum)."""
from __future__ import annotations

import math
import re
from typing import Any

from ..errors import InputError


def check_bool(method: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InputError(f"{method}: {name} must be true or false, got {value!r}")


def check_int(method: str, name: str, value: Any, low: int | None = 0) -> None:
    """A whole number (a bool is not one) >= `low` (any when None)."""
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
        at_least = f" >= {low}" if low is not None else ""
        raise InputError(f"{method}: {name} must be a whole number{at_least}, got {value!r}")


def check_float(method: str, name: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False) -> None:
    """A finite number (an int will do, a bool will not) between `low` and `high`, each bound included unless
    `low_open` / `high_open`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            where = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            where = f" {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            where = f" {'<' if high_open else '<='} {high:g}"
        else:
            where = ""
        raise InputError(f"{method}: {name} must be a number{where}, got {value!r}")


def check_trainer(method: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise InputError(f"{method}: trainer must be a function (model, epochs) or None, got {value!r}")


def check_names(method: str, name: str, value: Any, *, patterns: bool = False) -> tuple[str, ...]:
    """A sequence of module names (regular expressions when `patterns`) as a tuple; a lone string is refused,
    as iterating it would give one name per character."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) \
            or not all(isinstance(v, str) for v in value):
        raise InputError(f"{method}: {name} must be a list of module names, got {value!r}",
                         f'e.g. {name} = ["{value}"]' if isinstance(value, str) else None)
    if patterns:
        for v in value:
            try:
                re.compile(v)
            except re.error as exc:
                raise InputError(f"{method}: {name} entry {v!r} is not a regular expression: {exc}") from None
    return tuple(value)
