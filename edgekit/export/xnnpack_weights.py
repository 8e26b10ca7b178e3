"""Quantized weights in the layouts ExecuTorch runs fast, so a 4-bit model is not dequantized on every call.

- INT4 Linear layers (`compress.int4.Int4Linear`, from RTN or GPTQ) become torchao `IntxUnpackedToInt8Tensor`
  weights with per-token int8 activation quantization: the pattern ExecuTorch's XNNPACK partitioner lowers to
  XNNPACK's qd8-qb4w kernels ("8da4w": INT8 dynamic activations x INT4 grouped weights). The codes and scales are
  carried over unchanged, not re-derived from float weights, so GPTQ's choices survive.
- Embeddings become int8 rows with one scale each, looked up by ExecuTorch's quantized embedding kernel
  (`quantized_decomposed::embedding_byte`; the runtime needs `executorch.kernels.quantized` loaded).

XNNPACK's 4-bit kernels take symmetric weights only (a zero point other than the middle is silently ignored:
measured, outputs off by whole codes), groups that are multiples of 32, and bf16 scales; `compress.int4` rounds
its scales to bf16 for that reason.
"""
from __future__ import annotations

import torch
from torch import nn

from ..compress.int4 import Int4Linear, set_submodule, unpack_int4
from ..errors import UnsupportedError

INT4_ZERO = 8  # compress.int4 stores codes 0..15; symmetric ones are centred on 8


def check_symmetric_int4(recipe: list) -> None:
    """Refuse, before any work, an INT4 step whose zero points XNNPACK would ignore."""
    for config in recipe:
        if str(getattr(config, "method", "")).startswith("int4") and not getattr(config, "symmetric", True):
            raise UnsupportedError(f"{config.method}: XNNPACK's 4-bit kernels take symmetric weights only",
                                   "set symmetric = true in the INT4 step for an ExecuTorch target")


def intx_linear(codes: torch.Tensor, scales: torch.Tensor, group_size: int, bias: torch.Tensor | None,
                bits: int) -> nn.Linear:
    """A Linear whose weight is torchao's IntxUnpackedToInt8Tensor: signed `codes` (out, in) int8, float `scales`
    (out, in / group_size), per-token int8 activations; torch.export gives XNNPACK's dynamic-quantized pattern."""
    from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import (
        IntxUnpackedToInt8Tensor, IntxUnpackedToInt8TensorActivationQuantization)
    out_f, in_f = codes.shape
    weight = IntxUnpackedToInt8Tensor(
        qdata=codes.to(torch.int8).contiguous(), scale=scales.float().contiguous(),
        zero_point=torch.zeros(scales.shape, dtype=torch.int8), target_dtype=getattr(torch, f"int{bits}"),
        block_size=(1, group_size), dtype=torch.float32,
        activation_quantization=IntxUnpackedToInt8TensorActivationQuantization.INT8_ASYM_PER_TOKEN)
    linear = nn.Linear(in_f, out_f, bias=bias is not None, device="meta")
    linear.weight = nn.Parameter(weight, requires_grad=False)
    if bias is not None:
        linear.bias = nn.Parameter(bias.detach().float().clone(), requires_grad=False)
    return linear


def int4_for_xnnpack(model: nn.Module) -> nn.Module:
    """Swap every Int4Linear of `model` (in place) for its 8da4w form; the codes and scales are kept."""
    for name, mod in list(model.named_modules()):
        if not isinstance(mod, Int4Linear):
            continue
        if mod.group_size % 32:
            raise UnsupportedError(f"{name}: XNNPACK's 4-bit kernels need a group size that is a multiple of 32, "
                                   f"got {mod.group_size}")
        if bool((mod.zeros != INT4_ZERO).any()):
            raise UnsupportedError(f"{name}: INT4 weights with zero points; XNNPACK's 4-bit kernels take "
                                   "symmetric weights only", "set symmetric = true in the INT4 step")
        codes = unpack_int4(mod.packed).to(torch.int16) - INT4_ZERO
        set_submodule(model, name, intx_linear(codes, mod.scales, mod.group_size,
                                               None if mod.bias is None else mod.bias.data, bits=4))
    return model


class Int8Embedding(nn.Module):
    """An embedding table stored as int8 rows with one float scale per row (symmetric)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        import executorch.exir.passes._quant_patterns_and_replacements  # noqa: F401  registers the op for export
        w = weight.detach().float()
        scale = (w.abs().amax(dim=1) / 127).clamp(min=1e-12)
        self.register_buffer("codes", torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8))
        self.register_buffer("scales", scale)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized_decomposed.embedding_byte.dtype(self.codes, self.scales, None, -128, 127, ids,
                                                                   dtype=torch.float32)


def int8_embeddings(model: nn.Module) -> int:
    """Replace every nn.Embedding of `model` (in place) by an Int8Embedding; how many were replaced."""
    targets = [(n, m) for n, m in model.named_modules() if type(m) is nn.Embedding]
    for name, emb in targets:
        set_submodule(model, name, Int8Embedding(emb.weight))
    return len(targets)
