"""`edgekit targets list|show|prepare`."""
import json

import pytest

from edgekit.emulators.arm_image import ImageRecipe, cached_image

from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli


def test_targets_list_json():
    result = run_cli("targets", "list", "--json")
    assert result.returncode == 0
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"pixel8", "rpi4", "stm32f746", "emu-phone"} <= names


def test_targets_show_human():
    result = run_cli("targets", "show", "stm32f746")
    assert result.returncode == 0 and "cortex-m7" in result.stdout


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
