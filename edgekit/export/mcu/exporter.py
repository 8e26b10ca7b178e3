"""C firmware for microcontrollers: full-INT8 .tflite (litert-torch, see tflite.py) -> generated C with the
weights in flash and one planned arena -> arm-none-eabi-gcc image for the profile's core (edgekit/export/mcu)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ...compress.base import CompressionContext
from ...compress.quantize import Int8StaticConfig
from ...errors import UnsupportedError
from ...profiles import Profile
from ..base import ExportResult, register_exporter

FORMAT = "c-firmware"


def check_fits(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile) -> None:
    """Refuse in a second what would otherwise fail after minutes of conversion: the firmware takes one input and
    one output, and INT8 weights take at least one byte each of flash."""
    if len(example_inputs) != 1:
        raise UnsupportedError(f"the model takes {len(example_inputs)} inputs; the microcontroller firmware runs "
                               "models with one input tensor", "target a phone or a Linux board for this model")
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

    def applies_itself(self, config: Any) -> bool:
        return isinstance(config, Int8StaticConfig)  # quantized by the .tflite flow, not the XNNPACK quantizer

    def int8_quantizer(self, per_channel: bool = True) -> Any:
        from ..tflite import litert_quantizer
        return litert_quantizer(per_channel)

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, own_configs: Sequence[Any] = (), ctx: CompressionContext | None = None
               ) -> ExportResult:
        from . import tflm
        from .build import build_config
        from .package import package_tflite
        from ..tflite import export_tflite
        if len(own_configs) != 1:
            raise UnsupportedError(f"target '{profile.name}' runs full-INT8 models only",
                                   "compile with --quantize int8 and --calibration DATA.npz")
        config = own_configs[0]
        if ctx is None or ctx.calibration is None:
            raise UnsupportedError("INT8 export needs calibration data", "pass --calibration DATA.npz with an array 'x'")
        build_config(profile)  # fails early (no toolchain facts, no serial driver) before converting
        check_fits(model, example_inputs, profile)
        tflite = workdir / "model.tflite"
        tflite_info = export_tflite(model, example_inputs, tflite, int8=True, int8_io=True,
                                    per_channel=config.per_channel, route=getattr(config, "route", "auto"),
                                    calibration=ctx.calibration_batches(config.calibration_samples))
        pkg = package_tflite(tflite, profile, workdir)
        return ExportResult(files=pkg.files, model_file="firmware.bin", format=FORMAT,
                            info={"exporter": self.name, "firmware": pkg.firmware, "tflite": tflite_info},
                            reference_fn=tflm.float_runner(tflite, pkg.input_quant, pkg.output_quant))


register_exporter(CFirmwareExporter())
