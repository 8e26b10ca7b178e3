"""Transports: how the host reaches a target agent (local process, SSH, adb, serial).

A transport puts files into the agent's workspace (atomically, hash-checked by the agent) and starts the agent,
returning a LineChannel. Adding one = one file with a Transport subclass and `register_transport`.
"""
from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, ClassVar

from ..errors import DeviceError
from ..profiles import Profile
from .options import TransportOption

if TYPE_CHECKING:
    from ..artifact import Artifact


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
        if self._on_close:
            self._on_close()
            self._on_close = None


class Transport(ABC):
    """A way to one device. Use as a context manager; every operation has a timeout."""

    name: str = ""
    cli_options: ClassVar[tuple[TransportOption, ...]] = ()  # what a user may set (see options.py)

    def __init__(self, profile: Profile, options: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.options = options or {}

    def __enter__(self) -> "Transport":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def open(self) -> None:
        """Connect and create the agent workspace on the device."""

    @abstractmethod
    def upload_dir(self, local: Path, remote_name: str) -> str:
        """Copy a directory into the workspace atomically; return its path relative to the workspace."""

    @abstractmethod
    def start_agent(self) -> LineChannel:
        """Start the agent in the workspace and return a channel to it."""

    @abstractmethod
    def close(self) -> None:
        """Stop the agent, remove the workspace, disconnect."""

    def describe(self) -> dict[str, Any]:
        return {"transport": self.name}

    def prepare_device(self, artifact: "Artifact") -> dict[str, float]:
        """Set up what the agent needs on the device before the upload (a cached agent, a workspace);
        returns extra deploy timings. Nothing to do for a local process."""
        return {}

    def open_session(self, artifact: "Artifact", timeout: float) -> tuple[Any, dict[str, float]]:
        """Deploy `artifact` and start the agent; returns a session (see AgentClient) and deploy timings.

        Transports whose devices speak another protocol (serial firmware) override this.
        """
        from ..agent.client import AgentClient
        timings = self.prepare_device(artifact)
        t0 = time.perf_counter()
        remote = self.upload_dir(artifact.path, "artifact")
        timings["upload_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        session = AgentClient(self.start_agent(), timeout=timeout)
        session.remote_artifact = remote
        timings["agent_start_s"] = time.perf_counter() - t0
        return session, timings


TransportFactory = Callable[[Profile, dict[str, Any]], Transport]
_TRANSPORTS: dict[str, TransportFactory] = {}


def register_transport(name: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        cls.name = name
        _TRANSPORTS[name] = cls
        return cls
    return wrap


def registered_transports() -> list[type["Transport"]]:
    return list(_TRANSPORTS.values())


def make_transport(profile: Profile, name: str | None = None, options: dict[str, Any] | None = None) -> Transport:
    name = name or profile.default_transport
    if name not in _TRANSPORTS:
        from ..errors import InputError
        raise InputError(f"unknown transport '{name}' for target '{profile.name}'",
                         f"available: {', '.join(sorted(_TRANSPORTS))}")
    return _TRANSPORTS[name](profile, options or {})
