"""The known supply waveform the windowed meters' stand-ins (INA2xx, Joulescope) play: an idle current, then
inference windows at a higher one (`Supply`: windows known in advance; `LiveSupply`: busy while a stand-in runtime
runs)."""
from __future__ import annotations

import threading
import time

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Supply:
    """`idle_a` at `volts`, `busy_a` during each of `windows` (seconds from the stand-in's own time 0)."""

    idle_a: float
    busy_a: float
    volts: float
    windows: list[tuple[float, float]]

    @property
    def end_s(self) -> float:
        return self.windows[-1][1]

    def energy_per_inference_j(self) -> float:
        """Known energy above the idle baseline in each window (all the same length)."""
        begin, end = self.windows[0]
        return (self.busy_a - self.idle_a) * self.volts * (end - begin)

    def busy_seconds(self, start: np.ndarray | float, end: np.ndarray | float) -> np.ndarray:
        """How long each span [start, end) lies inside a window."""
        start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
        busy = np.zeros(np.broadcast(start, end).shape)
        for begin, finish in self.windows:
            busy += np.clip(np.minimum(end, finish) - np.maximum(start, begin), 0, None)
        return busy


def windows_at(starts: Sequence[float], window_s: float) -> list[tuple[float, float]]:
    return [(begin, begin + window_s) for begin in starts]


class LiveSupply:
    """A board's supply whose inferences are not known in advance: `idle_a` at `volts`, and `busy_a` while the code
    under `begin()` ... `end()` runs (the stand-in runtime's inference), on time.monotonic(). `spans` keeps each
    inference's (start, end): the known busy time."""

    def __init__(self, idle_a: float, busy_a: float, volts: float) -> None:
        self.idle_a, self.busy_a, self.volts = idle_a, busy_a, volts
        self.spans: list[tuple[float, float]] = []
        self.running_since: float | None = None
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self.running_since = time.monotonic()

    def end(self) -> None:
        with self._lock:
            self.spans.append((self.running_since, time.monotonic()))
            self.running_since = None

    def mean_current(self, start: float, end: float) -> float:
        """The exact average current over [start, end] (monotonic seconds; the stand-in chip's shunt conversion)."""
        with self._lock:
            recent = list(self.spans[-64:])  # a conversion spans ~0.5 ms: only the latest inferences reach into it
            if self.running_since is not None:
                recent.append((self.running_since, time.monotonic()))
        busy = sum(max(0.0, min(end, b) - max(start, a)) for a, b in recent)
        return self.idle_a + (self.busy_a - self.idle_a) * busy / (end - start)
