"""A PyTorch model with F.pad before a conv and a residual broadcast add (tests/export/mcu/padnet.py), converted by
litert-torch to full INT8 as `edgekit compile --target emu-cortex-m4 --quantize int8` does: the converter's
TRANSPOSE -> PAD (-> QUANTIZE) -> TRANSPOSE around the channels-first pad is undone, the PAD folds into the
convolution, and the compiled model runs byte for byte as TFLite Micro (kernels compiled for this host)."""
import numpy as np
import pytest

from edgekit.export.mcu import tflm
from edgekit.export.mcu.codegen import generate
from tests.export.mcu import host_run
from tests.export.mcu.padnet import build

pytestmark = [pytest.mark.runtime, pytest.mark.skipif(not host_run.HAVE_CC, reason="needs a host C compiler")]


def test_padnet_pad_folds_and_runs_bit_exact(tmp_path):
    from edgekit.export.tflite import export_tflite
    model, example = build()
    calibration = np.random.default_rng(0).normal(size=(32, 1, 12, 10)).astype(np.float32)
    path = tmp_path / "padnet.tflite"
    export_tflite(model, example, path, int8=True, int8_io=True, per_channel=True, calibration=calibration)
    gen = generate(path, dsp=True)
    assert gen.plan.ops.get("PAD") == 1 and gen.plan.folded_pads == 1 and gen.plan.removed_transposes == 2
    kernels = [c.kernel.name for c in gen.plan.calls]
    assert "ek_pad_s8" not in kernels and kernels.count("ek_transpose_s8") == 1  # the one before the flatten
    assert "ek_add_s8" in kernels and any(c.params["shape"]["broadcast"] == 1
                                          for c in gen.plan.calls if c.kernel.name == "ek_add_s8")
    x = np.random.default_rng(1).integers(-128, 128, (16, 1, 12, 10)).astype(np.int8)
    got = host_run.run(host_run.build(gen, tmp_path / "host", True), gen, x)
    assert np.array_equal(got, tflm.run_int8(path, x))
