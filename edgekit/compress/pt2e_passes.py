"""Passes over an exported graph before PT2E's prepare, where a quantizer would otherwise misread it."""
from __future__ import annotations

import torch


def integer_scalars_as_constants(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Give the Python-number operands of integer adds and multiplies a constant of the node's own dtype.
    XNNPACK's quantizer turns every scalar of aten.add/mul into a float32 tensor before annotating
    (_convert_scalars_to_attrs), integer arithmetic included: `transformers`' attention masks compute indices as
    `arange(n) + offset`, which then became float and failed as indices during calibration."""
    aten = torch.ops.aten
    for node in list(graph.graph.nodes):
        value = node.meta.get("val")
        if node.op != "call_function" or node.target not in (aten.add.Tensor, aten.mul.Tensor) \
                or not isinstance(value, torch.Tensor) or value.dtype.is_floating_point:
            continue
        args = list(node.args)
        for i, arg in enumerate(args):
            if isinstance(arg, (bool, int)):
                name = f"_edgekit_integer_{node.name}_{i}"
                constant = torch.tensor(arg, dtype=value.dtype)
                graph.register_buffer(name, constant)
                with graph.graph.inserting_before(node):
                    args[i] = graph.graph.get_attr(name)
                args[i].meta["val"] = (value.fake_mode.from_tensor(constant, static_shapes=True)
                                       if getattr(value, "fake_mode", None) else constant)
        node.args = tuple(args)
    graph.recompile()
    return graph
