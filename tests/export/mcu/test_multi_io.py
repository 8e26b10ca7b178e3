"""Models with several inputs and outputs, lowered and run on this host (kernels and model.c compiled with the
host C compiler): every input and output gets its own place in the arena, the tensors keep the .tflite's order and
the signature says which PyTorch argument / output each is; byte for byte equal to TFLite Micro. The emulated
cores run such models through the CLI in test_multi_io_qemu.py."""
import numpy as np
import pytest

from edgekit.export.mcu import tflm
from edgekit.export.mcu.codegen import generate
from edgekit.export.quant_arith import dequantize, quantize
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb

S = tb.S
needs_cc = pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")
SHAPE_A, SHAPE_B = [1, 6, 6, 8], [1, 6, 6, 4]


def two_by_two(path, signature=None):
    """Inputs a (1,6,6,8) and b (1,6,6,4); outputs a + conv(b) (1,6,6,8) and a pooled MEAN of b (1,1,1,4), each
    tensor with its own scale and zero point."""
    b = tb.Builder(seed=11)
    x_a = b.tensor(SHAPE_A, scale=0.05, zero_point=3)
    x_b = b.tensor(SHAPE_B, scale=0.02, zero_point=-7)
    c = tb.conv(b, x_b, 4, SHAPE_A, 3, 1, S.Padding.SAME, 0.06, -2)
    s = tb.binary(b, "ADD", x_a, c, SHAPE_A, 0.09, 5)
    m = b.tensor([1, 1, 1, 4], scale=0.015, zero_point=-1)
    red = S.ReducerOptionsT()
    red.keepDims = True
    b.op(S.BuiltinOperator.MEAN, [x_b, tb.ints(b, [1, 2])], [m], S.BuiltinOptions.ReducerOptions, red)
    return b.save(path, [x_a, x_b], [s, m], signature)


def _samples(shape, n, seed):
    return np.random.default_rng(seed).integers(-128, 128, (n, *shape[1:])).astype(np.int8)


@needs_cc
@pytest.mark.parametrize("dsp", [False, True])
def test_two_inputs_two_outputs_bit_exact_on_host(tmp_path, dsp):
    model = two_by_two(tmp_path / "m.tflite")
    gen = generate(model, dsp=dsp)
    plan = gen.plan
    assert [t["shape"] for t in plan.inputs] == [SHAPE_A, SHAPE_B]
    assert [t["shape"] for t in plan.outputs] == [SHAPE_A, [1, 1, 1, 4]]
    assert [(t["scale"], t["zero_point"]) for t in plan.outputs] == [(pytest.approx(0.09), 5),
                                                                     (pytest.approx(0.015), -1)]
    assert [t["signature_index"] for t in plan.inputs + plan.outputs] == [0, 1, 0, 1]  # no signature: as listed
    # every input and output has bytes of its own: inputs are alive together at the start, outputs at the end
    for tensors in (plan.inputs, plan.outputs):
        spans = sorted((t["offset"], t["offset"] + t["bytes"]) for t in tensors)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans
    assert "static const ek_tensor_place ek_model_inputs[2]" in gen.source
    assert ".num_inputs = 2u, .num_outputs = 2u" in gen.source
    info = plan.info()
    assert info["input_bytes"] == 288 + 144 and info["output_bytes"] == 288 + 4
    assert [t["name"] for t in info["inputs"]] == ["t0", "t1"]

    a, b = _samples(SHAPE_A, 12, 1), _samples(SHAPE_B, 12, 2)
    got = host_run.run_many(host_run.build(gen, tmp_path / "host", dsp), gen, [a, b])
    expected = tflm.run_int8_many(model, [a, b])
    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected):
        assert g.shape == e.shape and np.array_equal(g, e), f"{int((g != e).sum())} bytes differ"
    assert len(np.unique(expected[0])) > 40 and len(np.unique(expected[1])) > 4


def test_signature_order_maps_the_model_arguments(tmp_path):
    """The subgraph lists b before a and the second output first: the signature (args_<i>, output_<k>) says
    which PyTorch argument and output each is, and the float reference takes and returns the PyTorch order."""
    model = two_by_two(tmp_path / "m.tflite", signature=(["args_1", "args_0"], ["output_1", "output_0"]))
    plan = generate(model, dsp=False).plan
    assert [t["signature_index"] for t in plan.inputs] == [1, 0]
    assert [t["signature_index"] for t in plan.outputs] == [1, 0]
    rng = np.random.default_rng(3)
    arg0 = rng.uniform(-1, 1, (4, *SHAPE_B[1:])).astype(np.float32)  # the subgraph's second input
    arg1 = rng.uniform(-1, 1, (4, *SHAPE_A[1:])).astype(np.float32)
    out0, out1 = tflm.float_runner(model, plan.inputs, plan.outputs)([arg0, arg1])
    q = [quantize(arg1, "int8", plan.inputs[0]), quantize(arg0, "int8", plan.inputs[1])]
    raw = tflm.run_int8_many(model, q)
    np.testing.assert_array_equal(out1, dequantize(raw[0], plan.outputs[0]))
    np.testing.assert_array_equal(out0, dequantize(raw[1], plan.outputs[1]))
    assert out0.shape == (4, 1, 1, 4) and out1.shape == (4, *SHAPE_A[1:])


def test_single_io_source_is_unchanged_apart_from_the_places(tmp_path):
    """A one-input, one-output model: the kernel calls are what they were; only the model info changed shape."""
    model = tb.pad_model(tmp_path / "p.tflite")
    gen = generate(model, dsp=False)
    assert len(gen.plan.inputs) == len(gen.plan.outputs) == 1
    assert "ek_model_inputs[1]" in gen.source and "ek_model_outputs[1]" in gen.source
