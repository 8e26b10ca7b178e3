"""C firmware for microcontrollers: full-INT8 .tflite (litert-torch, see tflite.py) -> generated C with the
weights in flash and one planned arena -> arm-none-eabi-gcc image for the profile's core (edgekit/export/mcu)."""
from __future__ import annotations

import math
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


def _weight_shapes(model: torch.nn.Module) -> list[tuple[int, ...]]:
    """The shapes of the model's weights (tensors of 2 or more dimensions; biases and norms aside): one byte of flash
    per element at INT8. Shapes alone: a model of any size is measured in a moment."""
    return [tuple(p.shape) for p in model.parameters() if p.dim() >= 2]


def _narrowed(shape: tuple[int, ...], share: float) -> tuple[int, ...]:
    """A weight's shape once its output and input channels (dims 0 and 1) keep `share` of them, rounded down as
    torch-pruning rounds the channels it keeps."""
    return (int(shape[0] * share), int(shape[1] * share), *shape[2:])


def least_weights_after(model: torch.nn.Module, recipe: Sequence[Any]) -> tuple[int, str] | None:
    """The fewest weights the recipe's shrinking steps can leave, and why; None where a step's result is unknown
    until it runs (a student built by a function). Structured pruning removes at most max_layer_ratio of any
    layer's output channels and of its input channels (the previous layer's outputs); distillation narrows every
    layer to `width` of its channels."""
    shapes, why = _weight_shapes(model), ""
    for config in recipe:
        if isinstance(config, StructuredPruneConfig):
            shapes = [_narrowed(s, 1 - config.max_layer_ratio) for s in shapes]
            why = f" even after {config.method} (at most {config.max_layer_ratio:.0%} of a layer's channels removed)"
        elif isinstance(config, DistillConfig):
            if isinstance(config.student, torch.nn.Module):
                shapes, why = _weight_shapes(config.student), " (the distillation's student)"
            elif config.student is None:
                shapes = [_narrowed(s, config.width) for s in shapes]
                why = f" even after {config.method} to width {config.width:g}"
            else:
                return None
    return sum(math.prod(s) for s in shapes), why


def check_fits(model: torch.nn.Module, profile: Profile, recipe: Sequence[Any] = ()) -> None:
    """INT8 weights take at least one byte each of flash: refused when even the fewest weights the recipe can leave
    do not fit."""
    least = least_weights_after(model, recipe)
    flash = profile.hardware.flash_bytes or profile.hardware.storage_bytes
    if least is not None and least[0] > flash:
        raise UnsupportedError(f"the model does not fit target '{profile.name}': its weights need at least "
                               f"{least[0]:,} B of flash at INT8{least[1]}, the target has {flash:,.0f} B",
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
        check_fits(model, profile, recipe)  # in a second, before compression and conversion (hours for a big model)
        # integer inputs (token ids) reach the firmware as the .tflite's int32 (codegen.INTEGER_INPUTS)

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
