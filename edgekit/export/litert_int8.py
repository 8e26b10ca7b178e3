"""LiteRT's INT8: the backend of the `.tflite` and microcontroller targets (full-integer files, int8 at the
boundary).

Quantized the way litert-torch's converter expects: PT2E with litert-torch's own quantizer, weights left as float
constants behind quantize ops (the converter reads their scales), then `convert(..., quant_config=...)` in the
exporter. The second way is ai-edge-quantizer on the FP32 file, calibrated in LiteRT on the same samples: taken when
asked for (`route = "ai-edge-quantizer"`), or under `auto` when PT2E cannot capture the model here, the converter
cannot lower its graph, or the model has an LSTM (see LSTM_REASON; the manifest records why).
"""
from __future__ import annotations

import contextlib
import functools
import io
import operator
from typing import Any, Sequence

import torch

from ..compress.base import CompressionContext
from ..compress.embedding import annotate_embeddings
from ..compress.rnn_cells import LSTMLoop, annotate_cell_ops, restore_sources, rewrite_recurrent
from ..compress.pt2e_passes import unannotate
from ..compress.quantize import Int8DynamicConfig, Int8Record, Int8Route, pt2e_quantize, skipping, with_record
from ..errors import UnsupportedError


class ConverterQuantizes(torch.nn.Module):
    """The float model, marked to be quantized by ai-edge-quantizer at conversion; on the host it runs in float
    (step reports before conversion show FP32 quality; the artifact's reference outputs are the INT8 file's)."""

    def __init__(self, model: torch.nn.Module, reason: str | None) -> None:
        super().__init__()
        self.model = model
        self.reason = reason  # why PT2E was not used under `auto`; None when the route was asked for

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.model(*inputs)


class LiteRTInt8:
    name = "litert"
    fold_quantize = False  # the converter reads float weights behind quantize ops

    def quantizer(self, per_channel: bool, *, dynamic: bool = False, qat: bool = False) -> Any:
        if qat:  # measured: its conv + batch-norm annotator passes a function to torch.export, which refuses it
            raise UnsupportedError("QAT for .tflite and microcontroller targets: litert-torch 0.10's QAT quantizer "
                                   "does not run with torchao 0.18", "use int8 (post-training) for this target")
        from litert_torch.quantize.pt2e_quantizer import get_symmetric_quantization_config
        return _litert_quantizer()().set_global(
            get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic, is_qat=qat))

    def quantize(self, model: torch.nn.Module, config: Any, batches: Sequence[tuple[torch.Tensor, ...]],
                 ctx: CompressionContext) -> torch.nn.Module:
        dynamic = isinstance(config, Int8DynamicConfig)
        route = getattr(config, "route", Int8Route.AUTO)
        if not dynamic:  # nn.LSTM / nn.GRU as explicit cell loops the quantizer annotates (else one float op)
            model = rewrite_recurrent(model, keep=getattr(config, "keep_float", ()))
        quantizer = skipping(self.quantizer(config.per_channel, dynamic=dynamic), config)
        record = Int8Record(model, quantizer, batches, config, self.name)
        if route == Int8Route.AI_EDGE_QUANTIZER:
            no_mixed_on_ai_edge_quantizer(config, "it was asked for")
            return with_record(ConverterQuantizes(model, None), record)
        lstm = None if dynamic or getattr(config, "mixed", False) else _lstm_loop(model)
        if route == Int8Route.AUTO and lstm is not None:
            return with_record(ConverterQuantizes(model, LSTM_REASON.format(name=lstm)), record)
        try:
            graph = pt2e_quantize(model, quantizer, batches, ctx, self.fold_quantize)
        except Exception as exc:  # torch.export / the quantizer's annotators raise many types
            reason = f"PT2E quantization failed: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}"
            if route == Int8Route.PT2E or dynamic:
                raise UnsupportedError(reason, "try route = \"ai-edge-quantizer\"" if not dynamic else None) from exc
            no_mixed_on_ai_edge_quantizer(config, reason)
            return with_record(ConverterQuantizes(model, reason), record)
        return with_record(graph, record)


LITERT_INT8 = LiteRTInt8()

# Why `auto` quantizes an unrolled LSTM with ai-edge-quantizer. Measured on the zoo's lstm_kws (49 steps, 2 shared
# cores): the PT2E graph has ~5,200 nodes (the quantize/dequantize pairs of ~1,400 ops), which litert-torch traces
# three times and lowers: 105 s of a 161 s INT8 compile against 24 s for FP32, host cosine 0.9899; ai-edge-quantizer
# on the loop's float file: 42 s, cosine 0.9929, and on the M4 the same weights once, bit-exact with TFLite Micro.
# A GRU stays on PT2E: ai-edge-quantizer gave kws_gru 0.9845 against 0.9983, and its PT2E compile is under 4x FP32.
LSTM_REASON = ("nn.LSTM '{name}': litert-torch's conversion of its unrolled PT2E graph takes several times the FP32 "
               "compile; ai-edge-quantizer quantizes the converted float file instead")


def _lstm_loop(model: torch.nn.Module) -> str | None:
    """The path of the first LSTM cell loop in `model` (see rewrite_recurrent), or None."""
    return next((name or "<model>" for name, m in model.named_modules() if isinstance(m, LSTMLoop)), None)


def no_mixed_on_ai_edge_quantizer(config: Any, why: str) -> None:
    """Mixed precision skips modules in the PT2E quantizer; ai-edge-quantizer, on the converted file, has no modules."""
    if getattr(config, "mixed", False):
        raise UnsupportedError(f"int8: keep_float / min_cosine need the litert-torch-pt2e route, and this model "
                               f"takes ai-edge-quantizer ({why})", "leave keep_float and min_cosine out")


def restore_add_sources(graph: torch.fx.GraphModule) -> None:
    """Give every tensor add the `source_fn_stack` that torch.export (2.13) no longer records: litert-torch's add
    annotator finds adds by that source, and without it left them float between dequantize/quantize pairs (9 of
    MobileNetV2's 10 residual adds in the .tflite, each a round trip to float that XNNPACK runs in float)."""
    for node in graph.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.add.Tensor \
                and not node.meta.get("source_fn_stack"):
            node.meta["source_fn_stack"] = [(node.name, operator.add)]


@functools.cache
def _litert_quantizer() -> type:
    """litert-torch's PT2E quantizer, annotating every residual add (see restore_add_sources)."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer

    class AddAnnotatingQuantizer(PT2EQuantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            restore_add_sources(model)
            restore_sources(model)  # mul, cat
            model = super().annotate(model)
            annotate_cell_ops(model, self.global_config)  # slices, sigmoid / tanh, sub: the RNN loops' ops
            annotate_embeddings(model, self.global_config)  # int8 tables, lookups that copy int8 rows
            unannotate(model, [name for name, config in self.module_name_config.items() if config is None],
                       getattr(self, "float_ops", ()))
            return model

    return AddAnnotatingQuantizer


def ai_edge_quantize(float_model: bytes, batches: Sequence[tuple[torch.Tensor, ...]]) -> bytes:
    """An FP32 .tflite made full-integer by ai-edge-quantizer (static int8 weights and activations, int8 I/O),
    calibrated in LiteRT on `batches`; its report and progress bars are dropped (they would interleave with ours)."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe
    from ..agent.agent import signature_order
    interp = Interpreter(model_content=float_model)
    inputs = signature_order(interp.get_input_details(), "args_")
    names = [d["name"].removeprefix("serving_default_") for d in inputs]
    samples = [{name: b.numpy().astype(d["dtype"]) for name, b, d in zip(names, batch, inputs)} for batch in batches]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        qt = quantizer.Quantizer(float_model, recipe.static_wi8_ai8())
        result = qt.quantize(qt.calibrate({"serving_default": samples}))
    return bytes(result.quantized_model)
