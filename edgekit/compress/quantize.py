"""INT8 quantization through the PT2E flow with the XNNPACK quantizer (what ExecuTorch's XNNPACK backend runs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import InputError
from .base import CompressionContext, register
from .finetune import eval_mode


@dataclass(frozen=True)
class Int8StaticConfig:
    """Post-training static INT8: per-channel symmetric weights, activations with calibrated scale/zero-point."""

    per_channel: bool = True
    calibration_samples: int = 256
    method: ClassVar[str] = "int8"

    def __post_init__(self) -> None:
        if not isinstance(self.per_channel, bool):
            raise InputError(f"int8: per_channel must be true or false, got {self.per_channel!r}")
        if isinstance(self.calibration_samples, bool) or not isinstance(self.calibration_samples, int) \
                or self.calibration_samples < 1:
            raise InputError(f"int8: calibration_samples must be a whole number >= 1, got {self.calibration_samples!r}",
                             "e.g. calibration_samples = 256")


@dataclass(frozen=True)
class Int8DynamicConfig:
    """Dynamic INT8 for Linear-heavy models: int8 weights, activations quantized per call at run time."""

    per_channel: bool = True
    method: ClassVar[str] = "int8-dynamic"


def xnnpack_quantizer(per_channel: bool, dynamic: bool):
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    return XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic))


def _pt2e(model: torch.nn.Module, quantizer, batches, ctx: CompressionContext) -> torch.nn.Module:
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    graph = torch.export.export(eval_mode(model), ctx.example_inputs).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for i, batch in enumerate(batches):
            prepared(*batch)
            ctx.progress("calibrating", i + 1, len(batches))
    return convert_pt2e(prepared)


@register(Int8StaticConfig)
def _int8_static(model: torch.nn.Module, config: Int8StaticConfig, ctx: CompressionContext) -> torch.nn.Module:
    batches = ctx.calibration_batches(config.calibration_samples)
    return _pt2e(model, xnnpack_quantizer(config.per_channel, dynamic=False), batches, ctx)


@register(Int8DynamicConfig)
def _int8_dynamic(model: torch.nn.Module, config: Int8DynamicConfig, ctx: CompressionContext) -> torch.nn.Module:
    # Dynamic quantization observes nothing ahead of time; one pass with the example traces the observers.
    return _pt2e(model, xnnpack_quantizer(config.per_channel, dynamic=True), [ctx.example_inputs], ctx)
