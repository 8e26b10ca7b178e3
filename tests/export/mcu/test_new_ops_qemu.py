"""PAD (folded and not), broadcast ADD/SUB/MUL, HARD_SWISH/LOGISTIC/TANH/QUANTIZE tables, CONCATENATION,
STRIDED_SLICE and SLICE on the emulated cores: byte for byte equal to TFLite Micro, with the reference and with
the DSP kernels."""
import numpy as np
import pytest

from edgekit.export.mcu import tflm
from tests.export.mcu import tflite_builder as tb
from tests.export.mcu.device import run_on_device

pytestmark = pytest.mark.emulator

TARGETS = [("emu-cortex-m4", False), ("emu-cortex-m4", True), ("emu-cortex-m7", True), ("emu-cortex-m55", True)]
MODELS = {"pad": (tb.pad_model, tb.PAD_INPUT), "elementwise": (tb.elementwise_model, tb.ELEMENTWISE_INPUT)}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("target,dsp", TARGETS)
def test_new_ops_bit_exact_with_tflite_micro(tmp_path, name, target, dsp):
    build, shape = MODELS[name]
    model = build(tmp_path / f"{name}.tflite")
    x = np.random.default_rng(1).integers(-128, 128, (12, *shape[1:])).astype(np.int8)
    expected = tflm.run_int8(model, x)
    pkg, got = run_on_device(tmp_path, model, target, dsp, x)
    if name == "pad":
        assert pkg.firmware["folded_pads"] == 2
    assert np.array_equal(got, expected), f"{int((got != expected).any(axis=1).sum())} of {len(x)} samples differ"
