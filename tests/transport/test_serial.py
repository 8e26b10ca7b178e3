"""The serial transport toward a real board: without a port or a flashing tool it stops with one clear line.
(The QEMU side is exercised by tests/export/mcu/test_firmware_qemu.py and test_ops_qemu.py.)"""
import os

import pytest

from edgekit.artifact import write_artifact
from edgekit.export.mcu.package import package_tflite
from edgekit.profiles import load_profile
from tests.helpers import run_cli
from tests.export.mcu.tflite_builder import ops_model


@pytest.fixture(scope="module")
def firmware_artifact(tmp_path_factory):
    d = tmp_path_factory.mktemp("fw")
    pkg = package_tflite(ops_model(d / "ops.tflite"), load_profile("emu-cortex-m4"), d / "work")
    return write_artifact(d / "art", pkg.files, {"format": "c-firmware", "model_file": "firmware.bin",
                                                  "inputs": [{"shape": [1, 9, 9, 4]}],
                                                  "export": {"firmware": pkg.firmware}})


def _one_line(result, code, text):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_real_board_needs_a_port(firmware_artifact):
    _one_line(run_cli("bench", firmware_artifact.path, "--target", "nrf52840", "--runs", "1"), 1,
              "needs a serial port")


def test_real_board_without_flash_tool(firmware_artifact, tmp_path):
    result = run_cli("bench", firmware_artifact.path, "--target", "nrf52840", "--runs", "1", "--serial-port",
                     "/dev/ttyACM9", "--flash-tool", "pyocd", env={"PATH": str(tmp_path)})
    _one_line(result, 3, "pyocd not found on PATH")
