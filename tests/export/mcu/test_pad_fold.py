"""PAD and PADV2: folded into the convolution that follows when legal (no PAD kernel call, the convolution's
window start moved by the padding), run as a kernel otherwise; byte for byte equal to TFLite Micro, run on this
host (the emulated cores: test_new_ops_qemu.py)."""
import re

import numpy as np
import pytest

from edgekit.export.mcu import tflm
from edgekit.export.mcu.codegen import generate
from edgekit.export.mcu.passes import fold_pads
from edgekit.export.mcu.graph import load_graph
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb

S = tb.S
needs_cc = pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")


def _host_equals_tflm(tmp_path, model, input_shape, dsp, n=16):
    gen = generate(model, dsp=dsp)
    x = np.random.default_rng(0).integers(-128, 128, (n, *input_shape[1:])).astype(np.int8)
    got = host_run.run(host_run.build(gen, tmp_path / f"host{int(dsp)}", dsp), gen, x)
    expected = tflm.run_int8(model, x)
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} bytes differ"
    return gen, expected


def test_pad_folded_into_conv_emits_no_pad_kernel(tmp_path):
    model = tb.pad_model(tmp_path / "pad.tflite")
    gen = generate(model, dsp=False)
    assert gen.plan.ops["PAD"] + gen.plan.ops["PADV2"] == 4 and gen.plan.folded_pads == 2
    kernels = [c.kernel.name for c in gen.plan.calls]
    assert kernels == ["ek_conv2d_s8", "ek_depthwise_conv2d_s8", "ek_pad_s8", "ek_conv2d_s8", "ek_pad_s8",
                       "ek_conv2d_s8"]
    graph = load_graph(model)
    first = gen.plan.calls[0]
    assert first.inputs == [graph.inputs[0]]  # the convolution reads the unpadded model input
    # DS-CNN's first layer: 10x4 /2 on 49x10, TF 'SAME' written as an explicit asymmetric PAD (4, 5) (1, 1)
    assert {k: first.params[k] for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")} == \
        {"pad_top": 4, "pad_bottom": 5, "pad_left": 1, "pad_right": 1}
    dw = gen.plan.calls[1].params  # PADV2 (1, 0) (0, 2) on top of the depthwise's own SAME padding (1, 1)
    assert (dw["pad_top"], dw["pad_bottom"], dw["pad_left"], dw["pad_right"]) == (2, 1, 1, 3)
    plain = gen.source.split("ek_status ek_model_eval(void)")[1].split("ek_model_eval_profiled")[0]
    assert len(re.findall(r"ek_pad_s8_eval\(", plain)) == 2  # only the two PADs that cannot fold


@needs_cc
@pytest.mark.parametrize("dsp", [False, True])
def test_pad_model_bit_exact_on_host(tmp_path, dsp):
    _, expected = _host_equals_tflm(tmp_path, tb.pad_model(tmp_path / "pad.tflite"), tb.PAD_INPUT, dsp)
    assert len(np.unique(expected)) > 50


def _pad_then(tmp_path, pads, value=None, second_consumer=False, as_output=False):
    b = tb.Builder(seed=1)
    x = b.tensor([1, 6, 6, 4], scale=0.02, zero_point=-3)
    out_shape = [1 + sum(pads[0]), 6 + sum(pads[1]), 6 + sum(pads[2]), 4 + sum(pads[3])]
    p = tb.pad(b, x, pads, out_shape, 0.02, -3, value)
    if as_output:
        return b.save(tmp_path / "m.tflite", [x], [p])
    c = tb.conv(b, p, out_shape[3], [1, out_shape[1] - 2, out_shape[2] - 2, 4], 3, 1, S.Padding.VALID, 0.03, 1)
    if second_consumer:  # the padded tensor also feeds a max pool, added to the convolution
        m = b.tensor([1, out_shape[1] - 2, out_shape[2] - 2, 4], scale=0.02, zero_point=-3)
        b.op(S.BuiltinOperator.MAX_POOL_2D, [p], [m], *tb.pool_options(S.Padding.VALID, 1, 3))
        c = tb.binary(b, "ADD", c, m, [1, out_shape[1] - 2, out_shape[2] - 2, 4], 0.05, 0)
    out = c
    return b.save(tmp_path / "m.tflite", [x], [out])


@pytest.mark.parametrize("case,folds", [
    (dict(pads=[[0, 0], [1, 2], [0, 3], [0, 0]]), True),
    (dict(pads=[[0, 0], [1, 1], [1, 1], [0, 0]], value=-3), True),     # PADV2 with the zero point
    (dict(pads=[[0, 0], [1, 1], [1, 1], [0, 0]], value=0), False),     # another value
    (dict(pads=[[0, 0], [1, 1], [1, 1], [1, 0]]), False),              # channels padded
    (dict(pads=[[1, 0], [1, 1], [1, 1], [0, 0]]), False),              # batch padded
    (dict(pads=[[0, 0], [1, 1], [1, 1], [0, 0]], second_consumer=True), False),
    (dict(pads=[[0, 0], [1, 1], [1, 1], [0, 0]], as_output=True), False),
])
def test_fold_rules(tmp_path, case, folds):
    graph = load_graph(_pad_then(tmp_path, **case))
    _, folded = fold_pads(graph)
    assert bool(folded) == folds


@needs_cc
def test_folded_and_unfolded_pad_bit_exact(tmp_path):
    for i, case in enumerate([dict(pads=[[0, 0], [0, 3], [2, 0], [0, 0]]),
                              dict(pads=[[0, 0], [1, 1], [1, 1], [0, 0]], second_consumer=True)]):
        model = _pad_then(tmp_path, **case)
        _host_equals_tflm(tmp_path / str(i), model, (1, 6, 6, 4), dsp=True)


def _transposed_pad_model(tmp_path, pads_nchw, back=(0, 2, 3, 1), requantize=False):
    """What litert-torch writes for F.pad on a channels-first model: NHWC -> NCHW, PAD, (a QUANTIZE to the
    convolution's input scale,) NCHW -> NHWC, then the convolution."""
    b = tb.Builder(seed=4)
    x = b.tensor([1, 6, 5, 4], scale=0.02, zero_point=-3)
    t1 = b.tensor([1, 4, 6, 5], scale=0.02, zero_point=-3)
    b.op(S.BuiltinOperator.TRANSPOSE, [x, tb.ints(b, [0, 3, 1, 2])], [t1])
    shape = [1, 4, 6 + sum(pads_nchw[2]), 5 + sum(pads_nchw[3])]
    t2 = tb.pad(b, t1, pads_nchw, shape, 0.02, -3)
    q = (0.02, -3)
    if requantize:
        q = (0.03, 7)
        t2 = tb.unary(b, "QUANTIZE", t2, shape, *q)
    t3_shape = [shape[i] for i in back]
    t3 = b.tensor(t3_shape, scale=q[0], zero_point=q[1])
    b.op(S.BuiltinOperator.TRANSPOSE, [t2, tb.ints(b, list(back))], [t3])
    if list(back) != [0, 2, 3, 1]:
        return b.save(tmp_path / "t.tflite", [x], [t3])
    y = tb.conv(b, t3, 4, [1, t3_shape[1] - 1, t3_shape[2] - 3, 6], (2, 4), 1, S.Padding.VALID, 0.03, 2)
    return b.save(tmp_path / "t.tflite", [x], [y])


@needs_cc
@pytest.mark.parametrize("requantize", [False, True])
def test_pad_between_inverse_transposes_becomes_a_folded_pad(tmp_path, requantize):
    """F.pad(x, (1, 2, 0, 1)) before a conv, as litert-torch converts it: the transposes cancel, the QUANTIZE the
    converter may put after the PAD moves before it, and the PAD folds into the convolution."""
    model = _transposed_pad_model(tmp_path, [[0, 0], [0, 0], [0, 1], [1, 2]], requantize=requantize)
    gen, _ = _host_equals_tflm(tmp_path, model, (1, 6, 5, 4), dsp=True)
    assert (gen.plan.removed_transposes, gen.plan.folded_pads) == (2, 1)
    assert [c.kernel.name for c in gen.plan.calls] == ["ek_lut_s8"] * requantize + ["ek_conv2d_s8_dsp"]
    p = gen.plan.calls[-1].params
    assert (p["pad_top"], p["pad_bottom"], p["pad_left"], p["pad_right"]) == (0, 1, 1, 2)


@needs_cc
def test_transposes_that_do_not_cancel_become_one(tmp_path):
    model = _transposed_pad_model(tmp_path, [[0, 0], [0, 0], [0, 1], [1, 2]], back=(0, 1, 3, 2))
    gen, _ = _host_equals_tflm(tmp_path, model, (1, 6, 5, 4), dsp=False)
    assert gen.plan.removed_transposes == 1
    # the PAD last: it is the output
    assert [c.kernel.name for c in gen.plan.calls] == ["ek_transpose_s8", "ek_pad_s8"]


@needs_cc
def test_pad_stays_before_a_table_that_moves_the_pad_value(tmp_path):
    """LOGISTIC(zero point) is not the output zero point: PAD -> LOGISTIC keeps its order (no fold)."""
    b = tb.Builder(seed=6)
    x = b.tensor([1, 5, 5, 4], scale=0.05, zero_point=0)
    p = tb.pad(b, x, [[0, 0], [1, 1], [1, 1], [0, 0]], [1, 7, 7, 4], 0.05, 0)
    s = tb.unary(b, "LOGISTIC", p, [1, 7, 7, 4], 1 / 256, -128)
    y = tb.conv(b, s, 4, [1, 5, 5, 3], 3, 1, S.Padding.VALID, 0.04, 1)
    gen, _ = _host_equals_tflm(tmp_path, b.save(tmp_path / "l.tflite", [x], [y]), (1, 5, 5, 4), dsp=False)
    assert [c.kernel.name for c in gen.plan.calls] == ["ek_pad_s8", "ek_lut_s8", "ek_conv2d_s8"]


@needs_cc
def test_pad_of_a_one_channel_nchw_input_folds_through_the_reshape(tmp_path):
    """MLPerf Tiny KWS DS-CNN as litert-torch converts it: PAD of the NCHW [1, 1, 49, 10] input, RESHAPE to NHWC
    [1, 58, 12, 1] (only size-1 dimensions move), then the 10x4 /2 convolution as a DEPTHWISE with multiplier 8."""
    b = tb.Builder(seed=9)
    x = b.tensor([1, 1, 49, 10], scale=0.5, zero_point=88)
    p = tb.pad(b, x, [[0, 0], [0, 0], [4, 5], [1, 1]], [1, 1, 58, 12], 0.5, 88)
    r = tb.reshape(b, p, [1, 58, 12, 1], 0.5, 88)
    y = b.tensor([1, 25, 5, 8], scale=0.05, zero_point=-128)
    b.op(S.BuiltinOperator.DEPTHWISE_CONV_2D,
         [r, b.weights([1, 10, 4, 8], b.rng.uniform(0.001, 0.003, 8), axis=3), b.bias(8)], [y],
         *tb.depthwise_options(S.Padding.VALID, 2, 8, S.ActivationFunctionType.RELU))
    gen, _ = _host_equals_tflm(tmp_path, b.save(tmp_path / "kws.tflite", [x], [y]), (1, 1, 49, 10), dsp=True)
    # a one-input-channel depthwise conv is lowered as a regular conv (the optimised conv kernel runs it)
    assert gen.plan.folded_pads == 1 and [c.kernel.name for c in gen.plan.calls] == ["ek_conv2d_s8_dsp"]
    p = gen.plan.calls[0].params
    assert (p["pad_top"], p["pad_bottom"], p["pad_left"], p["pad_right"]) == (4, 5, 1, 1)


@needs_cc
def test_pad_of_a_channels_first_input_moves_below_the_transpose_and_folds(tmp_path):
    """MLPerf Tiny VWW MobileNet as litert-torch converts it: PAD of the NCHW model input, TRANSPOSE to NHWC, conv."""
    b = tb.Builder(seed=10)
    x = b.tensor([1, 3, 9, 8], scale=0.004, zero_point=-128)
    p = tb.pad(b, x, [[0, 0], [0, 0], [0, 1], [1, 0]], [1, 3, 10, 9], 0.004, -128)
    t = b.tensor([1, 10, 9, 3], scale=0.004, zero_point=-128)
    b.op(S.BuiltinOperator.TRANSPOSE, [p, tb.ints(b, [0, 2, 3, 1])], [t])
    y = tb.conv(b, t, 3, [1, 4, 4, 8], 3, 2, S.Padding.VALID, 0.02, -128, S.ActivationFunctionType.RELU6)
    gen, _ = _host_equals_tflm(tmp_path, b.save(tmp_path / "vww.tflite", [x], [y]), (1, 3, 9, 8), dsp=True)
    assert gen.plan.folded_pads == 1
    assert [c.kernel.name for c in gen.plan.calls] == ["ek_transpose_s8", "ek_conv2d_s8_dsp"]
    p = gen.plan.calls[1].params
    assert (p["pad_top"], p["pad_bottom"], p["pad_left"], p["pad_right"]) == (0, 1, 1, 0)
