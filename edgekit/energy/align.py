"""Energy per inference from a capture: windows (from the meter's digital input the firmware raises during each
inference, or from timestamps on the capture's clock), the idle baseline before them, and the integral between."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import DeviceError
from .meter import Capture

Window = tuple[float, float]
BASELINE_GUARD_SAMPLES = 3
# A window's energy is good to about half a sample at each edge: one spanning fewer samples than this is too short to
# integrate alone (at 200 samples, the two edges err by 0.5% at most, ~0.2% typically).
MIN_WINDOW_SAMPLES = 200


def windows_from_digital(capture: Capture, bit: int = 0) -> list[Window]:
    """The spans where digital input `bit` is high, rising edge to falling edge (a span cut by the capture's start
    or end is left out: it is not a whole inference)."""
    if capture.digital is None:
        raise DeviceError(f"the meter ({capture.meter}) recorded no digital inputs to find the inferences by",
                          "wire the firmware's inference pin to the meter's digital input 0")
    level = (np.asarray(capture.digital).astype(np.int64) >> bit) & 1
    edges = np.diff(level)
    rises, falls = np.flatnonzero(edges == 1) + 1, np.flatnonzero(edges == -1) + 1
    t = capture.time_s
    windows = []
    for rise in rises:
        after = falls[falls > rise]
        if len(after):
            windows.append((float(t[rise]), float(t[after[0]])))
    return windows


def windows_from_timestamps(spans: Sequence[Window], sample_rate_hz: float,
                            min_samples: int = MIN_WINDOW_SAMPLES) -> tuple[list[Window], list[int]]:
    """Windows from inference (start, end) timestamps on the capture's clock (the agent's, on a Linux board), and
    how many inferences each holds. An inference that spans at least `min_samples` samples is a window of its own;
    shorter ones, which a meter sampling this slowly cannot integrate alone, are merged with the inferences after
    them into one window from the first's start to the last's end (the agent's short gaps between them included)
    that spans that many samples; a shorter remainder at the end joins the window before it."""
    need = min_samples / sample_rate_hz
    windows: list[Window] = []
    counts: list[int] = []
    first = 0
    for last, (_, end) in enumerate(spans):
        if end - spans[first][0] >= need or last == len(spans) - 1:
            windows.append((float(spans[first][0]), float(end)))
            counts.append(last - first + 1)
            first = last + 1
    if len(windows) > 1 and windows[-1][1] - windows[-1][0] < need:
        windows[-2:] = [(windows[-2][0], windows[-1][1])]
        counts[-2:] = [counts[-2] + counts[-1]]
    return windows, counts


def energy_per_inference(capture: Capture, windows: Sequence[Window], baseline: Window | None = None,
                         inferences: Sequence[int] | None = None) -> dict[str, Any]:
    """The report's measured `energy`: per-inference energy above the idle baseline (median and spread over the
    windows), the baseline, and the average power during inference. `baseline` defaults to the capture from its
    start to the first window. `inferences` says how many inferences each window holds (one each by default): a
    window's energy and length are shared among them."""
    if not windows:
        raise DeviceError(f"the meter ({capture.meter}) saw no inference window",
                          "check that the inference pin reaches the meter's digital input")
    t, power = capture.time_s, capture.power_w
    # the default baseline stops a few samples short of the first window: a sample straddling its edge is not idle
    start, end = baseline or (float(t[0]), windows[0][0] - BASELINE_GUARD_SAMPLES / capture.sample_rate_hz)
    idle = power[(t >= start) & (t < end)]
    if idle.size == 0:
        raise DeviceError(f"the meter ({capture.meter}) has no samples before the first inference to take the "
                          "idle baseline from", "start the meter before the benchmark")
    baseline_w = float(idle.mean())
    dt = 1.0 / capture.sample_rate_hz
    counts = list(inferences) if inferences is not None else [1] * len(windows)
    energies, powers, lengths = [], [], []
    for (begin, finish), count in zip(windows, counts):
        inside = power[(t >= begin) & (t < finish)]
        energies.append(float((inside - baseline_w).sum() * dt) / count)
        powers.append(float(inside.mean()) if inside.size else baseline_w)
        lengths.append((finish - begin) / count)
    mj = np.asarray(energies) * 1e3
    grouped = {"windows": len(windows), "inferences_per_window": int(np.median(counts))} if max(counts) > 1 else {}
    return {"measured": True, "meter": capture.meter, "sample_rate_hz": capture.sample_rate_hz,
            "baseline_w": baseline_w, "per_inference_mj": float(np.median(mj)),
            "spread_mj": {"min": float(mj.min()), "max": float(mj.max()), "std": float(mj.std())},
            "average_power_w": float(np.mean(powers)), "window_ms": float(np.median(lengths) * 1e3),
            "inferences": int(sum(counts)), **grouped}
