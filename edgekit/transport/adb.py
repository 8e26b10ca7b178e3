"""adb transport for Android phones: a RemoteShell over `adb shell` and `adb push`, on which
edgekit/session/install.py installs the agent.

What runs on the phone is the target's choice ([transport] agent in its profile, or the option agent): "native",
edgekit's ek_pte_runner bundle that needs nothing from Android (edgekit/session/native_runner.py), or "python",
the Python agent, for which the phone needs a Python with numpy and the ExecuTorch runtime (e.g. in Termux); its
protocol is the same as everywhere else. Options: agent ("native" or "python"), cpus (native: pin the runner to
these CPUs with taskset, e.g. "8"), serial (device serial; default $ANDROID_SERIAL or the only device), adb (the adb
executable, default the one on PATH), python (the device's interpreter, default "python3"), remote_root (default
/data/local/tmp/edgekit), command_timeout (s, default 60).

Every adb call is an argument list with a timeout. `adb shell` hands its command to the device's shell as one
string, so that string is always built with shlex.join (each argument quoted), never from raw input.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .. import interrupts
from ..errors import DeviceError, InputError
from .base import Transport, register_transport
from .channel import LineChannel, exit_description, from_shell_status
from .options import TransportOption


@register_transport("adb")
class ADBTransport(Transport):
    cli_options = (
        TransportOption("serial", "--adb-serial", "adb targets: the phone's serial (default $ANDROID_SERIAL or the "
                        "only device)"),
        TransportOption("python", "--device-python", "SSH and adb targets: the device's Python with the runtime "
                        "(default python3)"),
        TransportOption("agent", "--device-agent", "adb targets: what runs the .pte on the phone: 'native' "
                        "(ek_pte_runner, pushed by edgekit; needs nothing on the phone) or 'python' (edgekit's agent "
                        "in the phone's Python; default: the target's [transport] agent)",
                        choices=("native", "python")),
        TransportOption("cpus", "--device-cpus", "adb targets, native runner: pin it to these CPUs with taskset "
                        "(e.g. 8, 4-7; as /sys/devices/system/cpu numbers them)"),
        TransportOption("remote_root", "--device-root", "SSH and adb targets: the folder edgekit keeps its files in "
                        "on the device (default ~/.cache/edgekit; adb: /data/local/tmp/edgekit)"),
    )
    memory_limit = None   # the phone limits memory itself
    check_runtime = True  # a phone's Python may lack numpy or the runtime: probe it once, cached on the phone

    def open(self) -> None:
        self._proc: subprocess.Popen | None = None
        self.timeout = float(self.options.get("command_timeout", 60))
        self.python = str(self.options.get("python", "python3"))
        self.remote_root = str(self.options.get("remote_root", "/data/local/tmp/edgekit"))
        adb = str(self.options.get("adb", "adb"))
        self.adb = shutil.which(adb)
        if self.adb is None:
            raise DeviceError(f"adb not found ('{adb}' is not an executable on PATH)",
                              "install Android platform-tools and put adb on PATH")
        self.serial = self._pick_device(self.options.get("serial") or os.environ.get("ANDROID_SERIAL"))

    def _adb(self, args: list[str], what: str, timeout: float | None = None, serial: bool = True,
             check: bool = True) -> subprocess.CompletedProcess:
        argv = [self.adb, *(["-s", self.serial] if serial else []), *args]
        try:
            proc = interrupts.run(argv, timeout or self.timeout, text=True)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"adb: {what} did not finish within {timeout or self.timeout:g} s",
                              "check the USB connection and that the phone is unlocked") from None
        except OSError as exc:
            raise DeviceError(f"adb: {what} failed: {exc}") from None
        if check and proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
            raise DeviceError(f"adb: {what} failed: {detail}")
        return proc

    def _pick_device(self, wanted: str | None) -> str:
        listing = self._adb(["devices"], "listing devices", timeout=15, serial=False).stdout
        devices = {}
        for line in listing.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2:
                devices[parts[0]] = parts[1]
        if wanted is not None:
            if wanted not in devices:
                raise DeviceError(f"Android device '{wanted}' is not connected (adb devices: "
                                  f"{', '.join(devices) or 'none'})", "connect it and enable USB debugging")
            serial = wanted
        elif not devices:
            raise DeviceError("no Android device connected (adb devices lists none)",
                              "connect a phone with USB debugging enabled")
        elif len(devices) > 1:
            raise InputError(f"several Android devices connected: {', '.join(devices)}",
                             "choose one with --adb-serial or ANDROID_SERIAL")
        else:
            serial = next(iter(devices))
        if devices[serial] != "device":
            raise DeviceError(f"Android device {serial} is '{devices[serial]}'",
                              "accept the USB debugging prompt on the phone" if devices[serial] == "unauthorized"
                              else "reconnect the phone")
        return serial

    # -- RemoteShell ------------------------------------------------------------------------------------------

    def root(self) -> str:
        return self.remote_root

    def run(self, argv: list[str], what: str, timeout: float | None = None) -> tuple[int, str, str]:
        """Run argv on the device; adb passes one command string to the device's shell, so quote each part."""
        proc = self._adb(["shell", shlex.join(argv)], what, timeout, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def _shell(self, argv: list[str], what: str) -> str:
        rc, out, err = self.run(argv, what)
        if rc != 0:
            detail = (err.strip() or out.strip() or f"exit {rc}").splitlines()[-1]
            raise DeviceError(f"adb: {what} failed: {detail}")
        return out

    def put(self, local: Path, remote: str) -> None:
        self._adb(["push", str(local), remote], f"pushing {local.name}", timeout=self.timeout + 60)

    def rename(self, src: str, dst: str) -> None:
        self._shell(["mv", src, dst], "renaming on the phone")

    def sha256(self, paths: list[str]) -> list[str]:
        out = self._shell(["sha256sum", *paths], "checking pushed files")
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def free_bytes(self, path: str) -> int | None:
        return None  # toolbox df output varies by Android version; a full phone fails the push loudly instead

    def spawn(self, argv: list[str]) -> LineChannel:
        if self._proc is not None:
            self._stop(self._proc)  # one process at a time on this link
        # -T: no pty, so the JSON lines pass through unaltered (a pty would add \r and echo our input).
        try:
            with interrupts.deferred():  # held by _proc before an interrupt can leave it running
                proc = subprocess.Popen([self.adb, "-s", self.serial, "shell", "-T", "exec " + shlex.join(argv)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self._proc = proc
        except OSError as exc:
            raise DeviceError(f"adb: starting {argv[0]} failed: {exc}") from None
        return LineChannel(proc.stdout, proc.stdin, on_close=lambda: self._stop(proc),
                           describe=lambda: self._how_it_ended(proc))

    @staticmethod
    def _how_it_ended(proc: subprocess.Popen) -> str:
        try:  # adb returns the phone's exit status, as its shell reports it
            status = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return ""
        log = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        return exit_description(from_shell_status(status), log)

    def _stop(self, proc: subprocess.Popen) -> None:
        if self._proc is proc:
            self._proc = None
        if proc.poll() is not None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=5)

    def close(self) -> None:
        if getattr(self, "_proc", None) is not None:
            self._stop(self._proc)

    def describe(self) -> dict[str, Any]:
        return {"transport": self.name, "serial": getattr(self, "serial", None)}
