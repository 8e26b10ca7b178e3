"""One bias tensor per quantized Linear/conv call, for XNNPACK.

XNNPACK runs a quantized Linear with an int32 bias of scale input_scale x weight_scale, which its serializer
(executorch/backends/xnnpack/operators/node_visitor.py, `define_tensor`) defines once per graph node: a bias that
several calls share (a module called more than once, as an unrolled recurrent cell is at every step) is quantized
with the first call's input scale and reused at every other call, whose inputs have other scales. The trained kws_gru
(GRUCell called 49 times) lost 5.2 points of top-1 on emu-phone that way while its PT2E graph held cosine 0.9998
against FP32 (issue 24). Each call here reads its own copy of the bias (a few hundred floats per call; the shared int8
weights, whose scales do not depend on the call, stay shared).
"""
from __future__ import annotations

import torch

_aten = torch.ops.aten
BIASED = {_aten.linear.default, _aten.conv1d.default, _aten.conv1d.padding, _aten.conv2d.default,
          _aten.conv2d.padding, _aten.conv3d.default, _aten.conv_transpose1d.default, _aten.conv_transpose2d.input,
          _aten.conv_transpose3d.input}
BIAS_ARG = 2


def _fetch(graph: torch.fx.GraphModule, target: str) -> torch.Tensor:
    obj = graph
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _quantized_input(node: torch.fx.Node) -> bool:
    # a float call (a layer kept float) takes its bias as it is: nothing to copy
    source = node.args[0]
    return isinstance(source, torch.fx.Node) and "dequantize" in str(source.target)


def unshare_biases(graph: torch.fx.GraphModule) -> int:
    """Give every quantized Linear/conv call after the first that reads a shared bias its own copy, in place;
    the number of copies made. Graphs without shared biases are left as they are."""
    made = 0
    for node in list(graph.graph.nodes):
        if node.op != "get_attr":
            continue
        users = [u for u in node.users if u.op == "call_function" and u.target in BIASED
                 and len(u.args) > BIAS_ARG and u.args[BIAS_ARG] is node and _quantized_input(u)]
        for i, user in enumerate(users[1:], start=1):
            name = f"_edgekit_bias_{node.target.replace('.', '_')}_{i}"
            graph.register_buffer(name, _fetch(graph, node.target).detach().clone())
            with graph.graph.inserting_before(user):
                copy = graph.graph.get_attr(name)
            copy.meta = dict(node.meta)
            args = list(user.args)
            args[BIAS_ARG] = copy
            user.args = tuple(args)
            made += 1
    if made:
        graph.recompile()
    return made
