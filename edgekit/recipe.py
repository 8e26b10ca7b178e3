"""Recipes: a TOML file chaining compression steps, each mapped onto a registered config by its method name.

    [[step]]
    method = "prune-structured"
    ratio = 0.5
    finetune_epochs = 10

    [[step]]
    method = "int8"

Any method registered with `edgekit.compress.register` is available under its config's `method` name; keys are
the config's fields. Errors name the file, the step and the problem.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import enum
import tomllib
import typing
from pathlib import Path
from typing import Any

from .compress.base import registered_methods
from .errors import InputError


def load_recipe(path: str | Path) -> list[Any]:
    """The configs of a recipe file, in order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"recipe file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    return parse_recipe(data, str(path))


def parse_recipe(data: dict[str, Any], source: str = "recipe") -> list[Any]:
    """Configs from a parsed recipe ({"step": [{"method": ..., **fields}, ...]})."""
    extra = sorted(set(data) - {"step"})
    if extra:
        raise InputError(f"{source}: unknown top-level key(s) {', '.join(extra)}", "a recipe has [[step]] tables")
    steps = data.get("step")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise InputError(f"{source}: no steps", 'write one [[step]] table per step, each with method = "..."')
    return [config_from_step(step, f"{source}: step {i + 1}") for i, step in enumerate(steps)]


def config_from_step(step: dict[str, Any], where: str) -> Any:
    methods = registered_methods()
    method = step.get("method")
    if not isinstance(method, str):
        raise InputError(f"{where}: missing method", f"known methods: {', '.join(sorted(methods))}")
    config_type = methods.get(method)
    if config_type is None:
        raise InputError(f"{where}: unknown method {method!r}", f"known methods: {', '.join(sorted(methods))}")
    hints, settable = _settable(config_type)
    kwargs = {}
    for key, value in step.items():
        if key == "method":
            continue
        if key not in settable:
            raise InputError(f"{where} ({method}): unknown key {key!r}",
                             f"keys of {method}: {', '.join(sorted(settable)) or 'none'}")
        kwargs[key] = _coerce(value, hints[key], f"{where} ({method}): {key}")
    try:
        return config_type(**kwargs)
    except InputError as exc:  # the config's message leads with the method name already
        raise InputError(f"{where} ({method}): {exc.message.removeprefix(method + ': ')}", exc.hint) from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where} ({method}): {exc}") from None


def _settable(config_type: type) -> tuple[dict[str, Any], set[str]]:
    hints = typing.get_type_hints(config_type)
    return hints, {f.name for f in dataclasses.fields(config_type) if f.init and not _is_callable(hints[f.name])}


def _is_callable(tp: Any) -> bool:
    """Fields such as a user's training loop are for the Python API only."""
    return any(typing.get_origin(a) is collections.abc.Callable for a in (tp, *typing.get_args(tp)))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check a TOML value against a field's annotation; int is accepted for float, arrays for tuples."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except InputError:
                pass
        raise InputError(f"{where} must be {' or '.join(_type_name(a) for a in args if a is not type(None))}, "
                         f"got {type(value).__name__} {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"{where} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise InputError(f"{where} must be an array, got {type(value).__name__} {value!r}")
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # the config checks the value (compress.base.str_enum)
        if not isinstance(value, str):
            raise InputError(f"{where} must be one of {', '.join(repr(m.value) for m in tp)}, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise InputError(f"{where} must be {'an' if tp is int else 'a'} {_type_name(tp)}, "
                             f"got {type(value).__name__} {value!r}")
        return value
    raise InputError(f"{where}: a field of type {_type_name(tp)} cannot be set from a recipe")
