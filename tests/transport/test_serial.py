"""The serial transport toward a real board: without a port or a flashing tool it stops with one clear line.
(The QEMU side is exercised by tests/export/mcu/test_firmware_qemu.py and test_ops_qemu.py.)"""

import json
import sys

import pytest

from edgekit.artifact import write_artifact
from edgekit.export.mcu.package import package_tflite
from edgekit.profiles import load_profile
from edgekit.transport.serial import flash_real_board
from tests.helpers import run_cli
from tests.export.mcu.tflite_builder import ops_model


@pytest.fixture(scope="module")
def firmware_artifact(tmp_path_factory):
    d = tmp_path_factory.mktemp("fw")
    pkg = package_tflite(ops_model(d / "ops.tflite"), load_profile("nrf52840"), d / "work")
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


@pytest.mark.parametrize("tool,expected", [
    ("pyocd", ["flash", "--target", "stm32l475xg", "--base-address", "0x8000000"]),
    ("openocd", ["-f", "board/stm32l4discovery.cfg", "-c"]),
])
def test_the_boards_probe_names_come_from_its_profile(tool, expected, tmp_path, monkeypatch):
    """No probe exists here: a stand-in tool on PATH records its arguments. With no --pyocd-target or
    --openocd-config, the profile's [firmware] pyocd_target / openocd_config are what the tool is given."""
    record = tmp_path / "argv.json"
    stand_in = tmp_path / tool
    stand_in.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    image = tmp_path / "firmware.bin"
    image.write_bytes(b"\0" * 64)
    facts = flash_real_board(load_profile("b-l475e-iot01a"), {"flash_tool": tool}, image, 0x08000000)
    argv = json.loads(record.read_text())
    assert argv[:len(expected)] == expected and facts["flash_tool"] == tool
    assert str(image) in argv[-1]  # pyocd's last argument; openocd's program command names it
