"""A model's outputs as the compression methods read them: models may return one tensor or a tuple (or list)."""
from __future__ import annotations

from typing import Any, Sequence

import torch


def all_outputs(out: Any) -> Sequence[Any]:
    """Every output of a forward pass: a tuple/list as it is, a single output as a one-item tuple."""
    return out if isinstance(out, (tuple, list)) else (out,)


def output_item(out: Any, index: int) -> Any:
    """Item `index` of a tuple/list output; a single output stands for any item (e.g. an attention module that
    returns its map alone)."""
    return out[index] if isinstance(out, (tuple, list)) else out


def first_output(out: Any) -> torch.Tensor:
    """The first output of a forward pass (the logits / embedding the methods train and compare on)."""
    return output_item(out, 0)
