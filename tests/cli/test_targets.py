"""`edgekit targets list|show`."""
import json

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
