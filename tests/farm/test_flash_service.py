"""The farm flash service: the wire format's checks, and the real-board service behind `edgekit farm flash-service`.

No debug probe exists here, so the real-board test puts a stand-in `pyocd` on PATH (a script that records its
arguments and the image it was given); everything else (the CLI, the TCP service, the client) is the real code."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.errors import DeviceError
from edgekit.farm.flash_service import MAX_HEADER, FlashService, flash_remote

EDGEKIT = str(Path(sys.executable).parent / "edgekit")


def _exchange(address: str, payload: bytes) -> dict:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return json.loads(sock.makefile().readline())


@pytest.fixture
def service(tmp_path):
    flashed: list[tuple[bytes, int | None]] = []

    def flasher(image: Path, load_address: int | None) -> dict:
        flashed.append((image.read_bytes(), load_address))
        return {"cpu": "test board", "virtual_time": False}

    running = FlashService(flasher).start()
    yield running, flashed
    running.stop()


def test_an_image_reaches_the_flasher_with_its_load_address(service, tmp_path):
    running, flashed = service
    image = tmp_path / "fw.bin"
    image.write_bytes(os.urandom(70_000))
    assert flash_remote(running.address, image, 0x08000000) == {"cpu": "test board", "virtual_time": False}
    assert flashed == [(image.read_bytes(), 0x08000000)]


@pytest.mark.parametrize("payload, reason", [
    (json.dumps({"size": 4, "sha256": "0" * 64, "load_address": None}).encode() + b"\n" + b"abcd",
     "does not match its sha256"),
    (json.dumps({"size": 1 << 40, "sha256": "0" * 64}).encode() + b"\n", "outside 1.."),
    (json.dumps({"size": 4}).encode() + b"\n" + b"abcd", "needs the image's sha256"),
    (b"x" * (MAX_HEADER + 10), "header longer than"),
    (json.dumps({"size": 8, "sha256": "0" * 64}).encode() + b"\n" + b"abcd", "cut short"),
])
def test_bad_requests_are_refused_before_the_board_is_touched(service, payload, reason):
    running, flashed = service
    reply = _exchange(running.address, payload)
    assert reply["ok"] is False and reason in reply["error"]
    assert flashed == []


def test_an_unreachable_service_is_a_device_error(tmp_path):
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\0" * 16)
    with pytest.raises(DeviceError, match="cannot reach the board's flash service"):
        flash_remote("127.0.0.1:1", image, None)


def test_the_real_board_service_runs_the_probe_tool(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "pyocd-call.json"
    (fake_bin / "pyocd").write_text(
        f"#!{sys.executable}\n"
        "import json, shutil, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n"
        f"shutil.copyfile(sys.argv[-1], {str(tmp_path / 'flashed.bin')!r})\n")
    (fake_bin / "pyocd").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    proc = subprocess.Popen([EDGEKIT, "farm", "flash-service", "stm32f746", "--flash-tool", "pyocd",
                             "--pyocd-target", "stm32f746xg"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "flash service for stm32f746 on 127.0.0.1:" in line, proc.stderr.read() if proc.poll() else line
        address = line.split(" on ")[1].split(";")[0]
        image = tmp_path / "firmware.bin"
        image.write_bytes(os.urandom(4096))
        facts = flash_remote(address, image, 0x08000000)
        assert facts["flash_tool"] == "pyocd" and facts["virtual_time"] is False
        argv = json.loads(record.read_text())
        assert argv[:3] == ["flash", "--target", "stm32f746xg"] and argv[3:5] == ["--base-address", "0x8000000"]
        assert (tmp_path / "flashed.bin").read_bytes() == image.read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_emulated_target_is_refused_by_the_real_board_service():
    result = subprocess.run([EDGEKIT, "farm", "flash-service", "emu-cortex-m4"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and "export it with: edgekit farm export emu-cortex-m4" in result.stderr
