"""GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
Transformers"): INT4 weights chosen column by column so that each column's rounding error is compensated on the
columns not yet quantized, using the inverse Hessian H = 2 X X^T of the layer's calibration inputs.

Layers are processed in model order and each one sees the outputs of the layers already quantized before it
(the paper's sequential scheme); layers reading the same input (a transformer's q/k/v) share one pass. The result
is stored exactly like round-to-nearest INT4 (`Int4Linear`: packed codes, fp16 scales, uint8 zero points).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .base import CompressionContext, register
from .fields import check_bool, check_float, check_int, check_names
from .finetune import eval_mode, is_exported_graph, lift_linears
from .int4 import Int4Linear, check_group_size, group_params, quantize_codes, quantizable_linears, set_submodule


@dataclass(frozen=True)
class GptqInt4Config:
    """GPTQ INT4 weight-only, group-wise. `damp` is the fraction of the mean Hessian diagonal added for
    stability; `block_size` columns are updated lazily together (the paper's batched update)."""

    group_size: int = 128
    symmetric: bool = False
    damp: float = 0.01
    block_size: int = 128
    calibration_samples: int = 128
    batch_size: int = 16
    skip: tuple[str, ...] = ()
    method: ClassVar[str] = "int4-gptq"

    def __post_init__(self) -> None:
        m = self.method
        check_group_size(self.group_size, m)
        check_bool(m, "symmetric", self.symmetric)
        check_float(m, "damp", self.damp, 0)
        for name in ("block_size", "calibration_samples", "batch_size"):
            check_int(m, name, getattr(self, name), 1)
        object.__setattr__(self, "skip", check_names(m, "skip", self.skip, patterns=True))


def gptq_quantize(weight: torch.Tensor, hessian: torch.Tensor, group_size: int, symmetric: bool = False,
                  damp: float = 0.01, block_size: int = 128
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GPTQ for one layer: weight (out, in), hessian (in, in) -> codes (out, in) uint8, scales fp16, zeros uint8
    (both (out, in / group_size)), the same layout as round-to-nearest."""
    W = weight.detach().clone().float()
    H = hessian.detach().clone().float()
    out_f, in_f = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1  # an input that is always zero: its weights do not matter, quantize them to zero
    W[:, dead] = 0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(in_f)
    # Upper Cholesky factor of H^-1: row i holds the update direction for the columns after i.
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)

    # Blocks are whole groups, so a group's scale is always computed from the columns as updated so far.
    block = max(group_size, block_size // group_size * group_size)
    codes = torch.zeros(out_f, in_f)
    n_groups = in_f // group_size
    scales, zeros = torch.zeros(out_f, n_groups), torch.zeros(out_f, n_groups)
    for b0 in range(0, in_f, block):
        b1 = min(b0 + block, in_f)
        W1, Hinv1 = W[:, b0:b1].clone(), Hinv[b0:b1, b0:b1]
        Err1 = torch.zeros_like(W1)
        for i in range(b1 - b0):
            col = b0 + i
            if col % group_size == 0:
                scale, zero = group_params(W1[:, i:i + group_size], symmetric)
                scales[:, col // group_size], zeros[:, col // group_size] = scale[:, 0], zero[:, 0]
            w, d = W1[:, i], Hinv1[i, i]
            q = quantize_codes(w.unsqueeze(1), scale, zero)[:, 0]
            codes[:, col] = q
            err = (w - (q - zero[:, 0]) * scale[:, 0]) / d
            W1[:, i:] -= err.unsqueeze(1) * Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, b1:] -= Err1 @ Hinv[b0:b1, b1:]  # the lazy batch update of everything after the block
    return codes.to(torch.uint8), scales.half(), zeros.to(torch.uint8)


class _HessianHook:
    """Accumulates H = 2/n sum x x^T over every row (token) of a Linear's input."""

    def __init__(self, in_features: int) -> None:
        self.H = torch.zeros(in_features, in_features)
        self.n = 0

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        x = args[0].detach().reshape(-1, args[0].shape[-1]).float()
        m = x.shape[0]
        self.H *= self.n / (self.n + m)
        self.n += m
        x = x * (2 / self.n) ** 0.5
        self.H += x.T @ x


class _Enough(Exception):
    """Raised by a hook once every layer of interest has seen its input: the rest of the forward is not needed."""


def _run(model: nn.Module, batches: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for b in batches:
            try:
                model(b)
            except _Enough:
                pass


def _stop_after(layers: list[nn.Module]):
    """Hooks that end the forward pass once all `layers` ran on the current batch (later layers are unchanged
    by this step, so running them would only cost time)."""
    pending = set()

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if not pending:
            pending.update(id(m) for m in layers)
        pending.discard(id(module))
        if not pending:
            raise _Enough
    return [m.register_forward_hook(hook) for m in layers]


def _sibling_sets(model: nn.Module, names: list[str], probe: torch.Tensor) -> list[list[str]]:
    """Group consecutive layers that read the very same input tensor (quantized together in one pass)."""
    seen: dict[str, int] = {}

    def record(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:  # None: output unchanged
            seen.setdefault(name, args[0].data_ptr())
        return hook

    handles = [model.get_submodule(n).register_forward_hook(record(n)) for n in names]
    try:
        _run(model, [probe])
    finally:
        for h in handles:
            h.remove()
    sets: list[list[str]] = []
    for n in names:
        if n not in seen:
            continue  # never called on this input: left in float
        if sets and seen[sets[-1][0]] == seen[n]:
            sets[-1].append(n)
        else:
            sets.append([n])
    return sets


@register(GptqInt4Config)
def _gptq(model: nn.Module, config: GptqInt4Config, ctx: CompressionContext) -> nn.Module:
    x = torch.from_numpy(np.ascontiguousarray(ctx.single_input("GPTQ")[:config.calibration_samples]))
    x = x.to(ctx.example_inputs[0].dtype)
    # An eager module takes any batch size; calibrating in larger batches is much faster than the example's.
    # A .pt2's program guards the batch size it was exported with.
    step = ctx.example_inputs[0].shape[0] if is_exported_graph(model) else config.batch_size
    x = x[:len(x) // step * step]
    batches = [x[i:i + step] for i in range(0, len(x), step)]
    model = lift_linears(eval_mode(copy.deepcopy(model)))
    names = [n for n, _ in quantizable_linears(model, config.group_size, config.skip)]
    sets = _sibling_sets(model, names, batches[0])
    for k, group in enumerate(sets):
        hooks = {n: _HessianHook(model.get_submodule(n).in_features) for n in group}
        handles = [model.get_submodule(n).register_forward_hook(hooks[n]) for n in group]
        handles += _stop_after([model.get_submodule(n) for n in group])  # after the Hessian hooks
        try:
            _run(model, batches)
        finally:
            for h in handles:
                h.remove()
        for n in group:
            lin = model.get_submodule(n)
            codes, scales, zeros = gptq_quantize(lin.weight, hooks[n].H, config.group_size, config.symmetric,
                                                 config.damp, config.block_size)
            set_submodule(model, n, Int4Linear.from_codes(codes, scales, zeros, config.group_size, lin.bias))
        ctx.progress("gptq", k + 1, len(sets))
    return model
