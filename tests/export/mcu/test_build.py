"""Building firmware from profile data; an image too big for the real device fails per region, in one line."""
import re
import subprocess

import pytest

from edgekit.errors import UnsupportedError
from edgekit.export.mcu.build import build_config, build_firmware
from edgekit.profiles import load_profile
from tests.helpers import ROOT

# A stand-in model: the interface of firmware/include/ek_model.h with a chosen amount of flash and arena.
MODEL_C = """#include "ek_kernels.h"
#include "ek_model.h"
int8_t ek_arena[%(arena)d] __attribute__((aligned(8)));
static const int8_t blob[%(flash)d] = {1};
static const ek_tensor_place io[1] = {{0u, 1u}};
const ek_model_info ek_model = {.arena_bytes = %(arena)du, .num_inputs = 1u, .num_outputs = 1u, .inputs = io,
                                .outputs = io, .input_bytes = 1u, .output_bytes = 1u};
ek_status ek_model_prepare(void) { return EK_OK; }
ek_status ek_model_eval(void) { ek_arena[0] = blob[ek_arena[1] & 7]; return EK_OK; }
"""


def _model(tmp_path, flash, arena):
    path = tmp_path / "model.c"
    path.write_text(MODEL_C % {"flash": flash, "arena": arena})
    return path


def test_config_comes_from_the_profile():
    cfg = build_config(load_profile("emu-cortex-m7"))
    assert (cfg.mcpu, cfg.fpu, cfg.float_abi, cfg.dsp) == ("cortex-m7", "fpv5-sp-d16", "hard", True)
    assert cfg.flash_origin == 0 and cfg.flash_bytes == 1 << 20 and cfg.ram_bytes == 320 * 1024  # QEMU map, STM32 sizes
    assert "-mcpu=cortex-m7" in cfg.cflags() and "-DEK_KERNELS_VARIANT=1" in cfg.cflags()
    assert load_profile("stm32f746").firmware.flash_origin == 0x08000000  # the real part's map stays in its profile


def test_real_board_without_serial_driver_is_refused(tmp_path):
    text = (ROOT / "targets" / "mcu" / "nrf52840.toml").read_text()
    text = re.sub(r'(?m)^(port|uart_base) = .*$', "", text).replace('name = "nrf52840"', 'name = "my-board"')
    (tmp_path / "my-board.toml").write_text(text)
    with pytest.raises(UnsupportedError, match="no serial driver"):
        build_config(load_profile(str(tmp_path / "my-board.toml")))


def test_small_image_builds_with_real_sizes(tmp_path):
    cfg = build_config(load_profile("emu-cortex-m4"))
    result = build_firmware(cfg, _model(tmp_path, 1000, 4096), tmp_path / "out")
    assert result.elf.is_file() and result.bin.stat().st_size == result.flash_bytes
    assert 1000 < result.flash_bytes < 32 * 1024
    assert result.ram_bytes >= 4096 + cfg.stack_bytes
    assert "LENGTH = 262144" in (tmp_path / "out" / "memory.ld").read_text()  # the nRF52840's RAM, not QEMU's 4 MiB
    symbols = subprocess.run(["arm-none-eabi-nm", str(result.elf)], capture_output=True, text=True, check=True).stdout
    assert "ek_model_eval" in symbols
    assert not re.search(r"\b(malloc|_malloc_r|_sbrk|free)\b", symbols)  # no heap anywhere in the image


def test_too_big_for_the_real_device_fails_per_region(tmp_path):
    # fits QEMU's 4 MiB code and RAM, not the nRF52840's 1 MiB flash / 256 KiB RAM
    cfg = build_config(load_profile("emu-cortex-m4"))
    with pytest.raises(UnsupportedError) as err:
        build_firmware(cfg, _model(tmp_path, 1_500_000, 300_000), tmp_path / "out")
    message = err.value.one_line()
    assert "\n" not in message
    flash = re.search(r"FLASH needs ([\d,]+) B of 1,048,576 B", message)
    ram = re.search(r"RAM needs ([\d,]+) B of 262,144 B", message)
    assert flash and ram, message
    assert 1_500_000 < int(flash.group(1).replace(",", "")) < 4 << 20
    assert 300_000 < int(ram.group(1).replace(",", "")) < 4 << 20
    assert not (tmp_path / "out" / "firmware.elf").exists()
