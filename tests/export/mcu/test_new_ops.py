"""Broadcast ADD/SUB/MUL, the table ops (HARD_SWISH, LOGISTIC, TANH, QUANTIZE), CONCATENATION and the slices,
lowered and run on this host (kernels and generated model.c compiled with the host C compiler): byte for byte
equal to TFLite Micro. The same model runs on the emulated cores in test_new_ops_qemu.py."""
import numpy as np
import pytest

from edgekit.errors import UnsupportedError
from edgekit.export.mcu import tflm
from edgekit.export.mcu.codegen import generate
from edgekit.export.mcu.lower import binary_shape
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb

S = tb.S
needs_cc = pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")


def _samples(shape, n=16, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape[1:])).astype(np.int8)


def _host_equals_tflm(tmp_path, model, input_shape, dsp, n=16):
    gen = generate(model, dsp=dsp)
    x = _samples(input_shape, n)
    got = host_run.run(host_run.build(gen, tmp_path / f"host{int(dsp)}", dsp), gen, x)
    expected = tflm.run_int8(model, x)
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} bytes differ"
    return gen, expected


@needs_cc
@pytest.mark.parametrize("dsp", [False, True])
def test_elementwise_model_bit_exact_on_host(tmp_path, dsp):
    model = tb.elementwise_model(tmp_path / "ew.tflite")
    gen, expected = _host_equals_tflm(tmp_path, model, tb.ELEMENTWISE_INPUT, dsp)
    assert {"ek_add_s8", "ek_sub_s8", "ek_mul_s8", "ek_lut_s8", "ek_concat_s8", "ek_slice_s8"} <= \
        {c.kernel.name for c in gen.plan.calls}
    assert all(c.params["input1_table"] is not None for c in gen.plan.calls
               if c.kernel.name in ("ek_add_s8", "ek_sub_s8"))
    assert len(np.unique(expected)) > 40


@needs_cc
def test_add_sub_without_tables_bit_exact(tmp_path):
    """Below ADD_TABLE_MIN_ELEMENTS the rescaled inputs are computed per element (three requantizations)."""
    b = tb.Builder(seed=8)
    shape = [1, 4, 5, 6]
    x = b.tensor(shape, scale=0.05, zero_point=3)
    a = tb.binary(b, "ADD", x, tb.const(b, [6], 0.02, 4), shape, 0.08, 1)
    m = tb.binary(b, "SUB", tb.const(b, [1, 4, 1, 1], 0.03, -2), a, shape, 0.07, -5, S.ActivationFunctionType.RELU)
    out = tb.binary(b, "ADD", m, x, shape, 0.09, 2)
    gen, _ = _host_equals_tflm(tmp_path, b.save(tmp_path / "small.tflite", [x], [out]), shape, dsp=False, n=64)
    assert all(c.params["input1_table"] is None for c in gen.plan.calls)


def test_binary_shape_merges_dimensions():
    same = binary_shape((1, 6, 5, 8), (1, 6, 5, 8), (1, 6, 5, 8))
    assert same["broadcast"] == 0 and same["size"] == 240
    vec = binary_shape((1, 6, 5, 8), (8,), (1, 6, 5, 8))  # per-channel: H and W merge into one loop
    assert (vec["shape"], vec["stride1"], vec["stride2"]) == ((1, 1, 30, 8), (0, 0, 8, 1), (0, 0, 0, 1))
    scalar = binary_shape((), (1, 6, 5, 8), (1, 6, 5, 8))
    assert (scalar["shape"], scalar["stride1"], scalar["stride2"]) == ((1, 1, 1, 240), (0, 0, 0, 0), (0, 0, 0, 1))
    outer = binary_shape((1, 1, 1, 8), (1, 6, 5, 1), (1, 6, 5, 8))
    assert (outer["shape"], outer["stride1"], outer["stride2"]) == ((1, 1, 30, 8), (0, 0, 0, 1), (0, 0, 1, 0))
    five = binary_shape((2, 3, 1, 1, 4), (2, 3, 5, 7, 4), (2, 3, 5, 7, 4))  # rank 5 that fits 4 loops
    assert (five["shape"], five["stride1"], five["stride2"]) == ((1, 6, 35, 4), (0, 4, 0, 1), (0, 140, 4, 1))
    with pytest.raises(UnsupportedError):
        binary_shape((2, 1, 2, 1, 2), (1, 2, 1, 2, 1), (2, 2, 2, 2, 2))  # 5 alternating groups
    with pytest.raises(UnsupportedError):
        binary_shape((3,), (4,), (4,))


def _slice_cases():
    """(begin, end, strides, begin_mask, end_mask, shrink) on a 1x7x6x5 input; numpy slicing gives the shape."""
    rng = np.random.default_rng(7)
    shape = (1, 7, 6, 5)
    cases = [([0, 1, -1, 2], [1, 6, 0, 5], [1, 2, -2, 1], 0, 0, 0),
             ([0, 0, 0, 0], [1, 7, 6, 5], [1, 1, 1, 1], 0, 0, 0),
             ([0, 3, 0, 0], [1, 4, 6, 5], [1, 1, 1, 1], 0, 0, 0b0010),          # shrink H
             ([0, -100, 100, 1], [1, 100, -100, 4], [1, 3, -1, 2], 0, 0, 0)]     # clamped both ways
    while len(cases) < 200:
        begin = [0] + [int(rng.integers(-s - 2, s + 2)) for s in shape[1:]]
        end = [1] + [int(rng.integers(-s - 2, s + 2)) for s in shape[1:]]
        strides = [1] + [int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in shape[1:]]
        bm, em, sh = (int(rng.integers(0, 16)) & 0b1110 for _ in range(3))
        sh &= ~(bm | em) & 0b0110
        strides = [1 if sh & (1 << k) else v for k, v in enumerate(strides)]  # what converters write for x[i]
        cases.append((begin, end, strides, bm, em, sh))
    out = []
    ref = np.arange(np.prod(shape)).reshape(shape)
    for begin, end, strides, bm, em, sh in cases:
        if len(out) == 24:
            break
        idx = []
        for k in range(4):
            if sh & (1 << k):
                b = begin[k] + shape[k] if begin[k] < 0 else begin[k]
                if not 0 <= b < shape[k]:
                    break
                idx.append(b)
            else:
                idx.append(slice(None if bm & (1 << k) else begin[k], None if em & (1 << k) else end[k], strides[k]))
        else:
            if ref[tuple(idx)].size:
                out.append((begin, end, strides, bm, em, sh, ref[tuple(idx)].shape))
    return shape, out


@needs_cc
def test_strided_slices_bit_exact(tmp_path):
    """Many STRIDED_SLICE configurations (negative indices and strides, masks, shrink, clamping) in one model."""
    shape, cases = _slice_cases()
    assert len(cases) == 24
    b = tb.Builder()
    x = b.tensor(shape, scale=0.1, zero_point=0)
    flat = []
    for begin, end, strides, bm, em, sh, out_shape in cases:
        s = tb.strided_slice(b, x, begin, end, strides, list(out_shape), 0.1, 0, bm, em, sh)
        n = int(np.prod(out_shape))
        flat.append((tb.reshape(b, s, [1, n], 0.1, 0), n))
    groups = [flat[i:i + 8] for i in range(0, len(flat), 8)]  # TFLite Micro concatenates up to 10 inputs
    parts = [(tb.concatenation(b, [f for f, _ in g], 1, [1, sum(n for _, n in g)], 0.1, 0), sum(n for _, n in g))
             for g in groups]
    out = tb.concatenation(b, [f for f, _ in parts], 1, [1, sum(n for _, n in parts)], 0.1, 0)
    model = b.save(tmp_path / "slices.tflite", [x], [out])
    # an arange input makes every slice's indices visible, and numpy's slicing is TFLite's
    x_arange = (np.arange(np.prod(shape)) % 256 - 128).astype(np.int8).reshape((1, *shape[1:]))
    gen = generate(model, dsp=False)
    got = host_run.run(host_run.build(gen, tmp_path / "h", False), gen, x_arange)
    assert np.array_equal(got, tflm.run_int8(model, x_arange))
    expected = np.concatenate([x_arange.reshape(shape)[tuple(_np_index(c, shape))].ravel() for c in cases])
    assert np.array_equal(got.ravel(), expected)


def _np_index(case, shape):
    begin, end, strides, bm, em, sh, _ = case
    idx = []
    for k in range(4):
        if sh & (1 << k):
            idx.append(begin[k] + shape[k] if begin[k] < 0 else begin[k])
        else:
            idx.append(slice(None if bm & (1 << k) else begin[k], None if em & (1 << k) else end[k], strides[k]))
    return idx


@needs_cc
def test_concatenation_requantizes_like_quantize_ops(tmp_path):
    """TFLite Micro rejects a CONCATENATION whose inputs are quantized differently; the MCU path requantizes each
    such input as a QUANTIZE op in front of it would: equal to TFLite Micro running that explicit form."""
    def model(path, explicit):
        b = tb.Builder(seed=2)
        x = b.tensor([1, 4, 4, 3], scale=0.05, zero_point=2)
        c = tb.conv(b, x, 3, [1, 4, 4, 5], 1, 1, S.Padding.VALID, 0.03, -9)
        t = tb.unary(b, "TANH", x, [1, 4, 4, 3], 1 / 128, 0)
        parts = [x, c, t]
        if explicit:
            parts = [x] + [tb.unary(b, "QUANTIZE", p, s, 0.05, 2) for p, s in ((c, [1, 4, 4, 5]), (t, [1, 4, 4, 3]))]
        out = tb.concatenation(b, parts, 3, [1, 4, 4, 11], 0.05, 2)
        return b.save(path, [x], [out])
    mixed, explicit = model(tmp_path / "mixed.tflite", False), model(tmp_path / "explicit.tflite", True)
    gen = generate(mixed, dsp=False)
    assert gen.plan.calls[-1].params["tables"] is not None
    x = _samples((1, 4, 4, 3))
    got = host_run.run(host_run.build(gen, tmp_path / "h", False), gen, x)
    assert np.array_equal(got, tflm.run_int8(explicit, x))


def test_float_edges_are_refused_with_a_reason(tmp_path):
    b = tb.Builder()
    x = b.tensor([1, 4], scale=0.1, zero_point=0)
    t = b.tensor([1, 4])
    b.tensors[t].type = S.TensorType.FLOAT32
    b.op(S.BuiltinOperator.DEQUANTIZE, [x], [t])
    model = b.save(tmp_path / "deq.tflite", [x], [t])
    with pytest.raises(UnsupportedError, match="DEQUANTIZE .*model output") as err:
        generate(model, dsp=False)
    assert "int8 outputs" in err.value.one_line()


def test_float_island_names_the_float_ops(tmp_path):
    b = tb.Builder()
    x = b.tensor([1, 4], scale=0.1, zero_point=0)
    f = b.tensor([1, 4])
    b.tensors[f].type = S.TensorType.FLOAT32
    b.op(S.BuiltinOperator.DEQUANTIZE, [x], [f])
    g = b.tensor([1, 4])
    b.tensors[g].type = S.TensorType.FLOAT32
    b.op(S.BuiltinOperator.ADD, [f, f], [g], S.BuiltinOptions.AddOptions, S.AddOptionsT())
    y = b.tensor([1, 4], scale=0.2, zero_point=0)
    b.op(S.BuiltinOperator.QUANTIZE, [g], [y])
    with pytest.raises(UnsupportedError, match="left ADD in float"):
        generate(b.save(tmp_path / "island.tflite", [x], [y]), dsp=False)


@needs_cc
def test_mean_with_equal_quantization_is_requantized_like_tflite_micro(tmp_path):
    """TFLite Micro's int8 MEAN always takes QuantizedMeanOrSum (a rounding requantization), also when input and
    output share scale and zero point (what the converter writes for x.mean(keepdim=True) + x)."""
    b = tb.Builder()
    x = b.tensor([1, 5, 7, 6], scale=0.05, zero_point=-7)
    m = b.tensor([1, 1, 1, 6], scale=0.05, zero_point=-7)
    red = S.ReducerOptionsT()
    red.keepDims = True
    b.op(S.BuiltinOperator.MEAN, [x, tb.ints(b, [1, 2])], [m], S.BuiltinOptions.ReducerOptions, red)
    out = tb.binary(b, "ADD", x, m, [1, 5, 7, 6], 0.08, 3)
    _host_equals_tflm(tmp_path, b.save(tmp_path / "mean.tflite", [x], [out]), (1, 5, 7, 6), dsp=False, n=32)
