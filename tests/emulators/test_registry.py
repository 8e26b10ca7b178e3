"""The emulator registry: each emulated profile gets its kind's emulator; QEMU is given the firmware image at
start and says why when it stops."""
import shutil
import time

import pytest

from edgekit.emulators import emulator_for
from edgekit.emulators.arm_vm import ArmLinuxVM
from edgekit.emulators.netns_sshd import EmulatedLinuxBoard
from edgekit.emulators.qemu import QemuBoard
from edgekit.errors import DeviceError, InputError
from edgekit.profiles import load_profile


def test_each_emulated_profile_gets_its_kind():
    assert isinstance(emulator_for(load_profile("emu-rpi4-x86")), EmulatedLinuxBoard)
    board = emulator_for(load_profile("emu-cortex-m4"), {"limit_s": 5})
    assert isinstance(board, QemuBoard) and board.limit_s == 5
    facts = board.describe()
    assert facts["board"] == "QEMU mps2-an386" and facts["virtual_time"] and facts["instructions_per_virtual_ns"] == 1
    with pytest.raises(InputError, match="not emulated"):
        emulator_for(load_profile("nrf52840"))


def test_arm_vms_boot_their_profile_core_and_image():
    for name, cpu, image in (("emu-rpi4", "cortex-a72", "debian-arm64-pi"),
                             ("emu-rpi5", "cortex-a76", "debian-arm64-pi"),
                             ("emu-phone-arm", "cortex-a710", "debian-arm64-phone")):
        vm = emulator_for(load_profile(name))
        assert isinstance(vm, ArmLinuxVM) and vm.cpu == cpu and vm.recipe.name == image
        assert vm.memory_mib * 2**20 == load_profile(name).hardware.ram_bytes


def test_arm_vm_without_its_image_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path))  # an empty cache: nothing built here
    vm = emulator_for(load_profile("emu-rpi5"))
    with pytest.raises(DeviceError, match="not built yet") as info:
        vm.start()
    assert "edgekit targets prepare emu-rpi5" in info.value.hint and vm.scratch is None


def test_qemu_needs_an_image():
    with pytest.raises(InputError, match="boots a firmware image"):
        emulator_for(load_profile("emu-cortex-m4")).start()


@pytest.mark.emulator
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")
def test_serial_link_boots_qemu_with_the_image_and_says_why_it_stopped(tmp_path):
    """Through the serial link, as a deployment does: the emulator gets the image at flash time."""
    from edgekit.transport import make_transport
    image = tmp_path / "firmware.elf"
    image.write_bytes(b"not an ELF")
    with make_transport(load_profile("emu-cortex-m4"), options={"limit_s": 30}) as link:
        machine = link.flash(image)
        assert machine["cpu"] == "QEMU mps2-an386 (cortex-m4), virtual time" and machine["virtual_time"] is True
        assert machine["instructions_per_virtual_ns"] == 1 and link.describe()["emulator"] == "qemu-system-arm"
        board = link._emulator
        assert board.transport_options()["port"].startswith("socket://127.0.0.1:")
        workdir = board._workdir
        link.connect(timeout=10)  # QEMU holds the guest until the UART has a client, then fails to load it
        deadline = time.monotonic() + 20
        with pytest.raises(DeviceError, match="firmware under QEMU .* stopped"):
            while time.monotonic() < deadline:
                link.check_alive()
                time.sleep(0.05)
    assert link._emulator is None and not workdir.exists(), "closing the link must stop QEMU and clean up"
    board.stop()  # twice is fine
