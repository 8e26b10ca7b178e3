"""Benches through a labgrid farm, by the real CLI: two benches contending for one place (the second waits for the
lock, then runs), interrupted benches that give back their place and their turn, a microcontroller flashed through
the farm, the pytest plugin on the emulated Pi's place (SSH with the place's host key), labgrid's own client on the
example environment file, and the errors a user meets first."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli

from .conftest import ROOT, edgekit_env

EDGEKIT = str(Path(sys.executable).parent / "edgekit")
pytestmark = pytest.mark.emulator
pytest_plugins = ["pytester"]


def _bench(farm, artifact: Path, place: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([EDGEKIT, "bench", str(artifact), "--place", place, "--coordinator", farm.coordinator,
                             "--json", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=edgekit_env())


def _held(farm, place: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while farm.state()[0].get(place) is None:
        assert time.monotonic() < deadline, f"place {place} was never locked"
        time.sleep(0.2)


def test_two_benches_contend_for_one_place_and_leave_it_free(farm, mcu_artifact):
    # The first holds the place for at least 6 s (300 runs, 20 ms apart): long enough for the second to start.
    art = Path(mcu_artifact.path)
    first = _bench(farm, art, "emu-cortex-m4", "--runs", "300", "--cooldown", "0.02")
    _held(farm, "emu-cortex-m4")
    second = _bench(farm, art, "emu-cortex-m4", "--runs", "20")
    out_first, err_first = first.communicate(timeout=300)
    out_second, err_second = second.communicate(timeout=300)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert "place 'emu-cortex-m4' is locked by" in err_second and "waiting" in err_second
    a, b = json.loads(out_first)["place"], json.loads(out_second)["place"]
    # The second ran only once the first had let go: the two lock intervals do not overlap.
    assert a["released_at"] <= b["locked_at"], (a, b)
    assert b["waited_s"] > 0.5 and a["profile"] == b["profile"] == "emu-cortex-m4"
    report = json.loads(out_second)
    assert report["latency_ms"]["p50"] > 0 and report["target"]["name"] == "emu-cortex-m4"
    held, reservations = farm.state()
    assert held["emu-cortex-m4"] is None and reservations == []


def test_interrupted_benches_give_back_their_place_and_their_place_in_the_queue(farm, mcu_artifact):
    art = Path(mcu_artifact.path)
    holder = _bench(farm, art, "emu-cortex-m4", "--runs", "100000")
    _held(farm, "emu-cortex-m4")
    waiter = _bench(farm, art, "emu-cortex-m4", "--runs", "10")
    deadline = time.monotonic() + 60
    while len(farm.state()[1]) < 2:  # the waiter's reservation is queued behind the holder's
        assert time.monotonic() < deadline and waiter.poll() is None, "the second bench never queued"
        time.sleep(0.2)
    waiter.send_signal(signal.SIGINT)
    _, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 130, err
    assert len(farm.state()[1]) == 1 and farm.state()[0]["emu-cortex-m4"] is not None
    holder.send_signal(signal.SIGINT)
    _, err = holder.communicate(timeout=60)
    assert holder.returncode == 130, err
    held, reservations = farm.state()
    assert held["emu-cortex-m4"] is None and reservations == []


def test_a_microcontroller_is_flashed_and_measured_through_its_place(farm, mcu_artifact, digits_npz):
    bench = _bench(farm, Path(mcu_artifact.path), "emu-cortex-m4", "--runs", "5", "--eval", str(digits_npz[1]))
    out, err = bench.communicate(timeout=300)
    assert bench.returncode == 0, err
    report = json.loads(out)
    assert report["latency_ms"]["time_base"] == "emulated-virtual-time"
    assert report["counters"]["instructions_per_inference"] > 10_000
    assert report["accuracy"]["top1"] > 0.8 and report["fidelity"]["vs_host"]["cosine"] > 0.999
    assert report["place"]["name"] == "emu-cortex-m4"
    assert farm.state()[0]["emu-cortex-m4"] is None


def test_the_pytest_plugin_locks_a_place_for_the_session(farm, pytester):
    pytester.makepyfile(test_on_place=textwrap.dedent(f"""
        import pytest

        @pytest.mark.edgekit(target_family="rpi", max_latency_ms=1000)
        def test_fp32(edgekit_compile, edgekit_bench, edgekit_device):
            report = edgekit_bench(edgekit_compile("{ROOT / 'examples' / 'digits_cnn.py'}:build_quick"))
            assert edgekit_device.place == "emu-rpi4-x86" and report["latency_ms"]["p50"] > 0

        @pytest.mark.edgekit(target_family="mcu")
        def test_mcu_only(edgekit_bench):
            pass
    """))
    result = pytester.runpytest_subprocess("--edgekit-place", "emu-rpi4-x86", "--edgekit-coordinator",
                                           farm.coordinator, "--edgekit-runs", "10", "-rs",
                                           f"--junitxml={pytester.path / 'hil.xml'}")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test is for mcu devices; emu-rpi4-x86 is a rpi*"])
    assert '<property name="edgekit_place" value="emu-rpi4-x86"' in (pytester.path / "hil.xml").read_text()
    assert farm.state()[0]["emu-rpi4-x86"] is None
    # A place the coordinator does not have, or one holding another device than --edgekit-target: usage errors
    # before collection (exit 4, one line), not skips.
    for args, text in ((("--edgekit-place", "no-such-board"), "no place 'no-such-board' on the labgrid coordinator"),
                       (("--edgekit-place", "emu-rpi4-x86", "--edgekit-target", "emu-cortex-m4"),
                        "--edgekit-place emu-rpi4-x86 holds a emu-rpi4-x86, not --edgekit-target emu-cortex-m4")):
        refused = pytester.runpytest_subprocess(*args, "--edgekit-coordinator", farm.coordinator)
        assert refused.ret == pytest.ExitCode.USAGE_ERROR and refused.stderr.lines[0].startswith("ERROR: ")
        assert text in refused.stderr.lines[0] and len([x for x in refused.stderr.lines if x.strip()]) == 1


def test_farm_errors_are_one_line(farm, mcu_artifact):
    art = mcu_artifact.path
    unknown = run_cli("bench", art, "--place", "no-such-board", "--coordinator", farm.coordinator)
    assert unknown.returncode == 1
    assert "no place 'no-such-board'" in unknown.stderr and "emu-rpi4-x86" in unknown.stderr
    wrong = run_cli("bench", art, "--place", "emu-cortex-m4", "-t", "emu-rpi4-x86",
                    "--coordinator", farm.coordinator)
    assert wrong.returncode == 1 and "holds a emu-cortex-m4, not emu-rpi4-x86" in wrong.stderr
    assert farm.state()[0]["emu-cortex-m4"] is None
    nobody = run_cli("bench", art, "--place", "emu-rpi4-x86", "--coordinator", "127.0.0.1:1")
    assert nobody.returncode == 3 and "cannot reach the labgrid coordinator" in nobody.stderr
    neither = run_cli("bench", art)
    assert neither.returncode == 2 and "give --target NAME (or --place NAME" in neither.stderr
    for result in (unknown, wrong, nobody):
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_example_environment_file_reaches_both_places_with_labgrid(farm, tmp_path):
    """examples/farm/env.yaml, read by labgrid's own client: each role's place and its resources."""
    env = tmp_path / "env.yaml"
    env.write_text((ROOT / "examples" / "farm" / "env.yaml").read_text()
                   .replace("127.0.0.1:20408", farm.coordinator))
    client = [str(Path(sys.executable).parent / "labgrid-client"), "-c", str(env)]
    for role, place, resource in (("pi", "emu-rpi4-x86", "NetworkService"), ("mcu", "emu-cortex-m4",
                                                                               "NetworkSerialPort")):
        shown = subprocess.run([*client, "-p", place, "show"], capture_output=True, text=True, timeout=60,
                               env=edgekit_env())
        assert shown.returncode == 0, shown.stderr
        assert f"Selected role {role}" in shown.stdout and f"Place '{place}'" in shown.stdout and resource in shown.stdout and "EdgekitTarget" in shown.stdout
