"""Dynamic INT8 for transformers on the host: per-channel int8 weights with per-token int8 activations.

Per-tensor activation scales (the PT2E dynamic flow, `quantize_dynamic`) let one outlier token set the scale for
a whole sequence; on all-MiniLM-L6-v2 that costs several points of embedding cosine. torchao's
Int8DynamicActivationIntxWeightConfig quantizes each token row with its own scale. The result is a PyTorch module
(torchao tensor subclasses): it runs on the host, and torch.export turns it into the dynamic-quantized linear
pattern that ExecuTorch lowers to XNNPACK's qd8-qc8w kernels ("8da8w").
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from .base import CompressionContext, register


@dataclass(frozen=True)
class Int8DynamicTokenConfig:
    """Per-channel symmetric int8 weights, per-token int8 activations (asymmetric) computed at run time."""

    method: ClassVar[str] = "int8-dynamic-token"
    dtype: ClassVar[str] = "int8"


@register(Int8DynamicTokenConfig)
def _int8_token(model: nn.Module, config: Int8DynamicTokenConfig, ctx: CompressionContext) -> nn.Module:
    import torch
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerAxis
    model = copy.deepcopy(model)
    quantize_(model, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int8, weight_granularity=PerAxis(0)))
    return model
