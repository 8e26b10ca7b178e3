"""The operators sensor and audio models need: MEAN over any axes (the 1-D global pool), TRANSPOSE_CONV (a U-Net's
upsampling), GATHER and EMBEDDING_LOOKUP (int8 rows, int32 indices). Lowered and run on this host (kernels and
generated model.c compiled with the host C compiler): byte for byte equal to TFLite Micro. The 1-D CNN and the
U-Net run on the emulated Cortex-M4 in test_sensor_models_qemu.py."""
import ctypes

import numpy as np
import pytest

from edgekit.errors import UnsupportedError
from edgekit.export.mcu import kernels, tflm
from edgekit.export.mcu.codegen import generate
from edgekit.export.mcu.graph import load_graph
from edgekit.export.mcu.lower import lower_op, mean_loops
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb

S = tb.S
OP, BO = S.BuiltinOperator, S.BuiltinOptions
needs_cc = pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")


def _samples(shape, n, seed=0):
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape[1:])).astype(np.int8)


def _host_equals_tflm(tmp_path, model, input_shape, n=8):
    """Every output of `model` (one int8 input) on this host equals TFLite Micro's (these kernels have no DSP
    variant: a DSP build runs the same ones)."""
    x = _samples(input_shape, n)
    expected = tflm.run_int8_many(model, [x])
    gen = generate(model, dsp=False)
    got = host_run.run_many(host_run.build(gen, tmp_path / "host", False), gen, [x])
    for k, (g, e) in enumerate(zip(got, expected)):
        assert np.array_equal(g.ravel(), e.ravel()), f"output {k}: {int((g != e).sum())} bytes differ"
    return gen, expected


def _mean(b, x, axes, out_shape, scale, zero_point, keep_dims):
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    red = S.ReducerOptionsT()
    red.keepDims = keep_dims
    b.op(OP.MEAN, [x, tb.ints(b, axes)], [y], BO.ReducerOptions, red)
    return y


MEAN_INPUT = (1, 3, 8, 6)
MEAN_CASES = [  # (view of the input, axes, keep_dims)
    ((1, 3, 8, 6), [1, 2], True), ((1, 3, 8, 6), [3], False), ((1, 3, 8, 6), [0, 2], False),
    ((1, 3, 8, 6), [-1, 1], True), ((1, 3, 8, 6), [0, 1, 2, 3], True), ((1, 3, 8, 6), [2, 2], False),
    ((3, 8, 6), [2], False), ((3, 8, 6), [0], True), ((3, 8, 6), [1], False), ((3, 8, 6), [0, 2], False),
    ((24, 6), [0], False), ((24, 6), [1], True), ((1, 144), [-1], False)]


@needs_cc
def test_mean_over_any_axes_bit_exact(tmp_path):
    """MEAN over every kind of axes of rank-2/3/4 views of one input, each output quantized its own way (one of
    them as its input, the converter's x.mean(keepdim=True) + x case)."""
    b = tb.Builder()
    rng = np.random.default_rng(4)
    x = b.tensor(MEAN_INPUT, scale=0.05, zero_point=-7)
    outputs = []
    for k, (view, axes, keep) in enumerate(MEAN_CASES):
        v = x if view == MEAN_INPUT else tb.reshape(b, x, list(view), 0.05, -7)
        resolved = {a % len(view) for a in axes}
        out_shape = [1 if d in resolved else n for d, n in enumerate(view) if keep or d not in resolved]
        scale, zp = (0.05, -7) if k == 0 else (float(rng.uniform(0.004, 0.03)), int(rng.integers(-20, 20)))
        outputs.append(_mean(b, v, axes, out_shape, scale, zp, keep))
    model = b.save(tmp_path / "means.tflite", [x], outputs)
    gen, expected = _host_equals_tflm(tmp_path, model, MEAN_INPUT, n=16)
    assert [c.kernel.name for c in gen.plan.calls] == ["ek_mean_s8"] * len(MEAN_CASES)
    assert all(len(np.unique(e)) > 3 for e in expected[1:4])


def test_mean_loops_merge_neighbours():
    nhwc = mean_loops((1, 5, 7, 6), [1, 2])  # the global pool: one reduced loop of H * W, stride C
    assert (nhwc["keep_count"], nhwc["keep_stride"]) == ((1, 1, 1, 6), (0, 0, 0, 1))
    assert (nhwc["reduce_count"], nhwc["reduce_stride"]) == ((1, 1, 1, 35), (0, 0, 0, 6))
    time = mean_loops((1, 32, 40), [2])  # the 1-D pool of a Conv1d model (NCL)
    assert (time["keep_count"], time["reduce_count"], time["reduce_stride"]) == ((1, 1, 1, 32), (1, 1, 1, 40),
                                                                                 (0, 0, 0, 1))
    apart = mean_loops((2, 3, 4, 5), [0, 2])  # kept dims apart from each other stay apart
    assert (apart["keep_count"], apart["keep_stride"]) == ((1, 1, 3, 5), (0, 0, 20, 1))
    assert (apart["reduce_count"], apart["reduce_stride"]) == ((1, 1, 2, 4), (0, 0, 60, 5))


def test_mean_refusals_name_the_limit(tmp_path):
    b = tb.Builder()
    x = b.tensor([1, 2, 2, 2, 3], scale=0.1, zero_point=0)
    y = _mean(b, x, [4], [1, 2, 2, 2], 0.1, 0, False)
    with pytest.raises(UnsupportedError, match=r"MEAN \(op 0\) of a rank-5 tensor; the MCU kernel takes up to 4"):
        generate(b.save(tmp_path / "m5.tflite", [x], [y]), dsp=False)


def _transpose_conv(b, x, in_c, out_shape, k, stride, padding, scale, zero_point, act=0, bias=True,
                    per_channel=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    out_c = out_shape[3]
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    scales = b.rng.uniform(0.004, 0.01, out_c) if per_channel else [0.007]
    inputs = [tb.ints(b, out_shape), b.weights([out_c, kh, kw, in_c], scales)] + ([b.bias(out_c)] if bias else [])
    o = S.TransposeConvOptionsT()
    o.padding, o.strideH, o.strideW, o.fusedActivationFunction = padding, sh, sw, act
    b.op(OP.TRANSPOSE_CONV, inputs[:2] + [x] + inputs[2:], [y], BO.TransposeConvOptions, o)
    return y


TCONV_INPUT = (1, 5, 4, 6)


@needs_cc
def test_transpose_conv_bit_exact(tmp_path):
    """TRANSPOSE_CONV as a U-Net writes it (2x2 / 2 VALID) and otherwise: SAME and VALID, odd kernels, overlapping
    taps (3x3 / 2, 4x4 / 2), unequal strides, stride 1, an output larger than the taps reach (TFLite Micro takes
    the output_shape tensor as it is), fused RELU / RELU6, no bias, per-tensor weights."""
    Pd, Act = S.Padding, S.ActivationFunctionType
    b = tb.Builder(seed=6)
    x = b.tensor(TCONV_INPUT, scale=0.04, zero_point=-3)
    outs = [_transpose_conv(b, x, 6, [1, 10, 8, 8], 2, 2, Pd.VALID, 0.05, 2),
            _transpose_conv(b, x, 6, [1, 10, 8, 5], 3, 2, Pd.SAME, 0.06, -10, Act.RELU),
            _transpose_conv(b, x, 6, [1, 11, 9, 4], 3, 2, Pd.VALID, 0.05, 0, bias=False),
            _transpose_conv(b, x, 6, [1, 10, 8, 3], 4, 2, Pd.SAME, 0.08, 5, Act.RELU6, per_channel=False),
            _transpose_conv(b, x, 6, [1, 15, 4, 4], (3, 1), (3, 1), Pd.SAME, 0.05, -1),
            _transpose_conv(b, x, 6, [1, 5, 4, 7], 3, 1, Pd.SAME, 0.07, 3),
            _transpose_conv(b, x, 6, [1, 12, 10, 2], 2, 2, Pd.VALID, 0.05, 1)]
    model = b.save(tmp_path / "tconv.tflite", [x], outs)
    gen, expected = _host_equals_tflm(tmp_path, model, TCONV_INPUT)
    assert {c.kernel.name for c in gen.plan.calls} == {"ek_transpose_conv_s8"}
    assert all(len(np.unique(e)) > 20 for e in expected)


def _gather(b, values, indices, axis, out_shape, scale, zero_point, batch_dims=0):
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    o = S.GatherOptionsT()
    o.axis, o.batchDims = axis, batch_dims
    b.op(OP.GATHER, [values, indices], [y], BO.GatherOptions, o)
    return y


def _embedding_lookup(b, ids, table, out_shape, scale, zero_point):
    y = b.tensor(out_shape, scale=scale, zero_point=zero_point)
    b.op(OP.EMBEDDING_LOOKUP, [ids, table], [y])
    return y


GATHER_INPUT = (1, 6, 5, 4)


@needs_cc
def test_gather_and_embedding_lookup_with_constant_indices_bit_exact(tmp_path):
    """GATHER along each axis (repeated and reversed indices, 2-D indices, batch_dims 1) and EMBEDDING_LOOKUP of
    rows of an int8 activation."""
    b = tb.Builder()
    x = b.tensor(GATHER_INPUT, scale=0.1, zero_point=1)
    outs = [_gather(b, x, tb.ints(b, [5, 0, 2, 2]), 1, [1, 4, 5, 4], 0.1, 1),
            _gather(b, x, tb.ints(b, [[3, 1], [0, 3]]), 3, [1, 6, 5, 2, 2], 0.1, 1),
            _gather(b, x, tb.ints(b, [4, 3, 2, 1, 0]), -2, [1, 6, 5, 4], 0.1, 1),
            _gather(b, x, tb.ints(b, [[0, 0, 0]]), 0, [1, 3, 6, 5, 4], 0.1, 1),
            _gather(b, x, tb.ints(b, [[2, 5, 1]]), 1, [1, 3, 5, 4], 0.1, 1, batch_dims=1)]
    table = tb.reshape(b, x, [6, 20], 0.1, 1)
    outs.append(_embedding_lookup(b, tb.ints(b, [3, 3, 0, 5, 1]), table, [5, 20], 0.1, 1))
    model = b.save(tmp_path / "gather.tflite", [x], outs)
    gen, _ = _host_equals_tflm(tmp_path, model, GATHER_INPUT)
    assert {c.kernel.name for c in gen.plan.calls} == {"ek_gather_s8"}


@needs_cc
def test_embedding_lookup_of_token_ids_bit_exact(tmp_path):
    """Token ids (an int32 input) into a constant int8 table, the embedding of a text model: the kernel, called
    with the lowered parameters, gives TFLite Micro's rows; an id outside the table is BAD_ARG (TFLite Micro fails
    on it too). A GATHER of the same table along axis 0 gives the same rows."""
    b = tb.Builder(seed=2)
    vocab, dim, n = 50, 12, 9
    ids = b.tensor([n], np.int32)
    table = b.tensor([vocab, dim], np.int8, 0.02, 0, b.rng.integers(-128, 128, (vocab, dim)))
    out = _embedding_lookup(b, ids, table, [n, dim], 0.02, 0)
    out2 = _gather(b, table, ids, 0, [n, dim], 0.02, 0)
    path = b.save(tmp_path / "embed.tflite", [ids], [out, out2])
    graph = load_graph(path)
    lib = host_run.build_kernels(tmp_path / "k", dsp=False)
    calls = [lower_op(graph, op, False) for op in graph.ops]
    table_values = np.ascontiguousarray(graph.tensor(1).data, np.int8)
    interp = tflm.interpreter(path)
    for sample in np.random.default_rng(0).integers(0, vocab, (4, n)).astype(np.int32):
        interp.set_input(sample, 0)
        interp.invoke()
        for k, call in enumerate(calls):
            assert call.kernel.name == "ek_gather_s8" and call.inputs[1] == ids
            got = np.zeros((n, dim), np.int8)
            status = _gather_eval(lib, call, table_values, sample, got)
            assert status == 0 and np.array_equal(got, interp.get_output(k))
    bad = np.array([0, 1, vocab] + [2] * (n - 3), np.int32)
    assert _gather_eval(lib, calls[0], table_values, bad, np.zeros((n, dim), np.int8)) == 4  # EK_E_BAD_ARG


def _gather_eval(lib, call, values, indices, out) -> int:
    p = host_run.ctypes_params(kernels.GATHER_PARAMS, call.params)
    assert getattr(lib, call.kernel.prepare)(ctypes.byref(p), ctypes.c_size_t(0)) == 0
    return getattr(lib, call.kernel.eval)(ctypes.byref(p), values.ctypes.data_as(ctypes.c_void_p),
                                          indices.ctypes.data_as(ctypes.c_void_p),
                                          out.ctypes.data_as(ctypes.c_void_p), None)


def test_a_float_embedding_is_refused_with_the_reason(tmp_path):
    """What litert's INT8 export writes for nn.Embedding today: the table and its output stay float32."""
    b = tb.Builder()
    ids = b.tensor([4], np.int32)
    table = b.tensor([8, 3], np.int32, data=np.zeros((8, 3), np.int32))
    b.tensors[table].type = S.TensorType.FLOAT32
    out = b.tensor([4, 3])
    b.tensors[out].type = S.TensorType.FLOAT32
    b.op(OP.EMBEDDING_LOOKUP, [ids, table], [out])
    graph = load_graph(b.save(tmp_path / "float_embed.tflite", [ids], [out]))
    with pytest.raises(UnsupportedError, match="EMBEDDING_LOOKUP .* float32 table") as err:
        lower_op(graph, graph.ops[0], False)
    assert "quantize the embedding table" in err.value.one_line()


@needs_cc
def test_transpose_conv_dsp_scratch_formula_equals_the_c_function(tmp_path):
    """The host plans the DSP kernel's scratch (a column per filter tap) with kernels.py's mirror of the C
    function; the DSP kernel itself is checked against the reference on the emulated cores (firmware/tests/
    ek_kernel_test.c, and the U-Net in test_sensor_models_qemu.py)."""
    lib = host_run.build_kernels(tmp_path / "k")
    dsp = kernels.select("ek_transpose_conv_s8", True)
    fn = getattr(lib, dsp.scratch_bytes)
    fn.restype = ctypes.c_int32
    for in_c, kh, kw in ((16, 2, 2), (6, 3, 3), (32, 4, 1), (3, 1, 1)):
        p = {f: 0 for f in kernels.CONV_PARAMS.names} | {"input": (1, 4, 4, in_c), "filter": (8, kh, kw, in_c),
                                                           "output": (1, 8, 8, 8)}
        assert fn(ctypes.byref(host_run.ctypes_params(kernels.CONV_PARAMS, p))) == dsp.scratch(p)
    assert dsp.scratch({"input": (1, 4, 4, 16), "filter": (8, 2, 2, 16)}) == 4 * (2 * 16 + 4)
