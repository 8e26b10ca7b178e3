"""Quantities with units: parsed as device profiles write them ("320 KiB", "2.4 GHz", "3.5 W") and shown the one
way every command shows them (`format_quantity`: "8 GiB", "1.01 MiB", "2.91 GHz", "2.04 ms")."""
from __future__ import annotations

import math
import re
from typing import Any

_SCALES: dict[str, dict[str, float]] = {
    "bytes": {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
              "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4},
    "hertz": {"Hz": 1, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},
    "watts": {"uW": 1e-6, "mW": 1e-3, "W": 1},
    "ops": {"OPS": 1, "GOPS": 1e9, "TOPS": 1e12, "GFLOPS": 1e9, "TFLOPS": 1e12},
    "seconds": {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1},
}
# The units each kind is shown in, smallest first: binary prefixes for bytes (as memory sizes are written), and
# floating-point throughput apart from integer throughput.
_SHOWN: dict[str, tuple[str, tuple[str, ...]]] = {
    "bytes": ("bytes", ("B", "KiB", "MiB", "GiB", "TiB")),
    "hertz": ("hertz", ("Hz", "kHz", "MHz", "GHz")),
    "watts": ("watts", ("uW", "mW", "W")),
    "ops": ("ops", ("OPS", "GOPS", "TOPS")),
    "flops": ("ops", ("GFLOPS", "TFLOPS")),
    "seconds": ("seconds", ("ns", "us", "ms", "s")),
}
# How a field's name says its unit (profiles and reports name fields `ram_bytes`, `clock_hz`, `idle_w`, ...).
_FIELD_SUFFIXES: dict[str, str] = {"_bytes": "bytes", "_hz": "hertz", "_w": "watts", "_ops": "ops",
                                   "_flops": "flops", "_s": "seconds"}
_ADDRESS_SUFFIXES = ("_origin", "_base")  # memory-map addresses (firmware's flash_origin, uart_base): hex
SIGNIFICANT_DIGITS = 3
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$")


def parse_quantity(text: str, kind: str) -> float:
    """Parse '320 KiB' (kind 'bytes') into 327680.0; raise ValueError naming the accepted units."""
    units = _SCALES[kind]
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if not match or match.group(2) not in units:
        raise ValueError(f"expected a number and one of {', '.join(units)}, got {text!r}")
    return float(match.group(1)) * units[match.group(2)]


def _significant(x: float, digits: int) -> str:
    """`x` to `digits` significant digits, whole part always kept, trailing zeros dropped: 1.0107 -> '1.01',
    8.0 -> '8', 2048.0 -> '2,048'."""
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x)))) if x else 0
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_quantity(value: float, kind: str, digits: int = SIGNIFICANT_DIGITS) -> str:
    """`value` (in the base unit: bytes, Hz, W, OPS, s) in the largest unit of `kind` it reaches: '8 GiB'."""
    scale_kind, units = _SHOWN[kind]
    scales = _SCALES[scale_kind]
    unit = units[0]
    for candidate in units:
        if abs(value) >= scales[candidate]:
            unit = candidate
    return f"{_significant(value / scales[unit], digits)} {unit}"


def format_bytes(n: float) -> str:
    return format_quantity(n, "bytes")


def format_ms(milliseconds: float) -> str:
    """A time measured in milliseconds (as reports hold latencies): '2.04 ms', '31.2 us', '1.5 s'."""
    return format_quantity(milliseconds / 1e3, "seconds")


def format_field(name: str, value: Any) -> str:
    """A value as shown to the user, in the unit its field's name says (`ram_bytes` 8589934592.0 -> '8 GiB');
    lists joined by commas, other values as they are."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        kind = next((k for suffix, k in _FIELD_SUFFIXES.items() if name.endswith(suffix)), None)
        if kind is not None:
            return format_quantity(value, kind)
        if isinstance(value, int) and name.endswith(_ADDRESS_SUFFIXES):
            return f"0x{value:08x}"
        return _significant(value, 4) if isinstance(value, float) else f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)
