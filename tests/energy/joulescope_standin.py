"""A stand-in Joulescope JS220 for the joulescope package's v1 API (no Joulescope can exist here, and its USB driver
is native code).

What it fakes: the native layer, `pyjoulescope_driver.Driver` (the methods `joulescope.v1.Device` calls on it: open,
close, publish, query, subscribe, unsubscribe), and the instrument behind it. Publishing a signal's 'ctrl' starts a
thread (standing for the driver's USB thread) that delivers that signal's '!data' messages in real time, in chunks,
as the binding builds them (pyjoulescope_driver/binding.pyx, the stream branch of its union-to-Python conversion:
'sample_id' counted at the 2 MHz input rate, 'field_id', 'index', 'sample_rate', 'decimate_factor', 'data'; the
keys joulescope/v1/stream_buffer.py `StreamBuffer.insert` reads): current/voltage/power as float32, the current range
as uint8 (the binding widens its u4), IN0/IN1 as u1 bits packed 8 per byte, little-endian bit order (what
joulescope/v1/sample_buffer.py `SampleBuffer.add` unpacks). The samples follow a KNOWN waveform (`Waveform`): idle
current, then inference windows at a higher current with IN0 high, each sample the average over its 1/fs span (the
driver's downsampling), IN0 high where the window covers most of the sample.

What is real: all of the joulescope package above the native driver (`DeviceJs220`: parameters, open, start/stop,
topic subscriptions, stream-process callbacks; `StreamBuffer`/`SampleBuffer`: the ring buffer, bit unpacking,
`samples_get` and its field names), and all of edgekit's driver and alignment. What it cannot show: USB timing and
throughput, the driver's real downsampling filter, firmware behaviour.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np
from joulescope.v1.js220 import DeviceJs220

from tests.energy.supply import Supply, windows_at

INPUT_RATE_HZ = 2_000_000
# stream topic -> (field_id, index): joulescope/v1/js220.py `_stream_topics`, stream_buffer.py `StreamBuffer.buffers`
SIGNALS = {"s/i/": (1, 0), "s/v/": (2, 0), "s/p/": (3, 0), "s/i/range/": (4, 0), "s/gpi/0/": (5, 0),
           "s/gpi/1/": (5, 1)}


class Waveform(Supply):
    """The supply (see Supply), its window times counted from the stream's first sample."""

    @staticmethod
    def inferences(idle_a: float, busy_a: float, volts: float, lead_s: float, window_s: float, gap_s: float,
                   count: int) -> "Waveform":
        # each window a little later than a regular step: edges at varied phases of the sampling
        starts = [lead_s + k * (window_s + gap_s) + k * 3.7e-6 for k in range(count)]
        return Waveform(idle_a, busy_a, volts, windows_at(starts, window_s))

    def busy_share(self, first: int, count: int, rate_hz: float) -> np.ndarray:
        """How much of each sample's span [k/fs, (k+1)/fs) lies in a window."""
        start = np.arange(first, first + count) / rate_hz
        return self.busy_seconds(start, start + 1 / rate_hz) * rate_hz


class StandInDriver:
    """pyjoulescope_driver.Driver as joulescope.v1.Device uses it, streaming `waveform` (see the module docstring).
    `stall` never streams; `skip_at_s` leaves out one chunk of samples at that time (the USB dropped them)."""

    CHUNK_S = 0.004

    def __init__(self, waveform: Waveform, stall: bool = False, skip_at_s: float | None = None,
                 open_error: Exception | None = None) -> None:
        self.waveform, self.stall, self.skip_at_s, self.open_error = waveform, stall, skip_at_s, open_error
        self.published: list[tuple[str, Any]] = []
        self.opened = self.closed = False
        self._subscribers: dict[str, list[Callable[[str, Any], Any]]] = defaultdict(list)
        self._enabled: set[str] = set()
        self._rate_hz = 1_000_000
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- the Driver methods

    def open(self, device_prefix: str, mode: str | None = None, timeout: float | None = None) -> int:
        if self.open_error is not None:
            raise self.open_error
        self.opened = True
        return 0

    def close(self, device_prefix: str, timeout: float | None = None) -> int:
        self._halt()
        self.closed = True
        return 0

    def publish(self, topic: str, value: Any, timeout: float | None = None) -> int:
        self.published.append((topic, value))
        signal = "s/" + topic.partition("/s/")[2].removesuffix("ctrl")  # '.../s/gpi/0/ctrl' -> 's/gpi/0/'
        if topic.endswith("/h/fs"):
            self._rate_hz = int(value)
        elif topic.endswith("ctrl") and signal in SIGNALS:
            self._signal_control(signal, bool(value))
        return 0

    def _signal_control(self, signal: str, on: bool) -> None:
        if on:
            self._enabled.add(signal)
            if self._thread is None and not self.stall:
                self._stop.clear()
                self._thread = threading.Thread(target=self._stream, name="standin-usb", daemon=True)
                self._thread.start()
        else:
            self._enabled.discard(signal)
            if not self._enabled:
                self._halt()

    def query(self, topic: str, timeout: float | None = None) -> Any:
        return 0

    def subscribe(self, topic: str, flags: Any, fn: Callable[[str, Any], Any], timeout: float | None = None) -> int:
        self._subscribers[topic].append(fn)
        return 0

    def unsubscribe(self, topic: Any, fn: Any = None, timeout: float | None = None) -> int:
        if fn in self._subscribers.get(topic, []):
            self._subscribers[topic].remove(fn)
        return 0

    # --- the instrument

    def _halt(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def _stream(self) -> None:
        """Deliver what the instrument sampled since streaming began, every CHUNK_S, like USB transfers."""
        began, sent = time.monotonic(), 0
        while not self._stop.wait(self.CHUNK_S):
            due = int((time.monotonic() - began) * self._rate_hz) // 8 * 8  # whole bytes of packed IN0/IN1 bits
            if due <= sent:
                continue
            if self.skip_at_s is not None and sent / self._rate_hz <= self.skip_at_s < due / self._rate_hz:
                sent = due  # this chunk never arrives
                continue
            self._deliver(sent, due - sent)
            sent = due

    def _deliver(self, first: int, count: int) -> None:
        share = self.waveform.busy_share(first, count, self._rate_hz)
        current = self.waveform.idle_a + (self.waveform.busy_a - self.waveform.idle_a) * share
        in0 = (share > 0.5).astype(np.uint8)
        data = {
            "s/i/": current.astype(np.float32),
            "s/v/": np.full(count, self.waveform.volts, dtype=np.float32),
            "s/p/": (current * self.waveform.volts).astype(np.float32),
            "s/i/range/": np.full(count, 2, dtype=np.uint8),
            "s/gpi/0/": np.packbits(in0, bitorder="little"),
            "s/gpi/1/": np.packbits(np.zeros(count, dtype=np.uint8), bitorder="little"),
        }
        decimate = INPUT_RATE_HZ // self._rate_hz
        for name in list(self._enabled):
            field_id, index = SIGNALS[name]
            message = {"sample_id": first * decimate, "field_id": field_id, "index": index,
                       "sample_rate": INPUT_RATE_HZ, "decimate_factor": decimate, "data": data[name]}
            for topic, callbacks in list(self._subscribers.items()):
                if topic.endswith(f"/{name}!data"):
                    for callback in list(callbacks):
                        callback(topic, message)


def standin_js220(waveform: Waveform, serial: str = "000415", **options: Any) -> tuple[DeviceJs220, StandInDriver]:
    """A real joulescope v1 JS220 device object whose native driver is the stand-in."""
    driver = StandInDriver(waveform, **options)
    return DeviceJs220(driver, f"u/js220/{serial}"), driver
