"""A real labgrid farm on loopback: labgrid's coordinator, and `edgekit farm export` serving an emulated Pi (sshd in
a network namespace) and an emulated Cortex-M4 (QEMU) through labgrid's exporter."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgekit.emulators.base import free_loopback_port
from edgekit.emulators.netns_sshd import unavailable_reason
from tests.helpers import host_state, leaked

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLACES = ("emu-rpi4-x86", "emu-cortex-m4")


@dataclass
class Farm:
    coordinator: str
    exporter: subprocess.Popen

    def state(self) -> tuple[dict[str, str | None], list[str]]:
        """({place: who holds it}, [reservation tokens]) as the coordinator sees them now."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        from edgekit.farm.place import FarmSession
        farm = FarmSession(self.coordinator)
        try:
            farm.sync()
            held = {name: place.acquired for name, place in farm.places.items()}
            reply = farm.call("GetReservations", pb2.GetReservationsRequest(), "listing reservations")
            return held, [r.token for r in reply.reservations]
        finally:
            farm.close()


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"'{text}' not seen; exporter said: {''.join(lines)}{proc.stderr.read() if proc.poll() is not None else ''}")


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    reason = unavailable_reason()
    if reason or not (ROOT / ".venv-pi").exists():
        pytest.skip(reason or ".venv-pi missing: run `make setup`")
    if subprocess.run(["which", "qemu-system-arm"], capture_output=True).returncode:
        pytest.skip("qemu-system-arm not installed (make system-deps)")
    workdir = tmp_path_factory.mktemp("coordinator")
    address = f"127.0.0.1:{free_loopback_port()}"
    coordinator = subprocess.Popen([str(BIN / "labgrid-coordinator"), "--listen", address], cwd=workdir,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/{address.replace(':', '/')}"],
                         capture_output=True).returncode:
        assert time.monotonic() < deadline and coordinator.poll() is None, "labgrid-coordinator did not listen"
        time.sleep(0.2)
    before = host_state()
    exporter = subprocess.Popen([str(BIN / "edgekit"), "farm", "export", *PLACES, "--coordinator", address],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        _wait_for_line(exporter, "farm ready", 60)
        yield Farm(address, exporter)
    finally:
        exporter.send_signal(signal.SIGTERM)
        try:
            exporter.wait(timeout=30)
        except subprocess.TimeoutExpired:
            exporter.kill()
        coordinator.terminate()
        coordinator.wait(timeout=10)
    assert not leaked(before)["netns"], "edgekit farm export left a network namespace behind"


def edgekit_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}
