"""`edgekit farm export` refuses what it cannot serve before it starts anything (no coordinator needed)."""
from __future__ import annotations

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize("args, text", [
    # unchecked, both devices would start before the coordinator is dialled (then: exit 3, cannot reach it)
    (("emu-cortex-m4", "emu-cortex-m4", "--coordinator", "127.0.0.1:1"),
     "emu-cortex-m4 given more than once: each target is one device behind one place named like it"),
    (("emu-cortex-m4", "--coordinator", "localhost:abc"), "coordinator 'localhost:abc' is not HOST:PORT"),
])
def test_farm_export_usage_errors_come_before_any_device_starts(args, text):
    result = run_cli("farm", "export", *args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert text in result.stderr and "Traceback" not in result.stderr and "starting" not in result.stderr


def test_bench_takes_a_malformed_coordinator_as_a_usage_error(tmp_path):
    result = run_cli("bench", tmp_path, "--place", "board", "--coordinator", "localhost:abc", timeout=60)
    assert result.returncode == 2 and "coordinator 'localhost:abc' is not HOST:PORT" in result.stderr
