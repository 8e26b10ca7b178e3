"""Summaries of latency samples and of output agreement between device and host."""
from __future__ import annotations

import numpy as np


def latency_summary(latencies_ns: list[int]) -> dict[str, float]:
    """Percentiles, mean and std in milliseconds."""
    ms = np.asarray(latencies_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(ms.mean()),
            "std": float(ms.std()), "min": float(ms.min()), "max": float(ms.max()), "runs": int(ms.size)}


def agreement(device: np.ndarray, host: np.ndarray) -> dict[str, float]:
    """Cosine similarity, relative L2 error and max abs difference, over all outputs flattened."""
    d = np.asarray(device, dtype=np.float64).ravel()
    h = np.asarray(host, dtype=np.float64).ravel()
    if d.shape != h.shape:
        raise ValueError(f"device output has {d.size} values, host reference {h.size}")
    norm = np.linalg.norm(d) * np.linalg.norm(h)
    return {"cosine": float(d @ h / norm) if norm else float(np.array_equal(d, h)),
            "rel_l2": float(np.linalg.norm(d - h) / max(np.linalg.norm(h), 1e-30)),
            "max_abs": float(np.abs(d - h).max()) if d.size else 0.0, "values": int(d.size)}


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float((outputs.reshape(len(labels), -1).argmax(axis=1) == labels).mean())
