"""SIGINT and SIGTERM end `edgekit bench` promptly on every target family, at several points, and leave nothing on
the host: no process, network namespace, veth, cgroup or temporary folder."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.compiler import compile_model
from edgekit.compress import Int8StaticConfig
from edgekit.emulators.netns_sshd import unavailable_reason
from edgekit.modelio import Dataset
from tests.helpers import ROOT, host_state, leaked

pytestmark = [pytest.mark.runtime, pytest.mark.emulator]
TARGETS = ("emu-phone", "emu-rpi4-x86", "emu-cortex-m4")
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture(scope="module")
def artifacts(digits, digits_example, tmp_path_factory):
    model, split = digits
    out = tmp_path_factory.mktemp("signals")
    recipe = {"emu-cortex-m4": [Int8StaticConfig(calibration_samples=64)]}
    return {t: compile_model(model, digits_example, t, out / t, recipe=recipe.get(t, ()),
                             calibration=Dataset(split.x_train[:256], split.y_train[:256])) for t in TARGETS}


def _processes_mentioning(*needles: str, besides: int = 0) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in (os.getpid(), besides):
            continue
        try:
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in args for n in needles):
            found.append(args.strip()[:200])
    return found


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("when", ["starting", "running"])
def test_a_signal_ends_the_bench_and_leaves_nothing(artifacts, target, signum, when, tmp_path):
    if target == "emu-rpi4-x86" and unavailable_reason():
        pytest.skip(unavailable_reason())
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    art = artifacts[target]
    before = host_state()
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", str(art.path), "-t", target,
                             "--runs", "1000000", "--timeout", "60"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)})
    try:
        if when == "starting":
            time.sleep(1.0)
        else:  # the device is up (its processes, not the command's own, name our scratch folder or the artifact)
            def device_up() -> list[str]:
                return _processes_mentioning(str(scratch), str(art.path), besides=proc.pid)
            # what was seen is kept: a short-lived step (ssh-keygen, mkdir) may be gone by a second look
            deadline = time.monotonic() + 90
            while not (seen := device_up()) and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                time.sleep(0.1)
            assert seen, "the device never came up"
            time.sleep(2.0)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)  # promptly: well inside any device timeout
    finally:
        if proc.poll() is None:  # a failed test still lets the command tear its board down, for the tests after it
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == EXIT[signum], err[-2000:]
    assert len(err.strip().splitlines()) == 1, err  # one line: "interrupted" / "terminated"
    time.sleep(0.5)  # children reaped by their parents' clean-up have gone by now
    assert _processes_mentioning(str(scratch), str(art.path)) == []
    assert sorted(scratch.rglob("*")) == []  # every path left, so a failure says at which step it stopped
    assert leaked(before) == {"netns": set(), "cgroups": set(), "links": set()}


@pytest.mark.parametrize("after_s", [1.0, 3.0, 6.0])
def test_ctrl_c_during_a_compile_writes_nothing(digits_npz, tmp_path, after_s):
    """Ctrl-C at several points of an INT8 compile (imports, calibration, conversion): exit 130 with one line,
    and no artifact, even where a library swallows the KeyboardInterrupt and carries on."""
    train, _ = digits_npz
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "compile", "examples/digits_cnn.py:build", "-t", "rpi4",
                             "-q", "int8", "--calibration", str(train), "-o", str(tmp_path / "art")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(scratch)})
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip(f"the compile finished within {after_s} s, before the signal")
    assert proc.returncode == 130, err[-2000:]
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert not (tmp_path / "art").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # no staging folder beside the output either
    assert list(scratch.iterdir()) == []
