"""Serial transport to the edgekit MCU firmware (pyserial): a real board on a device path (flashed with pyocd or
openocd when present), or an emulated board under QEMU reached through `socket://`.

Options: port (device path or pyserial URL; real boards), baud (default 115200), flash_tool ("pyocd" |
"openocd" | "none": the board is already flashed), pyocd_target / openocd_config, limit_s (QEMU wall-clock
limit). The model travels inside the firmware image, so this transport overrides open_session.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DeviceError, InputError, UnsupportedError
from .base import LineChannel, Transport, register_transport
from .options import TransportOption

if TYPE_CHECKING:
    from ..artifact import Artifact

FLASH_HINT = "install pyocd (pip install pyocd) or openocd, or flash firmware.bin yourself and pass flash_tool=none"


@register_transport("serial")
class SerialTransport(Transport):
    cli_options = (
        TransportOption("port", "--serial-port", "serial targets: the board's port (/dev/ttyACM0 or a pyserial URL); "
                        "emulated targets start QEMU"),
        TransportOption("flash_tool", "--flash-tool", "serial targets: how to flash a real board (default: pyocd or "
                        "openocd, whichever is installed)", choices=("pyocd", "openocd", "none")),
    )

    def open(self) -> None:
        self._qemu = None
        self._link = None
        self._workdir: Path | None = None

    def upload_dir(self, local: Path, remote_name: str) -> str:
        raise UnsupportedError("serial devices take the model inside the firmware image (see open_session)")

    def start_agent(self) -> LineChannel:
        raise UnsupportedError("serial devices run the edgekit firmware, not the Python agent")

    def open_session(self, artifact: "Artifact", timeout: float) -> tuple[Any, dict[str, float]]:
        from ..session.firmware import FirmwareSession
        if artifact.format != "c-firmware":
            raise UnsupportedError(f"the serial transport deploys c-firmware artifacts, not .{artifact.format}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        emulation = self.profile.emulation
        if emulation is not None and emulation.kind == "qemu":
            machine = self._start_qemu(artifact)
        else:
            machine = self._flash_real_board(artifact)
        timings["flash_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._link = self._connect(machine.pop("url"), timeout)
        timings["connect_s"] = time.perf_counter() - t0
        return FirmwareSession(self._link, artifact, machine, timeout=timeout, on_dead_link=self._why_dead), timings

    # ---- QEMU ---------------------------------------------------------------------------------------------------
    def _start_qemu(self, artifact: "Artifact") -> dict[str, Any]:
        import tempfile
        from ..emulators.qemu import QemuMachine
        opts = self.profile.emulation.options
        if "machine" not in opts:
            raise InputError(f"profile '{self.profile.name}': [emulation.options] needs 'machine' (a QEMU board)")
        self._workdir = Path(tempfile.mkdtemp(prefix="edgekit-qemu-"))
        self._qemu = QemuMachine(opts["machine"], artifact.path / "firmware.elf", icount_shift=0,
                                 limit_s=float(self.options.get("limit_s", 1800)), log=self._workdir / "qemu.log")
        self._qemu.start()
        return {"cpu": f"QEMU {opts['machine']} ({self.profile.hardware.core}), virtual time",
                "url": self._qemu.url, "virtual_time": True, **self._qemu.facts()}

    def _why_dead(self) -> None:
        if self._qemu is not None:
            self._qemu.check_alive()  # raises with the firmware's fault or the QEMU limit when QEMU has exited

    # ---- a real board -------------------------------------------------------------------------------------------
    def _flash_real_board(self, artifact: "Artifact") -> dict[str, Any]:
        port = self.options.get("port")
        if not port:
            raise InputError(f"target '{self.profile.name}' needs a serial port",
                             "pass --serial-port /dev/ttyACM0 (or a pyserial URL)")
        tool = self.options.get("flash_tool") or ("pyocd" if shutil.which("pyocd") else
                                                  "openocd" if shutil.which("openocd") else None)
        image = artifact.path / "firmware.elf"
        if tool is None:
            raise DeviceError("no flashing tool found for the real board", FLASH_HINT)
        if tool == "pyocd":
            cmd = ["pyocd", "flash", "--target", str(self.options.get("pyocd_target", self.profile.name)), str(image)]
        elif tool == "openocd":
            config = self.options.get("openocd_config")
            if not config:
                raise InputError("openocd needs a board config", "pass openocd_config=board/<your board>.cfg")
            cmd = ["openocd", "-f", str(config), "-c", f"program {image} verify reset exit"]
        elif tool == "none":
            cmd = None
        else:
            raise InputError(f"unknown flash_tool '{tool}'", "use pyocd, openocd or none")
        if cmd is not None:
            if shutil.which(cmd[0]) is None:
                raise DeviceError(f"{cmd[0]} not found on PATH", FLASH_HINT)
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except subprocess.TimeoutExpired:
                raise DeviceError(f"{tool} did not finish flashing within 120 s") from None
            if proc.returncode:
                last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise DeviceError(f"{tool} could not flash the board: {last[0][:200]}")
        return {"cpu": f"{self.profile.hardware.core} on {self.profile.name}", "url": port, "virtual_time": False}

    # ---- the link -------------------------------------------------------------------------------------------
    def _connect(self, url: str, timeout: float) -> Any:
        import serial
        deadline = time.monotonic() + min(timeout, 30.0)
        while True:
            try:
                link = serial.serial_for_url(url, baudrate=int(self.options.get("baud", 115200)), timeout=0.5)
                break
            except (serial.SerialException, OSError) as exc:
                if self._qemu is not None:
                    self._qemu.check_alive()
                if time.monotonic() > deadline:
                    raise DeviceError(f"could not open serial link {url}: {exc}") from None
                time.sleep(0.05)
        sock = getattr(link, "_socket", None)
        if sock is not None:  # socket:// to QEMU: without TCP_NODELAY each small frame waits ~50 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return link

    def close(self) -> None:
        if getattr(self, "_link", None) is not None:
            try:
                self._link.close()
            except Exception:  # already closed by the session
                pass
        if getattr(self, "_qemu", None) is not None:
            self._qemu.stop()
        if getattr(self, "_workdir", None) is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"transport": self.name}
        if getattr(self, "_qemu", None) is not None:
            facts.update(self._qemu.facts())
        elif self.options.get("port"):
            facts["port"] = self.options["port"]
        return facts
