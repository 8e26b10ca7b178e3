"""LiteRT `.tflite` through litert-torch (Raspberry Pi class boards; INT8 files also feed the MCU compiler).

The exporter only converts. FP32 is `litert_torch.convert(model, example).export(path)`. A model quantized by
LiteRT's INT8 backend (litert_int8.py, given to the `int8` step by this exporter) is converted with its quantizer
(`convert(..., quant_config=...)`), or, by ai-edge-quantizer, from the FP32 file. Those files are int8 at the
boundary; the export option `int8_io=False` wraps them with QUANTIZE / DEQUANTIZE so callers exchange float32.

`export_tflite` does both steps for callers outside a recipe (the MCU benchmarks, tests).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from ..compress.base import CompressionContext
from ..compress.finetune import eval_mode
from ..compress.outputs import with_tensor_outputs
from ..compress.quantize import Int8DynamicConfig, Int8Route, Int8StaticConfig, int8_record
from ..errors import UnsupportedError
from ..profiles import Profile
from .base import ExportResult, register_exporter
from .litert_int8 import LITERT_INT8, ConverterQuantizes, ai_edge_quantize, no_mixed_on_ai_edge_quantizer
from .tflite_flatbuffer import float_boundary, read_operators

EXPORTER_NAME = "litert-torch"


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


# ---- the device's loader ----------------------------------------------------------------------------------------

# The Pi's runtime, as the agent picks it: the same ai-edge-litert release as this host's (requirements.txt,
# requirements-pi.txt and images/debian-arm64-pi.toml pin one version; tests/export/test_tflite.py checks it), so
# loading a file here is loading it on the device.
DEVICE_RUNTIME_VERSION = "2.3.0"
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
_FAILED_NODE = re.compile(r"Node number \d+ \((\w+)\) failed to (prepare|invoke)")


def loaded_by_device_runtime(data: bytes) -> Any:
    """The .tflite in `data` loaded and allocated by the device's runtime (every kernel's Prepare has run), or an
    UnsupportedError naming the operator it refuses and why."""
    from ai_edge_litert.interpreter import Interpreter
    try:
        interp = Interpreter(model_content=data)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:  # the interpreter's error carries the runtime's log
        text = str(exc)
        missing, failed = _MISSING_OP.search(text), _FAILED_NODE.search(text)
        why = (f"has no kernel for {missing[1]} version {missing[2]}" if missing else
               f"fails to {failed[2]} {failed[1]}: {_kernel_reason(text)}" if failed else
               f"cannot load it: {text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__}")
        raise UnsupportedError(f"the device's runtime (ai-edge-litert {DEVICE_RUNTIME_VERSION}) {why}",
                               "replace that operation in the model, or compile without the compression step "
                               "that introduced it") from None
    return interp


def _kernel_reason(text: str) -> str:
    """The kernel's own complaint ('.../embedding_lookup.cc:73 value->type != kTfLiteFloat32 (INT8 != FLOAT32)'),
    without the source path."""
    for line in text.splitlines():
        if ".cc:" in line:
            return re.sub(r"^\S*/", "", line.strip())[:200]
    return text.strip().splitlines()[0][:200] if text.strip() else "no reason given"


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


def export_tflite(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], path: str | Path, *,
                  int8: bool = False, calibration: np.ndarray | Iterable[Any] | None = None, int8_io: bool = True,
                  per_channel: bool = True, calibration_samples: int = 256, route: str = "auto") -> dict[str, Any]:
    """Quantize (when `int8`) with LiteRT's INT8 backend and convert `model` to a .tflite at `path`; returns the
    facts recorded in a manifest (see `convert`).

    int8=True: full-integer INT8 (per-channel weights by default), calibrated on `calibration`: an array of samples
    shaped (N, *example.shape[1:]) (batched like the example), or an iterable of input tuples. route: see
    compress.quantize.Int8Route."""
    example_inputs = tuple(example_inputs)
    if int8:
        config = Int8StaticConfig(per_channel=per_channel, calibration_samples=calibration_samples, route=route)
        batches = _calibration_batches(calibration, example_inputs, calibration_samples)
        model = LITERT_INT8.quantize(model, config, batches, CompressionContext(example_inputs=example_inputs))
    return convert(model, example_inputs, path, int8_io=int8_io)


def convert(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], path: str | Path, *,
            int8_io: bool = True) -> dict[str, Any]:
    """Convert `model` (float, or quantized by LiteRT's INT8 backend) to a .tflite file at `path`.

    Returns {"exporter", "int8", "int8_io", "route" and "route_fallback_reason" (INT8), "operators": {name: count},
    "inputs"/"outputs": [{"name", "shape", "dtype", "quantization": {"scale", "zero_point"} | None}], "bytes"}.
    Quantized tensors map as real = scale * (q - zp). Raises UnsupportedError naming any operator litert-torch
    cannot convert (or custom ops in the result); nothing is left at `path` then."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")  # its progress lines would go to our stdout
    import litert_torch
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    record = int8_record(model)
    if record is not None and record.backend != LITERT_INT8.name:
        raise UnsupportedError(f"the model was quantized for {record.backend}, not for LiteRT",
                               "quantize it for this target (compile it with its INT8 step)")
    example_inputs = tuple(example_inputs)
    facts: dict[str, Any] = {}
    try:
        if record is None:
            # eval_mode: a module from torch.export (e.g. an earlier compression step) has no eval()
            flat_outputs = with_tensor_outputs(eval_mode(model), example_inputs)
            _convert(lambda: litert_torch.convert(flat_outputs, example_inputs).export(str(tmp)))
        else:
            facts = _convert_int8(model, record, example_inputs, tmp)
        data = tmp.read_bytes()
        if record is not None and not int8_io:
            data = float_boundary(data)
        operators = read_operators(data)
        custom = [op for op in operators if op.startswith("CUSTOM:")]
        if custom:
            raise UnsupportedError(f"the .tflite needs operators outside the LiteRT builtins: {', '.join(custom)}",
                                   "the device runtime has no kernels for them; replace them in the model")
        interp = loaded_by_device_runtime(data)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # no half-written output, whatever failed
    return {"exporter": EXPORTER_NAME, "int8": record is not None,
            **({"int8_io": int8_io} if record is not None else {}), **facts, "operators": operators,
            "inputs": _tensor_facts(interp.get_input_details()),
            "outputs": _tensor_facts(interp.get_output_details()), "bytes": len(data),
            "loads_on": f"ai-edge-litert {DEVICE_RUNTIME_VERSION}"}


def _convert_int8(model: torch.nn.Module, record: Any, example_inputs: tuple[torch.Tensor, ...], tmp: Path
                  ) -> dict[str, Any]:
    """The quantized graph through litert-torch; under `auto`, ai-edge-quantizer when that fails."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig
    route = getattr(record.config, "route", Int8Route.PT2E)
    reason = model.reason if isinstance(model, ConverterQuantizes) else None
    if not isinstance(model, ConverterQuantizes):
        quantized = with_tensor_outputs(model, example_inputs)
        try:
            _convert(lambda: litert_torch.convert(quantized, example_inputs, quant_config=QuantConfig(
                pt2e_quantizer=record.quantizer)).export(str(tmp)))
            return {"route": Int8Route.PT2E.value}
        except UnsupportedError as exc:
            if route != Int8Route.AUTO or record.float_model is None or isinstance(record.config, Int8DynamicConfig):
                raise
            reason = exc.one_line()
            no_mixed_on_ai_edge_quantizer(record.config, reason)
    float_model = with_tensor_outputs(eval_mode(record.float_model), example_inputs)
    _convert(lambda: litert_torch.convert(float_model, example_inputs).export(str(tmp)))
    _convert(lambda: tmp.write_bytes(ai_edge_quantize(tmp.read_bytes(), record.batches)), "ai-edge-quantizer")
    return {"route": Int8Route.AI_EDGE_QUANTIZER.value, **({"route_fallback_reason": reason} if reason else {})}


def _convert(step: Callable[[], Any], what: str = "conversion to .tflite") -> None:
    try:
        step()
    except UnsupportedError:
        raise
    except Exception as exc:  # torch.export / lowering / the MLIR converter raise many types
        raise _conversion_error(exc, what) from exc


class TFLiteExporter:
    name = EXPORTER_NAME
    format = "tflite"

    def unsupported_reason(self, profile: Profile) -> str | None:
        if not profile.accepts_format("tflite"):
            return "target does not accept .tflite"
        return None

    int8 = LITERT_INT8

    def check(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], profile: Profile,
              recipe: Sequence[Any]) -> None:
        """Nothing to refuse early: the converter says what it cannot take."""

    def export(self, model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], workdir: Path,
               profile: Profile, *, int8_io: bool = True) -> ExportResult:
        path = workdir / "model.tflite"
        info = convert(model, example_inputs, path, int8_io=int8_io)
        return ExportResult(files={"model.tflite": path}, model_file="model.tflite", format="tflite", info=info,
                            reference_fn=host_runner(path))


register_exporter(TFLiteExporter())
