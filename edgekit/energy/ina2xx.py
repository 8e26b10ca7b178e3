"""TI INA219 and INA260 current/power monitors on a Linux board's I2C bus (`--meter ina219:BUS:ADDR[:shunt=0.1]
[:max_a=3.2]`, `--meter ina260:BUS:ADDR`), read with smbus2.

The chip sits on the board's own I2C bus, so in a bench the agent samples it on the board beside the inference
(edgekit/agent/ina_sampler.py, pushed beside agent.py) and returns the raw readings with its inference timestamps
on the same clock; `capture_from_agent` turns them into a `Capture` here. Where edgekit itself runs on the board (the
Python API on a Pi), `open_meter("ina219:1:0x40")` samples it in this process through the same code
(`InaMeter`). The register arithmetic, the sampling thread and the conversion-clock fit all live in ina_sampler.py,
which imports no edgekit, so they exist once; this module only turns its `MeterError`s into edgekit's errors.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from ..agent import ina_sampler
from ..agent.ina_sampler import InaChip, MeterError, capture_arrays, chip_for_spec, readings_from_array
from ..errors import DeviceError, InputError
from .meter import Capture, register_meter


@contextlib.contextmanager
def edgekit_errors() -> Iterator[None]:
    """A MeterError from the sampler as edgekit's error: a bad spec is the user's (InputError), the rest the
    device's (DeviceError)."""
    try:
        yield
    except MeterError as e:
        raise (InputError if e.is_bad_spec else DeviceError)(e.message, e.hint) from e


def checked_spec(spec: str) -> InaChip:
    """The chip a spec configures, or an InputError naming what is wrong with it (before any device time)."""
    with edgekit_errors():
        return chip_for_spec(spec)[0]


def capture_from_agent(spec: str, description: str, readings: np.ndarray) -> Capture:
    """The capture the agent's sampler took (its readings as `ina_sampler.readings_to_array` packed them)."""
    with edgekit_errors():
        return Capture(**capture_arrays(chip_for_spec(spec)[0], description, readings_from_array(readings)))


class InaMeter:
    """An INA219/INA260 sampled by a thread in this process (a `Meter`; see ina_sampler.InaSampler)."""

    def __init__(self, spec: str) -> None:
        with edgekit_errors():
            self._sampler = ina_sampler.open_sampler(spec)
        self.chip, self.description = self._sampler.chip, self._sampler.description

    def start(self) -> None:
        with edgekit_errors():
            self._sampler.start()

    def now(self) -> float:
        with edgekit_errors():
            return self._sampler.now()

    def stop(self) -> Capture:
        with edgekit_errors():
            return Capture(**capture_arrays(self.chip, self.description, self._sampler.stop()))

    def close(self) -> None:
        self._sampler.close()


@register_meter("ina219")
def open_ina219(args: str) -> InaMeter:
    return InaMeter(f"ina219:{args}")


@register_meter("ina260")
def open_ina260(args: str) -> InaMeter:
    return InaMeter(f"ina260:{args}")
