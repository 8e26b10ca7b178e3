"""Derive a smaller student from a teacher: fewer layers, narrower layers, low-rank embeddings.

Each helper returns a new module initialised from the teacher's own weights (kept layers, the most important
channels, the best rank-r embedding), the usual starting point that makes distillation converge quickly.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from ..errors import InputError


def drop_layers(teacher: nn.Module, layers_path: str, keep: Sequence[int]) -> nn.Module:
    """A copy of `teacher` whose ModuleList at `layers_path` (e.g. 'encoder.layer') keeps only `keep`.

    A Hugging Face style `config.num_hidden_layers` / `n_layer` is updated to match when present.
    """
    student = copy.deepcopy(teacher)
    try:
        layers = student.get_submodule(layers_path)
    except AttributeError:
        raise InputError(f"the model has no module '{layers_path}'", "name the ModuleList holding its layers") from None
    if not isinstance(layers, nn.ModuleList):
        raise InputError(f"'{layers_path}' is a {type(layers).__name__}, not a ModuleList of layers")
    if not keep or any(not 0 <= i < len(layers) for i in keep):
        raise InputError(f"layers to keep {list(keep)} must be indices into {len(layers)} layers")
    parent, _, name = layers_path.rpartition(".")
    setattr(student.get_submodule(parent) if parent else student, name, nn.ModuleList([layers[i] for i in keep]))
    for holder in (student, *student.modules()):
        cfg = getattr(holder, "config", None)
        for attr in ("num_hidden_layers", "n_layer", "num_layers"):
            if cfg is not None and hasattr(cfg, attr):
                setattr(cfg, attr, len(keep))
    return student


def evenly_spaced(total: int, keep: int) -> list[int]:
    """`keep` layer indices spread over `total`, always including the last (it feeds the output)."""
    if not 0 < keep <= total:
        raise InputError(f"cannot keep {keep} of {total} layers")
    step = total / keep
    return [round(total - 1 - step * (keep - 1 - i)) for i in range(keep)]


class FactorizedEmbedding(nn.Sequential):
    """Embedding(vocab, rank) followed by Linear(rank, dim): ALBERT's factorisation, vocab*rank + rank*dim params."""

    def __init__(self, vocab: int, rank: int, dim: int, padding_idx: int | None = None) -> None:
        super().__init__(nn.Embedding(vocab, rank, padding_idx=padding_idx), nn.Linear(rank, dim, bias=False))


def factorize_embedding(model: nn.Module, path: str, rank: int) -> nn.Module:
    """Replace the nn.Embedding at `path` (in place) by its best rank-`rank` factorisation (truncated SVD)."""
    emb = model.get_submodule(path)
    if not isinstance(emb, nn.Embedding):
        raise InputError(f"'{path}' is a {type(emb).__name__}, not an nn.Embedding")
    vocab, dim = emb.weight.shape
    if not 0 < rank < dim:
        raise InputError(f"rank {rank} must be between 1 and the embedding width {dim - 1}")
    u, s, vh = torch.linalg.svd(emb.weight.detach().float(), full_matrices=False)
    fact = FactorizedEmbedding(vocab, rank, dim, emb.padding_idx)
    with torch.no_grad():
        fact[0].weight.copy_(u[:, :rank] * s[:rank].sqrt())
        fact[1].weight.copy_((s[:rank].sqrt().unsqueeze(1) * vh[:rank]).T)
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, fact)
    return model


def narrow(teacher: nn.Module, example_inputs: tuple[torch.Tensor, ...], width: float,
           keep: Sequence[str] = ()) -> nn.Module:
    """A copy of `teacher` with every prunable layer's channels cut to `width` (0..1) of the original, keeping
    the channels with the largest L2 norm. torch-pruning tracks the couplings (residuals, depthwise groups);
    the last Linear (the output) and the modules named in `keep` keep their output width."""
    import torch_pruning as tp
    if not 0 < width < 1:
        raise InputError(f"width {width} must be between 0 and 1 (exclusive)")
    student = copy.deepcopy(teacher).eval()
    linears = [m for m in student.modules() if isinstance(m, nn.Linear)]
    ignored = [student.get_submodule(n) for n in keep] + linears[-1:]
    pruner = tp.pruner.MetaPruner(student, example_inputs, importance=tp.importance.MagnitudeImportance(p=2),
                                  pruning_ratio=1 - width, ignored_layers=ignored)
    pruner.step()
    return student
