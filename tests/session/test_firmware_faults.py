"""Faults on the firmware's serial line and device: a line that drops and flips bytes (a relay on loopback between
the host and QEMU's UART) gives the clean run's results through the protocol's CRC and resends; a device that dies
mid-run is an error within the timeout."""
import random
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgekit.emulators.qemu import QemuMachine
from edgekit.errors import DeviceError
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.transport import make_transport

pytestmark = pytest.mark.emulator


class NoisyLine:
    """Relays one connection from a loopback port to QEMU's UART, dropping or flipping a bit of each byte with
    probability `rate` (half each), in both directions, from a seeded generator."""

    def __init__(self, upstream: int, rate: float, seed: int) -> None:
        self.rate, self.rng = rate, random.Random(seed)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.upstream = upstream
        self.damaged = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self.server.accept()
        deadline = time.monotonic() + 30
        while True:  # QEMU listens on its UART socket a moment after it starts
            try:
                board = socket.create_connection(("127.0.0.1", self.upstream))
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    client.close()
                    return
                time.sleep(0.05)
        for a, b in ((client, board), (board, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(4096):
                out = bytearray()
                for byte in data:
                    r = self.rng.random()
                    if r < self.rate / 2:
                        self.damaged += 1  # dropped
                    elif r < self.rate:
                        self.damaged += 1
                        out.append(byte ^ (1 << self.rng.randrange(8)))
                    else:
                        out.append(byte)
                dst.sendall(out)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def close(self) -> None:
        self.server.close()


def _outputs(art, x: np.ndarray, rate: float) -> tuple[np.ndarray, int, int]:
    """The device's outputs for `x` through a line with error `rate`; (outputs, resends, damaged bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        qemu = QemuMachine("mps2-an386", art.path / "firmware.bin", load_address=0, limit_s=600,
                           log=Path(tmp) / "qemu.log")
        with qemu:
            line = NoisyLine(qemu.port, rate, seed=1)
            try:
                # The board is already running (flash_tool none): the serial link connects through the relay.
                with make_transport(load_profile("emu-cortex-m4"), options={"port": line.url, "flash_tool": "none"}
                                    ) as link:
                    session, _ = open_session(link, art, timeout=120)
                    try:
                        session.hello()
                        session.load()
                        y = session.predict([x])[0]
                    finally:
                        session.close()
                return y, session.facts.get("link_retries", 0), line.damaged
            finally:
                line.close()


@pytest.fixture(scope="module")
def clean(mcu_artifact, digits):
    """The device's outputs for the first 40 test samples over a clean line (the same relay, no damage)."""
    x = digits[1].x_test[:40]
    y, resends, _ = _outputs(mcu_artifact, x, 0.0)
    assert resends == 0
    return x, y


@pytest.mark.parametrize("rate,samples", [(0.001, 40), (0.01, 4)])
def test_a_noisy_line_gives_the_clean_results(mcu_artifact, clean, rate, samples):
    x, expected = clean
    noisy, resends, damaged = _outputs(mcu_artifact, x[:samples], rate)
    assert damaged > 0 and resends > 0  # the line did damage frames, and the protocol noticed
    np.testing.assert_array_equal(noisy, expected[:samples])


def test_a_device_that_dies_mid_run_is_an_error_within_the_timeout(mcu_artifact):
    with make_transport(load_profile("emu-cortex-m4")) as link:
        session, _ = open_session(link, mcu_artifact, timeout=10)
        try:
            session.hello()
            session.load()
            qemu = link._emulator._qemu._proc  # the QEMU process the link started (private: only a test reaches in)
            qemu.kill()  # the board dies
            t0 = time.monotonic()
            with pytest.raises(DeviceError, match="QEMU|firmware|serial"):
                session.bench(runs=1000, warmup=0)
            assert time.monotonic() - t0 < 15
        finally:
            session.close()
    assert qemu.poll() is not None  # reaped: no zombie left behind
