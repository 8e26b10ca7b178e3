"""Graph rewrites before lowering, each bit-exact (the bytes every remaining op sees are those TFLite Micro's ops
would have produced).

push_transposes: a converter working channels-first (litert-torch on a PyTorch model) writes F.pad as
TRANSPOSE (NHWC -> NCHW) -> PAD [-> QUANTIZE] -> TRANSPOSE (back to NHWC). A TRANSPOSE is moved below each PAD
(paddings permuted) and each function of one value (HARD_SWISH, LOGISTIC, TANH, int8 QUANTIZE) that follows it;
two transposes that then meet and undo each other vanish (two copies of the tensor fewer, and the PAD can fold),
two that do not become one.

sink_pads: PAD -> f (a function of one value, as above) becomes f -> PAD when f maps the pad value to f's output
zero point (QUANTIZE and HARD_SWISH always do): the table runs on fewer values and the PAD can meet a convolution.
PAD -> RESHAPE becomes RESHAPE -> PAD when the reshape only adds or drops dimensions of size 1 (litert-torch's
NCHW [1, 1, H, W] -> NHWC [1, H, W, 1] on a one-channel input, as in MLPerf Tiny's KWS DS-CNN), and
PAD -> TRANSPOSE becomes TRANSPOSE -> PAD (paddings permuted; F.pad of a channels-first model input, as in
MLPerf Tiny's VWW MobileNet): the transpose copies the unpadded tensor and the PAD can fold.

fold_pads: a PAD (or PADV2) whose only consumer is a CONV_2D or DEPTHWISE_CONV_2D disappears into that
convolution's padding. The convolution kernels treat a tap outside the input as the input zero point (it adds
nothing), so padding with the zero point and then convolving equals convolving the unpadded input with the window
start moved by the padding: the PAD's sizes become extra pad_top / pad_bottom / pad_left / pad_right (any amounts,
asymmetric included, on top of the convolution's own SAME padding). Legal when the pad value is the convolution's
input zero point (always so for PAD; PADV2's constant must equal it), only H and W are padded, and the PAD's input
and output share scale and zero point (the bytes move unchanged through a PAD; the folded convolution reads them
with its input tensor's quantization, now the PAD's input).

quantize_lookups: litert-torch leaves an `nn.Embedding` table float: EMBEDDING_LOOKUP (or GATHER) of a constant
float32 table, then views / transposes in float32, then a QUANTIZE to int8. Quantizing each table entry once, with
TFLite Micro's QUANTIZE arithmetic (float32 x / scale, rounded half away from zero, plus the zero point, clamped)
and the QUANTIZE's output quantization, gives an int8 table whose looked-up rows are the bytes the QUANTIZE would
have written (the lookup and the views only move values); the lookup and the views then run in int8 and the
QUANTIZE disappears. With edgekit's INT8 (compress/embedding.py) that scale is the table's own per-tensor one.

Every rewrite needs the tensors it bypasses to feed nothing else and not to be model outputs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ...errors import UnsupportedError
from .lower import ALIAS_OPS, FOLDED_PAD, TABLE_OPS, pad_spec, unary_table
from .graph import Graph, Op, Tensor

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
PAD_OPS = ("PAD", "PADV2")


@dataclasses.dataclass
class Stats:
    removed_transposes: int = 0
    sunk_pads: int = 0
    folded_pads: int = 0
    quantized_lookups: int = 0


def _consumers(graph: Graph) -> dict[int, list[Op]]:
    consumers: dict[int, list[Op]] = {}
    for op in graph.ops:
        for i in op.inputs:
            if i >= 0:
                consumers.setdefault(i, []).append(op)
    return consumers


def _const_ints(graph: Graph, index: int) -> list[int] | None:
    t = graph.tensor(index)
    return None if t.data is None or t.dtype != "int32" else [int(v) for v in np.asarray(t.data).ravel()]


def _same_quant(*tensors: Tensor) -> bool:
    first = tensors[0]
    return all(t.dtype == first.dtype and t.scale.tolist() == first.scale.tolist() and
               t.zero_point.tolist() == first.zero_point.tolist() for t in tensors)


def _sole_user(graph: Graph, consumers: dict[int, list[Op]], tensor: int) -> Op | None:
    users = consumers.get(tensor, [])
    return users[0] if len(users) == 1 and tensor not in graph.outputs else None


def _new_tensor(tensors: list[Tensor], like: Tensor, shape: tuple[int, ...], data: np.ndarray | None = None,
                suffix: str = "") -> Tensor:
    t = dataclasses.replace(like, index=len(tensors), name=f"{like.name}{suffix}", shape=tuple(int(s) for s in shape),
                            data=data)
    tensors.append(t)
    return t


def _int32_const(tensors: list[Tensor], name: str, values: np.ndarray) -> Tensor:
    values = np.ascontiguousarray(values, dtype=np.int32)
    t = Tensor(len(tensors), name, tuple(values.shape), "int32", np.zeros(0, np.float32), np.zeros(0, np.int64), 0,
               values)
    tensors.append(t)
    return t


def _replace_ops(graph: Graph, tensors: list[Tensor], ops: list[Op]) -> Graph:
    return dataclasses.replace(graph, tensors=tensors, ops=ops)


def _push_once(graph: Graph) -> tuple[Graph, int] | None:
    """One step of push_transposes: (new graph, transposes removed) or None when nothing applies."""
    consumers = _consumers(graph)
    for t_op in graph.ops:
        if t_op.kind != "TRANSPOSE" or len(t_op.inputs) < 2:
            continue
        perm = _const_ints(graph, t_op.inputs[1])
        a, t1 = t_op.inputs[0], t_op.outputs[0]
        user = _sole_user(graph, consumers, t1)
        if perm is None or user is None or user.inputs[0] != t1 or t1 in user.inputs[1:]:
            continue
        ta, tt1, out = graph.tensor(a), graph.tensor(t1), graph.tensor(user.outputs[0])
        if len(ta.shape) != len(perm) or len(tt1.shape) != len(perm):
            continue
        tensors, ops = list(graph.tensors), list(graph.ops)
        at_t, at_u = ops.index(t_op), ops.index(user)
        if user.kind == "TRANSPOSE":
            back = _const_ints(graph, user.inputs[1]) if len(user.inputs) > 1 else None
            if back is None or len(back) != len(perm) or not _same_quant(ta, tt1, out):
                continue
            combined = [perm[back[j]] for j in range(len(back))]  # output dim j reads input dim perm[back[j]]
            if combined == list(range(len(back))) and user.outputs[0] not in graph.outputs:
                t3 = user.outputs[0]  # the two undo each other: readers of t3 read a
                ops = [dataclasses.replace(op, inputs=[a if i == t3 else i for i in op.inputs])
                       for op in ops if op is not t_op and op is not user]
                return _replace_ops(graph, tensors, ops), 2
            perm_t = _int32_const(tensors, f"{graph.tensor(user.inputs[1]).name}/combined", np.array(combined))
            ops[at_u] = dataclasses.replace(user, inputs=[a, perm_t.index])  # one transpose does both
            del ops[at_t]
            return _replace_ops(graph, tensors, ops), 1
        if user.kind in TABLE_OPS:
            moved_out = _new_tensor(tensors, out, ta.shape, suffix="/pre_transpose")
            ops[at_t] = dataclasses.replace(user, inputs=[a] + user.inputs[1:], outputs=[moved_out.index])
            ops[at_u] = dataclasses.replace(t_op, inputs=[moved_out.index] + t_op.inputs[1:], outputs=list(user.outputs))
            return _replace_ops(graph, tensors, ops), 0
        if user.kind in PAD_OPS:
            pads = _const_ints(graph, user.inputs[1])
            if pads is None or len(pads) != 2 * len(perm):
                continue
            pairs = np.asarray(pads).reshape(-1, 2)
            moved = np.zeros_like(pairs)
            moved[perm] = pairs  # output dim i of the transpose is input dim perm[i]
            pads_t = _int32_const(tensors, f"{graph.tensor(user.inputs[1]).name}/pre_transpose", moved)
            shape = tuple(ta.shape[k] + int(moved[k].sum()) for k in range(len(perm)))
            moved_out = _new_tensor(tensors, out, shape, suffix="/pre_transpose")
            ops[at_t] = dataclasses.replace(user, inputs=[a, pads_t.index] + user.inputs[2:], outputs=[moved_out.index])
            ops[at_u] = dataclasses.replace(t_op, inputs=[moved_out.index] + t_op.inputs[1:], outputs=list(user.outputs))
            return _replace_ops(graph, tensors, ops), 0
    return None


def push_transposes(graph: Graph) -> tuple[Graph, int]:
    """Move transposes below PAD and table ops until inverse pairs meet and cancel; the number of TRANSPOSE ops
    removed. A transpose that meets no inverse stays (moved: it then copies the PAD's output instead of its
    input, so the rewrite is kept only when it removes transposes)."""
    work, removed = graph, 0
    for _ in range(4 * len(graph.ops) + 4):
        step = _push_once(work)
        if step is None:
            break
        work, n = step
        removed += n
    return (work, removed) if removed else (graph, 0)


def _reshape_pads(pad_shape: tuple[int, ...], pads: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """The paddings of a reshape's output equal to padding before it, when the reshape moves only size-1
    dimensions (the other dimensions, padded ones included, keep their order and sizes); else None."""
    src = [i for i, n in enumerate(pad_shape) if n != 1]
    dst = [j for j, n in enumerate(out_shape) if n != 1]
    if [pad_shape[i] for i in src] != [out_shape[j] for j in dst]:
        return None
    if any(pads[i].any() for i in range(len(pad_shape)) if i not in src):
        return None
    moved = np.zeros((len(out_shape), 2), dtype=np.int64)
    for i, j in zip(src, dst):
        moved[j] = pads[i]
    return moved


def _sink_one(graph: Graph) -> Graph | None:
    consumers = _consumers(graph)
    for pad in graph.ops:
        if pad.kind not in PAD_OPS:
            continue
        user = _sole_user(graph, consumers, pad.outputs[0])
        if user is None or user.inputs[0] != pad.outputs[0]:
            continue
        x, p, out = graph.tensor(pad.inputs[0]), graph.tensor(pad.outputs[0]), graph.tensor(user.outputs[0])
        try:
            before, after, value = pad_spec(graph, pad)
        except UnsupportedError:
            continue
        tensors, ops = list(graph.tensors), list(graph.ops)
        at_p, at_u = ops.index(pad), ops.index(user)
        if user.kind in TABLE_OPS:
            if not _same_quant(x, p) or not out.zero_point.size:
                continue
            try:
                table = unary_table(graph, user)
            except UnsupportedError:
                continue
            if int(table[value + 128]) != int(out.zero_point[0]):
                continue
            f_out = _new_tensor(tensors, out, x.shape, suffix="/unpadded")
            ops[at_p] = dataclasses.replace(user, inputs=[pad.inputs[0]], outputs=[f_out.index])
            ops[at_u] = dataclasses.replace(pad, kind="PAD", inputs=[f_out.index, pad.inputs[1]],
                                            outputs=list(user.outputs), options={})
            return _replace_ops(graph, tensors, ops)
        if user.kind == "TRANSPOSE":  # a channels-first model input: PAD (NCHW) -> TRANSPOSE -> conv
            perm = _const_ints(graph, user.inputs[1]) if len(user.inputs) > 1 else None
            if perm is None or len(perm) != len(p.shape) or not _same_quant(p, out):
                continue
            pairs = np.array([before, after]).T
            t_out = _new_tensor(tensors, out, tuple(x.shape[k] for k in perm), suffix="/unpadded")
            pads_t = _int32_const(tensors, f"{graph.tensor(pad.inputs[1]).name}/transposed", pairs[perm])
            ops[at_p] = dataclasses.replace(user, inputs=[pad.inputs[0]] + user.inputs[1:], outputs=[t_out.index])
            ops[at_u] = dataclasses.replace(pad, inputs=[t_out.index, pads_t.index] + pad.inputs[2:],
                                            outputs=list(user.outputs))
            return _replace_ops(graph, tensors, ops)
        if user.kind in ALIAS_OPS:
            if not _same_quant(p, out):
                continue
            moved = _reshape_pads(p.shape, np.array([before, after]).T, out.shape)
            if moved is None:
                continue
            r_out = _new_tensor(tensors, x, tuple(int(n - moved[j].sum()) for j, n in enumerate(out.shape)),
                                suffix="/reshaped")
            pads_t = _int32_const(tensors, f"{graph.tensor(pad.inputs[1]).name}/reshaped", moved)
            ops[at_p] = dataclasses.replace(user, inputs=[pad.inputs[0]], outputs=[r_out.index])
            ops[at_u] = dataclasses.replace(pad, inputs=[r_out.index, pads_t.index] + pad.inputs[2:],
                                            outputs=list(user.outputs))
            return _replace_ops(graph, tensors, ops)
    return None


def sink_pads(graph: Graph) -> tuple[Graph, int]:
    """Move PADs below table ops and size-1 reshapes (see the module doc); the number of moves."""
    moved = 0
    for _ in range(2 * len(graph.ops) + 2):
        step = _sink_one(graph)
        if step is None:
            break
        graph, moved = step, moved + 1
    return graph, moved


def foldable_pad(graph: Graph, pad: Op, consumers: dict[int, list[Op]]) -> tuple[Op, tuple[int, int, int, int]] | None:
    """The convolution `pad` folds into and the (top, bottom, left, right) it adds, or None."""
    out = pad.outputs[0]
    conv = _sole_user(graph, consumers, out)
    if conv is None or conv.kind not in CONV_OPS or conv.inputs[0] != out or out in conv.inputs[1:] or \
            FOLDED_PAD in conv.options:
        return None
    x, p = graph.tensor(pad.inputs[0]), graph.tensor(out)
    if x.dtype != "int8" or p.dtype != "int8" or len(x.shape) != 4 or not p.zero_point.size:
        return None
    if not _same_quant(x, p):
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
    consumers = _consumers(graph)
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


LOOKUP_TABLE_INPUT = {"EMBEDDING_LOOKUP": 1, "GATHER": 0}
MOVE_OPS = ALIAS_OPS + ("TRANSPOSE",)


def tflm_quantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLite Micro's float32 -> int8 QUANTIZE (AffineQuantize): round(val / (float)scale) + zero_point, clamped;
    the division in float32, the rounding half away from zero."""
    q = (np.asarray(values, np.float32) / np.float32(scale)).astype(np.float64)
    q = np.sign(q) * np.floor(np.abs(q) + 0.5) + int(zero_point)
    return np.clip(q, -128, 127).astype(np.int8)


def quantize_lookups(graph: Graph) -> tuple[Graph, int]:
    """Each float lookup of a constant table whose rows reach one int8 QUANTIZE through views and transposes only
    becomes an int8 lookup of the quantized table; the number of lookups rewritten."""
    consumers = _consumers(graph)
    tensors, ops, dropped, done = list(graph.tensors), list(graph.ops), set(), 0
    for op in graph.ops:
        if op.kind not in LOOKUP_TABLE_INPUT or len(op.inputs) < 2:
            continue
        table = graph.tensor(op.inputs[LOOKUP_TABLE_INPUT[op.kind]])
        if table.dtype != "float32" or table.data is None or graph.tensor(op.outputs[0]).dtype != "float32":
            continue
        chain, cur = [], op.outputs[0]
        user = _sole_user(graph, consumers, cur)
        while user is not None and user.kind in MOVE_OPS and user.inputs[0] == cur and \
                graph.tensor(user.outputs[0]).dtype == "float32":
            chain.append(user)
            cur = user.outputs[0]
            user = _sole_user(graph, consumers, cur)
        if user is None or user.kind != "QUANTIZE" or user.inputs[0] != cur:
            continue
        q_out = graph.tensor(user.outputs[0])
        if q_out.dtype != "int8" or len(q_out.scale) != 1:
            continue
        scale, zp = float(q_out.scale[0]), int(q_out.zero_point[0])
        quant = {"dtype": "int8", "scale": q_out.scale.copy(), "zero_point": q_out.zero_point.copy(),
                 "quantized_dimension": 0}
        new_table = _new_tensor(tensors, dataclasses.replace(table, **quant), table.shape,
                                tflm_quantize(table.data, scale, zp).reshape(table.shape), suffix="/int8")
        path = [op] + chain
        for k, step in enumerate(path):
            out = q_out.index if k == len(path) - 1 else step.outputs[0]  # the last writes the QUANTIZE's output
            if out != q_out.index:
                tensors[out] = dataclasses.replace(tensors[out], **quant)
            inputs = list(step.inputs)
            if k == 0:
                inputs[LOOKUP_TABLE_INPUT[op.kind]] = new_table.index
            ops[ops.index(step)] = dataclasses.replace(step, inputs=inputs, outputs=[out])
        dropped.add(user.index)
        done += 1
    if not done:
        return graph, 0
    return _replace_ops(graph, tensors, [o for o in ops if o.index not in dropped]), done


def optimize(graph: Graph) -> tuple[Graph, Stats]:
    """quantize_lookups, push_transposes, sink_pads, fold_pads, in that order."""
    stats = Stats()
    graph, stats.quantized_lookups = quantize_lookups(graph)
    graph, stats.removed_transposes = push_transposes(graph)
    graph, stats.sunk_pads = sink_pads(graph)
    graph, folded = fold_pads(graph)
    stats.folded_pads = len(folded)
    return graph, stats
