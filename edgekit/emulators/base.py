"""The emulator interface and registry: emulated devices that edgekit starts itself, chosen by a profile's
`[emulation] kind`. Adding one = one module with a class and `register_emulator(kind)`."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import InputError
from ..profiles import Profile


class Emulator(Protocol):
    """An emulated device. `start(image)` boots it; `stop()` tears it down completely (safe to call twice, and
    after a failed start). As a context manager it starts without an image.

    The image is what a bare-metal board runs (a firmware ELF, known only once an artifact is deployed, so the
    transport passes it at start: an ELF, or a raw image with the address it is written to); an emulator of a whole
    OS (the netns Pi) boots its own and takes none."""

    takes_image: bool  # True: started with each artifact's image (a bare-metal board); False: boots its own OS

    def start(self, image: Path | None = None, load_address: int | None = None) -> None: ...

    def stop(self) -> None: ...

    def check_alive(self) -> None:
        """Raise DeviceError saying why the emulator stopped, if it has."""

    def transport_options(self) -> dict[str, Any]:
        """Options for the profile's transport to reach the running emulator (host and keys, a serial URL)."""

    def describe(self) -> dict[str, Any]:
        """Facts for the report: limits applied, addresses, whether time is virtual."""

    def __enter__(self) -> "Emulator": ...

    def __exit__(self, *exc: object) -> None: ...


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the emulator binds it next; callers retry if it was taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: "subprocess.Popen | None", grace_s: float = 5.0) -> None:
    """SIGTERM a child, SIGKILL it if it outlives `grace_s`, and reap it; nothing if it has already exited."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# A factory takes the profile and the transport's options (an emulator may read its own, e.g. a time limit).
EmulatorFactory = Callable[[Profile, dict[str, Any]], Emulator]
_EMULATORS: dict[str, EmulatorFactory] = {}


def register_emulator(kind: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        _EMULATORS[kind] = cls
        return cls
    return wrap


def emulator_for(profile: Profile, options: dict[str, Any] | None = None) -> Emulator:
    """A (not yet started) emulator for an emulated profile."""
    if profile.emulation is None:
        raise InputError(f"target '{profile.name}' is not emulated", "pass the device's address (e.g. --host)")
    kind = profile.emulation.kind
    if kind is None:
        raise InputError(f"target '{profile.name}' has no emulator to start: its transport runs it on this host")
    if kind not in _EMULATORS:
        raise InputError(f"target '{profile.name}': no emulator of kind '{kind}'",
                         f"known kinds: {', '.join(sorted(_EMULATORS)) or 'none'}")
    return _EMULATORS[kind](profile, options or {})
