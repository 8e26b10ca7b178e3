"""Automatic mixed precision: the fewest layers kept in float for static INT8 to reach a cosine target.

`int8` with `min_cosine = 0.995` quantizes, compares the quantized graph's outputs with the float model's on
calibration samples, and while the cosine is below the target keeps one more module in float (the quantizer skips
it: `set_module_name(path, None)`, on XNNPACK's and LiteRT's quantizers alike) and quantizes again. The module is
where the error enters: the layer whose SQNR falls furthest below its predecessor's in the per-layer comparison
(numerics.py); when that layer is already float, its error comes in with its input, so the nearest float-able
layer before it is kept. The `.pte` then runs those layers as float islands inside XNNPACK and the `.tflite` as
float ops; the microcontroller has no float kernels, so the compiler refuses there, naming them.

Each round costs one quantization and one per-layer comparison: the search stops at `MAX_FLOAT_LAYERS`.

The search judges the quantized graph (PyTorch running its quantize/dequantize nodes); the target runs the compiled
file, whose kernels may round differently or, through a converter's bug, compute something else (issue 24: XNNPACK
quantized a GRU cell's shared bias for the first step's input scale only: against FP32 the graph held cosine
0.9998, the .pte 0.964 on the device; edgekit/compress/xnnpack_bias.py fixes that one). So once the file is
written, the compiler runs it on this host with the target's runtime (ExecuTorch for a .pte, LiteRT for a .tflite;
`judge_file`) on its reference inputs and records `file_cosine` against FP32; `reached` is then true only if the
file reaches min_cosine too, and the compile warns when the graph reached it and the file did not. It costs one
more run of the file on the reference inputs (8 samples), no more quantization rounds: the per-layer comparison
that picks the next float layer sees the graph, not the file, so it cannot say which layer to keep for the file's
sake. A file the host has no runtime for gets `file_cosine` null and the graph's verdict.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import InputError
from . import numerics
from .finetune import eval_mode

MAX_FLOAT_LAYERS = 8
CHECK_SAMPLES = 16  # calibration samples the cosine is judged on


def module_paths(model: torch.nn.Module) -> set[str]:
    """The module paths a quantizer can skip: the model's modules, and for an exported graph (a .pt2) also those
    its nodes came from, which it no longer holds as modules when they had no weights (an activation, say)."""
    paths = {name for name, _ in model.named_modules() if name}
    if isinstance(model, torch.fx.GraphModule):
        paths |= {path for node in model.graph.nodes for path, _ in node.meta.get("nn_module_stack", {}).values()
                  if path}
    return paths


def check_module_names(model: torch.nn.Module, names: Sequence[str]) -> None:
    """Refuse keep_float names that are not modules of the model (before any quantization)."""
    known = module_paths(model)
    unknown = [n for n in names if n not in known]
    if unknown:
        sample = ", ".join(sorted(known)[:6])
        raise InputError(f"int8: keep_float names {', '.join(unknown)}, not a module of the model",
                         f"use module paths as model.named_modules() gives them, e.g. {sample}")


def output_cosine(quantized: torch.nn.Module, model: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, ...]]
                  ) -> float:
    """Cosine of the quantized graph's first output against the float model's, over `batches`."""
    from .outputs import named_outputs
    got, want = [], []
    with torch.no_grad():
        for batch in batches:
            got.append(named_outputs(quantized(*batch))[0][1].float().numpy().ravel())
            want.append(named_outputs(eval_mode(model)(*batch))[0][1].float().numpy().ravel())
    from ..measure.stats import agreement
    return agreement(np.concatenate(got), np.concatenate(want))["cosine"]


def float_candidates(model: torch.nn.Module) -> dict[str, str | None]:
    """What keeping each module float takes: the module itself where it holds a weight matrix or kernel (its own
    or its children's), else the weighted module registered last before it. A weightless module (the ReLU after a
    Linear and its batch norm) is quantized with the pattern of the layer before it: keeping it alone float changes
    nothing, and the per-layer comparison sees that Linear's error only after the batch norm."""
    candidates, last = {}, None
    for name, module in model.named_modules():
        if name and any(p.dim() >= 2 for p in module.parameters()):
            last = name
            candidates[name] = name
        elif name:
            candidates[name] = last
    return candidates


def next_float_layer(rows: list[dict[str, Any]], kept: Sequence[str],
                     candidates: dict[str, str | None] | None = None) -> str | None:
    """The module to keep in float next: where the SQNR drops furthest below its predecessor's (graph order), or,
    when that module is float already, the nearest module before it that is not; each row's module read through
    `candidates` (float_candidates) where given."""
    drops, previous = [], numerics.INT8_SQNR_DB
    for i, row in enumerate(rows):
        drops.append((min(previous, numerics.INT8_SQNR_DB) - row["sqnr_db"], i))
        previous = row["sqnr_db"]
    for _, i in sorted(drops, reverse=True):
        for row in reversed(rows[:i + 1]):
            module = row.get("module")
            if module and candidates is not None:
                module = candidates.get(module, module)
            if module and module not in kept:
                return module
    return None


def reach_cosine(model: torch.nn.Module, config: Any, quantize: Callable[[Any], torch.nn.Module],
                 graph_of: Callable[[torch.nn.Module], tuple[torch.nn.Module, Any]],
                 example_inputs: tuple[torch.Tensor, ...],
                 batches: Sequence[tuple[torch.Tensor, ...]], progress: Callable[[str, int, int], None]
                 ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Quantize with `config`, keeping more modules float until the cosine reaches `config.min_cosine`; the
    result and the record of the search: {"min_cosine", "cosine", "kept_float", "rounds", "reached"}.
    `graph_of(quantized)` is the float model its quantizer annotated (a backend may have rewritten the user's: the
    LiteRT backend turns nn.LSTM into cell loops) and that quantizer: the per-layer comparison runs on that model,
    so that the layers it names are the ones the quantizer can skip."""
    check = list(batches)[:max(1, CHECK_SAMPLES // len(batches[0][0]))]
    asked = list(config.keep_float)
    kept = list(asked)
    quantized = quantize(config)
    cosines = [output_cosine(quantized, model, check)]
    while cosines[-1] < config.min_cosine and len(kept) - len(asked) < MAX_FLOAT_LAYERS:
        progress("mixed precision", len(kept), MAX_FLOAT_LAYERS)
        float_model, quantizer = graph_of(quantized)
        rows = numerics.layer_drift(float_model, example_inputs, quantizer, check)
        module = next_float_layer(rows, kept, float_candidates(float_model))
        if module is None:
            break
        kept.append(module)
        config = dataclasses.replace(config, keep_float=tuple(kept))
        quantized = quantize(config)
        cosines.append(output_cosine(quantized, model, check))
    # A module kept before its parent was (a gate's Linear, then the whole LSTM) is float through the parent.
    kept = [k for k in kept if not any(k.startswith(parent + ".") for parent in kept)]
    return quantized, {"min_cosine": config.min_cosine, "cosine": round(cosines[-1], 6),
                       "cosine_all_int8": round(cosines[0], 6), "kept_float": kept,
                       "reached": cosines[-1] >= config.min_cosine, "rounds": len(cosines)}


def judge_file(search: dict[str, Any], file_out: Sequence[np.ndarray] | None, float_out: Sequence[np.ndarray],
               runtime: str | None) -> dict[str, Any]:
    """The search's record with the compiled file's own verdict: `file_cosine`, its first output against the float
    model's on the compile's reference inputs, run on this host with `file_runtime` (None where the host has no
    copy of the target's runtime, or could not run the file: `file_runtime` then says why); `graph_reached` keeps
    the graph's verdict and `reached` requires both."""
    from ..measure.stats import agreement
    if file_out is None:
        return {**search, "file_cosine": None, "file_runtime": runtime, "graph_reached": search["reached"]}
    cosine = agreement(np.asarray(file_out[0]), np.asarray(float_out[0]))["cosine"]
    return {**search, "file_cosine": round(cosine, 6), "file_runtime": runtime, "graph_reached": search["reached"],
            "reached": search["reached"] and cosine >= search["min_cosine"]}


def file_missed(record: dict[str, Any]) -> bool:
    """Whether the graph reached min_cosine and the compiled file did not."""
    return bool(record.get("graph_reached", record["reached"])) and not record["reached"]


def float_cost(model: torch.nn.Module, kept: Sequence[str], example_inputs: tuple[torch.Tensor, ...]
               ) -> list[dict[str, Any]]:
    """What each kept module costs: its weights (float32 bytes, and what int8 would take) and its MACs with its
    children's (edgekit/module_map.py: one forward pass, read from the nodes' module stacks for a .pt2)."""
    from ..module_map import module_table
    table = module_table(eval_mode(model), example_inputs)
    modules = dict(model.named_modules())
    rows = []
    for name in kept:
        inside = [entry for path, entry in table.items() if path == name or path.startswith(name + ".")]
        module = modules.get(name)  # None: a weightless module an exported graph no longer holds
        params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        rows.append({"module": name, "type": table[name]["type"] if name in table else type(module).__name__,
                     "macs": sum(entry["macs"] for entry in inside) if inside else None,
                     "weight_bytes": params * 4, "weight_bytes_if_int8": params})
    return rows


def summary_line(record: dict[str, Any]) -> str:
    """'fc2, fc1: cosine 0.757 all-int8 -> 1.000 (min_cosine 0.99)', or why the search stopped short."""
    kept = ", ".join(record["kept_float"]) or "nothing"
    line = f"{kept}: cosine {record['cosine_all_int8']:.3f} all-int8 -> {record['cosine']:.3f}"
    if file_missed(record):
        return line + (f" in the graph, but the compiled file reaches {record['file_cosine']:.3f} "
                       f"({record['file_runtime']} on this host), short of min_cosine {record['min_cosine']}")
    return line + (f" (min_cosine {record['min_cosine']})" if record["reached"] else
                   f", short of min_cosine {record['min_cosine']} after {record['rounds'] - 1} layers")
