"""Byte channels to a device and the errors of a link: used by transports (which make channels) and by sessions
(which speak a protocol over them). Depends on nothing else in edgekit but its errors."""
from __future__ import annotations

import queue
import re
import signal
import threading
from typing import IO, Callable, Protocol

from ..errors import DeviceError


class LinkTimeout(DeviceError):
    """The device did not answer in time."""


class LinkClosed(DeviceError):
    """The device closed the link (the agent exited or the connection dropped)."""


# Lines a runtime logs while it works (TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate", absl's
# "I0000 ..." lines): never the reason a process ended.
_LOG_NOISE = re.compile(r"^(INFO|DEBUG|VERBOSE)\b|^[IWD]\d{4} |^WARNING: All log messages before absl")


def last_meaningful_line(log: str) -> str | None:
    """The line of a process's stderr that says why it ended: Python's fatal-error line for a crash in native
    code, else the last line that is not a runtime's progress log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    if fatal:
        return fatal[-1]
    return next((line for line in reversed(lines) if not _LOG_NOISE.search(line)), None)


def exit_description(returncode: int | None, log: str) -> str:
    """How a process ended, to append to 'the agent exited': ' (killed by SIGSEGV): <line>', ' with status 3:
    <line>'. `returncode` as subprocess reports it (negative: the signal), None when unknown."""
    how = ""
    if returncode is not None and returncode < 0:
        how = f" (killed by {signal_name(-returncode)})"
    elif returncode:
        how = f" with status {returncode}"
    line = last_meaningful_line(log)
    return how + (f": {line}" if line else "")


def from_shell_status(status: int | None) -> int | None:
    """A shell's exit status as subprocess reports a return code: a shell says 'killed by signal N' as 128 + N."""
    return -(status - 128) if status is not None and status > 128 else status


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class LineChannel:
    """Newline-delimited messages over a pair of byte streams, with a timeout on every read.

    A reader thread moves lines into a queue so a dead device cannot block the host beyond the timeout.
    """

    def __init__(self, reader: IO[bytes], writer: IO[bytes], on_close: Callable[[], None] | None = None,
                 describe: Callable[[], str] | None = None) -> None:
        self._writer = writer
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._on_close = on_close
        self._describe = describe or (lambda: "")
        threading.Thread(target=self._pump, args=(reader,), daemon=True).start()

    def _pump(self, reader: IO[bytes]) -> None:
        try:
            for line in iter(reader.readline, b""):
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def send(self, line: bytes) -> None:
        try:
            self._writer.write(line.rstrip(b"\n") + b"\n")
            self._writer.flush()
        except (OSError, ValueError) as exc:
            raise LinkClosed(f"link to the agent is closed ({exc}){self._describe()}") from None

    def recv(self, timeout: float) -> bytes:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise LinkTimeout(f"the agent did not answer within {timeout:g} s", "the device may be hung or "
                              "overloaded; raise the timeout with --timeout") from None
        if line is None:
            self._lines.put(None)
            raise LinkClosed(f"the agent exited{self._describe()}")
        return line

    def close(self) -> None:
        """Stop what is at the other end (the link's on_close); safe to call twice."""
        if self._on_close:
            self._on_close()
            self._on_close = None


class SerialPort(Protocol):
    """What a firmware session needs of a serial port (a pyserial port: a real UART or socket:// to an emulator)."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...
