"""The pytest plugin as a user meets it: the example HIL test (examples/test_hil_digits.py) copied into a fresh
project and run by pytester against the emulated phone, Pi and Cortex-M, with and without a target."""
import shutil
import xml.etree.ElementTree as ET

import pytest

from edgekit.emulators.netns_sshd import unavailable_reason as netns_unavailable
from tests.helpers import ROOT, host_state, leaked

pytest_plugins = ["pytester"]

BROKEN_BUDGET = """
from pathlib import Path

import pytest

@pytest.mark.edgekit(max_latency_ms=1e-9)
def test_too_slow(edgekit_compile, edgekit_bench):
    edgekit_bench(edgekit_compile(f"{Path(__file__).with_name('digits_cnn.py')}:build"))  # compiled once: cached

@pytest.mark.edgekit(target_family="mcu")
def test_for_microcontrollers_only(edgekit_bench):
    raise AssertionError("must be skipped on a phone")
"""


@pytest.fixture
def project(pytester):
    """A user's project holding the copied HIL test and its model factory."""
    for name in ("test_hil_digits.py", "digits_cnn.py"):
        shutil.copy(ROOT / "examples" / name, pytester.path / name)
    return pytester


def _properties(junit_xml) -> dict[str, dict[str, str]]:
    tree = ET.parse(junit_xml)
    return {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
            for case in tree.iter("testcase")}


def test_without_a_target_the_hil_tests_skip_with_the_reason(project):
    result = project.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no edgekit device: pass --edgekit-target NAME*"])


MARKER_TYPO = """
import pytest

@pytest.mark.edgekit(max_latency=5)
def test_typo(edgekit_bench):
    pass
"""


def _assert_usage_error(result, text: str) -> None:
    """pytest stopped before collecting (exit status 4) with one `ERROR:` line naming the problem."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and text in errors[0], result.stderr.str()


@pytest.mark.parametrize("args, text", [
    (("--edgekit-target", "nonsense"), "edgekit device nonsense: unknown target 'nonsense' (known targets: "),
    (("--edgekit-place", "board", "--edgekit-coordinator", "127.0.0.1:1"),
     "cannot reach the labgrid coordinator at 127.0.0.1:1"),
    (("--edgekit-place", "board", "--edgekit-coordinator", "localhost:abc"), "coordinator 'localhost:abc' is not "
                                                                             "HOST:PORT"),
    (("--edgekit-target", "emu-phone", "--edgekit-runs", "0"), "--edgekit-runs 0: give 1 or more timed runs"),
])
def test_a_device_the_user_names_that_cannot_be_had_is_a_usage_error(project, args, text):
    _assert_usage_error(project.runpytest_subprocess(*args), text)


def test_a_marker_typo_fails_at_collection_naming_the_test(project):
    project.makepyfile(test_typo=MARKER_TYPO)
    _assert_usage_error(project.runpytest_subprocess("test_typo.py"),
                        "test_typo.py::test_typo: @pytest.mark.edgekit: unknown keyword 'max_latency' (known: "
                        "target_family, max_latency_ms, ")


def test_phone_bench_meets_budgets_reports_to_junit_and_fails_a_broken_budget(project, tmp_path):
    """One session on the emulated phone: the example's tests pass with their figures in the JUnit XML; a broken
    budget fails naming the figure, the limit and the time base; a test for another device family is skipped."""
    project.makepyfile(test_budget=BROKEN_BUDGET)
    junit = tmp_path / "hil.xml"
    result = project.runpytest_subprocess("--edgekit-target", "emu-phone", "--edgekit-runs", "20", "-rs",
                                          f"--junitxml={junit}")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines_random([
        "*edgekit budgets broken on emu-phone: p50 latency * ms > 1e-09 ms (wall-clock on*",
        "*test is for mcu devices; emu-phone is a phone*"])
    props = _properties(junit)["test_fp32_meets_budgets"]
    assert props["edgekit_target"] == "emu-phone" and float(props["edgekit_latency_p50_ms"]) > 0
    assert float(props["edgekit_accuracy_top1"]) > 0.9 and "wall-clock" in props["edgekit_latency_time_base"]


@pytest.mark.emulator
def test_cortex_m_runs_the_int8_test_and_skips_fp32(project):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm / arm-none-eabi-gcc not installed (make system-deps)")
    result = project.runpytest_subprocess("--edgekit-target", "emu-cortex-m4", "--edgekit-runs", "10", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*emu-cortex-m4 runs int8 only*"])


@pytest.mark.emulator
def test_pi_is_started_once_for_the_session_and_torn_down(project):
    if netns_unavailable() or not (ROOT / ".venv-pi").exists():
        pytest.skip(netns_unavailable() or ".venv-pi missing: run `make setup`")
    before = host_state()
    result = project.runpytest_subprocess("--edgekit-target", "emu-rpi4-x86", "--edgekit-runs", "10", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert not leaked(before)["netns"], "the session's emulated Pi was not torn down"
