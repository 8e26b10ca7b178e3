"""Boards users own: firmware for every real microcontroller profile links within the board's flash and RAM, the
image built for the B-L475E-IOT01A runs byte for byte on QEMU's model of that board, and the nRF UART driver
speaks the protocol on QEMU's micro:bit (an nRF51: the same UART0, in an Armv6-M build)."""
import hashlib
import json
import re
import struct
import subprocess

import pytest

from edgekit.emulators.qemu import QemuMachine
from edgekit.export.mcu import tflm
from edgekit.export.mcu.build import build_config
from edgekit.export.mcu.package import package_tflite
from edgekit.profiles import list_profiles, load_profile
from edgekit.session import firmware_protocol as P
from tests.export.mcu.conftest import quantize_input
from tests.export.mcu.test_firmware_qemu import _raw_exchange, assert_malformed_frames_get_status_codes
from tests.helpers import run_cli

pytestmark = pytest.mark.emulator

REAL_BOARDS = sorted(p.name for p in list_profiles() if p.family == "mcu" and not p.emulated)
PORT_SYMBOLS = {"stm32-usart": "ek_stm32_clock_init", "nrf-uart": "ek_port_uart_irq", "cmsdk": "ek_port_init"}


def _words(image: bytes, count: int) -> tuple[int, ...]:
    return struct.unpack_from(f"<{count}I", image)


@pytest.mark.parametrize("board", REAL_BOARDS)
def test_firmware_builds_and_fits_every_real_board(board, mcu_artifact, tmp_path):
    profile = load_profile(board)
    pkg = package_tflite(mcu_artifact.path / "model.tflite", profile, tmp_path)
    fw, cfg = pkg.firmware, build_config(profile)
    assert fw["flash_bytes"] <= profile.hardware.flash_bytes and fw["ram_bytes"] <= profile.hardware.ram_bytes
    assert f"LENGTH = {int(profile.hardware.flash_bytes)}" in (tmp_path / "build" / "memory.ld").read_text()
    image = pkg.files["firmware.bin"].read_bytes()
    assert len(image) == fw["flash_bytes"]
    # the vector table a flasher writes at the flash origin: stack top at the end of RAM, reset handler in flash
    stack_top, reset = _words(image, 2)
    assert cfg.ram_origin < stack_top <= cfg.ram_origin + profile.hardware.ram_bytes
    assert cfg.flash_origin <= reset & ~1 < cfg.flash_origin + len(image) and reset & 1  # Thumb
    symbols = subprocess.run(["arm-none-eabi-nm", str(pkg.files["firmware.elf"])], capture_output=True, text=True,
                             check=True).stdout
    assert all(PORT_SYMBOLS[p] in symbols for p in cfg.port if p in PORT_SYMBOLS)
    assert "EK_SEMIHOSTING" not in " ".join(cfg.cflags())  # a real board's image has no emulator-only exit


def test_the_emulated_board_builds_the_real_boards_image():
    assert build_config(load_profile("emu-b-l475e-iot01a")) == build_config(load_profile("b-l475e-iot01a"))
    assert build_config(load_profile("emu-microbit")) == build_config(load_profile("microbit"))


def test_the_boards_image_runs_byte_for_byte_on_qemus_board(l475_artifact, digits_npz):
    _, test_npz = digits_npz
    result = run_cli("bench", l475_artifact, "--target", "emu-b-l475e-iot01a", "--runs", "3", "--eval", test_npz,
                     "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    built = (l475_artifact / "firmware.bin").read_bytes()
    target, machine = report["target"], report["measured_on"]
    # what QEMU was given is the very file compiled for the board, at the board's flash address
    assert target["image"]["sha256"] == hashlib.sha256(built).hexdigest()
    assert target["image"]["load_address"] == "0x08000000" and target["stands_for"] == "b-l475e-iot01a"
    assert machine["machine"] == "b-l475e-iot01a"  # QEMU's STM32L475 board, not an mps2
    assert machine["firmware_profile"] == "b-l475e-iot01a"  # what the running firmware says it was built for
    assert machine["systick_hz"] == 80_000_000  # the PLL the port set up, as the firmware reports it
    assert report["counters"]["instructions_per_inference"] > 100_000
    assert report["fidelity"]["vs_host"]["max_abs"] == 0  # TFLite Micro on the host, bit for bit
    assert report["accuracy"]["samples"] == 360 and report["accuracy"]["top1"] > 0.9


@pytest.fixture(scope="module")
def microbit_image(mcu_artifact, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("microbit")
    pkg = package_tflite(mcu_artifact.path / "model.tflite", load_profile("microbit"), workdir)
    assert pkg.firmware["build"]["kernels"] == "reference" and pkg.firmware["build"]["mcpu"] == "cortex-m0"
    return pkg


def test_the_nrf_uart_driver_speaks_the_protocol_on_the_microbit(microbit_image, mcu_artifact, digits, tmp_path):
    image = microbit_image.files["firmware.bin"]
    fw = microbit_image.firmware
    in_bytes, out_bytes = fw["inputs"][0]["bytes"], fw["outputs"][0]["bytes"]
    log = tmp_path / "q.log"
    with QemuMachine("microbit", image, load_address=0, memory="256K", limit_s=60, log=log,
                     trace=["nrf51_gpio_write"]) as q:
        with q.connect() as sock:
            info = _raw_exchange(sock, P.encode_frame(P.Cmd.INFO, 1))
            assert info.kind == P.Status.OK and P.parse_info(info.payload).ready
            assert P.parse_info(info.payload).profile == "microbit"
            assert_malformed_frames_get_status_codes(sock, in_bytes, out_bytes)
            # real inferences: the Cortex-M0's reference kernels give TFLite Micro's bytes
            _, split = digits
            for seq, sample in enumerate(split.x_test[:3], start=10):
                q_in = quantize_input(mcu_artifact, sample[None])
                frame = P.encode_frame(P.Cmd.SET_INPUT, seq, P.set_input_payload(0, q_in.tobytes()))
                assert _raw_exchange(sock, frame).kind == P.Status.OK
                run = _raw_exchange(sock, P.encode_frame(P.Cmd.RUN, seq, P.run_payload(1)))
                assert run.kind == P.Status.OK and P.parse_run(run.payload).ticks_last > 0
                out = _raw_exchange(sock, P.encode_frame(P.Cmd.GET_OUTPUT, seq, P.get_output_payload(0, out_bytes)))
                expected = tflm.run_int8(mcu_artifact.path / "model.tflite", q_in)
                assert out.kind == P.Status.OK and out.payload == expected.tobytes()
    # the inference pin (P0.03, profile data): set before and cleared after each of the 3 inferences, as QEMU's
    # GPIO model saw the firmware write OUTSET / OUTCLR (the first clear is the pin's set-up as a low output)
    writes = re.findall(r"nrf51_gpio_write offset 0x([0-9a-f]+) value 0x([0-9a-f]+)", log.read_text())
    pin = [(int(offset, 16), int(value, 16)) for offset, value in writes
           if int(offset, 16) in (0x508, 0x50C) and int(value, 16) & 0x8]
    assert pin == [(0x50C, 0x8)] + [(0x508, 0x8), (0x50C, 0x8)] * 3
