"""What a model costs, counted on the host: multiply-accumulates and parameters."""
from __future__ import annotations

import torch


def count_macs(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward pass, from PyTorch's FLOP counter (2 FLOPs = 1 MAC)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*example_inputs)
    return counter.get_total_flops() // 2


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
