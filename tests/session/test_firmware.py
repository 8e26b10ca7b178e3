"""The firmware path runs what was verified: the image is built for one profile (refused elsewhere before anything
is flashed, and the firmware says which), and the board gets a private copy hashed after the copy."""
import shutil

import pytest

from edgekit.artifact import Artifact
from edgekit.errors import DeviceError
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.transport import make_transport
from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli

pytestmark = pytest.mark.emulator


def _copy(art: Artifact, where) -> Artifact:
    shutil.copytree(art.path, where)
    return Artifact.load(where)


def test_firmware_for_another_target_is_refused_before_flashing(mcu_artifact):
    for target in ("emu-cortex-m7", "emu-cortex-m55", "nrf52840"):
        result = run_cli("bench", mcu_artifact.path, "-t", target, "--runs", "1", "--serial-port", "loop://",
                         "--flash-tool", "none")
        assert_one_line_error(result, 1, f"the firmware was built for target 'emu-cortex-m4', not '{target}'")


def test_a_changed_image_is_refused(mcu_artifact, tmp_path):
    art = _copy(mcu_artifact, tmp_path / "art")
    image = art.path / "firmware.bin"
    data = bytearray(image.read_bytes())
    data[-1] ^= 0xFF
    image.write_bytes(bytes(data))
    result = run_cli("bench", art.path, "-t", "emu-cortex-m4", "--runs", "1")
    assert_one_line_error(result, 1, "firmware.bin does not match its sha256 in manifest.json")


def test_the_verified_copy_is_what_runs(mcu_artifact, tmp_path):
    """The raw image the manifest names is what QEMU loads, from the private copy: changing the artifact after the
    check changes nothing on the board."""
    art = _copy(mcu_artifact, tmp_path / "art")
    with make_transport(load_profile("emu-cortex-m4")) as link:
        session, _ = open_session(link, art, timeout=30)
        try:
            (art.path / "firmware.bin").write_bytes(b"\0" * 64)  # after the check: must not reach the board
            (art.path / "firmware.elf").unlink()
            hello = session.hello()
            assert hello["machine"]["firmware_profile"] == "emu-cortex-m4"
            assert session.load()["first_inference_s"] > 0
            image = session.facts["image"]
            assert image["file"] == art.manifest["model_file"] == "firmware.bin"
            assert image["sha256"] == mcu_artifact.manifest["files"]["firmware.bin"]["sha256"]
            assert image["load_address"] == "0x00000000"
        finally:
            session.close()


def test_a_board_running_another_build_is_refused(mcu_artifact, tmp_path):
    """A board flashed by hand: the firmware's INFO names the profile it was built for."""
    art = _copy(mcu_artifact, tmp_path / "art")
    with make_transport(load_profile("emu-cortex-m4")) as link:
        session, _ = open_session(link, art, timeout=30)
        try:
            # what the host believes it deployed (the build's profile names the image; the target, older manifests)
            session.artifact.manifest["target"]["name"] = "stm32f746"
            session.artifact.manifest["export"]["firmware"]["build"]["profile"] = "stm32f746"
            with pytest.raises(DeviceError, match="runs firmware built for 'emu-cortex-m4'"):
                session.hello()
        finally:
            session.close()
