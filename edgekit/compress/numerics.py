"""Where INT8 loses accuracy: a per-layer comparison of the quantized and the float graph on calibration inputs.

Built on torchao's PT2E numeric debugger: every node of the exported float graph gets a debug handle that survives
quantization, both graphs log each node's output on the same inputs, and each node's SQNR (signal-to-quantization-
noise ratio, dB) says how far the quantized graph has drifted by that point. The quantizer is the target backend's
(XNNPACK's for `.pte`, LiteRT's for `.tflite` and the MCU), so the drift is the one the device's file carries; the
device's integer kernels may round differently, so the figures locate the error rather than reproduce it exactly.
"""
from __future__ import annotations

import copy
import math
import re
from typing import Any, Sequence

import torch

from .finetune import eval_mode

DEFAULT_THRESHOLD = 0.99  # cosine of the INT8 outputs against FP32 below which a compile explains itself
GROWTH_DB = 3.0           # a layer "grows the error" when its SQNR is this much below its input's
INT8_SQNR_DB = 40.0       # about what 8 bits give a well-ranged tensor (6 dB per bit, less the range's headroom)


def _layer_name(module: str, node: str) -> str:
    """'blocks.3.conv (conv2d_7)': the owning module's path and the graph node; the node alone at the top level."""
    return f"{module} ({node})" if module else node


def layer_drift(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], quantizer: Any,
                batches: Sequence[tuple[torch.Tensor, ...]]) -> list[dict[str, Any]]:
    """SQNR of every node of the quantized graph against the float graph, in graph order:
    [{"layer", "module", "node", "sqnr_db"}], averaged over `batches`."""
    from torchao.quantization.pt2e import (compare_results, extract_results_from_loggers,
                                           generate_numeric_debug_handle, prepare_for_propagation_comparison)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.utils import _fuse_conv_bn_

    from .observers import use_fast_histograms
    from .pt2e_passes import integer_scalars_as_constants

    ep = torch.export.export(eval_mode(model), example_inputs)
    generate_numeric_debug_handle(ep)
    float_graph = integer_scalars_as_constants(ep.module())
    # prepare_pt2e folds batch norm into the convolutions before quantizing; folding the float graph the same way
    # makes each convolution's output comparable (otherwise one side is before the batch norm, the other after).
    _fuse_conv_bn_(float_graph)
    reference = prepare_for_propagation_comparison(float_graph)
    prepared = use_fast_histograms(prepare_pt2e(copy.deepcopy(float_graph), quantizer))  # same qparams, faster
    with torch.no_grad():
        for batch in batches:
            prepared(*batch)
        quantized = prepare_for_propagation_comparison(convert_pt2e(prepared))
        for batch in batches:
            reference(*batch)
            quantized(*batch)
    order = {n.name: i for i, n in enumerate(float_graph.graph.nodes)}
    # A layer feeding a batch norm that the quantizer folded into it (linear + BatchNorm1d here; conv + BatchNorm
    # is folded on both sides above) is compared after the batch norm only: before it the two graphs differ.
    before_bn = {n.name for n in float_graph.graph.nodes
                 if n.users and all("batch_norm" in str(u.target) for u in n.users)}
    rows = []
    for summary in compare_results(extract_results_from_loggers(reference),
                                   extract_results_from_loggers(quantized)).values():
        values = []
        for result in summary.results:
            try:
                sqnr = result.sqnr
            except Exception:  # non-tensor outputs (e.g. shapes) have no SQNR
                continue
            if isinstance(sqnr, torch.Tensor) and sqnr.numel() == 1:
                values.append(float(sqnr))
        # Exact matches (+inf dB: constants, copies) say nothing about where the error grows.
        if values and all(math.isfinite(v) for v in values) and summary.ref_node_name not in before_bn:
            rows.append({"layer": _layer_name(summary.ref_module_stack, summary.ref_node_name),
                         "module": summary.ref_module_stack, "node": summary.ref_node_name,
                         "sqnr_db": round(sum(values) / len(values), 2)})
    rows.sort(key=lambda r: order.get(r["node"], len(order)))
    return rows


def where_error_grows(rows: list[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    """The first `count` nodes, in graph order, whose SQNR falls at least GROWTH_DB below their predecessor's (or,
    for the first node, below what INT8 normally gives): where the quantization error grows, not where it is
    merely carried along."""
    found, previous = [], INT8_SQNR_DB
    for row in rows:
        reference = min(previous, INT8_SQNR_DB)
        if row["sqnr_db"] < reference - GROWTH_DB:
            found.append({**row, "drop_db": round(reference - row["sqnr_db"], 2)})
            if len(found) == count:
                break
        previous = row["sqnr_db"]
    return found


def explain(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...], quantizer: Any,
            batches: Sequence[tuple[torch.Tensor, ...]], cosine: float, threshold: float) -> dict[str, Any]:
    """The manifest's record of a poor INT8 result: the cosine, the threshold, the first layers where the error
    grows and the worst layer."""
    record: dict[str, Any] = {"cosine_vs_fp32": round(cosine, 6), "threshold": threshold,
                              "method": "torchao PT2E numeric debugger: per-node SQNR of the quantized vs the float "
                                        f"graph on {sum(len(b[0]) for b in batches)} calibration samples"}
    try:
        rows = layer_drift(model, example_inputs, quantizer, batches)
    except Exception as exc:  # the explanation must never cost the user their artifact
        return {**record, "error": f"per-layer comparison failed: {type(exc).__name__}: {str(exc)[:200]}"}
    record["first_growing_layers"] = where_error_grows(rows)
    # Each module's output SQNR (its last node's), for the per-operator profile to put beside each layer's cost.
    record["sqnr_by_module"] = {r["module"]: r["sqnr_db"] for r in rows if r.get("module")}
    if rows:
        record["worst_layer"] = min(rows, key=lambda r: r["sqnr_db"])
        record["output_sqnr_db"] = rows[-1]["sqnr_db"]
    return record


def summary_line(record: dict[str, Any]) -> str:
    """One line for the compile output and the report."""
    layers = ", ".join(f"{r['layer']} ({r['sqnr_db']:.1f} dB, -{r['drop_db']:.1f})"
                       for r in record.get("first_growing_layers", []))
    text = f"INT8 cosine vs FP32 {record['cosine_vs_fp32']:.4f} < {record['threshold']}"
    if layers:
        return f"{text}; error grows first at: {layers}; consider keeping them in float"
    return f"{text}; {record.get('error', 'no single layer stands out')}"
