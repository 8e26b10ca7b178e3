"""Local-process transport: the "device" is this host (the emulated phone). A RemoteShell over the local
filesystem, so the agent is installed and started exactly as on a real device (same installer, same checks);
everything lives in a temporary directory removed on close. The agent caps its own address space at the profile's
RAM (memory_limit).

Options: python (interpreter for the agent, default this one), memory_limit (bytes, default the profile's RAM),
command_timeout (s, default 60).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import interrupts
from ..artifact import sha256_file
from ..errors import DeviceError
from .base import Transport, register_transport
from .channel import LineChannel, exit_description


@register_transport("local")
class LocalTransport(Transport):
    check_runtime = False  # this host's interpreter: the agent names a missing runtime itself, nothing to cache

    def open(self) -> None:
        with interrupts.deferred():  # held by _root, which close() removes, before an interrupt can leave it
            self._root = Path(tempfile.mkdtemp(prefix="edgekit-agent-"))
        self._procs: list[subprocess.Popen] = []
        self._logs = 0
        self.python = str(self.options.get("python", sys.executable))
        self.memory_limit: int | None = int(self.options.get("memory_limit", self.profile.hardware.ram_bytes))
        self.timeout = float(self.options.get("command_timeout", 60))

    def root(self) -> str:
        return str(self._root)

    def run(self, argv: list[str], what: str, timeout: float | None = None) -> tuple[int, str, str]:
        try:
            proc = interrupts.run(argv, timeout or self.timeout, text=True)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"device: {what} did not finish within {timeout or self.timeout:g} s") from None
        except OSError as exc:  # no such program: what a shell would say with 127
            return 127, "", str(exc)
        return proc.returncode, proc.stdout, proc.stderr

    def put(self, local: Path, remote: str) -> None:
        try:
            shutil.copyfile(local, remote)
        except OSError as exc:
            raise DeviceError(f"copying {local.name} into the workspace failed: {exc}") from None

    def rename(self, src: str, dst: str) -> None:
        try:
            os.rename(src, dst)
        except OSError as exc:
            raise DeviceError(f"renaming {src} to {dst} failed: {exc}") from None

    def sha256(self, paths: list[str]) -> list[str]:
        return [sha256_file(Path(p)) for p in paths]

    def free_bytes(self, path: str) -> int | None:
        return shutil.disk_usage(path).free

    def spawn(self, argv: list[str]) -> LineChannel:
        self._logs += 1
        log_path = self._root / f"process-{self._logs}.log"
        with open(log_path, "wb") as log:  # the child keeps its own descriptor
            try:
                with interrupts.deferred():  # held by _procs before an interrupt can leave it running
                    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            cwd=self._root)
                    self._procs.append(proc)
            except OSError as exc:
                raise DeviceError(f"starting {argv[0]} failed: {exc}") from None
        return LineChannel(proc.stdout, proc.stdin, on_close=lambda: self._stop(proc),
                           describe=lambda: self._how_it_ended(proc, log_path))

    @staticmethod
    def _how_it_ended(proc: subprocess.Popen, log_path: Path) -> str:
        try:  # its stdout is closed: it is exiting, if not gone already
            returncode = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            returncode = None
        try:
            log = log_path.read_text(errors="replace")
        except OSError:
            log = ""
        return exit_description(returncode, log)

    def _stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(timeout=5)

    def close(self) -> None:
        for proc in getattr(self, "_procs", []):
            self._stop(proc)
        if getattr(self, "_root", None):
            shutil.rmtree(self._root, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"transport": self.name, "memory_limit_bytes": int(self.options.get(
            "memory_limit", self.profile.hardware.ram_bytes))}
