"""What a meter gives and how one is named: `Capture` (timed samples), the `Meter` protocol, and the registry that
maps `--meter KIND[:ARGS]` to a driver."""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Capture:
    """Samples a meter took: `time_s` from the start of the capture, the supply `current_a` and `voltage_v` per
    sample, and its digital inputs per sample (`digital`, bit i = input i) where the meter has them."""

    meter: str
    sample_rate_hz: float
    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray
    digital: np.ndarray | None = None

    @property
    def power_w(self) -> np.ndarray:
        return self.current_a * self.voltage_v


class Meter(Protocol):
    """A power meter on the device's supply. `start` begins sampling (time 0 of the capture); `now` is the time on
    the capture's clock, for windows taken from the host's or agent's timestamps; `stop` ends it (the capture
    names the meter)."""

    def start(self) -> None: ...

    def now(self) -> float: ...

    def stop(self) -> Capture: ...

    def close(self) -> None: ...


MeterOpener = Callable[[str], Meter]


@dataclass(frozen=True)
class MeterKind:
    module: str  # the driver module that registers it: its library is imported only when the kind is opened
    digital_inputs: bool  # can window inferences by the firmware's inference pin
    on_board: bool = False  # sampled by the agent on the Linux board it measures, windowed by the agent's timestamps


_DRIVERS = {"ppk2": MeterKind("ppk2", True), "joulescope": MeterKind("joulescope", True),
            "ina219": MeterKind("ina2xx", False, on_board=True), "ina260": MeterKind("ina2xx", False, on_board=True)}
_OPENERS: dict[str, MeterOpener] = {}


def register_meter(*kinds: str) -> Callable[[MeterOpener], MeterOpener]:
    """Register `opener(args)` for `--meter KIND:ARGS` (args is what follows the first colon, maybe empty)."""
    def wrap(opener: MeterOpener) -> MeterOpener:
        for kind in kinds:
            _OPENERS[kind] = opener
        return opener
    return wrap


def meter_kinds() -> list[str]:
    return sorted(_DRIVERS)


def parse_meter(spec: str) -> tuple[str, str]:
    """'ppk2:/dev/ttyACM1' -> ('ppk2', '/dev/ttyACM1'); refuses an unknown kind with the known ones."""
    kind, _, args = spec.partition(":")
    if kind not in _DRIVERS:
        raise InputError(f"unknown meter '{kind}'", f"use one of {', '.join(meter_kinds())}, e.g. "
                                                    "ppk2:/dev/ttyACM1:supply=3.3, joulescope, ina219:1:0x40")
    return kind, args


def meter_kind(spec: str) -> MeterKind:
    return _DRIVERS[parse_meter(spec)[0]]


def open_meter(spec: str) -> Meter:
    """The meter `spec` names, opened (its library imported now)."""
    kind, args = parse_meter(spec)
    if kind not in _OPENERS:
        importlib.import_module(f"{__package__}.{_DRIVERS[kind].module}")
    return _OPENERS[kind](args)


@contextlib.contextmanager
def opened_meter(spec: str) -> Iterator[Meter]:
    """The meter `spec` names, open for the block and closed however it ends."""
    meter = open_meter(spec)
    try:
        yield meter
    finally:
        meter.close()
