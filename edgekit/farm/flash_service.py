"""The flash service of a farm's microcontroller: how a client puts a firmware image on a board it has locked.

edgekit's firmware carries its model, so each artifact is a new image. labgrid exports the board's serial line
(NetworkSerialPort); this service, run by `edgekit farm export` next to the board, takes the image over TCP and
boots the board with it: the emulated board restarts QEMU with it on the same serial port. It answers with the facts
the report needs (time base, instructions per virtual ns).

Wire format, one exchange per connection: the client sends one JSON line
`{"size": N, "sha256": HEX, "load_address": INT|null}` (at most 4 KiB) and then N bytes; the service checks the size
bound and the hash before it touches the board and answers one JSON line: `{"ok": true, "facts": {...}}` or
`{"ok": false, "error": "..."}`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from ..errors import DeviceError, EdgekitError

MAX_HEADER = 4096
MAX_IMAGE = 64 << 20  # an ELF with symbols; far above any MCU's flash
IO_TIMEOUT_S = 30.0
FLASH_TIMEOUT_S = 120.0

Flasher = Callable[[Path, "int | None"], dict[str, Any]]


def _read_line(sock: socket.socket, limit: int) -> tuple[bytes, bytes]:
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise DeviceError("flash service: the connection closed mid-request")
        data += chunk
        if len(data) > limit and b"\n" not in data[:limit]:
            raise DeviceError(f"flash service: request header longer than {limit} bytes")
    line, rest = data.split(b"\n", 1)
    return line, rest


def _read_exact(sock: socket.socket, size: int, already: bytes) -> bytes:
    parts, have = [already], len(already)
    while have < size:
        chunk = sock.recv(min(1 << 20, size - have))
        if not chunk:
            raise DeviceError(f"flash service: image cut short ({have} of {size} bytes)")
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)[:size]


class FlashService:
    """Serve `flasher(image, load_address) -> facts` on HOST:PORT, one request at a time (the place lock means one
    client; a second connection waits)."""

    def __init__(self, flasher: Flasher, host: str = "127.0.0.1", port: int = 0) -> None:
        self.flasher = flasher
        self._server = socket.create_server((host, port))
        self.address = "%s:%d" % self._server.getsockname()[:2]
        self._workdir = Path(tempfile.mkdtemp(prefix="edgekit-flash-"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="edgekit-flash-service", daemon=True)

    def start(self) -> "FlashService":
        self._thread.start()
        return self

    def _serve(self) -> None:
        self._server.settimeout(0.5)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(IO_TIMEOUT_S)
                try:
                    reply = {"ok": True, "facts": self._handle(conn)}
                except EdgekitError as exc:
                    reply = {"ok": False, "error": exc.one_line()}
                except (OSError, ValueError) as exc:
                    reply = {"ok": False, "error": f"flash service: {exc}"}
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass

    def _handle(self, conn: socket.socket) -> dict[str, Any]:
        line, rest = _read_line(conn, MAX_HEADER)
        header = json.loads(line)
        size, digest, load_address = header.get("size"), header.get("sha256"), header.get("load_address")
        if not isinstance(size, int) or not 0 < size <= MAX_IMAGE:
            raise DeviceError(f"flash service: image size {size!r} outside 1..{MAX_IMAGE}")
        if not isinstance(digest, str) or len(digest) != 64:
            raise DeviceError("flash service: the request needs the image's sha256")
        if load_address is not None and not isinstance(load_address, int):
            raise DeviceError("flash service: load_address must be an integer or null")
        image = _read_exact(conn, size, rest)
        if hashlib.sha256(image).hexdigest() != digest:
            raise DeviceError("flash service: the image does not match its sha256; nothing was flashed")
        # Kept until the next image or stop(): an emulator reads it after its process has started.
        path = self._workdir / "firmware.img"
        path.write_bytes(image)
        return self.flasher(path, load_address)

    def stop(self) -> None:
        self._stop.set()
        self._server.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        shutil.rmtree(self._workdir, ignore_errors=True)


def flash_remote(address: str, image: Path, load_address: int | None) -> dict[str, Any]:
    """Send `image` to the flash service at HOST:PORT; the board's facts, or DeviceError with the service's reason."""
    host, _, port = address.rpartition(":")
    data = image.read_bytes()
    header = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "load_address": load_address}
    try:
        with socket.create_connection((host, int(port)), timeout=IO_TIMEOUT_S) as sock:
            sock.sendall(json.dumps(header).encode() + b"\n" + data)
            sock.settimeout(FLASH_TIMEOUT_S)
            line, _ = _read_line(sock, 1 << 20)
    except OSError as exc:
        raise DeviceError(f"cannot reach the board's flash service at {address}: {exc}") from None
    reply = json.loads(line)
    if not reply.get("ok"):
        raise DeviceError(str(reply.get("error", "the flash service refused the image")))
    return dict(reply["facts"])
