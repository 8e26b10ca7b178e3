"""Perplexity of a cached decoder measured the way a device decodes: one token per call, through the program.

`step(tokens (1, 1) int64, input_pos (1,) int64) -> logits (1, vocab)` is either a host module or an ExecuTorch
program run by the ExecuTorch runtime (the XNNPACK kernels a phone runs: INT4 through qd8-qb4w, not a float
simulation of it)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def decoder_perplexity(step: Step, windows: np.ndarray) -> float:
    """exp(mean next-token cross-entropy) over `windows` (N, L + 1) token ids, each decoded from position 0."""
    total, count = 0.0, 0
    with torch.no_grad():
        for window in torch.from_numpy(np.ascontiguousarray(windows)).long():
            for pos in range(len(window) - 1):
                logits = step(window[pos:pos + 1].view(1, 1), torch.tensor([pos]))
                total += float(torch.nn.functional.cross_entropy(logits.view(1, -1).float(), window[pos + 1:pos + 2]))
                count += 1
    return math.exp(total / count)


def pte_step(path: str | Path) -> Step:
    """A step function running the .pte's forward with ExecuTorch's runtime on this host."""
    from executorch.runtime import Runtime
    try:
        import executorch.kernels.quantized  # noqa: F401  int8 embedding lookups
    except ImportError:
        pass
    method = Runtime.get().load_program(Path(path)).load_method("forward")
    return lambda tokens, pos: method.execute([tokens, pos])[0]
