"""INT4 weight-only quantization, group-wise, round-to-nearest; packed two weights per byte.

Every `nn.Linear` whose input width is a multiple of the group size becomes an `Int4Linear`: a module that holds
the 4-bit codes packed into uint8 (low nibble = even column, high nibble = odd column), one fp16 scale and one
uint8 zero point per group of `group_size` input columns, and dequantizes in its forward (or once, with
`dequantize_model`, when the runtime wants plain float layers). `save_int4` writes the packed tensors to a
safetensors file, so the size on disk is the real packed size.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import torch
from torch import nn

from ..errors import InputError
from .base import CompressionContext, register
from .fields import check_bool, check_names
from .finetune import lift_linears

GROUP_SIZES = (32, 64, 128)


@dataclass(frozen=True)
class Int4WeightOnlyConfig:
    """Round-to-nearest INT4 weights, one scale (+ zero point) per `group_size` input columns; activations float.

    `skip` holds regular expressions of module names kept in float (e.g. a language model's output head).
    """

    group_size: int = 128
    symmetric: bool = False
    skip: tuple[str, ...] = ()
    method: ClassVar[str] = "int4-rtn"

    def __post_init__(self) -> None:
        check_group_size(self.group_size, self.method)
        check_bool(self.method, "symmetric", self.symmetric)
        object.__setattr__(self, "skip", check_names(self.method, "skip", self.skip, patterns=True))


def check_group_size(group_size: int, method: str = "int4") -> None:
    """The group sizes the INT4 kernels take (a closed set of whole numbers; TOML gives them as integers)."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size not in GROUP_SIZES:
        raise InputError(f"{method}: group_size must be one of {', '.join(map(str, GROUP_SIZES))}, "
                         f"got {group_size!r}")


# --- codes, scales and packing -------------------------------------------------------------------------------

def group_params(w: torch.Tensor, symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point (codes 0..15) per row of `w` (rows x group columns), shapes (rows, 1)."""
    if symmetric:
        # Codes -8..7 shifted by 8; the scale maps the largest magnitude onto 7 so nothing clips at +7.
        scale = w.abs().amax(dim=1, keepdim=True) / 7
        zero = torch.full_like(scale, 8.0)
    else:
        lo = w.amin(dim=1, keepdim=True).clamp(max=0)
        hi = w.amax(dim=1, keepdim=True).clamp(min=0)
        scale = (hi - lo) / 15
        zero = torch.round(-lo / scale.clamp(min=1e-12)).clamp(0, 15)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group: any scale is exact
    # Scales are stored as fp16 and rounded to bf16 first: XNNPACK's 4-bit kernels compute with bf16 scales, and a
    # bf16 value (in fp16's range) is exact in fp16. The codes are quantized against that value, so they match
    # what every runtime dequantizes.
    return scale.to(torch.bfloat16).float(), zero


def quantize_codes(w: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.round(w / scale) + zero, 0, 15)


def rtn_codes(weight: torch.Tensor, group_size: int, symmetric: bool
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Round-to-nearest codes (out, in) uint8, scales (out, in/g) fp16, zeros (out, in/g) uint8."""
    out_f, in_f = weight.shape
    w = weight.detach().float().reshape(out_f * in_f // group_size, group_size)
    scale, zero = group_params(w, symmetric)
    codes = quantize_codes(w, scale, zero)
    n_groups = in_f // group_size
    return (codes.reshape(out_f, in_f).to(torch.uint8), scale.reshape(out_f, n_groups).half(),
            zero.reshape(out_f, n_groups).to(torch.uint8))


def pack_int4(codes: torch.Tensor) -> torch.Tensor:
    """(..., 2n) codes in 0..15 -> (..., n) uint8, two per byte (even column in the low nibble)."""
    if codes.shape[-1] % 2:
        raise ValueError("pack_int4 needs an even number of columns")
    c = codes.to(torch.uint8)
    return c[..., 0::2] | (c[..., 1::2] << 4)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of pack_int4: (..., n) uint8 -> (..., 2n) uint8 codes."""
    # Floor division rather than `>> 4`: shifts are not in the core ATen opset that ExecuTorch programs use.
    high = torch.div(packed, 16, rounding_mode="floor")
    low = packed - high * 16
    return torch.stack((low, high), dim=-1).reshape(*packed.shape[:-1], packed.shape[-1] * 2)


def dequantize(packed: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, group_size: int,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    codes = unpack_int4(packed).to(dtype)
    out_f, in_f = codes.shape
    g = codes.reshape(out_f, in_f // group_size, group_size)
    w = (g - zeros.to(dtype).unsqueeze(-1)) * scales.to(dtype).unsqueeze(-1)
    return w.reshape(out_f, in_f)


class Int4Linear(nn.Module):
    """A Linear layer stored as packed INT4 codes + fp16 group scales + uint8 zero points; float activations."""

    def __init__(self, in_features: int, out_features: int, group_size: int, bias: bool = True) -> None:
        super().__init__()
        if in_features % group_size:
            raise ValueError(f"in_features {in_features} is not a multiple of group size {group_size}")
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        n_groups = in_features // group_size
        self.register_buffer("packed", torch.zeros(out_features, in_features // 2, dtype=torch.uint8))
        self.register_buffer("scales", torch.ones(out_features, n_groups, dtype=torch.float16))
        self.register_buffer("zeros", torch.zeros(out_features, n_groups, dtype=torch.uint8))
        self.bias = nn.Parameter(torch.zeros(out_features), requires_grad=False) if bias else None

    @classmethod
    def from_codes(cls, codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, group_size: int,
                   bias: torch.Tensor | None) -> "Int4Linear":
        out_f, in_f = codes.shape
        mod = cls(in_f, out_f, group_size, bias is not None)
        mod.packed.copy_(pack_int4(codes))
        mod.scales.copy_(scales)
        mod.zeros.copy_(zeros)
        if bias is not None:
            mod.bias.data.copy_(bias.detach())
        return mod

    def weight_float(self) -> torch.Tensor:
        return dequantize(self.packed, self.scales, self.zeros, self.group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight_float().to(x.dtype), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"


# --- whole models ---------------------------------------------------------------------------------------------

def quantizable_linears(model: nn.Module, group_size: int, skip: tuple[str, ...] = ()
                        ) -> Iterator[tuple[str, nn.Linear]]:
    """(name, module) of every nn.Linear INT4 can take: input width a multiple of the group size, not skipped."""
    patterns = [re.compile(p) for p in skip]
    for name, mod in model.named_modules():
        if (type(mod) is nn.Linear and mod.in_features % group_size == 0
                and not any(p.search(name) for p in patterns)):
            yield name, mod


def set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def int4_summary(model: nn.Module) -> dict[str, int]:
    """Byte counts: packed codes, scales + zero points, and everything still in float."""
    packed = meta = 0
    int4_buffers = set()
    for mod in model.modules():
        if isinstance(mod, Int4Linear):
            packed += mod.packed.numel()
            meta += mod.scales.numel() * 2 + mod.zeros.numel()
            int4_buffers.update(id(t) for t in (mod.packed, mod.scales, mod.zeros))
    other = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers())
                if id(t) not in int4_buffers)
    layers = sum(isinstance(m, Int4Linear) for m in model.modules())
    # What the replaced weights took in fp32 (two 4-byte weights per packed byte), for a like-for-like ratio.
    return {"int4_layers": layers, "packed_bytes": packed, "scale_zero_bytes": meta, "other_bytes": other,
            "replaced_fp32_bytes": packed * 8}


def save_int4(model: nn.Module, path: str | Path) -> int:
    """Write the model's tensors (packed INT4 as uint8, scales fp16, the rest as is) to safetensors; bytes."""
    from safetensors.torch import save_file
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    # safetensors refuses shared storage (tied embeddings): keep the first name of each storage.
    seen, unique = set(), {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if key not in seen:
            seen.add(key)
            unique[k] = v
    save_file(unique, str(path))
    return Path(path).stat().st_size


def dequantize_model(model: nn.Module) -> nn.Module:
    """Replace every Int4Linear by a float nn.Linear (dequantize-on-load): same outputs, float speed."""
    for name, mod in list(model.named_modules()):
        if isinstance(mod, Int4Linear):
            lin = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None)
            lin.weight.data.copy_(mod.weight_float())
            if mod.bias is not None:
                lin.bias.data.copy_(mod.bias.data)
            set_submodule(model, name, lin)
    return model


@register(Int4WeightOnlyConfig)
def _int4_rtn(model: nn.Module, config: Int4WeightOnlyConfig, ctx: CompressionContext) -> nn.Module:
    model = lift_linears(copy.deepcopy(model))  # the caller's float model stays usable (e.g. as a reference)
    targets = list(quantizable_linears(model, config.group_size, config.skip))
    for i, (name, lin) in enumerate(targets):
        codes, scales, zeros = rtn_codes(lin.weight, config.group_size, config.symmetric)
        set_submodule(model, name, Int4Linear.from_codes(codes, scales, zeros, config.group_size, lin.bias))
        ctx.progress("int4 rtn", i + 1, len(targets))
    return model
