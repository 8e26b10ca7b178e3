"""`nn.Embedding` tables quantized to int8 for full-integer INT8 on LiteRT targets (the .tflite and microcontroller
paths).

litert-torch's PT2E quantizer has no embedding annotator: the table stays float and the converter writes a float
EMBEDDING_LOOKUP followed by a QUANTIZE, which a microcontroller cannot run. Annotated here (static config only),
the table is quantized per tensor, symmetric int8 in [-127, 127] (as TFLite quantizes weights; per-channel tables
are only allowed by TFLite with a float output, the hybrid lookup), and the lookup's output shares the table's
quantization: the lookup copies int8 rows, TFLite's and TFLite Micro's int8 EMBEDDING_LOOKUP / GATHER, with no
requantization. The converter then writes EMBEDDING_LOOKUP (int32 ids, int8 table, int8 output).
"""
from __future__ import annotations

from typing import Any

import torch


def annotate_embeddings(graph: torch.fx.GraphModule, config: Any) -> None:
    """After litert-torch's annotators: each `aten.embedding` whose table is a constant of the graph (a parameter
    or buffer) gets an int8 per-tensor symmetric table and an output that shares it. Dynamic configs (no static
    activation quantization) and lookups already annotated are left as they are."""
    from torchao.quantization.pt2e import MinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, QuantizationSpec, SharedQuantizationSpec
    if config is None or config.input_activation is None or config.is_dynamic:
        return
    table_spec = QuantizationSpec(dtype=torch.int8, quant_min=-127, quant_max=127, qscheme=torch.per_tensor_symmetric,
                                  is_dynamic=False, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    for node in graph.graph.nodes:
        if node.op != "call_function" or node.target != torch.ops.aten.embedding.default \
                or "quantization_annotation" in node.meta:
            continue
        table = node.args[0]
        if not isinstance(table, torch.fx.Node) or table.op not in ("get_attr", "placeholder"):
            continue
        node.meta["quantization_annotation"] = QuantizationAnnotation(
            input_qspec_map={table: table_spec}, output_qspec=SharedQuantizationSpec((table, node)), _annotated=True)
        _share_downstream(node, SharedQuantizationSpec)


# ops that move int8 values without changing them: the lookup's rows pass through them at the table's scale
_MOVES = ("transpose.int", "permute.default", "view.default", "reshape.default", "unsqueeze.default",
          "squeeze.dim", "squeeze.dims", "squeeze.default", "flatten.using_ints", "select.int", "slice.Tensor",
          "contiguous.default", "clone.default")


def _share_downstream(lookup: torch.fx.Node, shared: Any) -> None:
    """The lookup's rows keep the table's scale through the views and transposes that follow (unannotated by
    litert-torch: TFLite requires the same scale on both sides), and the first op that computes reads them as they
    are (its own input quantization would be a second, conflicting one on the same tensor)."""
    aten = torch.ops.aten
    moves = set()
    for name in _MOVES:
        op, overload = name.split(".")
        if hasattr(aten, op) and hasattr(getattr(aten, op), overload):
            moves.add(getattr(getattr(aten, op), overload))
    frontier = [lookup]
    while frontier:
        node = frontier.pop()
        for user in node.users:
            ann = user.meta.get("quantization_annotation")
            if ann is None and user.op == "call_function" and user.target in moves and user.args[0] is node:
                from torchao.quantization.pt2e.quantizer import QuantizationAnnotation
                user.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node: shared(node)}, output_qspec=shared(node), _annotated=True)
                frontier.append(user)
            elif ann is not None and node in ann.input_qspec_map:
                ann.input_qspec_map[node] = shared(node)
