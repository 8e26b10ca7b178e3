"""C firmware for microcontrollers: full-INT8 .tflite (litert-torch, see tflite.py) -> generated C with the
weights in flash and one planned arena -> arm-none-eabi-gcc image for the profile's core (edgekit/export/mcu)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ...compress.distill import DistillConfig
from ...compress.prune_structured import StructuredPruneConfig
from ...compress.quantize import Int8StaticConfig, int8_record
from ...errors import UnsupportedError
from ...profiles import Profile
from ..base import ExportResult, register_exporter
from ..litert_int8 import LITERT_INT8
from ..tflite import convert
from . import tflm
from .build import build_config
from .package import package_tflite

FORMAT = "c-firmware"


def check_fits(model: torch.nn.Module, profile: Profile) -> None:
    """INT8 weights take at least one byte each of flash."""
    weight_bytes = sum(p.numel() for p in model.parameters() if p.dim() >= 2)
    flash = profile.hardware.flash_bytes or profile.hardware.storage_bytes
    if weight_bytes > flash:
        raise UnsupportedError(f"the model does not fit target '{profile.name}': its weights need at least "
                               f"{weight_bytes:,} B of flash at INT8, the target has {flash:,.0f} B",
                               "prune or distil it to a smaller model, or pick a larger device")


class CFirmwareExporter:
    name = "edgekit-mcu"
    format = FORMAT

    def unsupported_reason(self, profile: Profile) -> str | None:
        if not profile.accepts_format(FORMAT):
            return f"target does not accept {FORMAT}"
        if profile.firmware is None:
            return "target profile has no [firmware] section (mcpu, memory map)"
        return None

    int8 = LITERT_INT8  # the firmware's kernels compute what TFLite Micro computes on LiteRT's INT8 files

    def check(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile,
              recipe: Sequence[Any]) -> None:
        build_config(profile)  # no toolchain facts, no serial driver: refused before any compression
        if not any(isinstance(c, Int8StaticConfig) for c in recipe):
            raise UnsupportedError(f"target '{profile.name}' runs full-INT8 models only",
                                   "compile with --quantize int8 and --calibration DATA.npz")
        if not any(isinstance(c, (StructuredPruneConfig, DistillConfig)) for c in recipe):
            check_fits(model, profile)  # in a second, before compression and conversion (minutes for a big model)
        for i, t in enumerate(example_inputs):
            if not t.is_floating_point():
                raise UnsupportedError(f"input {i} of the model is {str(t.dtype).removeprefix('torch.')}; the "
                                       "microcontroller firmware takes float inputs, quantized to int8 by the host "
                                       "(no integer inputs such as token ids)",
                                       "target a phone or a Linux board for this model")

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, int8_io: bool = True) -> ExportResult:
        """int8_io has nothing to choose here: the firmware exchanges int8 tensors (the host (de)quantizes)."""
        record = int8_record(model)
        if record is None or not isinstance(record.config, Int8StaticConfig):
            raise UnsupportedError(f"target '{profile.name}' runs full-INT8 models only",
                                   "compile with --quantize int8 and --calibration DATA.npz")
        check_fits(record.float_model, profile)  # as compressed (a recipe that prunes was not checked before)
        tflite = workdir / "model.tflite"
        tflite_info = convert(model, example_inputs, tflite, int8_io=True)
        pkg = package_tflite(tflite, profile, workdir)
        return ExportResult(files=pkg.files, model_file="firmware.bin", format=FORMAT,
                            info={"exporter": self.name, "firmware": pkg.firmware, "tflite": tflite_info},
                            reference_fn=tflm.float_runner(tflite, pkg.inputs, pkg.outputs))


register_exporter(CFirmwareExporter())
