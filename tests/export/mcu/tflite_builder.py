"""Write small full-INT8 .tflite files op by op with the flatbuffer object API (no converter): the converter
leaves ADD, pooling, MEAN and SOFTMAX in float for channels-first models, so kernels for those are tested on
models built here, with TFLite Micro as the reference."""
from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np

from edgekit.export.tflite_flatbuffer import schema

S = schema()
_TYPES = {np.int8: S.TensorType.INT8, np.int32: S.TensorType.INT32}


class Builder:
    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: list = []
        self.buffers: list = [S.BufferT()]  # buffer 0: the empty sentinel
        self.ops: list = []
        self.codes: list[int] = []

    def tensor(self, shape, dtype=np.int8, scale=None, zero_point=0, data=None, axis=0) -> int:
        t = S.TensorT()
        t.shape, t.type, t.name = list(shape), _TYPES[dtype], f"t{len(self.tensors)}"
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = list(np.atleast_1d(np.asarray(scale, np.float32)))
            q.zeroPoint = [int(zero_point)] * len(q.scale)
            q.quantizedDimension = axis
            t.quantization = q
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def weights(self, shape, scales, axis=0) -> int:
        return self.tensor(shape, np.int8, scales, 0, self.rng.integers(-127, 128, shape), axis)

    def bias(self, n, scale=1e-4) -> int:
        return self.tensor([n], np.int32, [scale] * n, 0, self.rng.integers(-3000, 3000, n))

    def op(self, builtin: int, inputs, outputs, options_type=0, options=None) -> None:
        if builtin not in self.codes:
            self.codes.append(builtin)
        o = S.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(builtin), list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.ops.append(o)

    def save(self, path: Path, inputs, outputs, signature=None) -> Path:
        """signature: (input keys, output keys), one per subgraph input / output in their order (as litert-torch
        writes args_<i> and output_<k>); None writes no signature."""
        sub = S.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs = self.tensors, self.ops, list(inputs), list(outputs)
        model = S.ModelT()
        model.version, model.subgraphs, model.buffers = 3, [sub], self.buffers
        if signature is not None:
            def entries(keys, tensors):
                out = []
                for key, t in zip(keys, tensors):
                    e = S.TensorMapT()
                    e.name, e.tensorIndex = key, t
                    out.append(e)
                return out
            sig = S.SignatureDefT()
            sig.inputs, sig.outputs = entries(signature[0], inputs), entries(signature[1], outputs)
            sig.signatureKey, sig.subgraphIndex = "serving_default", 0
            model.signatureDefs = [sig]
        model.operatorCodes = []
        for c in self.codes:
            code = S.OperatorCodeT()
            code.builtinCode, code.deprecatedBuiltinCode, code.version = c, min(c, 127), 1
            model.operatorCodes.append(code)
        b = flatbuffers.Builder(1024)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
        Path(path).write_bytes(bytes(b.Output()))
        return Path(path)


def conv_options(padding, stride, act):
    o = S.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.fusedActivationFunction = padding, stride, stride, act
    o.dilationHFactor = o.dilationWFactor = 1
    return S.BuiltinOptions.Conv2DOptions, o


def depthwise_options(padding, stride, multiplier, act):
    o = S.DepthwiseConv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.depthMultiplier, o.fusedActivationFunction = padding, stride, stride, multiplier, act
    o.dilationHFactor = o.dilationWFactor = 1
    return S.BuiltinOptions.DepthwiseConv2DOptions, o


def pool_options(padding, stride, size, act=0):
    o = S.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth, o.fusedActivationFunction = (
        padding, stride, stride, size, size, act)
    return S.BuiltinOptions.Pool2DOptions, o


def ops_model(path: Path) -> Path:
    """input 1x9x9x4 -> CONV 3x3/2 SAME relu6 -> DEPTHWISE x2 relu -> ADD(x, CONV 1x1(x)) -> AVG_POOL 3x3/2 SAME
    -> MAX_POOL 2x2/1 VALID -> MEAN(H, W) requantized -> FULLY_CONNECTED (per-tensor) -> SOFTMAX."""
    b = Builder()
    BO, OP = S.BuiltinOptions, S.BuiltinOperator
    x = b.tensor([1, 9, 9, 4], scale=0.02, zero_point=-3)
    c1 = b.tensor([1, 5, 5, 8], scale=0.03, zero_point=-128)
    b.op(OP.CONV_2D, [x, b.weights([8, 3, 3, 4], b.rng.uniform(0.004, 0.01, 8)), b.bias(8)], [c1],
         *conv_options(S.Padding.SAME, 2, S.ActivationFunctionType.RELU6))
    d1 = b.tensor([1, 5, 5, 16], scale=0.05, zero_point=-128)
    b.op(OP.DEPTHWISE_CONV_2D, [c1, b.weights([1, 3, 3, 16], b.rng.uniform(0.004, 0.01, 16), axis=3), b.bias(16)],
         [d1], *depthwise_options(S.Padding.SAME, 1, 2, S.ActivationFunctionType.RELU))
    p1 = b.tensor([1, 5, 5, 16], scale=0.04, zero_point=5)
    b.op(OP.CONV_2D, [d1, b.weights([16, 1, 1, 16], b.rng.uniform(0.004, 0.01, 16)), b.bias(16)], [p1],
         *conv_options(S.Padding.VALID, 1, S.ActivationFunctionType.NONE))
    a1 = b.tensor([1, 5, 5, 16], scale=0.07, zero_point=-10)
    add = S.AddOptionsT()
    add.fusedActivationFunction = S.ActivationFunctionType.NONE
    b.op(OP.ADD, [d1, p1], [a1], BO.AddOptions, add)
    ap = b.tensor([1, 3, 3, 16], scale=0.07, zero_point=-10)
    b.op(OP.AVERAGE_POOL_2D, [a1], [ap], *pool_options(S.Padding.SAME, 2, 3))
    mp = b.tensor([1, 2, 2, 16], scale=0.07, zero_point=-10)
    b.op(OP.MAX_POOL_2D, [ap], [mp], *pool_options(S.Padding.VALID, 1, 2))
    axes = b.tensor([2], np.int32, data=np.array([1, 2]))
    mean = b.tensor([1, 16], scale=0.03, zero_point=2)
    red = S.ReducerOptionsT()
    red.keepDims = False
    b.op(OP.MEAN, [mp, axes], [mean], BO.ReducerOptions, red)
    fc = b.tensor([1, 6], scale=0.1, zero_point=0)
    fco = S.FullyConnectedOptionsT()
    fco.fusedActivationFunction = S.ActivationFunctionType.NONE
    b.op(OP.FULLY_CONNECTED, [mean, b.weights([6, 16], [0.003]), b.bias(6, 3e-4)], [fc], BO.FullyConnectedOptions, fco)
    sm = b.tensor([1, 6], scale=1 / 256, zero_point=-128)
    smo = S.SoftmaxOptionsT()
    smo.beta = 1.0
    b.op(OP.SOFTMAX, [fc], [sm], BO.SoftmaxOptions, smo)
    return b.save(path, [x], [sm])


# --- PAD, broadcast ADD/SUB/MUL, HARD_SWISH, LOGISTIC, TANH, QUANTIZE, CONCATENATION, STRIDED_SLICE, SLICE ---

def ints(b: Builder, values) -> int:
    values = np.asarray(values, np.int32)
    return b.tensor(list(values.shape), np.int32, data=values)


def pad(b: Builder, x: int, pads, out_shape, scale, zero_point, value: int | None = None) -> int:
    """PAD (value None: the zero point) or PADV2 with a constant int8 value of the output's quantization."""
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    if value is None:
        b.op(S.BuiltinOperator.PAD, [x, ints(b, pads)], [y], S.BuiltinOptions.PadOptions, S.PadOptionsT())
    else:
        c = b.tensor([], np.int8, scale, zero_point, np.array(value, np.int8))
        b.op(S.BuiltinOperator.PADV2, [x, ints(b, pads), c], [y], S.BuiltinOptions.PadV2Options, S.PadV2OptionsT())
    return y


def conv(b: Builder, x: int, in_c: int, out_shape, k, stride, padding, scale, zero_point,
         act=S.ActivationFunctionType.NONE) -> int:
    kh, kw = (k, k) if isinstance(k, int) else k
    out_c = out_shape[3]
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    b.op(S.BuiltinOperator.CONV_2D, [x, b.weights([out_c, kh, kw, in_c], b.rng.uniform(0.004, 0.01, out_c)),
                                     b.bias(out_c)], [y], *conv_options(padding, stride, act))
    return y


def depthwise(b: Builder, x: int, channels: int, out_shape, k, stride, padding, scale, zero_point,
              act=S.ActivationFunctionType.NONE) -> int:
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    b.op(S.BuiltinOperator.DEPTHWISE_CONV_2D,
         [x, b.weights([1, k, k, channels], b.rng.uniform(0.01, 0.03, channels), axis=3), b.bias(channels)], [y],
         *depthwise_options(padding, stride, 1, act))
    return y


def binary(b: Builder, kind: str, x1: int, x2: int, out_shape, scale, zero_point,
           act=S.ActivationFunctionType.NONE) -> int:
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    options = getattr(S, f"{kind.capitalize()}OptionsT")()
    options.fusedActivationFunction = act
    b.op(getattr(S.BuiltinOperator, kind), [x1, x2], [y], getattr(S.BuiltinOptions, f"{kind.capitalize()}Options"),
         options)
    return y


def const(b: Builder, shape, scale, zero_point) -> int:
    return b.tensor(shape, np.int8, scale, zero_point, b.rng.integers(-128, 128, shape))


def unary(b: Builder, kind: str, x: int, shape, scale, zero_point) -> int:
    y = b.tensor(shape, scale=scale, zero_point=zero_point)
    b.op(getattr(S.BuiltinOperator, kind), [x], [y])
    return y


def concatenation(b: Builder, xs, axis: int, out_shape, scale, zero_point) -> int:
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    o = S.ConcatenationOptionsT()
    o.axis, o.fusedActivationFunction = axis, S.ActivationFunctionType.NONE
    b.op(S.BuiltinOperator.CONCATENATION, list(xs), [y], S.BuiltinOptions.ConcatenationOptions, o)
    return y


def strided_slice(b: Builder, x: int, begin, end, strides, out_shape, scale, zero_point, begin_mask=0, end_mask=0,
                  shrink=0) -> int:
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    o = S.StridedSliceOptionsT()
    o.beginMask, o.endMask, o.shrinkAxisMask = begin_mask, end_mask, shrink
    b.op(S.BuiltinOperator.STRIDED_SLICE, [x, ints(b, begin), ints(b, end), ints(b, strides)], [y],
         S.BuiltinOptions.StridedSliceOptions, o)
    return y


def slice_(b: Builder, x: int, begin, size, out_shape, scale, zero_point) -> int:
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    b.op(S.BuiltinOperator.SLICE, [x, ints(b, begin), ints(b, size)], [y], S.BuiltinOptions.SliceOptions,
         S.SliceOptionsT())
    return y


def reshape(b: Builder, x: int, shape, scale, zero_point) -> int:
    y = b.tensor(shape, scale=scale, zero_point=zero_point)
    o = S.ReshapeOptionsT()
    o.newShape = list(shape)
    b.op(S.BuiltinOperator.RESHAPE, [x, ints(b, shape)], [y], S.BuiltinOptions.ReshapeOptions, o)
    return y


PAD_INPUT = (1, 49, 10, 1)


def pad_model(path: Path) -> Path:
    """PAD and PADV2, folded and not. input 1x49x10x1 (MLPerf Tiny KWS DS-CNN's MFCC shape)
    -> PAD H (4, 5) W (1, 1) -> CONV 10x4 /2 VALID relu (folded: TF 'SAME' written out, asymmetric)
    -> PADV2 H (1, 0) W (0, 2) value = zero point -> DEPTHWISE 3x3 SAME (folded on top of SAME)
    -> PAD channels (2, 1) -> CONV 1x1 (not folded: channels padded)
    -> PADV2 H/W by 1, value != zero point -> CONV 3x3 /2 VALID (not folded: the value)."""
    b = Builder(seed=3)
    Pd, Act = S.Padding, S.ActivationFunctionType
    x = b.tensor(PAD_INPUT, scale=0.02, zero_point=-5)
    p1 = pad(b, x, [[0, 0], [4, 5], [1, 1], [0, 0]], [1, 58, 12, 1], 0.02, -5)
    c1 = conv(b, p1, 1, [1, 25, 5, 8], (10, 4), 2, Pd.VALID, 0.03, -128, Act.RELU)
    p2 = pad(b, c1, [[0, 0], [1, 0], [0, 2], [0, 0]], [1, 26, 7, 8], 0.03, -128, value=-128)
    d1 = depthwise(b, p2, 8, [1, 26, 7, 8], 3, 1, Pd.SAME, 0.04, 6)
    p3 = pad(b, d1, [[0, 0], [0, 0], [0, 0], [2, 1]], [1, 26, 7, 11], 0.04, 6)
    c2 = conv(b, p3, 11, [1, 26, 7, 6], 1, 1, Pd.VALID, 0.05, -3)
    p4 = pad(b, c2, [[0, 0], [1, 1], [1, 1], [0, 0]], [1, 28, 9, 6], 0.05, -3, value=20)
    c3 = conv(b, p4, 6, [1, 13, 4, 5], 3, 2, Pd.VALID, 0.06, 4)
    return b.save(path, [x], [c3])


ELEMENTWISE_INPUT = (1, 8, 8, 8)  # 512 elements: ADD/SUB take their table path


def elementwise_model(path: Path) -> Path:
    """ADD/SUB/MUL same-shape and broadcast (constant vector, constant scalar first, per-pixel column, outer
    product, middle dimension), HARD_SWISH, LOGISTIC, TANH, QUANTIZE int8 -> int8, CONCATENATION (channels and
    flat), STRIDED_SLICE (negative stride), SLICE; the output holds the concatenation and both slices."""
    b = Builder(seed=5)
    Pd, Act = S.Padding, S.ActivationFunctionType
    shape = list(ELEMENTWISE_INPUT)
    x = b.tensor(shape, scale=0.05, zero_point=3)
    c = conv(b, x, 8, shape, 1, 1, Pd.VALID, 0.06, -2)
    a1 = binary(b, "ADD", x, c, shape, 0.03, -128, Act.RELU6)
    a2 = binary(b, "ADD", a1, const(b, [8], 0.02, 4), shape, 0.09, -4, Act.RELU)
    axes = ints(b, [1, 2])
    m = b.tensor([1, 1, 1, 8], scale=0.05, zero_point=0)
    red = S.ReducerOptionsT()
    red.keepDims = True
    b.op(S.BuiltinOperator.MEAN, [a2, axes], [m], S.BuiltinOptions.ReducerOptions, red)
    s1 = binary(b, "SUB", a2, m, shape, 0.07, 2)
    s2 = binary(b, "SUB", const(b, [], 0.03, -7), s1, shape, 0.07, -1)
    g = conv(b, x, 8, shape[:3] + [1], 1, 1, Pd.VALID, 0.1, 5)
    o = binary(b, "ADD", m, g, shape, 0.1, 0)
    mul1 = binary(b, "MUL", s2, g, shape, 0.15, -3)
    mul2 = binary(b, "MUL", mul1, o, shape, 0.8, 7)
    mul3 = binary(b, "MUL", mul2, const(b, [1, 1, shape[2], 1], 0.0005, 2), shape, 0.05, 0)
    h = unary(b, "HARD_SWISH", mul3, shape, 0.05, -100)
    lo = unary(b, "LOGISTIC", o, shape, 1 / 256, -128)
    t = unary(b, "TANH", s1, shape, 1 / 128, 0)
    ql = unary(b, "QUANTIZE", lo, shape, 0.05, -100)
    qt = unary(b, "QUANTIZE", t, shape, 0.05, -100)
    cat = concatenation(b, [h, ql, qt], 3, shape[:3] + [24], 0.05, -100)
    sl = strided_slice(b, cat, [0, 1, -1, 2], [1, 6, 0, 24], [1, 2, -2, 3], [1, 3, 4, 8], 0.05, -100)
    sl2 = slice_(b, cat, [0, 2, 1, 0], [1, -1, 3, 5], [1, 6, 3, 5], 0.05, -100)
    flat = [reshape(b, v, [1, n], 0.05, -100) for v, n in ((cat, 1536), (sl, 96), (sl2, 90))]
    out = concatenation(b, flat, 1, [1, 1722], 0.05, -100)
    return b.save(path, [x], [out])
