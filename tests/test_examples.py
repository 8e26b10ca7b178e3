"""The examples, each run as a user runs it (one command)."""
import os
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


@pytest.mark.runtime
def test_llm_on_phone_prints_the_side_by_side_table(tmp_path):
    """The decoder example at its smallest (a tiny decoder trained for a few steps, one GPTQ variant): compiled,
    perplexity through the .pte, tokens generated on the emulated phone and checked against the host's."""
    proc = subprocess.run([sys.executable, "examples/llm_on_phone.py", "--size", "tiny", "--steps", "3",
                           "--context", "32", "--eval-windows", "1", "--new-tokens", "4", "--group-size", "32",
                           "--only", "INT4 GPTQ g32"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "EDGEKIT_CACHE": str(tmp_path), "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "INT4 GPTQ" in proc.stdout and "identical" in proc.stdout, proc.stdout  # device tokens = host's
    assert "perplexity on 32 held-out bytes" in proc.stdout
