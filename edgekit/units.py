"""Quantities with units, as written in device profiles ("320 KiB", "2.4 GHz", "3.5 W")."""
from __future__ import annotations

import re

_SCALES: dict[str, dict[str, float]] = {
    "bytes": {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
              "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4},
    "hertz": {"Hz": 1, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "watts": {"uW": 1e-6, "mW": 1e-3, "W": 1},
    "ops": {"OPS": 1, "GOPS": 1e9, "TOPS": 1e12, "GFLOPS": 1e9, "TFLOPS": 1e12},
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")


def parse_quantity(text: str, kind: str) -> float:
    """Parse '320 KiB' (kind 'bytes') into 327680.0; raise ValueError naming the accepted units."""
    units = _SCALES[kind]
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if not match or match.group(2) not in units:
        raise ValueError(f"expected a number and one of {', '.join(units)}, got {text!r}")
    return float(match.group(1)) * units[match.group(2)]


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")
