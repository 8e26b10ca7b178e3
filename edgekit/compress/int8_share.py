"""How much of a quantized model actually runs in int8: the share of its multiply-accumulates and of its weights in
ops whose inputs are int8.

Read from the quantized graph the exporters lower: an op runs in int8 when its inputs are dequantized from int8
right before it (the dequantize -> op -> quantize pattern every INT8 backend, XNNPACK, LiteRT's converter and the MCU
compiler, turns into an integer kernel; under dynamic quantization only the weights carry that pattern, the kernel
quantizes the activations at run time). A quantizer leaves an op it does not handle (an LSTM, an attention matmul)
in float: its MACs count against the share, whatever the recipe asked for.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import fx

from ..metrics import Shapes, macs_per_node

# Ops that only re-view or copy a tensor: an int8 value passes through them unchanged.
_PASS_THROUGH = frozenset({"t", "transpose", "permute", "view", "reshape", "_unsafe_view", "expand", "unsqueeze",
                           "squeeze", "contiguous", "clone", "flatten", "select", "slice", "_to_copy", "alias"})
FLOAT_LAYERS_LISTED = 5


def int8_share(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> dict[str, Any] | None:
    """{"macs": share of MACs in int8 ops, "weights": share of weight elements in them, "float_layers": the
    costliest layers left in float}; None when the model holds no graph to read (a file quantized later by the
    converter, e.g. ai-edge-quantizer)."""
    graph_module = _graph_of(model, example_inputs)
    if graph_module is None:
        return None
    macs, shapes = macs_per_node(graph_module, example_inputs)
    const = _constant_nodes(graph_module.graph)
    total_macs = int8_macs = total_weights = int8_weights = 0
    float_layers: dict[tuple[str, str], int] = {}
    for node, node_macs in macs.items():
        weights = sum(_numel(shapes.get(a, ())) for a in _tensor_inputs(node) if a in const)
        is_int8 = _runs_in_int8(node, const, shapes)
        total_macs, total_weights = total_macs + node_macs, total_weights + weights
        if is_int8:
            int8_macs, int8_weights = int8_macs + node_macs, int8_weights + weights
        else:
            key = (_layer_name(node), _op_name(node))
            float_layers[key] = float_layers.get(key, 0) + node_macs
    costliest = sorted(float_layers.items(), key=lambda kv: -kv[1])[:FLOAT_LAYERS_LISTED]
    return {"macs": round(int8_macs / total_macs, 4) if total_macs else 0.0,
            "weights": round(int8_weights / total_weights, 4) if total_weights else 0.0,
            "float_layers": [{"layer": layer, "op": op, "macs": m} for (layer, op), m in costliest]}


def _graph_of(model: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> fx.GraphModule | None:
    from .quantize import int8_record
    if isinstance(model, fx.GraphModule):
        return model  # PT2E's converted graph
    if int8_record(model) is None and any(_is_subclass_weight(p) for p in model.parameters()):
        # torchao's quantized weights (int8-dynamic-token): export shows the pattern the .pte lowers
        return torch.export.export(model, example_inputs).module()
    return None


def _is_subclass_weight(p: torch.Tensor) -> bool:
    return type(p) not in (torch.Tensor, torch.nn.Parameter) or type(getattr(p, "data", p)) is not torch.Tensor


def _constant_nodes(graph: fx.Graph) -> set[fx.Node]:
    """Nodes computed from weights alone (get_attr and what is derived from them only, e.g. quantize/dequantize)."""
    const: set[fx.Node] = set()
    for node in graph.nodes:
        inputs = node.all_input_nodes
        if node.op == "get_attr" or (node.op == "call_function" and inputs and all(i in const for i in inputs)):
            const.add(node)
    return const


def _tensor_inputs(node: fx.Node) -> Iterator[fx.Node]:
    yield from _flatten((node.args, node.kwargs))


def _flatten(value: Any) -> Iterator[fx.Node]:
    if isinstance(value, fx.Node):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)


def _op_name(node: fx.Node) -> str:
    target = node.target
    return getattr(target, "__name__", str(target)).split(".")[0]


def _from_int8(node: fx.Node) -> bool:
    while node.op == "call_function" and _op_name(node) in _PASS_THROUGH and node.all_input_nodes:
        node = node.all_input_nodes[0]
    return node.op == "call_function" and "dequantize" in _op_name(node)


def _runs_in_int8(node: fx.Node, const: set[fx.Node], shapes: Shapes) -> bool:
    """An op with weights runs in int8 when its weights are dequantized from int8 (its activations are too, or,
    under dynamic quantization, are quantized by the backend's kernel at run time); an op of activations alone
    (an attention matmul) when all its inputs are. 1-D constants (biases) become the backend's int32 accumulators'
    business and do not decide it."""
    inputs = list(_tensor_inputs(node))
    weights = [n for n in inputs if n in const and len(shapes.get(n, ())) > 1]
    deciding = weights or [n for n in inputs if n not in const]
    return bool(deciding) and all(_from_int8(n) for n in deciding)


def _numel(shape: tuple[int, ...]) -> int:
    return int(torch.Size(shape).numel()) if shape else 0


def _layer_name(node: fx.Node) -> str:
    """The module path the op came from (nn_module_stack), else the node's name."""
    stack = node.meta.get("nn_module_stack")
    return list(stack.values())[-1][0].removeprefix("L__self___") if stack else node.name
