"""Local-process transport: the agent runs on this host (the emulated phone), memory-limited to the profile's RAM."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..agent import AGENT_SCRIPT
from .base import LineChannel, Transport, register_transport


@register_transport("local")
class LocalTransport(Transport):
    """Options: python (interpreter for the agent, default this one), memory_limit (bytes, default profile RAM)."""

    def open(self) -> None:
        self.workspace = Path(tempfile.mkdtemp(prefix="edgekit-agent-"))
        self._proc: subprocess.Popen | None = None
        shutil.copyfile(AGENT_SCRIPT, self.workspace / "agent.py")

    def upload_dir(self, local: Path, remote_name: str) -> str:
        staging = self.workspace / f".{remote_name}.partial"
        shutil.copytree(local, staging)
        os.rename(staging, self.workspace / remote_name)
        return remote_name

    def start_agent(self) -> LineChannel:
        # The agent caps its own address space at the device's RAM: no pre-exec hook in this multithreaded host.
        limit = int(self.options.get("memory_limit", self.profile.hardware.ram_bytes))
        python = self.options.get("python", sys.executable)
        self._stderr = open(self.workspace / "agent.log", "wb")
        self._proc = subprocess.Popen([python, str(self.workspace / "agent.py"), "--workspace", str(self.workspace),
                                       "--memory-limit", str(limit)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                      cwd=self.workspace)
        return LineChannel(self._proc.stdout, self._proc.stdin, on_close=self._stop, describe=self._log_tail)

    def _log_tail(self) -> str:
        try:
            tail = (self.workspace / "agent.log").read_text(errors="replace").strip().splitlines()[-1:]
        except OSError:
            tail = []
        return f": {tail[0]}" if tail else ""

    def _stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None

    def close(self) -> None:
        self._stop()
        if getattr(self, "_stderr", None):
            self._stderr.close()
        if getattr(self, "workspace", None):
            shutil.rmtree(self.workspace, ignore_errors=True)

    def describe(self) -> dict:
        return {"transport": self.name, "memory_limit_bytes": int(self.options.get(
            "memory_limit", self.profile.hardware.ram_bytes))}
