"""Every kernel the compiler emits, in one full-INT8 model built op by op, runs under QEMU byte-for-byte equal to
TFLite Micro, with the reference and with the DSP kernels."""
import numpy as np
import pytest

from edgekit.export.mcu import tflm
from tests.export.mcu.device import run_on_device
from tests.export.mcu.tflite_builder import ops_model

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize("target,dsp", [("emu-cortex-m4", False), ("emu-cortex-m4", True), ("emu-cortex-m7", True),
                                        ("emu-cortex-m55", True)])
def test_ops_model_bit_exact_with_tflite_micro(tmp_path, target, dsp):
    model = ops_model(tmp_path / "ops.tflite")
    x = np.random.default_rng(0).integers(-128, 128, (40, 9, 9, 4)).astype(np.int8)
    expected = tflm.run_int8(model, x)
    assert len(np.unique(expected)) > 20  # softmax outputs that are not all saturated
    pkg, got = run_on_device(tmp_path, model, target, dsp, x)
    assert set(pkg.firmware["ops"]) == {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                                        "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    assert np.array_equal(got, expected), f"{int((got != expected).any(axis=1).sum())} of {len(x)} samples differ"
