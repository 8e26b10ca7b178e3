"""The serial transport toward a real board: without a port or a flashing tool it stops with one clear line.
(The QEMU side is exercised by tests/export/mcu/test_firmware_qemu.py and test_ops_qemu.py.)"""

import pytest

from edgekit.artifact import write_artifact
from edgekit.export.mcu.package import package_tflite
from edgekit.profiles import load_profile
from tests.helpers import run_cli
from tests.export.mcu.tflite_builder import ops_model


@pytest.fixture(scope="module")
def firmware_artifact(tmp_path_factory):
    d = tmp_path_factory.mktemp("fw")
    # No serial driver exists for the nRF52840 yet, so the image is the emulated M4's; the manifest says it is the
    # real board's, which is all these tests need: they stop before anything is flashed.
    pkg = package_tflite(ops_model(d / "ops.tflite"), load_profile("emu-cortex-m4"), d / "work")
    return write_artifact(d / "art", pkg.files, {"format": "c-firmware", "model_file": "firmware.bin",
                                                  "inputs": [{"shape": [1, 9, 9, 4]}], "target": {"name": "nrf52840"},
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


def test_emulated_target_given_a_port_is_treated_as_a_real_board(firmware_artifact):
    """A port means a board the user runs (here pyserial's loop://, already flashed): no emulator is started."""
    from edgekit.errors import DeviceError
    from edgekit.transport import make_transport
    with make_transport(load_profile("emu-cortex-m4"), options={"port": "loop://", "flash_tool": "none"}) as link:
        with pytest.raises(DeviceError, match="not been flashed"):
            link.connect(timeout=1)
        machine = link.flash(firmware_artifact.path / "firmware.elf")
        assert machine == {"cpu": "cortex-m4 on emu-cortex-m4", "virtual_time": False, "flash_tool": "none"}
        port = link.connect(timeout=1)
        port.write(b"ping")
        assert port.read(4) == b"ping"
        assert link.describe() == {"transport": "serial", "port": "loop://"}
