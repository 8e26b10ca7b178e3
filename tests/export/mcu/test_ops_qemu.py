"""Every kernel the compiler emits, in one full-INT8 model built op by op, runs under QEMU byte-for-byte equal to
TFLite Micro, with the reference and with the DSP kernels."""
import numpy as np
import pytest

from edgekit.artifact import write_artifact
from edgekit.export.mcu import tflm
from edgekit.export.mcu.package import package_tflite
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.transport import make_transport
from tests.export.mcu.tflite_builder import ops_model

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize("target,dsp", [("emu-cortex-m4", False), ("emu-cortex-m4", True), ("emu-cortex-m7", True),
                                        ("emu-cortex-m55", True)])
def test_ops_model_bit_exact_with_tflite_micro(tmp_path, target, dsp):
    model = ops_model(tmp_path / "ops.tflite")
    profile = load_profile(target)
    pkg = package_tflite(model, profile, tmp_path / "work", dsp=dsp)
    assert pkg.firmware["build"]["kernels"] == ("dsp" if dsp else "reference")
    assert set(pkg.firmware["ops"]) == {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                                        "MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    art = write_artifact(tmp_path / "art", pkg.files, {"format": "c-firmware", "model_file": "firmware.bin",
                                                        "target": {"name": profile.name},
                                                        "export": {"firmware": pkg.firmware}})
    x = np.random.default_rng(0).integers(-128, 128, (40, 9, 9, 4)).astype(np.int8)
    expected = tflm.run_int8(art.path / "model.tflite", x)
    assert len(np.unique(expected)) > 20  # softmax outputs that are not all saturated
    with make_transport(profile) as link:
        session, _ = open_session(link, art, timeout=30)
        try:
            assert session.hello()["machine"]["core"] == profile.hardware.core
            got = np.concatenate([session.invoke_raw(x[i:i + 1]) for i in range(len(x))])
        finally:
            session.close()
    assert np.array_equal(got, expected), f"{int((got != expected).any(axis=1).sum())} of {len(x)} samples differ"
