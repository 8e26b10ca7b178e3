"""Emulated devices started by edgekit itself, chosen by a profile's `[emulation] kind`.

An emulator is a context manager: entering starts it, leaving tears it down completely, and
`transport_options()` says how the profile's transport reaches it. Adding one = one module + `register_emulator`.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from ..errors import InputError
from ..profiles import Profile


class Emulator(Protocol):
    def __enter__(self) -> "Emulator": ...

    def __exit__(self, *exc: object) -> None: ...

    def transport_options(self) -> dict[str, Any]:
        """Options for the profile's transport to reach the running emulator (host, keys, ...)."""

    def describe(self) -> dict[str, Any]:
        """Facts for the report: limits applied, addresses."""


_EMULATORS: dict[str, Callable[[Profile], Emulator]] = {}


def register_emulator(kind: str) -> Callable[[type], type]:
    def wrap(cls: type) -> type:
        _EMULATORS[kind] = cls
        return cls
    return wrap


def emulator_for(profile: Profile) -> Emulator:
    """A (not yet started) emulator for an emulated profile."""
    if profile.emulation is None:
        raise InputError(f"target '{profile.name}' is not emulated", "pass the device's address (e.g. --host)")
    kind = profile.emulation.kind
    if kind not in _EMULATORS:
        raise InputError(f"target '{profile.name}': no emulator of kind '{kind}'",
                         f"known kinds: {', '.join(sorted(_EMULATORS)) or 'none'}")
    return _EMULATORS[kind](profile)


from . import netns_sshd  # noqa: E402,F401  (registers the emulated Linux board)
