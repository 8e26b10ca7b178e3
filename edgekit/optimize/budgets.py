"""What a candidate must meet, the figures it is judged on, and how far it misses.

Figures come from a bench report (`figures`): latency is the device estimate on an emulated target that has one (the
report of the emulator's own time says what it is: QEMU virtual time or a stand-in's host clock), the measured p50
otherwise; `latency_basis` says which. RAM is the planned arena + stack on a microcontroller and the peak RSS of the
process that runs the model elsewhere; flash is the firmware image or the model file.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import InputError
from ..profiles import Profile
from ..units import format_bytes, format_ms, parse_quantity


@dataclass(frozen=True)
class Budgets:
    """Limits a candidate must meet; None = no limit. Accuracy figures are in percent (top-1)."""

    max_latency_ms: float | None = None
    max_ram_bytes: float | None = None
    max_flash_bytes: float | None = None
    max_energy_mj: float | None = None
    min_accuracy: float | None = None
    max_drop: float | None = None  # accuracy points below the uncompressed model's, on the device
    min_cosine: float | None = None  # the device's outputs against the uncompressed model's

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                check_limit(f.name, value, f"budget {f.name}")

    @classmethod
    def for_profile(cls, profile: Profile, **given: Any) -> "Budgets":
        """`given` limits, with the device's RAM and flash (or storage) as the memory limits left unset."""
        hw = profile.hardware
        defaults = {"max_ram_bytes": hw.ram_bytes, "max_flash_bytes": hw.flash_bytes or hw.storage_bytes}
        return cls(**{**defaults, **{k: v for k, v in given.items() if v is not None}})

    def describe(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def needs_accuracy(self) -> bool:
        return self.min_accuracy is not None or self.max_drop is not None


# Budgets field -> the `optimize` option that sets it and the kind of quantity it takes (None: a plain number).
OPTIONS = {"max_latency_ms": ("--max-latency", "time"), "max_ram_bytes": ("--max-ram", "bytes"),
           "max_flash_bytes": ("--max-flash", "bytes"), "max_energy_mj": ("--max-energy", "energy"),
           "min_accuracy": ("--min-accuracy", None), "max_drop": ("--max-drop", None),
           "min_cosine": ("--min-cosine", None)}
# Limits past these can never be met (top-1 and its drop are percentages, a cosine is at most 1): refused at once
# rather than found out after every trial.
_CEILINGS = {"min_accuracy": 100.0, "max_drop": 100.0, "min_cosine": 1.0}


def check_limit(name: str, value: object, label: str) -> None:
    """A Budgets field's value must be a finite number in its range; `label` names it as the user wrote it. NaN
    matters most: every comparison with it is false, so it would silently mean "no limit"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{label} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{label} must be a finite number, got {value}", f"leave {label} out for no limit")
    ceiling = _CEILINGS.get(name, math.inf)
    if not 0 <= value <= ceiling:
        raise InputError(f"{label} must be from 0 to {ceiling:g}, got {value:g}" if ceiling < math.inf else
                         f"{label} must not be negative, got {value:g}")


def limits_from_options(given: dict[str, str | float | None]) -> dict[str, float]:
    """The command line's limits (Budgets field -> the option's value as given), parsed and checked, every error
    naming the option."""
    limits = {}
    for name, value in given.items():
        if value is None:
            continue
        option, kind = OPTIONS[name]
        limits[name] = parse_budget(value, kind, option) if kind and isinstance(value, str) else float(value)
        check_limit(name, limits[name], option)
    return limits


@dataclass(frozen=True)
class Violation:
    budget: str  # the Budgets field
    value: float | None  # None: the figure was not measured
    limit: float

    @property
    def excess(self) -> float:
        """How far past the limit, as a share of it (1.0 for a figure that could not be measured)."""
        if self.value is None:
            return 1.0
        if self.budget.startswith("min_"):
            return (self.limit - self.value) / max(abs(self.limit), 1e-9)
        return (self.value - self.limit) / max(abs(self.limit), 1e-9)

    def __str__(self) -> str:
        what, unit = _LABELS[self.budget]
        if self.value is None:
            return f"{what} not measured (budget {_show(self.limit, unit)})"
        sign = "<" if self.budget.startswith("min_") else ">"
        return f"{what} {_show(self.value, unit)} {sign} {_show(self.limit, unit)}"


_LABELS = {"max_latency_ms": ("latency", "ms"), "max_ram_bytes": ("RAM", "bytes"),
           "max_flash_bytes": ("flash", "bytes"), "max_energy_mj": ("energy", "mJ"),
           "min_accuracy": ("accuracy", "%"), "max_drop": ("accuracy drop", " points"), "min_cosine": ("cosine", "")}


def _show(value: float, unit: str) -> str:
    if unit == "bytes":
        return format_bytes(value)
    if unit == "ms":
        return format_ms(value)
    return f"{value:,.4g}{' ' if unit == 'mJ' else ''}{unit}"


# Budgets field -> figures key (a figure of None when the report lacks it)
_FIGURE_OF = {"max_latency_ms": "latency_ms", "max_ram_bytes": "ram_bytes", "max_flash_bytes": "flash_bytes",
              "max_energy_mj": "energy_mj", "min_accuracy": "accuracy", "max_drop": "accuracy_drop",
              "min_cosine": "cosine_vs_float"}


def violations(budgets: Budgets, figures: dict[str, Any]) -> list[Violation]:
    """Every budget `figures` miss, the worst first."""
    found = []
    for name, key in _FIGURE_OF.items():
        limit = getattr(budgets, name)
        if limit is None:
            continue
        value = figures.get(key)
        if value is None or (value < limit if name.startswith("min_") else value > limit):
            found.append(Violation(name, value, limit))
    return sorted(found, key=lambda v: -v.excess)


def figures(report: dict[str, Any], baseline_accuracy: float | None) -> dict[str, Any]:
    """The figures budgets judge, from a bench report (accuracy in percent)."""
    estimate = report.get("device_estimate")
    use_estimate = bool(report["target"].get("emulated") and estimate)
    latency = estimate["latency_ms"] if use_estimate else report["latency_ms"]["p50"]
    basis = (f"estimated on {report['target'].get('stands_for')}: {estimate['basis']}" if use_estimate
             else report["latency_ms"].get("time_base_label", "measured"))
    mem = report.get("memory") or {}
    ram = mem.get("ram_bytes") if "arena_bytes" in mem else mem.get("peak_rss_bytes")
    flash = mem.get("flash_bytes") or report["artifact"]["size_bytes"]
    top1 = (report.get("accuracy") or {}).get("top1")
    accuracy = None if top1 is None else top1 * 100
    fidelity = report.get("fidelity") or {}
    return {"latency_ms": latency, "latency_basis": basis,
            "latency_time_base": "estimate" if use_estimate else report["latency_ms"].get("time_base"),
            "latency_p50_measured_ms": report["latency_ms"]["p50"], "ram_bytes": ram, "flash_bytes": flash,
            "energy_mj": (report.get("energy") or {}).get("per_inference_mj"), "accuracy": accuracy,
            "accuracy_drop": None if accuracy is None or baseline_accuracy is None else baseline_accuracy - accuracy,
            "cosine_vs_float": (fidelity.get("vs_float") or {}).get("cosine"),
            "size_bytes": report["artifact"]["size_bytes"]}


_SUFFIXES = {"time": {"us": 1e-3, "ms": 1.0, "s": 1e3}, "energy": {"uJ": 1e-3, "mJ": 1.0, "J": 1e3}}


def parse_budget(text: str, kind: str, option: str) -> float:
    """Command-line limits: '50ms' or '0.2s' (time, in ms), '1.5mJ' (energy, in mJ), '512KB' or '1MiB' (bytes);
    a bare number is in the first unit."""
    text = text.strip()
    try:
        try:
            return float(text)
        except ValueError:
            pass
        if kind == "bytes":
            return parse_quantity(text, "bytes")
        for suffix, scale in sorted(_SUFFIXES[kind].items(), key=lambda kv: -len(kv[0])):
            if text.endswith(suffix):
                return float(text[:-len(suffix)]) * scale
        raise ValueError(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a {kind} quantity",
                         {"time": "e.g. 50ms or 0.2s", "energy": "e.g. 1.5mJ"}.get(kind, "e.g. 512KB or 1MiB")) \
            from None
