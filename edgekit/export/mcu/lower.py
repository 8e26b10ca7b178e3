"""Lower each .tflite op to one firmware kernel call: the kernel (kernels.py, in the variant the build runs), the
values of its parameter struct, the constant arrays it needs (weights packed as that kernel reads them, bias,
per-channel multiplier/shift) and so the scratch bytes it asks for.

Parameters are computed here, on the host, exactly as TFLite Micro computes them in its Prepare functions; the
firmware's prepare only validates them. Shape-only ops (RESHAPE, SQUEEZE) become aliases: no kernel, no copy.
Functions of one int8 value (HARD_SWISH, LOGISTIC, TANH, int8 QUANTIZE) become a 256-entry table (lut.py). A PAD
that feeds a convolution is folded into the convolution's padding by passes.fold_pads before lowering.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...errors import UnsupportedError
from . import kernels, lut, tflite_math
from .graph import Graph, Op, Tensor
from .kernels import Kernel, Variant

ALIAS_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
FOLDED_PAD = "edgekitFoldedPad"  # conv option set by passes.fold_pads: (top, bottom, left, right) of a folded PAD


@dataclass
class ConstArray:
    name: str
    ctype: str                   # int8_t / int32_t
    values: np.ndarray


@dataclass
class KernelCall:
    op: Op
    kernel: Kernel               # the firmware kernel: C names, parameter struct, inputs, scratch formula
    params: dict[str, Any]       # its parameter struct, field -> value (types in kernels.py)
    inputs: list[int | str]      # activation tensor indices passed to the kernel, in order; a str names a constant
    output: int                  # array of this call (a constant operand, e.g. a broadcast ADD's bias vector)
    arrays: list[ConstArray] = field(default_factory=list)
    macs: int = 0

    def __post_init__(self) -> None:
        self.kernel.params.check(self.params)

    @property
    def scratch_bytes(self) -> int:
        return self.kernel.scratch(self.params)


def _dims(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """An ek_dims value: the shape left-padded with 1s to (n, h, w, c)."""
    if len(shape) > 4:
        raise UnsupportedError(f"a tensor of rank {len(shape)}; the MCU kernels take up to 4 dims")
    n, h, w, c = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
    return n, h, w, c


def _q(t: Tensor) -> tuple[float, int]:
    if t.scale.size == 0:
        raise UnsupportedError(f"tensor '{t.name}' is not quantized; export the model with full INT8 quantization")
    return float(t.scale[0]), int(t.zero_point[0]) if t.zero_point.size else 0


def _require_int8(graph: Graph, op: Op, indices: list[int]) -> None:
    for i in indices:
        t = graph.tensor(i)
        if t.dtype != "int8":
            raise UnsupportedError(f"{op.kind} (op {op.index}) has a {t.dtype} tensor '{t.name}'; the MCU path runs "
                                   "int8 only (export with full INT8 quantization and int8 inputs/outputs)")


def _per_channel(graph: Graph, op: Op, input_t: Tensor, filter_t: Tensor, output_t: Tensor, channels: int,
                 prefix: str) -> list[ConstArray]:
    """PopulateConvolutionQuantizationParams: one multiplier/shift per output channel."""
    in_scale, _ = _q(input_t)
    out_scale, _ = _q(output_t)
    scales = filter_t.scale
    if scales.size == 1:
        scales = np.repeat(scales, channels)
    if scales.size != channels:
        raise UnsupportedError(f"{op.kind} (op {op.index}): {scales.size} filter scales for {channels} channels")
    if filter_t.zero_point.size and np.any(filter_t.zero_point != 0):
        raise UnsupportedError(f"{op.kind} (op {op.index}): weights with a non-zero zero point (TFLite int8 "
                               "kernels require symmetric weights)")
    pairs = [tflite_math.quantize_multiplier(float(in_scale) * float(s) / float(out_scale)) for s in scales]
    return [ConstArray(f"{prefix}_multiplier", "int32_t", np.array([m for m, _ in pairs], dtype=np.int64)),
            ConstArray(f"{prefix}_shift", "int32_t", np.array([s for _, s in pairs], dtype=np.int64))]


def _bias(graph: Graph, op: Op, index: int, channels: int) -> np.ndarray | None:
    if index < 0:
        return None
    b = graph.tensor(index)
    if b.data is None or b.dtype != "int32" or b.data.size != channels:
        raise UnsupportedError(f"{op.kind} (op {op.index}): bias must be a constant int32 vector of {channels}")
    return b.data.astype(np.int64).ravel()


def _weights_and_bias(kernel: Kernel, params: dict[str, Any], weights: np.ndarray, bias: np.ndarray | None,
                      prefix: str) -> list[ConstArray]:
    """The weights (and bias) as `kernel` reads them, as constant arrays; fills params' weights and bias."""
    packed, bias = kernel.pack(params, weights, bias)
    params["weights"], params["bias"] = f"{prefix}_weights", None if bias is None else f"{prefix}_bias"
    arrays = [] if bias is None else [ConstArray(f"{prefix}_bias", "int32_t", np.asarray(bias, np.int64))]
    return arrays + [ConstArray(f"{prefix}_weights", "int8_t", packed.astype(np.int64))]


def _conv_like(graph: Graph, op: Op, variant: Variant, depthwise: bool) -> KernelCall:
    x, w, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, w.index, out.index])
    if w.data is None:
        raise UnsupportedError(f"{op.kind} (op {op.index}): weights are not constant")
    if len(x.shape) != 4 or len(out.shape) != 4 or len(w.shape) != 4:
        raise UnsupportedError(f"{op.kind} (op {op.index}): expected 4-D NHWC tensors")
    wdata, wshape = w.data, w.shape
    if depthwise and x.shape[3] == 1:
        # one input channel (litert's form of a 1-channel conv, e.g. KWS DS-CNN's first layer): output channel m
        # sums w[0, fy, fx, m] * x over the window, exactly a CONV_2D with OHWI filter [m, fy, fx, 0]; the
        # per-channel requantization is computed the same way for both ops, so the optimised conv kernel runs it
        wdata = np.ascontiguousarray(w.data.transpose(3, 1, 2, 0))
        wshape = wdata.shape
        depthwise = False
    o = op.options
    sh, sw = o["strideH"], o["strideW"]
    dh, dw = o.get("dilationHFactor", 1) or 1, o.get("dilationWFactor", 1) or 1
    kh, kw = wshape[1], wshape[2]
    folded = o.get(FOLDED_PAD, (0, 0, 0, 0))  # a PAD before this op, folded in: its input is x, unpadded
    in_h, in_w = x.shape[1] + folded[0] + folded[1], x.shape[2] + folded[2] + folded[3]
    for axis, size, k, s, d in ((1, in_h, kh, sh, dh), (2, in_w, kw, sw, dw)):
        expect = tflite_math.out_size(o["padding"], size, k, s, d)
        if expect != out.shape[axis]:
            raise UnsupportedError(f"{op.kind} (op {op.index}): output size {out.shape[axis]} does not match the "
                                   f"padding rule ({expect})")
    top, bottom = tflite_math.padding(sh, dh, in_h, kh, out.shape[1])
    left, right = tflite_math.padding(sw, dw, in_w, kw, out.shape[2])
    pads = {"pad_top": top + folded[0], "pad_bottom": bottom + folded[1], "pad_left": left + folded[2],
            "pad_right": right + folded[3]}
    out_scale, out_zp = _q(out)
    _, in_zp = _q(x)
    act_min, act_max = tflite_math.activation_range(o.get("fusedActivationFunction", 0), out_scale, out_zp)
    channels = out.shape[3]
    if depthwise and channels % x.shape[3]:
        raise UnsupportedError(f"DEPTHWISE_CONV_2D (op {op.index}): {channels} outputs for {x.shape[3]} inputs")
    kernel = kernels.select("ek_depthwise_conv2d_s8" if depthwise else "ek_conv2d_s8", variant)
    prefix = f"op{op.index}"
    params = {"input": _dims(x.shape), "filter": _dims(wshape), "output": _dims(out.shape), "stride_h": sh,
              "stride_w": sw, "dilation_h": dh, "dilation_w": dw, **pads,
              "depth_multiplier": channels // x.shape[3] if depthwise else 1, "input_offset": -in_zp,
              "output_offset": out_zp, "act_min": act_min, "act_max": act_max,
              "multiplier": f"{prefix}_multiplier", "shift": f"{prefix}_shift"}
    arrays = _per_channel(graph, op, x, w, out, channels, prefix)
    arrays += _weights_and_bias(kernel, params, wdata, _bias(graph, op, op.inputs[2] if len(op.inputs) > 2 else -1,
                                                             channels), prefix)
    per_out = kh * kw * (1 if depthwise else wshape[3])
    macs = int(np.prod(out.shape)) * per_out
    return KernelCall(op, kernel, params, [x.index], out.index, arrays, macs=macs)


def _fully_connected(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    x, w, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, w.index, out.index])
    if w.data is None or len(w.shape) != 2:
        raise UnsupportedError(f"FULLY_CONNECTED (op {op.index}): weights must be a constant 2-D matrix")
    out_f, in_f = w.shape
    n = int(np.prod(x.shape))
    if n % in_f:
        raise UnsupportedError(f"FULLY_CONNECTED (op {op.index}): input of {n} values for {in_f} features")
    out_scale, out_zp = _q(out)
    _, in_zp = _q(x)
    act_min, act_max = tflite_math.activation_range(op.options.get("fusedActivationFunction", 0), out_scale, out_zp)
    kernel = kernels.select("ek_fully_connected_s8", variant)
    prefix = f"op{op.index}"
    params = {"batches": n // in_f, "in_features": in_f, "out_features": out_f, "input_offset": -in_zp,
              "output_offset": out_zp, "act_min": act_min, "act_max": act_max,
              "multiplier": f"{prefix}_multiplier", "shift": f"{prefix}_shift"}
    arrays = _per_channel(graph, op, x, w, out, out_f, prefix)
    arrays += _weights_and_bias(kernel, params, w.data, _bias(graph, op, op.inputs[2] if len(op.inputs) > 2 else -1,
                                                              out_f), prefix)
    return KernelCall(op, kernel, params, [x.index], out.index, arrays, macs=(n // in_f) * in_f * out_f)


def _pool(graph: Graph, op: Op, kernel: str, variant: Variant) -> KernelCall:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    o = op.options
    if _q(x) != _q(out):
        raise UnsupportedError(f"{op.kind} (op {op.index}): input and output quantization differ")
    fh, fw, sh, sw = o["filterHeight"], o["filterWidth"], o["strideH"], o["strideW"]
    for axis, k, s in ((1, fh, sh), (2, fw, sw)):
        if tflite_math.out_size(o["padding"], x.shape[axis], k, s) != out.shape[axis]:
            raise UnsupportedError(f"{op.kind} (op {op.index}): output size does not match the padding rule")
    out_scale, out_zp = _q(out)
    act_min, act_max = tflite_math.activation_range(o.get("fusedActivationFunction", 0), out_scale, out_zp)
    params = {"input": _dims(x.shape), "output": _dims(out.shape), "filter_h": fh, "filter_w": fw,
              "stride_h": sh, "stride_w": sw, "pad_h": tflite_math.padding_before(sh, 1, x.shape[1], fh, out.shape[1]),
              "pad_w": tflite_math.padding_before(sw, 1, x.shape[2], fw, out.shape[2]), "act_min": act_min,
              "act_max": act_max}
    return KernelCall(op, kernels.select(kernel, variant), params, [x.index], out.index)


def _operand(graph: Graph, op: Op, t: Tensor, name: str, arrays: list[ConstArray]) -> int | str:
    """An activation operand by tensor index, or a constant one as an int8 array of this call."""
    if t.data is None:
        return t.index
    arrays.append(ConstArray(f"op{op.index}_{name}", "int8_t", t.data.astype(np.int64).ravel()))
    return f"op{op.index}_{name}"


def binary_shape(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> dict[str, Any]:
    """TFLite's broadcasting of two shapes to the output's, as ek_binary_shape values: dimensions of size 1 in the
    output dropped, neighbours that broadcast alike merged (so the innermost loop is as long as it can be), at most 4
    groups, leading groups of 1. Same shapes (after extension to one rank) take the flat path."""
    rank = max(len(a), len(b), len(out))
    A, B, O = ((1,) * (rank - len(s)) + tuple(s) for s in (a, b, out))
    for k in range(rank):
        if A[k] not in (1, O[k]) or B[k] not in (1, O[k]) or O[k] != max(A[k], B[k]):
            raise UnsupportedError(f"shapes {a} and {b} do not broadcast to {out}")
    size = int(np.prod(O, dtype=np.int64))
    if A == B == O:
        return {"broadcast": 0, "size": size, "shape": (1, 1, 1, 1), "stride1": (0, 0, 0, 0),
                "stride2": (0, 0, 0, 0)}
    groups: list[list[int]] = []  # [size, a_full, b_full]
    for k in range(rank):
        if O[k] == 1:
            continue
        full = [int(A[k] == O[k]), int(B[k] == O[k])]
        if groups and groups[-1][1:] == full:
            groups[-1][0] *= O[k]
        else:
            groups.append([O[k]] + full)
    if len(groups) > 4:
        raise UnsupportedError(f"broadcasting {a} with {b} needs {len(groups)} loop dimensions; the MCU kernels "
                               "take 4")
    groups = [[1, 0, 0]] * (4 - len(groups)) + groups
    strides = []
    for which in (1, 2):
        st, run = [], 1
        for g in reversed(groups):
            st.append(run if g[which] else 0)
            run *= g[0] if g[which] else 1
        strides.append(list(reversed(st)))
    return {"broadcast": 1, "size": size, "shape": tuple(int(g[0]) for g in groups),
            "stride1": tuple(strides[0]), "stride2": tuple(strides[1])}


def _binary_operands(graph: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor, list[ConstArray], list[int | str],
                                                      dict[str, Any]]:
    a, b, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    _require_int8(graph, op, [a.index, b.index, out.index])
    if a.data is not None and b.data is not None:
        raise UnsupportedError(f"{op.kind} (op {op.index}) of two constants; fold it before export")
    try:
        shape = binary_shape(a.shape, b.shape, out.shape)
    except UnsupportedError as exc:
        raise UnsupportedError(f"{op.kind} (op {op.index}): {exc.args[0]}") from None
    arrays: list[ConstArray] = []
    inputs = [_operand(graph, op, a, "input1", arrays), _operand(graph, op, b, "input2", arrays)]
    return a, b, out, arrays, inputs, shape


ADD_TABLE_MIN_ELEMENTS = 512  # from this output size on, ADD/SUB read each input's rescaled value from a table


def _add_sub(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """ADD and SUB: CalculateOpDataAdd (scales in double) and CalculateOpDataSub (in float32, as TFLite Micro's
    SUB computes them)."""
    a, b, out, arrays, inputs, shape = _binary_operands(graph, op)
    (sa, za), (sb, zb), (so, zo) = _q(a), _q(b), _q(out)
    left_shift = 20
    if op.kind == "ADD":
        twice_max = 2 * float(max(np.float32(sa), np.float32(sb)))
        reals = (sa / twice_max, sb / twice_max, twice_max / ((1 << left_shift) * so))
    else:
        f32 = np.float32
        twice_max32 = f32(2) * max(f32(sa), f32(sb))
        reals = (float(f32(sa) / twice_max32), float(f32(sb) / twice_max32),
                 float(twice_max32 / (f32(1 << left_shift) * f32(so))))
    (m1, s1), (m2, s2), (mo, so_) = (tflite_math.quantize_multiplier_smaller_than_one(r) for r in reals)
    act_min, act_max = tflite_math.activation_range(op.options.get("fusedActivationFunction", 0), so, zo)
    params = {"shape": shape, "input1_offset": -za, "input2_offset": -zb, "output_offset": zo,
              "left_shift": left_shift, "input1_multiplier": m1, "input1_shift": s1, "input2_multiplier": m2,
              "input2_shift": s2, "output_multiplier": mo, "output_shift": so_, "act_min": act_min,
              "act_max": act_max, "input1_table": None, "input2_table": None}
    if shape["size"] >= ADD_TABLE_MIN_ELEMENTS:  # 2 KB of flash to save two requantizations per element
        for k, (offset, m, sh) in enumerate(((-za, m1, s1), (-zb, m2, s2)), start=1):
            values = [lut.rdbp(lut.srdhm((v + offset) * (1 << left_shift), m), -sh) for v in range(-128, 128)]
            arrays.append(ConstArray(f"op{op.index}_input{k}_table", "int32_t", np.array(values, dtype=np.int64)))
            params[f"input{k}_table"] = f"op{op.index}_input{k}_table"
    kernel = kernels.select("ek_add_s8" if op.kind == "ADD" else "ek_sub_s8", variant)
    return KernelCall(op, kernel, params, inputs, out.index, arrays)


def _mul(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """MUL: CalculateOpDataMul (one multiplier input1_scale * input2_scale / output_scale, in double)."""
    a, b, out, arrays, inputs, shape = _binary_operands(graph, op)
    (sa, za), (sb, zb), (so, zo) = _q(a), _q(b), _q(out)
    multiplier, shift = tflite_math.quantize_multiplier(sa * sb / so)
    act_min, act_max = tflite_math.activation_range(op.options.get("fusedActivationFunction", 0), so, zo)
    params = {"shape": shape, "input1_offset": -za, "input2_offset": -zb, "output_offset": zo,
              "output_multiplier": multiplier, "output_shift": shift, "act_min": act_min, "act_max": act_max}
    return KernelCall(op, kernels.select("ek_mul_s8", variant), params, inputs, out.index, arrays)


def pad_spec(graph: Graph, op: Op) -> tuple[list[int], list[int], int]:
    """PadPrepare: (before, after) per dimension and the padding byte (the output zero point for PAD, the constant
    for PADV2). TFLite Micro reads the paddings as int32 and requires them constant."""
    x, pads_t, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    if pads_t.data is None or pads_t.dtype != "int32":
        raise UnsupportedError(f"{op.kind} (op {op.index}): paddings must be a constant int32 tensor "
                               f"(got {'a non-constant' if pads_t.data is None else pads_t.dtype} one)")
    pads = np.asarray(pads_t.data).reshape(-1, 2)
    if pads.shape[0] != len(out.shape) or len(x.shape) != len(out.shape):
        raise UnsupportedError(f"{op.kind} (op {op.index}): {pads.shape[0]} padding pairs for a rank-"
                               f"{len(out.shape)} output")
    before, after = [int(v) for v in pads[:, 0]], [int(v) for v in pads[:, 1]]
    if any(v < 0 for v in before + after):
        raise UnsupportedError(f"{op.kind} (op {op.index}): negative padding")
    if any(x.shape[i] + before[i] + after[i] != out.shape[i] for i in range(len(out.shape))):
        raise UnsupportedError(f"{op.kind} (op {op.index}): output shape {out.shape} is not the padded input shape")
    _, zo = _q(out)
    value = zo
    if op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        c = graph.tensor(op.inputs[2])
        if c.data is None or c.data.size != 1 or c.dtype != "int8":
            raise UnsupportedError(f"PADV2 (op {op.index}): the pad value must be a constant int8 scalar")
        if _q(c) != _q(out):
            raise UnsupportedError(f"PADV2 (op {op.index}): the pad value's quantization differs from the output's "
                                   "(TFLite Micro rejects it)")
        value = int(np.asarray(c.data).ravel()[0])
    return before, after, value


def _pad4(values: list[int], fill: int) -> tuple[int, ...]:
    """A per-dimension vector of up to 4 values, left-padded with `fill` to 4 (an int32_t[4] parameter)."""
    return tuple(int(x) for x in [fill] * (4 - len(values)) + list(values))


def _pad(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    if len(x.shape) > 4:
        raise UnsupportedError(f"{op.kind} (op {op.index}): a rank-{len(x.shape)} tensor; the MCU kernel pads up "
                               "to 4 dims")
    before, after, value = pad_spec(graph, op)
    params = {"in_shape": _pad4(list(x.shape), 1), "before": _pad4(before, 0), "after": _pad4(after, 0),
              "value": value}
    return KernelCall(op, kernels.select("ek_pad_s8", variant), params, [x.index], out.index)


TABLE_OPS = ("HARD_SWISH", "LOGISTIC", "TANH", "QUANTIZE")  # int8 -> int8 functions of one value: ek_lut_s8


def unary_table(graph: Graph, op: Op) -> np.ndarray:
    """The 256 outputs (for inputs -128..127) of a table op, computed with TFLite Micro's integer arithmetic."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if op.kind == "QUANTIZE" and (x.dtype != "int8" or out.dtype != "int8"):
        raise UnsupportedError(f"QUANTIZE (op {op.index}) from {x.dtype} to {out.dtype}: the MCU path runs int8 "
                               "end to end (int8 -> int8 requantization is supported); export with int8 inputs and "
                               "outputs so that float <-> int8 happens on the host")
    _require_int8(graph, op, [x.index, out.index])
    if x.scale.size != 1 or out.scale.size != 1:
        raise UnsupportedError(f"{op.kind} (op {op.index}): per-channel quantization")
    if int(np.prod(x.shape, dtype=np.int64)) != int(np.prod(out.shape, dtype=np.int64)):
        raise UnsupportedError(f"{op.kind} (op {op.index}): input and output sizes differ")
    (si, zi), (so, zo) = _q(x), _q(out)
    if op.kind == "HARD_SWISH":
        return lut.hard_swish_table(si, zi, so, zo)
    if op.kind == "LOGISTIC":
        if zo != -128:
            raise UnsupportedError(f"LOGISTIC (op {op.index}): int8 output zero point must be -128 (TFLite Micro "
                                   "requires it)")
        return lut.logistic_table(si, zi)
    if op.kind == "TANH":
        return lut.tanh_table(si, zi)
    return lut.requantize_table(si, zi, so, zo)


def _table_op(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    table = unary_table(graph, op)
    out = graph.tensor(op.outputs[0])
    arrays = [ConstArray(f"op{op.index}_table", "int8_t", table.astype(np.int64))]
    params = {"size": int(np.prod(out.shape, dtype=np.int64)), "table": f"op{op.index}_table"}
    return KernelCall(op, kernels.select("ek_lut_s8", variant), params, [op.inputs[0]], out.index, arrays)


def _dequantize(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if op.outputs[0] in graph.outputs:
        raise UnsupportedError(f"DEQUANTIZE (op {op.index}) from {x.dtype} to {out.dtype} at the model output: the "
                               "MCU firmware has no float tensors", "export with int8 outputs (the host dequantizes)")
    users = sorted({o.kind for o in graph.ops if op.outputs[0] in o.inputs})
    raise UnsupportedError(f"DEQUANTIZE (op {op.index}): the quantizer left {', '.join(users) or 'an op'} in float "
                           "(a DEQUANTIZE ... QUANTIZE island); the MCU firmware runs int8 only",
                           "quantize those ops too (e.g. an ADD the quantizer did not annotate) or change the model")


def _concatenation(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    out = graph.tensor(op.outputs[0])
    ins = [graph.tensor(i) for i in op.inputs]
    _require_int8(graph, op, [t.index for t in ins] + [out.index])
    if op.options.get("fusedActivationFunction", 0) != tflite_math.ACT_NONE:
        raise UnsupportedError(f"CONCATENATION (op {op.index}): a fused activation (TFLite Micro rejects it)")
    if not 1 <= len(ins) <= kernels.CONCAT_MAX_INPUTS:
        raise UnsupportedError(f"CONCATENATION (op {op.index}) of {len(ins)} inputs; the MCU kernel takes 1 to "
                               f"{kernels.CONCAT_MAX_INPUTS}")
    rank = len(out.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    for t in ins:
        if len(t.shape) != rank or any(t.shape[d] != out.shape[d] for d in range(rank) if d != axis):
            raise UnsupportedError(f"CONCATENATION (op {op.index}): input shape {t.shape} does not fit output "
                                   f"{out.shape} along axis {axis}")
    if sum(t.shape[axis] for t in ins) != out.shape[axis]:
        raise UnsupportedError(f"CONCATENATION (op {op.index}): inputs do not add up to the output along the axis")
    arrays: list[ConstArray] = []
    inputs = [_operand(graph, op, t, f"input{k}", arrays) for k, t in enumerate(ins)]
    out_q = (float(np.float32(_q(out)[0])), _q(out)[1])
    table_index, tables = [], []
    for t in ins:
        if (float(np.float32(_q(t)[0])), _q(t)[1]) == out_q:
            table_index.append(-1)
        else:  # TFLite Micro refuses this; we requantize as a QUANTIZE op in front of the input would
            table_index.append(len(tables))
            tables.append(lut.requantize_table(*_q(t), *_q(out)))
    prefix = f"op{op.index}"
    arrays.append(ConstArray(f"{prefix}_inner", "int32_t",
                             np.array([int(np.prod(t.shape[axis:], dtype=np.int64)) for t in ins], dtype=np.int64)))
    arrays.append(ConstArray(f"{prefix}_table", "int32_t", np.array(table_index, dtype=np.int64)))
    if tables:
        arrays.append(ConstArray(f"{prefix}_tables", "int8_t", np.concatenate(tables)))
    params = {"inputs": len(ins), "outer": int(np.prod(out.shape[:axis], dtype=np.int64)),
              "inner": f"{prefix}_inner", "table": f"{prefix}_table",
              "tables": f"{prefix}_tables" if tables else None}
    return KernelCall(op, kernels.select("ek_concat_s8", variant), params, inputs, out.index, arrays)


def _slice_call(graph: Graph, op: Op, x: Tensor, out: Tensor, start: list[int], count: list[int],
                step: list[int], variant: Variant) -> KernelCall:
    """A strided gather over the input (left-padded to 4 dims): start index, count and step per dimension."""
    shape = [1] * (4 - len(x.shape)) + list(x.shape)
    strides = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(4)]
    if int(np.prod(count)) != int(np.prod(out.shape, dtype=np.int64)) or min(count) <= 0:
        raise UnsupportedError(f"{op.kind} (op {op.index}): the slice has {int(np.prod(count))} elements, the output "
                               f"{out.shape}")
    params = {"count": _pad4(count, 1), "step": _pad4([s * st for s, st in zip(step, strides)], 0),
              "offset": sum(s * st for s, st in zip(start, strides)), "input_size": int(np.prod(shape))}
    return KernelCall(op, kernels.select("ek_slice_s8", variant), params, [x.index], out.index)


def _const_ints(graph: Graph, op: Op, index: int, what: str, n: int) -> list[int]:
    t = graph.tensor(index)
    if t.data is None or t.dtype != "int32" or t.data.size != n:
        raise UnsupportedError(f"{op.kind} (op {op.index}): {what} must be a constant int32 vector of {n}")
    return [int(v) for v in np.asarray(t.data).ravel()]


def _strided_slice(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """StridedSlicePrepare/Eval: TFLite's strided_slice_logic (StridedSlicePadIndices, StridedSliceStartForAxis,
    StridedSliceEndForAxis) resolved here; ellipsis and new-axis masks are ignored by TFLite Micro, so refused."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    rank = len(x.shape)
    if rank > 4:
        raise UnsupportedError(f"STRIDED_SLICE (op {op.index}): a rank-{rank} input (TFLite Micro takes up to 4)")
    o = op.options
    if o.get("ellipsisMask", 0) or o.get("newAxisMask", 0) or o.get("offset", False):
        raise UnsupportedError(f"STRIDED_SLICE (op {op.index}): ellipsis/new-axis masks and offset are not "
                               "supported (TFLite Micro ignores them)")
    begin, end, strides = (_const_ints(graph, op, op.inputs[k], name, rank)
                           for k, name in ((1, "begin"), (2, "end"), (3, "strides")))
    if 0 in strides:
        raise UnsupportedError(f"STRIDED_SLICE (op {op.index}): a zero stride")
    pad = 4 - rank  # StridedSlicePadIndices: leading dims take [0, 1) with both masks set
    shape = [1] * pad + list(x.shape)
    begin, end, strides = [0] * pad + begin, [1] * pad + end, [1] * pad + strides
    begin_mask = (o.get("beginMask", 0) << pad) | ((1 << pad) - 1)
    end_mask = (o.get("endMask", 0) << pad) | ((1 << pad) - 1)
    shrink = o.get("shrinkAxisMask", 0) << pad

    def clamp(v: int, lo: int, hi: int) -> int:
        return hi if v > hi else lo if v < lo else v
    start, count = [], []
    for k in range(4):
        size, stride = shape[k], strides[k]
        s = begin[k] + size if begin[k] < 0 else begin[k]
        s = clamp(s, 0, size) if stride > 0 else clamp(s, -1, size - 1)
        if begin_mask & (1 << k):
            s = 0 if stride > 0 else size - 1
        if shrink & (1 << k):
            e = s if s >= size else s + 1
        else:
            e = end[k] + size if end[k] < 0 else end[k]
            e = clamp(e, 0, size) if stride > 0 else clamp(e, -1, size - 1)
            if end_mask & (1 << k):
                e = size if stride > 0 else -1
        n = -(-(e - s) // stride) if stride > 0 else -(-(s - e) // -stride)
        start.append(s)
        count.append(max(n, 0))
    return _slice_call(graph, op, x, out, start, count, strides, variant)


def _slice(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """SLICE: begin and size (-1: to the end), constant."""
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    rank = len(x.shape)
    if rank > 4:
        raise UnsupportedError(f"SLICE (op {op.index}): a rank-{rank} input (up to 4 dims)")
    t = graph.tensor(op.inputs[1])
    if t.data is None or t.dtype not in ("int32", "int64"):
        raise UnsupportedError(f"SLICE (op {op.index}): begin must be constant")
    begin = [int(v) for v in np.asarray(t.data).ravel()]
    t = graph.tensor(op.inputs[2])
    if t.data is None or t.dtype not in ("int32", "int64"):
        raise UnsupportedError(f"SLICE (op {op.index}): size must be constant")
    size = [int(v) for v in np.asarray(t.data).ravel()]
    count = [x.shape[k] - begin[k] if size[k] == -1 else size[k] for k in range(rank)]
    if any(b < 0 or b + c > x.shape[k] for k, (b, c) in enumerate(zip(begin, count))):
        raise UnsupportedError(f"SLICE (op {op.index}): begin {begin} size {size} outside the input {x.shape}")
    pad = 4 - rank
    return _slice_call(graph, op, x, out, [0] * pad + begin, [1] * pad + count, [1] * 4, variant)


def _softmax(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    x, out = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    so, zo = _q(out)
    if zo != -128 or abs(so - 1 / 256) > 1e-3 * (1 / 256):
        raise UnsupportedError(f"SOFTMAX (op {op.index}): int8 output must have scale 1/256 and zero point -128")
    multiplier, left_shift, diff_min = tflite_math.softmax_params(op.options.get("beta", 1.0), _q(x)[0])
    depth = x.shape[-1]
    params = {"rows": int(np.prod(x.shape)) // depth, "depth": depth, "input_multiplier": multiplier,
              "input_left_shift": left_shift, "diff_min": diff_min}
    return KernelCall(op, kernels.select("ek_softmax_s8", variant), params, [x.index], out.index)


def mean_loops(shape: tuple[int, ...], axes: list[int]) -> dict[str, tuple[int, ...]]:
    """The loops of ek_mean_params over an input of `shape` reduced along `axes` (resolved, no duplicates): the
    kept dims in their order and the reduced ones, each with its input stride, size-1 dims dropped, neighbours of
    the same kind merged (the H, W of NHWC into one loop), left-padded to 4 loops of count 1."""
    strides = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]
    groups: dict[bool, list[list[int]]] = {False: [], True: []}  # reduced? -> [count, stride]
    last = None
    for k, size in enumerate(shape):
        if size == 1:
            continue
        reduced = k in axes
        loops = groups[reduced]
        if last == reduced and loops and loops[-1][1] == size * strides[k]:
            loops[-1] = [loops[-1][0] * size, strides[k]]
        else:
            loops.append([int(size), strides[k]])
        last = reduced
    out = {}
    for reduced, name in ((False, "keep"), (True, "reduce")):
        loops = [[1, 0]] * (4 - len(groups[reduced])) + groups[reduced]
        out[f"{name}_count"] = tuple(c for c, _ in loops)
        out[f"{name}_stride"] = tuple(s for _, s in loops)
    return out


def _mean(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """MEAN over any constant axes of a tensor of up to 4 dims (TFLite's ResolveAxis: negative axes count from
    the end, duplicates once)."""
    x, axes_t, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    rank = len(x.shape)
    if axes_t.data is None:
        raise UnsupportedError(f"MEAN (op {op.index}): the axes are not constant")
    if rank > 4:
        raise UnsupportedError(f"MEAN (op {op.index}) of a rank-{rank} tensor; the MCU kernel takes up to 4 dims")
    raw = [int(a) for a in np.asarray(axes_t.data).ravel()]
    if any(not -rank <= a < rank for a in raw):
        raise UnsupportedError(f"MEAN (op {op.index}): axes {raw} outside a rank-{rank} tensor")
    axes = sorted({a % rank for a in raw})
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if count == 0 or int(np.prod(out.shape, dtype=np.int64)) != int(np.prod(x.shape, dtype=np.int64)) // count:
        raise UnsupportedError(f"MEAN (op {op.index}): output {out.shape} does not fit input {x.shape} reduced "
                               f"along {axes}")
    (si, zi), (so, zo) = _q(x), _q(out)
    # TFLite Micro's int8 MEAN is QuantizedMeanOrSum whatever the quantization (equal scales too: multiplier 1.0)
    multiplier, shift = tflite_math.mean_multiplier(si, so, count)
    params = {**mean_loops(tuple(x.shape), axes), "input_zero_point": zi, "output_zero_point": zo,
              "multiplier": multiplier, "shift": shift}
    return KernelCall(op, kernels.select("ek_mean_s8", variant), params, [x.index], out.index)


def _transpose_conv(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """TRANSPOSE_CONV (inputs: output shape, OHWI weights, input, optional bias): TFLite Micro's Prepare computes
    the padding from the output size as a convolution's over that size (ComputePaddingHeightWidth) and the
    per-channel requantization as CONV_2D's."""
    shape_t, w, x, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.inputs[2], op.outputs[0]))
    _require_int8(graph, op, [x.index, w.index, out.index])
    if w.data is None:
        raise UnsupportedError(f"TRANSPOSE_CONV (op {op.index}): weights are not constant")
    if len(x.shape) != 4 or len(out.shape) != 4 or len(w.shape) != 4:
        raise UnsupportedError(f"TRANSPOSE_CONV (op {op.index}): expected 4-D NHWC tensors")
    if shape_t.data is not None and [int(v) for v in np.asarray(shape_t.data).ravel()] != list(out.shape):
        raise UnsupportedError(f"TRANSPOSE_CONV (op {op.index}): output_shape {np.asarray(shape_t.data).tolist()} "
                               f"differs from the output tensor's {list(out.shape)}")
    out_c, kh, kw, in_c = w.shape
    if in_c != x.shape[3] or out_c != out.shape[3] or x.shape[0] != out.shape[0]:
        raise UnsupportedError(f"TRANSPOSE_CONV (op {op.index}): weights {w.shape} do not fit input {x.shape} and "
                               f"output {out.shape}")
    o = op.options
    sh, sw = o["strideH"], o["strideW"]
    pads = {}
    for (before, after), size, k, s in ((("pad_top", "pad_bottom"), out.shape[1], kh, sh),
                                        (("pad_left", "pad_right"), out.shape[2], kw, sw)):
        pads[before], pads[after] = tflite_math.padding(s, 1, size, k, tflite_math.out_size(o["padding"], size, k, s))
    out_scale, out_zp = _q(out)
    _, in_zp = _q(x)
    act_min, act_max = tflite_math.activation_range(o.get("fusedActivationFunction", 0), out_scale, out_zp)
    kernel = kernels.select("ek_transpose_conv_s8", variant)
    prefix = f"op{op.index}"
    params = {"input": _dims(x.shape), "filter": _dims(w.shape), "output": _dims(out.shape), "stride_h": sh,
              "stride_w": sw, "dilation_h": 1, "dilation_w": 1, **pads, "depth_multiplier": 1,
              "input_offset": -in_zp, "output_offset": out_zp, "act_min": act_min, "act_max": act_max,
              "multiplier": f"{prefix}_multiplier", "shift": f"{prefix}_shift"}
    arrays = _per_channel(graph, op, x, w, out, out_c, prefix)
    bias = _bias(graph, op, op.inputs[3] if len(op.inputs) > 3 else -1, out_c)
    arrays += _weights_and_bias(kernel, params, w.data, bias, prefix)
    macs = int(np.prod(x.shape, dtype=np.int64)) * kh * kw * out_c
    return KernelCall(op, kernel, params, [x.index], out.index, arrays, macs=macs)


def _indices_operand(graph: Graph, op: Op, t: Tensor, bound: int, arrays: list[ConstArray]) -> int | str:
    """GATHER's / EMBEDDING_LOOKUP's int32 indices: a tensor of the graph, or a constant array of the call
    (checked against the axis here; the kernel checks a tensor's at run time)."""
    if t.dtype != "int32":
        raise UnsupportedError(f"{op.kind} (op {op.index}): {t.dtype} indices; the MCU kernel takes int32 (as TFLite "
                               "Micro does)")
    if t.data is None:
        return t.index
    values = np.asarray(t.data).astype(np.int64).ravel()
    if values.size and (values.min() < 0 or values.max() >= bound):
        raise UnsupportedError(f"{op.kind} (op {op.index}): an index outside [0, {bound})")
    arrays.append(ConstArray(f"op{op.index}_indices", "int32_t", values))
    return f"op{op.index}_indices"


def _gather_call(graph: Graph, op: Op, values: Tensor, indices: Tensor, out: Tensor, axis: int, batch_dims: int,
                 variant: Variant) -> KernelCall:
    _require_int8(graph, op, [values.index, out.index])
    shape, coords = list(values.shape), list(indices.shape)
    arrays: list[ConstArray] = []
    inputs = [_operand(graph, op, values, "values", arrays),
              _indices_operand(graph, op, indices, shape[axis], arrays)]
    params = {"batches": int(np.prod(shape[:batch_dims], dtype=np.int64)),
              "outer": int(np.prod(shape[batch_dims:axis], dtype=np.int64)), "axis_size": shape[axis],
              "coords": int(np.prod(coords[batch_dims:], dtype=np.int64)),
              "inner": int(np.prod(shape[axis + 1:], dtype=np.int64))}
    size = params["batches"] * params["outer"] * params["coords"] * params["inner"]
    if size != int(np.prod(out.shape, dtype=np.int64)):
        raise UnsupportedError(f"{op.kind} (op {op.index}): output {out.shape} does not fit values {values.shape} "
                               f"and indices {indices.shape}")
    return KernelCall(op, kernels.select("ek_gather_s8", variant), params, inputs, out.index, arrays)


def _gather(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """GATHER (axis, batch_dims; int8 values, int32 indices): TFLite Micro's GatherPrepare rules."""
    values, indices, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    rank, coords_rank = len(values.shape), len(indices.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    batch_dims = int(op.options.get("batchDims", 0))
    batch_dims = batch_dims + coords_rank if batch_dims < 0 else batch_dims
    if not 0 <= axis < rank or not 0 <= batch_dims <= min(axis, coords_rank) or batch_dims >= rank or \
            list(values.shape[:batch_dims]) != list(indices.shape[:batch_dims]):
        raise UnsupportedError(f"GATHER (op {op.index}): axis {axis} / batch_dims {batch_dims} do not fit values "
                               f"{values.shape} and indices {indices.shape} (TFLite Micro rejects them)")
    return _gather_call(graph, op, values, indices, out, axis, batch_dims, variant)


def _embedding_lookup(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    """EMBEDDING_LOOKUP (ids: 1-D int32, table: int8 rows): a GATHER along axis 0. TFLite Micro also takes a float
    table (or an int8 one with a float output, dequantized): the MCU path runs int8 only."""
    ids, table, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if table.dtype != "int8" or out.dtype != "int8":
        raise UnsupportedError(f"EMBEDDING_LOOKUP (op {op.index}): a {table.dtype} table with a {out.dtype} output; "
                               "the MCU kernel looks up int8 rows (the quantizer left the embedding in float)",
                               "quantize the embedding table to int8 (int8 table and output)")
    if len(ids.shape) != 1 or len(table.shape) < 2:
        raise UnsupportedError(f"EMBEDDING_LOOKUP (op {op.index}): ids {ids.shape} must be 1-D and the table "
                               f"{table.shape} at least 2-D (TFLite Micro requires it)")
    return _gather_call(graph, op, table, ids, out, 0, 0, variant)


def _transpose(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    x, perm_t, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
    _require_int8(graph, op, [x.index, out.index])
    if perm_t.data is None or len(x.shape) > 4:
        raise UnsupportedError(f"TRANSPOSE (op {op.index}): needs a constant permutation of up to 4 dims")
    pad = 4 - len(x.shape)
    perm = list(range(pad)) + [int(p) + pad for p in np.asarray(perm_t.data).ravel()]
    shape = [1] * pad + list(x.shape)
    params = {"in_shape": tuple(shape), "perm": tuple(perm)}
    return KernelCall(op, kernels.select("ek_transpose_s8", variant), params, [x.index], out.index)


_LOWER: dict[str, Callable[[Graph, Op, bool], KernelCall]] = {
    "CONV_2D": lambda g, op, variant: _conv_like(g, op, variant, depthwise=False),
    "DEPTHWISE_CONV_2D": lambda g, op, variant: _conv_like(g, op, variant, depthwise=True),
    "FULLY_CONNECTED": _fully_connected,
    "MAX_POOL_2D": lambda g, op, variant: _pool(g, op, "ek_max_pool2d_s8", variant),
    "AVERAGE_POOL_2D": lambda g, op, variant: _pool(g, op, "ek_avg_pool2d_s8", variant),
    "ADD": _add_sub,
    "SUB": _add_sub,
    "MUL": _mul,
    "SOFTMAX": _softmax,
    "MEAN": _mean,
    "TRANSPOSE": _transpose,
    "PAD": _pad,
    "PADV2": _pad,
    "HARD_SWISH": _table_op,
    "LOGISTIC": _table_op,
    "TANH": _table_op,
    "QUANTIZE": _table_op,
    "DEQUANTIZE": _dequantize,
    "CONCATENATION": _concatenation,
    "STRIDED_SLICE": _strided_slice,
    "SLICE": _slice,
    "TRANSPOSE_CONV": _transpose_conv,
    "GATHER": _gather,
    "EMBEDDING_LOOKUP": _embedding_lookup,
}

SUPPORTED_OPS = tuple(k for k in _LOWER if k != "DEQUANTIZE") + ALIAS_OPS


def lower_op(graph: Graph, op: Op, variant: Variant) -> KernelCall:
    if op.kind not in _LOWER:
        raise UnsupportedError(f"op {op.kind} (op {op.index}) has no MCU kernel",
                               f"supported: {', '.join(SUPPORTED_OPS)}")
    return _LOWER[op.kind](graph, op, variant)
