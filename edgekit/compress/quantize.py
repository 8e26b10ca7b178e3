"""INT8 quantization through PT2E, with the quantizer of the target's backend.

The method is one (`int8`, and `int8-dynamic`); the quantizer is not: the exporter for the target provides an
`Int8Backend` through the compression context (XNNPACK's for ExecuTorch `.pte`, LiteRT's for `.tflite` and the
microcontroller path), so the graph a step produces is the one that backend's converter lowers. Without a target
(the plain `compress` API) the backend is XNNPACK's. Each INT8 result carries an `Int8Record` (the float model it
started from, the quantizer, the calibration batches) for the exporter and for the per-layer numerics report.
"""
from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Sequence

import torch

from ..errors import InputError
from .base import CompressionContext, register, str_enum
from .fields import check_bool, check_float, check_int
from .finetune import eval_mode
from .pt2e_passes import OP_PREFIX, float_ops, unannotate

RECORD_KEY = "edgekit_int8"


class Int8Route(str, enum.Enum):
    """How a LiteRT backend makes the INT8 file: PT2E inside litert-torch, or ai-edge-quantizer on the FP32 file;
    `auto` takes the second when litert-torch cannot convert the PT2E graph. XNNPACK has one way (`auto`)."""

    AUTO = "auto"
    PT2E = "litert-torch-pt2e"
    AI_EDGE_QUANTIZER = "ai-edge-quantizer"


@dataclass(frozen=True)
class Int8StaticConfig:
    """Post-training static INT8: per-channel symmetric weights, activations with calibrated scale/zero-point."""

    per_channel: bool = True
    calibration_samples: int = 256
    route: Int8Route = Int8Route.AUTO
    # module paths the quantizer skips (mixed precision), and "op:<name>" for every op of a kind
    # (pt2e_passes.FLOAT_OPS), the model's own outside any module too: "op:add" keeps a residual stream float
    keep_float: tuple[str, ...] = ()
    min_cosine: float | None = None   # keep the fewest more modules float to reach this cosine vs FP32 (mixed.py)
    method: ClassVar[str] = "int8"
    dtype: ClassVar[str] = "int8"  # what the target must run (checked against the profile's dtypes)

    def __post_init__(self) -> None:
        check_bool("int8", "per_channel", self.per_channel)
        check_int("int8", "calibration_samples", self.calibration_samples, low=1)
        object.__setattr__(self, "route", str_enum(Int8Route, self.route, "int8: route"))
        if isinstance(self.keep_float, str) or not all(isinstance(n, str) and n for n in self.keep_float):
            raise InputError("int8: keep_float must be a list of module paths", 'e.g. keep_float = ["classifier"]')
        object.__setattr__(self, "keep_float", tuple(self.keep_float))
        if self.min_cosine is not None:
            check_float("int8", "min_cosine", self.min_cosine, 0.0, 1.0, low_open=True)

    @property
    def mixed(self) -> bool:
        """Whether some layers may stay float (asked for, or searched for)."""
        return bool(self.keep_float) or self.min_cosine is not None


@dataclass(frozen=True)
class Int8DynamicConfig:
    """Dynamic INT8 for Linear-heavy models: int8 weights, activations quantized per call at run time."""

    per_channel: bool = True
    method: ClassVar[str] = "int8-dynamic"
    dtype: ClassVar[str] = "int8"

    def __post_init__(self) -> None:
        check_bool("int8-dynamic", "per_channel", self.per_channel)


@dataclass
class Int8Record:
    """What an INT8 step leaves on its result (in the module's `meta`) for the exporter and the numerics report."""

    float_model: torch.nn.Module | None  # the model the step quantized (None after QAT: its weights moved)
    quantizer: Any
    batches: Sequence[tuple[torch.Tensor, ...]]
    config: Any
    backend: str
    mixed: dict[str, Any] | None = None  # the mixed-precision search's record (mixed.py), when one ran


def int8_record(model: torch.nn.Module) -> Int8Record | None:
    meta = getattr(model, "meta", None)
    return meta.get(RECORD_KEY) if isinstance(meta, dict) else None


def with_record(model: torch.nn.Module, record: Int8Record) -> torch.nn.Module:
    if not isinstance(getattr(model, "meta", None), dict):
        model.meta = {}
    model.meta[RECORD_KEY] = record
    return model


class Int8Backend(Protocol):
    """A target backend's INT8: its PT2E quantizer and how it quantizes a model for its converter."""

    name: str

    def quantizer(self, per_channel: bool, *, dynamic: bool = False, qat: bool = False) -> Any:
        """The PT2E quantizer whose INT8 graphs this backend's converter lowers."""

    @property
    def fold_quantize(self) -> bool:
        """Whether convert_pt2e folds weight quantization into int8 constants (XNNPACK) or leaves quantize ops on
        float weights for the converter to read (LiteRT)."""

    def quantize(self, model: torch.nn.Module, config: Any, batches: Sequence[tuple[torch.Tensor, ...]],
                 ctx: CompressionContext) -> torch.nn.Module:
        """Quantize `model` (static or dynamic per `config`) for this backend; the result carries an Int8Record."""


CALIBRATION_CHUNK = 32  # samples per calibration forward when the captured graph takes any batch size


def capture(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> tuple[torch.fx.GraphModule, bool]:
    """The model as an exported graph for PT2E, and whether its batch dimension is dynamic. Captured with a dynamic
    batch where the model allows one, so calibration and the quality checks run many samples per forward: run one
    sample at a time, an unrolled GRU spends most of its INT8 compile in Python op dispatch (issue 26). A model
    that fixes its batch size, or a .pt2 (its program guards the batch it was exported at), is captured at the
    example's batch, as before."""
    model = eval_mode(model)
    if not isinstance(model, torch.fx.GraphModule):
        doubled = tuple(torch.cat([t, t]) for t in example_inputs)  # size 1 would be specialised, not traced
        try:
            graph = torch.export.export(model, doubled,
                                        dynamic_shapes=tuple({0: torch.export.Dim.AUTO} for _ in doubled)).module()
        except Exception:  # noqa: BLE001  (any failure to trace a dynamic batch means: capture it static)
            graph = None
        inputs = [n.meta.get("val") for n in graph.graph.nodes if n.op == "placeholder"] if graph else []
        if inputs and all(isinstance(v, torch.Tensor) and v.dim() and isinstance(v.shape[0], torch.SymInt)
                          for v in inputs):
            return graph, True
    return torch.export.export(model, example_inputs).module(), False


def calibrate(prepared: torch.fx.GraphModule, batches: Sequence[tuple[torch.Tensor, ...]], dynamic: bool,
              ctx: CompressionContext) -> None:
    """Run the calibration samples through `prepared`: in chunks of CALIBRATION_CHUNK where its batch is dynamic
    (the observers see the same samples; min/max observers end identical, histograms are binned over a chunk at a
    time rather than a sample at a time), else batch by batch."""
    if dynamic and batches:
        samples = [torch.cat(parts) for parts in zip(*batches)]
        batches = [tuple(s[i:i + CALIBRATION_CHUNK] for s in samples)
                   for i in range(0, len(samples[0]), CALIBRATION_CHUNK)]
    with torch.no_grad():
        for i, batch in enumerate(batches):
            prepared(*batch)
            ctx.progress("calibrating", i + 1, len(batches))


def pt2e_quantize(model: torch.nn.Module, quantizer: Any, batches: Sequence[tuple[torch.Tensor, ...]],
                  ctx: CompressionContext, fold_quantize: bool = True) -> torch.fx.GraphModule:
    """Capture, insert the quantizer's observers, calibrate on `batches`, convert to the quantized graph."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from .observers import use_fast_histograms
    from .pt2e_passes import integer_scalars_as_constants, shared_specs_after_their_roots
    shared_specs_after_their_roots()
    graph, dynamic = capture(model, ctx.example_inputs)
    graph = integer_scalars_as_constants(graph)
    # torchao's histogram range search takes up to ~1 s per activation at convert (issue 26: 200 s of a tiny
    # MobileViT's INT8 compile); edgekit/compress/observers.py gives the same scales and zero points in ms.
    prepared = use_fast_histograms(prepare_pt2e(graph, quantizer))
    calibrate(prepared, batches, dynamic, ctx)
    converted = convert_pt2e(prepared, fold_quantize=fold_quantize)
    # Captured from the eval-mode model, so its ops already run in eval semantics (an exported module refuses
    # .eval(), and converters warn about "training mode" from the flag alone).
    converted.training = False
    return converted


class XnnpackInt8:
    """ExecuTorch's XNNPACK backend: its quantizer, weights folded to int8 constants."""

    name = "xnnpack"
    fold_quantize = True

    def quantizer(self, per_channel: bool, *, dynamic: bool = False, qat: bool = False) -> Any:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
        return _xnnpack_quantizer()().set_global(
            get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=dynamic, is_qat=qat))

    def quantize(self, model: torch.nn.Module, config: Any, batches: Sequence[tuple[torch.Tensor, ...]],
                 ctx: CompressionContext) -> torch.nn.Module:
        if getattr(config, "route", Int8Route.AUTO) != Int8Route.AUTO:
            raise InputError(f"int8: route '{config.route.value}' is for .tflite and microcontroller targets",
                             "leave route out for this target")
        quantizer = skipping(self.quantizer(config.per_channel, dynamic=isinstance(config, Int8DynamicConfig)),
                             config)
        graph = pt2e_quantize(model, quantizer, batches, ctx, self.fold_quantize)
        return with_record(graph, Int8Record(model, quantizer, batches, config, self.name))


XNNPACK_INT8 = XnnpackInt8()


@functools.cache
def _xnnpack_quantizer() -> type:
    """XNNPACK's PT2E quantizer, leaving keep_float's op kinds float (it skips modules itself)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    class OpSkippingQuantizer(XNNPACKQuantizer):
        float_ops: tuple[str, ...] = ()

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            unannotate(model, ops=self.float_ops)
            return model

    return OpSkippingQuantizer


def skipping(quantizer: Any, config: Any) -> Any:
    """`quantizer`, leaving the config's keep_float modules and op kinds ("op:add") in float. XNNPACK's and litert-torch's quantizers both
    skip a module whose config is None, and exclude it from the global config, but their `set_module_name` setter
    refuses None ("not supported yet"): the entry is written to the map the setter fills."""
    names = getattr(config, "keep_float", ())
    for name in names:
        if not name.startswith(OP_PREFIX):
            quantizer.module_name_config[name] = None
    quantizer.float_ops = float_ops(names)  # read by the quantizers' annotate (pt2e_passes.unannotate)
    return quantizer


def backend_of(ctx: CompressionContext) -> Int8Backend:
    return ctx.int8_backend or XNNPACK_INT8


@register(Int8StaticConfig)
def _int8_static(model: torch.nn.Module, config: Int8StaticConfig, ctx: CompressionContext) -> torch.nn.Module:
    from . import mixed
    backend, batches = backend_of(ctx), ctx.calibration_batches(config.calibration_samples)
    mixed.check_module_names(model, config.keep_float)
    if config.min_cosine is None:
        return backend.quantize(model, config, batches, ctx)
    quantized, search = mixed.reach_cosine(
        model, config, lambda c: backend.quantize(model, c, batches, ctx),
        lambda q: int8_record(q).float_model or model, ctx.example_inputs, batches,
        ctx.progress)
    record = int8_record(quantized)
    record.mixed = {**search, "cost": mixed.float_cost(record.float_model or model, search["kept_float"],
                                                       ctx.example_inputs)}
    return quantized


@register(Int8DynamicConfig)
def _int8_dynamic(model: torch.nn.Module, config: Int8DynamicConfig, ctx: CompressionContext) -> torch.nn.Module:
    # Dynamic quantization observes nothing ahead of time; one pass with the example traces the observers.
    return backend_of(ctx).quantize(model, config, [ctx.example_inputs], ctx)
