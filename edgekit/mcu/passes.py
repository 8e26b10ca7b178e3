"""Graph rewrites before lowering.

fold_pads: a PAD (or PADV2) whose only consumer is a CONV_2D or DEPTHWISE_CONV_2D disappears into that
convolution's padding. The convolution kernels treat a tap outside the input as the input zero point (it adds
nothing), so padding with the zero point and then convolving equals convolving the unpadded input with the window
start moved by the padding: the PAD's sizes become extra pad_top / pad_bottom / pad_left / pad_right (any amounts,
asymmetric included, on top of the convolution's own SAME padding). Legal when the pad value is the convolution's
input zero point (always so for PAD; PADV2's constant must equal it), only H and W are padded, and the PAD's input
and output share scale and zero point (the bytes move unchanged through a PAD; the folded convolution reads them
with its input tensor's quantization, now the PAD's input).
"""
from __future__ import annotations

import dataclasses

from ..errors import UnsupportedError
from .lower import FOLDED_PAD, pad_spec
from .tflite_graph import Graph, Op

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
PAD_OPS = ("PAD", "PADV2")


def foldable_pad(graph: Graph, pad: Op, consumers: dict[int, list[Op]]) -> tuple[Op, tuple[int, int, int, int]] | None:
    """The convolution `pad` folds into and the (top, bottom, left, right) it adds, or None."""
    out = pad.outputs[0]
    users = consumers.get(out, [])
    if out in graph.outputs or len(users) != 1:
        return None
    conv = users[0]
    if conv.kind not in CONV_OPS or conv.inputs[0] != out or out in conv.inputs[1:] or FOLDED_PAD in conv.options:
        return None
    x, p = graph.tensor(pad.inputs[0]), graph.tensor(out)
    if x.dtype != "int8" or p.dtype != "int8" or len(x.shape) != 4 or not p.zero_point.size:
        return None
    if (x.scale.tolist(), x.zero_point.tolist()) != (p.scale.tolist(), p.zero_point.tolist()):
        return None
    try:
        before, after, value = pad_spec(graph, pad)
    except UnsupportedError:
        return None  # lowering the PAD itself reports why
    if before[0] or after[0] or before[3] or after[3] or value != int(p.zero_point[0]):
        return None
    return conv, (before[1], after[1], before[2], after[2])


def fold_pads(graph: Graph) -> tuple[Graph, list[int]]:
    """The graph with every foldable PAD removed and its convolution reading the PAD's input; the indices of the
    folded PAD ops."""
    consumers: dict[int, list[Op]] = {}
    for op in graph.ops:
        for i in op.inputs:
            if i >= 0:
                consumers.setdefault(i, []).append(op)
    replaced: dict[int, Op] = {}
    folded: list[int] = []
    for op in graph.ops:
        if op.kind not in PAD_OPS:
            continue
        hit = foldable_pad(graph, op, consumers)
        if hit is None:
            continue
        conv, pads = hit
        replaced[conv.index] = dataclasses.replace(conv, inputs=[op.inputs[0]] + conv.inputs[1:],
                                                   options={**conv.options, FOLDED_PAD: pads})
        folded.append(op.index)
    if not folded:
        return graph, []
    ops = [replaced.get(op.index, op) for op in graph.ops if op.index not in folded]
    return dataclasses.replace(graph, ops=ops), folded
