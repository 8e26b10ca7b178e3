"""Quantization-aware training through PT2E: the same INT8 graph as post-training quantization, with weights
fine-tuned through fake-quantization first.

prepare_qat_pt2e (the target backend's quantizer, QAT config) -> a few epochs on the context's data -> convert_pt2e. The result
is the same quantize/dequantize graph that `Int8StaticConfig` produces, so every exporter that takes PTQ output
takes this unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .base import CompressionContext, register
from .fields import check_bool, check_float, check_int
from .finetune import eval_mode
from .outputs import first_output
from .quantize import Int8Record, backend_of, with_record


@dataclass(frozen=True)
class QatInt8Config:
    """INT8 QAT: fine-tune `epochs` over the context's data (cross-entropy on labels when given, else matching
    the float model's outputs), then convert to the INT8 graph."""

    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 32
    per_channel: bool = True
    freeze_observers_after: int = 1  # epochs; then scales stay fixed and only the weights adapt
    seed: int = 0
    method: ClassVar[str] = "int8-qat"
    dtype: ClassVar[str] = "int8"

    def __post_init__(self) -> None:
        m = self.method
        check_int(m, "epochs", self.epochs, 0)
        check_float(m, "lr", self.lr, 0, low_open=True)
        check_int(m, "batch_size", self.batch_size, 1)
        check_bool(m, "per_channel", self.per_channel)
        check_int(m, "freeze_observers_after", self.freeze_observers_after, 0)
        check_int(m, "seed", self.seed, None)


def _freeze_observers(gm: torch.fx.GraphModule) -> None:
    for mod in gm.modules():
        if hasattr(mod, "disable_observer"):
            mod.disable_observer()


@register(QatInt8Config)
def _qat(model: nn.Module, config: QatInt8Config, ctx: CompressionContext) -> nn.Module:
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e

    x = torch.from_numpy(np.ascontiguousarray(ctx.single_input("QAT"))).to(ctx.example_inputs[0].dtype)
    y = None if ctx.labels is None else torch.from_numpy(np.asarray(ctx.labels))
    if y is not None and len(y) != len(x):
        raise InputError(f"training data has {len(x)} samples but {len(y)} labels")
    model = eval_mode(model)
    with torch.no_grad():
        target = y if y is not None else torch.cat([first_output(model(x[i:i + 256]))
                                                    for i in range(0, len(x), 256)])

    # Traced with a dynamic batch so training can use mini-batches; the exporter re-traces at the example's batch.
    sample = x[:2] if len(x) >= 2 else x.repeat(2, *([1] * (x.dim() - 1)))
    batch_size = config.batch_size
    try:
        graph = torch.export.export(model, (sample,), dynamic_shapes=({0: torch.export.Dim.AUTO},)).module()
    except Exception:  # a .pt2's program guards its batch size: train at that size instead
        batch_size = ctx.example_inputs[0].shape[0]
        graph = torch.export.export(model, ctx.example_inputs).module()
        x = x[:len(x) // batch_size * batch_size]
        target = target[:len(x)]
    backend = backend_of(ctx)
    quantizer = backend.quantizer(config.per_channel, qat=True)
    prepared = prepare_qat_pt2e(graph, quantizer)
    with torch.no_grad():  # initialise the observers on a batch before the first gradient step
        prepared(x[:batch_size])

    torch.manual_seed(config.seed)
    opt = torch.optim.Adam([p for p in prepared.parameters() if p.requires_grad], lr=config.lr)
    move_exported_model_to_train(prepared)
    steps = (len(x) + batch_size - 1) // batch_size
    for epoch in range(config.epochs):
        if epoch == config.freeze_observers_after:
            _freeze_observers(prepared)
        perm = torch.randperm(len(x))
        for s in range(steps):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            out = first_output(prepared(x[idx]))  # the logits / first field of any output structure
            loss = (nn.functional.cross_entropy(out, target[idx]) if y is not None
                    else nn.functional.mse_loss(out, target[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            ctx.progress("qat", epoch * steps + s + 1, config.epochs * steps)
    move_exported_model_to_eval(prepared)
    converted = convert_pt2e(prepared, fold_quantize=backend.fold_quantize)
    return with_record(converted, Int8Record(None, quantizer, [], config, backend.name))
