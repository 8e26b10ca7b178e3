"""DSP kernels are bit-exact with the reference kernels (random shapes, tails, padding, offsets, requantization),
run on the emulated cores."""
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from kernel_tool import run_kernel_test  # noqa: E402

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize("target", ["emu-cortex-m4", "emu-cortex-m7", "emu-cortex-m55"])
def test_dsp_kernels_bit_exact_with_reference(target):
    result = run_kernel_test(target, cases=300)
    assert result["exit_code"] == 0
    assert (result["conv_mismatches"], result["fc_mismatches"], result["depthwise_mismatches"]) == (0, 0, 0)
    # SysTick runs at the profile's systick rate: 2,000,000 counted instructions take exactly that many ticks
    assert result["calibration_ticks"] == pytest.approx(2_000_000 * result["systick_hz"] / 1e9, abs=2)
    timings = {(b["kernel"], b["variant"]): b["instructions_per_mac"] for b in result["bench"]}
    for kernel in {k for k, _ in timings}:
        assert timings[(kernel, "dsp")] < timings[(kernel, "reference")]  # the optimised path is the one timed
