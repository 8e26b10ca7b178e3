"""A stand-in for an INA219 or INA260 on an I2C bus, at the smbus2 level (no INA can exist on this machine).

What it fakes: the chip on the bus and the bus itself. `InaStandIn` has the smbus2.SMBus methods the driver calls
(`read_word_data`, `write_word_data`, `close`) and behind them a register model of the chip written from TI's
datasheets (INA219: SBOS448, INA260: SBOSA69) independently of the driver: it decodes the configuration the driver
writes (conversion times, PGA range), free-runs conversion cycles from that write, and at the end of each cycle
updates its registers from a KNOWN supply waveform (`Waveform`: idle current, then inference windows at a higher
current) averaged over the cycle's shunt conversion, quantized to the chip's LSBs; the INA219's current register is
its shunt register times the calibration the driver wrote / 4096, as the chip computes it; the conversion-ready
flag (INA219 CNVR, INA260 CVRF) rises at each cycle's end and clears as the datasheets say. Words go out byte-swapped
as SMBus delivers a big-endian register, a wrong address fails like a NACK does (OSError EREMOTEIO), and
`fail_after_reads` makes the chip drop off the bus mid-capture, `stops_converting` keeps its flag down.

What is real: all of the driver: the spec parsing, the calibration and configuration it computes and writes, its
identity and read-back checks, the byte order, the sampling thread and its timing against time.monotonic(), the
register-to-SI arithmetic, the error mapping, and alignment/integration in edgekit.energy.align.

What it cannot show: the kernel's i2c-dev path and real I2C timing (a word read costs ~0.1-0.5 ms on a real bus),
and the real chip's register-update and conversion-timing details beyond the datasheets' description.
"""
from __future__ import annotations

import errno
import math
import threading
import time
from dataclasses import dataclass, field

from tests.energy.supply import Supply, windows_at

# INA219 (SBOS448 8.6): ADC codes -> conversion time (s). 0-3: 9..12-bit single; 8-15: 12-bit, 1..128 averaged.
INA219_ADC_TIME_S = {0: 84e-6, 1: 148e-6, 2: 276e-6, 3: 532e-6, 8: 532e-6, 9: 1.06e-3, 10: 2.13e-3, 11: 4.26e-3,
                     12: 8.51e-3, 13: 17.02e-3, 14: 34.05e-3, 15: 68.10e-3}
INA219_PGA_FULL_SCALE_V = (0.04, 0.08, 0.16, 0.32)
INA219_POWER_ON_CONFIG = 0x399F
# INA260 (SBOSA69 7.6.1.1): conversion-time codes and averaging counts.
INA260_CT_S = (140e-6, 204e-6, 332e-6, 588e-6, 1.1e-3, 2.116e-3, 4.156e-3, 8.244e-3)
INA260_AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)
INA260_POWER_ON_CONFIG = 0x6127


@dataclass
class Waveform(Supply):
    """The supply (see Supply), its window times counted from `origin` (a time.monotonic() value; before it is
    set, the supply idles)."""

    origin: float | None = None

    @staticmethod
    def inferences(idle_a: float, busy_a: float, volts: float, lead_s: float, window_s: float, gap_s: float,
                   count: int) -> "Waveform":
        """`count` windows after `lead_s` of idle; each gap a little longer than the last so the windows' edges
        fall at different phases of the meter's sampling (as real inferences do)."""
        starts, begin = [], lead_s
        for k in range(count):
            starts.append(begin)
            begin += window_s + gap_s + k * 0.37e-3
        return Waveform(idle_a, busy_a, volts, windows_at(starts, window_s))

    def mean_current(self, start: float, end: float) -> float:
        """The exact average current over [start, end] (monotonic seconds)."""
        if self.origin is None or end <= start:
            return self.idle_a
        busy = float(self.busy_seconds(start - self.origin, end - self.origin))
        return self.idle_a + (self.busy_a - self.idle_a) * busy / (end - start)


def _swap(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def _nack(what: str) -> OSError:
    return OSError(errno.EREMOTEIO, f"{errno.errorcode[errno.EREMOTEIO]}: {what}")


@dataclass
class InaStandIn:
    """The chip (`chip` 'ina219' or 'ina260') at `address`, with `shunt_ohm` for the INA219 (the INA260's 2 mOhm is
    inside), driven by `waveform`."""

    chip: str
    waveform: Waveform
    address: int = 0x40
    shunt_ohm: float = 0.1
    fail_after_reads: int | None = None
    stops_converting: bool = False  # answers on the bus, but its conversion-ready flag never rises
    reads: int = 0
    closed: bool = False
    registers: dict[int, int] = field(default_factory=dict)
    _cycle_origin: float = field(default_factory=time.monotonic)
    _flag_cleared_at: int = 0   # conversions completed when the ready flag was last cleared
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        config = INA219_POWER_ON_CONFIG if self.chip == "ina219" else INA260_POWER_ON_CONFIG
        self.registers = {0x00: config, 0x05: 0, 0xFE: 0x5449 if self.chip == "ina260" else 0, 0xFF: 0x2270}

    # --- smbus2.SMBus's methods the driver uses

    def read_word_data(self, i2c_addr: int, register: int) -> int:
        with self._lock:
            self._check(i2c_addr, register)
            self.reads += 1
            if self.fail_after_reads is not None and self.reads > self.fail_after_reads:
                raise _nack("the chip stopped answering")
            word = self._register(register)
            if register == (0x03 if self.chip == "ina219" else 0x06):
                self._flag_cleared_at = self._completed()  # INA219: reading Power clears CNVR; INA260: CVRF clears
            return _swap(word)

    def write_word_data(self, i2c_addr: int, register: int, value: int) -> None:
        with self._lock:
            self._check(i2c_addr, register)
            word = _swap(value)
            if register == 0x00:
                self._cycle_origin = time.monotonic()  # a configuration write restarts the conversions, flag down
                self._flag_cleared_at = 0
                if self.chip == "ina260":
                    word = (word & 0x0FFF) | 0x6000  # bits 14-12 read back 110
            self.registers[register] = word & (0xFFFE if register == 0x05 else 0xFFFF)

    def close(self) -> None:
        self.closed = True

    def _check(self, i2c_addr: int, register: int) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        if i2c_addr != self.address:
            raise _nack(f"nothing at {i2c_addr:#04x}")

    # --- the chip

    def _timing(self) -> tuple[float, float]:
        """(cycle, shunt conversion) seconds from the configuration register."""
        config = self.registers[0x00]
        if self.chip == "ina219":
            shunt, bus = INA219_ADC_TIME_S[(config >> 3) & 0xF], INA219_ADC_TIME_S[(config >> 7) & 0xF]
            return shunt + bus, shunt
        averages = INA260_AVERAGES[(config >> 9) & 0x7]
        shunt, bus = INA260_CT_S[(config >> 3) & 0x7], INA260_CT_S[(config >> 6) & 0x7]
        return averages * (shunt + bus), averages * shunt

    def _completed(self) -> int:
        """Conversion cycles completed since the configuration was written."""
        return math.floor((time.monotonic() - self._cycle_origin) / self._timing()[0])

    def _ready(self) -> bool:
        return not self.stops_converting and self._completed() > self._flag_cleared_at

    def _last_cycle(self) -> tuple[float, float, float] | None:
        """(start, shunt end, end) of the latest completed conversion cycle: registers update when a cycle ends."""
        cycle, shunt = self._timing()
        completed = self._completed()
        if completed < 1:
            return None
        start = self._cycle_origin + (completed - 1) * cycle
        return start, start + shunt, start + cycle

    def _register(self, register: int) -> int:
        if self.chip == "ina260" and register == 0x06:
            return int(self._ready()) << 3  # Mask/Enable: CVRF, bit 3
        if register not in (0x01, 0x02, 0x03, 0x04):
            return self.registers.get(register, 0)
        last = self._last_cycle()
        current = 0.0 if last is None else self.waveform.mean_current(last[0], last[1])
        volts = 0.0 if last is None else self.waveform.volts  # no conversion since configured: power-on zeros
        if self.chip == "ina260":
            words = {0x01: round(current / 1.25e-3), 0x02: round(volts / 1.25e-3), 0x03: round(current * volts / 0.01)}
            return words[register] & 0xFFFF
        return self._ina219_register(register, current, volts)

    def _ina219_register(self, register: int, current: float, volts: float) -> int:
        full_scale = INA219_PGA_FULL_SCALE_V[(self.registers[0x00] >> 11) & 0x3]
        limit = round(full_scale / 10e-6)
        shunt = max(-limit, min(limit, round(current * self.shunt_ohm / 10e-6)))
        computed = int(shunt * self.registers[0x05] / 4096)  # SBOS448 eq. 4, truncated like the chip's integer math
        overflow = int(abs(computed) > 0x7FFF)
        bus_raw = round(volts / 4e-3)
        bus = bus_raw << 3 | int(self._ready()) << 1 | overflow  # CNVR is bit 1, OVF bit 0
        power = computed * bus_raw // 5000  # SBOS448 eq. 5
        return {0x01: shunt, 0x02: bus, 0x03: power, 0x04: computed}[register] & 0xFFFF
