"""The examples, each run as a user runs it (one command)."""
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.emulator
def test_digits_on_cortex_m_reports_the_accuracy_the_device_computed():
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed (make system-deps)")
    proc = subprocess.run([sys.executable, "examples/digits_on_cortex_m.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("emu-cortex-m4: accuracy on the device ") and "of 360 digits" in line
    assert float(line.split("device ")[1].split("%")[0]) > 90
