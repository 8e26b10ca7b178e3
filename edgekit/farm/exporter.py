"""Serve emulated devices to a labgrid farm: start them, describe them as labgrid resources, run labgrid's own
exporter on that description, and create a place per device on the coordinator.

A Linux board (the emulated Pis) is exported as labgrid's NetworkService plus an EdgekitTarget carrying its SSH
host key; a microcontroller (QEMU Cortex-M) as labgrid's NetworkSerialPort (QEMU's UART on a fixed TCP port) plus
an EdgekitTarget naming its flash service (flash_service.py). Real boards are exported by the same kind of
configuration written by hand (docs/farm.md).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..emulators.base import stop_process
from ..errors import DeviceError, InputError
from ..profiles import Profile, load_profile
from .flash_service import FlashService
from .place import FarmSession

READY_TIMEOUT_S = 60.0


def labgrid_exporter_command() -> str:
    """labgrid's exporter, from the environment edgekit runs in (the venv's bin/)."""
    beside = Path(sys.executable).parent / "labgrid-exporter"
    found = str(beside) if beside.exists() else shutil.which("labgrid-exporter")
    if not found:
        raise InputError("labgrid-exporter not found", "install edgekit's requirements (`make setup`)")
    return found


def check_distinct(targets: list[str] | tuple[str, ...]) -> None:
    """Each target once: a place is named like its device and holds one, so a repeated target would put two
    devices behind one place."""
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise InputError(f"{', '.join(repeated)} given more than once: each target is one device behind one place "
                         "named like it", "name each target once")


@dataclass
class ExportedDevice:
    """One emulated device as exported: its resources (labgrid class -> parameters) and what runs it."""

    profile: Profile
    resources: dict[str, dict[str, Any]]
    emulator: Any = None
    flash_service: FlashService | None = None

    def stop(self) -> None:
        if self.flash_service is not None:
            self.flash_service.stop()
        if self.emulator is not None:
            self.emulator.stop()


def _export_linux_board(profile: Profile, emulator: Any) -> ExportedDevice:
    emulator.start()
    options = emulator.transport_options()
    user, _, address = str(options["host"]).partition("@")
    host, _, port = address.rpartition(":")
    # known_hosts holds one line "HOST TYPE BASE64": the key is what the place hands to clients.
    key = " ".join(Path(options["known_hosts"]).read_text().split()[1:3])
    target = {"profile": profile.name, "ssh_host_key": key, "identity": options.get("identity"),
              "device_python": options.get("python")}
    return ExportedDevice(profile, {
        "NetworkService": {"address": host, "username": user, "port": int(port)},
        "EdgekitTarget": {k: v for k, v in target.items() if v},
    }, emulator=emulator)


def _export_firmware_board(profile: Profile, bind: str) -> ExportedDevice:
    from ..emulators import emulator_for
    from ..emulators.base import free_loopback_port
    from ..transport.serial import emulated_board_facts
    serial_port = free_loopback_port()
    board = emulator_for(profile, {"serial_port": serial_port})

    def boot(image: Path, load_address: int | None) -> dict[str, Any]:
        board.stop()
        board.start(image, load_address)
        return emulated_board_facts(profile, board)

    service = FlashService(boot, host=bind).start()
    return ExportedDevice(profile, {
        "NetworkSerialPort": {"host": bind, "port": serial_port, "speed": 115200, "protocol": "raw"},
        "EdgekitTarget": {"profile": profile.name, "flash_service": service.address},
    }, emulator=board, flash_service=service)


@dataclass
class FarmExporter:
    """Emulated devices served to a labgrid coordinator under exporter `name`; a place per device."""

    coordinator: str
    name: str
    targets: list[str]
    bind: str = "127.0.0.1"
    devices: list[ExportedDevice] = field(default_factory=list)
    config_path: Path | None = None
    _process: subprocess.Popen | None = None
    _workdir: Path | None = None

    def start(self) -> None:
        from ..emulators import emulator_for
        check_distinct(self.targets)
        profiles = [load_profile(t) for t in self.targets]  # every name checked before anything starts
        for profile in profiles:
            if profile.emulation is None or not profile.emulation.kind:
                raise InputError(f"target '{profile.name}' is not an emulated device edgekit can start",
                                 "export a real board with labgrid's exporter and an EdgekitTarget (docs/farm.md)")
        self._workdir = Path(tempfile.mkdtemp(prefix="edgekit-farm-"))
        try:
            for profile in profiles:
                emulator = emulator_for(profile)
                self.devices.append(_export_firmware_board(profile, self.bind) if emulator.takes_image
                                    else _export_linux_board(profile, emulator))
            self.config_path = self._workdir / "exporter.yaml"
            self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
            log = open(self._workdir / "exporter.log", "wb")
            self._process = subprocess.Popen(
                [labgrid_exporter_command(), "--coordinator", self.coordinator, "--name", self.name,
                 "--hostname", self.bind, str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            log.close()
            self._create_places()
        except BaseException:
            self.stop()
            raise

    def config(self) -> dict[str, Any]:
        """labgrid exporter configuration: one resource group per device, named like its profile."""
        return {d.profile.name: d.resources for d in self.devices}

    def _create_places(self) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
        farm = FarmSession(self.coordinator)
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while set(farm.session.resources.get(self.name, {})) < {d.profile.name for d in self.devices}:
                if self._process is not None and self._process.poll() is not None:
                    raise DeviceError(f"labgrid-exporter exited (status {self._process.returncode}): "
                                      f"{self.exporter_log_tail()}")
                if time.monotonic() > deadline:
                    raise DeviceError(f"labgrid-exporter did not register its resources within "
                                      f"{READY_TIMEOUT_S:g} s: {self.exporter_log_tail()}")
                farm.pause(0.2)
                farm.sync()
            for device in self.devices:
                place = device.profile.name
                pattern = f"{self.name}/{place}/*"
                if place not in farm.places:
                    farm.call("AddPlace", pb2.AddPlaceRequest(name=place), f"creating place '{place}'")
                    farm.sync()
                if not farm.places[place].hasmatch(pattern.split("/")):
                    farm.call("AddPlaceMatch", pb2.AddPlaceMatchRequest(placename=place, pattern=pattern),
                              f"matching place '{place}' to {pattern}")
            farm.sync()
        finally:
            farm.close()

    def exporter_log_tail(self) -> str:
        log = (self._workdir / "exporter.log") if self._workdir else None
        lines = log.read_text(errors="replace").strip().splitlines() if log and log.is_file() else []
        return lines[-1][:300] if lines else "no output"

    def check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise DeviceError(f"labgrid-exporter exited (status {self._process.returncode}): "
                              f"{self.exporter_log_tail()}")
        for device in self.devices:
            if device.flash_service is None:  # a board with its own OS runs all along; firmware runs per image
                device.emulator.check_alive()

    def stop(self) -> None:
        """Withdraw the resources (the exporter goes), then stop every device; safe to call twice."""
        process, self._process = self._process, None
        stop_process(process, grace_s=10)
        for device in self.devices:
            device.stop()
        self.devices = []
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
