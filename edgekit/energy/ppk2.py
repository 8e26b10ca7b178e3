"""Nordic Power Profiler Kit II (PPK2) as a meter, on ppk2-api 0.9.2 (`--meter ppk2:PORT:OPTIONS`).

Spec: `ppk2:PORT:OPTION[,OPTION...]`, PORT the PPK2's serial port: a device (/dev/ttyACM1, COM5, a
/dev/serial/by-path name with colons in it) or a pyserial URL (rfc2217://host:port for a PPK2 behind a farm's
ser2net). Only the trailing fields of `key=value` items are options. Options:

  supply=VOLTAGE   ampere mode (the default): the PPK2 sits in series with the board's own supply (VIN -> VOUT), the
                   way boards are usually measured. It measures current only, so the supply's voltage is required.
  source=VOLTAGE   source mode: the PPK2 powers the board from its own regulator at VOLTAGE.
  timeout=SECONDS  how long a PPK2 that sends nothing is waited for before DeviceError (default 1).

VOLTAGE is in volts (3.3) or millivolts (3300): the PPK2 works from 0.8 to 5 V, so the two ranges never overlap.
Examples: `ppk2:/dev/ttyACM1:supply=3.3`, `ppk2:/dev/ttyACM1:source=1800`, `ppk2:COM5:supply=3.3,timeout=2`.

Clock: the PPK2 streams samples at 100 kHz from its own crystal and sends no timestamps, so sample i is at
i / 100 kHz from the first sample after "start" (time 0), and `now()` is the time of the newest sample received.
The host's clock would drift against the samples and add the start command's latency; counting samples keeps
`now()`, the samples and the digital windows on one clock. `now()` lags the true instant by the USB transfer and
the reader's poll (a few ms), so windows from digital input D0 are the precise ones.

Digital inputs: each sample carries logic inputs D0-D7; `Capture.digital` has bit i = D i.
Currents are ppk2-api's decoding: calibrated with the PPK2's own modifiers and, for the few samples after each
switch of current range, smoothed by its spike filter (as nRF Connect does). The sample counter the PPK2 sends is
not checked (ppk2-api drops it), so a sample lost on the USB link would shift later samples by 10 us each.
The DUT power stays on at close: cutting it would reset the board between captures.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import DeviceError, InputError
from .meter import Capture, register_meter

if TYPE_CHECKING:
    from ppk2_api.ppk2_api import PPK2_API

SAMPLE_RATE_HZ = 100_000  # the PPK2's fixed sampling rate
SAMPLE_BYTES = 4  # one sample on the wire: ADC value, range, counter and logic inputs in a little-endian word
VOLTAGE_RANGE_MV = (800, 5000)  # what the PPK2's regulator and its ampere-meter input work with
DEFAULT_TIMEOUT_S = 1.0  # a PPK2 streams 400 kB/s: a second of nothing means it is gone
POLL_S = 0.002  # between reads when nothing is waiting: a few hundred samples per read
QUIET_S = 0.05  # for samples already on their way to arrive after a stop, before they are thrown away
CLOCK_TOLERANCE = 1e-4  # the PPK2's crystal against the host's clock: 100 ppm, far more than either drifts
STOP_MARGIN_S = 0.002  # samples past the instant of stop(), so none before it is missing

SPEC_EXAMPLE = "e.g. ppk2:/dev/ttyACM1:supply=3.3 (ampere mode) or ppk2:/dev/ttyACM1:source=3300 (source mode)"
LIST_HINT = "is it the PPK2's port? python -c 'from ppk2_api.ppk2_api import PPK2_API; print(PPK2_API.list_devices())'"


@dataclass(frozen=True)
class Ppk2Settings:
    port: str
    source_mode: bool  # False: ampere mode, the board on its own supply
    voltage_v: float  # the board's supply: the PPK2's regulator in source mode, the user's word in ampere mode
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def voltage_mv(self) -> int:
        # ppk2-api packs the millivolts into command bytes and silently drops a command with a float in it
        return round(self.voltage_v * 1000)

    @property
    def mode_name(self) -> str:
        return "source" if self.source_mode else "ampere"


def parse_ppk2_spec(args: str) -> Ppk2Settings:
    """`PORT:OPTION[,OPTION...]` (what follows `ppk2:`) -> settings; a bad spec is one InputError."""
    port, options = _split_port(args)
    if not port:
        raise InputError("the ppk2 meter needs its serial port", SPEC_EXAMPLE)
    voltages = {key: _parse_voltage(key, options.pop(key)) for key in ("supply", "source") if key in options}
    timeout_s = _parse_timeout(options.pop("timeout")) if "timeout" in options else DEFAULT_TIMEOUT_S
    if options:
        raise InputError(f"unknown ppk2 option '{next(iter(options))}'",
                         f"use supply=VOLTAGE, source=VOLTAGE or timeout=SECONDS, {SPEC_EXAMPLE}")
    if len(voltages) != 1:
        problem = ("both supply= and source= given" if voltages else
                   "in ampere mode the PPK2 measures current only: the board's supply voltage is needed")
        raise InputError(f"ppk2 on {port}: {problem}", f"give one of them, {SPEC_EXAMPLE}")
    (mode, voltage_v), = voltages.items()
    return Ppk2Settings(port=port, source_mode=mode == "source", voltage_v=voltage_v, timeout_s=timeout_s)


def _split_port(args: str) -> tuple[str, dict[str, str]]:
    """Trailing colon fields of `key=value` items are options; the rest is the port, which may hold colons itself
    (and '=' in a URL's query, after a key that is no name: `spy:///dev/ttyACM1?file=log.txt`)."""
    fields = args.split(":")
    items: list[str] = []
    while fields and _is_options(fields[-1]):
        items[:0] = fields.pop().split(",")
    options: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not value or not key.isidentifier() or key in options:
            raise InputError(f"bad ppk2 option '{item}'", f"each option once, as key=value, {SPEC_EXAMPLE}")
        options[key] = value
    return ":".join(fields), options


def _is_options(field: str) -> bool:
    key, equals, _ = field.partition("=")
    return bool(equals) and key.isidentifier()


def _parse_voltage(key: str, text: str) -> float:
    value = _parse_number(key, text)
    low_mv, high_mv = VOLTAGE_RANGE_MV
    if low_mv / 1000 <= value <= high_mv / 1000:
        return value
    if low_mv <= value <= high_mv:
        return value / 1000
    raise InputError(f"ppk2 {key}={text} is outside the PPK2's {low_mv / 1000:g}-{high_mv / 1000:g} V",
                     "give volts (3.3) or millivolts (3300)")


def _parse_timeout(text: str) -> float:
    value = _parse_number("timeout", text)
    if not 0 < value <= 60:
        raise InputError(f"ppk2 timeout={text} must be between 0 and 60 seconds", "e.g. timeout=2")
    return value


def _parse_number(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"ppk2 {key}={text} is not a number", SPEC_EXAMPLE) from None


class _SampleReader(threading.Thread):
    """Reads what the PPK2 sent (ppk2-api's non-blocking `get_data`) and decodes it with ppk2-api as it comes,
    until told to finish or until the PPK2 is silent for `timeout_s` (then `error` says so)."""

    def __init__(self, api: PPK2_API, settings: Ppk2Settings) -> None:
        super().__init__(name=f"ppk2 reader {settings.port}", daemon=True)
        self._api = api
        self._settings = settings
        self._finish = threading.Event()
        self._partial = b""  # the start of a sample whose other bytes are still in flight
        self._currents_a: list[np.ndarray] = []
        self._digital: list[np.ndarray] = []
        self.samples = 0
        self.error: DeviceError | None = None

    def run(self) -> None:
        import serial

        last_data = time.monotonic()
        try:
            while not self._finish.is_set():
                data = self._api.get_data()
                if data:
                    last_data = time.monotonic()
                    self._decode(data)
                elif time.monotonic() - last_data > self._settings.timeout_s:
                    self.error = DeviceError(
                        f"the PPK2 on {self._settings.port} sent no samples for {self._settings.timeout_s:g} s",
                        "check its USB cable and that no other program uses it, then rerun")
                    return
                else:
                    self._finish.wait(POLL_S)
        except (serial.SerialException, OSError) as exc:
            self.error = DeviceError(f"reading the PPK2 on {self._settings.port} failed: {exc}",
                                     "check its USB cable, then rerun")

    def _decode(self, data: bytes) -> None:
        # Only whole samples go to ppk2-api: its own carry-over decodes a bogus sample from an empty or short read.
        data = self._partial + data
        whole = len(data) - len(data) % SAMPLE_BYTES
        self._partial = data[whole:]
        if not whole:
            return
        micro_amps, logic = self._api.get_samples(data[:whole])
        self._currents_a.append(np.asarray(micro_amps, dtype=np.float64) * 1e-6)
        self._digital.append(_pack_channels(self._api.digital_channels(logic)))
        self.samples += len(micro_amps)

    def finish(self) -> None:
        self._finish.set()
        self.join(self._settings.timeout_s + 1.0)  # one read and one decode: never long
        if self.is_alive():
            self.error = self.error or DeviceError(f"the PPK2 reader on {self._settings.port} did not stop",
                                                   "unplug and replug the PPK2")

    def capture(self, meter: str) -> Capture:
        current_a = np.concatenate(self._currents_a) if self._currents_a else np.zeros(0)
        digital = np.concatenate(self._digital) if self._digital else np.zeros(0, dtype=np.uint8)
        return Capture(meter=meter, sample_rate_hz=float(SAMPLE_RATE_HZ),
                       time_s=np.arange(len(current_a)) / SAMPLE_RATE_HZ, current_a=current_a,
                       voltage_v=np.full(len(current_a), self._settings.voltage_v), digital=digital)


def _pack_channels(channels: Sequence[Sequence[int]]) -> np.ndarray:
    """ppk2-api's digital channels (row i: input D i, 0/1 per sample) -> one byte per sample, bit i = D i."""
    packed = np.zeros(len(channels[0]), dtype=np.uint8)
    for bit, levels in enumerate(channels):
        packed |= np.asarray(levels, dtype=np.uint8) << np.uint8(bit)
    return packed


class Ppk2Meter:
    """A PPK2, opened, calibrated (its modifiers read) and set to its mode and voltage; `start` begins a capture."""

    def __init__(self, api: PPK2_API, settings: Ppk2Settings) -> None:
        self._api = api
        self._settings = settings
        self._reader: _SampleReader | None = None
        self.description = (f"PPK2 on {settings.port}, {settings.mode_name} mode, {settings.voltage_v:g} V"
                            f" ({'from the PPK2' if settings.source_mode else 'board supply'})")

    def start(self) -> None:
        if self._reader is not None:
            raise DeviceError(f"the PPK2 on {self._settings.port} is already measuring", "stop it first")
        self._discard_input()  # time 0 is the first sample after the start command, not a stale one
        self._api.start_measuring()
        self._started = time.monotonic()
        self._reader = _SampleReader(self._api, self._settings)
        self._reader.start()

    def now(self) -> float:
        if self._reader is None:
            return 0.0
        if self._reader.error:
            raise self._reader.error
        return self._reader.samples / SAMPLE_RATE_HZ

    def stop(self) -> Capture:
        if self._reader is None:
            raise DeviceError(f"the PPK2 on {self._settings.port} is not measuring", "start it first")
        self._wait_for_samples_up_to_now(self._reader)
        reader = self._end_capture()
        if reader.error:
            raise reader.error
        self._discard_input()  # the samples still in flight: the next capture must not start with them
        if not reader.samples:
            raise DeviceError(f"the PPK2 on {self._settings.port} sent no samples", "measure for longer")
        return reader.capture(meter=f"ppk2 {self._settings.port}")

    def close(self) -> None:
        if self._reader is not None:
            self._end_capture()
        self._api.ser.close()

    def _wait_for_samples_up_to_now(self, reader: _SampleReader) -> None:
        """Samples reach the host some ms after they are taken (USB, the reader's poll): wait until those of the
        instant stop() was called are in, so an inference just before it is not cut off. The first sample follows
        the start command, and the PPK2's crystal and the host's clock may differ by up to CLOCK_TOLERANCE: counting
        a little past the instant covers both."""
        elapsed = time.monotonic() - self._started
        wanted = (elapsed * (1 + CLOCK_TOLERANCE) + STOP_MARGIN_S) * SAMPLE_RATE_HZ
        deadline = time.monotonic() + self._settings.timeout_s
        while reader.samples < wanted and reader.error is None and time.monotonic() < deadline:
            time.sleep(POLL_S)

    def _end_capture(self) -> _SampleReader:
        reader, self._reader = self._reader, None
        assert reader is not None
        if reader.error is None:  # to a port that failed, ppk2-api would only log its failed write on stderr
            self._api.stop_measuring()
        reader.finish()
        return reader

    def _discard_input(self) -> None:
        import serial

        time.sleep(QUIET_S)
        try:
            self._api.ser.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"the PPK2 on {self._settings.port} failed: {exc}", "check its USB cable") from None


def connect(settings: Ppk2Settings) -> Ppk2Meter:
    """Open the port, read the PPK2's calibration, set its mode, voltage and DUT power."""
    import serial
    from ppk2_api.ppk2_api import PPK2_API

    api = PPK2_API(None)  # opens nothing: ppk2-api opens with serial.Serial, which takes no URLs (rfc2217://)
    try:
        # The timeouts bound every blocking read and write; exclusive keeps a second run off the same PPK2.
        api.ser = serial.serial_for_url(settings.port, baudrate=9600, timeout=settings.timeout_s,
                                        write_timeout=settings.timeout_s, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceError(f"cannot open the PPK2 on {settings.port}: {exc}", LIST_HINT) from None
    try:
        _configure(api, settings)
    except BaseException:
        api.ser.close()
        raise
    return Ppk2Meter(api, settings)


def _configure(api: PPK2_API, settings: Ppk2Settings) -> None:
    import serial

    # A PPK2 left measuring by an earlier run would bury its calibration text in samples.
    api.stop_measuring()
    time.sleep(QUIET_S)
    try:
        api.ser.reset_input_buffer()
        calibrated = api.get_modifiers()  # about 0.5 s at most: ppk2-api polls five times, 0.1 s apart
    except (serial.SerialException, OSError, UnicodeDecodeError) as exc:
        raise DeviceError(f"reading the PPK2's calibration on {settings.port} failed: {exc}", LIST_HINT) from None
    # ppk2-api keeps its default modifiers when nothing (or a fragment) came: those would give wrong currents.
    if not calibrated or api.modifiers.get("Calibrated") is None:
        raise DeviceError(f"the PPK2 on {settings.port} did not send its calibration", LIST_HINT)
    if settings.source_mode:
        api.use_source_meter()
    else:
        api.use_ampere_meter()
    # Needed in ampere mode too: ppk2-api's calibration has a term proportional to the board's voltage.
    api.set_source_voltage(settings.voltage_mv)
    api.toggle_DUT_power("ON")  # in ampere mode this closes the path from VIN to VOUT


@register_meter("ppk2")
def open_ppk2(args: str) -> Ppk2Meter:
    return connect(parse_ppk2_spec(args))
