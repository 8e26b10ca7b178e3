"""The known supply waveform the windowed meters' stand-ins (INA2xx, Joulescope) play: an idle current, then
inference windows at a higher one."""
from __future__ import annotations

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
