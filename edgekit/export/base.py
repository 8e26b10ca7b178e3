"""Exporters: each says whether it supports a profile (and if not, why) and writes the model file(s)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

import torch

from ..compress.quantize import Int8Backend
from ..errors import UnsupportedError
from ..profiles import Profile


@dataclass
class ExportResult:
    files: dict[str, Path]  # artifact file name -> finished file in a scratch directory
    model_file: str
    format: str
    info: dict[str, Any] = field(default_factory=dict)  # exporter-specific facts recorded in the manifest
    # Host reference for the exported model when it differs from running the compressed torch module (e.g. a
    # converter that quantizes): maps the inputs (one array per model input) to every output.
    reference_fn: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None


class Exporter(Protocol):
    name: str
    format: str

    def unsupported_reason(self, profile: Profile) -> str | None:
        """None when this exporter can produce something `profile` runs, else why not."""

    int8: Int8Backend  # the target backend's INT8, which the compiler hands to the recipe's INT8 steps

    def check(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile,
              recipe: Sequence[Any]) -> None:
        """Cheap checks before any compression (e.g. a runtime that takes one input); raise UnsupportedError."""

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, int8_io: bool = True) -> ExportResult:
        """Convert `model` (as the recipe left it) into the model file(s) in `workdir`. int8_io: an INT8 file
        keeps int8 tensors at its boundary where the backend's file has them (False: float32 there)."""


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
