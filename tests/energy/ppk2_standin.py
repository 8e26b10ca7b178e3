"""A stand-in PPK2 at the far end of a real pseudo-terminal, for tests: no PPK2 can be plugged in here.

What it fakes: only the device, i.e. the PPK2's firmware on the other side of the serial line. It answers the
metadata request with a calibration text block (ppk2-api's format: "KEY: value" lines, then END; the values are
plausible ones of our own, of the size a real PPK2 reports), takes the commands ppk2-api sends (mode, regulator
voltage, DUT power, average start/stop) and, while measuring, streams 4-byte samples of a known waveform paced at the
real 100 kHz: an idle current, then inference windows at a higher current with logic input D0 high during each.
It can also misbehave as a PPK2 does: stay silent, go silent (hung), be unplugged (the pty closed) or be found still
measuring from an earlier run.

What is real: the pty (the kernel's tty layer between the two ends), pyserial opening the slave path, ppk2-api's
commands, metadata parsing, sample decoding (masks, calibration math, digital channels), edgekit's driver and the
alignment. The samples encode the currents by inverting ppk2-api's decoding for one current range, so every
sample decodes back to its current within half an ADC step (under 0.02% here).
"""
from __future__ import annotations

import math
import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE_HZ = 100_000
ADC_MULT = 1.8 / 163840  # volts per ADC step, as ppk2-api (and the PPK2's firmware) count them
ADC_STEP = 4  # ppk2-api multiplies the 14-bit field by 4
ADC_MAX = 2 ** 14 - 1
COUNTER_MODULO = 64  # the 6-bit sample counter the PPK2 puts in bits 18-23 (ppk2-api ignores it)

# Per current range 0-4: shunt resistance R, the gain terms GS (quadratic) and GI (linear), ADC offset O, and the
# terms S (per volt of VDD) and I (constant). Plausible values of our own, of the sizes a real PPK2 reports.
CALIBRATION: dict[str, tuple[float, ...]] = {
    "R": (1004.28, 101.33, 10.214, 0.946, 0.0551),
    "GS": (0.0, 110.52, 17.204, 2.3106, 0.0712),
    "GI": (1.0, 0.9712, 0.9618, 0.9547, 0.9601),
    "O": (113.104, 76.231, 65.012, 51.307, 86.903),
    "S": (0.000000046, 0.000000611, 0.000005297, 0.000060153, 0.002906771),
    "I": (-0.000000108, -0.000001496, 0.000034873, -0.000361022, -0.009102348),
    "UG": (1.0, 1.0, 1.0, 1.0, 1.0),
}

# Opcode -> length of the command in bytes, for the commands ppk2-api sends.
GET_META_DATA, AVERAGE_START, AVERAGE_STOP = 0x19, 0x06, 0x07
SET_POWER_MODE, REGULATOR_SET, DEVICE_RUNNING_SET = 0x11, 0x0D, 0x0C
COMMAND_LENGTHS = {GET_META_DATA: 1, AVERAGE_START: 1, AVERAGE_STOP: 1, SET_POWER_MODE: 2, REGULATOR_SET: 3,
                   DEVICE_RUNNING_SET: 2}
POWER_MODES = {1: "ampere", 2: "source"}


def metadata_text(vdd_mv: int) -> bytes:
    """The text block the PPK2 answers GET_META_DATA with."""
    lines = ["Calibrated: 0"]
    for key in ("R", "GS", "GI", "O"):
        lines += [f"{key}{i}: {value:.4f}" for i, value in enumerate(CALIBRATION[key])]
    lines += [f"VDD: {vdd_mv}", "HW: 9171", "mode: 2"]
    for key in ("S", "I"):
        lines += [f"{key}{i}: {value:.9f}" for i, value in enumerate(CALIBRATION[key])]
    lines += [f"UG{i}: {value:.2f}" for i, value in enumerate(CALIBRATION["UG"])]
    lines += ["IA: 56", "END"]
    return ("\n".join(lines) + "\n").encode()


def adc_code(current_a: float, current_range: int, vdd_mv: int) -> int:
    """The 14-bit ADC field that ppk2-api decodes to `current_a` in `current_range` (its calibration inverted:
    current = UG * (r * (GS * r + GI) + S * VDD + I), r = (4 * code - O) * ADC_MULT / R)."""
    def term(key: str) -> float:
        return CALIBRATION[key][current_range]
    quadratic, linear = term("GS"), term("GI")
    target = current_a / term("UG") - term("S") * vdd_mv / 1000 - term("I")
    if quadratic:
        r = (-linear + math.sqrt(linear * linear + 4 * quadratic * target)) / (2 * quadratic)
    else:
        r = target / linear
    code = round((r * term("R") / ADC_MULT + term("O")) / ADC_STEP)
    if not 0 <= code <= ADC_MAX:
        raise ValueError(f"{current_a} A does not fit current range {current_range}")
    return code


def regulator_mv(high: int, low: int) -> int:
    """The millivolts in a REGULATOR_SET command (800 mV is sent as 3, 32; one step per millivolt)."""
    return (high - 3) * 256 + low - 32 + 800


@dataclass(frozen=True)
class Waveform:
    """Idle for `lead_s`, then `windows` inferences of `window_s` (D0 high) `gap_s` apart, then idle for `tail_s`
    and on until the host stops measuring. `steady_logic` is held on other inputs throughout (bit i = D i)."""

    idle_a: float = 0.012
    active_a: float = 0.045
    lead_s: float = 0.03
    window_s: float = 0.02
    gap_s: float = 0.02
    windows: int = 5
    tail_s: float = 0.03
    steady_logic: int = 0b0010_0000  # D5: a pin that stays high, to check which bit is which
    current_range: int = 2  # one range for all: ppk2-api's spike filter blends samples only at range switches

    @property
    def duration_s(self) -> float:
        return self.lead_s + self.windows * self.window_s + (self.windows - 1) * self.gap_s + self.tail_s

    def energy_per_inference_j(self, supply_v: float) -> float:
        return (self.active_a - self.idle_a) * supply_v * self.window_s

    def segments(self) -> list[tuple[int, float, int]]:
        """(samples, current, logic) in order; the last segment is the idle that goes on."""
        def samples(seconds: float) -> int:
            return round(seconds * SAMPLE_RATE_HZ)
        idle, active = self.steady_logic, self.steady_logic | 1
        out = [(samples(self.lead_s), self.idle_a, idle)]
        for index in range(self.windows):
            out.append((samples(self.window_s), self.active_a, active))
            gap = self.gap_s if index < self.windows - 1 else self.tail_s
            out.append((samples(gap), self.idle_a, idle))
        return out


@dataclass
class StandinPpk2:
    """Run it as a context manager; `port` is the path for the driver to open."""

    waveform: Waveform = field(default_factory=Waveform)
    silent_after_s: float | None = None  # stop streaming this long after the start, as a hung PPK2 would
    unplugged_after_s: float | None = None  # close the pty this long after the start, as a pulled cable would
    answers_metadata: bool = True
    measuring_at_start: bool = False  # left measuring by an earlier run: samples flow before any command
    commands: list[tuple[int, ...]] = field(default_factory=list)
    mode: str | None = None
    vdd_mv: int = 3300
    dut_power: bool = False

    def __post_init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # 8-bit clean from the start; pyserial sets raw mode again when it opens the port
        os.set_blocking(self._master, False)  # a host that reads slowly must not block the stand-in
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ppk2 stand-in", daemon=True)
        self._pending = b""
        self._started_at: float | None = None
        self._bytes_sent = 0
        self._segment_ends: np.ndarray = np.zeros(0, dtype=np.int64)
        self._segment_words: np.ndarray = np.zeros(0, dtype=np.uint32)

    def __enter__(self) -> StandinPpk2:
        if self.measuring_at_start:
            self._prepare_stream()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._unplug()

    def _unplug(self) -> None:
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:  # already unplugged
                pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._started_at is not None and self.unplugged_after_s is not None \
                    and time.monotonic() - self._started_at > self.unplugged_after_s:
                self._unplug()
                return
            readable, _, _ = select.select([self._master], [], [], 0.0005)
            if readable:
                self._receive()
            if self._started_at is not None:
                self._stream()

    def _receive(self) -> None:
        try:
            self._pending += os.read(self._master, 4096)
        except (BlockingIOError, OSError):  # EIO while no host has the port open
            time.sleep(0.001)
            return
        while self._pending:
            length = COMMAND_LENGTHS.get(self._pending[0], 1)
            if len(self._pending) < length:
                return
            command, self._pending = tuple(self._pending[:length]), self._pending[length:]
            self.commands.append(command)
            self._obey(command)

    def _obey(self, command: tuple[int, ...]) -> None:
        opcode = command[0]
        if opcode == GET_META_DATA and self.answers_metadata:
            os.write(self._master, metadata_text(self.vdd_mv))
        elif opcode == SET_POWER_MODE:
            self.mode = POWER_MODES.get(command[1])
        elif opcode == REGULATOR_SET:
            self.vdd_mv = regulator_mv(command[1], command[2])
        elif opcode == DEVICE_RUNNING_SET:
            self.dut_power = command[1] == 1
        elif opcode == AVERAGE_START:
            self._prepare_stream()
        elif opcode == AVERAGE_STOP:
            self._started_at = None

    def _prepare_stream(self) -> None:
        # Encoded now, not earlier: the calibration's S term depends on the VDD the host has set.
        segments = self.waveform.segments()
        self._segment_ends = np.cumsum([count for count, _, _ in segments])
        range_bits = self.waveform.current_range << 14
        self._segment_words = np.array([adc_code(current, self.waveform.current_range, self.vdd_mv) | range_bits
                                        | logic << 24 for _, current, logic in segments], dtype=np.uint32)
        self._bytes_sent = 0
        self._started_at = time.monotonic()

    def _stream(self) -> None:
        """Send the bytes due by now at 100 kHz, in whatever sizes come out (samples split across writes too)."""
        elapsed = time.monotonic() - self._started_at
        if self.silent_after_s is not None and elapsed > self.silent_after_s:
            return
        due = min(int(elapsed * SAMPLE_RATE_HZ * 4), self._bytes_sent + 65536)
        if due <= self._bytes_sent:
            return
        first, last = self._bytes_sent // 4, -(-due // 4)
        chunk = self._sample_bytes(first, last)[self._bytes_sent - 4 * first: due - 4 * first]
        try:
            self._bytes_sent += os.write(self._master, chunk)
        except BlockingIOError:  # the host is behind: the pty's buffer is full, send later
            pass

    def _sample_bytes(self, first: int, last: int) -> bytes:
        index = np.arange(first, last, dtype=np.int64)
        # Past the last segment's end the board idles on, as the last segment does.
        segment = np.minimum(np.searchsorted(self._segment_ends, index, side="right"), len(self._segment_ends) - 1)
        counter = (index % COUNTER_MODULO).astype(np.uint32) << 18
        return (self._segment_words[segment] | counter).astype("<u4").tobytes()
