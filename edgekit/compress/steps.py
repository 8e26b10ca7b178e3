"""Applying a recipe step by step and reporting, for each step, parameters, MACs, size and quality before and after.

Size is the bytes of the tensors the model actually uses (for an exported graph: those its nodes read), dense and
as a bitmask-sparse encoding would store them; the artifact's file size is measured by the compiler. Quality is
top-1 accuracy when labels are given (on the eval data, else on the calibration data, which fine-tuning also
trained on, so optimistic), otherwise the cosine similarity of outputs to the model that entered the recipe.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from ..modelio import Dataset
from .base import CompressionContext, compress, describe
from .outputs import first_output


def used_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    """Parameters, buffers and constants the forward pass reads, each once."""
    if isinstance(model, torch.fx.GraphModule):
        tensors = []
        for node in model.graph.nodes:
            if node.op == "get_attr":
                value = model
                for part in str(node.target).split("."):
                    value = getattr(value, part)
                if isinstance(value, torch.Tensor):
                    tensors.append(value)
    else:
        tensors = list(model.state_dict(keep_vars=True).values())
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass
    seen, unique = set(), []
    for t in tensors:
        if is_traceable_wrapper_subclass(t):  # e.g. torchao's quantized weights: their plain parts instead
            inner = [getattr(t, name) for name in t.__tensor_flatten__()[0]]
            tensors += [x for x in inner if isinstance(x, torch.Tensor)]
        elif id(t) not in seen:
            seen.add(id(t))
            unique.append(t)
    return unique


def model_stats(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> dict[str, Any]:
    from ..metrics import count_macs
    tensors = [t.detach() for t in used_tensors(model)]
    numel = sum(t.numel() for t in tensors)
    nonzero = sum(int(torch.count_nonzero(t)) for t in tensors)
    dense = sum(t.numel() * t.element_size() for t in tensors)
    # A bitmask (1 bit per element) plus the non-zero values, per tensor when that is smaller than dense.
    sparse = sum(min(t.numel() * t.element_size(),
                     -(-t.numel() // 8) + int(torch.count_nonzero(t)) * t.element_size()) for t in tensors)
    return {"params": numel, "nonzero_params": nonzero, "zero_share": round(1 - nonzero / max(numel, 1), 4),
            "macs": count_macs(model, example_inputs), "bytes": dense, "sparse_bytes": sparse}


def wants_sparse_storage(explicit: bool | None, recipe: Sequence[Any], model: torch.nn.Module,
                         zero_share: float = 0.3) -> bool:
    """Store the model file sparse? `explicit` if given; else what recipe steps ask (a `storage` field); else
    whether at least `zero_share` of the model's weight matrices and kernels are zeros (e.g. a pruned .pt2)."""
    if explicit is not None:
        return explicit
    asked = {getattr(c, "storage", None) for c in recipe} - {None}
    if asked:
        return "sparse" in asked
    weights = [t.detach() for t in used_tensors(model) if t.dim() >= 2]
    total = sum(t.numel() for t in weights)
    return bool(total) and sum(int((t == 0).sum()) for t in weights) >= zero_share * total


def _outputs(model: torch.nn.Module, x: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
    """The first output over every sample of `x` (one tensor per model input)."""
    n = len(x[0])

    def run(step: int) -> torch.Tensor:
        outs = []
        for i in range(0, n - n % step, step):
            outs.append(first_output(model(*(t[i:i + step] for t in x))))
        return torch.cat(outs)
    with torch.no_grad():
        try:
            return run(min(256, n))
        except Exception:  # an exported graph runs at its fixed batch size only
            return run(batch)


class Quality:
    """Measures one metric on a fixed sample, the same before and after every step."""

    def __init__(self, model: torch.nn.Module, ctx: CompressionContext, eval_data: Dataset | None,
                 limit: int = 512) -> None:
        examples = ctx.example_inputs
        self.batch = examples[0].shape[0]
        if eval_data is not None:
            names = list(ctx.input_names) or [f"input_{i}" for i in range(len(examples))]
            x = eval_data.for_inputs(names, [e.shape for e in examples], "eval")
            y, source = eval_data.y, "eval data"
        elif ctx.calibration_inputs is not None:
            x, y = ctx.calibration_inputs, ctx.labels
            source = "calibration data (also used for fine-tuning: optimistic)"
        else:
            x, y, source = [e.numpy() for e in examples], None, "the example input"
        n = max(self.batch, min(limit, len(x[0])) // self.batch * self.batch)
        self.x = [torch.from_numpy(np.ascontiguousarray(a[:n])).to(e.dtype) for a, e in zip(x, examples)]
        self.y = None if y is None else np.asarray(y[:n])
        self.name = "top1_accuracy" if self.y is not None else "cosine_vs_input_model"
        self.source = f"{source}, {n} samples"
        self.reference = None if self.y is not None else _outputs(model, self.x, self.batch).flatten(1)

    def __call__(self, model: torch.nn.Module) -> float:
        out = _outputs(model, self.x, self.batch)
        if self.y is not None:
            return float((out.argmax(1).numpy() == self.y[:len(out)]).mean())
        cos = torch.nn.functional.cosine_similarity(out.flatten(1), self.reference[:len(out)], dim=1)
        return float(cos.mean())


def apply_steps(model: torch.nn.Module, configs: Sequence[Any], ctx: CompressionContext,
                eval_data: Dataset | None = None) -> tuple[torch.nn.Module, list[dict[str, Any]]]:
    """Apply `configs` in order; returns the compressed model and one report per step."""
    if not configs:
        return model, []
    quality = Quality(model, ctx, eval_data)
    state = {**model_stats(model, ctx.example_inputs), quality.name: quality(model)}
    reports = []
    for i, config in enumerate(configs):
        start = time.perf_counter()
        model = compress(model, config, ctx)
        seconds = time.perf_counter() - start
        after = {**model_stats(model, ctx.example_inputs), quality.name: quality(model)}
        reports.append({"step": i + 1, "method": config.method, "config": describe(config),
                        "seconds": round(seconds, 3), "quality_metric": quality.name, "quality_on": quality.source,
                        "before": state, "after": after})
        state = after
    return model, reports
