"""Transports are links: a way to one device that moves bytes and starts processes, and knows nothing of the
protocol spoken over it (that is a session's job: edgekit/session/).

A transport offers one of two capabilities, each a Protocol here:
- RemoteShell (local process, SSH, adb): run a program, copy a file, rename, hash, start a process whose stdin and
  stdout become a LineChannel. The agent installer and the Python agent session work over it.
- FirmwarePort (serial): put a firmware image on the board (flash it, or boot its emulator with it) and open the
  board's serial port. The firmware session works over it.

Adding a transport = one file with a Transport subclass implementing one of them, and `register_transport`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol, TypeVar, runtime_checkable

from ..errors import DeviceError, InputError
from ..profiles import Profile
from .channel import LineChannel, SerialPort

if TYPE_CHECKING:
    from .options import TransportOption


class Transport(ABC):
    """A link to one device. Use as a context manager; every operation has a timeout."""

    name: str = ""
    cli_options: ClassVar[tuple["TransportOption", ...]] = ()  # what a user may set (see options.py)

    def __init__(self, profile: Profile, options: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.options = options or {}
        self.timings: dict[str, float] = {}  # how long opening took, by step (emulator start, connect), for reports

    def __enter__(self) -> "Transport":
        try:
            self.open()
        except BaseException:  # an open that failed or was interrupted part-way: undo what it had started
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def open(self) -> None:
        """Connect (starting the profile's emulator where there is no real device and it needs no image)."""

    @abstractmethod
    def close(self) -> None:
        """Stop whatever this link started and disconnect; safe after a failed open."""

    def describe(self) -> dict[str, Any]:
        """Facts about the link for the report."""
        return {"transport": self.name}


@runtime_checkable
class RemoteShell(Protocol):
    """A link that runs programs on the device and copies files to it. Paths are the device's, absolute.

    Implementations quote every argument (shlex.join where a shell reads the command) and bound every call with a
    timeout; failures of the link itself raise DeviceError, a program's own failure is its exit status."""

    name: str
    python: str                # the device's Python interpreter (runs the agent)
    memory_limit: int | None   # cap for the agent's address space, bytes (a process-level device); None: none
    check_runtime: bool        # probe the device's Python for numpy and the runtime before starting the agent

    def root(self) -> str:
        """The directory edgekit keeps its files in on the device (the agent, the per-session workspaces)."""

    def run(self, argv: list[str], what: str, timeout: float | None = None) -> tuple[int, str, str]:
        """Run a program; (exit status, stdout, stderr). `what` names the step in errors."""

    def put(self, local: Path, remote: str) -> None:
        """Copy one file to the device (its directory exists)."""

    def rename(self, src: str, dst: str) -> None:
        """Rename on the device, atomically (one rename(2)); `dst` must not be an existing directory."""

    def sha256(self, paths: list[str]) -> list[str]:
        """Hex sha256 of files, computed on the device."""

    def free_bytes(self, path: str) -> int | None:
        """Free space at `path` on the device; None when the link cannot tell."""

    def spawn(self, argv: list[str]) -> LineChannel:
        """Start a program; its stdout and stdin as a channel. Closing the channel stops it."""


def run_python(shell: RemoteShell, code: str, args: list[str], what: str) -> str:
    """`python -c code args` with the device's interpreter; its stdout, or a DeviceError saying what failed."""
    rc, out, err = shell.run([shell.python, "-c", code, *args], what)
    if rc == 127:
        raise DeviceError(f"no Python on the device: '{shell.python}' not found",
                          "install python3 on the device or pass its interpreter with --device-python")
    if rc != 0:
        raise DeviceError(f"device: {what} failed: {(err.strip().splitlines() or ['exit %d' % rc])[-1]}")
    return out


@runtime_checkable
class FirmwarePort(Protocol):
    """A link to a board that runs the edgekit firmware over a serial port."""

    name: str

    def flash(self, image: Path, load_address: int | None = None) -> dict[str, Any]:
        """Put `image` on the board (an ELF, or a raw image written at `load_address`): flash a real one, or boot
        the emulator with it. Returns facts about
        the machine: 'cpu' (a label), 'virtual_time' and, under an instruction-counting emulator,
        'instructions_per_virtual_ns'."""

    def connect(self, timeout: float) -> SerialPort:
        """Open the board's serial port (retrying while an emulator comes up, within `timeout`)."""

    def check_alive(self) -> None:
        """Raise DeviceError saying why when the board is known to have stopped (an emulator that exited)."""


_TRANSPORTS: dict[str, type[Transport]] = {}
_T = TypeVar("_T", bound=type[Transport])


def register_transport(name: str) -> Callable[[_T], _T]:
    def wrap(cls: _T) -> _T:
        cls.name = name
        _TRANSPORTS[name] = cls
        return cls
    return wrap


def registered_transports() -> list[type["Transport"]]:
    return list(_TRANSPORTS.values())


def make_transport(profile: Profile, name: str | None = None, options: dict[str, Any] | None = None) -> Transport:
    name = name or profile.default_transport
    if name not in _TRANSPORTS:
        raise InputError(f"unknown transport '{name}' for target '{profile.name}'",
                         f"available: {', '.join(sorted(_TRANSPORTS))}")
    return _TRANSPORTS[name](profile, options or {})
