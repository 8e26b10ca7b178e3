"""An unrolled recurrent layer as litert-torch writes int8 LSTMs and GRUs (edgekit/compress/rnn_cells.py): per
step a SLICE of the input, a FULLY_CONNECTED on the state reading the one weight tensor all steps share, ADD,
LOGISTIC / TANH, MUL, the steps' outputs concatenated. Lowered and run on this host: byte for byte equal to
TFLite Micro, and each constant array stored once however many steps read it (the emulated M4 runs a whole LSTM
model in test_recurrent_qemu.py)."""
import numpy as np
import pytest

from edgekit.export.mcu import tflm
from edgekit.export.mcu.codegen import generate
from tests.export.mcu import host_run
from tests.export.mcu import tflite_builder as tb

S = tb.S
STEPS, FEATURES = 5, 8


def unrolled_model(path, steps: int = STEPS):
    """x (1, steps, 8) -> h_t = sigmoid(p) * tanh(p), p = x_t (+ FC(h_{t-1}) from step 1, its ADD's scale per
    step), one shared FC weight and bias tensor; the steps' h concatenated to (1, steps, 8)."""
    b = tb.Builder(seed=3)
    OP, BO = S.BuiltinOperator, S.BuiltinOptions
    x = b.tensor([1, steps, FEATURES], scale=0.04, zero_point=-2)
    w = b.weights([FEATURES, FEATURES], b.rng.uniform(0.004, 0.01, FEATURES))
    bias = b.bias(FEATURES, 4e-5)
    outs, h = [], None
    for t in range(steps):
        xt = tb.reshape(b, tb.slice_(b, x, [0, t, 0], [1, 1, FEATURES], [1, 1, FEATURES], 0.04, -2),
                        [1, FEATURES], 0.04, -2)
        pre = xt
        if h is not None:
            fc = b.tensor([1, FEATURES], scale=0.02, zero_point=1)
            o = S.FullyConnectedOptionsT()
            o.fusedActivationFunction = S.ActivationFunctionType.NONE
            b.op(OP.FULLY_CONNECTED, [h, w, bias], [fc], BO.FullyConnectedOptions, o)
            pre = tb.binary(b, "ADD", xt, fc, [1, FEATURES], 0.05 + 0.005 * t, t - 2)
        gate = tb.unary(b, "LOGISTIC", pre, [1, FEATURES], 1 / 256, -128)
        cand = tb.unary(b, "TANH", pre, [1, FEATURES], 1 / 128, 0)
        # one scale for every step's h, as the quantizer shares the concatenation's (TFLite Micro requires it)
        h = tb.binary(b, "MUL", gate, cand, [1, FEATURES], 1 / 200, 3)
        outs.append(tb.reshape(b, h, [1, 1, FEATURES], 1 / 200, 3))
    y = tb.concatenation(b, outs, 1, [1, steps, FEATURES], 1 / 200, 3)
    return b.save(path, [x], [y])


@pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")
@pytest.mark.parametrize("dsp", [False, True])
def test_unrolled_steps_bit_exact_with_weights_stored_once(tmp_path, dsp):
    model = unrolled_model(tmp_path / "rnn.tflite")
    gen = generate(model, dsp=dsp)
    x = np.random.default_rng(0).integers(-128, 128, (16, STEPS, FEATURES)).astype(np.int8)
    got = host_run.run(host_run.build(gen, tmp_path / f"host{int(dsp)}", dsp), gen, x)
    expected = tflm.run_int8(model, x)
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} bytes differ"
    assert len(np.unique(expected)) > 20
    fcs = [c for c in gen.plan.calls if c.kernel.name.startswith("ek_fully_connected")]
    assert len(fcs) == STEPS - 1 and len({c.params["weights"] for c in fcs}) == 1
    assert gen.plan.weight_bytes == FEATURES * FEATURES  # one copy for every step
    assert gen.source.count(f"{fcs[0].params['weights']}[") == 1  # defined once, read by every step
    # the FC requantization differs per step only through its input's and output's scales: equal ones are shared
    assert len({c.params["multiplier"] for c in fcs}) == 1


def test_constants_do_not_grow_with_steps(tmp_path):
    """Flash for constants: the weights once, whatever the number of steps; what grows is per step (tables of
    steps whose scales differ)."""
    short = generate(unrolled_model(tmp_path / "a.tflite", 3), dsp=True).plan
    long = generate(unrolled_model(tmp_path / "b.tflite", 9), dsp=True).plan
    assert short.weight_bytes == long.weight_bytes == FEATURES * FEATURES
