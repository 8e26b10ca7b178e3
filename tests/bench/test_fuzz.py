"""A short run of the MCU agent's libFuzzer harness (firmware/tests/fuzz_agent.c) in both modes, through
bench/bench_fuzz.py's build and run functions; bench/results/fuzz.json holds the long run (>= 1,000,000
executions per mode). Also checks that the harness does catch bugs: copies of ek_agent.c with a deliberate bug
must crash it. Skipped where clang or its libFuzzer runtime is missing (.ci/apt-packages.txt installs them)."""
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from bench_fuzz import MODES, mutant, run_mode, toolchain_missing  # noqa: E402

_missing = toolchain_missing()
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")
RUNS = 20_000


@pytest.mark.parametrize("mode", list(MODES))
def test_short_fuzz_run_finds_no_crash(mode, tmp_path):
    result = run_mode(mode, RUNS, tmp_path)
    assert result["crashes"] == 0 and result["exit_code"] == 0, result.get("log_tail")
    assert result["execs"] == RUNS
    assert result["cov"] > result["seed_cov"] > 0 or result["ft"] > result["seed_ft"]  # it explored past the seeds


@pytest.mark.parametrize("name, mode", [("set_input_unchecked", "framed"),  # SET_INPUT offset past the tensor
                                        ("split_past_a_tensor", "framed"),  # a frame spanning two tensors not split
                                        ("reply_crc_skips_seq", "raw")])  # a reply with a wrong CRC
def test_harness_catches_a_deliberate_bug(name, mode, tmp_path):
    result = mutant(name, mode, RUNS, tmp_path)
    assert result["found"] is not None, f"{name}: {result.get('why')}: update MUTANTS in bench/bench_fuzz.py"
    assert result["found"], f"the harness missed {name} in {RUNS} executions"
