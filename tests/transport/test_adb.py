"""adb transport without a phone: missing adb / device errors, and the full protocol through a stand-in adb."""
import sys
from pathlib import Path

import pytest

from edgekit.compiler import compile_model
from edgekit.errors import DeviceError, InputError
from edgekit.measure.runner import benchmark
from edgekit.modelio import Dataset
from edgekit.profiles import load_profile
from edgekit.transport import make_transport
from tests.helpers import run_cli

FAKE_ADB = Path(__file__).with_name("fake_adb.py")


@pytest.fixture
def adb_bin(tmp_path):
    """A directory holding an `adb` that runs the stand-in."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "adb").write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_ADB} \"$@\"\n")
    (d / "adb").chmod(0o755)
    return d / "adb"


def test_missing_adb_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match="adb not found"):
        make_transport(load_profile("pixel8"), "adb", {"adb": str(tmp_path / "no-adb")}).open()


def test_no_device_and_unauthorized(adb_bin, monkeypatch):
    profile = load_profile("pixel8")
    monkeypatch.setenv("FAKE_ADB_DEVICES", "")
    with pytest.raises(DeviceError, match="no Android device connected"):
        make_transport(profile, "adb", {"adb": str(adb_bin)}).open()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX:unauthorized")
    with pytest.raises(DeviceError, match="'unauthorized'") as info:
        make_transport(profile, "adb", {"adb": str(adb_bin)}).open()
    assert "accept the USB debugging prompt" in info.value.one_line()
    monkeypatch.setenv("FAKE_ADB_DEVICES", "A:device,B:device")
    with pytest.raises(InputError, match="several Android devices"):
        make_transport(profile, "adb", {"adb": str(adb_bin)}).open()


@pytest.mark.runtime
def test_protocol_through_adb(adb_bin, digits, digits_example, tmp_path, monkeypatch):
    """The real agent and ExecuTorch runtime behind adb push / adb shell (quoted strings through a real sh)."""
    model, split = digits
    art = compile_model(model, digits_example, "pixel8", tmp_path / "it's art", calibration=Dataset(split.x_train, split.y_train))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "R5CX:device")
    phone = tmp_path / "phone dir; echo pwned"  # spaces and shell syntax: must arrive as one path
    report = benchmark(art, "pixel8", runs=5, warmup=1, transport="adb", eval_data=Dataset(split.x_test, split.y_test),
                       transport_options={"adb": str(adb_bin), "python": sys.executable, "remote_root": str(phone)})
    assert report["target"]["transport"] == "adb" and report["target"]["serial"] == "R5CX"
    assert report["fidelity"]["vs_host"]["cosine"] > 0.9999
    assert report["accuracy"]["top1"] > 0.5
    assert [p.name for p in phone.iterdir()] == [next(phone.glob("agent-*")).name], "workspace left on the phone"
    assert not (tmp_path / "pwned").exists()


def test_missing_adb_cli_exit_code(tmp_path, digits, digits_example):
    model, _ = digits
    art = compile_model(model, digits_example, "pixel8", tmp_path / "a")
    proc = run_cli("bench", art.path, "--target", "pixel8", env={"PATH": str(tmp_path)})
    assert proc.returncode == 3 and "adb not found" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
