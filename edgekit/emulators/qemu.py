"""QEMU system emulation of a Cortex-M board: the firmware's UART on a local TCP socket, deterministic
instruction counting (-icount shift=0), a wall-clock limit, a clean stop. Board facts come from the profile's
[emulation.options] (machine), not from code."""
from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

from ..errors import DeviceError, InputError

QEMU = "qemu-system-arm"
# Semihosting exit codes the firmware uses (firmware/ports/common/ek_startup.c)
FAULT_CODES = {0x70: "HardFault", 0x71: "an unexpected exception (NMI/MemManage/BusFault/UsageFault/SVC)",
               0: "main() returned"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuMachine:
    """One QEMU process running `kernel` on `machine`; use as a context manager.

    icount_shift=0 makes one guest instruction take 1 ns of virtual time, so SysTick readings count instructions
    deterministically (QEMU models no pipeline: instructions, not cycles). `limit_s` bounds the whole run.
    """

    def __init__(self, machine: str, kernel: Path, *, icount_shift: int = 0, limit_s: float = 900.0,
                 log: Path | None = None) -> None:
        self.machine, self.kernel, self.icount_shift, self.limit_s = machine, Path(kernel), icount_shift, limit_s
        self.log_path = log
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None
        self.timed_out = False

    def command(self) -> list[str]:
        return [QEMU, "-M", self.machine, "-nographic", "-monitor", "none", "-kernel", str(self.kernel),
                "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on",
                "-icount", f"shift={self.icount_shift},align=off,sleep=off",
                "-semihosting-config", "enable=on,target=native"]

    def start(self) -> "QemuMachine":
        if shutil.which(QEMU) is None:
            raise InputError(f"{QEMU} not found on PATH", "install qemu-system-arm (`make system-deps`)")
        if not self.kernel.is_file():
            raise InputError(f"firmware image not found: {self.kernel}")
        self.port = _free_port()
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT)
        if self.log_path:
            out.close()
        self._timer = threading.Timer(self.limit_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _expire(self) -> None:
        self.timed_out = True
        self.stop()

    @property
    def url(self) -> str:
        """pyserial URL of the UART; QEMU accepts it once the machine is built (callers retry until then)."""
        return f"socket://127.0.0.1:{self.port}"

    def check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise DeviceError(self.exit_reason())

    def exit_reason(self) -> str:
        if self._proc is None or self._proc.poll() is None:
            return "QEMU is running"
        if self.timed_out:
            return f"QEMU was stopped after its {self.limit_s:g} s limit"
        code = self._proc.returncode
        what = FAULT_CODES.get(code, f"exit status {code}")
        return f"the firmware under QEMU ({self.machine}) stopped: {what}{self._tail()}"

    def _tail(self) -> str:
        if not self.log_path or not Path(self.log_path).is_file():
            return ""
        lines = Path(self.log_path).read_text(errors="replace").strip().splitlines()
        return f" ({lines[-1][:200]})" if lines else ""

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def facts(self) -> dict[str, Any]:
        return {"emulator": "qemu-system-arm", "machine": self.machine,
                "icount_shift": self.icount_shift, "instructions_per_virtual_ns": 2.0 ** -self.icount_shift}

    def __enter__(self) -> "QemuMachine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
