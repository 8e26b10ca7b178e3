"""A Joulescope JS220 or JS110 on the host's USB (`--meter joulescope[:SERIAL][:fs=HZ]`), through the joulescope
package's v1 API (joulescope==1.5.0 on pyjoulescope_driver).

The device streams current, voltage and its general-purpose inputs IN0/IN1, averaged down by the driver from 2 MHz
to `fs` (100 kHz by default: 10 us resolution at ~1.5 MB/s). A stream-process object drains the library's ring
buffer (`StreamBuffer`) on each notification, as the library's own JLS writer does (joulescope/jls_v2_writer.py,
`stream_notify`), so a capture is as long as memory allows rather than the ring's length. The firmware raises IN0
during each inference, so `Capture.digital` (bit i = INi) gives the windows to `align.windows_from_digital` on the
instrument's own sample clock.

Where the v1 API keeps IN0/IN1 (joulescope/v1/stream_buffer.py): `StreamBuffer.buffers[(5, 0)]` and `[(5, 1)]`,
named 'gpi0'/'gpi1' there but reachable through `samples_get` only by the field names 'current_lsb' and
'voltage_lsb' (`FIELDS`); there are no 'in0'/'in1' fields in v1. The JS220 streams them as their own signals
('s/gpi/0/', 's/gpi/1/'); the JS110 carries them in the current/voltage LSBs, routed there by the
'current_lsb'/'voltage_lsb' parameters set below.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import DeviceError, InputError
from .meter import Capture, register_meter

DEFAULT_SAMPLE_RATE_HZ = 100_000
RING_SECONDS = 2                  # the library's ring buffer; drained every notification, so 2 s of slack is plenty
OPEN_TIMEOUT_S = 10.0             # pyjoulescope_driver's open of a JS220 takes ~1 s (firmware info, settings)
FIRST_SAMPLES_TIMEOUT_S = 2.0     # streaming starts within ~100 ms
DRAIN_TIMEOUT_S = 2.0             # what was sampled before stop() reaches the host within USB latency (~10s of ms)
CLOSE_TIMEOUT_S = 2.0
# samples_get field names: v1 FIELDS maps 'current_lsb' -> buffer (5, 0) = gpi0 = IN0, 'voltage_lsb' -> (5, 1) = IN1
SIGNAL_FIELDS = ["current", "voltage", "current_lsb", "voltage_lsb"]


def _scan() -> list[Any]:
    import joulescope
    return joulescope.scan()


# Lists the connected Joulescopes (v1 `Device`s). Tests replace it with devices whose native driver is a stand-in.
_scan_devices: Callable[[], list[Any]] = _scan


@dataclass
class StreamRecorder:
    """A joulescope StreamProcessApi object (joulescope/v0/driver.py documents it; v1 `Device` calls it from its
    USB thread on every notification): copies the samples it has not seen out of the library's ring buffer."""

    chunks: list[dict[str, np.ndarray]] = field(default_factory=list)
    first_id: int | None = None
    next_id: int | None = None
    lost: int = 0
    first_seen_monotonic: float | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)
    driver_active: bool = True  # the v1 Device sets and reads it

    def start(self, stream_buffer: Any) -> None:
        """Called by `Device.start` and `stream_process_register`; the samples begin with the first notification."""

    def stream_notify(self, stream_buffer: Any) -> bool:
        start, end = stream_buffer.sample_id_range
        with self.arrived:
            if self.next_id is None:
                self.first_id = self.next_id = start
                self.first_seen_monotonic = time.monotonic()
            if start > self.next_id:  # the ring overwrote samples this object never copied
                self.lost += start - self.next_id
            start = max(start, self.next_id)
            if start < end:
                signals = stream_buffer.samples_get(start, end, fields=SIGNAL_FIELDS)["signals"]
                # samples_get hands out views into the ring, which the next notification overwrites
                self.chunks.append({name: np.array(signals[name]["value"]) for name in SIGNAL_FIELDS})
                self.next_id = end
            self.arrived.notify_all()
        return False  # keep streaming

    def stop(self) -> None:
        """Called when the device stops streaming."""

    def close(self) -> None:
        """Called if the device drops this object."""

    def samples(self) -> int:
        return 0 if self.first_id is None or self.next_id is None else self.next_id - self.first_id

    def wait_for(self, enough: Callable[[], bool], timeout_s: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(enough, timeout=timeout_s)


class JoulescopeMeter:
    """A Joulescope streaming current, voltage and IN0/IN1 into a `Capture` (see the module docstring).

    `now()` is the host's clock, set at the first samples' arrival less their span, so it runs within a USB
    latency (~ms) of the instrument's; IN0's windows, on the instrument's clock, are the precise ones."""

    def __init__(self, device: Any, sample_rate_hz: int) -> None:
        self.device, self.sample_rate_hz = device, sample_rate_hz
        self.description = f"Joulescope {device} at {sample_rate_hz / 1e3:g} kHz"
        self._recorder: StreamRecorder | None = None
        self._t0: float | None = None
        try:
            device.parameter_set("sampling_frequency", sample_rate_hz)
            device.parameter_set("buffer_duration", RING_SECONDS)
            device.parameter_set("current_lsb", "gpi0")  # the JS110 carries IN0/IN1 in the LSBs; the JS220 ignores it
            device.parameter_set("voltage_lsb", "gpi1")
        except (KeyError, ValueError) as e:
            raise InputError(f"the Joulescope {device} cannot sample at {sample_rate_hz} Hz ({e})",
                             "use fs= 1000000, 500000, 200000, 100000, 50000, 20000, 10000, 5000, 2000 or 1000") from e
        self._call("open", lambda: device.open(timeout=OPEN_TIMEOUT_S))

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        """The library raises RuntimeError, TimeoutError, OSError (and the native driver's own): one line each."""
        try:
            return action()
        except Exception as e:  # noqa: BLE001 - whatever the native driver raises is a device failure here
            raise DeviceError(f"the Joulescope {self.device} failed to {what}: {e or type(e).__name__}",
                              "check its USB cable, and that no other program (the Joulescope UI) holds it") from e

    def start(self) -> None:
        if self._recorder is not None:
            raise DeviceError(f"the {self.description} is already streaming")
        recorder = self._recorder = StreamRecorder()
        self.device.stream_process_register(recorder)
        self._call("start streaming", self.device.start)
        if not recorder.wait_for(lambda: recorder.samples() > 0, FIRST_SAMPLES_TIMEOUT_S):
            self._halt()
            raise DeviceError(f"the {self.description} sent no samples within {FIRST_SAMPLES_TIMEOUT_S:g} s",
                              "unplug and replug it; check that its firmware is up to date")
        assert recorder.first_seen_monotonic is not None
        self._t0 = recorder.first_seen_monotonic - recorder.samples() / self.sample_rate_hz

    def now(self) -> float:
        if self._t0 is None:
            raise DeviceError(f"the {self.description} has not started")
        return time.monotonic() - self._t0

    def _halt(self) -> None:
        recorder, self._recorder = self._recorder, None
        self._call("stop streaming", self.device.stop)
        if recorder is not None:
            self.device.stream_process_unregister(recorder)

    def stop(self) -> Capture:
        recorder = self._recorder
        if recorder is None:
            raise DeviceError(f"the {self.description} was stopped before it started")
        wanted = int(self.now() * self.sample_rate_hz)  # what it had sampled by now is still in flight over USB
        arrived = recorder.wait_for(lambda: recorder.samples() >= wanted, DRAIN_TIMEOUT_S)
        self._halt()
        if not arrived:
            raise DeviceError(f"the {self.description} stopped streaming ({recorder.samples()} of {wanted} samples "
                              f"after {DRAIN_TIMEOUT_S:g} s)", "check its USB connection (a hub, a long cable)")
        return self._capture(recorder)

    def _capture(self, recorder: StreamRecorder) -> Capture:
        joined = {name: np.concatenate([c[name] for c in recorder.chunks]) for name in SIGNAL_FIELDS}
        dropped = recorder.lost + int(np.count_nonzero(np.isnan(joined["current"])))  # the ring marks gaps NaN
        if dropped:
            raise DeviceError(f"the {self.description} dropped {dropped} of {recorder.samples()} samples",
                              "lower fs= or use a USB port of its own")
        digital = joined["current_lsb"].astype(np.uint8) | (joined["voltage_lsb"].astype(np.uint8) << 1)
        return Capture(meter=self.description, sample_rate_hz=float(self.sample_rate_hz),
                       time_s=np.arange(len(digital)) / self.sample_rate_hz,
                       current_a=joined["current"].astype(np.float64), voltage_v=joined["voltage"].astype(np.float64),
                       digital=digital)

    def close(self) -> None:
        if self._recorder is not None:
            self._halt()
        self._call("close", lambda: self.device.close(timeout=CLOSE_TIMEOUT_S))


# --- `--meter joulescope[:SERIAL][:fs=HZ]`

def _spec_error(args: str, why: str) -> InputError:
    return InputError(f"bad --meter joulescope:{args}: {why}",
                      "use joulescope, joulescope:SERIAL or joulescope:SERIAL:fs=HZ, e.g. joulescope:000415:fs=100000")


def parse_joulescope_spec(args: str) -> tuple[str | None, int]:
    """'' -> (None, 100000); '000415:fs=200000' -> ('000415', 200000)."""
    serial, sample_rate = None, DEFAULT_SAMPLE_RATE_HZ
    for item in filter(None, args.split(":")):
        key, has_value, value = item.partition("=")
        if not has_value and serial is None:
            serial = item
        elif key == "fs" and value.isdigit():
            sample_rate = int(value)
        elif key == "fs":
            raise _spec_error(args, f"fs='{value}' is not a whole number of Hz")
        else:
            raise _spec_error(args, f"'{item}' is neither a serial number (once) nor fs=HZ")
    return serial, sample_rate


def find_joulescope(serial: str | None) -> Any:
    """The one connected Joulescope, or the one with `serial` (as `scan_require_one`, with the serial to pick)."""
    try:
        devices = _scan_devices()
    except Exception as e:  # noqa: BLE001 - the native driver failing to load or to list USB is a device failure
        raise DeviceError(f"cannot list Joulescopes: {e or type(e).__name__}",
                          "check libusb and the udev rules from the Joulescope install guide") from e
    if serial is not None:
        devices = [d for d in devices if str(d.serial_number).lstrip("0") == serial.lstrip("0")]
    names = ", ".join(str(d) for d in devices)
    if not devices:
        what = f"Joulescope {serial}" if serial else "Joulescope"
        raise DeviceError(f"no {what} is connected", "plug it in; `--meter joulescope:SERIAL` picks one of several")
    if len(devices) > 1:
        raise DeviceError(f"{len(devices)} Joulescopes are connected ({names})",
                          "name one: --meter joulescope:SERIAL")
    return devices[0]


@register_meter("joulescope")
def open_joulescope(args: str) -> JoulescopeMeter:
    serial, sample_rate = parse_joulescope_spec(args)
    return JoulescopeMeter(find_joulescope(serial), sample_rate)
