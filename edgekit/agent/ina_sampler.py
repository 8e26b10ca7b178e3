"""The INA219/INA260 sampler that runs on a Linux board beside the agent (`--meter ina219:BUS:ADDR[:shunt=0.1]
[:max_a=3.2]`, `--meter ina260:BUS:ADDR`): the chips' register arithmetic and a thread that reads them with smbus2.

Like agent.py, this file runs on the device: it imports only the standard library, numpy and (when a meter is opened)
smbus2, never edgekit, and the installer puts it beside agent.py. The host's driver (edgekit/energy/ina2xx.py) is a
thin wrapper around this same code, so the arithmetic exists once. Errors are `MeterError` (one line and a hint);
the agent answers them as its `meter_failed` error, the host's driver raises them as edgekit errors.

The INA sits on the board's own I2C bus, so this sampler runs on the board beside the agent: a thread watches the
chip's conversion-ready flag and reads current and bus voltage once per conversion (12-bit, ~1.1 ms per shunt + bus
cycle: ~900 samples/s), on `time.monotonic()` from `start()`, the clock `now()` reads, so the agent's inference
timestamps window the samples directly (the chip has no digital input). `capture_arrays` puts the readings on the
chip's own conversion clock (each sample at the middle of its shunt conversion, the rate measured), so the thread's
scheduling delays do not smear the windows' edges.

The two chips share everything but their register arithmetic, which is data (`InaChip`):
- INA219 (TI SBOS448): an external shunt. Shunt voltage 01h (10 uV LSB), bus voltage 02h (bits 15..3, 4 mV LSB; bit 1
  CNVR: conversion ready, cleared by reading power 03h; bit 0 OVF: the arithmetic overflowed), current 04h = shunt
  voltage x calibration / 4096 (eq. 4), calibration 05h = trunc(0.04096 / (Current_LSB x R_shunt)) (eq. 1),
  Current_LSB = max expected current / 2^15 (eq. 2). The driver programs the calibration and reads current 04h.
- INA260 (TI SBOSA69): a 2 mOhm shunt inside, factory-trimmed. Current 01h (1.25 mA LSB), bus voltage 02h (1.25 mV
  LSB), Mask/Enable 06h bit 3 CVRF: conversion ready, cleared by reading 06h; manufacturer ID FEh = 0x5449 ("TI").
Both registers are 16-bit big-endian on the wire, while SMBus word transfers are little-endian: every word is
byte-swapped here, as on real hardware.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np


class MeterError(Exception):
    """A meter problem as one line and a hint; `bad_spec` marks the user's --meter spec as the cause."""

    def __init__(self, message: str, hint: str | None = None, bad_spec: bool = False) -> None:
        super().__init__(message)
        self.message, self.hint, self.is_bad_spec = message, hint, bad_spec

    @classmethod
    def bad_spec(cls, message: str, hint: str | None = None) -> "MeterError":
        return cls(message, hint, bad_spec=True)

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


CONFIG_REGISTER = 0x00
BUS_VOLTAGE_REGISTER = 0x02
INA2XX_ADDRESSES = range(0x40, 0x50)  # A0/A1 strapping gives 1000000b..1001111b on both chips

# INA219 (SBOS448, 8.6.2.1 Configuration Register): BRNG bit 13, PG bits 12-11, BADC bits 10-7, SADC bits 6-3,
# MODE bits 2-0. 12-bit single conversion (code 0011) takes 532 us for shunt and bus each.
INA219_POWER_REGISTER = 0x03
INA219_CURRENT_REGISTER = 0x04
INA219_CALIBRATION_REGISTER = 0x05
INA219_BUS_32V = 1 << 13
INA219_PGA_RANGES_V = (0.04, 0.08, 0.16, 0.32)  # PG = 00, 01, 10, 11: shunt full scale
INA219_ADC_12BIT = 0b0011
INA219_ADC_12BIT_S = 532e-6
INA219_CALIBRATION_SCALE = 0.04096  # eq. 1: an internal fixed value that makes Current_LSB come out in amperes
INA219_BUS_LSB_V = 0.004
INA219_CONVERSION_READY = 0x0002  # bus voltage register bit 1 (CNVR)
INA219_MATH_OVERFLOW = 0x0001     # bus voltage register bit 0 (OVF)

# INA260 (SBOSA69, 7.6.1.1 Configuration Register): bits 14-12 read 110, AVG bits 11-9, VBUSCT bits 8-6, ISHCT bits
# 5-3, MODE bits 2-0. Conversion-time code 011 is 588 us.
INA260_CURRENT_REGISTER = 0x01
INA260_MASK_ENABLE_REGISTER = 0x06
INA260_CONVERSION_READY = 0x0008  # Mask/Enable bit 3 (CVRF)
INA260_MANUFACTURER_ID_REGISTER = 0xFE
INA260_MANUFACTURER_ID = 0x5449
INA260_CONFIG_FIXED = 0x6000
INA260_CT_588US = 0b011
INA260_CT_588US_S = 588e-6
INA260_CURRENT_LSB_A = 1.25e-3
INA260_BUS_LSB_V = 1.25e-3

MODE_SHUNT_AND_BUS_CONTINUOUS = 0b111


class SMBusLike(Protocol):
    """What the driver uses of smbus2.SMBus (word transfers: one transaction per register, supported by every Linux
    I2C adapter that speaks SMBus)."""

    def read_word_data(self, i2c_addr: int, register: int) -> int: ...

    def write_word_data(self, i2c_addr: int, register: int, value: int) -> None: ...

    def close(self) -> None: ...


def _smbus2_bus(device: str) -> SMBusLike:
    try:
        from smbus2 import SMBus
    except ImportError as e:
        raise MeterError("the INA meters need smbus2, which this Python does not have",
                         "pip install smbus2==0.6.1 on the board") from e
    return SMBus(device)


# Opens the bus at a /dev/i2c-N path. Tests replace it with a stand-in that models the chip on the bus.
_bus_factory: Callable[[str], SMBusLike] = _smbus2_bus


@dataclass(frozen=True)
class InaChip:
    """One configured chip's facts: the register writes that configure it, how to recognize it, how it flags a
    finished conversion, how to turn its raw current and bus-voltage words into amperes and volts, and its timing."""

    name: str
    setup: tuple[tuple[int, int], ...]      # (register, value) written in order, each read back to check
    identity: tuple[int, int] | None        # (register, value) only this chip has, where it has one
    ready_register: int                     # holds the conversion-ready flag
    ready_mask: int
    clear_register: int | None              # read to clear the flag, where reading the flag does not
    current_register: int
    current_lsb_a: float
    bus_shift: int                          # the INA219 keeps status bits below its bus-voltage reading
    bus_lsb_v: float
    overflow_mask: int                      # a bus-register bit that flags overflowed arithmetic, 0 if none
    cycle_s: float                          # one shunt conversion, then one bus conversion, then the flag
    shunt_s: float
    detail: str = ""

    @property
    def current_age_at_ready_s(self) -> float:
        """How long before the flag rises the current it flags was measured: the middle of the shunt conversion
        that opened the cycle."""
        return self.cycle_s - self.shunt_s / 2


def ina219_chip(shunt_ohm: float, max_current_a: float) -> InaChip:
    """The INA219 with the smallest PGA range that holds `max_current_a` across `shunt_ohm` (best resolution), and
    the calibration for that current (SBOS448 8.5.1, eq. 1-2; the calibration's bit 0 is not used, so it is even)."""
    full_scale_v = max_current_a * shunt_ohm
    # (with a hair of tolerance: 0.4 A x 0.1 ohm is 40.000000000000001 mV in floating point, and fits 40 mV)
    fits = [i for i, v in enumerate(INA219_PGA_RANGES_V) if v >= full_scale_v * (1 - 1e-9)]
    if not fits:
        raise MeterError.bad_spec(f"the INA219 cannot measure {max_current_a:g} A across {shunt_ohm:g} ohm "
                                  f"({full_scale_v * 1e3:.0f} mV; its shunt input ends at 320 mV)",
                                  "use a smaller shunt or a lower max_a")
    pga = fits[0]
    calibration = int(INA219_CALIBRATION_SCALE / (max_current_a / 2 ** 15 * shunt_ohm)) & 0xFFFE
    if not 0 < calibration <= 0xFFFE:
        raise MeterError.bad_spec(f"no INA219 calibration fits a {shunt_ohm:g} ohm shunt at {max_current_a:g} A",
                                  "check shunt= (ohms) and max_a= (amperes)")
    config = (INA219_BUS_32V | pga << 11 | INA219_ADC_12BIT << 7 | INA219_ADC_12BIT << 3
              | MODE_SHUNT_AND_BUS_CONTINUOUS)
    return InaChip(
        name="INA219", setup=((CONFIG_REGISTER, config), (INA219_CALIBRATION_REGISTER, calibration)), identity=None,
        # CNVR (bus voltage bit 1) rises when a cycle's conversions and arithmetic are done; reading Power clears it
        ready_register=BUS_VOLTAGE_REGISTER, ready_mask=INA219_CONVERSION_READY, clear_register=INA219_POWER_REGISTER,
        current_register=INA219_CURRENT_REGISTER,
        # the LSB the truncated calibration really gives (eq. 1 solved for Current_LSB), not the one asked for
        current_lsb_a=INA219_CALIBRATION_SCALE / (calibration * shunt_ohm),
        bus_shift=3, bus_lsb_v=INA219_BUS_LSB_V, overflow_mask=INA219_MATH_OVERFLOW,
        cycle_s=2 * INA219_ADC_12BIT_S, shunt_s=INA219_ADC_12BIT_S,
        detail=f"{shunt_ohm:g} ohm shunt, up to {max_current_a:g} A")


def ina260_chip() -> InaChip:
    config = INA260_CONFIG_FIXED | INA260_CT_588US << 6 | INA260_CT_588US << 3 | MODE_SHUNT_AND_BUS_CONTINUOUS
    return InaChip(
        name="INA260", setup=((CONFIG_REGISTER, config),),
        identity=(INA260_MANUFACTURER_ID_REGISTER, INA260_MANUFACTURER_ID),
        # CVRF (Mask/Enable bit 3) rises when a cycle is done; reading Mask/Enable clears it
        ready_register=INA260_MASK_ENABLE_REGISTER, ready_mask=INA260_CONVERSION_READY, clear_register=None,
        current_register=INA260_CURRENT_REGISTER, current_lsb_a=INA260_CURRENT_LSB_A,
        bus_shift=0, bus_lsb_v=INA260_BUS_LSB_V, overflow_mask=0,
        cycle_s=2 * INA260_CT_588US_S, shunt_s=INA260_CT_588US_S, detail="2 mohm shunt inside")


def swap_bytes(word: int) -> int:
    """SMBus words travel low byte first; the INA sends its registers high byte first."""
    return ((word & 0xFF) << 8) | (word >> 8)


def to_amperes(chip: InaChip, current_words: np.ndarray) -> np.ndarray:
    return np.asarray(current_words, dtype=np.uint16).view(np.int16).astype(np.float64) * chip.current_lsb_a


def to_volts(chip: InaChip, bus_words: np.ndarray) -> np.ndarray:
    return (np.asarray(bus_words, dtype=np.int64) >> chip.bus_shift).astype(np.float64) * chip.bus_lsb_v


@dataclass(frozen=True)
class Reading:
    """One conversion as read. Its ready flag rose after `low_s` (when a poll last saw it low; None if the first
    poll already saw it high: the thread was late) and by `seen_s`; the current word is the latest conversion at
    `read_s` (later than `seen_s` by a bus transaction, or by more if the thread was preempted in between). A
    transaction's time is its middle (the chip samples the register within it: ~0.15 ms at 400 kHz)."""

    low_s: float | None
    seen_s: float
    read_s: float
    current_word: int
    bus_word: int


def number_conversions(ready_s: np.ndarray, cycle_s: float) -> np.ndarray:
    """Which conversion each of these well-timed readings is, counting from the first: consecutive ones a whole
    number of cycles apart, with the cycle re-estimated as the count grows (the chip's oscillator is a few % off
    nominal, which matters over gaps of several cycles)."""
    numbers = np.zeros(len(ready_s), dtype=np.int64)
    for i in range(1, len(ready_s)):
        if numbers[i - 1] >= 8:
            cycle_s = (ready_s[i - 1] - ready_s[0]) / numbers[i - 1]
        numbers[i] = numbers[i - 1] + max(1, round((ready_s[i] - ready_s[i - 1]) / cycle_s))
    return numbers


def fit_conversion_clock(readings: list[Reading], cycle_s: float) -> tuple[float, float]:
    """The chip's own conversion clock: (when conversion 0's flag rose, the cycle), from the readings whose flag was
    caught rising (seen high within a third of a cycle of a poll that saw it low). The cycle is a line through their
    brackets' middles; the phase is the middle of what all brackets allow together (each flag rose after its low
    poll began and by the time it was seen high), which the sampler's dithered polls narrow to microseconds."""
    tight = [r for r in readings if r.low_s is not None and r.seen_s - r.low_s < cycle_s / 3]
    if len(tight) < 2:
        raise MeterError(f"the sampler caught {len(tight)} conversion(s) as they finished",
                         "run the I2C bus at 400 kHz (Raspberry Pi: dtparam=i2c_arm_baudrate=400000), or give the "
                         "board less to do while measuring")
    low_s = np.array([r.low_s for r in tight], dtype=np.float64)
    seen_s = np.array([r.seen_s for r in tight])
    numbers = number_conversions((low_s + seen_s) / 2, cycle_s)
    if numbers[-1] > 0:
        cycle_s = float(np.polyfit(numbers, (low_s + seen_s) / 2, 1)[0])
    earliest, latest = float(np.max(low_s - cycle_s * numbers)), float(np.min(seen_s - cycle_s * numbers))
    return (earliest + latest) / 2, cycle_s


class InaSampler:
    """An INA219/INA260 sampled by a thread on this machine's I2C bus (see the module docstring).

    The thread reads each conversion once, when the chip's conversion-ready flag says it is done, so no conversion
    is read twice; `stop()` returns the readings, which `capture_arrays` puts on the chip's own regular conversion
    clock (see `fit_conversion_clock`), the time of each being the middle of its shunt conversion, and fills the
    conversions the thread was too late for by interpolation."""

    POLLS_PER_CYCLE = 16          # how finely the flag is watched once a conversion is due
    STALL_CYCLES = 100            # no conversion for this long: the chip stopped converting

    def __init__(self, chip: InaChip, device: str, address: int) -> None:
        self.chip, self.device, self.address = chip, device, address
        self.description = f"{chip.name} at {address:#04x} on {device} ({chip.detail})"
        self._lock = threading.Lock()
        self._bus = self._open_bus()
        self._t0: float | None = None
        self._readings: list[Reading] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: MeterError | None = None
        try:
            self._configure()
        except MeterError:
            self.close()
            raise

    # --- the bus: every error becomes one MeterError line

    def _open_bus(self) -> SMBusLike:
        try:
            return _bus_factory(self.device)
        except FileNotFoundError as e:
            raise MeterError(f"no I2C bus {self.device} for the {self.chip.name}",
                             "enable I2C on the board: dtparam=i2c_arm=on in a Pi's config.txt, else modprobe "
                             "i2c-dev") from e
        except PermissionError as e:
            raise MeterError(f"no permission to open {self.device} for the {self.chip.name}",
                             "run as a user in the i2c group") from e
        except OSError as e:
            raise MeterError(f"cannot open {self.device} for the {self.chip.name}: {e.strerror or e}") from e

    def _bus_error(self, e: OSError, register: int) -> MeterError:
        return MeterError(f"no {self.chip.name} answers at {self.address:#04x} on {self.device} "
                          f"(register {register:#04x}: {e.strerror or e})",
                          "check the wiring, the address (i2cdetect -y BUS) and the --meter spec")

    def _read(self, register: int) -> int:
        try:
            with self._lock:
                return swap_bytes(self._bus.read_word_data(self.address, register))
        except OSError as e:
            raise self._bus_error(e, register) from e

    def _write(self, register: int, value: int) -> None:
        try:
            with self._lock:
                self._bus.write_word_data(self.address, register, swap_bytes(value))
        except OSError as e:
            raise self._bus_error(e, register) from e

    def _not_this_chip(self, register: int, found: int, expected: int, what: str) -> MeterError:
        return MeterError(f"the chip at {self.address:#04x} on {self.device} is not an {self.chip.name} "
                          f"(register {register:#04x} {what} {found:#06x}, not {expected:#06x})",
                          "check the --meter kind and address")

    def _configure(self) -> None:
        if self.chip.identity is not None:
            register, expected = self.chip.identity
            if (found := self._read(register)) != expected:
                raise self._not_this_chip(register, found, expected, "reads")
        for register, value in self.chip.setup:
            self._write(register, value)
            if (found := self._read(register)) != value:
                raise self._not_this_chip(register, found, value, "reads back")

    # --- sampling

    def start(self) -> None:
        if self._thread is not None:
            raise MeterError(f"the {self.description} is already sampling")
        self._readings, self._error = [], None
        self._stopping.clear()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._sample_loop, name=f"{self.chip.name}-sampler", daemon=True)
        self._thread.start()

    def now(self) -> float:
        if self._t0 is None:
            raise MeterError(f"the {self.description} has not started")
        return time.monotonic() - self._t0

    def _clear_ready(self) -> None:
        self._read(self.chip.clear_register if self.chip.clear_register is not None else self.chip.ready_register)

    def _wait_until_ready(self, due: float) -> tuple[float | None, float, int] | None:
        """Sleep until the next conversion is nearly due, then watch its flag: (when a poll last saw it low, when it
        was seen high, the flag register's word), or None when stopping."""
        cycle = self.chip.cycle_s
        # polls at a random phase each cycle: locked to the chip's cycle, they would bracket every flag the same way
        early = cycle / 8 + random.uniform(0, cycle / self.POLLS_PER_CYCLE)
        if self._stopping.wait(max(0.0, due - early - time.monotonic())):
            return None
        low = None
        while True:
            before = time.monotonic()
            word = self._read(self.chip.ready_register)
            seen = (before + time.monotonic()) / 2
            if word & self.chip.ready_mask:
                return low, seen, word
            low = seen
            if seen - due > self.STALL_CYCLES * cycle:
                raise MeterError(f"the {self.description} stopped converting (no conversion-ready flag for "
                                 f"{seen - due + cycle:.2f} s)", "check its supply and configuration")
            if self._stopping.wait(cycle / self.POLLS_PER_CYCLE):
                return None

    def _read_conversion(self, flag_word: int) -> tuple[float, int, int]:
        """(when the current was read, current word, bus word)."""
        before = time.monotonic()
        current = self._read(self.chip.current_register)
        read = (before + time.monotonic()) / 2
        bus = flag_word if self.chip.ready_register == BUS_VOLTAGE_REGISTER else self._read(BUS_VOLTAGE_REGISTER)
        if self.chip.clear_register is not None:
            self._read(self.chip.clear_register)
        return read, current, bus

    def _sample_loop(self) -> None:
        assert self._t0 is not None
        try:
            self._clear_ready()  # a conversion finished before start is not this capture's
            due = time.monotonic() + self.chip.cycle_s
            while (ready := self._wait_until_ready(due)) is not None:
                low, seen, flag_word = ready
                read, current, bus = self._read_conversion(flag_word)
                self._readings.append(Reading(None if low is None else low - self._t0, seen - self._t0,
                                              read - self._t0, current, bus))
                due = (seen if low is None else (low + seen) / 2) + self.chip.cycle_s
        except MeterError as e:
            self._error = e

    def stop(self) -> list[Reading]:
        if self._thread is None:
            raise MeterError(f"the {self.description} was stopped before it started")
        self._stopping.set()
        self._thread.join(timeout=1.0 + 10 * self.chip.cycle_s)
        if self._thread.is_alive():
            raise MeterError(f"the {self.description} sampler did not stop (the I2C bus hangs)",
                             "check the bus wiring and pull-ups")
        self._thread = None
        if self._error is not None:
            raise self._error
        return list(self._readings)

    def close(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=1.0)
            self._thread = None
        try:
            self._bus.close()
        except OSError:
            pass  # closing a bus that already failed has nothing left to report


def capture_arrays(chip: InaChip, description: str, readings: list[Reading]) -> dict:
    """The readings on the chip's own conversion clock: {'meter', 'sample_rate_hz', 'time_s', 'current_a',
    'voltage_v'} (a Capture's fields), one sample per conversion, those the thread was too late for interpolated."""
    if len(readings) < 2:
        raise MeterError(f"the {description} took {len(readings)} sample(s)",
                         "measure for longer than a few milliseconds")
    current_words = np.array([r.current_word for r in readings], dtype=np.int64)
    bus_words = np.array([r.bus_word for r in readings], dtype=np.int64)
    if chip.overflow_mask and (overflows := int(np.count_nonzero(bus_words & chip.overflow_mask))):
        raise MeterError(f"the {description} overflowed in {overflows} of {len(readings)} samples "
                         "(the current exceeded its range)", "raise max_a= or use a smaller shunt")
    first_ready_s, cycle_s = fit_conversion_clock(readings, chip.cycle_s)
    # each reading holds the latest conversion when its current was read (a late thread reads a newer one, never
    # an old one); one read a hair before the fitted flag time still holds that conversion (the fit is good to us)
    read_s = np.array([r.read_s for r in readings])
    numbers, kept = np.unique(np.floor((read_s - first_ready_s) / cycle_s + 1 / 64).astype(np.int64),
                              return_index=True)
    every = np.arange(numbers[0], numbers[-1] + 1)
    time_s = first_ready_s + cycle_s * every - chip.current_age_at_ready_s
    current_a = np.interp(every, numbers, to_amperes(chip, current_words[kept]))
    voltage_v = np.interp(every, numbers, to_volts(chip, bus_words[kept]))
    read_share = len(numbers) / len(every)
    # the chip's measured conversion rate: the capture is regular on its clock
    return {"meter": f"{description}, read {read_share:.0%} of its conversions", "sample_rate_hz": 1.0 / cycle_s,
            "time_s": time_s, "current_a": current_a, "voltage_v": voltage_v}


def readings_to_array(readings: list[Reading]) -> np.ndarray:
    """Readings as one float64 array, a row each: low_s (NaN where None), seen_s, read_s, current and bus words."""
    return np.array([(np.nan if r.low_s is None else r.low_s, r.seen_s, r.read_s, r.current_word, r.bus_word)
                     for r in readings], dtype=np.float64).reshape(-1, 5)


def readings_from_array(rows: np.ndarray) -> list[Reading]:
    return [Reading(None if np.isnan(low) else float(low), float(seen), float(read), int(current), int(bus))
            for low, seen, read, current, bus in np.asarray(rows, dtype=np.float64).reshape(-1, 5)]


# --- `--meter ina219:BUS:ADDR[:shunt=OHMS][:max_a=AMPS]` / `ina260:BUS:ADDR`

DEFAULT_BUS, DEFAULT_ADDRESS = "1", 0x40
INA219_DEFAULT_SHUNT_OHM = 0.1  # the common breakout boards' R100


def _spec_error(kind: str, args: str, why: str) -> MeterError:
    example = "ina219:1:0x40:shunt=0.1" if kind == "ina219" else "ina260:1:0x40"
    return MeterError.bad_spec(f"bad --meter {kind}:{args}: {why}",
                               f"use {kind}:BUS:ADDRESS[:key=value], e.g. {example}")


def parse_ina_spec(kind: str, args: str, options: tuple[str, ...]) -> tuple[str, int, dict[str, float]]:
    """'1:0x40:shunt=0.1' -> ('/dev/i2c-1', 0x40, {'shunt': 0.1}); bus and address default to 1 and 0x40."""
    fields = args.split(":") if args else []
    positional = [f for f in fields if "=" not in f]
    named = [f for f in fields if "=" in f]
    if len(positional) > 2 or fields[:len(positional)] != positional:
        raise _spec_error(kind, args, "expected the bus, then the address, then key=value options")
    bus = positional[0] if positional else DEFAULT_BUS
    # only an I2C bus's device file: the spec reaches the board's agent, which opens nothing else
    number = bus[len("/dev/i2c-"):] if bus.startswith("/dev/i2c-") else bus
    if not (number.isascii() and number.isdigit()):
        raise _spec_error(kind, args, f"bus '{bus}' is not a number or a /dev/i2c-N path")
    device = f"/dev/i2c-{int(number)}"
    address_text = positional[1] if len(positional) > 1 else hex(DEFAULT_ADDRESS)
    try:
        address = int(address_text, 0)
    except ValueError:
        raise _spec_error(kind, args, f"address '{address_text}' is not a number like 0x40") from None
    if address not in INA2XX_ADDRESSES:
        raise _spec_error(kind, args, f"address {address:#04x} is not an INA address (0x40..0x4f)")
    values: dict[str, float] = {}
    for item in named:
        key, _, text = item.partition("=")
        if key not in options:
            allowed = ", ".join(options) if options else "none"
            raise _spec_error(kind, args, f"unknown option '{key}' (options: {allowed})")
        try:
            values[key] = float(text)
        except ValueError:
            raise _spec_error(kind, args, f"{key}='{text}' is not a number") from None
        if not values[key] > 0:
            raise _spec_error(kind, args, f"{key} must be above 0")
    return device, address, values


KINDS = ("ina219", "ina260")


def chip_for_spec(spec: str) -> tuple[InaChip, str, int]:
    """'ina219:1:0x40:shunt=0.1' -> (the configured chip, '/dev/i2c-1', 0x40); a bad spec is a MeterError."""
    kind, _, args = spec.partition(":")
    if kind == "ina219":
        device, address, options = parse_ina_spec("ina219", args, ("shunt", "max_a"))
        shunt = options.get("shunt", INA219_DEFAULT_SHUNT_OHM)
        max_current = options.get("max_a", INA219_PGA_RANGES_V[-1] / shunt)
        return ina219_chip(shunt, max_current), device, address
    if kind == "ina260":
        device, address, _ = parse_ina_spec("ina260", args, ())
        return ina260_chip(), device, address
    raise MeterError.bad_spec(f"'{kind}' is not an INA meter", f"use one of {', '.join(KINDS)}")


def open_sampler(spec: str) -> InaSampler:
    """The chip `spec` names, opened on its bus and configured (not yet sampling)."""
    return InaSampler(*chip_for_spec(spec))
