"""Summaries of latency samples and of output agreement between device and host."""
from __future__ import annotations

from typing import Any

import numpy as np


def latency_summary(latencies_ns: list[int]) -> dict[str, float]:
    """Percentiles, mean and std in milliseconds."""
    ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean()),
            "std": float(ms.std()), "min": float(ms.min()), "max": float(ms.max()), "runs": int(ms.size)}


def agreement(device: np.ndarray, host: np.ndarray) -> dict[str, Any]:
    """Cosine similarity, relative L2 error and max abs difference, over all outputs flattened; `comparable` is
    False, with `why`, when the reference cannot tell a right output from a wrong one."""
    d = np.asarray(device, dtype=np.float64).ravel()
    h = np.asarray(host, dtype=np.float64).ravel()
    if d.shape != h.shape:
        raise ValueError(f"device output has {d.size} values, host reference {h.size}")
    norm = np.linalg.norm(d) * np.linalg.norm(h)
    defect = reference_defect(h)
    return {"cosine": float(d @ h / norm) if norm else float(np.array_equal(d, h)),
            "rel_l2": float(np.linalg.norm(d - h) / max(np.linalg.norm(h), 1e-30)),
            "max_abs": float(np.abs(d - h).max()) if d.size else 0.0, "values": int(d.size),
            "comparable": defect is None, **({"why": defect} if defect else {})}


_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)


def reference_defect(reference: np.ndarray) -> str | None:
    """Why comparing against `reference` means nothing (all zero or denormal, not finite, or one value repeated: a
    cosine then rewards any output, or none), or None when it is a usable reference."""
    h = np.asarray(reference, dtype=np.float64).ravel()
    if h.size == 0:
        return "the reference has no values"
    if not np.all(np.isfinite(h)):
        return "the reference outputs contain NaN or Inf"
    peak = float(np.abs(h).max())
    if peak < _SMALLEST_NORMAL:
        return (f"the reference outputs are all zero or denormal (max |value| {peak:.3g}), so no output can be "
                "judged against them: check the model's outputs")
    if h.size > 1 and float(np.ptp(h)) <= 1e-6 * peak:
        return (f"the reference outputs are one value repeated ({h[0]:.6g}), so cosine and error cannot tell a "
                "right output from a wrong one: check the model or the reference inputs")
    return None


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float((outputs.reshape(len(labels), -1).argmax(axis=1) == labels).mean())
