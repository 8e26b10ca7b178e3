"""Automatic mixed precision: the fewest layers kept in float for static INT8 to reach a cosine target.

`int8` with `min_cosine = 0.995` quantizes, compares the quantized graph's outputs with the float model's on
calibration samples, and while the cosine is below the target keeps layers in float (the quantizer skips them:
`set_module_name(path, None)`, on XNNPACK's and LiteRT's quantizers alike; an op kind such as "op:add", every add
of the model, through pt2e_passes.unannotate) and quantizes again. Which layers: the most sensitive ones, each
layer's (or op kind's) sensitivity being the output's loss when it alone is INT8 (sensitivity.py);
how many: first what the sensitivities predict, then doubling until the target is reached and halving back to the
fewest that reach it. A module all of whose ranked layers are kept is kept whole (a GRU cell with its gates). The
`.pte` then runs those layers as float islands inside XNNPACK and the `.tflite` as float ops; the microcontroller
has no float kernels, so the compiler refuses there, naming them.

Each try costs one quantization (at most MAX_ROUNDS after the first) and the ranking one float forward pass per
layer and sample. (The first version kept one layer per round where the per-layer SQNR of numerics.py dropped
most: on deep random-weight networks, whose error grows evenly through the layers, 8 rounds moved MobileNetV3's
cosine from 0.985 to 0.984.)

The search judges the quantized graph (PyTorch running its quantize/dequantize nodes); the target runs the compiled
file, whose kernels may round differently or, through a converter's bug, compute something else (issue 24: XNNPACK
quantized a GRU cell's shared bias for the first step's input scale only: against FP32 the graph held cosine 0.9998,
the .pte 0.964 on the device; edgekit/compress/xnnpack_bias.py fixes that one). So once the file is written, the
compiler runs it on this host with the target's runtime (ExecuTorch for a .pte, LiteRT for a .tflite; `judge_file`)
on its reference inputs and records `file_cosine` against FP32; `reached` is then true only if the file reaches
min_cosine too, and the compile warns when the graph reached it and the file did not. It costs one more run of the
file on the reference inputs (8 samples), no more quantization rounds: the ranking and the tries see the graph, not
the file, so they cannot say which layer to keep for the file's sake. A file the host has no runtime for gets
`file_cosine` null and the graph's verdict.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..errors import InputError
from .finetune import eval_mode
from .pt2e_passes import FLOAT_OPS, OP_PREFIX

MAX_ROUNDS = 8  # quantizations after the first
# The search aims this share of the allowed loss (1 - min_cosine) above the target: it judges the graph on
# CHECK_SAMPLES calibration samples, and the file's kernels on other inputs land either side of it (the zoo's
# MobileNetV2: graph 0.9907, device 0.9894 on its evaluation inputs).
HEADROOM = 0.2
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
    """Refuse keep_float names that are neither modules of the model nor "op:<kind>" of FLOAT_OPS (before any
    quantization)."""
    kinds = [n for n in names if n.startswith(OP_PREFIX)]
    wrong = [n for n in kinds if n[len(OP_PREFIX):] not in FLOAT_OPS]
    if wrong:
        raise InputError(f"int8: keep_float names {', '.join(wrong)}, not an op kind it can keep float",
                         f"op kinds: {', '.join(OP_PREFIX + k for k in FLOAT_OPS)}")
    known = module_paths(model)
    unknown = [n for n in names if n not in known and n not in kinds]
    if unknown:
        sample = ", ".join(sorted(known)[:6])
        raise InputError(f"int8: keep_float names {', '.join(unknown)}, not a module of the model",
                         f"use module paths as model.named_modules() gives them, e.g. {sample}")


def output_cosine(quantized: torch.nn.Module, reference: np.ndarray,
                  batches: Sequence[tuple[torch.Tensor, ...]]) -> float:
    """Cosine of the quantized graph's first output over `batches` against `reference`, the float model's there
    (sensitivity.first_outputs)."""
    from ..measure.stats import agreement
    from .sensitivity import first_outputs
    return agreement(first_outputs(quantized, batches), reference)["cosine"]


def with_parents(kept: Sequence[str], layers: Sequence[str]) -> list[str]:
    """`kept`, in its order, each name replaced by its outermost kept ancestor or by the outermost module whose
    ranked `layers` are all kept: a GRU cell whose two Linears are kept is kept whole, so the elementwise ops of
    its gates stay float too."""
    covered = set(kept) | {parent for layer in layers for parent in _ancestors(layer)
                           if all(inner in kept for inner in layers if inner.startswith(parent + "."))}
    result: list[str] = []
    for name in kept:
        outer = next((parent for parent in _ancestors(name) if parent in covered), name)
        if outer not in result:
            result.append(outer)
    return result


def _ancestors(path: str) -> list[str]:
    """'a.b.c' -> ['a', 'a.b'], outermost first."""
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def reach_cosine(model: torch.nn.Module, config: Any, quantize: Callable[[Any], torch.nn.Module],
                 float_model_of: Callable[[torch.nn.Module], torch.nn.Module],
                 example_inputs: tuple[torch.Tensor, ...],
                 batches: Sequence[tuple[torch.Tensor, ...]], progress: Callable[[str, int, int], None]
                 ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Quantize with `config`, then keep the most sensitive layers float (sensitivity.py), as few as reach
    `config.min_cosine` with HEADROOM (the record's "aim"): the first try is the count the sensitivities predict,
    then the count doubles until the target is reached and is halved back to the fewest that reach it, at most
    MAX_ROUNDS quantizations more.
    `float_model_of(quantized)` is the float model its quantizer annotated (a backend may have rewritten the user's: the
    LiteRT backend turns nn.LSTM into cell loops): the ranking runs on that model, so that the layers it names are
    the ones the quantizer can skip. The record: {"min_cosine", "aim", "cosine", "cosine_all_int8", "kept_float"
    (module paths), "float_layers" (how many ranked layers they hold), "reached" (cosine >= min_cosine), "rounds",
    "tried": [{"float_layers", "cosine"}], "ranked_layers"}."""
    from .sensitivity import first_outputs, layers_to_keep, rank_layers
    check = list(batches)[:max(1, CHECK_SAMPLES // len(batches[0][0]))]
    reference = first_outputs(eval_mode(model), check)  # once: every try is judged against it
    asked = list(config.keep_float)
    quantized = quantize(config)
    first = output_cosine(quantized, reference, check)
    aim = 1 - (1 - config.min_cosine) * (1 - HEADROOM)
    record = {"min_cosine": config.min_cosine, "aim": round(aim, 6), "cosine_all_int8": round(first, 6),
              "ranked_layers": 0}
    best = (0, quantized, first, asked)  # the fewest layers that reach the target, or else the best cosine
    tried = {0: first}
    if first < aim:
        float_model = float_model_of(quantized)
        progress("mixed precision: ranking layers", 0, 1)
        ranked = [(name, s) for name, s in rank_layers(float_model, example_inputs, check)
                  if not any(name == a or name.startswith(a + ".") for a in asked)]
        layers = [name for name, _ in ranked]
        record["ranked_layers"] = len(layers)
        low, high = 0, None  # the most layers known to miss, the fewest known to reach
        k = max(1, layers_to_keep(ranked, 1 - first, 1 - aim))
        while layers and len(tried) <= MAX_ROUNDS:
            progress("mixed precision", len(tried), MAX_ROUNDS + 1)
            kept = with_parents(asked + layers[:k], layers)
            quantized = quantize(dataclasses.replace(config, keep_float=tuple(kept)))
            tried[k] = output_cosine(quantized, reference, check)
            if tried[k] >= aim:
                high = k
                best = (k, quantized, tried[k], kept)
            else:
                low = k
                if high is None and tried[k] > best[2]:
                    best = (k, quantized, tried[k], kept)
            if high is None and k == len(layers):
                break
            k = min(len(layers), 2 * k) if high is None else (low + high) // 2
            if high is not None and k <= low:
                break
    count, quantized, cosine, kept = best
    return quantized, {**record, "cosine": round(cosine, 6), "kept_float": kept, "float_layers": count,
                       "reached": cosine >= config.min_cosine, "rounds": len(tried),
                       "tried": [{"float_layers": k, "cosine": round(c, 6)} for k, c in sorted(tried.items())]}


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
        if name.startswith(OP_PREFIX):  # an op kind: no weights, and its MACs are the elementwise ops' few
            rows.append({"module": name, "type": f"every aten.{name[len(OP_PREFIX):]}", "macs": None,
                         "weight_bytes": 0, "weight_bytes_if_int8": 0})
            continue
        inside = [entry for path, entry in table.items() if path == name or path.startswith(name + ".")]
        module = modules.get(name)  # None: a weightless module an exported graph no longer holds
        params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        rows.append({"module": name, "type": table[name]["type"] if name in table else type(module).__name__,
                     "macs": sum(entry["macs"] for entry in inside) if inside else None,
                     "weight_bytes": params * 4, "weight_bytes_if_int8": params})
    return rows


def summary_line(record: dict[str, Any]) -> str:
    """'fc2, fc1: cosine 0.757 all-int8 -> 1.000 (min_cosine 0.99)', or why the search stopped short."""
    names = record["kept_float"]
    kept = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "") if names else "nothing"
    line = f"{kept}: cosine {record['cosine_all_int8']:.3f} all-int8 -> {record['cosine']:.3f}"
    if file_missed(record):
        return line + (f" in the graph, but the compiled file reaches {record['file_cosine']:.3f} "
                       f"({record['file_runtime']} on this host), short of min_cosine {record['min_cosine']}")
    return line + (f" (min_cosine {record['min_cosine']})" if record["reached"] else
                   f", short of min_cosine {record['min_cosine']} after {record['rounds'] - 1} tries")
