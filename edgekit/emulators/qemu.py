"""QEMU system emulation of a Cortex-M board: the firmware's UART on a local TCP socket, deterministic
instruction counting (-icount shift=0), a wall-clock limit, a clean stop.

QemuMachine is one QEMU process (used directly by kernel tools and tests); QemuBoard is the registered emulator
of kind "qemu" that the serial transport starts with the artifact's firmware image. Board facts come from the
profile's [emulation.options] (machine), not from code.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .. import interrupts
from ..errors import DeviceError, InputError
from ..profiles import Profile
from .base import free_loopback_port, register_emulator, stop_process

QEMU = "qemu-system-arm"
# Semihosting exit codes the firmware uses (firmware/ports/common/ek_startup.c)
FAULT_CODES = {0x70: "HardFault", 0x71: "an unexpected exception (NMI/MemManage/BusFault/UsageFault/SVC)",
               0: "main() returned"}


class QemuMachine:
    """One QEMU process running `kernel` on `machine`; use as a context manager.

    icount_shift=0 makes one guest instruction take 1 ns of virtual time, so SysTick readings count instructions
    deterministically (QEMU models no pipeline: instructions, not cycles). `limit_s` bounds the whole run.
    """

    def __init__(self, machine: str, kernel: Path, *, icount_shift: int = 0, limit_s: float = 900.0,
                 log: Path | None = None, load_address: int | None = None, serial_port: int = 0,
                 memory: str | None = None, trace: Sequence[str] = ()) -> None:
        """kernel: an ELF (QEMU places it by its program headers), or a raw image when `load_address` is given
        (copied there by QEMU's generic loader, as a flasher writes it; the core resets from the vector table). serial_port: the UART's loopback TCP port (0: a free one).
        memory: QEMU's -m, for machines whose SoC fixes its own memory (the STM32 boards): the generic loader
        refuses a raw image larger than -m, which such a machine leaves at 0.
        trace: QEMU trace events (e.g. 'nrf51_gpio_write', patterns allowed) logged to `log`, each line stamped with
        the host's wall clock (`PID@SECONDS.MICROS:`): how a test watches the board's peripherals (its GPIO pins)
        from outside the firmware."""
        self.machine, self.kernel, self.icount_shift, self.limit_s = machine, Path(kernel), icount_shift, limit_s
        self.load_address = load_address
        self.log_path = log
        self.fixed_port = serial_port
        self.memory = memory
        self.trace = tuple(trace)
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None
        self.timed_out = False

    def command(self) -> list[str]:
        image = (["-kernel", str(self.kernel)] if self.load_address is None else
                 ["-device", f"loader,file={self.kernel},addr=0x{self.load_address:x}"])
        memory = ["-m", self.memory] if self.memory else []
        return [QEMU, "-M", self.machine, *memory, "-nographic", "-monitor", "none", *image,
                "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on",
                "-icount", f"shift={self.icount_shift},align=off,sleep=off",
                "-semihosting-config", "enable=on,target=native",
                *(arg for event in self.trace for arg in ("-trace", event)),
                *(["-msg", "timestamp=on"] if self.trace else [])]

    def start(self) -> "QemuMachine":
        if shutil.which(QEMU) is None:
            raise InputError(f"{QEMU} not found on PATH", "install qemu-system-arm (`make system-deps`)")
        if not self.kernel.is_file():
            raise InputError(f"firmware image not found: {self.kernel}")
        self.port = self.fixed_port or free_loopback_port()
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        try:
            with interrupts.deferred():  # held by self._proc (stop() ends it) before an interrupt leaves it running
                self._proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=subprocess.STDOUT)
        finally:
            if self.log_path:
                out.close()  # QEMU has its own copy
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

    def connect(self, timeout: float = 10.0, wait_s: float = 20.0) -> socket.socket:
        """A raw socket to the UART, once QEMU listens (tools and tests that speak bytes, not a session)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            except OSError:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise DeviceError(f"QEMU ({self.machine}) did not open its UART socket within {wait_s:g} s") \
                        from None
                time.sleep(0.05)

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
        stop_process(self._proc)

    def facts(self) -> dict[str, Any]:
        return {"emulator": "qemu-system-arm", "machine": self.machine,
                "icount_shift": self.icount_shift, "instructions_per_virtual_ns": 2.0 ** -self.icount_shift}

    def __enter__(self) -> "QemuMachine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@register_emulator("qemu")
class QemuBoard:
    """The profile's QEMU board running a firmware image given at start (an Emulator). Reached through the serial
    transport option `port` (a socket:// URL). Transport option limit_s: QEMU's wall-clock limit (default 1800);
    serial_port: a fixed loopback port for the UART (a farm exports it; default: a free one)."""

    takes_image = True

    def __init__(self, profile: Profile, link_options: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.limit_s = float((link_options or {}).get("limit_s", 1800))
        self.serial_port = int((link_options or {}).get("serial_port", 0))  # fixed for a farm's exported board
        options = profile.emulation.options if profile.emulation else {}
        self.machine_name = str(options.get("machine", ""))
        self.memory = options.get("memory")  # -m for a machine that has no RAM size of its own
        self._qemu: QemuMachine | None = None
        self._workdir: Path | None = None

    def start(self, image: Path | None = None, load_address: int | None = None) -> None:
        if not self.machine_name:
            raise InputError(f"profile '{self.profile.name}': [emulation.options] needs 'machine' (a QEMU board)")
        if image is None:
            raise InputError(f"target '{self.profile.name}' boots a firmware image under QEMU; none was given")
        self._workdir = Path(tempfile.mkdtemp(prefix="edgekit-qemu-"))
        self._qemu = QemuMachine(self.machine_name, image, icount_shift=0, limit_s=self.limit_s,
                                 log=self._workdir / "qemu.log", load_address=load_address,
                                 serial_port=self.serial_port, memory=self.memory)
        self._qemu.start()

    def stop(self) -> None:
        if self._qemu is not None:
            self._qemu.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def check_alive(self) -> None:
        if self._qemu is not None:
            self._qemu.check_alive()  # raises with the firmware's fault or the QEMU limit when QEMU has exited

    def transport_options(self) -> dict[str, Any]:
        if self._qemu is None:
            raise DeviceError("QEMU is not running")
        return {"port": self._qemu.url}

    def describe(self) -> dict[str, Any]:
        facts = (self._qemu or QemuMachine(self.machine_name, Path())).facts()
        return {**facts, "board": f"QEMU {self.machine_name}", "virtual_time": True}

    def __enter__(self) -> "QemuBoard":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
