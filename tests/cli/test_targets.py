"""`edgekit targets list|show|prepare`."""
import json

import pytest

from edgekit.emulators.arm_image import ImageRecipe, cached_image

from edgekit.profiles import list_profiles
from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli
from tests.test_profiles import GOOD

LOG_WIDTH = {"COLUMNS": "80"}  # a pipe into an 80-column CI log


def test_targets_list_json():
    result = run_cli("targets", "list", "--json")
    assert result.returncode == 0
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"pixel8", "rpi4", "stm32f746", "emu-phone"} <= names


def test_targets_show_human():
    result = run_cli("targets", "show", "stm32f746")
    assert result.returncode == 0 and "cortex-m7" in result.stdout


def test_an_80_column_log_gets_every_name_whole_and_sizes_in_units():
    listed = run_cli("targets", "list", env=LOG_WIDTH)
    assert listed.returncode == 0, listed.stderr
    starts = {line.split(" ")[0] for line in listed.stdout.splitlines()}
    assert {p.name for p in list_profiles()} <= starts and "…" not in listed.stdout
    assert "emu-phone (phone): cortex-x3 at 2.91 GHz, 8 GiB RAM" in listed.stdout
    shown = run_cli("targets", "show", "emu-phone", env=LOG_WIDTH)
    assert "hardware.ram_bytes: 8 GiB" in shown.stdout and "…" not in shown.stdout


def test_a_broken_profile_on_the_path_hides_no_other_target(tmp_path):
    (tmp_path / "my-board.toml").write_text(GOOD.format(name="my-board"))
    (tmp_path / "broken.toml").write_text(GOOD.format(name="broken").replace('ram = "256 KiB"\n', ""))
    result = run_cli("targets", "list", env={"EDGEKIT_TARGETS_PATH": str(tmp_path), **LOG_WIDTH})
    assert_one_line_error(result, 1, "broken.toml: missing field 'hardware.ram'")
    assert "my-board (mcu)" in result.stdout and "emu-phone (phone)" in result.stdout


def test_a_missing_folder_on_the_targets_path_is_an_error(tmp_path):
    result = run_cli("targets", "list", env={"EDGEKIT_TARGETS_PATH": str(tmp_path / "nope")})
    assert_one_line_error(result, 1, f"EDGEKIT_TARGETS_PATH names {tmp_path / 'nope'}, which is not a folder")


def test_unknown_target():
    assert_one_line_error(run_cli("targets", "show", "pixel99"), 1, "unknown target 'pixel99'")


def test_prepare_refuses_a_target_without_an_image():
    assert_one_line_error(run_cli("targets", "prepare", "emu-cortex-m4"), 1, "boots no disk image")


def test_prepare_reuses_the_cached_image():
    """`make test` prepared the Arm images first: preparing again finds them by their recipe's hash, builds nothing."""
    recipe = ImageRecipe.load("debian-arm64-pi")
    if cached_image(recipe) is None:
        pytest.skip("the Arm image is not built (make test runs `edgekit targets prepare emu-rpi4` first)")
    result = run_cli("targets", "prepare", "emu-rpi5")  # same image as emu-rpi4
    assert result.returncode == 0, result.stderr
    assert "(cached)" in result.stdout and recipe.digest[:16] in result.stdout
