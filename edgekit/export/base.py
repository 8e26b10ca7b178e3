"""Exporters: each says whether it supports a profile (and if not, why) and writes the model file(s)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

import torch

from ..compress.base import CompressionContext
from ..errors import UnsupportedError
from ..profiles import Profile


@dataclass
class ExportResult:
    files: dict[str, Path]  # artifact file name -> finished file in a scratch directory
    model_file: str
    format: str
    info: dict[str, Any] = field(default_factory=dict)  # exporter-specific facts recorded in the manifest
    # Host reference for the exported model when it differs from running the compressed torch module (e.g. an
    # exporter that quantized the model itself): maps a batch of inputs (numpy) to the first output (numpy).
    reference_fn: Callable[[np.ndarray], np.ndarray] | None = None


class Exporter(Protocol):
    name: str
    format: str

    def unsupported_reason(self, profile: Profile) -> str | None:
        """None when this exporter can produce something `profile` runs, else why not."""

    def applies_itself(self, config: Any) -> bool:
        """True for compression configs this exporter applies during export (e.g. its own INT8 converter);
        the compiler then passes them to `export` instead of running them beforehand."""

    def int8_quantizer(self, per_channel: bool = True) -> Any:
        """The PT2E quantizer whose INT8 graphs this backend's file carries (for per-layer error analysis)."""

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, own_configs: Sequence[Any] = (), ctx: CompressionContext | None = None
               ) -> ExportResult:
        """Write the model file(s) into `workdir`, applying `own_configs` (see applies_itself) with `ctx`."""


_EXPORTERS: list[Exporter] = []


def register_exporter(exporter: Exporter) -> Exporter:
    _EXPORTERS.append(exporter)
    return exporter


def exporter_for(profile: Profile) -> Exporter:
    """The first registered exporter that supports `profile`; an error listing every exporter's reason if none."""
    reasons = []
    for exporter in _EXPORTERS:
        reason = exporter.unsupported_reason(profile)
        if reason is None:
            return exporter
        reasons.append(f"{exporter.name}: {reason}")
    raise UnsupportedError(f"no exporter supports target '{profile.name}' (formats {list(profile.software.formats)})",
                           "; ".join(reasons) or "no exporters registered")


def registered_exporters() -> list[Exporter]:
    return list(_EXPORTERS)
