from pathlib import Path

import pytest

from edgekit.errors import InputError, ProfileError
from edgekit.profiles import list_profiles, load_profile, load_profile_file

GOOD = """
name = "{name}"
description = "a test board"
family = "mcu"
[hardware]
isa = "armv7e-m"
core = "cortex-m4"
cores = 1
clock = "64 MHz"
ram = "256 KiB"
flash = "1 MiB"
storage = "1 MiB"
features = ["dsp"]
[software]
formats = ["c-firmware"]
runtimes = ["edgekit-firmware"]
dtypes = ["int8"]
[power]
idle = "5 uW"
active = "10 mW"
source = "test"
[transport]
default = "serial"
"""


def write(tmp_path: Path, text: str, name: str = "board") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text.format(name=name))
    return path


def test_every_builtin_profile_loads():
    names = {p.name for p in list_profiles()}
    assert {"pixel8", "rpi4", "rpi5", "stm32f746", "nrf52840", "emu-phone"} <= names


def test_required_devices_have_their_datasheet_limits():
    stm = load_profile("stm32f746")
    assert stm.hardware.flash_bytes == 1024 * 1024 and stm.hardware.ram_bytes == 320 * 1024
    assert stm.hardware.core == "cortex-m7" and stm.has_feature("dsp")
    nrf = load_profile("nrf52840")
    assert nrf.hardware.ram_bytes == 256 * 1024 and nrf.hardware.clock_hz == 64e6


def test_a_board_port_is_folders_plus_integer_facts():
    board = load_profile("b-l475e-iot01a").firmware
    assert board.port == ("stm32-usart", "stm32l4-rcc") and board.port_config["uart_irq"] == 37
    assert board.pyocd_target == "stm32l475xg" and board.openocd_config.startswith("board/")
    assert load_profile("mps3-an547").firmware.port == ("cmsdk",)  # one folder may be a plain string
    emu = load_profile("emu-b-l475e-iot01a")
    assert emu.stands_for == "b-l475e-iot01a" and emu.emulation.options["same_image"] is True


def test_emulated_phone_stands_for_pixel8_and_inherits_its_limits():
    emu, phone = load_profile("emu-phone"), load_profile("pixel8")
    assert emu.emulated and emu.stands_for == "pixel8"
    assert emu.hardware == phone.hardware and emu.power == phone.power
    assert emu.default_transport == "local" and phone.default_transport == "adb"


def test_valid_file(tmp_path):
    p = load_profile_file(write(tmp_path, GOOD))
    assert p.hardware.clock_hz == 64e6 and p.power.idle_w == pytest.approx(5e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('cores = 1', 'cores = 1\nvoltage = "3 V"'), "unknown key 'hardware.voltage'"),
    (lambda t: t.replace('ram = "256 KiB"\n', ''), "missing field 'hardware.ram'"),
    (lambda t: t.replace('"64 MHz"', '"64 MB"'), "bad value for 'hardware.clock'"),
    (lambda t: t.replace('"10 mW"', '"10"'), "bad value for 'power.active'"),
    (lambda t: t.replace('cores = 1', 'cores = "one"'), "bad value for 'hardware.cores'"),
    (lambda t: t + "\n[radio]\nband = 1\n", "unknown section '[radio]'"),
    (lambda t: t.replace('[transport]\ndefault = "serial"\n', ''), "missing section '[transport]'"),
    (lambda t: t + "\n[[oops", "not valid TOML"),
    (lambda t: t + '\n[firmware]\nmcpu = "cortex-m4"\n[firmware.port_config]\ntx_pin = "PA9"\n',
     "bad value for 'firmware.port_config'"),
    (lambda t: t + '\n[firmware]\nmcpu = "cortex-m4"\nport = ["stm32-usart", 3]\n', "bad value for 'firmware.port'"),
])
def test_invalid_files_name_the_file_and_key(tmp_path, edit, message):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_name_must_match_file(tmp_path):
    path = tmp_path / "other.toml"
    path.write_text(GOOD.format(name="board"))
    with pytest.raises(ProfileError, match="must equal the file name"):
        load_profile_file(path)


def test_emulated_profile_may_not_repeat_inherited_sections(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(tmp_path))
    write(tmp_path, GOOD, "board")
    emu = ('name = "{name}"\ndescription = "x"\nstands_for = "board"\n[transport]\ndefault = "local"\n'
           '[emulation]\nkind = "qemu"\ndescription = "y"\n')
    assert load_profile_file(write(tmp_path, emu, "emu-board")).hardware.core == "cortex-m4"
    with pytest.raises(ProfileError, match="may not be repeated"):
        load_profile_file(write(tmp_path, emu + '[power]\nidle = "1 W"\nactive = "2 W"\nsource = "s"\n', "emu-b2"))
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile_file(write(tmp_path, emu.replace('"board"', '"nope"'), "emu-b3"))


def test_unknown_target_lists_known_ones():
    with pytest.raises(InputError) as info:
        load_profile("pixel99")
    assert "unknown target 'pixel99'" in info.value.one_line() and "emu-phone" in info.value.one_line()
