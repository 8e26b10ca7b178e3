"""LiteRT `.tflite` through litert-torch (Raspberry Pi class boards; INT8 files also feed the MCU compiler).

FP32 is `litert_torch.convert(model, example).export(path)`. Full-integer INT8 is quantized inside the litert-torch
flow (PT2E with litert-torch's own quantizer, then `convert(..., quant_config=...)`), so the exporter applies
Int8StaticConfig itself instead of the XNNPACK quantizer the compressor would run. That flow gives int8 inputs and
outputs; `int8_io=False` wraps them with QUANTIZE / DEQUANTIZE so callers exchange float32 instead.

Other code (the microcontroller compiler) calls `export_tflite` directly.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np
import torch

from ..compress.base import CompressionContext, register
from ..compress.finetune import eval_mode
from ..compress.quantize import Int8StaticConfig
from ..errors import UnsupportedError
from ..profiles import Profile
from .base import ExportResult, register_exporter
from .tflite_flatbuffer import float_boundary, read_operators

EXPORTER_NAME = "litert-torch"
# Full-integer INT8 .tflite, two ways: quantized inside litert-torch's PT2E flow (the first choice: torch-side
# calibration, per-channel), or an FP32 .tflite quantized afterwards by ai-edge-quantizer (static int8 weights and
# activations, calibrated in LiteRT). "auto" takes the second when the first cannot convert the graph.
ROUTE_PT2E = "litert-torch-pt2e"
ROUTE_AEQ = "ai-edge-quantizer"
ROUTES = ("auto", ROUTE_PT2E, ROUTE_AEQ)


@dataclass(frozen=True)
class TFLiteInt8Config(Int8StaticConfig):
    """Int8StaticConfig for .tflite targets with a choice of tensor types at the model boundary.

    int8_io=True (what litert-torch gives): the model takes and returns int8, with (scale, zero_point) recorded in
    the manifest. int8_io=False: the model takes and returns float32 (QUANTIZE/DEQUANTIZE ops at the boundary).
    """

    int8_io: bool = True
    route: str = "auto"
    method: ClassVar[str] = "int8"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.route not in ROUTES:
            from ..errors import InputError
            raise InputError(f"route must be one of {', '.join(ROUTES)}, got {self.route!r}")


@register(TFLiteInt8Config)
def _only_in_tflite(model: torch.nn.Module, config: TFLiteInt8Config, ctx: CompressionContext) -> torch.nn.Module:
    # Reached only when the target's exporter is not the .tflite one (which applies the config itself).
    raise UnsupportedError("TFLiteInt8Config applies to .tflite targets only",
                           "use Int8StaticConfig for other targets")


# ---- host interpreter -------------------------------------------------------------------------------------------

def _tensor_facts(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    facts = []
    for d in details:
        scale, zero_point = d["quantization"]
        facts.append({"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                      "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None})
    return facts


def host_runner(path: str | Path) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """A function running the .tflite at `path` on this host (ai_edge_litert, through the agent's own TFLite
    wrapper) over batches of float samples, one array per model input, at the model's fixed batch size; returns
    every output as float32 (dequantized if int8), in the PyTorch model's order."""
    from ..agent.agent import TFLiteModel
    model = TFLiteModel(Path(path))
    batch = int(model._inputs[0]["shape"][0])

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        n = len(inputs[0])
        if n % batch:
            raise UnsupportedError(f"{n} samples are not a multiple of the model's batch size {batch}")
        runs = []
        for i in range(0, n, batch):
            model.invoke(model.prepare([x[i:i + batch] for x in inputs]))
            runs.append([o.copy() for o in model.outputs()])
        return [np.concatenate([r[k] for r in runs]) for k in range(len(runs[0]))]
    return run


# ---- conversion -------------------------------------------------------------------------------------------------

_LOWERING = re.compile(r"Lowering not found:\s*(\S+)")


def _conversion_error(exc: Exception, what: str) -> UnsupportedError:
    text = str(exc)
    ops = sorted(set(_LOWERING.findall(text)))
    if ops:
        return UnsupportedError(f"litert-torch cannot convert operator(s) {', '.join(ops)} to .tflite",
                                "replace them in the model or target a runtime that has them")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return UnsupportedError(f"{what} failed: {first[:300]}", "see litert-torch's supported operators")


def _calibration_batches(calibration: Any, example_inputs: tuple[torch.Tensor, ...], limit: int
                         ) -> list[tuple[torch.Tensor, ...]]:
    if calibration is None:
        raise UnsupportedError("INT8 .tflite export needs calibration data", "pass calibration samples")
    if isinstance(calibration, np.ndarray):
        ctx = CompressionContext(example_inputs=example_inputs, calibration=calibration)
        return ctx.calibration_batches(limit)
    return [tuple(b) if isinstance(b, (tuple, list)) else (b,) for b in list(calibration)[:limit]]


def litert_quantizer(per_channel: bool = True) -> Any:
    """litert-torch's PT2E quantizer: the INT8 graphs its converter lowers to full-integer .tflite."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    return PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False))


def export_tflite(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], path: str | Path, *,
                  int8: bool = False, calibration: np.ndarray | Iterable[Any] | None = None, int8_io: bool = True,
                  per_channel: bool = True, calibration_samples: int = 256, route: str = "auto") -> dict[str, Any]:
    """Convert `model` to a .tflite file at `path`; returns the facts recorded in a manifest.

    int8=False: FP32. int8=True: full-integer INT8 (int8 weights and activations, per-channel weights by default),
    calibrated on `calibration`: an array of samples shaped (N, *example.shape[1:]) (batched like the example), or
    an iterable of input tuples. int8_io=True keeps int8 model inputs/outputs; False gives float32 ones.
    route: "auto" (PT2E, else ai-edge-quantizer when PT2E cannot convert), or one of the two (ROUTES); the manifest
    records the route taken ("route") and, after a fallback, why the first failed ("route_fallback_reason").

    Returns {"exporter", "int8", "operators": {name: count}, "inputs"/"outputs": [{"name", "shape", "dtype",
    "quantization": {"scale", "zero_point"} | None}], "bytes"}. Quantized tensors map as real = scale * (q - zp).
    Raises UnsupportedError naming any operator litert-torch cannot convert (or custom ops in the result).
    """
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")  # its progress lines would go to our stdout
    import litert_torch
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    model = eval_mode(model)  # a module from torch.export (e.g. an earlier compression step) has no eval()
    example_inputs = tuple(example_inputs)
    facts: dict[str, Any] = {}
    if not int8:
        _convert(lambda: litert_torch.convert(model, example_inputs).export(str(tmp)))
    else:
        batches = _calibration_batches(calibration, example_inputs, calibration_samples)
        if route in ("auto", ROUTE_PT2E):
            try:
                _convert(lambda: _pt2e_int8(model, example_inputs, batches, per_channel).export(str(tmp)))
                facts["route"] = ROUTE_PT2E
            except UnsupportedError as exc:
                if route != "auto":
                    raise
                facts["route_fallback_reason"] = exc.one_line()
        if "route" not in facts:
            _convert(lambda: litert_torch.convert(model, example_inputs).export(str(tmp)))
            _convert(lambda: tmp.write_bytes(_aeq_int8(tmp.read_bytes(), batches)), "ai-edge-quantizer")
            facts["route"] = ROUTE_AEQ
    try:
        data = tmp.read_bytes()
        if int8 and not int8_io:
            data = float_boundary(data)
        operators = read_operators(data)
        custom = [op for op in operators if op.startswith("CUSTOM:")]
        if custom:
            raise UnsupportedError(f"the .tflite needs operators outside the LiteRT builtins: {', '.join(custom)}",
                                   "the device runtime has no kernels for them; replace them in the model")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # no half-written output, whatever failed
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=str(path))
    return {"exporter": EXPORTER_NAME, "int8": bool(int8), **facts, "operators": operators,
            "inputs": _tensor_facts(interp.get_input_details()),
            "outputs": _tensor_facts(interp.get_output_details()), "bytes": len(data)}


def _convert(step: Callable[[], Any], what: str = "conversion to .tflite") -> None:
    try:
        step()
    except UnsupportedError:
        raise
    except Exception as exc:  # torch.export / lowering / the MLIR converter raise many types
        raise _conversion_error(exc, what) from exc


def _pt2e_int8(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...],
               batches: list[tuple[torch.Tensor, ...]], per_channel: bool) -> Any:
    """Quantized inside litert-torch: PT2E with its quantizer, calibrated in torch, converted with QuantConfig."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    quantizer = litert_quantizer(per_channel)
    prepared = prepare_pt2e(torch.export.export(model, example_inputs).module(), quantizer)
    with torch.no_grad():
        for batch in batches:
            prepared(*batch)
    converted = convert_pt2e(prepared, fold_quantize=False)
    # Captured from the eval-mode model, so its ops already run in eval semantics; exported modules refuse
    # .eval(), and litert-torch would warn about "training mode" from the flag alone.
    converted.training = False
    return litert_torch.convert(converted, example_inputs, quant_config=QuantConfig(pt2e_quantizer=quantizer))


def _aeq_int8(float_model: bytes, batches: list[tuple[torch.Tensor, ...]]) -> bytes:
    """An FP32 .tflite made full-integer by ai-edge-quantizer (static int8 weights and activations, int8 I/O),
    calibrated in LiteRT on the same samples; its report goes to stderr, never to our stdout."""
    import contextlib
    import sys
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe
    from ..agent.agent import signature_order
    interp = Interpreter(model_content=float_model)
    inputs = signature_order(interp.get_input_details(), "args_")
    names = [d["name"].removeprefix("serving_default_") for d in inputs]
    samples = [{name: b.numpy().astype(d["dtype"]) for name, b, d in zip(names, batch, inputs)} for batch in batches]
    with contextlib.redirect_stdout(sys.stderr):
        qt = quantizer.Quantizer(float_model, recipe.static_wi8_ai8())
        result = qt.quantize(qt.calibrate({"serving_default": samples}))
    return bytes(result.quantized_model)


class TFLiteExporter:
    name = EXPORTER_NAME
    format = "tflite"

    def unsupported_reason(self, profile: Profile) -> str | None:
        if not profile.accepts_format("tflite"):
            return "target does not accept .tflite"
        return None

    def applies_itself(self, config: Any) -> bool:
        return isinstance(config, Int8StaticConfig)  # includes TFLiteInt8Config

    def int8_quantizer(self, per_channel: bool = True) -> Any:
        return litert_quantizer(per_channel)

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, own_configs: Sequence[Any] = (), ctx: CompressionContext | None = None
               ) -> ExportResult:
        if len(own_configs) > 1:
            raise UnsupportedError("the recipe quantizes to INT8 more than once")
        config = own_configs[0] if own_configs else None
        path = workdir / "model.tflite"
        if config is None:
            info = export_tflite(model, example_inputs, path)
        else:
            if ctx is None or ctx.calibration is None:
                raise UnsupportedError("INT8 .tflite export needs calibration data",
                                       "pass --calibration DATA.npz with an array 'x'")
            info = export_tflite(model, example_inputs, path, int8=True, per_channel=config.per_channel,
                                 int8_io=getattr(config, "int8_io", True), route=getattr(config, "route", "auto"),
                                 calibration=ctx.calibration_batches(config.calibration_samples))
        return ExportResult(files={"model.tflite": path}, model_file="model.tflite", format="tflite", info=info,
                            reference_fn=host_runner(path))


register_exporter(TFLiteExporter())
