"""Byte channels to a device and the errors of a link: used by transports (which make channels) and by sessions
(which speak a protocol over them). Depends on nothing else in edgekit but its errors."""
from __future__ import annotations

import queue
import threading
from typing import IO, Callable, Protocol

from ..errors import DeviceError


class LinkTimeout(DeviceError):
    """The device did not answer in time."""


class LinkClosed(DeviceError):
    """The device closed the link (the agent exited or the connection dropped)."""


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
