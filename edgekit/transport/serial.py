"""Serial transport to the edgekit MCU firmware (pyserial): a FirmwarePort. The model travels inside the firmware
image, so there is no upload: `flash(image)` puts the image on a real board (pyocd or openocd) or, for an emulated
target given no port, starts the profile's emulator (emulators/, e.g. QEMU) with it; `connect()` opens the port.

Options: port (device path or pyserial URL; real boards), baud (default 115200), flash_tool ("pyocd" |
"openocd" | "none": the board is already flashed), pyocd_target / openocd_config, limit_s (an emulator's
wall-clock limit), flash_service (HOST:PORT of a farm board's flash service, set from a labgrid place: edgekit/farm).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DeviceError, InputError
from .base import Transport, register_transport
from .channel import SerialPort
from .options import TransportOption

if TYPE_CHECKING:
    from ..emulators import Emulator
    from ..profiles import Profile

FLASH_HINT = "install pyocd (pip install pyocd) or openocd, or flash firmware.bin yourself and pass --flash-tool none"


def _find_tool(name: str) -> str | None:
    """A probe tool on PATH, or installed beside this Python (`pip install pyocd` into edgekit's venv)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def flash_real_board(profile: "Profile", options: dict[str, Any], image: Path,
                     load_address: int | None) -> dict[str, Any]:
    """Flash a real board with its probe (pyocd or openocd, options flash_tool / pyocd_target / openocd_config);
    the facts `flash` reports for it."""
    tool = options.get("flash_tool") or ("pyocd" if _find_tool("pyocd") else
                                         "openocd" if _find_tool("openocd") else None)
    if tool is None:
        raise DeviceError("no flashing tool found for the real board", FLASH_HINT)
    fw = profile.firmware
    if tool == "pyocd":
        chip = options.get("pyocd_target") or (fw.pyocd_target if fw else None) or profile.name
        cmd = ["pyocd", "flash", "--target", str(chip),
               *(["--base-address", f"0x{load_address:x}"] if load_address is not None else []), str(image)]
    elif tool == "openocd":
        config = options.get("openocd_config") or (fw.openocd_config if fw else None)
        if not config:
            raise InputError("openocd needs a board config", "pass --openocd-config board/<your board>.cfg")
        where = f" 0x{load_address:x}" if load_address is not None else ""
        # The path in braces: one Tcl word, whatever it contains.
        cmd = ["openocd", "-f", str(config), "-c", f"program {{{image}}}{where} verify reset exit"]
    elif tool == "none":
        cmd = None
    else:
        raise InputError(f"unknown flash_tool '{tool}'", "use pyocd, openocd or none")
    if cmd is not None:
        found = _find_tool(cmd[0])
        if found is None:
            raise DeviceError(f"{cmd[0]} not found on PATH", FLASH_HINT)
        cmd[0] = found
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{tool} did not finish flashing within 120 s") from None
        if proc.returncode:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DeviceError(f"{tool} could not flash the board: {last[0][:200]}")
    return {"cpu": f"{profile.hardware.core} on {profile.name}", "virtual_time": False, "flash_tool": tool}


def emulated_board_facts(profile: "Profile", emulator: "Emulator") -> dict[str, Any]:
    """What `flash` reports for a board booted under an emulator: its facts, a CPU label and the time base."""
    facts = emulator.describe()
    virtual = bool(facts.get("virtual_time"))
    return {**facts, "cpu": f"{facts.get('board', profile.name)} ({profile.hardware.core})" +
            (", virtual time" if virtual else ""), "virtual_time": virtual}


@register_transport("serial")
class SerialTransport(Transport):
    cli_options = (
        TransportOption("port", "--serial-port", "serial targets: the board's port (/dev/ttyACM0 or a pyserial URL); "
                        "emulated targets start QEMU"),
        TransportOption("flash_tool", "--flash-tool", "serial targets: how to flash a real board (default: pyocd or "
                        "openocd, whichever is installed)", choices=("pyocd", "openocd", "none")),
        TransportOption("pyocd_target", "--pyocd-target", "serial targets: pyocd's name for the chip (default: the "
                        "profile's [firmware] pyocd_target)"),
        TransportOption("openocd_config", "--openocd-config", "serial targets: openocd's board config "
                        "(default: the profile's [firmware] openocd_config)"),
    )

    def open(self) -> None:
        # Nothing to connect to yet: the board (or its emulator) runs nothing until it is given the image.
        self._emulator: Emulator | None = None
        self._remote_facts: dict[str, Any] | None = None  # what a farm board's flash service reported
        self._port: SerialPort | None = None
        self._url: str | None = None

    def flash(self, image: Path, load_address: int | None = None) -> dict[str, Any]:
        if self.options.get("flash_service"):  # a farm's board: its exporter's service boots or flashes it
            from ..farm.flash_service import flash_remote
            self._remote_facts = flash_remote(str(self.options["flash_service"]), image, load_address)
            self._url = str(self.options["port"])
            return self._remote_facts
        if not self.options.get("port") and self.profile.emulated:
            from ..emulators import emulator_for
            self._emulator = emulator_for(self.profile, self.options)
            self._emulator.start(image, load_address)
            self._url = str(self._emulator.transport_options()["port"])
            return emulated_board_facts(self.profile, self._emulator)
        port = self.options.get("port")
        if not port:
            raise InputError(f"target '{self.profile.name}' needs a serial port",
                             "pass --serial-port /dev/ttyACM0 (or a pyserial URL)")
        self._url = str(port)
        return flash_real_board(self.profile, self.options, image, load_address)

    def check_alive(self) -> None:
        if self._emulator is not None:
            self._emulator.check_alive()

    # ---- the link -------------------------------------------------------------------------------------------
    def connect(self, timeout: float) -> SerialPort:
        import serial
        if self._url is None:
            raise DeviceError("the board has not been flashed on this link")
        deadline = time.monotonic() + min(timeout, 30.0)
        while True:
            try:
                port = serial.serial_for_url(self._url, baudrate=int(self.options.get("baud", 115200)), timeout=0.5)
                break
            except (serial.SerialException, OSError) as exc:
                self.check_alive()  # an emulator that died will never listen: say why now
                if time.monotonic() > deadline:
                    raise DeviceError(f"could not open serial link {self._url}: {exc}") from None
                time.sleep(0.05)
        sock = getattr(port, "_socket", None)
        if sock is not None:  # socket:// to an emulator: without TCP_NODELAY each small frame waits ~50 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._port = port
        return port

    def close(self) -> None:
        port, self._port = getattr(self, "_port", None), None
        if port is not None:
            try:
                port.close()
            except Exception:  # already closed by the session
                pass
        emulator, self._emulator = getattr(self, "_emulator", None), None
        if emulator is not None:
            emulator.stop()

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"transport": self.name}
        emulator = getattr(self, "_emulator", None)
        if emulator is not None:
            facts.update(emulator.describe())
        elif getattr(self, "_remote_facts", None):
            facts.update(self._remote_facts, port=self.options["port"], flash_service=self.options["flash_service"])
        elif self.options.get("port"):
            facts["port"] = self.options["port"]
        return facts
