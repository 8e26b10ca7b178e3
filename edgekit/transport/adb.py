"""adb transport for Android phones: push the artifact and the agent, run the agent with `adb shell`.

The phone needs a Python with numpy and the ExecuTorch runtime (e.g. in Termux); the agent protocol is the same
as everywhere else. Options: serial (device serial; default $ANDROID_SERIAL or the only device), adb (the adb
executable, default the one on PATH), python (the device's interpreter, default "python3"), remote_root (default
/data/local/tmp/edgekit), command_timeout (s, default 60).

Every adb call is an argument list with a timeout. `adb shell` hands its command to the device's shell as one
string, so that string is always built with shlex.join (each argument quoted), never from raw input. Uploads go
to a temporary directory, their sha256 is checked on the device, then it is renamed into place.
"""
from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ..agent import AGENT_SCRIPT
from ..artifact import sha256_file
from ..errors import DeviceError, InputError
from .base import LineChannel, Transport, register_transport
from .options import TransportOption


@register_transport("adb")
class ADBTransport(Transport):
    cli_options = (
        TransportOption("serial", "--adb-serial", "adb targets: the phone's serial (default $ANDROID_SERIAL or the "
                        "only device)"),
        TransportOption("python", "--device-python", "SSH and adb targets: the device's Python with the runtime "
                        "(default python3)"),
    )

    def open(self) -> None:
        self._proc: subprocess.Popen | None = None
        self.workspace: str | None = None
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
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"adb: {what} did not finish within {timeout or self.timeout:g} s",
                              "check the USB connection and that the phone is unlocked") from None
        except OSError as exc:
            raise DeviceError(f"adb: {what} failed: {exc}") from None
        if check and proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
            raise DeviceError(f"adb: {what} failed: {detail}")
        return proc

    def _shell(self, argv: list[str], what: str, timeout: float | None = None) -> str:
        """Run argv on the device; adb passes one command string to the device's shell, so quote each part."""
        proc = self._adb(["shell", shlex.join(argv)], what, timeout, check=False)
        if proc.returncode == 127:
            raise DeviceError(f"the phone has no '{argv[0]}'", "install it on the phone (e.g. in Termux)")
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
            raise DeviceError(f"adb: {what} failed: {detail}")
        return proc.stdout

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
                             "choose one with the transport option serial or ANDROID_SERIAL")
        else:
            serial = next(iter(devices))
        if devices[serial] != "device":
            raise DeviceError(f"Android device {serial} is '{devices[serial]}'",
                              "accept the USB debugging prompt on the phone" if devices[serial] == "unauthorized"
                              else "reconnect the phone")
        return serial

    def _push_checked(self, files: dict[str, Path], staging: str) -> None:
        self._shell(["mkdir", "-p", staging], "creating a directory")
        for name, local in files.items():
            self._adb(["push", str(local), f"{staging}/{name}"], f"pushing {name}", timeout=self.timeout + 60)
        out = self._shell(["sha256sum", *[f"{staging}/{n}" for n in files]], "checking pushed files")
        digests = [line.split()[0] for line in out.splitlines() if line.strip()]
        for (name, local), digest in zip(files.items(), digests):
            if digest != sha256_file(local):
                raise DeviceError(f"push corrupted: {name} has a different sha256 on the phone; refusing to use it")
        if len(digests) != len(files):
            raise DeviceError("adb: sha256sum on the phone did not hash every pushed file")

    def prepare_device(self, artifact: Any) -> dict[str, float]:
        t0 = time.perf_counter()
        self.agent_dir = f"{self.remote_root}/agent-{sha256_file(AGENT_SCRIPT)[:16]}"
        present = self._adb(["shell", shlex.join(["test", "-f", f"{self.agent_dir}/agent.py"])], "looking for the agent",
                            check=False).returncode == 0
        if not present:
            staging = f"{self.remote_root}/.agent-{secrets.token_hex(4)}"
            self._push_checked({"agent.py": AGENT_SCRIPT}, staging)
            self._shell(["mv", staging, self.agent_dir], "installing the agent")
        self.workspace = f"{self.remote_root}/ws-{secrets.token_hex(8)}"
        return {"setup_s": time.perf_counter() - t0}

    def upload_dir(self, local: Path, remote_name: str) -> str:
        staging = f"{self.workspace}/.{remote_name}.partial"
        self._push_checked({p.name: p for p in sorted(Path(local).iterdir()) if p.is_file()}, staging)
        self._shell(["mv", staging, f"{self.workspace}/{remote_name}"], "renaming the upload")
        return remote_name

    def start_agent(self) -> LineChannel:
        command = shlex.join([self.python, f"{self.agent_dir}/agent.py", "--workspace", self.workspace])
        # -T: no pty, so the JSON lines pass through unaltered (a pty would add \r and echo our input).
        self._proc = subprocess.Popen([self.adb, "-s", self.serial, "shell", "-T", "exec " + command],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return LineChannel(self._proc.stdout, self._proc.stdin, on_close=self._stop)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=5)

    def close(self) -> None:
        self._stop()
        if self.workspace and getattr(self, "serial", None):
            try:
                self._shell(["rm", "-rf", self.workspace], "removing the workspace", timeout=30)
            except DeviceError:
                pass
            self.workspace = None

    def describe(self) -> dict[str, Any]:
        return {"transport": self.name, "serial": getattr(self, "serial", None), "device_python": self.python}
