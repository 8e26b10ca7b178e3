"""Budgets a report must meet (latency, accuracy, agreement with the host), shared by `edgekit bench` and the
pytest plugin: each broken budget is one line naming the figure and the limit."""
from __future__ import annotations

from typing import Any


def budget_failures(report: dict[str, Any], max_latency_ms: float | None = None, min_accuracy: float | None = None,
                    min_cosine: float | None = None) -> list[str]:
    """One line per budget `report` misses (accuracy in percent); empty when all are met."""
    failures = []
    lat = report["latency_ms"]
    if max_latency_ms is not None and lat["p50"] > max_latency_ms:
        failures.append(f"p50 latency {lat['p50']:.3f} ms > {max_latency_ms} ms "
                        f"({lat.get('time_base_label') or lat.get('measured_on')})")
    acc = (report.get("accuracy") or {}).get("top1")
    if min_accuracy is not None and (acc is None or acc * 100 < min_accuracy):
        failures.append(f"accuracy {'unknown' if acc is None else f'{acc * 100:.2f}%'} < {min_accuracy}%")
    if min_cosine is not None:
        vs_host = (report.get("fidelity") or {}).get("vs_host") or {}
        cosine = vs_host.get("cosine")
        if vs_host.get("comparable") is False:
            failures.append(f"cosine vs host cannot be judged: {vs_host['why']}")
        elif cosine is None or cosine < min_cosine:
            failures.append(f"cosine vs host {'unknown' if cosine is None else f'{cosine:.6f}'} < {min_cosine}")
    return failures
